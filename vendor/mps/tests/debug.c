/* debug.c -- the debug pool class MVFF debug (DESIGN.md#debug)
 *
 * Options: a 9-byte fence template and a 4-byte free template.  Checked:
 *
 *  1. random mps_alloc and mps_free with writes that stay inside the
 *     blocks: mps_pool_check_fenceposts and mps_pool_check_free_space
 *     pass every time, blocks keep their contents, and a fresh block's
 *     fenceposts hold the template;
 *  2. the positional mps_pool_create works (options pointer first), and
 *     phase 1 again with a 5-byte free template (written and checked byte
 *     by byte, where the 4-byte one goes a word at a time);
 *  3. caught, in a child process that must stop with an assertion naming
 *     the problem (in every build):
 *     - one byte written past the end of a block, by
 *       mps_pool_check_fenceposts;
 *     - one byte written before the start of a block, by mps_free;
 *     - a write into a freed block, by mps_pool_check_free_space;
 *     - a write into a freed block, by the mps_alloc that hands the
 *       block out again, without any call of mps_pool_check_free_space;
 *     - a write into a freed block, by the refill of an allocation
 *       point that takes the free range holding it;
 *     and a child that makes no such mistake (allocating a freed block
 *     again, refilling an allocation point from freed memory) exits
 *     normally;
 *  4. on pools that are not debug pools (MVFF, MFS, MVT) the two checks
 *     do nothing, as the manual says, even after the very writes that the
 *     debug pool catches (into freed memory, past a block's end).
 */

#include "testlib.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscmfs.h"
#include "mpscmvff.h"
#include "mpscmvt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBLOCKS 1000

static const char fence[9] = {'F', 'E', 'N', 'C', 'E', 'P', 'O', 'S', 'T'};
static const unsigned char splat[4] = {0xDE, 0xAD, 0xBE, 0xEF};
static mps_pool_debug_option_s options = {fence, sizeof fence, splat,
                                          sizeof splat};
/* A free template whose size does not divide a word's: checked and
 * written byte by byte, where one of 4 bytes goes a word at a time. */
static const unsigned char splat5[5] = {0xC0, 0xFF, 0xEE, 0x15, 0x0D};
static mps_pool_debug_option_s options5 = {fence, sizeof fence, splat5,
                                           sizeof splat5};
static mps_arena_t arena;

static mps_pool_t debug_pool(void)
{
  mps_pool_t pool;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_POOL_DEBUG_OPTIONS, &options);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff_debug(), args));
  } MPS_ARGS_END(args);
  return pool;
}

typedef struct block {
  unsigned char *p;
  size_t size;
  unsigned char fill;
} block;

static block blocks[NBLOCKS];

static void phase_clean(mps_pool_t pool, const char *name)
{
  unsigned long ops, n_ops = test_scale(20000);
  size_t i;
  unsigned char fill = 1;
  for (ops = 0; ops < n_ops; ++ops) {
    block *b = &blocks[rnd_below(NBLOCKS)];
    if (b->p == NULL) {
      mps_addr_t p;
      b->size = 1 + rnd_below(400);
      CHECK_RES(mps_alloc(&p, pool, b->size));
      b->p = p;
      CHECKF(memcmp(b->p - sizeof fence, fence, sizeof fence) == 0 ||
                 memcmp(b->p - 16, fence, sizeof fence) == 0,
             "%s: no fence template before block %p", name, p);
      b->fill = fill;
      fill = (unsigned char)(fill % 250 + 1);
      memset(b->p, b->fill, b->size);
    } else {
      for (i = 0; i < b->size; ++i)
        CHECK(b->p[i] == b->fill);
      mps_free(pool, b->p, b->size);
      b->p = NULL;
    }
    if (ops % 1000 == 0) {
      mps_pool_check_fenceposts(pool);
      mps_pool_check_free_space(pool);
    }
  }
  for (i = 0; i < NBLOCKS; ++i) {
    if (blocks[i].p != NULL) {
      mps_free(pool, blocks[i].p, blocks[i].size);
      blocks[i].p = NULL;
    }
  }
  mps_pool_check_fenceposts(pool);
  mps_pool_check_free_space(pool);
  printf("debug: %s: %lu operations, checks passed\n", name, n_ops);
}

/* ---- mistakes, each in a child process ---- */

static void overrun(void)
{
  mps_pool_t pool = debug_pool();
  mps_addr_t p;
  CHECK_RES(mps_alloc(&p, pool, 40));
  memset(p, 1, 40);
  ((unsigned char *)p)[40] = 0; /* one byte past the end */
  mps_pool_check_fenceposts(pool);
}

static void underrun_then_free(void)
{
  mps_pool_t pool = debug_pool();
  mps_addr_t p;
  CHECK_RES(mps_alloc(&p, pool, 24));
  ((unsigned char *)p)[-1] = 'x';
  mps_free(pool, p, 24);
}

static void write_after_free(void)
{
  mps_pool_t pool = debug_pool();
  mps_addr_t p, q;
  CHECK_RES(mps_alloc(&p, pool, 64));
  CHECK_RES(mps_alloc(&q, pool, 64));
  mps_free(pool, p, 64);
  ((unsigned char *)p)[10] = 0x55; /* a dangling write */
  mps_pool_check_free_space(pool);
}

