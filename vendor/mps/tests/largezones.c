/* largezones.c -- large young objects do not make minor collections scan
 * the old generation
 *
 * A small arena (8 MiB reservation) with the MPS manual's chain of 150
 * and 170 KiB and an old generation of about 8 MiB (x STRESS) of vectors
 * that refer to each other.  Then young objects are made: pairs that
 * refer to old vectors and, one in 150, a vector of 1 MiB.  Some large
 * vectors are kept by an exact root for a while (they survive and are
 * promoted in place); others are held only by an ambiguous root holding
 * a pointer into them, past their first zone stripe.
 *
 * An exact reference to a large object holds its start, so a large
 * segment puts the zone of its start in the white set, a large object is
 * placed by the zone of its start, and ambiguous references are tested
 * against every zone a condemned segment spans (DESIGN.md#zones).  Until
 * 2026-12-07 large objects that found no free run wholly in the zones
 * kept for them were placed among the old generation, and a minor
 * collection scanned every old vector that referred to any object in the
 * zones they spanned: 12-24% of the old generation on average, the whole
 * of it now and then.  Minor collections must now scan at most a
 * sixteenth of it on average (the test format counts the bytes of old
 * vectors scanned; 0-2% here).
 *
 * After every collection, and at the end, every large vector held only
 * through an interior pointer must be alive and intact; at the end every
 * old vector and kept object is checked too.
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
#define LARGE_ELEMS 131072    /* large vectors: 1 MiB */
#define KEPT 4                /* large vectors kept by the exact root */
#define INTERIOR 16           /* ... and by interior pointers only */
#define MINORS 100            /* nursery collections measured */

static void **old;            /* exact root: the old vectors */
static size_t old_count;
static void *kept[KEPT];      /* exact root */
static void *inside[INTERIOR]; /* ambiguous root: pointers into vectors */
static unsigned long inside_id[INTERIOR];
static size_t inside_at[INTERIOR]; /* offset of the pointer */

/* The vectors held by interior pointers are alive and theirs. */
static void check_inside(void)
{
  size_t i;
  for (i = 0; i < INTERIOR; ++i)
    if (inside[i] != NULL) {
      void *p = (char *)inside[i] - inside_at[i];
      tf_check_obj(p, "largezones: a vector held by an interior pointer");
      CHECK(tf_id(p) == inside_id[i] && tf_nrefs(p) == LARGE_ELEMS);
    }
}

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_root_t old_root, kept_root, inside_root;
  mps_gen_param_s gens[2] = {{150, 0.85}, {170, 0.45}};
  size_t i, j, minors = 0, made = 0, larges = 0, old_size;
  size_t outside = 0, condemned = 0, largest = 0;
  unsigned long id = 0;
  size_t seen, scanned_before;

  test_init("largezones");
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
  CHECK_RES(mps_root_create_area(&inside_root, arena, mps_rank_ambig(), 0,
                                 inside, inside + INTERIOR, mps_scan_area,
                                 NULL));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));

  /* The old generation, in every zone: each vector refers to up to
   * OLD_REFS earlier ones. */
  for (i = 0; i < old_count; ++i) {
    old[i] = tf_make_vec(ap, id++, OLD_REFS);
    for (j = 0; j < OLD_REFS && i > 0; ++j)
      tf_set_ref(old[i], j, old[rnd_below(i)]);
  }
  CHECK_RES(mps_arena_collect(arena));
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  old_size = old_count * tf_vec_size(OLD_REFS);

  /* Count what collections scan of the old vectors (ids below
   * old_count). */
  tf_scan_id_limit = old_count;
  scanned_before = tf_scanned_below_limit;
  seen = (size_t)mps_collections(arena);
  while (minors < MINORS) {
    uint64_t r = rnd();
    size_t now;
    if (r % 150 == 0) {
      void *p = tf_make_vec(ap, id, LARGE_ELEMS);
      tf_set_ref(p, 0, old[rnd_below(old_count)]);
      if ((r >> 16) % 2 == 0) {
        kept[(r >> 24) % KEPT] = p;
      } else {
        size_t k = (r >> 24) % INTERIOR;
        /* Anywhere past the first zone of the vector's span. */
        inside_at[k] = ((size_t)128 << 10) +
                       rnd_below(tf_vec_size(LARGE_ELEMS) - ((size_t)128 << 10));
        inside[k] = (char *)p + inside_at[k];
        inside_id[k] = id;
      }
      ++id;
      ++larges;
    } else {
      (void)tf_make_pair(ap, id++, old[rnd_below(old_count)], NULL);
    }
    ++made;
    now = (size_t)mps_collections(arena);
    if (now != seen) {
      mpsx_trace_stats_s st;
      mpsx_arena_last_trace(arena, &st);
      seen = now;
      /* Collections of the young generations only: how much of the
       * old generation did they scan? */
      if (st.condemned < old_size / 2) {
        size_t out = tf_scanned_below_limit - scanned_before;
        outside += out;
        condemned += st.condemned;
        if (out > largest)
          largest = out;
        ++minors;
      }
      scanned_before = tf_scanned_below_limit;
      check_inside();
    }
  }

  printf("largezones: old generation %zu bytes; %zu objects made, %zu "
         "of them large; %zu minor collections condemned %zu bytes and "
         "scanned %zu bytes of the old generation (%.1f%% of it each on "
         "average, at most %zu bytes once)\n",
         old_size, made, larges, minors, condemned, outside,
         100.0 * (double)outside / (double)minors / (double)old_size,
         largest);
  CHECK(outside / minors <= old_size / 16);

  /* Everything is intact, the vectors held by interior pointers too. */
  CHECK_RES(mps_arena_collect(arena));
  for (i = 0; i < old_count; ++i) {
    CHECK(tf_kind(old[i]) == TF_VEC && tf_nrefs(old[i]) == OLD_REFS);
    for (j = 0; j < OLD_REFS; ++j) {
      void *q = tf_ref(old[i], j);
      if (q != NULL)
        tf_check_obj(q, "largezones: a reference of an old vector");
    }
  }
  for (i = 0; i < KEPT; ++i)
    if (kept[i] != NULL) {
      tf_check_obj(kept[i], "largezones: a kept large vector");
      CHECK(tf_nrefs(kept[i]) == LARGE_ELEMS);
      tf_check_obj(tf_ref(kept[i], 0), "largezones: its old vector");
    }
  check_inside();
  for (i = 0; i < INTERIOR; ++i)
    if (inside[i] != NULL)
      tf_check_obj(tf_ref((char *)inside[i] - inside_at[i], 0),
                   "largezones: its old vector");
  mps_arena_release(arena);

  mps_ap_destroy(ap);
  mps_root_destroy(inside_root);
  mps_root_destroy(kept_root);
  mps_root_destroy(old_root);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  free(old);
  return 0;
}
