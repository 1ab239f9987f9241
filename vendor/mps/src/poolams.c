/* poolams.c: AMS, the automatic mark-and-sweep pool
 *
 * Non-moving, formatted; objects hold exact references, or ambiguous ones
 * if allocated through an allocation point of rank ambiguous.  Ambiguous
 * references to its objects count only at client pointers.  The work is
 * in segms.c.  See DESIGN.md#mark-sweep.
 */

#include "mpm.h"
#include "args.h"
#include "segms.h"
#include "mpscams.h"

Res AMSInit(Pool pool, mps_arg_s args[])
{
  mps_arg_s arg;
  Res res = MSInit(pool, args,
                   RankSetSingle(RankAMBIG) | RankSetSingle(RankEXACT), TRUE);
  if (res != MPS_RES_OK)
    return res;
  PoolMS(pool)->support_ambiguous = TRUE;
  if (ArgPick(&arg, args, MPS_KEY_AMS_SUPPORT_AMBIGUOUS))
    PoolMS(pool)->support_ambiguous = arg.val.b != 0;
  return MPS_RES_OK;
}

/* mps_pool_create(&pool, arena, mps_class_ams(), format, chain,
 * support_ambiguous); mps_ap_create(&ap, pool, rank) (DESIGN.md#varargs). */
void AMSVarargs(mps_arg_s args[], va_list varargs)
{
  args[0].key = MPS_KEY_FORMAT;
  args[0].val.format = va_arg(varargs, mps_fmt_t);
  args[1].key = MPS_KEY_CHAIN;
  args[1].val.chain = va_arg(varargs, mps_chain_t);
  args[2].key = MPS_KEY_AMS_SUPPORT_AMBIGUOUS;
  args[2].val.b = va_arg(varargs, mps_bool_t);
  args[3].key = MPS_KEY_ARGS_END;
}

const struct mps_pool_class_s AMSPoolClass = {
    MS_CLASS_METHODS, .name = "AMS", .init = AMSInit,
    .varargs = AMSVarargs, .ap_rank_vararg = TRUE};

mps_pool_class_t mps_class_ams(void)
{
  return (mps_pool_class_t)&AMSPoolClass;
}
