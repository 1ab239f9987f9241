/* sparereturn.c -- committed memory does not grow while spare pages lie
 * unused
 *
 * DESIGN.md#arena: when an allocation outside a collection commits fresh
 * pages although spare pages exist elsewhere (placement passed over
 * them), the arena decommits as many spare pages, in batches of 4 MiB.
 *
 * An arena that keeps all its spare memory (MPS_KEY_SPARE 1.0); an MVFF
 * pool that gives its free segments straight back (its MPS_KEY_SPARE 0)
 * allocates and frees 32 MiB, which leaves 32 MiB of spare pages at low
 * addresses; then an MVFF pool that takes the highest free pages
 * (MPS_KEY_MVFF_ARENA_HIGH, placement that never looks for spare pages)
 * allocates 32 MiB.  Committed memory may grow by at most one batch (and
 * a block), not by 32 MiB, and the spare pages shrink by what was
 * committed fresh.
 */

#include "testlib.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscmvff.h"

#include <stdio.h>

#define MIB ((size_t)1 << 20)
#define BLOCKS 32

static void *blocks[BLOCKS];

static void make_pool(mps_pool_t *pool_o, mps_arena_t arena, int high)
{
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_SPARE, 0.0);
    MPS_ARGS_ADD(args, MPS_KEY_EXTEND_BY, MIB);
    MPS_ARGS_ADD(args, MPS_KEY_MVFF_ARENA_HIGH, high != 0);
    CHECK_RES(mps_pool_create_k(pool_o, arena, mps_class_mvff(), args));
  } MPS_ARGS_END(args);
}

static void alloc_all(mps_pool_t pool)
{
  size_t i;
  for (i = 0; i < BLOCKS; ++i)
    CHECK_RES(mps_alloc(&blocks[i], pool, MIB));
}

static void free_all(mps_pool_t pool)
{
  size_t i;
  for (i = 0; i < BLOCKS; ++i)
    mps_free(pool, blocks[i], MIB);
}

int main(void)
{
  mps_arena_t arena;
  mps_pool_t low, high;
  size_t committed0, spare0, committed1, spare1;

  test_init("sparereturn");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, 256 * MIB);
    MPS_ARGS_ADD(args, MPS_KEY_SPARE, 1.0);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  make_pool(&low, arena, 0);
  make_pool(&high, arena, 1);

  alloc_all(low);
  free_all(low);
  committed0 = mps_arena_committed(arena);
  spare0 = mps_arena_spare_committed(arena);
  printf("sparereturn: after 32 MiB freed: committed %zu KiB, spare %zu "
         "KiB\n",
         committed0 >> 10, spare0 >> 10);
  CHECK(spare0 >= (BLOCKS - 1) * MIB);

  alloc_all(high);
  committed1 = mps_arena_committed(arena);
  spare1 = mps_arena_spare_committed(arena);
  printf("sparereturn: after 32 MiB at high addresses: committed %zu KiB, "
         "spare %zu KiB\n",
         committed1 >> 10, spare1 >> 10);
  CHECK(committed1 <= committed0 + 5 * MIB);
  CHECK(spare1 + (BLOCKS - 5) * MIB <= spare0);

  free_all(high);
  mps_pool_destroy(low);
  mps_pool_destroy(high);
  mps_arena_destroy(arena);
  return 0;
}
