/* spare.c -- the spare fraction holds after memory is returned
 *
 * The manual: MPS_KEY_SPARE / mps_arena_spare_set(s) is the largest
 * proportion of committed memory the arena keeps spare; setting it below
 * the current proportion decommits spare memory "so as to bring the value
 * under the limit".  Decommitting lowers the committed memory too, so the
 * proportion must hold after the decommit, not before (DESIGN.md#arena).
 *
 * Checked, for spare fractions from 0 to 0.9, with the VM arena:
 *  - mps_arena_spare_set: a small live set in an MVFF pool, a few MiB of
 *    large blocks freed with spare 1.0 (all of it stays committed), then
 *    mps_arena_spare_set(s): spare <= s * committed, and the arena still
 *    keeps at least half of what the fraction allows (it does not return
 *    everything);
 *  - freeing with the fraction already set: after every mps_free of a
 *    large block, spare <= s * committed;
 *  - a collection that frees nearly the whole heap of an AMC pool (the
 *    trim at the end of a collection): spare <= s * committed after
 *    mps_arena_collect, and the live objects are intact;
 *  - mps_arena_spare_commit_limit_set(0) leaves no spare memory;
 *  - a parked or clamped arena returns no memory to the operating system
 *    (the manual's table of arena states): freeing every large block
 *    leaves mps_arena_committed as it was; mps_arena_release then brings
 *    the spare memory within the fraction;
 *  - the fraction is of all committed memory, the arena's own control
 *    memory included: with spare 0.99, freeing every block keeps them
 *    spare (control memory is more than 1% here).
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscmvff.h"

#include <stdio.h>

#define LARGE_MAX 64

/* spare <= s * committed, as the manual states it. */
static void check_fraction(mps_arena_t arena, double s, const char *when)
{
  size_t committed = mps_arena_committed(arena);
  size_t spare = mps_arena_spare_committed(arena);
  CHECKF((double)spare <= s * (double)committed,
         "%s: spare %zu of committed %zu is more than %.2f of it", when,
         spare, committed, s);
  vlog("%s: s=%.2f spare %zu committed %zu (%.3f)\n", when, s, spare,
       committed, committed ? (double)spare / (double)committed : 0.0);
}

/* An MVFF pool that gives free segments back to the arena at once, so
 * that freed blocks become the arena's spare memory. */
static mps_pool_t make_mvff(mps_arena_t arena)
{
  mps_pool_t pool;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_SPARE, 0.0);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), args));
  } MPS_ARGS_END(args);
  return pool;
}

static void manual(double s)
{
  mps_arena_t arena;
  mps_pool_t pool;
  mps_addr_t small[256], large[LARGE_MAX];
  size_t small_size[256], large_size[LARGE_MAX], nlarge = 8 + rnd_below(LARGE_MAX - 8), i;
  size_t freed = 0, before, in_use, spare_before;
  double keep;

  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  pool = make_mvff(arena);

  /* mps_arena_spare_set after the frees. */
  mps_arena_spare_set(arena, 1.0);
  for (i = 0; i < 256; ++i)
  {
    small_size[i] = 64 + 8 * rnd_below(1024);
    CHECK_RES(mps_alloc(&small[i], pool, small_size[i]));
  }
  for (i = 0; i < nlarge; ++i) {
    large_size[i] = ((size_t)64 << 10) + 8 * rnd_below((size_t)256 << 10);
    CHECK_RES(mps_alloc(&large[i], pool, large_size[i]));
  }
  before = mps_arena_committed(arena);
  for (i = 0; i < nlarge; ++i) {
    mps_free(pool, large[i], large_size[i]);
    freed += large_size[i];
  }
  CHECKF(mps_arena_committed(arena) == before,
         "spare 1.0: committed %zu after freeing, %zu before",
         mps_arena_committed(arena), before);
  CHECK(mps_arena_spare_committed(arena) >= freed);
  spare_before = mps_arena_spare_committed(arena);
  mps_arena_spare_set(arena, s);
  CHECK(mps_arena_spare(arena) == s);
  check_fraction(arena, s, "spare_set");
  /* Not everything returned: at least half of what s allows is kept, or
   * all there was when that is less.  (Until 2026-12-08 the test asked
   * for half of what s allows even when less was spare: seed 3320684100
   * frees 7.1 MB where half of spare_set(0.9)'s allowance is 7.6 MB.) */
  in_use = mps_arena_committed(arena) - mps_arena_spare_committed(arena);
  keep = 0.5 * s / (1.0 - s) * (double)in_use;
  if (keep > (double)spare_before)
    keep = (double)spare_before;
  CHECKF((double)mps_arena_spare_committed(arena) + 4096.0 >= keep,
         "spare_set(%.2f): kept %zu spare bytes of %zu in use (%zu spare "
         "before)", s, mps_arena_spare_committed(arena), in_use,
         spare_before);

  /* Freeing with the fraction set. */
  for (i = 0; i < nlarge; ++i)
    CHECK_RES(mps_alloc(&large[i], pool, large_size[i]));
  for (i = 0; i < nlarge; ++i) {
    mps_free(pool, large[i], large_size[i]);
    check_fraction(arena, s, "free");
  }

  mps_arena_spare_commit_limit_set(arena, 0);
  CHECKF(mps_arena_spare_committed(arena) == 0,
         "spare_commit_limit_set(0) left %zu spare",
         mps_arena_spare_committed(arena));

  for (i = 0; i < 256; ++i)
    mps_free(pool, small[i], small_size[i]);
  mps_pool_destroy(pool);
  mps_arena_destroy(arena);
}

