/* mvff.c -- the MVFF pool class (Manual Variable First Fit)
 *
 *  1. random mps_alloc / mps_free of random sizes (up to 1 MiB); every
 *     block is filled with a pattern and checked when freed and at
 *     checkpoints; blocks never overlap; alignment honoured;
 *     mps_pool_total_size - mps_pool_free_size tracks the bytes in use;
 *     full collections in between (an AMC pool has garbage) change
 *     nothing: manual pools are never collected;
 *  2. fragmentation: allocate many blocks, free every other one, then
 *     allocate blocks that fit the holes: the pool must not grow much;
 *  3. MPS_KEY_ALIGN from 8 to 4096: every block aligned;
 *  4. every combination of MVFF_ARENA_HIGH, FIRST_FIT and SLOT_HIGH is
 *     accepted (keys consumed) and works; FIRST_FIT picks the lowest
 *     (true) or highest (false) suitable free range and SLOT_HIGH carves
 *     from its high (true) or low (false) end (spec 7.10); ARENA_HIGH
 *     true puts the pool's memory above a pool's with ARENA_HIGH false;
 *  5. allocation points on MVFF (reserve/commit) mixed with mps_alloc;
 *  6. MPS_KEY_SPARE: with spare 0, 0.25, 0.5 and 0.75, freeing nine blocks
 *     in ten at random returns memory to the arena in whole pages, also
 *     from inside segments that still hold blocks: the free memory left
 *     is at most the spare fraction of the pool plus less than two pages
 *     per free range, the blocks left are intact, and the pool is usable
 *     again (until 2026-12-07 only wholly free segments went back: 86%
 *     of the pool stayed free with spare 0).
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscmvff.h"
#include "mpstd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mps_arena_t arena;
static mps_pool_t amc;
static mps_ap_t amc_ap;

typedef struct block {
  char *p;
  size_t size;       /* requested size */
  unsigned seed;
} block;

static unsigned char pat(unsigned seed, size_t j)
{
  return (unsigned char)(seed * 31u + j * 7u + (j >> 8) * 3u + 1u);
}

static void fill(block *b)
{
  size_t j;
  for (j = 0; j < b->size; ++j)
    b->p[j] = (char)pat(b->seed, j);
}

static void check_block(const block *b, const char *what)
{
  size_t j;
  for (j = 0; j < b->size; ++j)
    if ((unsigned char)b->p[j] != pat(b->seed, j))
      die("%s: block %p (size %zu) corrupted at byte %zu: %#x, expected %#x",
          what, (void *)b->p, b->size, j, (unsigned char)b->p[j],
          pat(b->seed, j));
}

static size_t round_up(size_t n, size_t a)
{
  return (n + a - 1) & ~(a - 1);
}

static int cmp_block(const void *a, const void *b)
{
  const block *x = a, *y = b;
  return x->p < y->p ? -1 : x->p > y->p;
}

/* Check contents, that no two blocks overlap and that all are in pool. */
static void check_all(block *bs, size_t n, size_t align, mps_pool_t pool,
                      const char *what)
{
  block *sorted = malloc((n ? n : 1) * sizeof *sorted);
  size_t i;
  if (sorted == NULL)
    die("out of memory");
  memcpy(sorted, bs, n * sizeof *bs);
  qsort(sorted, n, sizeof *sorted, cmp_block);
  for (i = 0; i < n; ++i) {
    mps_pool_t q;
    mps_fmt_t f;
    check_block(&sorted[i], what);
    if (i > 0 && sorted[i - 1].p + round_up(sorted[i - 1].size, align)
                 > sorted[i].p)
      die("%s: blocks %p (size %zu) and %p overlap", what,
          (void *)sorted[i - 1].p, sorted[i - 1].size, (void *)sorted[i].p);
    if (!mps_addr_pool(&q, arena, sorted[i].p) || q != pool)
      die("%s: mps_addr_pool does not give the MVFF pool for %p", what,
          (void *)sorted[i].p);
    if (mps_addr_fmt(&f, arena, sorted[i].p))
      die("%s: mps_addr_fmt found a format for an MVFF block", what);
  }
  free(sorted);
}

