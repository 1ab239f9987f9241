/* poolmvffdbg.c: MVFF debug, MVFF with fenceposts and free-space splatting
 *
 * MVFF (poolmvff.h) whose mps_alloc and mps_free go through the debugging
 * layer (dbgpool.h): fenceposts around every block allocated with
 * mps_alloc, freed memory (and new memory from the arena, and the unused
 * tails of allocation points' buffers) overwritten with the free
 * template.  Blocks allocated through allocation points get no
 * fenceposts.  See DESIGN.md#debug.
 */

#include "mpm.h"
#include "args.h"
#include "dbgpool.h"
#include "poolmvff.h"
#include "mpscmvff.h"

Res MVFFDebugInit(Pool pool, mps_arg_s args[])
{
  MVFFDebug d = PoolMVFFDebug(pool);
  mps_arg_s arg;
  Bool have_options = ArgPick(&arg, args, MPS_KEY_POOL_DEBUG_OPTIONS);
  Res res = MVFFInit(pool, args);
  if (res != MPS_RES_OK)
    return res;
  MPS_ARGS_BEGIN(dargs) {
    if (have_options)
      MPS_ARGS_ADD(dargs, MPS_KEY_POOL_DEBUG_OPTIONS,
                   arg.val.pool_debug_options);
    res = PoolDebugInit(&d->debug, pool, dargs);
  } MPS_ARGS_END(dargs);
  if (res != MPS_RES_OK) {
    MVFFFinish(pool);
    return res;
  }
  d->mvff.debug = &d->debug;
  return MPS_RES_OK;
}

void MVFFDebugFinish(Pool pool)
{
  MVFFDebug d = PoolMVFFDebug(pool);
  PoolDebugFinish(&d->debug);
  MVFFFinish(pool);
}

Res MVFFDebugAlloc(Addr *p_o, Pool pool, Size size)
{
  return PoolDebugAlloc(&PoolMVFFDebug(pool)->debug, pool, MVFFAlloc,
                        MVFFFree, p_o, size);
}

void MVFFDebugFree(Pool pool, Addr p, Size size)
{
  PoolDebugFree(&PoolMVFFDebug(pool)->debug, pool, MVFFFree, p, size);
}

void MVFFDebugCheckFenceposts(Pool pool)
{
  PoolDebugCheckFenceposts(&PoolMVFFDebug(pool)->debug);
}

void MVFFDebugCheckFreeSpace(Pool pool)
{
  MVFFDebug d = PoolMVFFDebug(pool);
  Size i;
  for (i = 0; i < d->mvff.count; ++i)
    if (!PoolDebugSplatIntact(&d->debug, d->mvff.ranges[i].base,
                              d->mvff.ranges[i].limit))
      AssertFail(__FILE__, __LINE__,
                 "debug pool: free memory was written to "
                 "(a write to a freed block)");
}

/* mps_pool_create(&pool, arena, mps_class_mvff_debug(), debug_options,
 * extend_size, average_size, alignment, slot_high, arena_high,
 * first_fit), debug_options a pointer to an mps_pool_debug_option_s
 * (DESIGN.md#varargs). */
static void mvffDebugVarargs(mps_arg_s args[MPS_ARGS_MAX], va_list varargs)
{
  args[0].key = MPS_KEY_POOL_DEBUG_OPTIONS;
  args[0].val.pool_debug_options = va_arg(varargs, mps_pool_debug_option_s *);
  MVFFVarargs(args + 1, varargs);
}

const struct mps_pool_class_s MVFFDebugPoolClass = {
    .sig = PoolClassSig, .name = "MVFF debug",
    .size = sizeof(MVFFDebugStruct), .automatic = FALSE, .moving = FALSE,
    .init = MVFFDebugInit, .finish = MVFFDebugFinish,
    .alloc = MVFFDebugAlloc, .free = MVFFDebugFree,
    .buffer_fill = MVFFBufferFill, .buffer_empty = MVFFBufferEmpty,
    .free_size = MVFFFreeSize, .varargs = mvffDebugVarargs,
    .check_fenceposts = MVFFDebugCheckFenceposts,
    .check_free_space = MVFFDebugCheckFreeSpace};

mps_pool_class_t mps_class_mvff_debug(void)
{
  return (mps_pool_class_t)&MVFFDebugPoolClass;
}
