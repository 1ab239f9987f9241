/* policy.c -- small generations, everything surviving: one collection per
 * nursery's worth of allocation
 *
 * A chain of two generations of 150 and 170 KiB (the MPS manual's
 * example) and a list that keeps every object alive: each collection of
 * the nursery promotes more than 170 KiB into generation 1.  Generation 1
 * grows only by promotion, so it must wait for the next collection of the
 * nursery and go with it (DESIGN.md#policy), not be collected on its own
 * at the next buffer fill, which doubled the number of collections.
 *
 * About 8 MiB of pairs (x STRESS), all kept; the number of collections
 * must stay within 1.25 times the allocation divided by the nursery's
 * capacity (plus 2).  The list is checked at the end.  The stack is not a
 * root.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>

#define NURSERY_KIB 150
#define BYTES ((size_t)8 << 20)

static void *keep[1]; /* exact root: the head of the list */

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_root_t root;
  mps_gen_param_s gens[2] = {{NURSERY_KIB, 0.85}, {170, 0.45}};
  size_t n = test_scale(BYTES) / tf_pair_size(), i;
  size_t allocated = n * tf_pair_size();
  unsigned long collections, limit;
  void *p;

  test_init("policy");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)8 << 20);
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
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, keep,
                                  1));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));

  /* The stack is not a root: link each pair to the head only once it is
   * made, since making it may collect and move the head. */
  for (i = 0; i < n; ++i) {
    p = tf_make_pair(ap, i, NULL, NULL);
    tf_set_ref(p, 0, keep[0]);
    keep[0] = p;
  }
  collections = (unsigned long)mps_collections(arena);
  limit = (unsigned long)(1.25 * (double)allocated /
                          (double)(NURSERY_KIB * 1024)) + 2;
  printf("policy: %zu bytes allocated and kept, %lu collections "
         "(at most %lu allowed)\n",
         allocated, collections, limit);
  CHECK(collections > 0);
  CHECK(collections <= limit);

  mps_arena_park(arena);
  for (i = n, p = keep[0]; i-- > 0; p = tf_ref(p, 0)) {
    CHECK(p != NULL && tf_kind(p) == TF_PAIR);
    CHECK(tf_id(p) == i);
  }

  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  return 0;
}