static void *alloc_block(mps_pool_t pool, size_t size, size_t align,
                         block *b)
{
  mps_addr_t p;
  CHECK_RES(mps_alloc(&p, pool, size));
  if (p == NULL || ((uintptr_t)p & (align - 1)) != 0)
    die("mps_alloc(%zu) returned %p, not aligned to %zu", size, p, align);
  b->p = p;
  b->size = size;
  b->seed = (unsigned)rnd();
  fill(b);
  return p;
}

static void garbage_and_collect(void)
{
  unsigned long k;
  for (k = 0; k < 2000; ++k)
    (void)tf_make_pair(amc_ap, k, NULL, NULL);
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
}

/* ---- 1. random ---- */

#define NMAX 3000

static size_t random_size(void)
{
  size_t r = rnd_below(1000);
  if (r < 2)
    return 1 + rnd_below((size_t)1 << 20);
  if (r < 30)
    return 1 + rnd_below(65536);
  if (r < 300)
    return 1 + rnd_below(2048);
  return 1 + rnd_below(200);
}

static void phase_random(void)
{
  mps_pool_t pool;
  block *bs = calloc(NMAX, sizeof *bs);
  size_t n = 0, live = 0, ops = test_scale(40000), op, max_total = 0;
  const size_t align = MPS_PF_ALIGN;

  if (bs == NULL)
    die("out of memory");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_MEAN_SIZE, 64);
    MPS_ARGS_ADD(args, MPS_KEY_SPARE, 0.5);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), args));
    CHECK(args[0].key == MPS_KEY_ARGS_END);
  } MPS_ARGS_END(args);
  CHECK(mps_pool_total_size(pool) >= mps_pool_free_size(pool));

  for (op = 0; op < ops; ++op) {
    size_t total, free_size;
    if (n < NMAX && (n == 0 || rnd_chance(11, 20))) {
      size_t size = random_size();
      alloc_block(pool, size, align, &bs[n]);
      live += round_up(size, align);
      ++n;
    } else {
      size_t i = rnd_below(n);
      check_block(&bs[i], "random: at free");
      mps_free(pool, bs[i].p, bs[i].size);
      live -= round_up(bs[i].size, align);
      bs[i] = bs[--n];
    }
    total = mps_pool_total_size(pool);
    free_size = mps_pool_free_size(pool);
    if (total > max_total)
      max_total = total;
    if (free_size > total || total - free_size < live)
      die("random: op %zu: total %zu, free %zu, but %zu bytes in use", op,
          total, free_size, live);
    if (total - free_size > live + 65536)
      die("random: op %zu: total %zu - free %zu = %zu much more than the "
          "%zu bytes in use", op, total, free_size, total - free_size, live);
    if (op % 5000 == 2500) {
      check_all(bs, n, align, pool, "random: checkpoint");
      garbage_and_collect();
      check_all(bs, n, align, pool, "random: after a full collection");
    }
  }
  check_all(bs, n, align, pool, "random: end");
  while (n > 0) {
    --n;
    check_block(&bs[n], "random: final free");
    mps_free(pool, bs[n].p, bs[n].size);
  }
  if (mps_pool_free_size(pool) != mps_pool_total_size(pool))
    die("random: everything freed, yet free size %zu != total size %zu",
        mps_pool_free_size(pool), mps_pool_total_size(pool));
  printf("mvff: random: %zu operations, pool total size at most %zu\n", ops,
         max_total);
  mps_pool_destroy(pool);
  free(bs);
}

/* ---- 2. fragmentation ---- */

#define NFRAG 2000

static void phase_frag(void)
{
  mps_pool_t pool;
  static block bs[NFRAG], more[NFRAG / 2];
  size_t i, t0, t1;

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_EXTEND_BY, (size_t)65536);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), args));
  } MPS_ARGS_END(args);
  for (i = 0; i < NFRAG; ++i)
    alloc_block(pool, 128, MPS_PF_ALIGN, &bs[i]);
  for (i = 0; i < NFRAG; i += 2) {
    check_block(&bs[i], "frag: free");
    mps_free(pool, bs[i].p, bs[i].size);
  }
  t0 = mps_pool_total_size(pool);
  if (mps_pool_free_size(pool) < (NFRAG / 2) * 128)
    die("frag: %d holes of 128 bytes freed, but free size is %zu", NFRAG / 2,
        mps_pool_free_size(pool));
  for (i = 0; i < NFRAG / 2; ++i)
    alloc_block(pool, 8 * (1 + rnd_below(16)), MPS_PF_ALIGN, &more[i]);
  t1 = mps_pool_total_size(pool);
  printf("mvff: fragmentation: total %zu after freeing every other block, "
         "%zu after refilling the holes\n", t0, t1);
  if (t1 > t0 + 65536)
    die("frag: the pool grew from %zu to %zu bytes although every request "
        "fitted a hole", t0, t1);
  for (i = 1; i < NFRAG; i += 2)
    check_block(&bs[i], "frag: survivors");
  for (i = 0; i < NFRAG / 2; ++i)
    check_block(&more[i], "frag: new blocks");
  mps_pool_destroy(pool);          /* frees everything at once */
}

