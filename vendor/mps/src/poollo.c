/* poollo.c: LO, the leaf object pool
 *
 * Non-moving, formatted (skip only), never scanned: its objects hold no
 * references.  The work is in segms.c.
 */

#include "mpm.h"
#include "args.h"
#include "segms.h"
#include "mpsclo.h"

static Res loInit(Pool pool, mps_arg_s args[])
{
  return MSInit(pool, args, RankSetEMPTY, FALSE);
}

/* mps_pool_create(&pool, arena, mps_class_lo(), format)
 * (DESIGN.md#varargs). */
static void loVarargs(mps_arg_s args[MPS_ARGS_MAX], va_list varargs)
{
  args[0].key = MPS_KEY_FORMAT;
  args[0].val.format = va_arg(varargs, mps_fmt_t);
  args[1].key = MPS_KEY_ARGS_END;
}

const struct mps_pool_class_s LOPoolClass = {
    MS_CLASS_METHODS, .name = "LO", .init = loInit, .varargs = loVarargs};

mps_pool_class_t mps_class_lo(void)
{
  return (mps_pool_class_t)&LOPoolClass;
}
