/* client.c -- a tiny Lisp on the MPS, written as a client would write it
 *
 * Uses only the public interface.  Conses live in an AMC pool; integers
 * (boxed) and symbols in an AMCZ pool (they hold no references).  Every
 * object starts with a type word.  The interpreter keeps objects in C
 * locals across allocation freely: the thread's stack and registers are
 * an ambiguous root, so those objects are pinned.  Global state (the
 * special symbols, the symbol table, the global environment) is an exact
 * table root, updated when objects move.
 *
 * The program read and evaluated below defines a few list functions and
 * checks their results again and again while the collector runs.
 */

#include "testlib.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- object representation ---- */

typedef union obj_u *obj_t;

enum {
  TYPE_PAIR = 0x50414952,   /* arbitrary non-zero values catch garbage */
  TYPE_INT,
  TYPE_SYMBOL,
  TYPE_FWD2,                /* forwarding marker, two words */
  TYPE_FWD,                 /* forwarding marker, three or more words */
  TYPE_PAD1,                /* one-word pad */
  TYPE_PAD                  /* pad of two or more words */
};

typedef struct pair_s { mps_word_t type; obj_t car, cdr; } pair_s;
typedef struct int_s { mps_word_t type; long value; } int_s;
typedef struct symbol_s { mps_word_t type; size_t length; char name[]; } symbol_s;
typedef struct fwd2_s { mps_word_t type; obj_t fwd; } fwd2_s;
typedef struct fwd_s { mps_word_t type; obj_t fwd; size_t size; } fwd_s;
typedef struct pad1_s { mps_word_t type; } pad1_s;
typedef struct pad_s { mps_word_t type; size_t size; } pad_s;

union obj_u {
  mps_word_t type;
  pair_s pair;
  int_s integer;
  symbol_s symbol;
  fwd2_s fwd2;
  fwd_s fwd;
  pad1_s pad1;
  pad_s pad;
};

#define ALIGNMENT sizeof(mps_word_t)
#define ALIGN_UP(n) (((n) + ALIGNMENT - 1) & ~(ALIGNMENT - 1))

static size_t symbol_size(size_t length)
{
  return ALIGN_UP(sizeof(symbol_s) + length + 1);
}

static size_t obj_size(obj_t obj)
{
  switch (obj->type) {
  case TYPE_PAIR: return ALIGN_UP(sizeof(pair_s));
  case TYPE_INT: return ALIGN_UP(sizeof(int_s));
  case TYPE_SYMBOL: return symbol_size(obj->symbol.length);
  case TYPE_FWD2: return ALIGN_UP(sizeof(fwd2_s));
  case TYPE_FWD: return obj->fwd.size;
  case TYPE_PAD1: return ALIGN_UP(sizeof(pad1_s));
  case TYPE_PAD: return obj->pad.size;
  default:
    /* a format method must not call the MPS or abort normally; this is a
     * test, and a corrupt heap is the thing it exists to catch */
    fprintf(stderr, "client: bad type %#lx at %p\n",
            (unsigned long)obj->type, (void *)obj);
    abort();
  }
}

/* ---- the format ---- */

