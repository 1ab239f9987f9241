/* clarena.c -- client arenas (mpsacl.h): the arena manages blocks the
 * client gives it (DESIGN.md#client-arena)
 *
 * Checked:
 *  - creation needs MPS_KEY_ARENA_CL_BASE and MPS_KEY_ARENA_SIZE
 *    (MPS_RES_PARAM without either); a block too small for the arena's
 *    tables is MPS_RES_MEMORY; a grain that is not a power of two is
 *    MPS_RES_PARAM;
 *  - mps_arena_reserved is exactly the sizes given; committed is
 *    positive and no more than reserved at creation (later it may exceed
 *    it by the control memory mapped outside the blocks); the default
 *    commit limit is SIZE_MAX;
 *  - every object lies inside a block given (blocks start out full of
 *    garbage, so nothing may assume fresh memory is zero);
 *  - keeping everything alive, allocation fails with MPS_RES_RESOURCE
 *    once the block is full, and succeeds again after mps_arena_extend
 *    with a second block, whose memory is then used; reserved grows by
 *    its size; extending with a block overlapping one given is
 *    MPS_RES_PARAM, and mps_arena_extend on a VM arena too;
 *  - a list built across both blocks survives collections intact
 *    (objects move within and between the blocks);
 *  - a commit limit below what is committed fails; allocation beyond the
 *    limit is MPS_RES_COMMIT_LIMIT;
 *  - the positional form mps_arena_create(&a, mps_arena_class_cl(),
 *    size, base) creates the same kind of arena;
 *  - after mps_arena_destroy the blocks are the client's again (written
 *    and freed);
 *  - blocks that are not word aligned (base + 1, + 3) are accepted for
 *    creation and mps_arena_extend, losing at most their first bytes
 *    (the manual: a client arena may be unable to use all of a chunk for
 *    alignment), and objects allocated there survive a collection.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsacl.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_ALIGN ((size_t)1 << 16)
#define CONTROL_MAX ((size_t)1 << 20)

static mps_arena_t arena;
static mps_ap_t ap;
enum { HEAD, TMP, NR };
static void *r[NR];
static unsigned long next_id = 1;
static char *blocks[2];
static size_t block_sizes[2];
static int block_count;

static char *garbage_block(size_t size)
{
  /* aligned_alloc wants a multiple of the alignment; the arena is given
   * only `size` bytes of it. */
  size_t whole = (size + BLOCK_ALIGN - 1) / BLOCK_ALIGN * BLOCK_ALIGN;
  char *p = aligned_alloc(BLOCK_ALIGN, whole);
  if (p == NULL)
    die("no memory for a %zu-byte block", size);
  memset(p, 0xAB, whole);
  return p;
}

static int in_blocks(void *p, int *which)
{
  int i;
  for (i = 0; i < block_count; ++i)
    if ((char *)p >= blocks[i] && (char *)p < blocks[i] + block_sizes[i]) {
      *which = i;
      return 1;
    }
  return 0;
}

/* Push a pair onto the list at r[HEAD]. */
static mps_res_t push(void)
{
  /* The stack is not a root: the new pair is linked only after the
   * allocation, through the root. */
  mps_res_t res = tf_try_make_pair(&r[TMP], ap, next_id, NULL, NULL);
  if (res != MPS_RES_OK)
    return res;
  tf_set_ref(r[TMP], 1, r[HEAD]);
  r[HEAD] = r[TMP];
  r[TMP] = NULL;
  ++next_id;
  return MPS_RES_OK;
}

/* The list holds ids next_id-1 down to 1, every node inside a block;
 * counts the nodes in each block. */
static void check_list(size_t per_block[2])
{
  void *p = r[HEAD];
  unsigned long id = next_id - 1;
  per_block[0] = per_block[1] = 0;
  while (p != NULL) {
    int which;
    tf_check_obj(p, "list node");
    CHECKF(tf_kind(p) == TF_PAIR && tf_id(p) == id,
           "node %lu: kind %d id %lu", id, tf_kind(p), tf_id(p));
    CHECKF(in_blocks(p, &which), "node %lu at %p is in no block", id, p);
    ++per_block[which];
    p = tf_ref(p, 1);
    --id;
  }
  CHECKF(id == 0, "list ends at id %lu", id);
}

