/* stress.c -- randomised mutator against AMC/AMCZ, verified after every
 * collection against a shadow model kept outside the heap
 *
 * Heap: pairs and vectors (references) in AMC, strings and one-word
 * atoms (leaves) in AMCZ, in the test format of testfmt.h with header
 * size 0 (so one-word atoms exist and need one-word forwarding markers
 * and pads).
 *
 * Roots: an exact table root (mps_root_create_table), an exact area
 * root (mps_root_create_area + mps_scan_area), and the thread's stack
 * and registers (mps_root_create_thread), where a volatile array of
 * "pins" holds objects referenced from nowhere else.  Pinned objects
 * must keep their address; that is checked after every collection.
 *
 * Collections: automatic ones from a small chain, plus mps_arena_collect
 * at random intervals.  After each (detected by mpsx_arena_traces), the
 * arena is parked and the whole graph is compared with the model.  While
 * an incremental collection is in progress (MPS_TEST_PAUSE_TIME=0), the
 * graph is also compared now and then without parking: the mutator's
 * view through the read barrier.
 *
 * Environment: MPS_TEST_SEED, STRESS (scales the number of collections,
 * default 1000).
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NROOTS 600      /* exact table root */
#define NAREA 200       /* exact area root */
#define NSLOTS (NROOTS + NAREA)
#define NPINS 16        /* stack-only objects */

static void *roots[NROOTS];
static tf_node *sroots[NROOTS];
static void **aroots;             /* malloc'd, registered as an area root */
static tf_node *saroots[NAREA];

static mps_arena_t arena;
static mps_ap_t amc_ap, amcz_ap;
static tf_model model;

static unsigned long n_verify, n_explicit, n_objects_max;

static void **slot_addr(size_t i)
{
  return i < NROOTS ? &roots[i] : &aroots[i - NROOTS];
}

static tf_node **sslot_addr(size_t i)
{
  return i < NROOTS ? &sroots[i] : &saroots[i - NROOTS];
}

static size_t random_vec_len(void)
{
  if (rnd_chance(1, 200))
    return 1000 + rnd_below(5000);   /* up to ~48 KiB: large objects */
  if (rnd_chance(1, 10))
    return 16 + rnd_below(200);
  return rnd_below(16);
}

static size_t random_str_bytes(void)
{
  if (rnd_chance(1, 300))
    return 8 * (1024 + rnd_below(8192));
  return 8 * (1 + rnd_below(32));
}

/* Allocate a random new object; returns heap pointer, sets *s_o. */
static void *random_alloc(tf_node **s_o)
{
  size_t r = rnd_below(100);
  if (r < 40)
    return tfm_alloc(&model, amc_ap, TF_PAIR, 2, s_o);
  if (r < 60)
    return tfm_alloc(&model, amc_ap, TF_VEC, random_vec_len(), s_o);
  if (r < 85)
    return tfm_alloc(&model, amcz_ap, TF_STR, random_str_bytes(), s_o);
  return tfm_alloc(&model, amcz_ap, TF_ATOM, 0, s_o);
}

static unsigned long n_live_verify;

/* Check the whole graph against the model.  `park`: with the arena
 * parked; else while a collection may be in progress, the mutator's view
 * through the read barrier (DESIGN.md#incremental). */
static void verify(void *volatile *pins, tf_node **spins, uintptr_t *pin_addr,
                   const char *when, int park)
{
  void *pincopy[NPINS];
  size_t i, n;

  if (park)
    mps_arena_park(arena);
  for (i = 0; i < NPINS; ++i) {
    pincopy[i] = pins[i];
    if ((uintptr_t)pincopy[i] != pin_addr[i])
      die("%s: pinned object %zu (id %lu) moved from %p to %p", when, i,
          spins[i] ? spins[i]->id : 0UL, (void *)pin_addr[i], pincopy[i]);
  }
  tfm_verify_begin(&model);
  tfm_verify_roots(&model, roots, sroots, NROOTS, "table root");
  tfm_verify_roots(&model, aroots, saroots, NAREA, "area root");
  tfm_verify_roots(&model, pincopy, spins, NPINS, "stack pin");
  n = tfm_verify_end(&model);
  if (n > n_objects_max)
    n_objects_max = n;
  ++n_verify;
  if (park)
    mps_arena_release(arena);
}

