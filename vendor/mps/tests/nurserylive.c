/* nurserylive.c -- the default chain's nursery grows with the live heap
 *
 * The arena's default chain has a 64 MiB nursery, but no generation of it
 * is collected at less than the live size the last full collection
 * measured (DESIGN.md#policy).  Here 80 MiB of pairs are kept alive and
 * a full collection measures them; then 72 MiB of garbage (more than the
 * 64 MiB capacity, less than the live size) must be allocated without a
 * collection, and 24 MiB more (past the live size) must start one.
 * Before the change the 72 MiB started at least one collection.  The
 * kept list is checked at the end.  The stack is not a root.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>

#define MIB ((size_t)1 << 20)
#define LIVE (80 * MIB)
#define UNDER (72 * MIB)
#define OVER (24 * MIB)

static void *keep[1]; /* exact root: the head of the kept list */

static void garbage(mps_ap_t ap, size_t bytes)
{
  size_t i, n = bytes / tf_pair_size();
  for (i = 0; i < n; ++i)
    (void)tf_make_pair(ap, i, NULL, NULL);
}

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_root_t root;
  size_t n = LIVE / tf_pair_size(), i;
  unsigned long c0, c1, c2;
  void *p;

  test_init("nurserylive");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, keep,
                                  1));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));

  /* Link each pair to the head only once it is made: making it may
   * collect and move the head. */
  for (i = 0; i < n; ++i) {
    p = tf_make_pair(ap, i, NULL, NULL);
    tf_set_ref(p, 0, keep[0]);
    keep[0] = p;
  }
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);

  c0 = (unsigned long)mps_collections(arena);
  garbage(ap, UNDER);
  c1 = (unsigned long)mps_collections(arena);
  garbage(ap, OVER);
  c2 = (unsigned long)mps_collections(arena);
  printf("nurserylive: %zu MiB live; collections during %zu MiB of "
         "garbage: %lu, during %zu MiB more: %lu\n",
         LIVE / MIB, UNDER / MIB, c1 - c0, OVER / MIB, c2 - c1);
  CHECK(c1 == c0);
  CHECK(c2 > c1);

  mps_arena_park(arena);
  for (i = n, p = keep[0]; i-- > 0; p = tf_ref(p, 0)) {
    CHECK(p != NULL && tf_kind(p) == TF_PAIR);
    CHECK(tf_id(p) == i);
  }

  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  return 0;
}