/* ---- 3. alignment ---- */

static void phase_align(void)
{
  static const size_t aligns[] = { 8, 16, 32, 64, 256, 1024, 4096 };
  size_t a;
  for (a = 0; a < sizeof aligns / sizeof aligns[0]; ++a) {
    mps_pool_t pool;
    block bs[300];
    size_t i, align = aligns[a];
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_ALIGN, align);
      CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), args));
      CHECK(args[0].key == MPS_KEY_ARGS_END);
    } MPS_ARGS_END(args);
    for (i = 0; i < 300; ++i)
      alloc_block(pool, 1 + rnd_below(3 * align), align, &bs[i]);
    check_all(bs, 300, align, pool, "align");
    for (i = 0; i < 300; i += 2)
      mps_free(pool, bs[i].p, bs[i].size);
    for (i = 0; i < 300; i += 2)
      alloc_block(pool, 1 + rnd_below(2 * align), align, &bs[i]);
    check_all(bs, 300, align, pool, "align, after reuse");
    for (i = 0; i < 300; ++i)
      mps_free(pool, bs[i].p, bs[i].size);
    mps_pool_destroy(pool);
  }
  printf("mvff: alignments 8 .. 4096 honoured\n");
}

/* ---- 4. placement policy ---- */

#define S 256
#define NPOL 64

static mps_pool_t policy_pool(int arena_high, int first_fit, int slot_high)
{
  mps_pool_t pool;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_EXTEND_BY, (size_t)65536);
    /* Nothing goes back to the arena (phase 6): the free ranges stay as
     * the frees below leave them. */
    MPS_ARGS_ADD(args, MPS_KEY_SPARE, 1.0);
    MPS_ARGS_ADD(args, MPS_KEY_MVFF_ARENA_HIGH, arena_high);
    MPS_ARGS_ADD(args, MPS_KEY_MVFF_FIRST_FIT, first_fit);
    MPS_ARGS_ADD(args, MPS_KEY_MVFF_SLOT_HIGH, slot_high);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), args));
    CHECK(args[0].key == MPS_KEY_ARGS_END);
  } MPS_ARGS_END(args);
  return pool;
}

static char *alloc_s(mps_pool_t pool, size_t size)
{
  mps_addr_t p;
  CHECK_RES(mps_alloc(&p, pool, size));
  return p;
}

static void expect_addr(char *got, char *want, const char *what, int ah,
                        int ff, int sh)
{
  if (got != want)
    die("policy (ARENA_HIGH %d, FIRST_FIT %d, SLOT_HIGH %d): %s: got %p, "
        "expected %p (offset %+ld)", ah, ff, sh, what, (void *)got,
        (void *)want, (long)(got - want));
}

