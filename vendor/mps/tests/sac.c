/* sac.c -- segregated allocation caches (DESIGN.md#sac)
 *
 * A cache of four size classes (16, 32, 64 and 128 bytes; 8, 8, 4 and 0
 * blocks cached) in front of an MVFF pool, and a one-class cache in front
 * of an MFS pool.  Checked:
 *
 *  1. random allocation and freeing of 1..300 bytes, through the inline
 *     macros (MPS_SAC_ALLOC_FAST, MPS_SAC_FREE_FAST) and the functions
 *     (mps_sac_alloc, mps_sac_free) in turn: every live block keeps the
 *     pattern written into it (no block is handed out twice, none
 *     overlaps another), lies in the pool, and is aligned;
 *  2. a freed block of a cached class is the next one handed out for
 *     that class (it came from the cache, not the pool);
 *  3. no list ever holds more than its class's cached count;
 *  4. once every block is freed and the cache flushed, the pool's free
 *     size equals its total size (every cached block went back);
 *  5. bad class lists are refused with MPS_RES_PARAM;
 *  6. MFS: units come and go through the cache;
 *  7. a class whose cached count is SIZE_MAX: the first allocation takes
 *     at most 64 KiB (and a little) from the pool, not all memory.
 */

#include "testlib.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscmfs.h"
#include "mpscmvff.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NBLOCKS 2000
#define MAXSIZE 300

static mps_arena_t arena;

typedef struct block {
  unsigned char *p;
  size_t size;
  unsigned char fill;
} block;

static block blocks[NBLOCKS];

static void check_block(const block *b, const char *when)
{
  size_t i;
  for (i = 0; i < b->size; ++i)
    CHECKF(b->p[i] == b->fill,
           "%s: block %p of %zu bytes: byte %zu is %#x, expected %#x "
           "(another block overlaps it)",
           when, (void *)b->p, b->size, i, b->p[i], b->fill);
}

static void check_lists(mps_sac_t sac, size_t classes, const char *when)
{
  size_t i;
  for (i = 0; i < classes; ++i)
    CHECKF(sac->_freelists[i]._count <= sac->_freelists[i]._count_max,
           "%s: class %zu caches %zu blocks, at most %zu allowed", when, i,
           sac->_freelists[i]._count, sac->_freelists[i]._count_max);
}

