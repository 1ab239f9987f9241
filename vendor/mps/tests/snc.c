/* snc.c -- the SNC pool class (Stack No Checking) and allocation frames,
 * DESIGN.md#snc
 *
 * No thread is registered and there are no roots: AMC objects are kept
 * alive only by references in SNC objects, so the expectations are
 * exact.  Checked:
 *
 *  1. a stack of frames on an exact SNC point, pushed and popped at
 *     random (often several levels at once: popping an outer frame pops
 *     the inner ones), each level holding SNC vectors whose slots refer
 *     to AMC pairs; collections run in between.  After each one, every
 *     SNC vector of a live frame is intact and each slot still refers to
 *     the pair it was given (same id, intact), which has moved at least
 *     once: SNC objects are scanned, keep their targets alive, and their
 *     references are updated;
 *  2. a pop gives back exactly what was allocated since the push: the
 *     pool's total and free sizes return to their values at the push
 *     (segments that were added go back to the arena); the next object
 *     is allocated where the first one after the push was; popping the
 *     frame pushed on an empty point leaves the pool empty;
 *  3. frames are refused between a reserve and its commit (FAIL), and
 *     accepted and ignored on an AMC point;
 *  4. a pool made with mps_pool_create(&pool, arena, mps_class_snc(),
 *     fmt) and points made with mps_ap_create(&ap, pool, rank) and
 *     mps_ap_create_v: an AMC pair referenced only from the ambiguous
 *     object stays where it is (the word is unchanged), one referenced
 *     from the exact object moves and the reference follows it;
 *  5. SNC objects cannot be registered for finalization (PARAM), and a
 *     format with an in-band header is refused (PARAM).
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscsnc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 12
#define MAX_VECS 4000
#define SLOTS 4

static mps_arena_t arena;
static mps_fmt_t fmt;
static mps_pool_t amc;
static mps_ap_t amc_ap;

/* ---- 1 and 2: random frames ----------------------------------------- */

typedef struct vec_rec {
  void *vec;                   /* SNC vector (SLOTS refs) */
  unsigned long id;
  unsigned level;              /* frame depth it was allocated at */
  unsigned long kid[SLOTS];    /* ids of the AMC pairs in its slots */
  uintptr_t first[SLOTS];      /* where each pair was allocated */
} vec_rec;

static vec_rec vecs[MAX_VECS];
static size_t nvecs;
static unsigned long next_id = 1;
static size_t moved;

typedef struct frame_rec {
  mps_frame_t frame;
  size_t nvecs;                /* vecs below it */
  size_t total, free;          /* pool sizes at the push */
} frame_rec;

static void check_vecs(const char *when)
{
  size_t i, j;
  for (i = 0; i < nvecs; ++i) {
    vec_rec *v = &vecs[i];
    tf_check_obj(v->vec, when);
    CHECKF(tf_id(v->vec) == v->id, "%s: SNC vector %zu has id %lu, not %lu",
           when, i, tf_id(v->vec), v->id);
    for (j = 0; j < SLOTS; ++j) {
      void *p = tf_ref(v->vec, j);
      CHECKF(p != NULL, "%s: slot %zu of vector %lu is NULL", when, j, v->id);
      tf_check_obj(p, when);
      CHECKF(tf_id(p) == v->kid[j],
             "%s: slot %zu of vector %lu refers to id %lu, not %lu", when, j,
             v->id, tf_id(p), v->kid[j]);
      if ((uintptr_t)p != v->first[j]) {
        ++moved;
        v->first[j] = (uintptr_t)p;
      }
    }
  }
}

static void *make_vec(mps_ap_t ap, unsigned level)
{
  vec_rec *v = &vecs[nvecs];
  size_t j;
  CHECK(nvecs < MAX_VECS);
  v->id = next_id++;
  v->level = level;
  /* The vector first: once committed it is scanned, so each pair is
   * safe as soon as it is stored (nothing else refers to it). */
  v->vec = tf_make_vec(ap, v->id, SLOTS);
  for (j = 0; j < SLOTS; ++j) {
    void *p = tf_make_pair(amc_ap, next_id, NULL, NULL);
    tf_set_ref(v->vec, j, p);
    v->kid[j] = next_id++;
    v->first[j] = (uintptr_t)p;
  }
  ++nvecs;
  return v->vec;
}

static void pop_to(mps_pool_t pool, mps_ap_t ap, frame_rec *frames,
                   unsigned *depth, unsigned level)
{
  frame_rec *f = &frames[level];
  CHECK(level < *depth);
  CHECK_RES(mps_ap_frame_pop(ap, f->frame));
  nvecs = f->nvecs;
  *depth = level;
  CHECKF(mps_pool_total_size(pool) == f->total,
         "pop to level %u: pool total %zu bytes, %zu at the push", level,
         mps_pool_total_size(pool), f->total);
  CHECKF(mps_pool_free_size(pool) == f->free,
         "pop to level %u: pool free %zu bytes, %zu at the push", level,
         mps_pool_free_size(pool), f->free);
}

