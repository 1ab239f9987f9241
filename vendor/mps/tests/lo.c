/* lo.c -- the LO pool class (Leaf Object)
 *
 * LO pool with a format that has a skip method only (no scan, fwd, isfwd
 * or pad), header size 8 (client pointer = base + 8).  LO objects are
 * test-format strings (leaves).  AMC (full format, same header) holds
 * vectors and pairs that refer to them.
 *
 *  1. random graph of AMC pairs/vectors and LO strings (and a few large
 *     LO strings), shadow-model verified after every collection; LO
 *     strings never move and their contents stay intact;
 *  2. LO strings referenced only from AMC objects (which move) or only
 *     from an exact root survive many collections at the same address;
 *  3. churn: allocating 100x the live size keeps mps_pool_total_size
 *     bounded: unreachable LO objects are reclaimed and space reused;
 *  4. an LO string referenced only from the stack (client pointer,
 *     thread root) survives.
 *
 * Phases 1-3 have no thread root, so only roots and heap references keep
 * objects alive; the code never holds a heap pointer across an MPS call
 * there unless the object cannot move (LO).
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsclo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NROOTS 512

static mps_arena_t arena;
static mps_pool_t amc, lo;
static mps_ap_t amc_ap, lo_ap;
static void *roots[NROOTS];
static tf_node *sroots[NROOTS];
static tf_model model;
static unsigned long next_id = 1000000000UL;

static int in_pool(void *p, mps_pool_t pool)
{
  mps_pool_t q;
  return mps_addr_pool(&q, arena, p) && q == pool;
}

static size_t lo_str_bytes(void)
{
  if (rnd_chance(1, 100))
    return 8 * (4096 + rnd_below(16384));    /* 32 KiB .. 160 KiB */
  return 8 * (1 + rnd_below(40));
}

/* ---- 1. random graph ---- */

static int has_refs(tf_node *s)
{
  return s != NULL && s->n > 0 && (s->kind == TF_PAIR || s->kind == TF_VEC);
}

static void mutate(void)
{
  size_t r = rnd_below(1000);
  size_t a = rnd_below(NROOTS), b = rnd_below(NROOTS);

  if (r < 300) {
    tf_node *s;
    void *p;
    size_t k = rnd_below(10);
    if (k < 4) {
      p = tfm_alloc(&model, lo_ap, TF_STR, lo_str_bytes(), &s);
      s->home = (uintptr_t)p;
    } else if (k < 7) {
      p = tfm_alloc(&model, amc_ap, TF_PAIR, 2, &s);
    } else {
      p = tfm_alloc(&model, amc_ap, TF_VEC, rnd_below(24), &s);
    }
    roots[a] = p;
    sroots[a] = s;
  } else if (r < 650) {
    void *q = roots[b];
    tf_node *t = sroots[b];
    if (has_refs(sroots[a])) {
      if (has_refs(t) && rnd_chance(1, 3)) {
        size_t j = rnd_below(t->n);
        q = tf_ref(q, j);
        t = t->kids[j];
      }
      tfm_link(roots[a], sroots[a], rnd_below(sroots[a]->n), q, t);
    }
  } else if (r < 730) {
    if (has_refs(sroots[a]))
      tfm_link(roots[a], sroots[a], rnd_below(sroots[a]->n), NULL, NULL);
  } else if (r < 820) {
    if (rnd_chance(1, 2)) {
      roots[a] = NULL;
      sroots[a] = NULL;
    } else {
      roots[a] = roots[b];
      sroots[a] = sroots[b];
    }
  } else {
    if (has_refs(sroots[a])) {
      size_t i = rnd_below(sroots[a]->n);
      roots[a] = tf_ref(roots[a], i);
      sroots[a] = sroots[a]->kids[i];
    }
  }
}

static size_t verify(const char *when)
{
  size_t homes;
  mps_arena_park(arena);
  tfm_verify_begin(&model);
  tfm_verify_roots(&model, roots, sroots, NROOTS, when);
  (void)tfm_verify_end(&model);
  homes = tfm_check_homes(&model, when);
  mps_arena_release(arena);
  return homes;
}

