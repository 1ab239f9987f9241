/* soak.c -- the long run: every pool, the code pool, four mutator
 * threads, collections all the time, verification throughout
 *
 * Four workers (as in threads.c) mutate their own sub-graphs, spread over
 * AMC, AMS and AWL (pairs and vectors) and AMCZ, LO and AMC (strings and
 * atoms), through their own allocation points, against shadow models, and
 * share a few slots.  Collections come from allocation and from explicit
 * requests; the workers park the arena only to verify their graphs.
 *
 * A fifth thread runs JIT code while all that goes on, never parking the
 * arena.  It keeps a chain of code objects in an executable pool (AMCX,
 * as in amcx.c, with a chain of generations of its own): a slow leaf,
 * and callers that each call the previous object and add 1.  A caller is
 * linked when it is installed (testcode.c) and called at once, before
 * any collection has seen it.  The thread calls every object of the chain
 * and checks the result, again and again, while the other threads
 * collect: collections stop it in the middle of JIT code and move code
 * objects, those it runs being pinned by its registers, program counter
 * and return addresses (its stack is scanned by mpsx_scan_area_code; see
 * code_call and tc_call).  Then it replaces the tail of the chain and
 * makes garbage code.  It counts the calls during which a collection
 * flipped, and those made inside an incremental collection; a run of
 * 10 s or more fails if there were none (of the latter: with pause time
 * 0).
 *
 * With MPS_TEST_PAUSE_TIME=0 collections of the workers' nursery are
 * incremental (there is no AWL pool then: see main), so the code thread
 * also runs between the steps of collections; the pauses are reported.
 *
 *   make soak SOAK_SECONDS=1800
 *
 * runs it for half an hour (default 10 s) and prints collections, objects,
 * verifications, code calls (and how many during collections) and
 * pauses; any failure aborts with the seed.
 */

#define _POSIX_C_SOURCE 200809L

#include "testlib.h"
#include "testfmt.h"
#include "testcode.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscams.h"
#include "mpscawl.h"
#include "mpsclo.h"
#include "mpsx.h"

#include <string.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define NTHREADS 4
#define NROOTS 300
#define NSHARED 32

static mps_arena_t arena;
enum { P_AMC, P_AMCZ, P_AMS, P_AWL, P_LO, NPOOLS };
static const char *pool_name[NPOOLS] = {"AMC", "AMCZ", "AMS", "AWL", "LO"};
static mps_pool_t pools[NPOOLS]; /* pools[P_AWL] NULL: no AWL (main) */
static double deadline;
static atomic_int stop;
static mps_word_t start_collections;

/* Shared slots: a pair (string, NULL) made by some thread; its id and
 * the string's id are recorded beside it. */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static void *shared[NSHARED];
static unsigned long shared_pair_id[NSHARED], shared_str_id[NSHARED];
static size_t shared_str_bytes[NSHARED];

static pthread_mutex_t verify_lock = PTHREAD_MUTEX_INITIALIZER;
static int verifiers;
static unsigned long n_explicit;

static void verify_begin(void)
{
  pthread_mutex_lock(&verify_lock);
  if (verifiers++ == 0)
    mps_arena_park(arena);
  pthread_mutex_unlock(&verify_lock);
}

static void verify_end(void)
{
  pthread_mutex_lock(&verify_lock);
  if (--verifiers == 0)
    mps_arena_release(arena);
  pthread_mutex_unlock(&verify_lock);
}

static void explicit_collect(void)
{
  pthread_mutex_lock(&verify_lock);
  if (verifiers == 0) {
    CHECK_RES(mps_arena_collect(arena));
    ++n_explicit;
    mps_arena_release(arena);
  }
  pthread_mutex_unlock(&verify_lock);
}

typedef struct worker {
  int index;
  pthread_t pthread;
  void *roots[NROOTS];
  tf_node *sroots[NROOTS];
  tf_model model;
  mps_ap_t ap[NPOOLS];
  unsigned long per_pool[NPOOLS];
  unsigned long steps, verifications, allocated;
  uint64_t rng;               /* per-thread generator (rnd() is global) */
} worker;

