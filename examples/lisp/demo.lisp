; A tour of the example Lisp: run it with
;   cargo run --release --example lisp -- examples/lisp/demo.lisp

(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(fib 25)

; Lists are conses in the collected heap; closures too.
(define (range a b) (if (< a b) (cons a (range (+ a 1) b)) nil))
(define (map f l) (if (null? l) nil (cons (f (car l)) (map f (cdr l)))))
(define (adder n) (lambda (x) (+ x n)))
(define squares (map (lambda (x) (* x x)) (range 0 10)))
squares

; A collection while JIT frames are live: every level of the recursion
; holds a cons in its frame (pinned), the code and the rest move.
(define (build n) (if (< n 1) nil (cons n (let ((g (gc))) (build (- n 1))))))
(build 5)

; Redefinition: `total` was compiled before `weight` changes, and calls
; the new definition.
(define (weight x) 1)
(define (total l) (if (null? l) 0 (+ (weight (car l)) (total (cdr l)))))
(total squares)
(define (weight x) x)
(total squares)
(map (adder 100) squares)

(gc-stats)
