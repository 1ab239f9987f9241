/* threads.c -- four registered threads mutating their own sub-graphs
 * while collections run
 *
 * Each worker thread registers itself, scans its own stack (thread
 * root with the cold end at the top of its start function), owns an
 * exact table root, two allocation points (AMC and AMCZ) and a shadow
 * model of its sub-graph.  A set of shared root slots, guarded by a
 * mutex, is replaced and checked by all threads.  Worker 0 also calls
 * mps_arena_collect / mps_arena_release now and then; the small chain
 * makes allocation start collections on its own.
 *
 * Verification of a sub-graph needs objects to stay put, so it runs
 * with the arena parked.  Several threads may verify at once: the first
 * parks, the last releases (verify_begin / verify_end), and explicit
 * collections wait until nobody is verifying.
 */

#define _POSIX_C_SOURCE 200809L

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define NTHREADS 4
#define NROOTS 300
#define NSHARED 32

static mps_arena_t arena;
static mps_pool_t amc, amcz;
static atomic_int stop;
static unsigned long target;
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
  mps_ap_t amc_ap, amcz_ap;
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
    void *str = tf_make_str(w->amcz_ap, sid, nbytes);
    shared[k] = tf_make_pair(w->amc_ap, pid, str, NULL);
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
    if (k < 40)
      w->roots[a] = tfm_alloc(m, w->amc_ap, TF_PAIR, 2, &s);
    else if (k < 60)
      w->roots[a] = tfm_alloc(m, w->amc_ap, TF_VEC,
                              wbelow(w, 100) == 0 ? 500 + wbelow(w, 3000)
                                                  : wbelow(w, 12), &s);
    else if (k < 85)
      w->roots[a] = tfm_alloc(m, w->amcz_ap, TF_STR, 8 * (1 + wbelow(w, 24)),
                              &s);
    else
      w->roots[a] = tfm_alloc(m, w->amcz_ap, TF_ATOM, 0, &s);
    w->sroots[a] = s;
    ++w->allocated;
  } else if (r < 420) {
    tf_node *s = tfm_new(m, TF_PAIR, 2);
    void *car = w->roots[a], *cdr = w->roots[b];
    s->kids[0] = w->sroots[a];
    s->kids[1] = w->sroots[b];
    w->roots[a] = tf_make_pair(w->amc_ap, s->id, car, cdr);
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
      if (mps_collections(arena) - start_collections >= target)
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
  CHECK_RES(mps_ap_create_k(&w->amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&w->amcz_ap, amcz, mps_args_none));
  worker_loop(w);

  mps_ap_destroy(w->amcz_ap);
  mps_ap_destroy(w->amc_ap);
  mps_root_destroy(table_root);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  return NULL;
}

int main(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_root_t shared_root;
  mps_gen_param_s gens[] = { { 150, 0.85 }, { 170, 0.45 } };
  double t0;
  int i;

  test_init("threads");
  target = test_scale(1000);

  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  test_pauses_start(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amcz, arena, mps_class_amcz(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&shared_root, arena, mps_rank_exact(), 0,
                                  shared, NSHARED));

  start_collections = mps_collections(arena);
  t0 = test_now();
  for (i = 0; i < NTHREADS; ++i) {
    workers[i].index = i;
    workers[i].rng = (rnd() | 1);
    tfm_init(&workers[i].model, ((unsigned long)i + 1) << 40, 1);
    if (pthread_create(&workers[i].pthread, NULL, worker_main, &workers[i]) != 0)
      die("pthread_create failed");
  }
  for (i = 0; i < NTHREADS; ++i)
    if (pthread_join(workers[i].pthread, NULL) != 0)
      die("pthread_join failed");

  printf("threads: %lu collections (%lu explicit) in %.1fs\n",
         (unsigned long)(mps_collections(arena) - start_collections),
         n_explicit, test_now() - t0);
  for (i = 0; i < NTHREADS; ++i) {
    worker *w = &workers[i];
    printf("threads: worker %d: %lu steps, %lu allocations, "
           "%lu verifications, %zu objects in model\n",
           i, w->steps, w->allocated, w->verifications, w->model.count);
    if (w->verifications < 2)
      die("worker %d verified only %lu times", i, w->verifications);
    tfm_finish(&w->model);
  }
  if (mps_collections(arena) - start_collections < target)
    die("only %lu collections", (unsigned long)(mps_collections(arena)
                                                - start_collections));
  if (tf_fwd_count == 0)
    die("no object was forwarded");

  mps_arena_park(arena);
  test_pauses_report(arena);
  mps_root_destroy(shared_root);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("threads: OK\n");
  return 0;
}