static void phase_policy(void)
{
  int ah, ff, sh;
  for (ah = 0; ah < 2; ++ah)
    for (ff = 0; ff < 2; ++ff)
      for (sh = 0; sh < 2; ++sh) {
        mps_pool_t pool = policy_pool(ah, ff, sh);
        char *a[NPOL], *lo, *hi, *r;
        int i;
        for (i = 0; i < NPOL; ++i)
          a[i] = alloc_s(pool, S);
        /* From one fresh range, SLOT_HIGH false carves upwards from its
         * bottom and true downwards from its top, whatever FIRST_FIT. */
        for (i = 1; i < NPOL; ++i)
          if (a[i] != a[i - 1] + (sh ? -S : S))
            die("policy (ARENA_HIGH %d, FIRST_FIT %d, SLOT_HIGH %d): block "
                "%d at %p, previous at %p: expected consecutive blocks "
                "going %s", ah, ff, sh, i, (void *)a[i], (void *)a[i - 1],
                sh ? "down" : "up");
        if (sh) {               /* sort ascending */
          for (i = 0; i < NPOL / 2; ++i) {
            char *t = a[i];
            a[i] = a[NPOL - 1 - i];
            a[NPOL - 1 - i] = t;
          }
        }
        lo = a[0];
        hi = a[NPOL - 1];
        /* three holes of 2S bytes, between live blocks */
        mps_free(pool, a[10], S);
        mps_free(pool, a[11], S);
        mps_free(pool, a[30], S);
        mps_free(pool, a[31], S);
        mps_free(pool, a[50], S);
        mps_free(pool, a[51], S);
        /* Free ranges, ascending: [segment bottom, lo) when SLOT_HIGH
         * (the blocks came from the top), the three holes, and
         * [hi + S, segment top) when not SLOT_HIGH. */
        if (ff && !sh) {        /* lowest: hole 10, its low end */
          r = alloc_s(pool, S);
          expect_addr(r, a[10], "1st block: lowest hole, low end", ah, ff, sh);
          r = alloc_s(pool, S);
          expect_addr(r, a[11], "2nd block: rest of that hole", ah, ff, sh);
          r = alloc_s(pool, 3 * S);
          expect_addr(r, hi + S, "3S block: only the top range fits", ah, ff,
                      sh);
        } else if (ff && sh) {  /* lowest: the bottom range, high end */
          r = alloc_s(pool, S);
          expect_addr(r, lo - S, "1st block: bottom range, high end", ah, ff,
                      sh);
          r = alloc_s(pool, S);
          expect_addr(r, lo - 2 * S, "2nd block: bottom range, high end", ah,
                      ff, sh);
        } else if (!ff && !sh) { /* highest: the top range, low end */
          r = alloc_s(pool, S);
          expect_addr(r, hi + S, "1st block: top range, low end", ah, ff, sh);
          r = alloc_s(pool, S);
          expect_addr(r, hi + 2 * S, "2nd block: top range, low end", ah, ff,
                      sh);
        } else {                /* highest: hole 50, high end */
          r = alloc_s(pool, S);
          expect_addr(r, a[51], "1st block: highest hole, high end", ah, ff,
                      sh);
          r = alloc_s(pool, S);
          expect_addr(r, a[50], "2nd block: rest of that hole", ah, ff, sh);
          r = alloc_s(pool, 3 * S);
          expect_addr(r, lo - 3 * S, "3S block: only the bottom range fits",
                      ah, ff, sh);
        }
        mps_pool_destroy(pool);
      }

  /* ARENA_HIGH: a pool taking memory from the top of the arena lies above
   * one taking it from the bottom. */
  {
    mps_pool_t low = policy_pool(0, 1, 0), high = policy_pool(1, 1, 0);
    char *pl = alloc_s(low, S), *ph = alloc_s(high, S);
    if (!(pl < ph))
      die("policy: ARENA_HIGH pool block %p is not above the ARENA_HIGH "
          "false pool's block %p", (void *)ph, (void *)pl);
    mps_pool_destroy(high);
    mps_pool_destroy(low);
  }
  printf("mvff: placement policy: all 8 key combinations as specified\n");
}

/* ---- 5. allocation points ---- */

#define NAP 2000

