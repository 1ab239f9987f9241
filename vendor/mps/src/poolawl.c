/* poolawl.c: AWL, the automatic weak linked pool
 *
 * Non-moving, formatted; each object holds exact or weak references, as
 * the rank of its allocation point says.  Weak references to objects that
 * die are set to NULL in the trace's weak phase (DESIGN.md#weak).  The
 * dependent-object method is consulted before each object is scanned.
 * The work is in segms.c.
 */

#include "mpm.h"
#include "args.h"
#include "segms.h"
#include "mpscawl.h"

static Res awlInit(Pool pool, mps_arg_s args[])
{
  mps_arg_s arg;
  Res res = MSInit(pool, args,
                   RankSetSingle(RankEXACT) | RankSetSingle(RankWEAK), TRUE);
  if (res != MPS_RES_OK)
    return res;
  if (ArgPick(&arg, args, MPS_KEY_AWL_FIND_DEPENDENT))
    PoolMS(pool)->find_dependent = arg.val.addr_method;
  return MPS_RES_OK;
}

/* Before objects are scanned, their dependent objects must be accessible:
 * the scan method may clear slots in them (DESIGN.md#weak). */
static void awlBeforeScan(Pool pool, Seg seg, Addr base, Addr limit)
{
  MS ms = PoolMS(pool);
  Format format = pool->format;
  Addr p = AddrAdd(base, format->header);
  (void)seg;
  if (ms->find_dependent == NULL)
    return;
  while (p - format->header < limit) {
    Addr next = FormatSkip(format, p);
    Addr dep = ms->find_dependent(p);
    if (dep != NULL) {
      Seg dep_seg = SegOfAddr(pool->arena, dep);
      if (dep_seg != NULL && dep_seg->prot) {
        SegUnprotect(dep_seg);
        dep_seg->summary = ZoneSetUNIV;
      }
    }
    p = next;
  }
}

/* mps_pool_create(&pool, arena, mps_class_awl(), format, find_dependent);
 * mps_ap_create(&ap, pool, rank) (DESIGN.md#varargs). */
static void awlVarargs(mps_arg_s args[MPS_ARGS_MAX], va_list varargs)
{
  args[0].key = MPS_KEY_FORMAT;
  args[0].val.format = va_arg(varargs, mps_fmt_t);
  args[1].key = MPS_KEY_AWL_FIND_DEPENDENT;
  args[1].val.addr_method = va_arg(varargs, mps_awl_find_dependent_t);
  args[2].key = MPS_KEY_ARGS_END;
}

const struct mps_pool_class_s AWLPoolClass = {
    MS_CLASS_METHODS, .name = "AWL", .init = awlInit,
    .before_scan = awlBeforeScan, .varargs = awlVarargs,
    .ap_rank_vararg = TRUE};

mps_pool_class_t mps_class_awl(void)
{
  return (mps_pool_class_t)&AWLPoolClass;
}