/* The freed block is the lowest free memory of the pool: the next
 * mps_alloc of its size (first fit) hands it out again. */
static void write_after_free_then_alloc(void)
{
  mps_pool_t pool = debug_pool();
  mps_addr_t p, q, r;
  CHECK_RES(mps_alloc(&p, pool, 64));
  CHECK_RES(mps_alloc(&q, pool, 64));
  mps_free(pool, p, 64);
  ((unsigned char *)p)[10] = 0x55; /* a dangling write */
  CHECK_RES(mps_alloc(&r, pool, 64));
  printf("debug: the block was handed out again at %p (freed at %p)\n", r,
         p);
}

/* In a segment of 64 KiB, a freed block of 40 KiB is the only free
 * range that can hold 32 KiB (a small block after it keeps the segment
 * in the pool, and spare 1 keeps the block's pages): an allocation
 * point's refill for 32 KiB takes it. */
static void write_after_free_then_fill(void)
{
  mps_pool_t pool;
  mps_addr_t p, q, r;
  mps_ap_t ap;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_POOL_DEBUG_OPTIONS, &options);
    MPS_ARGS_ADD(args, MPS_KEY_EXTEND_BY, (size_t)64 << 10);
    MPS_ARGS_ADD(args, MPS_KEY_SPARE, 1.0); /* keep the freed pages */
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff_debug(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_alloc(&p, pool, (size_t)40 << 10));
  CHECK_RES(mps_alloc(&q, pool, 64));
  mps_free(pool, p, (size_t)40 << 10);
  ((unsigned char *)p)[20] = 0x55; /* a dangling write */
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  CHECK_RES(mps_reserve(&r, ap, (size_t)32 << 10));
  printf("debug: the allocation point was refilled at %p (freed block at "
         "%p)\n",
         r, p);
}

static void no_mistake(void)
{
  mps_pool_t pool = debug_pool();
  mps_addr_t p, q;
  mps_ap_t ap;
  CHECK_RES(mps_alloc(&p, pool, 40));
  memset(p, 1, 40);
  mps_pool_check_fenceposts(pool);
  mps_free(pool, p, 40);
  mps_pool_check_free_space(pool);
  /* Freed memory handed out again, by mps_alloc and by a refill. */
  CHECK_RES(mps_alloc(&q, pool, 40));
  CHECK(q == p);
  memset(q, 2, 40);
  mps_free(pool, q, 40);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  do {
    CHECK_RES(mps_reserve(&q, ap, 64));
    memset(q, 3, 64);
  } while (!mps_commit(ap, q, 64));
  mps_ap_destroy(ap);
  mps_pool_check_free_space(pool);
}

/* 4: mistakes a debug pool would catch, on pools that are not debug
 * pools; the checks must return. */
static void other_classes(void)
{
  mps_pool_t pools[3];
  size_t i;
  CHECK_RES(mps_pool_create_k(&pools[0], arena, mps_class_mvff(),
                              mps_args_none));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_MFS_UNIT_SIZE, (size_t)64);
    CHECK_RES(mps_pool_create_k(&pools[1], arena, mps_class_mfs(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_pool_create_k(&pools[2], arena, mps_class_mvt(),
                              mps_args_none));
  for (i = 0; i < 3; ++i) {
    mps_addr_t p, q;
    if (i == 2) { /* MVT: no mps_alloc; a free block is still the pool's */
      mps_pool_check_fenceposts(pools[i]);
      mps_pool_check_free_space(pools[i]);
      continue;
    }
    CHECK_RES(mps_alloc(&p, pools[i], 64));
    CHECK_RES(mps_alloc(&q, pools[i], 64));
    mps_free(pools[i], p, 64);
    ((unsigned char *)p)[40] = 0x55; /* into freed memory */
    memset(q, 2, 64);
    mps_pool_check_fenceposts(pools[i]);
    mps_pool_check_free_space(pools[i]);
    mps_free(pools[i], q, 64);
    mps_pool_destroy(pools[i]);
  }
  mps_pool_destroy(pools[2]);
}

int main(void)
{
  mps_pool_t pool;
  test_init("debug");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)32 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);

  pool = debug_pool();
  phase_clean(pool, "keywords");
  mps_pool_destroy(pool);
  CHECK_RES(mps_pool_create(&pool, arena, mps_class_mvff_debug(), &options,
                            (size_t)65536, (size_t)32, (mps_align_t)16,
                            (mps_bool_t)0, (mps_bool_t)0, (mps_bool_t)1));
  phase_clean(pool, "positional");
  mps_pool_destroy(pool);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_POOL_DEBUG_OPTIONS, &options5);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff_debug(), args));
  } MPS_ARGS_END(args);
  phase_clean(pool, "5-byte free template");
  mps_pool_destroy(pool);

  test_in_child("no mistake", no_mistake, NULL);
  test_in_child("a write past the end of a block", overrun, "fencepost");
  test_in_child("a write before a block, then mps_free", underrun_then_free,
           "fencepost");
  test_in_child("a write to a freed block", write_after_free, "freed block");
  test_in_child("a write to a freed block, then mps_alloc",
                write_after_free_then_alloc, "allocated again");
  test_in_child("a write to a freed block, then a refill",
                write_after_free_then_fill, "refilled");
  other_classes();

  mps_arena_destroy(arena);
  printf("debug: OK\n");
  return 0;
}
