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

const struct mps_pool_class_s LOPoolClass = {
    MS_CLASS_METHODS, .name = "LO", .init = loInit};

mps_pool_class_t mps_class_lo(void)
{
  return (mps_pool_class_t)&LOPoolClass;
}
