/* mfs.c -- the MFS pool class (Manual Fixed Small)
 *
 *  1. LIFO reuse: a freed unit is the next one handed out, and two freed
 *     units come back in reverse order;
 *  2. growth: mps_pool_total_size grows in steps of MPS_KEY_EXTEND_BY,
 *     only when no free unit is left;
 *  3. many units (100000): distinct, aligned, contents intact across
 *     frees, re-allocation and full collections (an AMC pool has
 *     garbage); freeing everything does not shrink the pool, and
 *     allocating the same number again does not grow it;
 *  4. odd unit sizes (8, 13, 24, 100000 > EXTEND_BY) work.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscmfs.h"
#include "mpstd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mps_arena_t arena;
static mps_pool_t amc;
static mps_ap_t amc_ap;

static mps_pool_t mfs_create(size_t unit, size_t extend_by)
{
  mps_pool_t pool;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_MFS_UNIT_SIZE, unit);
    if (extend_by != 0)
      MPS_ARGS_ADD(args, MPS_KEY_EXTEND_BY, extend_by);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mfs(), args));
    CHECK(args[0].key == MPS_KEY_ARGS_END);
  } MPS_ARGS_END(args);
  return pool;
}

static void *alloc_unit(mps_pool_t pool, size_t unit)
{
  mps_addr_t p;
  CHECK_RES(mps_alloc(&p, pool, unit));
  if (p == NULL || ((uintptr_t)p & (MPS_PF_ALIGN - 1)) != 0)
    die("mps_alloc on MFS returned %p (unaligned)", p);
  return p;
}

static void fill(void *p, size_t unit, uintptr_t v)
{
  unsigned char *b = p;
  size_t j;
  for (j = 0; j < unit; ++j)
    b[j] = (unsigned char)(v * 131u + j * 17u + 5u);
}

static void check_fill(void *p, size_t unit, uintptr_t v, const char *what)
{
  unsigned char *b = p;
  size_t j;
  for (j = 0; j < unit; ++j)
    if (b[j] != (unsigned char)(v * 131u + j * 17u + 5u))
      die("%s: unit %p (tag %lu) corrupted at byte %zu", what, p,
          (unsigned long)v, j);
}

static void garbage_and_collect(void)
{
  unsigned long k;
  for (k = 0; k < 2000; ++k)
    (void)tf_make_pair(amc_ap, k, NULL, NULL);
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
}

static int cmp_ptr(const void *a, const void *b)
{
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  return x < y ? -1 : x > y;
}

/* ---- 1. LIFO ---- */

static void phase_lifo(void)
{
  const size_t unit = 48;
  mps_pool_t pool = mfs_create(unit, 0);
  void *keep[10], *a, *b, *c, *d;
  size_t i;

  for (i = 0; i < 10; ++i)
    keep[i] = alloc_unit(pool, unit);
  a = alloc_unit(pool, unit);
  mps_free(pool, a, unit);
  b = alloc_unit(pool, unit);
  if (b != a)
    die("lifo: freed unit %p was not reused (got %p)", a, b);
  c = alloc_unit(pool, unit);
  mps_free(pool, b, unit);
  mps_free(pool, c, unit);
  d = alloc_unit(pool, unit);
  if (d != c)
    die("lifo: expected the last freed unit %p, got %p", c, d);
  d = alloc_unit(pool, unit);
  if (d != b)
    die("lifo: expected the first freed unit %p, got %p", b, d);
  /* free a unit from the middle of the pool */
  mps_free(pool, keep[4], unit);
  d = alloc_unit(pool, unit);
  if (d != keep[4])
    die("lifo: freed unit %p not reused (got %p)", keep[4], d);
  mps_pool_destroy(pool);
  printf("mfs: freed units are reused last-in first-out\n");
}

/* ---- 2 and 3. growth and many units ---- */

#define NMANY 100000