static void phase_random(void)
{
  unsigned long target = test_scale(300), steps = 0, next_collect;
  mps_word_t start = mps_collections(arena), seen = start;
  size_t homes_max = 0, i;

  next_collect = 2000 + rnd_below(6000);
  while (mps_collections(arena) - start < target) {
    mutate();
    ++steps;
    if (steps >= next_collect) {
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
      next_collect = steps + 2000 + rnd_below(6000);
    }
    if (mps_collections(arena) != seen) {
      size_t h = verify("random graph");
      if (h > homes_max)
        homes_max = h;
      seen = mps_collections(arena);
    }
    if (steps > 50000000UL)
      die("random graph: only %lu collections in %lu steps",
          (unsigned long)(mps_collections(arena) - start), steps);
  }
  verify("random graph, end");
  printf("lo: random graph: %lu collections, %lu steps, up to %zu LO "
         "strings checked in place\n",
         (unsigned long)(mps_collections(arena) - start), steps, homes_max);
  if (homes_max == 0)
    die("random graph: no LO object was ever reachable");
  for (i = 0; i < NROOTS; ++i) {
    roots[i] = NULL;
    sroots[i] = NULL;
  }
}

/* ---- 2. kept alive by AMC objects and by roots ---- */

#define NVEC 16
#define NPER 20
#define NDIRECT 64

static void phase_kept(void)
{
  /* roots[0..NVEC): AMC vectors whose slots are the only references to
   * LO strings; roots[NVEC..NVEC+NDIRECT): LO strings held directly. */
  static uintptr_t addr[NVEC][NPER], daddr[NDIRECT];
  static unsigned long id[NVEC][NPER], did[NDIRECT];
  unsigned long round, vec_moves = 0;
  uintptr_t vaddr[NVEC];
  size_t v, i;

  for (v = 0; v < NVEC; ++v) {
    roots[v] = tf_make_vec(amc_ap, next_id++, NPER);
    for (i = 0; i < NPER; ++i) {
      void *s;
      id[v][i] = next_id++;
      s = tf_make_str(lo_ap, id[v][i], lo_str_bytes());
      tf_set_ref(roots[v], i, s);      /* roots[v] re-read after the call */
      addr[v][i] = (uintptr_t)s;
    }
    vaddr[v] = (uintptr_t)roots[v];
  }
  for (i = 0; i < NDIRECT; ++i) {
    did[i] = next_id++;
    roots[NVEC + i] = tf_make_str(lo_ap, did[i], lo_str_bytes());
    daddr[i] = (uintptr_t)roots[NVEC + i];
    CHECK(in_pool(roots[NVEC + i], lo));
  }

  for (round = 0; round < 10; ++round) {
    unsigned long k;
    for (k = 0; k < 4000; ++k) {
      (void)tf_make_str(lo_ap, next_id++, lo_str_bytes() % 512 + 8);
      (void)tf_make_pair(amc_ap, next_id++, NULL, NULL);
    }
    CHECK_RES(mps_arena_collect(arena));
    for (v = 0; v < NVEC; ++v) {
      void *vec = roots[v];
      tf_check_obj(vec, "kept: AMC vector");
      if ((uintptr_t)vec != vaddr[v]) {
        ++vec_moves;
        vaddr[v] = (uintptr_t)vec;
      }
      for (i = 0; i < NPER; ++i) {
        void *s = tf_ref(vec, i);
        if ((uintptr_t)s != addr[v][i])
          die("kept: LO string referenced from AMC changed address from %p "
              "to %p", (void *)addr[v][i], s);
        tf_check_obj(s, "kept: LO string referenced only from AMC");
        if (tf_id(s) != id[v][i])
          die("kept: LO string has id %lu, expected %lu (reclaimed while "
              "reachable?)", tf_id(s), id[v][i]);
      }
    }
    for (i = 0; i < NDIRECT; ++i) {
      void *s = roots[NVEC + i];
      if ((uintptr_t)s != daddr[i])
        die("kept: LO string in an exact root moved from %p to %p",
            (void *)daddr[i], s);
      tf_check_obj(s, "kept: LO string referenced from a root");
      if (tf_id(s) != did[i])
        die("kept: LO string has id %lu, expected %lu", tf_id(s), did[i]);
    }
    mps_arena_release(arena);
  }
  printf("lo: %d LO strings referenced from AMC vectors (which moved %lu "
         "times) and %d from a root stayed in place and intact\n",
         NVEC * NPER, vec_moves, NDIRECT);
  if (vec_moves == 0)
    die("kept: the AMC vectors never moved");
  for (i = 0; i < NROOTS; ++i)
    roots[i] = NULL;
}

/* ---- 3. churn ---- */

#define NLIVE 400

