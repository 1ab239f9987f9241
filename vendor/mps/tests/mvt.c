/* mvt.c -- the MVT pool class (Manual Variable Temporal), DESIGN.md#mvt
 *
 * Two pools: one made with keyword arguments (align 16, sizes 16 / 64 /
 * 1024, reserve depth 4096, fragmentation limit 0.3), one with the
 * positional mps_pool_create (the limit then a percentage).  Blocks are
 * allocated through allocation points (reserve/commit) and freed with
 * mps_free in random order.  Checked:
 *
 *  1. every live block keeps the pattern written into it (no block is
 *     handed out twice or overlaps another), is aligned, and belongs to
 *     its pool;
 *  2. mps_mvt_size and mps_mvt_free_size: once the points are gone and
 *     every block freed, all the pool's memory is free;
 *  3. freeing everything gives memory back to the arena, but keeps about
 *     reserve_depth x mean_size bytes;
 *  4. bad keyword values are refused with MPS_RES_PARAM.
 */

#include "testlib.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscmvt.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NBLOCKS 4000

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
           "%s: block %p (%zu bytes): byte %zu is %#x, expected %#x", when,
           (void *)b->p, b->size, i, b->p[i], b->fill);
}

static void exercise(mps_pool_t pool, size_t align, const char *name,
                     size_t reserve)
{
  mps_ap_t ap;
  mps_pool_t owner;
  unsigned long ops, n_ops = test_scale(60000);
  size_t i, peak = 0;
  unsigned char fill = 1;
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  for (ops = 0; ops < n_ops; ++ops) {
    block *b = &blocks[rnd_below(NBLOCKS)];
    if (b->p == NULL) {
      size_t size = (1 + rnd_below(1024 / align)) * align;
      mps_addr_t p;
      do {
        CHECK_RES(mps_reserve(&p, ap, size));
        memset(p, fill, size);
      } while (!mps_commit(ap, p, size));
      CHECKF(((uintptr_t)p & (align - 1)) == 0, "%s: block %p unaligned",
             name, p);
      CHECKF(mps_addr_pool(&owner, arena, p) && owner == pool,
             "%s: block %p not in the pool", name, p);
      b->p = p;
      b->size = size;
      b->fill = fill;
      fill = (unsigned char)(fill % 250 + 1);
    } else {
      check_block(b, name);
      mps_free(pool, b->p, b->size);
      b->p = NULL;
    }
    if (mps_mvt_size(pool) > peak)
      peak = mps_mvt_size(pool);
    if (ops % 5000 == 0)
      for (i = 0; i < NBLOCKS; ++i)
        if (blocks[i].p != NULL)
          check_block(&blocks[i], name);
  }
  mps_ap_destroy(ap);
  for (i = 0; i < NBLOCKS; ++i) {
    if (blocks[i].p != NULL) {
      check_block(&blocks[i], name);
      mps_free(pool, blocks[i].p, blocks[i].size);
      blocks[i].p = NULL;
    }
  }
  CHECKF(mps_mvt_free_size(pool) == mps_mvt_size(pool),
         "%s: everything freed, yet %zu of %zu bytes free", name,
         mps_mvt_free_size(pool), mps_mvt_size(pool));
  CHECKF(mps_mvt_size(pool) < peak,
         "%s: nothing went back to the arena (%zu bytes, peak %zu)", name,
         mps_mvt_size(pool), peak);
  CHECKF(mps_mvt_size(pool) + ((size_t)64 << 10) >= reserve,
         "%s: %zu bytes kept, the reserve is %zu", name, mps_mvt_size(pool),
         reserve);
  printf("mvt: %s: peak %zu bytes, %zu kept\n", name, peak,
         mps_mvt_size(pool));
}

int main(void)
{
  mps_pool_t pool;
  test_init("mvt");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ALIGN, (mps_align_t)16);
    MPS_ARGS_ADD(args, MPS_KEY_MIN_SIZE, (size_t)16);
    MPS_ARGS_ADD(args, MPS_KEY_MEAN_SIZE, (size_t)64);
    MPS_ARGS_ADD(args, MPS_KEY_MAX_SIZE, (size_t)1024);
    MPS_ARGS_ADD(args, MPS_KEY_MVT_RESERVE_DEPTH, (mps_word_t)4096);
    MPS_ARGS_ADD(args, MPS_KEY_MVT_FRAG_LIMIT, 0.3);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvt(), args));
  } MPS_ARGS_END(args);
  exercise(pool, 16, "keywords", (size_t)4096 * 64);
  mps_pool_destroy(pool);

  CHECK_RES(mps_pool_create(&pool, arena, mps_class_mvt(), (size_t)8,
                            (size_t)32, (size_t)1024, (mps_word_t)16,
                            (mps_word_t)50));
  exercise(pool, sizeof(void *), "positional", (size_t)16 * 32);
  mps_pool_destroy(pool);

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_MEAN_SIZE, (size_t)64);
    MPS_ARGS_ADD(args, MPS_KEY_MAX_SIZE, (size_t)32);
    CHECK_RES_IS(mps_pool_create_k(&pool, arena, mps_class_mvt(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_MVT_FRAG_LIMIT, 1.5);
    CHECK_RES_IS(mps_pool_create_k(&pool, arena, mps_class_mvt(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);

  mps_arena_destroy(arena);
  printf("mvt: OK\n");
  return 0;
}