static worker workers[NTHREADS];

static uint64_t wrnd(worker *w)
{
  uint64_t x = w->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  w->rng = x;
  return x * 0x2545f4914f6cdd1dULL;
}

static size_t wbelow(worker *w, size_t n)
{
  return (size_t)(wrnd(w) % n);
}

static int is_node_with_refs(tf_node *s)
{
  return s != NULL && (s->kind == TF_PAIR || s->kind == TF_VEC) && s->n > 0;
}

static void worker_verify(worker *w, const char *when)
{
  size_t n;
  verify_begin();
  tfm_verify_begin(&w->model);
  tfm_verify_roots(&w->model, w->roots, w->sroots, NROOTS, when);
  n = tfm_verify_end(&w->model);
  verify_end();
  ++w->verifications;
  (void)n;
}

static void shared_step(worker *w)
{
  size_t k = wbelow(w, NSHARED);
  pthread_mutex_lock(&shared_lock);
  if (wbelow(w, 3) == 0) {
    /* replace: allocate while holding the mutex (other threads may be
     * blocked on it while the collector stops them) */
    size_t nbytes = 8 * (1 + wbelow(w, 40));
    unsigned long sid = w->model.next_id++, pid = w->model.next_id++;
    void *str = tf_make_str(w->ap[P_AMCZ], sid, nbytes);
    shared[k] = tf_make_pair(w->ap[P_AMC], pid, str, NULL);
    shared_pair_id[k] = pid;
    shared_str_id[k] = sid;
    shared_str_bytes[k] = nbytes;
  } else if (shared[k] != NULL) {
    void *p = shared[k];
    void *str;
    tf_check_obj(p, "shared slot");
    if (tf_kind(p) != TF_PAIR || tf_id(p) != shared_pair_id[k])
      die("shared slot %zu: kind %d id %lu, expected pair %lu", k, tf_kind(p),
          tf_id(p), shared_pair_id[k]);
    str = tf_ref(p, 0);
    tf_check_obj(str, "shared string");
    if (tf_kind(str) != TF_STR || tf_id(str) != shared_str_id[k]
        || tf_str_bytes(str) != shared_str_bytes[k])
      die("shared slot %zu: string wrong (id %lu, expected %lu)", k,
          tf_id(str), shared_str_id[k]);
    if (tf_ref(p, 1) != NULL)
      die("shared slot %zu: cdr not NULL", k);
  }
  pthread_mutex_unlock(&shared_lock);
}

static void mutate(worker *w)
{
  size_t r = wbelow(w, 1000);
  size_t a = wbelow(w, NROOTS), b = wbelow(w, NROOTS);
  tf_model *m = &w->model;

  if (r < 300) {
    tf_node *s;
    size_t k = wbelow(w, 100);
    /* Nodes with references in AMC, AMS or AWL; leaves in AMCZ, LO or
     * AMC. */
    int node_pool = (int[]){P_AMC, P_AMC, P_AMS, P_AWL}[wbelow(w, 4)];
    int leaf_pool = (int[]){P_AMCZ, P_AMCZ, P_LO, P_AMC}[wbelow(w, 4)];
    if (pools[node_pool] == NULL)
      node_pool = P_AMS; /* no AWL pool */
    if (k < 40) {
      w->roots[a] = tfm_alloc(m, w->ap[node_pool], TF_PAIR, 2, &s);
      ++w->per_pool[node_pool];
    } else if (k < 60) {
      w->roots[a] = tfm_alloc(m, w->ap[node_pool], TF_VEC,
                              wbelow(w, 100) == 0 ? 500 + wbelow(w, 3000)
                                                  : wbelow(w, 12), &s);
      ++w->per_pool[node_pool];
    } else if (k < 85) {
      w->roots[a] = tfm_alloc(m, w->ap[leaf_pool], TF_STR,
                              8 * (1 + wbelow(w, 24)), &s);
      ++w->per_pool[leaf_pool];
    } else {
      w->roots[a] = tfm_alloc(m, w->ap[leaf_pool], TF_ATOM, 0, &s);
      ++w->per_pool[leaf_pool];
    }
    w->sroots[a] = s;
    ++w->allocated;
  } else if (r < 420) {
    tf_node *s = tfm_new(m, TF_PAIR, 2);
    void *car = w->roots[a], *cdr = w->roots[b];
    s->kids[0] = w->sroots[a];
    s->kids[1] = w->sroots[b];
    w->roots[a] = tf_make_pair(w->ap[P_AMC], s->id, car, cdr);
    w->sroots[a] = s;
    ++w->allocated;
  } else if (r < 650) {
    if (is_node_with_refs(w->sroots[a]))
      tfm_link(w->roots[a], w->sroots[a], wbelow(w, w->sroots[a]->n),
               w->roots[b], w->sroots[b]);
  } else if (r < 720) {
    if (is_node_with_refs(w->sroots[a]))
      tfm_link(w->roots[a], w->sroots[a], wbelow(w, w->sroots[a]->n), NULL,
               NULL);
  } else if (r < 800) {
    w->roots[a] = w->roots[b];
    w->sroots[a] = w->sroots[b];
  } else if (r < 990) {
    if (is_node_with_refs(w->sroots[a])) {
      size_t i = wbelow(w, w->sroots[a]->n);
      w->roots[a] = tf_ref(w->roots[a], i);
      w->sroots[a] = w->sroots[a]->kids[i];
    }
  } else {
    shared_step(w);
  }
}

