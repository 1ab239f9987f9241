/* ramp.c -- allocation patterns: ramps change when AMC collects
 *
 * One AMC pool on a chain whose nursery holds 256 KiB; an exact table
 * root holds the objects the test keeps (shadow-model verified).
 * Checked (DESIGN.md#ramps):
 *
 *  1. outside a ramp, allocating 3 MiB of garbage collects the nursery
 *     (so the test can see a ramp's effect);
 *  2. inside mps_alloc_pattern_ramp(), the same allocation starts no
 *     collection, and what was kept while ramping survives the
 *     collections after the ramp, intact;
 *  3. begin and end nest like a stack: ending with no ramp open, or
 *     with a pattern other than the last one begun, is MPS_RES_FAIL;
 *     mps_ap_alloc_pattern_reset ends them all;
 *  4. ending mps_alloc_pattern_ramp_collect_all() runs a full collection
 *     at the next allocation slow path, even with little allocated.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>

#define NROOTS 256
#define GARBAGE ((size_t)3 << 20)

static mps_arena_t arena;
static mps_ap_t ap;
static void *roots[NROOTS];
static tf_node *sroots[NROOTS];
static tf_model model;

/* Allocate `bytes` of pairs; keep one in `keep` of them in a root. */
static void churn(size_t bytes, unsigned keep)
{
  size_t done = 0;
  while (done < bytes) {
    tf_node *s;
    void *p = tfm_alloc(&model, ap, TF_PAIR, 2, &s);
    done += tf_pair_size();
    if (keep != 0 && rnd_chance(1, keep)) {
      size_t i = rnd_below(NROOTS);
      if (roots[i] != NULL && rnd_chance(1, 2)) {
        tfm_link(p, s, 0, roots[i], sroots[i]);
      }
      roots[i] = p;
      sroots[i] = s;
    }
  }
}

static void verify(const char *when)
{
  mps_arena_park(arena);
  tfm_verify_begin(&model);
  tfm_verify_roots(&model, roots, sroots, NROOTS, when);
  (void)tfm_verify_end(&model);
  mps_arena_release(arena);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t pool;
  mps_root_t root;
  mps_thr_t thr;
  mps_gen_param_s gens[] = {{256, 0.5}, {4096, 0.5}};
  mps_word_t before, outside, inside;

  test_init("ramp");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  test_arena_setup(arena);
  CHECK_RES(mps_thread_reg(&thr, arena));
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, roots,
                                  NROOTS));
  tfm_init(&model, 1, 1);

  /* 1. the nursery collects when it is full */
  before = mps_collections(arena);
  churn(GARBAGE, 64);
  outside = mps_collections(arena) - before;
  CHECKF(outside >= 2, "3 MiB allocated through a 256 KiB nursery: %lu "
                       "collections", (unsigned long)outside);
  verify("after the churn outside a ramp");

  /* 2. a ramp postpones it */
  before = mps_collections(arena);
  CHECK_RES(mps_ap_alloc_pattern_begin(ap, mps_alloc_pattern_ramp()));
  churn(GARBAGE, 64);
  inside = mps_collections(arena) - before;
  CHECKF(inside == 0, "%lu collections during a ramp (%lu without one)",
         (unsigned long)inside, (unsigned long)outside);
  CHECK_RES(mps_ap_alloc_pattern_end(ap, mps_alloc_pattern_ramp()));
  before = mps_collections(arena);
  churn(GARBAGE / 2, 0);
  CHECKF(mps_collections(arena) > before,
         "no collection after the ramp ended");
  verify("after the ramp");
  CHECK_RES(mps_arena_collect(arena));
  verify("after a full collection");
  mps_arena_release(arena);

  /* 3. nesting */
  CHECK_RES_IS(mps_ap_alloc_pattern_end(ap, mps_alloc_pattern_ramp()),
               MPS_RES_FAIL);
  CHECK_RES(mps_ap_alloc_pattern_begin(ap, mps_alloc_pattern_ramp()));
  CHECK_RES(mps_ap_alloc_pattern_begin(ap,
                                       mps_alloc_pattern_ramp_collect_all()));
  CHECK_RES_IS(mps_ap_alloc_pattern_end(ap, mps_alloc_pattern_ramp()),
               MPS_RES_FAIL);
  CHECK_RES(mps_ap_alloc_pattern_reset(ap));
  CHECK_RES_IS(mps_ap_alloc_pattern_end(ap, mps_alloc_pattern_ramp()),
               MPS_RES_FAIL);
  CHECK_RES(mps_ap_alloc_pattern_begin(ap, mps_alloc_pattern_ramp()));
  CHECK_RES(mps_ap_alloc_pattern_begin(ap, mps_alloc_pattern_ramp()));
  before = mps_collections(arena);
  churn(GARBAGE, 0);
  CHECK(mps_collections(arena) == before);
  CHECK_RES(mps_ap_alloc_pattern_end(ap, mps_alloc_pattern_ramp()));
  churn(GARBAGE / 4, 0);
  CHECKF(mps_collections(arena) == before,
         "a collection inside the outer ramp");
  CHECK_RES(mps_ap_alloc_pattern_end(ap, mps_alloc_pattern_ramp()));

  /* 4. collect_all: a full collection soon after the end */
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  before = mps_collections(arena);
  CHECK_RES(mps_ap_alloc_pattern_begin(ap,
                                       mps_alloc_pattern_ramp_collect_all()));
  churn((size_t)64 << 10, 8);
  CHECK_RES(mps_ap_alloc_pattern_end(ap,
                                     mps_alloc_pattern_ramp_collect_all()));
  churn((size_t)96 << 10, 8); /* reaches a buffer fill, where it runs */
  CHECKF(mps_collections(arena) > before,
         "no collection after the end of a ramp_collect_all, with %lu KiB "
         "allocated (under the nursery's capacity)",
         (unsigned long)(160));
  verify("after ramp_collect_all");

  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_thread_dereg(thr);
  mps_arena_destroy(arena);
  tfm_finish(&model);
  printf("ramp: OK (%lu collections outside the ramp, 0 inside)\n",
         (unsigned long)outside);
  return 0;
}
