/* poolmvt.c: MVT, manual variable-size temporal
 *
 * Blocks are allocated through allocation points and freed with mps_free;
 * there is no mps_alloc.  The free memory is MVFF's range set
 * (poolmvff.h); what differs is the policy, from MVT's keys: segments
 * hold at least a few maximum-size blocks, reserve_depth x mean_size free
 * bytes are always kept rather than returned to the arena, and when the
 * free fraction of the pool exceeds the fragmentation limit, buffers are
 * filled from the lowest fitting range (address order, so that blocks
 * allocated together lie together and are freed together) instead of the
 * largest.  See DESIGN.md#mvt.
 */

#include "mpm.h"
#include "args.h"
#include "poolmvff.h"
#include "mpscmvt.h"

#define MVT_MIN_EXTEND ((Size)64 << 10)

static Res mvtInit(Pool pool, mps_arg_s args[])
{
  MVFF mvff = PoolMVFF(pool);
  Arena arena = pool->arena;
  mps_arg_s arg;
  Size align = sizeof(Word), min_size, mean_size = 32, max_size = 8192;
  Word depth = 1024;
  double frag_limit = 0.3;
  Bool min_given = FALSE;
  if (ArgPick(&arg, args, MPS_KEY_ALIGN))
    align = arg.val.align;
  if (!IsPow2(align) || align < sizeof(void *) || align > arena->grain)
    return MPS_RES_PARAM;
  if (ArgPick(&arg, args, MPS_KEY_MIN_SIZE)) {
    min_size = arg.val.size;
    min_given = TRUE;
  }
  if (ArgPick(&arg, args, MPS_KEY_MEAN_SIZE))
    mean_size = arg.val.size;
  if (ArgPick(&arg, args, MPS_KEY_MAX_SIZE))
    max_size = arg.val.size;
  if (!min_given)
    min_size = align < mean_size ? align : mean_size;
  if (ArgPick(&arg, args, MPS_KEY_MVT_RESERVE_DEPTH))
    depth = arg.val.count;
  if (ArgPick(&arg, args, MPS_KEY_MVT_FRAG_LIMIT))
    frag_limit = arg.val.d;
  if (min_size == 0 || min_size > mean_size || mean_size > max_size ||
      max_size > ((Size)1 << 40) || depth == 0 ||
      depth > ((Size)1 << 40) / mean_size ||
      !(frag_limit >= 0.0 && frag_limit <= 1.0))
    return MPS_RES_PARAM;
  pool->align = align;
  mvff->extend_by = SizeAlignUp(4 * max_size, arena->grain);
  if (mvff->extend_by < MVT_MIN_EXTEND)
    mvff->extend_by = MVT_MIN_EXTEND;
  mvff->mean_size = mean_size;
  mvff->arena_high = FALSE;
  mvff->slot_high = FALSE;
  mvff->first_fit = TRUE;
  mvff->spare = frag_limit;
  MVFFInitRanges(mvff);
  mvff->reserve = depth * mean_size;
  mvff->fill_low_above = frag_limit;
  return MPS_RES_OK;
}

/* mps_pool_create(&pool, arena, mps_class_mvt(), minimum_size, mean_size,
 * maximum_size, reserve_depth, fragmentation_limit), the last a
 * percentage, 0 to 100 (DESIGN.md#varargs). */
static void mvtVarargs(mps_arg_s args[MPS_ARGS_MAX], va_list varargs)
{
  args[0].key = MPS_KEY_MIN_SIZE;
  args[0].val.size = va_arg(varargs, size_t);
  args[1].key = MPS_KEY_MEAN_SIZE;
  args[1].val.size = va_arg(varargs, size_t);
  args[2].key = MPS_KEY_MAX_SIZE;
  args[2].val.size = va_arg(varargs, size_t);
  args[3].key = MPS_KEY_MVT_RESERVE_DEPTH;
  args[3].val.count = va_arg(varargs, mps_word_t);
  args[4].key = MPS_KEY_MVT_FRAG_LIMIT;
  args[4].val.d = (double)va_arg(varargs, mps_word_t) / 100.0;
  args[5].key = MPS_KEY_ARGS_END;
}

const struct mps_pool_class_s MVTPoolClass = {
    .sig = PoolClassSig, .name = "MVT", .size = sizeof(MVFFStruct),
    .automatic = FALSE, .moving = FALSE, .init = mvtInit,
    .finish = MVFFFinish, .free = MVFFFree, .buffer_fill = MVFFBufferFill,
    .buffer_empty = MVFFBufferEmpty, .free_size = MVFFFreeSize,
    .varargs = mvtVarargs};

mps_pool_class_t mps_class_mvt(void)
{
  return (mps_pool_class_t)&MVTPoolClass;
}