static mps_res_t obj_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  MPS_SCAN_BEGIN(ss) {
    while (base < limit) {
      obj_t obj = base;
      if (obj->type == TYPE_PAIR) {
        mps_res_t res = MPS_FIX12(ss, (mps_addr_t *)&obj->pair.car);
        if (res != MPS_RES_OK)
          return res;
        res = MPS_FIX12(ss, (mps_addr_t *)&obj->pair.cdr);
        if (res != MPS_RES_OK)
          return res;
      }
      base = (char *)base + obj_size(obj);
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static mps_addr_t obj_skip(mps_addr_t base)
{
  return (char *)base + obj_size(base);
}

static void obj_fwd(mps_addr_t old, mps_addr_t new)
{
  obj_t obj = old;
  size_t size = obj_size(obj);
  if (size == sizeof(fwd2_s)) {
    obj->type = TYPE_FWD2;
    obj->fwd2.fwd = new;
  } else {
    obj->type = TYPE_FWD;
    obj->fwd.fwd = new;
    obj->fwd.size = size;
  }
}

static mps_addr_t obj_isfwd(mps_addr_t addr)
{
  obj_t obj = addr;
  if (obj->type == TYPE_FWD2)
    return obj->fwd2.fwd;
  if (obj->type == TYPE_FWD)
    return obj->fwd.fwd;
  return NULL;
}

static void obj_pad(mps_addr_t addr, size_t size)
{
  obj_t obj = addr;
  if (size == sizeof(pad1_s)) {
    obj->type = TYPE_PAD1;
  } else {
    obj->type = TYPE_PAD;
    obj->pad.size = size;
  }
}

/* ---- the heap ---- */

static mps_arena_t arena;
static mps_ap_t pair_ap, leaf_ap;

enum { S_QUOTE, S_IF, S_LAMBDA, S_DEFINE, S_CLOSURE, S_BUILTIN, S_T,
       S_ADD, S_SUB, S_MUL, S_LT, S_EQ, S_CONS, S_CAR, S_CDR, S_NULLP,
       S_GLOBALS, NSPECIAL };
static const char *special_names[NSPECIAL] = {
  "quote", "if", "lambda", "define", "%closure", "%builtin", "t",
  "+", "-", "*", "<", "=", "cons", "car", "cdr", "null?", NULL
};
static obj_t S[NSPECIAL];           /* exact root; S[S_GLOBALS] = alist */

#define SYMTAB_SIZE 256
static obj_t symtab[SYMTAB_SIZE];   /* exact root */
static size_t nsymbols;

static void error(const char *msg, obj_t obj)
{
  die("lisp error: %s (object %p)", msg, (void *)obj);
}

static obj_t make_pair(obj_t car, obj_t cdr)
{
  size_t size = ALIGN_UP(sizeof(pair_s));
  mps_addr_t addr;
  obj_t obj;
  do {
    CHECK_RES(mps_reserve(&addr, pair_ap, size));
    obj = addr;
    obj->pair.type = TYPE_PAIR;
    obj->pair.car = car;
    obj->pair.cdr = cdr;
  } while (!mps_commit(pair_ap, addr, size));
  return obj;
}

static obj_t make_int(long value)
{
  size_t size = ALIGN_UP(sizeof(int_s));
  mps_addr_t addr;
  obj_t obj;
  do {
    CHECK_RES(mps_reserve(&addr, leaf_ap, size));
    obj = addr;
    obj->integer.type = TYPE_INT;
    obj->integer.value = value;
  } while (!mps_commit(leaf_ap, addr, size));
  return obj;
}

static obj_t make_symbol(const char *name, size_t length)
{
  size_t size = symbol_size(length);
  mps_addr_t addr;
  obj_t obj;
  do {
    CHECK_RES(mps_reserve(&addr, leaf_ap, size));
    obj = addr;
    obj->symbol.type = TYPE_SYMBOL;
    obj->symbol.length = length;
    memcpy(obj->symbol.name, name, length);
    obj->symbol.name[length] = '\0';
  } while (!mps_commit(leaf_ap, addr, size));
  return obj;
}

static obj_t intern(const char *name, size_t length)
{
  size_t i;
  for (i = 0; i < nsymbols; ++i)
    if (symtab[i]->symbol.length == length
        && memcmp(symtab[i]->symbol.name, name, length) == 0)
      return symtab[i];
  if (nsymbols == SYMTAB_SIZE)
    error("symbol table full", NULL);
  symtab[nsymbols] = make_symbol(name, length);
  return symtab[nsymbols++];
}

static obj_t car(obj_t x)
{
  if (x == NULL || x->type != TYPE_PAIR)
    error("car of non-pair", x);
  return x->pair.car;
}

static obj_t cdr(obj_t x)
{
  if (x == NULL || x->type != TYPE_PAIR)
    error("cdr of non-pair", x);
  return x->pair.cdr;
}

static long int_value(obj_t x)
{
  if (x == NULL || x->type != TYPE_INT)
    error("not an integer", x);
  return x->integer.value;
}

/* ---- reader ---- */

static const char *rp;

static void skip_space(void)
{
  while (*rp == ' ' || *rp == '\n' || *rp == '\t')
    ++rp;
}

static obj_t read_obj(void);

static obj_t read_list(void)
{
  obj_t head, tail;
  skip_space();
  if (*rp == ')') {
    ++rp;
    return NULL;
  }
  if (*rp == '\0')
    error("unexpected end of input", NULL);
  if (rp[0] == '.' && rp[1] == ' ') {          /* dotted tail */
    ++rp;
    tail = read_obj();
    skip_space();
    if (*rp != ')')
      error("expected ) after dotted tail", tail);
    ++rp;
    return tail;
  }
  head = read_obj();
  tail = read_list();
  return make_pair(head, tail);
}

static obj_t read_obj(void)
{
  const char *start;
  skip_space();
  if (*rp == '(') {
    ++rp;
    return read_list();
  }
  if (*rp == '\'') {
    obj_t quoted;
    ++rp;
    quoted = read_obj();
    return make_pair(S[S_QUOTE], make_pair(quoted, NULL));
  }
  start = rp;
  while (*rp != '\0' && *rp != ' ' && *rp != '\n' && *rp != '(' && *rp != ')')
    ++rp;
  if ((start[0] >= '0' && start[0] <= '9')
      || (start[0] == '-' && rp - start > 1))
    return make_int(strtol(start, NULL, 10));
  return intern(start, (size_t)(rp - start));
}

/* ---- evaluator ---- */

static obj_t lookup(obj_t sym, obj_t env)
{
  obj_t e;
  for (e = env; e != NULL; e = cdr(e))
    if (car(car(e)) == sym)
      return cdr(car(e));
  for (e = S[S_GLOBALS]; e != NULL; e = cdr(e))
    if (car(car(e)) == sym)
      return cdr(car(e));
  error("unbound symbol", sym);
  return NULL;
}

static obj_t eval(obj_t exp, obj_t env);

static obj_t evlis(obj_t exps, obj_t env)
{
  obj_t head, tail;
  if (exps == NULL)
    return NULL;
  head = eval(car(exps), env);
  tail = evlis(cdr(exps), env);
  return make_pair(head, tail);
}

static obj_t apply_builtin(obj_t op, obj_t args)
{
  if (op == S[S_ADD] || op == S[S_MUL]) {
    long acc = op == S[S_ADD] ? 0 : 1;
    for (; args != NULL; args = cdr(args))
      acc = op == S[S_ADD] ? acc + int_value(car(args))
                           : acc * int_value(car(args));
    return make_int(acc);
  }
  if (op == S[S_SUB])
    return make_int(int_value(car(args)) - int_value(car(cdr(args))));
  if (op == S[S_LT])
    return int_value(car(args)) < int_value(car(cdr(args))) ? S[S_T] : NULL;
  if (op == S[S_EQ])
    return int_value(car(args)) == int_value(car(cdr(args))) ? S[S_T] : NULL;
  if (op == S[S_CONS])
    return make_pair(car(args), car(cdr(args)));
  if (op == S[S_CAR])
    return car(car(args));
  if (op == S[S_CDR])
    return cdr(car(args));
  if (op == S[S_NULLP])
    return car(args) == NULL ? S[S_T] : NULL;
  error("unknown builtin", op);
  return NULL;
}

static obj_t apply(obj_t f, obj_t args)
{
  if (f == NULL || f->type != TYPE_PAIR)
    error("apply of non-function", f);
  if (car(f) == S[S_BUILTIN])
    return apply_builtin(cdr(f), args);
  if (car(f) == S[S_CLOSURE]) {
    /* (%closure params body env) */
    obj_t params = car(cdr(f));
    obj_t body = car(cdr(cdr(f)));
    obj_t env = car(cdr(cdr(cdr(f))));
    for (; params != NULL; params = cdr(params), args = cdr(args)) {
      if (args == NULL)
        error("too few arguments", f);
      env = make_pair(make_pair(car(params), car(args)), env);
    }
    return eval(body, env);
  }
  error("not a function", f);
  return NULL;
}

static obj_t eval(obj_t exp, obj_t env)
{
  obj_t op;
  if (exp == NULL)
    return NULL;
  switch (exp->type) {
  case TYPE_INT:
    return exp;
  case TYPE_SYMBOL:
    return exp == S[S_T] ? exp : lookup(exp, env);
  case TYPE_PAIR:
    break;
  default:
    error("eval of a bad object", exp);
  }
  op = car(exp);
  if (op == S[S_QUOTE])
    return car(cdr(exp));
  if (op == S[S_IF])
    return eval(car(cdr(exp)), env) != NULL ? eval(car(cdr(cdr(exp))), env)
                                            : eval(car(cdr(cdr(cdr(exp)))), env);
  if (op == S[S_LAMBDA])
    return make_pair(S[S_CLOSURE],
                     make_pair(car(cdr(exp)),
                               make_pair(car(cdr(cdr(exp))),
                                         make_pair(env, NULL))));
  if (op == S[S_DEFINE]) {
    /* (define name exp) or (define (name . params) body) */
    obj_t target = car(cdr(exp)), name, value;
    if (target != NULL && target->type == TYPE_PAIR) {
      obj_t lambda = make_pair(S[S_LAMBDA],
                               make_pair(cdr(target), cdr(cdr(exp))));
      name = car(target);
      value = eval(lambda, env);
    } else {
      name = target;
      value = eval(car(cdr(cdr(exp))), env);
    }
    S[S_GLOBALS] = make_pair(make_pair(name, value), S[S_GLOBALS]);
    return name;
  }
  return apply(eval(op, env), evlis(cdr(exp), env));
}

static obj_t run(const char *text)
{
  obj_t exp;
  rp = text;
  exp = read_obj();
  return eval(exp, NULL);
}

/* ---- printer ---- */

static void print(obj_t x, char *buf, size_t size, size_t *pos)
{
  if (*pos + 32 >= size)
    return;
  if (x == NULL) {
    *pos += (size_t)snprintf(buf + *pos, size - *pos, "()");
  } else if (x->type == TYPE_INT) {
    *pos += (size_t)snprintf(buf + *pos, size - *pos, "%ld",
                             x->integer.value);
  } else if (x->type == TYPE_SYMBOL) {
    *pos += (size_t)snprintf(buf + *pos, size - *pos, "%s", x->symbol.name);
  } else if (x->type == TYPE_PAIR) {
    buf[(*pos)++] = '(';
    for (;;) {
      print(car(x), buf, size, pos);
      x = cdr(x);
      if (x == NULL)
        break;
      if (x->type != TYPE_PAIR) {
        *pos += (size_t)snprintf(buf + *pos, size - *pos, " . ");
        print(x, buf, size, pos);
        break;
      }
      buf[(*pos)++] = ' ';
    }
    buf[(*pos)++] = ')';
    buf[*pos] = '\0';
  } else {
    error("print of a bad object", x);
  }
}

static const char *show(obj_t x)
{
  static char buf[4096];
  size_t pos = 0;
  buf[0] = '\0';
  print(x, buf, sizeof buf, &pos);
  return buf;
}

static const char *program[] = {
  "(define (square x) (* x x))",
  "(define (range n) (if (= n 0) '() (cons n (range (- n 1)))))",
  "(define (map f l) (if (null? l) '() (cons (f (car l)) (map f (cdr l)))))",
  "(define (sum l) (if (null? l) 0 (+ (car l) (sum (cdr l)))))",
  "(define (rev l acc) (if (null? l) acc (rev (cdr l) (cons (car l) acc))))",
  "(define (fib n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))",
  "(define (fact n) (if (= n 0) 1 (* n (fact (- n 1)))))",
  "(define (compose f g) (lambda (x) (f (g x))))",
  "(define big (range 500))",
  NULL
};

static const struct { const char *exp, *want; } checks[] = {
  { "(sum (map square (range 100)))", "338350" },
  { "(fib 16)", "987" },
  { "(fact 12)", "479001600" },
  { "((compose square (lambda (x) (+ x 1))) 9)", "100" },
  { "(rev (range 10) '())", "(1 2 3 4 5 6 7 8 9 10)" },
  { "(sum (rev (range 200) '()))", "20100" },
  { "(sum big)", "125250" },
  { "(car (cdr (rev big '())))", "2" },
  { "(map (lambda (p) (car p)) '((a . 1) (b . 2) (c . 3)))", "(a b c)" },
  { "'(x (y z) . w)", "(x (y z) . w)" },
};

/* Everything that touches the heap; noinline so that its frames (and
 * the interpreter's) are below the cold end recorded in main. */
static __attribute__((noinline)) void run_program(void)
{
  unsigned long iterations = test_scale(150), it, evaluations = 0;
  mps_word_t collections0;
  size_t i;

  for (i = 0; special_names[i] != NULL; ++i)
    S[i] = intern(special_names[i], strlen(special_names[i]));
  /* builtins are bound to (%builtin . name) */
  for (i = S_ADD; i <= S_NULLP; ++i) {
    obj_t b = make_pair(S[S_BUILTIN], S[i]);
    S[S_GLOBALS] = make_pair(make_pair(S[i], b), S[S_GLOBALS]);
  }
  for (i = 0; program[i] != NULL; ++i)
    (void)run(program[i]);

  collections0 = mps_collections(arena);
  for (it = 0; it < iterations; ++it) {
    for (i = 0; i < sizeof checks / sizeof checks[0]; ++i) {
      obj_t result = run(checks[i].exp);
      const char *got = show(result);
      ++evaluations;
      if (strcmp(got, checks[i].want) != 0)
        die("iteration %lu: %s => %s, expected %s", it, checks[i].exp, got,
            checks[i].want);
    }
    if (rnd_chance(1, 4)) {
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
    }
  }
  printf("client: %lu evaluations checked over %lu collections\n",
         evaluations, (unsigned long)(mps_collections(arena) - collections0));
  if (mps_collections(arena) - collections0 < iterations / 2)
    die("too few collections (%lu) for the test to mean anything",
        (unsigned long)(mps_collections(arena) - collections0));

}

int main(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t pair_pool, leaf_pool;
  mps_thr_t thr;
  mps_root_t stack_root, special_root, symtab_root;
  mps_gen_param_s gens[] = { { 200, 0.8 }, { 400, 0.4 } };
  /* The cold end of the stack: a char, not word aligned (the manual
   * asks for a pointer to the cold end, nothing more). */
  struct {
    void *align;
    char pad[3];
    char c;
  } cold;
  void *marker = &cold.c;

  test_init("client");

  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ALIGN, ALIGNMENT);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SCAN, obj_scan);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SKIP, obj_skip);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_FWD, obj_fwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ISFWD, obj_isfwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_PAD, obj_pad);
    CHECK_RES(mps_fmt_create_k(&fmt, arena, args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&pair_pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&leaf_pool, arena, mps_class_amcz(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&pair_ap, pair_pool, mps_args_none));
  CHECK_RES(mps_ap_create_k(&leaf_ap, leaf_pool, mps_args_none));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr, marker));
  CHECK_RES(mps_root_create_table(&special_root, arena, mps_rank_exact(), 0,
                                  (mps_addr_t *)S, NSPECIAL));
  CHECK_RES(mps_root_create_table(&symtab_root, arena, mps_rank_exact(), 0,
                                  (mps_addr_t *)symtab, SYMTAB_SIZE));

  run_program();

  mps_arena_park(arena);
  mps_root_destroy(symtab_root);
  mps_root_destroy(special_root);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_ap_destroy(leaf_ap);
  mps_ap_destroy(pair_ap);
  mps_pool_destroy(leaf_pool);
  mps_pool_destroy(pair_pool);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("client: OK\n");
  return 0;
}