static void phase_churn(void)
{
  size_t live = 0, garbage = 0, total, total_max = 0, bound, target, i;
  unsigned long k = 0;
  mps_word_t c0;

  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  c0 = mps_collections(arena);
  for (i = 0; i < NLIVE; ++i) {
    roots[i] = tf_make_str(lo_ap, next_id++, 240);
    live += tf_str_size(240);
  }
  target = 100 * live;
  bound = 4 * live + ((size_t)3 << 20);
  while (garbage < target) {
    size_t n = 8 * (1 + rnd_below(64));
    if (rnd_chance(1, 500))
      n = 8 * (4096 + rnd_below(4096));
    (void)tf_make_str(lo_ap, next_id++, n);
    garbage += tf_str_size(n);
    if (++k % 64 == 0) {
      size_t j = rnd_below(NLIVE);
      roots[j] = tf_make_str(lo_ap, next_id++, 240);
    }
    total = mps_pool_total_size(lo);
    if (total > total_max)
      total_max = total;
    if (total > bound)
      die("churn: LO total size %zu after allocating %zu bytes (live %zu, "
          "bound %zu): dead objects not reclaimed or space not reused",
          total, garbage, live, bound);
  }
  printf("lo: churn: allocated %zu bytes, live %zu, LO total size at most %zu "
         "(bound %zu), %lu collections\n", garbage, live, total_max, bound,
         (unsigned long)(mps_collections(arena) - c0));
  if (mps_collections(arena) == c0)
    die("churn: no automatic collection");
  CHECK_RES(mps_arena_collect(arena));
  total = mps_pool_total_size(lo);
  if (mps_pool_free_size(lo) > total)
    die("churn: free size %zu > total %zu", mps_pool_free_size(lo), total);
  if (total - mps_pool_free_size(lo) < live)
    die("churn: in use %zu < live %zu", total - mps_pool_free_size(lo), live);
  for (i = 0; i < NLIVE; ++i) {
    tf_check_obj(roots[i], "churn: live LO string");
    roots[i] = NULL;
  }
  mps_arena_release(arena);
}

/* ---- 4. stack ---- */

#define NSTACK 8

static __attribute__((noinline)) void phase_stack_inner(void)
{
  void *volatile held[NSTACK];
  unsigned long id[NSTACK];
  uintptr_t addr[NSTACK];
  unsigned long round, k;
  size_t i;

  for (i = 0; i < NSTACK; ++i) {
    id[i] = next_id++;
    held[i] = tf_make_str(lo_ap, id[i], 8 * (1 + i * 7));
    addr[i] = (uintptr_t)held[i];
  }
  for (round = 0; round < 5; ++round) {
    for (k = 0; k < 20000; ++k)
      (void)tf_make_str(lo_ap, next_id++, 8 * (1 + rnd_below(8)));
    CHECK_RES(mps_arena_collect(arena));
    for (i = 0; i < NSTACK; ++i) {
      void *p = held[i];
      if ((uintptr_t)p != addr[i])
        die("stack: C variable changed?");
      tf_check_obj(p, "stack: LO string referenced only from the stack");
      if (tf_id(p) != id[i])
        die("stack: LO string has id %lu, expected %lu", tf_id(p), id[i]);
    }
    mps_arena_release(arena);
  }
  for (i = 0; i < NSTACK; ++i)
    held[i] = NULL;
}

int main(void)
{
  mps_fmt_t amc_fmt, lo_fmt;
  mps_chain_t chain;
  mps_thr_t thr;
  mps_root_t table_root, stack_root;
  mps_gen_param_s gens[] = { { 256, 0.85 }, { 512, 0.45 } };
  void *marker = &marker;

  test_init("lo");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
    test_arena_setup(arena);
  } MPS_ARGS_END(args);
  tf_fmt_create(&amc_fmt, arena, 8);
  tf_fmt_create_methods(&lo_fmt, arena, 8, TF_M_SKIP);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, amc_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, lo_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_GEN, 0);
    CHECK_RES(mps_pool_create_k(&lo, arena, mps_class_lo(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&lo_ap, lo, mps_args_none));
  CHECK_RES(mps_root_create_table(&table_root, arena, mps_rank_exact(), 0,
                                   roots, NROOTS));
  CHECK_RES(mps_thread_reg(&thr, arena));

  tfm_init(&model, 1, 1);
  phase_random();
  phase_kept();
  phase_churn();

  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr, marker));
  phase_stack_inner();
  printf("lo: stack-referenced LO strings survived 5 collections\n");

  mps_arena_park(arena);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(table_root);
  mps_ap_destroy(lo_ap);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(lo);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(lo_fmt);
  mps_fmt_destroy(amc_fmt);
  mps_arena_destroy(arena);
  tfm_finish(&model);
  printf("lo: OK\n");
  return 0;
}
