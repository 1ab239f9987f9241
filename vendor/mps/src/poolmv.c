/* poolmv.c: the MV pool class (Manual Variable), removed in MPS 1.118
 *
 * Kept for programs written for earlier versions (mpscmv.h): an MV pool
 * is an MVFF pool (poolmvff.c) that also accepts MV's maximum size, and
 * MV debug an MVFF debug pool (poolmvffdbg.c).  See DESIGN.md#compat.
 */

#include "mpm.h"
#include "args.h"
#include "poolmvff.h"
#include "mpscmv.h"

/* MV's MPS_KEY_MAX_SIZE: the largest block the client expects, at least
 * the mean size when both are given.  MVFF needs no maximum. */
static Res mvPickMax(mps_arg_s args[])
{
  mps_arg_s max;
  size_t i;
  if (!ArgPick(&max, args, MPS_KEY_MAX_SIZE))
    return MPS_RES_OK;
  if (max.val.size == 0)
    return MPS_RES_PARAM;
  for (i = 0; args[i].key != MPS_KEY_ARGS_END; ++i)
    if (args[i].key == MPS_KEY_MEAN_SIZE && args[i].val.size > max.val.size)
      return MPS_RES_PARAM;
  return MPS_RES_OK;
}

static Res mvInit(Pool pool, mps_arg_s args[])
{
  Res res = mvPickMax(args);
  if (res != MPS_RES_OK)
    return res;
  return MVFFInit(pool, args);
}

static Res mvDebugInit(Pool pool, mps_arg_s args[])
{
  Res res = mvPickMax(args);
  if (res != MPS_RES_OK)
    return res;
  return MVFFDebugInit(pool, args);
}

/* mps_pool_create(&pool, arena, mps_class_mv(), extend_by, mean_size,
 * max_size) (DESIGN.md#varargs). */
static void mvVarargs(mps_arg_s *args, va_list varargs)
{
  args[0].key = MPS_KEY_EXTEND_BY;
  args[0].val.size = va_arg(varargs, size_t);
  args[1].key = MPS_KEY_MEAN_SIZE;
  args[1].val.size = va_arg(varargs, size_t);
  args[2].key = MPS_KEY_MAX_SIZE;
  args[2].val.size = va_arg(varargs, size_t);
  args[3].key = MPS_KEY_ARGS_END;
}

/* The same after the debug options. */
static void mvDebugVarargs(mps_arg_s args[MPS_ARGS_MAX], va_list varargs)
{
  args[0].key = MPS_KEY_POOL_DEBUG_OPTIONS;
  args[0].val.pool_debug_options = va_arg(varargs, mps_pool_debug_option_s *);
  mvVarargs(args + 1, varargs);
}

static const struct mps_pool_class_s MVPoolClass = {
    .sig = PoolClassSig, .name = "MV", .size = sizeof(MVFFStruct),
    .automatic = FALSE, .moving = FALSE, .init = mvInit,
    .finish = MVFFFinish, .alloc = MVFFAlloc, .free = MVFFFree,
    .buffer_fill = MVFFBufferFill, .buffer_empty = MVFFBufferEmpty,
    .free_size = MVFFFreeSize, .varargs = mvVarargs};

static const struct mps_pool_class_s MVDebugPoolClass = {
    .sig = PoolClassSig, .name = "MV debug",
    .size = sizeof(MVFFDebugStruct), .automatic = FALSE, .moving = FALSE,
    .init = mvDebugInit, .finish = MVFFDebugFinish,
    .alloc = MVFFDebugAlloc, .free = MVFFDebugFree,
    .buffer_fill = MVFFBufferFill, .buffer_empty = MVFFBufferEmpty,
    .free_size = MVFFFreeSize, .varargs = mvDebugVarargs,
    .check_fenceposts = MVFFDebugCheckFenceposts,
    .check_free_space = MVFFDebugCheckFreeSpace};

mps_pool_class_t mps_class_mv(void)
{
  return (mps_pool_class_t)&MVPoolClass;
}

mps_pool_class_t mps_class_mv_debug(void)
{
  return (mps_pool_class_t)&MVDebugPoolClass;
}

size_t mps_mv_free_size(mps_pool_t pool)
{
  return mps_pool_free_size(pool);
}

size_t mps_mv_size(mps_pool_t pool)
{
  return mps_pool_total_size(pool);
}