static void clamped(double s, int park)
{
  mps_arena_t arena;
  mps_pool_t pool;
  mps_addr_t large[LARGE_MAX];
  size_t n = 8 + rnd_below(LARGE_MAX - 8), i, size = (size_t)64 << 10;
  size_t before;
  const char *what = park ? "parked" : "clamped";

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_SPARE, s);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  pool = make_mvff(arena);
  for (i = 0; i < n; ++i)
    CHECK_RES(mps_alloc(&large[i], pool, size));
  if (park)
    mps_arena_park(arena);
  else
    mps_arena_clamp(arena);
  before = mps_arena_committed(arena);
  for (i = 0; i < n; ++i)
    mps_free(pool, large[i], size);
  CHECKF(mps_arena_committed(arena) == before,
         "%s, spare %.2f: committed %zu after freeing, %zu before", what, s,
         mps_arena_committed(arena), before);
  mps_arena_release(arena);
  check_fraction(arena, s, "release");
  mps_pool_destroy(pool);
  mps_arena_destroy(arena);
}

/* With spare 0.99, freeing everything keeps it: the arena's control
 * memory is part of what is committed. */
static void nearly_one(void)
{
  mps_arena_t arena;
  mps_pool_t pool;
  mps_addr_t large[LARGE_MAX];
  size_t i, size = (size_t)64 << 10, freed = LARGE_MAX * size;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_SPARE, 0.99);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  pool = make_mvff(arena);
  for (i = 0; i < LARGE_MAX; ++i)
    CHECK_RES(mps_alloc(&large[i], pool, size));
  for (i = 0; i < LARGE_MAX; ++i)
    mps_free(pool, large[i], size);
  check_fraction(arena, 0.99, "spare 0.99, all freed");
  if ((double)freed <= 0.99 * (double)mps_arena_committed(arena))
    CHECKF(mps_arena_spare_committed(arena) >= freed,
           "spare 0.99: %zu spare after freeing %zu, committed %zu",
           mps_arena_spare_committed(arena), freed,
           mps_arena_committed(arena));
  mps_pool_destroy(pool);
  mps_arena_destroy(arena);
}

/* Roots of the collected part: a few kept pairs. */
#define KEPT 64
static void *kept[KEPT];

static void collected(double s)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_pool_t pool;
  mps_ap_t ap;
  mps_root_t root;
  size_t i, n = (size_t)test_scale(20000);

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_SPARE, s);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  CHECK(mps_arena_spare(arena) == s);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  CHECK_RES(mps_root_create_area(&root, arena, mps_rank_exact(), 0, kept,
                                 kept + KEPT, mps_scan_area, NULL));
  mps_arena_park(arena);
  /* Garbage: strings of 1 KiB, one in 300 kept as a pair's car. */
  for (i = 0; i < n; ++i) {
    void *str = tf_make_str(ap, 2 * i + 1, 1024);
    if (i % 300 == 0)
      kept[(i / 300) % KEPT] = tf_make_pair(ap, 2 * i, str, NULL);
  }
  CHECK_RES(mps_arena_collect(arena));
  check_fraction(arena, s, "collect");
  for (i = 0; i < KEPT; ++i)
    if (kept[i] != NULL) {
      tf_check_obj(kept[i], "kept pair");
      tf_check_obj(tf_ref(kept[i], 0), "kept string");
      CHECK(tf_id(tf_ref(kept[i], 0)) == tf_id(kept[i]) + 1);
    }
  for (i = 0; i < KEPT; ++i)
    kept[i] = NULL;
  mps_root_destroy(root);
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
}

int main(void)
{
  static const double fractions[] = {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9};
  size_t k;
  test_init("spare");
  for (k = 0; k < sizeof fractions / sizeof fractions[0]; ++k) {
    manual(fractions[k]);
    collected(fractions[k]);
    clamped(fractions[k], 0);
    clamped(fractions[k], 1);
  }
  nearly_one();
  printf("spare: ok\n");
  return 0;
}