/* The mutator loop; noinline so that everything it keeps on the stack
 * is in frames below the cold end recorded in worker_main. */
static __attribute__((noinline)) void worker_loop(worker *w)
{
  mps_word_t last_verified;
  unsigned long next_collect;

  last_verified = mps_collections(arena);
  next_collect = 2000 + wbelow(w, 6000);

  while (!atomic_load(&stop)) {
    mutate(w);
    ++w->steps;
    if (w->index == 0) {
      if (w->steps >= next_collect) {
        explicit_collect();
        next_collect = w->steps + 2000 + wbelow(w, 6000);
      }
      if (test_now() >= deadline)
        atomic_store(&stop, 1);
    }
    if (w->steps % 1024 == 0 && mps_collections(arena) != last_verified) {
      worker_verify(w, "periodic");
      last_verified = mps_collections(arena);
    }
  }
  worker_verify(w, "final");
}

static void *worker_main(void *arg)
{
  worker *w = arg;
  void *marker = &marker;
  mps_thr_t thr;
  mps_root_t stack_root, table_root;

  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr, marker));
  CHECK_RES(mps_root_create_table(&table_root, arena, mps_rank_exact(), 0,
                                  w->roots, NROOTS));
  {
    int k;
    for (k = 0; k < NPOOLS; ++k)
      if (pools[k] != NULL)
        CHECK_RES(mps_ap_create_k(&w->ap[k], pools[k], mps_args_none));
    worker_loop(w);
    for (k = 0; k < NPOOLS; ++k)
      if (pools[k] != NULL)
        mps_ap_destroy(w->ap[k]);
  }
  mps_root_destroy(table_root);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  return NULL;
}

/* The code thread ---------------------------------------------------- */

#define NCHAIN 48
/* Every call of the chain ends in its leaf, which loops this many times
 * (about a microsecond) before it returns: most of the code thread's time
 * is spent in JIT code, with the return addresses of the callers on its
 * stack, so that is where collections usually find it. */
#define LEAF_SPINS 2000
/* Installing a caller loops this many times (about a microsecond)
 * between reading its target and the commit, so that collections often
 * flip in between: the commit must then fail and the installation read
 * the target again.  With this window the soak found, within seconds, a
 * bug that let such a commit succeed with a stale target; runs without
 * it had not. */
#define LINK_DELAY 2000

static mps_pool_t code_pool;
/* code_table[0] is a leaf returning code_expect[0]; code_table[k] calls
 * code_table[k - 1] and returns code_expect[k] = code_expect[k - 1] + 1.
 * Only the code thread writes either. */
