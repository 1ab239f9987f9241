/* poolmfs.c: MFS, manual fixed-size units
 *
 * Units are carved from segments of MPS_KEY_EXTEND_BY bytes and kept on a
 * free list threaded through the free units themselves; memory is never
 * returned to the arena before the pool is destroyed.
 */

#include <stdlib.h>

#include "mpm.h"
#include "args.h"
#include "mpscmfs.h"

#define MFS_DEFAULT_EXTEND_BY ((Size)64 << 10)
#define MFSSig ((Sig)0x519F5F5FUL)

typedef struct MFSStruct {
  struct mps_pool_s pool;
  Sig sig;
  Size unit_size;
  Size extend_by;
  void *free_list;         /* first free unit; each holds the next */
  Size free_units;
  Size used_units;         /* handed out and not freed */
  RingStruct segs;
} MFSStruct, *MFS;

#define PoolMFS(pool) ((MFS)(void *)(pool))

CHECK_FUNCTION static Bool MFSCheck(MFS mfs)
{
  return mfs != NULL && mfs->sig == MFSSig && mfs->unit_size >= sizeof(Word) &&
         mfs->extend_by >= mfs->unit_size;
}

static Res mfsInit(Pool pool, mps_arg_s args[])
{
  MFS mfs = PoolMFS(pool);
  mps_arg_s arg;
  if (!ArgPick(&arg, args, MPS_KEY_MFS_UNIT_SIZE) ||
      arg.val.size < sizeof(Word))
    return MPS_RES_PARAM;
  pool->align = sizeof(Word); /* MPS_PF_ALIGN */
  mfs->unit_size = SizeAlignUp(arg.val.size, pool->align);
  mfs->extend_by = MFS_DEFAULT_EXTEND_BY;
  if (ArgPick(&arg, args, MPS_KEY_EXTEND_BY) && arg.val.size > 0)
    mfs->extend_by = arg.val.size;
  if (mfs->extend_by < mfs->unit_size)
    mfs->extend_by = mfs->unit_size;
  mfs->extend_by = SizeAlignUp(mfs->extend_by, pool->arena->grain);
  mfs->free_list = NULL;
  mfs->free_units = 0;
  mfs->used_units = 0;
  RingInit(&mfs->segs);
  mfs->sig = MFSSig;
  return MPS_RES_OK;
}

static void mfsFinish(Pool pool)
{
  MFS mfs = PoolMFS(pool);
  AVER(MFSCheck(mfs));
  while (!RingIsSingle(&mfs->segs))
    SegFree(RING_ELT(Seg, pgen_ring, mfs->segs.next));
  mfs->sig = SigInvalid;
}

static Res mfsAlloc(Addr *p_o, Pool pool, Size size)
{
  MFS mfs = PoolMFS(pool);
  void *unit;
  AVER(MFSCheck(mfs));
  /* Every block of an MFS pool is one unit: the client passes the unit
   * size (as given at creation; init rounded it up to the alignment). */
  AVER(SizeAlignUp(size, pool->align) == mfs->unit_size);
  if (size > mfs->unit_size)
    return MPS_RES_PARAM;
  if (mfs->free_list == NULL) {
    Seg seg;
    Addr p;
    Res res = SegAlloc(&seg, pool->arena, pool, NULL, mfs->extend_by,
                       ZoneSetEMPTY);
    if (res != MPS_RES_OK)
      return res;
    RingAppend(&mfs->segs, &seg->pgen_ring);
    seg->used = seg->limit;
    /* Thread the new units onto the free list, lowest first. */
    for (p = seg->limit; AddrOffset(seg->base, p) >= mfs->unit_size;) {
      p -= mfs->unit_size;
      *(void **)(void *)p = mfs->free_list;
      mfs->free_list = p;
      ++mfs->free_units;
    }
  }
  unit = mfs->free_list;
  mfs->free_list = *(void **)unit;
  --mfs->free_units;
  ++mfs->used_units;
  *p_o = unit;
  return MPS_RES_OK;
}

static void mfsFree(Pool pool, Addr p, Size size)
{
  MFS mfs = PoolMFS(pool);
  AVER(MFSCheck(mfs));
  AVER(SizeAlignUp(size, pool->align) == mfs->unit_size);
  AVER(SegOfAddr(pool->arena, p) != NULL &&
       SegOfAddr(pool->arena, p)->pool == pool);
  (void)size;
  *(void **)(void *)p = mfs->free_list;
  mfs->free_list = p;
  ++mfs->free_units;
  --mfs->used_units;
}

/* All of the pool's memory but the units in use: the bytes at the
 * bottom of each segment too small for a unit count as free (lost to
 * fragmentation, as the manual counts them), so that the free size is
 * the total once every unit is freed. */
static Size mfsFreeSize(Pool pool)
{
  MFS mfs = PoolMFS(pool);
  return pool->total_size - mfs->used_units * mfs->unit_size;
}

/* mps_pool_create(&pool, arena, mps_class_mfs(), extend_size, unit_size)
 * (DESIGN.md#varargs). */
static void mfsVarargs(mps_arg_s args[MPS_ARGS_MAX], va_list varargs)
{
  args[0].key = MPS_KEY_EXTEND_BY;
  args[0].val.size = va_arg(varargs, size_t);
  args[1].key = MPS_KEY_MFS_UNIT_SIZE;
  args[1].val.size = va_arg(varargs, size_t);
  args[2].key = MPS_KEY_ARGS_END;
}

const struct mps_pool_class_s MFSPoolClass = {
    .sig = PoolClassSig, .name = "MFS", .size = sizeof(MFSStruct),
    .automatic = FALSE, .moving = FALSE, .init = mfsInit,
    .finish = mfsFinish, .alloc = mfsAlloc, .free = mfsFree,
    .free_size = mfsFreeSize, .varargs = mfsVarargs};

mps_pool_class_t mps_class_mfs(void)
{
  return (mps_pool_class_t)&MFSPoolClass;
}