static void phase_frames(void)
{
  mps_pool_t pool;
  mps_ap_t ap;
  frame_rec frames[MAX_DEPTH];
  unsigned depth = 0, ops, n_ops = (unsigned)test_scale(3000);
  unsigned collections = 0, deepest = 0;
  size_t peak = 0;

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_snc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_RANK, mps_rank_exact());
    CHECK_RES(mps_ap_create_k(&ap, pool, args));
  } MPS_ARGS_END(args);
  CHECK(mps_pool_total_size(pool) == 0);

  for (ops = 0; ops < n_ops; ++ops) {
    unsigned r = (unsigned)rnd_below(100);
    if (r < 6 && depth < MAX_DEPTH) {
      frame_rec *f = &frames[depth];
      CHECK_RES(mps_ap_frame_push(&f->frame, ap));
      f->nvecs = nvecs;
      f->total = mps_pool_total_size(pool);
      f->free = mps_pool_free_size(pool);
      ++depth;
      if (depth > deepest)
        deepest = depth;
    } else if (r < 10 && depth > 1) {
      /* Often an outer frame: the inner ones go with it. */
      pop_to(pool, ap, frames, &depth, 1 + (unsigned)rnd_below(depth - 1));
    } else if (r < 11) {
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
      ++collections;
      check_vecs("after a collection");
    } else if (nvecs + 1 < MAX_VECS) {
      (void)make_vec(ap, depth);
      /* Now and then a big one: frames span several segments. */
      if (rnd_chance(1, 50)) {
        void *s = tf_make_str(ap, next_id++, (size_t)16 << 10);
        (void)s;
      }
    }
    if (mps_pool_total_size(pool) > peak)
      peak = mps_pool_total_size(pool);
  }
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  check_vecs("at the end");
  CHECKF(moved > 0, "no AMC pair referenced from SNC ever moved: the test "
         "does not see whether SNC references are updated");
  if (depth > 0)
    pop_to(pool, ap, frames, &depth, 0);
  /* The frame pushed on an empty point: nothing is left. */
  if (frames[0].total == 0)
    CHECK(mps_pool_total_size(pool) == 0);
  check_vecs("after the last pop");
  printf("snc: frames: %u collections, depth up to %u, peak %zu bytes, "
         "%zu moves seen\n", collections, deepest, peak, moved);
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);
  nvecs = 0;
}

/* A frame pushed on an empty point, objects over several segments, one
 * pop: the pool is empty again; and the address of the first object
 * after a push is reused after the pop. */
static void phase_sizes(void)
{
  mps_pool_t pool;
  mps_ap_t ap;
  mps_frame_t outer, inner, innermost;
  size_t total_mid, free_mid, i;
  void *a, *b;
  CHECK_RES(mps_pool_create(&pool, arena, mps_class_snc(), fmt));
  CHECK_RES(mps_ap_create(&ap, pool, mps_rank_exact()));
  CHECK_RES(mps_ap_frame_push(&outer, ap));
  for (i = 0; i < 40; ++i)
    (void)tf_make_str(ap, next_id++, (size_t)8 << 10);
  CHECK_RES(mps_ap_frame_push(&inner, ap));
  total_mid = mps_pool_total_size(pool);
  free_mid = mps_pool_free_size(pool);
  a = tf_make_str(ap, next_id++, 64);
  CHECK_RES(mps_ap_frame_push(&innermost, ap));
  for (i = 0; i < 40; ++i)
    (void)tf_make_str(ap, next_id++, (size_t)8 << 10);
  CHECKF(mps_pool_total_size(pool) > total_mid,
         "320 KiB more allocated, yet the pool did not grow");
  CHECK_RES(mps_ap_frame_pop(ap, inner)); /* innermost goes too */
  CHECK(mps_pool_total_size(pool) == total_mid);
  CHECK(mps_pool_free_size(pool) == free_mid);
  b = tf_make_str(ap, next_id++, 64);
  CHECKF(a == b, "after the pop the next object is at %p, not %p", b, a);
  CHECK_RES(mps_ap_frame_pop(ap, outer));
  CHECKF(mps_pool_total_size(pool) == 0,
         "everything popped, yet the pool holds %zu bytes",
         mps_pool_total_size(pool));
  CHECK(mps_pool_free_size(pool) == 0);
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);
}

/* ---- 3. misuse and other classes ---------------------------------------- */