static void *code_table[NCHAIN]; /* exact root */
static int code_expect[NCHAIN];
static unsigned long code_calls;        /* calls checked */
static unsigned long code_calls_across; /* ... during which a collection
                                           flipped (mps_collections moved) */
static unsigned long code_calls_incr;   /* ... made while one incremental
                                           collection was in progress */
static unsigned long code_calls_fresh;  /* ... of objects that no collection
                                           had seen since installation */

/* A wrong result: say as much as can be seen about the chain, then die.
 * The arena is clamped first, so that no collection starts (or moves
 * code) while we look; a collection in progress is not finished. */
static __attribute__((noreturn, noinline)) void
code_failed(size_t k, void *obj, int got, mps_word_t before,
            mps_word_t after, const char *when)
{
  size_t j;
  mps_word_t now;
  mps_arena_clamp(arena);
  now = mps_collections(arena);
  fprintf(stderr,
          "soak: code object %zu (%s) at %p returned %d, expected %d; "
          "collections (flips) %lu before the call, %lu after, %lu now; "
          "a collection in progress now: %d\n",
          k, when, obj, got, code_expect[k], (unsigned long)before,
          (unsigned long)after, (unsigned long)now,
          (int)mpsx_arena_tracing(arena));
  for (j = 0; j <= k; ++j) {
    mps_word_t *w = code_table[j];
    void *linked = tc_linked_target(w);
    int bad = w[0] != TC_CODE ||
              (j == 0 ? w[2] != 0
                      : (void *)w[2] != code_table[j - 1] ||
                            linked != (void *)w[2]);
    if (bad || j == k)
      fprintf(stderr,
              "soak:   [%zu] %p tag %#lx size %lu target %p (table[%zu] "
              "%p), call reaches %p%s\n",
              j, (void *)w, (unsigned long)w[0], (unsigned long)w[1],
              (void *)w[2], j == 0 ? j : j - 1,
              j == 0 ? NULL : code_table[j - 1], linked,
              bad ? "  <-- broken" : "");
  }
  fprintf(stderr, "soak: calling object %zu again, arena clamped: %d\n",
          k, tc_call(arena, code_table[k]));
  die("code object %zu returned %d, expected %d (%s)", k, got,
      code_expect[k], when);
}

/* Call code_table[k] and check its result, with no parking: other
 * threads collect meanwhile.  The object is loaded from the exact root
 * (one load: a relaxed atomic, so the compiler cannot read the root
 * twice and call one value while keeping the other) into a register of
 * this thread, whose context and stack mpsx_scan_area_code scans; from
 * there tc_call keeps it, or a word that pins it as well, in a register
 * or on the stack until the call returns (the argument is at tc_call in
 * testcode.c).  Returns whether a collection flipped during the call.
 * installed_at, if not NULL, is the flip count read before the object
 * was installed. */
static __attribute__((noinline)) int code_call(size_t k, const char *when,
                                               const mps_word_t *installed_at)
{
  mps_word_t before = mps_collections(arena), after;
  void *obj = __atomic_load_n(&code_table[k], __ATOMIC_RELAXED);
  int got = tc_call(arena, obj);
  after = mps_collections(arena);
  if (got != code_expect[k])
    code_failed(k, obj, got, before, after, when);
  ++code_calls;
  if (after != before)
    ++code_calls_across;
  /* No flip from before the reserve to after the return: the call ran
   * the code as installed, which no collection had seen. */
  if (installed_at != NULL && *installed_at == after)
    ++code_calls_fresh;
  return after != before;
}

/* Install code_table[k] (a leaf when k is 0, else a caller of
 * code_table[k - 1]) and call it at once: a caller is linked at
 * installation, no collection needs to have scanned it. */
static void code_install(mps_ap_t ap, size_t k, int leaf_value)
{
  mps_word_t installed_at = mps_collections(arena);
  if (k == 0) {
    code_table[0] = tc_make_slow_leaf(ap, leaf_value, LEAF_SPINS);
    code_expect[0] = leaf_value;
  } else {
    code_table[k] = tc_make_caller(ap, &code_table[k - 1]);
    code_expect[k] = code_expect[k - 1] + 1;
  }
  (void)code_call(k, "just installed", &installed_at);
}