static void bad_creations(void)
{
  mps_arena_t a;
  char *small = garbage_block(BLOCK_ALIGN);
  size_t size = (size_t)1 << 20;
  char *block = garbage_block(size);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, size);
    CHECK_RES_IS(mps_arena_create_k(&a, mps_arena_class_cl(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_CL_BASE, block);
    CHECK_RES_IS(mps_arena_create_k(&a, mps_arena_class_cl(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);
  /* Room for the tables but not one grain after them. */
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_CL_BASE, small);
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, 1 + rnd_below(1000));
    CHECK_RES_IS(mps_arena_create_k(&a, mps_arena_class_cl(), args),
                 MPS_RES_MEMORY);
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_CL_BASE, small);
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)8192);
    CHECK_RES_IS(mps_arena_create_k(&a, mps_arena_class_cl(), args),
                 MPS_RES_MEMORY);
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_CL_BASE, block);
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, size);
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_GRAIN_SIZE, (size_t)12288);
    CHECK_RES_IS(mps_arena_create_k(&a, mps_arena_class_cl(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);
  /* The positional form: size, then base. */
  CHECK_RES(mps_arena_create(&a, mps_arena_class_cl(), size, (void *)block));
  CHECKF(mps_arena_reserved(a) == size, "positional: reserved %zu, not %zu",
         mps_arena_reserved(a), size);
  CHECK(mps_arena_committed(a) > 0 && mps_arena_committed(a) <= size);
  mps_arena_destroy(a);
  /* A VM arena takes no blocks. */
  CHECK_RES(mps_arena_create_k(&a, mps_arena_class_vm(), mps_args_none));
  CHECK_RES_IS(mps_arena_extend(a, block, size), MPS_RES_PARAM);
  mps_arena_destroy(a);
  free(small);
  free(block);
}

static void unaligned_blocks(void)
{
  mps_arena_t a;
  mps_fmt_t fmt;
  mps_pool_t pool;
  mps_ap_t uap;
  mps_root_t root;
  void *keep[2];
  size_t size = (size_t)2 << 20, off = 1 + 2 * rnd_below(2); /* 1 or 3 */
  char *b0 = garbage_block(size + 8), *b1 = garbage_block(size + 8);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_CL_BASE, b0 + off);
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, size);
    CHECK_RES(mps_arena_create_k(&a, mps_arena_class_cl(), args));
  } MPS_ARGS_END(args);
  CHECKF(mps_arena_reserved(a) <= size && mps_arena_reserved(a) > size / 2,
         "unaligned base: reserved %zu of %zu", mps_arena_reserved(a), size);
  CHECK_RES(mps_arena_extend(a, b1 + off, size));
  CHECKF(mps_arena_reserved(a) <= 2 * size, "after extend: reserved %zu",
         mps_arena_reserved(a));
  tf_fmt_create(&fmt, a, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&pool, a, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&uap, pool, mps_args_none));
  CHECK_RES(mps_root_create_table(&root, a, mps_rank_exact(), 0, keep, 2));
  keep[1] = tf_make_str(uap, 7, 64);
  keep[0] = tf_make_pair(uap, 6, keep[1], NULL);
  CHECK_RES(mps_arena_collect(a));
  tf_check_obj(keep[0], "unaligned blocks: pair");
  tf_check_obj(tf_ref(keep[0], 0), "unaligned blocks: string");
  CHECK(tf_id(keep[0]) == 6 && tf_id(tf_ref(keep[0], 0)) == 7);
  mps_root_destroy(root);
  mps_ap_destroy(uap);
  mps_pool_destroy(pool);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(a);
  free(b0);
  free(b1);
  printf("clarena: blocks at base + %zu accepted and used\n", off);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t pool;
  mps_chain_t chain;
  mps_thr_t thr;
  mps_root_t root;
  mps_gen_param_s gens[] = {{256, 0.8}, {512, 0.4}};
  size_t per_block[2], committed, filled, i, grain;
  mps_res_t res;

  test_init("clarena");
  bad_creations();
  unaligned_blocks();

  grain = (size_t)1 << (13 + rnd_below(3)); /* 8, 16 or 32 KiB */
  block_sizes[0] = ((size_t)4 << 20) + grain * rnd_below(64);
  block_sizes[1] = ((size_t)4 << 20) + grain * rnd_below(64);
  blocks[0] = garbage_block(block_sizes[0]);
  blocks[1] = garbage_block(block_sizes[1]);
  block_count = 1;
  printf("clarena: grain %zu, blocks %zu and %zu bytes\n", grain,
         block_sizes[0], block_sizes[1]);

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_CL_BASE, blocks[0]);
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, block_sizes[0]);
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_GRAIN_SIZE, grain);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_cl(), args));
  } MPS_ARGS_END(args);
  test_arena_setup(arena);
  CHECKF(mps_arena_reserved(arena) == block_sizes[0], "reserved %zu",
         mps_arena_reserved(arena));
  CHECK(mps_arena_commit_limit(arena) == SIZE_MAX);
  committed = mps_arena_committed(arena);
  CHECKF(committed > 0 && committed <= block_sizes[0], "committed %zu",
         committed);

  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, r, NR));
  CHECK_RES(mps_thread_reg(&thr, arena));

  /* Fill the first block with live data until it runs out. */
  for (;;) {
    res = push();
    if (res != MPS_RES_OK)
      break;
    CHECKF(next_id < 10000000, "the first block never filled up");
  }
  CHECKF(res == MPS_RES_RESOURCE, "full client arena: %s, not RESOURCE",
         res_name(res));
  filled = next_id - 1;
  check_list(per_block);
  CHECK(per_block[0] == filled);
  /* Committed counts the pages in use plus the collector's own control
   * memory, which is mapped outside the blocks (segment descriptors,
   * mark tables): it may exceed reserved by that much only. */
  CHECKF(mps_arena_committed(arena) <= mps_arena_reserved(arena) + CONTROL_MAX,
         "committed %zu, reserved %zu", mps_arena_committed(arena),
         mps_arena_reserved(arena));
  printf("clarena: %zu pairs filled the first block\n", filled);

  /* A second block: overlapping the first is refused, the real one
   * taken. */
  CHECK_RES_IS(mps_arena_extend(arena, blocks[0] + BLOCK_ALIGN,
                                block_sizes[0] / 2),
               MPS_RES_PARAM);
  CHECK_RES(mps_arena_extend(arena, blocks[1], block_sizes[1]));
  block_count = 2;
  CHECKF(mps_arena_reserved(arena) == block_sizes[0] + block_sizes[1],
         "reserved %zu after extend", mps_arena_reserved(arena));
  for (i = 0; i < filled / 2; ++i)
    CHECK_RES(push());
  check_list(per_block);
  CHECKF(per_block[1] > 0, "nothing allocated in the second block");

  /* Collections move objects within and between the blocks (or pin
   * them where no copy fits). */
  for (i = 0; i < 3; ++i) {
    CHECK_RES(mps_arena_collect(arena));
    check_list(per_block);
    mps_arena_release(arena);
  }
  printf("clarena: after collections %zu pairs in the first block, %zu in "
         "the second\n", per_block[0], per_block[1]);

  /* The commit limit. */
  committed = mps_arena_committed(arena);
  mps_arena_spare_set(arena, 0.0);
  CHECK_RES_IS(mps_arena_commit_limit_set(arena, committed / 4),
               MPS_RES_FAIL);
  CHECK_RES(mps_arena_commit_limit_set(arena,
                                       mps_arena_committed(arena) + grain));
  for (;;) {
    res = push();
    if (res != MPS_RES_OK)
      break;
    CHECKF(next_id < 10000000, "the commit limit never bit");
  }
  CHECKF(res == MPS_RES_COMMIT_LIMIT, "over the limit: %s", res_name(res));
  CHECK(mps_arena_committed(arena) <= mps_arena_commit_limit(arena));
  CHECK_RES(mps_arena_commit_limit_set(arena, SIZE_MAX));
  CHECK_RES(push());

  r[HEAD] = NULL;
  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(root);
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);

  /* The blocks are the client's again. */
  memset(blocks[0], 0x5A, block_sizes[0]);
  memset(blocks[1], 0x5A, block_sizes[1]);
  free(blocks[0]);
  free(blocks[1]);
  printf("clarena: ok\n");
  return 0;
}