static void phase_ap(void)
{
  mps_pool_t pool;
  mps_ap_t ap;
  block *bs = calloc(2 * NAP, sizeof *bs);
  size_t n = 0, i;

  if (bs == NULL)
    die("out of memory");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_EXTEND_BY, (size_t)16384);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), args));
  } MPS_ARGS_END(args);
  /* the first AP is created before the first mps_alloc */
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  for (i = 0; i < NAP; ++i) {
    size_t size = 8 * (1 + rnd_below(rnd_chance(1, 50) ? 4096 : 40));
    mps_addr_t p;
    block *b = &bs[n++];
    do {
      CHECK_RES(mps_reserve(&p, ap, size));
      if (((uintptr_t)p & (MPS_PF_ALIGN - 1)) != 0)
        die("ap: reserve returned unaligned %p", p);
      b->p = p;
      b->size = size;
      b->seed = (unsigned)rnd();
      fill(b);
    } while (!mps_commit(ap, p, size));
    if (rnd_chance(1, 3))
      alloc_block(pool, 1 + rnd_below(300), MPS_PF_ALIGN, &bs[n++]);
    if (rnd_chance(1, 4)) {              /* free a random block */
      size_t j = rnd_below(n);
      check_block(&bs[j], "ap: at free");
      mps_free(pool, bs[j].p, bs[j].size);
      bs[j] = bs[--n];
    }
    if (i % 500 == 250) {
      check_all(bs, n, MPS_PF_ALIGN, pool, "ap: checkpoint");
      garbage_and_collect();
    }
  }
  check_all(bs, n, MPS_PF_ALIGN, pool, "ap: end");
  mps_ap_destroy(ap);
  check_all(bs, n, MPS_PF_ALIGN, pool, "ap: after mps_ap_destroy");
  for (i = 0; i < n; ++i)
    mps_free(pool, bs[i].p, bs[i].size);
  printf("mvff: allocation point: %d reserved blocks mixed with mps_alloc "
         "and mps_free\n", NAP);
  mps_pool_destroy(pool);
  free(bs);
}

/* 6. The spare fraction, in whole pages. */
static void phase_spare(void)
{
  static const double spares[] = {0.0, 0.25, 0.5, 0.75};
  size_t n = (size_t)test_scale(4000), k;
  block *bs = malloc(n * sizeof *bs);
  if (bs == NULL)
    die("out of memory");
  for (k = 0; k < sizeof spares / sizeof spares[0]; ++k) {
    mps_pool_t pool;
    size_t i, live = 0, kept = 0, total, free_size, bound;
    size_t committed0, grain = 4096;
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_SPARE, spares[k]);
      CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), args));
    } MPS_ARGS_END(args);
    for (i = 0; i < n; ++i)
      alloc_block(pool, 8 * (1 + rnd_below(2048)), MPS_PF_ALIGN, &bs[i]);
    committed0 = mps_arena_committed(arena);
    /* Free nine in ten, in random order: shuffle, then free the tail. */
    for (i = n; i > 1; --i) {
      size_t j = rnd_below(i);
      block t = bs[i - 1];
      bs[i - 1] = bs[j];
      bs[j] = t;
    }
    kept = n / 10;
    for (i = kept; i < n; ++i) {
      check_block(&bs[i], "spare: before mps_free");
      mps_free(pool, bs[i].p, bs[i].size);
    }
    for (i = 0; i < kept; ++i)
      live += round_up(bs[i].size, MPS_PF_ALIGN);
    check_all(bs, kept, MPS_PF_ALIGN, pool, "spare: after the frees");
    total = mps_pool_total_size(pool);
    free_size = mps_pool_free_size(pool);
    CHECK(total - free_size == live);
    /* Free ranges lie between kept blocks (and segment ends): fewer than
     * kept + total / grain + 1 of them, each with less than two pages
     * that cannot go back. */
    bound = (size_t)(spares[k] * (double)total) +
            (kept + total / grain / 16 + 1) * 2 * grain;
    CHECKF(free_size <= bound,
           "spare %.2f: %zu of %zu bytes free after freeing 9 in 10 "
           "(at most %zu expected)", spares[k], free_size, total, bound);
    CHECKF(mps_arena_committed(arena) < committed0 || spares[k] >= 0.75,
           "spare %.2f: the arena's committed memory did not fall (%zu)",
           spares[k], mps_arena_committed(arena));
    printf("mvff: spare %.2f: %zu bytes free of %zu after freeing 9 in 10 "
           "(%zu live)\n", spares[k], free_size, total, live);
    /* Usable again: refill, check everything, free all. */
    for (i = kept; i < n; ++i)
      alloc_block(pool, 8 * (1 + rnd_below(2048)), MPS_PF_ALIGN, &bs[i]);
    check_all(bs, n, MPS_PF_ALIGN, pool, "spare: after refilling");
    for (i = 0; i < n; ++i)
      mps_free(pool, bs[i].p, bs[i].size);
    mps_pool_destroy(pool);
  }
  free(bs);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_thr_t thr;

  test_init("mvff");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)256 << 20);
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

  phase_random();
  phase_frag();
  phase_align();
  phase_policy();
  phase_ap();
  phase_spare();

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("mvff: OK\n");
  return 0;
}
