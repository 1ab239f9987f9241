/* collections.c -- mps_collections counts collections that may move
 *
 * The manual: mps_collections is the number of flips in which objects
 * might have moved, and stays 0 when only non-moving pool classes (AMS,
 * AWL, LO) are in use.
 *
 * Checked:
 *  - an arena with AMS, AWL and LO pools only: collections happen (gc
 *    messages arrive, objects die) while mps_collections stays 0, and a
 *    location dependency on an AMS object never goes stale;
 *  - once an AMC pool is added, each mps_arena_collect adds one.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscams.h"
#include "mpscawl.h"
#include "mpsclo.h"

#include <stdio.h>

#define ROOTS 16

static void *roots[ROOTS];

/* Drain the gc messages; how many there were. */
static unsigned long gc_messages(mps_arena_t arena)
{
  unsigned long n = 0;
  mps_message_t m;
  while (mps_message_get(&m, arena, mps_message_type_gc())) {
    mps_message_discard(arena, m);
    ++n;
  }
  return n;
}

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt, amc_fmt;
  mps_pool_t ams, awl, lo, amc;
  mps_ap_t ams_ap, awl_ap, lo_ap, amc_ap;
  mps_root_t root;
  mps_ld_s ld;
  unsigned long i, round, gcs = 0;

  test_init("collections");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  tf_fmt_create_methods(&fmt, arena, 0, TF_M_SCAN | TF_M_SKIP);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&ams, arena, mps_class_ams(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&awl, arena, mps_class_awl(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&lo, arena, mps_class_lo(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ams_ap, ams, mps_args_none));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_RANK, mps_rank_exact());
    CHECK_RES(mps_ap_create_k(&awl_ap, awl, args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&lo_ap, lo, mps_args_none));
  CHECK_RES(mps_root_create_area(&root, arena, mps_rank_exact(), 0, roots,
                                 roots + ROOTS, mps_scan_area, NULL));
  mps_message_type_enable(arena, mps_message_type_gc());

  /* Non-moving pools only. */
  roots[0] = tf_make_pair(ams_ap, 1, NULL, NULL);
  mps_ld_reset(&ld, arena);
  mps_ld_add(&ld, arena, roots[0]);
  for (round = 0; round < 6; ++round) {
    for (i = 0; i < (unsigned long)test_scale(20000); ++i) {
      void *p = tf_make_pair(ams_ap, 10 + i, roots[0], NULL);
      void *q = tf_make_vec(awl_ap, 10 + i, 4);
      void *s = tf_make_str(lo_ap, 10 + i, 64);
      roots[1 + i % (ROOTS - 1)] = i % 3 == 0 ? p : i % 3 == 1 ? q : s;
    }
    if (round % 2 == 0)
      CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    gcs += gc_messages(arena);
    CHECKF(mps_collections(arena) == 0,
           "non-moving pools only: mps_collections is %lu after %lu "
           "collections", (unsigned long)mps_collections(arena), gcs);
    CHECK(!mps_ld_isstale(&ld, arena, roots[0]));
    tf_check_obj(roots[0], "AMS pair");
  }
  CHECKF(gcs >= 3, "only %lu collections", gcs);
  printf("collections: AMS, AWL and LO only: %lu collections, "
         "mps_collections 0\n", gcs);

  /* With a moving pool: one more per collection. */
  tf_fmt_create(&amc_fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, amc_fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  roots[1] = tf_make_pair(amc_ap, 2, NULL, NULL);
  for (round = 1; round <= 3; ++round) {
    CHECK_RES(mps_arena_collect(arena));
    CHECKF(mps_collections(arena) == round,
           "with an AMC pool: mps_collections %lu after %lu collections",
           (unsigned long)mps_collections(arena), round);
    tf_check_obj(roots[1], "AMC pair");
  }
  printf("collections: with an AMC pool, one per mps_arena_collect\n");

  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_ap_destroy(amc_ap);
  mps_ap_destroy(lo_ap);
  mps_ap_destroy(awl_ap);
  mps_ap_destroy(ams_ap);
  mps_pool_destroy(amc);
  mps_pool_destroy(lo);
  mps_pool_destroy(awl);
  mps_pool_destroy(ams);
  mps_fmt_destroy(amc_fmt);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("collections: ok\n");
  return 0;
}