static void phase_mvff(void)
{
  mps_pool_t pool, owner;
  mps_sac_t sac;
  mps_sac_class_s classes[4] = {
      {16, 8, 1}, {32, 8, 1}, {64, 4, 1}, {128, 0, 1}};
  unsigned long ops, n_ops = test_scale(100000);
  size_t i, live = 0;
  unsigned char next_fill = 1;

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_EXTEND_BY, (size_t)64 << 10);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_sac_create(&sac, pool, 4, classes));

  for (ops = 0; ops < n_ops; ++ops) {
    block *b = &blocks[rnd_below(NBLOCKS)];
    int by_macro = rnd_chance(1, 2);
    if (b->p == NULL) {
      mps_addr_t p;
      mps_res_t res;
      b->size = 1 + rnd_below(MAXSIZE);
      if (by_macro) {
        MPS_SAC_ALLOC_FAST(res, p, sac, b->size, 0);
      } else {
        res = mps_sac_alloc(&p, sac, b->size, 0);
      }
      CHECK_RES(res);
      CHECKF(mps_addr_pool(&owner, arena, p) && owner == pool,
             "block %p is not in the pool", p);
      CHECKF(((uintptr_t)p & (sizeof(void *) - 1)) == 0,
             "block %p is not aligned", p);
      b->p = p;
      b->fill = next_fill;
      next_fill = (unsigned char)(next_fill % 251 + 1);
      memset(b->p, b->fill, b->size);
      ++live;
    } else {
      check_block(b, "before free");
      if (by_macro) {
        MPS_SAC_FREE_FAST(sac, b->p, b->size);
      } else {
        mps_sac_free(sac, b->p, b->size);
      }
      b->p = NULL;
      --live;
    }
    if (ops % 1000 == 0) {
      for (i = 0; i < NBLOCKS; ++i)
        if (blocks[i].p != NULL)
          check_block(&blocks[i], "sweep");
      check_lists(sac, 4, "sweep");
    }
  }

  /* A freed cached block is reused first. */
  for (i = 0; i < 3; ++i) {
    static const size_t sizes[3] = {10, 32, 50};
    mps_addr_t p, q;
    CHECK_RES(mps_sac_alloc(&p, sac, sizes[i], 0));
    mps_sac_free(sac, p, sizes[i]);
    CHECK_RES(mps_sac_alloc(&q, sac, sizes[i], 0));
    CHECKF(p == q, "size %zu: freed %p, then got %p (not from the cache)",
           sizes[i], p, q);
    mps_sac_free(sac, q, sizes[i]);
  }

  for (i = 0; i < NBLOCKS; ++i) {
    if (blocks[i].p != NULL) {
      check_block(&blocks[i], "final");
      mps_sac_free(sac, blocks[i].p, blocks[i].size);
      blocks[i].p = NULL;
    }
  }
  check_lists(sac, 4, "end");
  {
    size_t cached = 0;
    for (i = 0; i < 4; ++i)
      cached += sac->_freelists[i]._count * sac->_freelists[i]._size;
    CHECKF(mps_pool_free_size(pool) + cached == mps_pool_total_size(pool),
           "all blocks freed: %zu bytes free in the pool and %zu cached, "
           "but the pool has %zu", mps_pool_free_size(pool), cached,
           mps_pool_total_size(pool));
  }
  mps_sac_flush(sac);
  for (i = 0; i < 4; ++i)
    CHECK(sac->_freelists[i]._count == 0);
  CHECKF(mps_pool_free_size(pool) == mps_pool_total_size(pool),
         "after freeing everything and flushing: %zu of %zu bytes free",
         mps_pool_free_size(pool), mps_pool_total_size(pool));

  /* Bad class lists. */
  {
    mps_sac_t bad;
    mps_sac_class_s unsorted[2] = {{64, 4, 1}, {32, 4, 1}};
    mps_sac_class_s unaligned[1] = {{20, 4, 1}};
    CHECK_RES_IS(mps_sac_create(&bad, pool, 2, unsorted), MPS_RES_PARAM);
    CHECK_RES_IS(mps_sac_create(&bad, pool, 1, unaligned), MPS_RES_PARAM);
    CHECK_RES_IS(mps_sac_create(&bad, pool, 0, unaligned), MPS_RES_PARAM);
  }
  mps_sac_destroy(sac);
  mps_pool_destroy(pool);
  printf("sac: mvff: %lu operations\n", n_ops);
}

static void phase_mfs(void)
{
  mps_pool_t pool;
  mps_sac_t sac;
  mps_sac_class_s classes[1] = {{64, 16, 1}};
  unsigned char *u[200];
  size_t i;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_MFS_UNIT_SIZE, (size_t)64);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mfs(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_sac_create(&sac, pool, 1, classes));
  for (i = 0; i < 200; ++i) {
    mps_addr_t p;
    mps_res_t res;
    MPS_SAC_ALLOC_FAST(res, p, sac, 64, 0);
    CHECK_RES(res);
    u[i] = p;
    memset(u[i], (int)i, 64);
  }
  for (i = 0; i < 200; ++i) {
    size_t j;
    for (j = 0; j < 64; ++j)
      CHECK(u[i][j] == (unsigned char)i);
    MPS_SAC_FREE_FAST(sac, u[i], 64);
  }
  check_lists(sac, 1, "mfs");
  mps_sac_destroy(sac);
  CHECKF(mps_pool_free_size(pool) == mps_pool_total_size(pool),
         "MFS: %zu of %zu bytes free after the cache went",
         mps_pool_free_size(pool), mps_pool_total_size(pool));
  mps_pool_destroy(pool);
}

static void phase_huge_count(void)
{
  mps_pool_t pool;
  mps_sac_t sac;
  mps_sac_class_s classes[1] = {{64, SIZE_MAX, 1}};
  mps_addr_t p;
  CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), mps_args_none));
  CHECK_RES(mps_sac_create(&sac, pool, 1, classes));
  CHECK_RES(mps_sac_alloc(&p, sac, 64, 0));
  CHECKF(mps_pool_total_size(pool) - mps_pool_free_size(pool) <=
             ((size_t)64 << 10) + 64,
         "one allocation took %zu bytes from the pool",
         mps_pool_total_size(pool) - mps_pool_free_size(pool));
  mps_sac_free(sac, p, 64);
  mps_sac_destroy(sac);
  mps_pool_destroy(pool);
}

int main(void)
{
  test_init("sac");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)32 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  phase_mvff();
  phase_mfs();
  phase_huge_count();
  mps_arena_destroy(arena);
  printf("sac: OK\n");
  return 0;
}
