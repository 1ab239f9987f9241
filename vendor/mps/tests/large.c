/* large.c -- a large object dies when it is dropped, whatever lives after it
 *
 * AMC gives an object of MPS_KEY_LARGE_SIZE (default 32 KiB) or more a
 * segment of its own, retained in place (nailed) when any exact reference
 * reaches it.  The segment must hold that object only (DESIGN.md#amc): if
 * the small objects allocated next from the same allocation point went
 * into the tail of its last page, a surviving small one would nail the
 * whole segment and keep the dropped large object alive.
 *
 * Each round: a large string (1 MiB minus a little, so that its last page
 * has room to spare), then small pairs kept in an exact table, the large
 * one held only by a table slot; the slot is cleared and the arena
 * collected; the pool's size must have fallen below one large object,
 * and the kept pairs must be intact.  The stack is not a root.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>

#define ROUNDS 20
#define SMALL 64                                 /* pairs kept per round */
#define LARGE_BYTES (((size_t)1 << 20) - 4000)   /* string payload */

static void *keep[SMALL + 1]; /* exact root: [0] the large one */

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_root_t root;
  unsigned long round;
  size_t i, large_size = tf_str_size(LARGE_BYTES), worst = 0;

  test_init("large");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)32 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, keep,
                                  SMALL + 1));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));

  for (round = 0; round < test_scale(ROUNDS); ++round) {
    size_t total;
    keep[0] = tf_make_str(ap, 1000 * round, LARGE_BYTES);
    for (i = 1; i <= SMALL; ++i)
      keep[i] = tf_make_pair(ap, 1000 * round + i,
                             i > 1 ? keep[i - 1] : NULL, NULL);
    CHECK(tf_block_size(keep[0]) == large_size);
    keep[0] = NULL;
    CHECK_RES(mps_arena_collect(arena));
    total = mps_pool_total_size(amc);
    if (total > worst)
      worst = total;
    CHECK(total < large_size);
    for (i = 1; i <= SMALL; ++i) {
      CHECK(tf_kind(keep[i]) == TF_PAIR);
      CHECK(tf_id(keep[i]) == 1000 * round + i);
      CHECK(tf_ref(keep[i], 0) == (i > 1 ? keep[i - 1] : NULL));
    }
    mps_arena_release(arena);
  }
  printf("large: %lu rounds of a dropped %zu-byte object among %d kept "
         "pairs: pool at most %zu bytes after each collection, %lu "
         "collections\n",
         round, large_size, SMALL, worst,
         (unsigned long)mps_collections(arena));

  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  return 0;
}
