/* minor.c -- minor collections do not scan the old generation
 *
 * A small arena (8 MiB reservation) with the MPS manual's chain of two
 * generations of 150 and 170 KiB, and an old generation of about 8 MiB
 * (x STRESS) of vectors that refer to each other, collected into the top
 * generation first.  Then young objects are made: pairs that refer to
 * old vectors and to the previous pair, some kept for a while (so they
 * are copied into generation 1 and then into the old generation, with
 * references to young objects that move too), large vectors among them
 * (promoted in place), a few stores of young objects into old vectors
 * (write-barrier hits), and the thread's stack as an ambiguous root (so
 * collections find pinned objects).
 *
 * Collections of the nursery must skip the old generation but for the
 * segments that refer to young objects (DESIGN.md#zones, #barrier): on
 * average they may scan at most an eighth of its size outside what they
 * condemned.  Until 2026-12-07 they scanned about all of it: the
 * nursery's pages came from zones the old generation occupied (spare pages
 * anywhere, large objects and pinned segments promoted in place), and a
 * segment of copies kept the zones its references pointed to before they
 * were fixed, so it referred to the nursery at the next collection too.
 *
 * At the end every old vector and every kept object is checked.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <stdio.h>
#include <stdlib.h>

#define OLD_REFS 126          /* references per old vector: about 1 KiB */
#define OLD_BYTES ((size_t)8 << 20)
#define KEPT 512              /* young objects kept at once (a ring) */
#define LARGE_ELEMS 8192      /* large vectors: 64 KiB, above AMC's 32 */
#define MINORS 150            /* nursery collections measured */

static void **old;            /* exact root: the old vectors */
static size_t old_count;
static void *kept[KEPT];      /* exact root: recently kept young objects */

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
  size_t i, j, minors = 0, made = 0, old_size, largest = 0;
  size_t outside = 0, condemned = 0;
  unsigned long id = 0;
  size_t seen;
  void *prev = NULL;

  test_init("minor");
  old_count = test_scale(OLD_BYTES) / tf_vec_size(OLD_REFS);
  old = calloc(old_count, sizeof *old);
  CHECK(old != NULL);
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
  CHECK_RES(mps_root_create_area(&old_root, arena, mps_rank_exact(), 0, old,
                                 old + old_count, mps_scan_area, NULL));
  CHECK_RES(mps_root_create_area(&kept_root, arena, mps_rank_exact(), 0,
                                 kept, kept + KEPT, mps_scan_area, NULL));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr,
                                   (mps_addr_t)&thr));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));

  /* The old generation: each vector refers to up to OLD_REFS earlier
   * ones.  The roots hold them while they are made. */
  for (i = 0; i < old_count; ++i) {
    void *v = tf_make_vec(ap, id++, OLD_REFS);
    old[i] = v;
    for (j = 0; j < OLD_REFS && i > 0; ++j)
      tf_set_ref(old[i], j, old[rnd_below(i)]);
  }
  CHECK_RES(mps_arena_collect(arena));
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  old_size = old_count * tf_vec_size(OLD_REFS);

  /* Young objects until MINORS collections of the nursery were seen. */
  seen = (size_t)mps_collections(arena);
  while (minors < MINORS) {
    uint64_t r = rnd();
    void *p;
    size_t now;
    if (r % 1000 == 0) {
      p = tf_make_vec(ap, id++, LARGE_ELEMS);
      tf_set_ref(p, 0, old[rnd_below(old_count)]);
      tf_set_ref(p, 1, prev);
    } else {
      p = tf_make_pair(ap, id++, old[rnd_below(old_count)], prev);
    }
    ++made;
    if ((r >> 16) % 8 == 0) {
      kept[(r >> 24) % KEPT] = p;
      prev = p;
    }
    if ((r >> 32) % 4096 == 0) /* an old vector refers to a young object */
      tf_set_ref(old[rnd_below(old_count)], (r >> 40) % OLD_REFS, p);
    now = (size_t)mps_collections(arena);
    if (now != seen) {
      mpsx_trace_stats_s st;
      mpsx_arena_last_trace(arena, &st);
      seen = now;
      /* Only collections that condemned the young generations: a full
       * one condemns the old generation too. */
      if (st.condemned < old_size / 2) {
        size_t out =
            st.bytes_scanned > st.copied ? st.bytes_scanned - st.copied : 0;
        outside += out;
        condemned += st.condemned;
        if (out > largest)
          largest = out;
        ++minors;
      }
    }
  }

  printf("minor: old generation %zu bytes; %zu objects made; %zu minor "
         "collections condemned %zu bytes and scanned %zu bytes outside "
         "it (%.1f%% of the old generation each on average, at most "
         "%zu bytes once)\n",
         old_size, made, minors, condemned, outside,
         100.0 * (double)outside / (double)minors / (double)old_size,
         largest);
  CHECK(outside / minors <= old_size / 8);

  /* Everything is intact. */
  mps_arena_park(arena);
  for (i = 0; i < old_count; ++i) {
    CHECK(tf_kind(old[i]) == TF_VEC && tf_nrefs(old[i]) == OLD_REFS);
    for (j = 0; j < OLD_REFS; ++j) {
      void *q = tf_ref(old[i], j);
      if (q != NULL)
        tf_check_obj(q, "minor: a reference of an old vector");
    }
  }
  for (i = 0; i < KEPT; ++i)
    if (kept[i] != NULL) {
      tf_check_obj(kept[i], "minor: a kept young object");
      if (tf_kind(kept[i]) == TF_PAIR && tf_ref(kept[i], 1) != NULL)
        tf_check_obj(tf_ref(kept[i], 1), "minor: a kept object's cdr");
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
  return 0;
}