/* One random mutation. */
static void mutate(void *volatile *pins, tf_node **spins, uintptr_t *pin_addr)
{
  size_t r = rnd_below(1000);
  size_t a = rnd_below(NSLOTS), b = rnd_below(NSLOTS);
  void **pa = slot_addr(a);
  tf_node **sa = sslot_addr(a);

  if (r < 300) {                          /* new object into a root slot */
    tf_node *s;
    void *p = random_alloc(&s);
    *pa = p;
    *sa = s;
  } else if (r < 420) {                   /* cons two root objects */
    tf_node *s = tfm_new(&model, TF_PAIR, 2);
    void *car = *slot_addr(a), *cdr = *slot_addr(b);
    s->kids[0] = *sslot_addr(a);
    s->kids[1] = *sslot_addr(b);
    /* car and cdr live in locals (ambiguous refs) across the allocation */
    *pa = tf_make_pair(amc_ap, s->id, car, cdr);
    *sa = s;
  } else if (r < 650) {                   /* link: a.slot[i] = b (or b's child) */
    void *p = *pa, *q = *slot_addr(b);
    tf_node *s = *sa, *t = *sslot_addr(b);
    if (p != NULL && s->n > 0 && (s->kind == TF_PAIR || s->kind == TF_VEC)) {
      if (t != NULL && t->n > 0 && (t->kind == TF_PAIR || t->kind == TF_VEC)
          && rnd_chance(1, 3)) {
        size_t j = rnd_below(t->n);
        q = tf_ref(q, j);
        t = t->kids[j];
      }
      tfm_link(p, s, rnd_below(s->n), q, t);
    }
  } else if (r < 730) {                   /* unlink */
    void *p = *pa;
    tf_node *s = *sa;
    if (p != NULL && s->n > 0 && (s->kind == TF_PAIR || s->kind == TF_VEC))
      tfm_link(p, s, rnd_below(s->n), NULL, NULL);
  } else if (r < 820) {                   /* overwrite a root slot */
    if (rnd_chance(1, 2)) {
      *pa = NULL;
      *sa = NULL;
    } else {
      *pa = *slot_addr(b);
      *sa = *sslot_addr(b);
    }
  } else if (r < 980) {                   /* descend: slot = child of slot */
    void *p = *pa;
    tf_node *s = *sa;
    if (p != NULL && s->n > 0 && (s->kind == TF_PAIR || s->kind == TF_VEC)) {
      size_t i = rnd_below(s->n);
      *pa = tf_ref(p, i);
      *sa = s->kids[i];
    }
  } else {                                /* replace a stack-only pin */
    size_t k = rnd_below(NPINS);
    tf_node *s;
    void *p;
    if (rnd_chance(1, 2)) {
      /* a pair whose children are root objects: the pinned object's
       * exact fields must still be updated when the children move */
      void *car = *slot_addr(a), *cdr = *slot_addr(b);
      s = tfm_new(&model, TF_PAIR, 2);
      s->kids[0] = *sslot_addr(a);
      s->kids[1] = *sslot_addr(b);
      p = tf_make_pair(amc_ap, s->id, car, cdr);
    } else {
      p = random_alloc(&s);
    }
    pins[k] = p;
    spins[k] = s;
    pin_addr[k] = (uintptr_t)p;
  }
}

/* noinline: pins[] must live in a frame below main's cold marker */
static __attribute__((noinline)) void run(unsigned long target)
{
  /* Stack-only references: this array is scanned ambiguously as part of
   * the thread root, and nowhere else refers to what it holds. */
  void *volatile pins[NPINS];
  tf_node *spins[NPINS];
  uintptr_t *pin_addr = calloc(NPINS, sizeof *pin_addr);
  mps_word_t start = mps_collections(arena);
  size_t seen = mpsx_arena_traces(arena);
  unsigned long steps = 0, next_collect, next_report = 100;
  double t0 = test_now();
  size_t i;

  if (pin_addr == NULL)
    die("out of memory");
  for (i = 0; i < NPINS; ++i) {
    pins[i] = NULL;
    spins[i] = NULL;
  }
  next_collect = 500 + rnd_below(8000);

  while (mps_collections(arena) - start < target) {
    mutate(pins, spins, pin_addr);
    ++steps;
    if (steps >= next_collect) {
      ++n_explicit;
      CHECK_RES(mps_arena_collect(arena));
      next_collect = steps + 500 + rnd_below(8000);
    }
    if (mpsx_arena_traces(arena) != seen) {
      unsigned long done = (unsigned long)(mps_collections(arena) - start);
      verify(pins, spins, pin_addr, "after collection", 1);
      seen = mpsx_arena_traces(arena);
      if (done >= next_report) {
        printf("stress: %4lu collections (%lu explicit), %lu steps, "
               "%zu live objects in model, %lu forwarded, %.1fs\n",
               done, n_explicit, steps, model.count, tf_fwd_count,
               test_now() - t0);
        next_report += 100;
      }
    } else if (rnd_chance(1, 64) && mpsx_arena_tracing(arena)) {
      verify(pins, spins, pin_addr, "during a collection", 0);
      ++n_live_verify;
    }
  }
  verify(pins, spins, pin_addr, "at end", 1);
  printf("stress: done: %lu collections (%lu explicit), %lu verifications, "
         "%lu steps, max %lu reachable objects\n",
         (unsigned long)(mps_collections(arena) - start), n_explicit, n_verify,
         steps, n_objects_max);
  printf("stress: %lu of the verifications during a collection\n",
         n_live_verify);
  printf("stress: format calls: %lu forwarded (%lu one-word), %lu pads "
         "(%lu one-word)\n",
         tf_fwd_count, tf_fwd1_count, tf_pad_count, tf_pad1_count);
  if (tf_fwd_count == 0)
    die("no object was ever forwarded: the collector never copied");
  if (mps_collections(arena) - start <= n_explicit)
    die("no automatic collection happened (chain capacity 150 KiB)");
  free(pin_addr);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc, amcz;
  mps_thr_t thr;
  mps_root_t table_root, area_root, stack_root;
  mps_gen_param_s gens[] = { { 150, 0.85 }, { 170, 0.45 } };
  void *marker = &marker;
  unsigned long target;

  test_init("stress");
  target = test_scale(1000);
  printf("stress: target %lu collections\n", target);

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
    test_arena_setup(arena);
    test_pauses_start(arena);
  } MPS_ARGS_END(args);
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
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&amcz_ap, amcz, mps_args_none));

  aroots = calloc(NAREA, sizeof *aroots);
  if (aroots == NULL)
    die("out of memory");
  CHECK_RES(mps_root_create_table(&table_root, arena, mps_rank_exact(), 0,
                                   roots, NROOTS));
  CHECK_RES(mps_root_create_area(&area_root, arena, mps_rank_exact(), 0,
                                 aroots, aroots + NAREA, mps_scan_area, NULL));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr, marker));

  tfm_init(&model, 1, 1);
  run(target);

  mps_arena_park(arena);
  test_pauses_report(arena);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(area_root);
  mps_root_destroy(table_root);
  mps_ap_destroy(amcz_ap);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  free(aroots);
  tfm_finish(&model);
  printf("stress: OK\n");
  return 0;
}
