/* poolamsdbg.c: AMS debug, AMS with free-space splatting
 *
 * AMS (segms.c, poolams.c) whose free grains are overwritten with the
 * client's free template (dbgpool.h): new segments, the unused tails of
 * allocation points' buffers and the objects a collection sweeps away.
 * mps_pool_check_free_space checks every free run of the pool.  Objects
 * come from allocation points only, so there are no fenceposts (the
 * fence template is accepted and kept; mps_pool_check_fenceposts has
 * nothing to check).  See DESIGN.md#debug.
 */

#include "mpm.h"
#include "args.h"
#include "dbgpool.h"
#include "segms.h"
#include "mpscams.h"

typedef struct AMSDebugStruct {
  MSStruct ms;
  PoolDebugStruct debug;
} AMSDebugStruct, *AMSDebug;

#define PoolAMSDebug(pool) ((AMSDebug)(void *)(pool))

CHECK_FUNCTION static Bool AMSDebugCheck(AMSDebug d)
{
  return MSCheck(&d->ms) && PoolDebugCheck(&d->debug) &&
         d->ms.debug == &d->debug;
}

static Res amsDebugInit(Pool pool, mps_arg_s args[])
{
  AMSDebug d = PoolAMSDebug(pool);
  mps_arg_s arg;
  Bool have_options = ArgPick(&arg, args, MPS_KEY_POOL_DEBUG_OPTIONS);
  Res res = AMSInit(pool, args);
  if (res != MPS_RES_OK)
    return res;
  MPS_ARGS_BEGIN(dargs) {
    if (have_options)
      MPS_ARGS_ADD(dargs, MPS_KEY_POOL_DEBUG_OPTIONS,
                   arg.val.pool_debug_options);
    res = PoolDebugInit(&d->debug, pool, dargs);
  } MPS_ARGS_END(dargs);
  if (res != MPS_RES_OK) {
    MSFinish(pool);
    return res;
  }
  /* No segment exists yet: every one will be splatted when made. */
  d->ms.debug = &d->debug;
  return MPS_RES_OK;
}

static void amsDebugFinish(Pool pool)
{
  AMSDebug d = PoolAMSDebug(pool);
  AVERT(AMSDebug, d);
  MSFinish(pool);
  PoolDebugFinish(&d->debug);
}

static void checkFreeRun(Addr base, Addr limit, void *closure)
{
  if (!PoolDebugSplatIntact(closure, base, limit))
    AssertFail(__FILE__, __LINE__,
               "debug pool: free memory was written to "
               "(a write to a dead object or outside every object)");
}

static void amsDebugCheckFreeSpace(Pool pool)
{
  AMSDebug d = PoolAMSDebug(pool);
  AVERT(AMSDebug, d);
  MSEachFreeRun(pool, checkFreeRun, &d->debug);
}

/* mps_pool_create(&pool, arena, mps_class_ams_debug(), debug_options,
 * format, chain, support_ambiguous), debug_options a pointer to an
 * mps_pool_debug_option_s; mps_ap_create(&ap, pool, rank)
 * (DESIGN.md#varargs). */
static void amsDebugVarargs(mps_arg_s args[MPS_ARGS_MAX], va_list varargs)
{
  args[0].key = MPS_KEY_POOL_DEBUG_OPTIONS;
  args[0].val.pool_debug_options = va_arg(varargs, mps_pool_debug_option_s *);
  AMSVarargs(args + 1, varargs);
}

const struct mps_pool_class_s AMSDebugPoolClass = {
    MS_CLASS_COMMON, .name = "AMS debug", .size = sizeof(AMSDebugStruct),
    .init = amsDebugInit, .finish = amsDebugFinish,
    .varargs = amsDebugVarargs, .ap_rank_vararg = TRUE,
    .check_free_space = amsDebugCheckFreeSpace};

mps_pool_class_t mps_class_ams_debug(void)
{
  return (mps_pool_class_t)&AMSDebugPoolClass;
}