static __attribute__((noinline)) void code_loop(mps_ap_t ap)
{
  size_t k;
  uint64_t rng = rnd() | 1;
  for (k = 0; k < NCHAIN; ++k)
    code_install(ap, k, 1000);
  while (!atomic_load(&stop)) {
    /* Call the whole chain while collections come and go.  A round
     * counts as inside one incremental collection if one was in progress
     * at both ends with no flip between (a collection that may be
     * incremental flips; DESIGN.md#incremental): the flip count is read
     * outside the two samples, so a flip near either end is not missed. */
    mps_word_t e0 = mps_collections(arena);
    int tracing0 = mpsx_arena_tracing(arena), tracing1;
    for (k = 0; k < NCHAIN; ++k)
      (void)code_call(k, "chain", NULL);
    tracing1 = mpsx_arena_tracing(arena);
    if (tracing0 && tracing1 && mps_collections(arena) == e0)
      code_calls_incr += NCHAIN;
    /* Replace the tail of the chain from a random point, calling each
     * new object as soon as it is installed; the old objects become
     * garbage. */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    for (k = (size_t)(rng % NCHAIN); k < NCHAIN; ++k)
      code_install(ap, k, 1000 + (int)(rng % 1000));
    for (k = 0; k < 50; ++k)
      (void)tc_make_leaf(ap, (int)k); /* garbage */
  }
}

static void *code_main(void *arg)
{
  void *marker = &marker;
  mps_thr_t thr;
  mps_root_t stack_root, table_root;
  mps_ap_t ap;
  (void)arg;
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread_scanned(&stack_root, arena,
                                           mps_rank_ambig(), 0, thr,
                                           mpsx_scan_area_code, NULL,
                                           marker));
  CHECK_RES(mps_root_create_table(&table_root, arena, mps_rank_exact(), 0,
                                  code_table, NCHAIN));
  CHECK_RES(mps_ap_create_k(&ap, code_pool, mps_args_none));
  tc_set_link_delay(LINK_DELAY);
  code_loop(ap);
  mps_ap_destroy(ap);
  mps_root_destroy(table_root);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  return NULL;
}