static void phase_protocol(void)
{
  mps_pool_t pool;
  mps_ap_t ap;
  mps_frame_t frame, amc_frame;
  mps_addr_t p;
  void *keep;
  size_t size = tf_str_size(32);
  CHECK_RES(mps_pool_create(&pool, arena, mps_class_snc(), fmt));
  CHECK_RES(mps_ap_create(&ap, pool, mps_rank_exact()));
  CHECK_RES(mps_reserve(&p, ap, size));
  CHECK_RES_IS(mps_ap_frame_push(&frame, ap), MPS_RES_FAIL);
  (void)tf_init_str(p, 1, 32);
  CHECK(mps_commit(ap, p, size));
  CHECK_RES(mps_ap_frame_push(&frame, ap));
  CHECK_RES(mps_reserve(&p, ap, size));
  CHECK_RES_IS(mps_ap_frame_pop(ap, frame), MPS_RES_FAIL);
  (void)tf_init_str(p, 2, 32);
  CHECK(mps_commit(ap, p, size));
  CHECK_RES(mps_ap_frame_pop(ap, frame));
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);

  /* AMC: accepted, nothing freed. */
  CHECK_RES(mps_ap_frame_push(&amc_frame, amc_ap));
  keep = tf_make_str(amc_ap, 4242, 32);
  CHECK_RES(mps_ap_frame_pop(amc_ap, amc_frame));
  tf_check_obj(keep, "AMC object after a frame pop");
  CHECK(tf_id(keep) == 4242);
}

/* ---- 4. positional creators and ranks ----------------------------------- */

static mps_res_t ap_create_v(mps_ap_t *ap_o, mps_pool_t pool, ...)
{
  mps_res_t res;
  va_list varargs;
  va_start(varargs, pool);
  res = mps_ap_create_v(ap_o, pool, varargs);
  va_end(varargs);
  return res;
}

static void phase_varargs(void)
{
  mps_pool_t pool;
  mps_ap_t ambig_ap, exact_ap;
  mps_frame_t frame;
  void *amb, *ex, *p, *q;
  uintptr_t p_addr, q_addr;
  unsigned round;
  CHECK_RES(mps_pool_create(&pool, arena, mps_class_snc(), fmt));
  CHECK_RES(ap_create_v(&ambig_ap, pool, mps_rank_ambig()));
  CHECK_RES(mps_ap_create(&exact_ap, pool, mps_rank_exact()));
  CHECK_RES(mps_ap_frame_push(&frame, exact_ap));
  amb = tf_make_vec(ambig_ap, 1, 2);
  ex = tf_make_vec(exact_ap, 2, 1);
  p = tf_make_pair(amc_ap, 3, NULL, NULL);
  tf_set_ref(amb, 0, p);
  q = tf_make_pair(amc_ap, 4, NULL, NULL);
  tf_set_ref(ex, 0, q);
  tf_set_ref(amb, 1, (void *)(uintptr_t)0x7777); /* not a pointer */
  p_addr = (uintptr_t)p;
  q_addr = (uintptr_t)q;
  p = q = NULL;
  for (round = 0; round < 3; ++round) {
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    tf_check_obj(amb, "snc: ambiguous vector");
    CHECKF((uintptr_t)tf_ref(amb, 0) == p_addr,
           "round %u: the ambiguous object's reference changed from %#lx "
           "to %p: the point made with mps_rank_ambig() was scanned as "
           "exact", round, (unsigned long)p_addr, tf_ref(amb, 0));
    CHECK((uintptr_t)tf_ref(amb, 1) == 0x7777);
    tf_check_obj((void *)p_addr, "snc: pair pinned by an ambiguous object");
    CHECK(tf_id((void *)p_addr) == 3);
    q = tf_ref(ex, 0);
    tf_check_obj(q, "snc: pair referenced exactly");
    CHECKF(tf_id(q) == 4, "exactly referenced pair has id %lu", tf_id(q));
  }
  CHECKF((uintptr_t)q != q_addr,
         "the exactly referenced pair never moved: the test cannot tell an "
         "ambiguous point from an exact one");
  /* 5. No finalization of SNC objects. */
  {
    mps_addr_t ref = ex;
    CHECK_RES_IS(mps_finalize(arena, &ref), MPS_RES_PARAM);
  }
  CHECK_RES(mps_ap_frame_pop(exact_ap, frame));
  mps_ap_destroy(exact_ap);
  mps_ap_destroy(ambig_ap);
  mps_pool_destroy(pool);
}

static void phase_refused(void)
{
  mps_fmt_t hfmt;
  mps_pool_t pool;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SCAN, tf_scan);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SKIP, tf_skip_method);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_HEADER_SIZE, (size_t)8);
    CHECK_RES(mps_fmt_create_k(&hfmt, arena, args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, hfmt);
    CHECK_RES_IS(mps_pool_create_k(&pool, arena, mps_class_snc(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);
  mps_fmt_destroy(hfmt);
}

int main(void)
{
  mps_gen_param_s gens[] = {{256, 0.85}, {512, 0.45}};
  mps_chain_t chain;

  test_init("snc");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));

  phase_frames();
  phase_sizes();
  phase_protocol();
  phase_varargs();
  phase_refused();

  mps_arena_park(arena);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("snc: OK\n");
  return 0;
}