static void phase_many(void)
{
  const size_t unit = 40, extend = 65536;
  mps_pool_t pool = mfs_create(unit, extend);
  void **u = malloc(NMANY * sizeof *u);
  void **sorted = malloc(NMANY * sizeof *sorted);
  unsigned char *live = calloc(NMANY, 1);
  size_t i, total = mps_pool_total_size(pool), extents = 0, steps = 0;
  size_t per_extent_min = (extend - 256) / unit;
  size_t n = test_scale(NMANY) < NMANY ? test_scale(NMANY) : NMANY;
  size_t total_full, round;

  if (u == NULL || sorted == NULL || live == NULL)
    die("out of memory");
  if (total % extend != 0)
    die("many: initial total size %zu not a multiple of EXTEND_BY", total);
  extents = total / extend;
  for (i = 0; i < n; ++i) {
    size_t free_before = mps_pool_free_size(pool), t;
    u[i] = alloc_unit(pool, unit);
    fill(u[i], unit, i);
    live[i] = 1;
    t = mps_pool_total_size(pool);
    if (t != total) {
      if (t - total != extend)
        die("many: total size went from %zu to %zu at unit %zu: not one "
            "EXTEND_BY (%zu) step", total, t, i, extend);
      /* The free size counts each extent's bytes too few for a unit
       * (extend % unit of them), as the manual counts fragmentation. */
      if (free_before >= unit + extents * (extend % unit))
        die("many: the pool grew at unit %zu while %zu bytes were free",
            i, free_before);
      if (i < extents * per_extent_min)
        die("many: the pool grew after %zu units in %zu extents of %zu "
            "bytes (unit %zu)", i, extents, extend, unit);
      ++extents;
      ++steps;
      total = t;
    }
  }
  memcpy(sorted, u, n * sizeof *u);
  qsort(sorted, n, sizeof *sorted, cmp_ptr);
  for (i = 1; i < n; ++i)
    if ((char *)sorted[i - 1] + unit > (char *)sorted[i])
      die("many: units %p and %p overlap", sorted[i - 1], sorted[i]);
  for (i = 0; i < n; i += 97) {
    mps_pool_t q;
    if (!mps_addr_pool(&q, arena, u[i]) || q != pool)
      die("many: mps_addr_pool does not find the MFS pool for %p", u[i]);
  }
  if (mps_pool_total_size(pool) - mps_pool_free_size(pool) < n * unit)
    die("many: total %zu - free %zu < %zu units of %zu",
        mps_pool_total_size(pool), mps_pool_free_size(pool), n, unit);

  /* random frees and re-allocations, with collections */
  for (round = 0; round < 4; ++round) {
    for (i = 0; i < n; ++i)
      if (live[i] && rnd_chance(1, 2)) {
        check_fill(u[i], unit, i, "many: at free");
        mps_free(pool, u[i], unit);
        live[i] = 0;
      }
    garbage_and_collect();
    for (i = 0; i < n; ++i)
      if (!live[i] && rnd_chance(1, 2)) {
        u[i] = alloc_unit(pool, unit);
        fill(u[i], unit, i);
        live[i] = 1;
      }
    if (mps_pool_total_size(pool) != total)
      die("many: the pool grew from %zu to %zu although fewer units were "
          "live than before", total, mps_pool_total_size(pool));
    garbage_and_collect();
    for (i = 0; i < n; ++i)
      if (live[i])
        check_fill(u[i], unit, i, "many: after collections");
  }

  /* free everything: the pool keeps its memory, and reuses it all */
  for (i = 0; i < n; ++i)
    if (live[i]) {
      check_fill(u[i], unit, i, "many: final free");
      mps_free(pool, u[i], unit);
      live[i] = 0;
    }
  total_full = mps_pool_total_size(pool);
  if (total_full != total)
    die("many: total size %zu after freeing everything, was %zu (MFS never "
        "returns memory)", total_full, total);
  /* Nothing in use: all of it is free, the bytes of each extent too few
   * for a unit included (until 2026-12-07 they were left out). */
  if (mps_pool_free_size(pool) != total_full)
    die("many: everything freed: free size %zu, total %zu, %zu units",
        mps_pool_free_size(pool), total_full, n);
  for (i = 0; i < n; ++i) {
    u[i] = alloc_unit(pool, unit);
    fill(u[i], unit, i);
  }
  if (mps_pool_total_size(pool) != total_full)
    die("many: re-allocating %zu units grew the pool from %zu to %zu", n,
        total_full, mps_pool_total_size(pool));
  for (i = 0; i < n; ++i)
    check_fill(u[i], unit, i, "many: second generation");
  printf("mfs: %zu units of %zu bytes, pool grew in %zu steps of %zu to %zu "
         "bytes\n", n, unit, steps, extend, total);
  if (steps == 0)
    die("many: the pool never grew");
  mps_pool_destroy(pool);
  free(u);
  free(sorted);
  free(live);
}

/* ---- 4. odd unit sizes ---- */

static void phase_sizes(void)
{
  static const size_t units[] = { 8, 13, 24, 100, 100000 };
  size_t k;
  for (k = 0; k < sizeof units / sizeof units[0]; ++k) {
    size_t unit = units[k], i, n = unit > 10000 ? 40 : 3000;
    mps_pool_t pool = mfs_create(unit, 0);
    void **u = malloc(n * sizeof *u);
    size_t last_total = 0;
    if (u == NULL)
      die("out of memory");
    for (i = 0; i < n; ++i) {
      size_t t;
      u[i] = alloc_unit(pool, unit);
      fill(u[i], unit, i + k);
      t = mps_pool_total_size(pool);
      if (t < last_total)
        die("sizes: total size shrank");
      last_total = t;
    }
    if (last_total < n * unit)
      die("sizes: unit %zu: total size %zu for %zu units", unit, last_total,
          n);
    for (i = 0; i < n; ++i)
      check_fill(u[i], unit, i + k, "sizes");
    qsort(u, n, sizeof *u, cmp_ptr);
    for (i = 1; i < n; ++i)
      if ((char *)u[i - 1] + unit > (char *)u[i])
        die("sizes: unit %zu: units %p and %p overlap", unit, u[i - 1],
            u[i]);
    for (i = 0; i < n; ++i)
      mps_free(pool, u[i], unit);
    mps_pool_destroy(pool);
    free(u);
  }
  printf("mfs: unit sizes 8, 13, 24, 100, 100000 work\n");
}

int main(void)
{
  mps_fmt_t fmt;
  mps_thr_t thr;

  test_init("mfs");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
    test_arena_setup(arena);
  } MPS_ARGS_END(args);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_thread_reg(&thr, arena));

  phase_lifo();
  phase_many();
  phase_sizes();

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("mfs: OK\n");
  return 0;
}