int main(void)
{
  mps_fmt_t fmt, code_fmt;
  mps_chain_t chain, code_chain;
  mps_root_t shared_root;
  mps_gen_param_s gens[] = { { 1024, 0.85 }, { 2048, 0.45 } };
  pthread_t code_thread;
  double t0, elapsed, seconds = 10;
  const char *env = getenv("SOAK_SECONDS");
  unsigned long total_alloc = 0, total_verify = 0, per_pool[NPOOLS] = {0};
  int i, k, incremental;

  test_init("soak");
  if (env != NULL && atof(env) > 0)
    seconds = atof(env);

  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  /* A collection may be incremental only if it condemns nothing but AMC
   * and AMCZ, and no pool may hold weak references
   * (DESIGN.md#incremental).  So: two chains.  The workers' chain has AMC
   * and AMCZ in its nursery and AMS, AWL and LO in its second generation:
   * collections of its nursery alone may be incremental, the others are
   * atomic.  The code pool has a chain of its own: its collections are
   * atomic and move code under the running code thread.  The code chain
   * is made first, so that the policy, which collects the first chain
   * that is due, does not leave it waiting while the busier workers'
   * chain is always due.  AWL is a weak pool, whichever rank its
   * allocation points have: while it exists no collection is
   * incremental.  With pause time 0 (MPS_TEST_PAUSE_TIME=0), which asks
   * for incremental collections, the soak makes no AWL pool (its nodes go
   * to AMS), and fails unless some collection was incremental. */
  incremental = mps_arena_pause_time(arena) == 0.0;
  CHECK_RES(mps_chain_create(&code_chain, arena, 2, gens));
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  for (k = 0; k < NPOOLS; ++k) {
    if (k == P_AWL && incremental)
      continue;
    mps_pool_class_t cls = k == P_AMC    ? mps_class_amc()
                           : k == P_AMCZ ? mps_class_amcz()
                           : k == P_AMS  ? mps_class_ams()
                           : k == P_AWL  ? mps_class_awl()
                                         : mps_class_lo();
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
      MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
      if (k == P_AMS || k == P_AWL || k == P_LO)
        MPS_ARGS_ADD(args, MPS_KEY_GEN, 1);
      CHECK_RES(mps_pool_create_k(&pools[k], arena, cls, args));
    } MPS_ARGS_END(args);
  }
  tc_fmt_create(&code_fmt, arena);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, code_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, code_chain);
    CHECK_RES(mps_pool_create_k(&code_pool, arena, mpsx_class_amcx(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&shared_root, arena, mps_rank_exact(), 0,
                                  shared, NSHARED));

  start_collections = mps_collections(arena);
  test_pauses_start(arena);
  t0 = test_now();
  deadline = t0 + seconds;
  printf("soak: running for %.0f s\n", seconds);
  fflush(stdout);
  for (i = 0; i < NTHREADS; ++i) {
    workers[i].index = i;
    workers[i].rng = (rnd() | 1);
    tfm_init(&workers[i].model, ((unsigned long)i + 1) << 40, 1);
    if (pthread_create(&workers[i].pthread, NULL, worker_main, &workers[i]) != 0)
      die("pthread_create failed");
  }
  if (pthread_create(&code_thread, NULL, code_main, NULL) != 0)
    die("pthread_create failed");
  for (i = 0; i < NTHREADS; ++i)
    if (pthread_join(workers[i].pthread, NULL) != 0)
      die("pthread_join failed");
  if (pthread_join(code_thread, NULL) != 0)
    die("pthread_join failed");

  for (i = 0; i < NTHREADS; ++i) {
    worker *w = &workers[i];
    total_alloc += w->allocated;
    total_verify += w->verifications;
    for (k = 0; k < NPOOLS; ++k)
      per_pool[k] += w->per_pool[k];
    if (w->verifications < 2)
      die("worker %d verified only %lu times", i, w->verifications);
    tfm_finish(&w->model);
  }
  elapsed = test_now() - t0;
  printf("soak: %.0f s, %lu collections (%lu explicit), %lu objects "
         "allocated by the workers, %lu verifications, %lu code objects "
         "installed, %lu code calls checked, 0 failures\n",
         elapsed,
         (unsigned long)(mps_collections(arena) - start_collections),
         n_explicit, total_alloc, total_verify, tc_installed(), code_calls);
  printf("soak: code calls during collections: %lu (%lu across a flip, "
         "%lu inside an incremental collection); %lu calls of objects "
         "just installed, before any collection; %lu installations "
         "retried after a flip\n",
         code_calls_across + code_calls_incr, code_calls_across,
         code_calls_incr, code_calls_fresh, tc_retried());
  for (k = 0; k < NPOOLS; ++k)
    printf("soak:   %-4s %lu allocations%s\n", pool_name[k], per_pool[k],
           pools[k] == NULL ? " (no such pool: pause time 0)" : "");
  test_pauses_report(arena);
  if (code_calls == 0)
    die("no code was called");
  if (code_calls_fresh == 0)
    die("no caller was called before a collection had seen it");
  /* The point of the code thread: JIT code runs while collections stop
   * it and move code (and, with pause time 0, between the steps of
   * incremental ones).  A long run in which that never happened checked
   * nothing of the kind. */
  if (elapsed >= 10 && code_calls_across == 0)
    die("no code call was in progress at a flip in %.0f s", elapsed);
  if (elapsed >= 10 && incremental && code_calls_incr == 0)
    die("no code call was made inside an incremental collection in %.0f s",
        elapsed);

  mps_arena_park(arena);
  mps_root_destroy(shared_root);
  mps_pool_destroy(code_pool);
  for (k = NPOOLS; k-- > 0;)
    if (pools[k] != NULL)
      mps_pool_destroy(pools[k]);
  mps_chain_destroy(chain);
  mps_chain_destroy(code_chain);
  mps_fmt_destroy(code_fmt);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("soak: OK\n");
  return 0;
}
