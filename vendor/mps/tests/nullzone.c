/* nullzone.c -- NULL and small integers never pass MPS_FIX1
 *
 * The zone of an address is a few of its bits (DESIGN.md#zones); NULL and
 * small integers lie in zone 0.  If a collected segment's references fell
 * in zone 0, every collection condemning it would have zone 0 in its white
 * set, and every NULL field scanned would pass MPS_FIX1 and cost a call of
 * the fix (in the `scripts` benchmark 92% of those calls were for NULL).
 * The arena keeps collected objects out of zone 0 (DESIGN.md#zones, "the
 * zone of NULL").
 *
 * Checked, with the default arena and chain, and with an 8 MiB arena and
 * a small client chain (150/170 KiB, so that the heap outgrows the first
 * chunk many times): a root of NULLs, small integers (below 4 MiB) and
 * references to kept pairs, scanned by a function of this test, sees no
 * NULL and no small integer pass MPS_FIX1 in any of at least 40
 * collections (automatic and mps_arena_collect), and the kept pairs are
 * intact after every collection.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>

#define SLOTS 4096
#define KEPT 64
#define BIG_REFS ((size_t)1 << 17) /* 1 MiB vectors */
#define BIG_PER_ROUND 16
#define BIG_SLOTS 64 /* at most 64 MiB of them live */

static mps_word_t slots[SLOTS];
static unsigned long null_passed, small_passed, fixed;

/* Every fourth slot may hold a pair; the others hold NULL or a small
 * integer. */
static mps_res_t scan_slots(mps_ss_t ss, void *base, void *limit,
                            void *closure)
{
  mps_word_t *p;
  (void)closure;
  MPS_SCAN_BEGIN(ss) {
    for (p = base; p < (mps_word_t *)limit; ++p) {
      mps_word_t w = *p;
      if (MPS_FIX1(ss, w)) {
        if (w == 0) {
          ++null_passed;
        } else if (w < ((mps_word_t)4 << 20)) {
          ++small_passed;
        } else {
          mps_addr_t ref = (mps_addr_t)w;
          mps_res_t res = MPS_FIX2(ss, &ref);
          if (res != MPS_RES_OK)
            return res;
          *p = (mps_word_t)ref;
          ++fixed;
        }
      }
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static void check_kept(const char *what)
{
  size_t i;
  for (i = 0; i < SLOTS; ++i)
    if (i % 4 != 1 && slots[i] != 0) {
      void *obj = (void *)slots[i];
      tf_check_obj(obj, what);
      CHECKF(tf_id(obj) == i + 1, "%s: slot %zu holds object %lu", what, i,
             tf_id(obj));
    }
}

static void run(const char *name, size_t arena_size, int small_chain)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_chain_t chain = NULL;
  mps_pool_t pool;
  mps_ap_t ap;
  mps_root_t root;
  mps_gen_param_s gens[2] = {{150, 0.85}, {170, 0.45}};
  size_t i, round;
  unsigned long collections;

  null_passed = small_passed = fixed = 0;
  MPS_ARGS_BEGIN(args) {
    if (arena_size != 0)
      MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, arena_size);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  tf_fmt_create(&fmt, arena, 0);
  if (small_chain)
    CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    if (chain != NULL)
      MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  for (i = 0; i < SLOTS; ++i)
    slots[i] = i % 4 == 1 ? (mps_word_t)rnd_below(4 << 20) : 0;
  CHECK_RES(mps_root_create_area(&root, arena, mps_rank_exact(), 0, slots,
                                 slots + SLOTS, scan_slots, NULL));
  /* The stack is not a root: the collector may move anything. */
  collections = mps_collections(arena);
  for (round = 0; mps_collections(arena) - collections < 40 ||
                  round < 20;
       ++round) {
    size_t k, garbage = small_chain ? (size_t)2 << 20 : (size_t)96 << 20;
    size_t made = 0;
    /* Replace some kept pairs (with NULL fields), then make garbage
     * until collections happen. */
    for (k = 0; k < KEPT; ++k) {
      size_t slot = 4 * rnd_below(SLOTS / 4);
      slots[slot] = (mps_word_t)tf_make_pair(ap, slot + 1, NULL, NULL);
    }
    /* A live set that moves over the arena's zones: vectors of 1 MiB
     * of NULLs in every fourth slot but one, replaced a few at a time. */
    for (k = 0; k < BIG_PER_ROUND; ++k) {
      size_t slot = 4 * rnd_below(BIG_SLOTS) + 2;
      slots[slot] = (mps_word_t)tf_make_vec(ap, slot + 1, BIG_REFS);
    }
    while (made < garbage) {
      void *v = tf_make_vec(ap, 0, 1 + rnd_below(60));
      made += tf_block_size(v);
    }
    if (round % 4 == 3)
      CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    mps_arena_park(arena);
    check_kept(name);
    mps_arena_release(arena);
    CHECKF(round < 2000, "%s: too few collections", name);
  }
  CHECKF(fixed > 0, "%s: no reference was fixed", name);
  CHECKF(null_passed == 0 && small_passed == 0,
         "%s: in %lu collections, NULL passed MPS_FIX1 %lu times and small "
         "integers %lu times", name, mps_collections(arena) - collections,
         null_passed, small_passed);
  printf("nullzone: %s: %lu collections, %lu references fixed, no NULL or "
         "small integer passed MPS_FIX1\n", name,
         mps_collections(arena) - collections, fixed);
  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);
  if (chain != NULL)
    mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
}

int main(void)
{
  test_init("nullzone");
  run("default arena", 0, 0);
  run("8 MiB arena, small chain", (size_t)8 << 20, 1);
  printf("nullzone: ok\n");
  return 0;
}
