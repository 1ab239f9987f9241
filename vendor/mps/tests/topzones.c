/* topzones.c -- old segments that refer only to the top generation are
 * skipped even where it shares the nursery's zones
 *
 * A client arena of three zone stripes (12 MiB, stripes of 4 MiB): the
 * nursery cannot keep zones of its own, so the top generation lies in
 * the zones of every nursery collection's white set.  The old generation
 * (about 3 MiB x STRESS of vectors that refer to random earlier ones) is
 * collected into the top generation; then young pairs are made (some
 * kept a while, so that they reach generation 1 and the top generation),
 * with a few stores of young objects into old vectors (write-barrier
 * hits), and a full collection halfway.
 *
 * A summary leaves out references into the top generation, which only a
 * full collection condemns (DESIGN.md#barrier-top), so the collections
 * of the nursery skip most old vectors: on average they may scan at most
 * three quarters of the old generation outside what they condemned (15-20%
 * with atomic collections, 30-50% with incremental ones, whose barrier
 * hits leave segments without a summary).  Before 2026-12-08 a summary
 * held the zone of every reference a collection fixed, those into the
 * top generation too, and every old segment that referred into the
 * nursery's stripe was scanned by every collection: atomic collections
 * scanned 142% of the old generation each, and with incremental ones
 * the arena ran out of memory.
 *
 * After the full collection every old vector, and at the end every old
 * vector and kept object, is checked.  (Not between collections: reading
 * an old vector during an incremental collection would hit the read
 * barrier, after which its segment has no summary until scanned again.)
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsacl.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define STRIPE ((size_t)4 << 20) /* ZONE_SHIFT_MIN in arena.c */
#define ARENA_BYTES (3 * STRIPE)
#define OLD_REFS 30              /* references per old vector */
#define OLD_BYTES ((size_t)3 << 20)
#define KEPT 256                 /* young objects kept at once (a ring) */
#define MINORS 120               /* nursery collections measured */

static void **old;               /* exact root: the old vectors */
static size_t old_count;
static void *kept[KEPT];         /* exact root: recently kept objects */

static void checkOld(size_t i, const char *what)
{
  size_t j;
  CHECK(tf_kind(old[i]) == TF_VEC && tf_nrefs(old[i]) == OLD_REFS);
  tf_check_obj(old[i], what);
  for (j = 0; j < OLD_REFS; ++j) {
    void *q = tf_ref(old[i], j);
    if (q != NULL)
      tf_check_obj(q, what);
  }
}

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_thr_t thr;
  mps_root_t old_root, kept_root, stack_root;
  mps_gen_param_s gens[2] = {{150, 0.85}, {170, 0.45}};
  size_t i, j, minors = 0, old_size, outside = 0, largest = 0;
  unsigned long id = 0;
  size_t seen;
  int full_done = 0;
  void *prev = NULL;
  char *block, *base;

  test_init("topzones");
  /* Three whole stripes, none of them zone 0 (where NULL lies, which the
   * collector keeps generations out of). */
  block = aligned_alloc(STRIPE, ARENA_BYTES + STRIPE);
  CHECK(block != NULL);
  base = block;
  if ((((uintptr_t)base / STRIPE) & 63) == 0 ||
      (((uintptr_t)base / STRIPE) & 63) > 61)
    base += STRIPE;
  old_count = test_scale(OLD_BYTES) / tf_vec_size(OLD_REFS);
  old = calloc(old_count, sizeof *old);
  CHECK(old != NULL);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_CL_BASE, base);
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, ARENA_BYTES);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_cl(), args));
  } MPS_ARGS_END(args);
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_area(&old_root, arena, mps_rank_exact(), 0, old,
                                 old + old_count, mps_scan_area, NULL));
  CHECK_RES(mps_root_create_area(&kept_root, arena, mps_rank_exact(), 0,
                                 kept, kept + KEPT, mps_scan_area, NULL));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr,
                                   (mps_addr_t)&thr));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));

  /* The old generation, collected into the top generation. */
  for (i = 0; i < old_count; ++i) {
    old[i] = tf_make_vec(ap, id++, OLD_REFS);
    for (j = 0; j < OLD_REFS && i > 0; ++j)
      tf_set_ref(old[i], j, old[rnd_below(i)]);
  }
  CHECK_RES(mps_arena_collect(arena));
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  old_size = old_count * tf_vec_size(OLD_REFS);

  seen = (size_t)mps_collections(arena);
  while (minors < MINORS) {
    uint64_t r = rnd();
    void *p = tf_make_pair(ap, id++, old[rnd_below(old_count)], prev);
    size_t now;
    if ((r >> 16) % 8 == 0) {
      kept[(r >> 24) % KEPT] = p;
      prev = p;
    }
    if ((r >> 32) % 2048 == 0) /* an old vector refers to a young object */
      tf_set_ref(old[rnd_below(old_count)], (r >> 40) % OLD_REFS, p);
    if (!full_done && minors == MINORS / 2) {
      CHECK_RES(mps_arena_collect(arena));
      for (i = 0; i < old_count; ++i)
        checkOld(i, "topzones: an old vector after the full collection");
      mps_arena_release(arena);
      full_done = 1;
      seen = (size_t)mps_collections(arena);
    }
    now = (size_t)mps_collections(arena);
    if (now != seen) {
      mpsx_trace_stats_s st;
      mpsx_arena_last_trace(arena, &st);
      seen = now;
      /* Collections of the young generations only. */
      if (st.condemned < old_size / 2) {
        size_t out =
            st.bytes_scanned > st.copied ? st.bytes_scanned - st.copied : 0;
        outside += out;
        if (out > largest)
          largest = out;
        ++minors;
      }
    }
  }

  printf("topzones: old generation %zu bytes; %zu minor collections "
         "scanned %zu bytes outside what they condemned (%.1f%% of the "
         "old generation each on average, at most %zu bytes once)\n",
         old_size, minors, outside,
         100.0 * (double)outside / (double)minors / (double)old_size,
         largest);
  CHECK(outside / minors <= old_size / 4 * 3);

  mps_arena_park(arena);
  for (i = 0; i < old_count; ++i)
    checkOld(i, "topzones: an old vector");
  for (i = 0; i < KEPT; ++i)
    if (kept[i] != NULL) {
      tf_check_obj(kept[i], "topzones: a kept object");
      if (tf_ref(kept[i], 1) != NULL)
        tf_check_obj(tf_ref(kept[i], 1), "topzones: a kept object's cdr");
    }
  mps_arena_release(arena);

  mps_ap_destroy(ap);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(kept_root);
  mps_root_destroy(old_root);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  free(old);
  free(block);
  return 0;
}
