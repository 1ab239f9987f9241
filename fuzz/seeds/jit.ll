; What codepool's jit front end builds (see codepool/src/lib.rs): a
; function calling a runtime function, plus a table of function pointers,
; a switch, a tail call and a load of an external global.
target triple = "x86_64-unknown-linux-gnu"

@rt_counter = external global i64
@table = internal constant [3 x i64 (i64)*] [i64 (i64)* @rt_print, i64 (i64)* @f, i64 (i64)* @h]
@msg = private unnamed_addr constant [6 x i8] c"hello\00"

declare i64 @rt_print(i64)
declare i64 @rt_puts(i8*)

define i64 @f(i64 %x) {
entry:
  %r = call i64 @rt_print(i64 %x)
  %y = add i64 %r, 1
  ret i64 %y
}

define i64 @h(i64 %x) {
entry:
  %c = load i64, i64* @rt_counter
  %s = add i64 %c, %x
  store i64 %s, i64* @rt_counter
  %t = tail call i64 @rt_puts(i8* getelementptr ([6 x i8], [6 x i8]* @msg, i64 0, i64 0))
  ret i64 %t
}

define i64 @dispatch(i64 %i, i64 %x) {
entry:
  %k = and i64 %i, 1
  %p = getelementptr [3 x i64 (i64)*], [3 x i64 (i64)*]* @table, i64 0, i64 %k
  %fp = load i64 (i64)*, i64 (i64)** %p
  %r = call i64 %fp(i64 %x)
  ret i64 %r
}

define i64 @sw(i32 %k, i64 %x) {
entry:
  switch i32 %k, label %d [ i32 0, label %a
                            i32 1, label %b
                            i32 2, label %c
                            i32 3, label %e
                            i32 4, label %g ]
a:
  ret i64 %x
b:
  %rb = call i64 @rt_print(i64 %x)
  ret i64 %rb
c:
  %rc = mul i64 %x, 3
  ret i64 %rc
e:
  %re = call i64 @h(i64 %x)
  ret i64 %re
g:
  %rg = xor i64 %x, 255
  ret i64 %rg
d:
  ret i64 0
}
