/* poolmvff.c: MVFF, manual variable-size first fit
 *
 * Free memory is a set of address ranges kept sorted by address in an
 * array, coalesced with their neighbours when they lie in the same
 * segment.  mps_alloc takes the lowest (MPS_KEY_MVFF_FIRST_FIT true) or
 * highest suitable range and carves the block from its low end, or its
 * high end with MPS_KEY_MVFF_SLOT_HIGH.  Allocation points are filled
 * worst fit (the largest range).  Whole free segments beyond the spare
 * fraction go back to the arena.  See DESIGN.md#mvff.
 */

#include <stdlib.h>
#include <string.h>

#include "mpm.h"
#include "args.h"
#include "mpscmvff.h"
#include "poolmvff.h"
#include "dbgpool.h"

#define MVFF_DEFAULT_EXTEND_BY ((Size)64 << 10)


Bool MVFFCheck(MVFF mvff)
{
  Size i;
  if (mvff == NULL || mvff->sig != MVFFSig || mvff->count > mvff->capacity)
    return FALSE;
  for (i = 0; i < mvff->count; ++i)
    if (mvff->ranges[i].base >= mvff->ranges[i].limit ||
        (i > 0 && mvff->ranges[i - 1].limit > mvff->ranges[i].base))
      return FALSE;
  return TRUE;
}

void MVFFInitRanges(MVFF mvff)
{
  mvff->ranges = NULL;
  mvff->count = mvff->capacity = 0;
  mvff->free_size = 0;
  mvff->reserve = 0;
  mvff->over_spare = FALSE;
  mvff->fill_low_above = 2.0; /* never: buffers are filled worst fit */
  mvff->debug = NULL;
  RingInit(&mvff->segs);
  mvff->sig = MVFFSig;
}

Res MVFFInit(Pool pool, mps_arg_s args[])
{
  MVFF mvff = PoolMVFF(pool);
  Arena arena = pool->arena;
  mps_arg_s arg;
  Size align = sizeof(Word);
  mvff->extend_by = MVFF_DEFAULT_EXTEND_BY;
  mvff->mean_size = 32;
  mvff->arena_high = FALSE;
  mvff->slot_high = FALSE;
  mvff->first_fit = TRUE;
  mvff->spare = 0.75;
  if (ArgPick(&arg, args, MPS_KEY_EXTEND_BY) && arg.val.size > 0)
    mvff->extend_by = arg.val.size;
  if (ArgPick(&arg, args, MPS_KEY_MEAN_SIZE) && arg.val.size > 0)
    mvff->mean_size = arg.val.size;
  if (ArgPick(&arg, args, MPS_KEY_ALIGN))
    align = arg.val.align;
  if (!IsPow2(align) || align < sizeof(void *) || align > arena->grain)
    return MPS_RES_PARAM;
  if (ArgPick(&arg, args, MPS_KEY_SPARE)) {
    if (!(arg.val.d >= 0.0 && arg.val.d <= 1.0))
      return MPS_RES_PARAM;
    mvff->spare = arg.val.d;
  }
  if (ArgPick(&arg, args, MPS_KEY_MVFF_ARENA_HIGH))
    mvff->arena_high = arg.val.b != 0;
  pool->arena_high = mvff->arena_high;
  if (ArgPick(&arg, args, MPS_KEY_MVFF_SLOT_HIGH))
    mvff->slot_high = arg.val.b != 0;
  if (ArgPick(&arg, args, MPS_KEY_MVFF_FIRST_FIT))
    mvff->first_fit = arg.val.b != 0;
  pool->align = align;
  mvff->extend_by = SizeAlignUp(mvff->extend_by, arena->grain);
  MVFFInitRanges(mvff);
  return MPS_RES_OK;
}

void MVFFFinish(Pool pool)
{
  MVFF mvff = PoolMVFF(pool);
  AVER(MVFFCheck(mvff));
  while (!RingIsSingle(&mvff->segs))
    SegFree(RING_ELT(Seg, pgen_ring, mvff->segs.next));
  free(mvff->ranges);
  mvff->sig = SigInvalid;
}

/* Free ranges ------------------------------------------------------------ */

/* Index of the first range whose base is >= addr. */
static Size rangeSearch(MVFF mvff, Addr addr)
{
  Size lo = 0, hi = mvff->count;
  while (lo < hi) {
    Size mid = (lo + hi) / 2;
    if (mvff->ranges[mid].base < addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static Bool sameSeg(Pool pool, Addr a, Addr b)
{
  return SegOfAddr(pool->arena, a) == SegOfAddr(pool->arena, b);
}

static void rangeDelete(MVFF mvff, Size i)
{
  memmove(&mvff->ranges[i], &mvff->ranges[i + 1],
          (mvff->count - i - 1) * sizeof *mvff->ranges);
  --mvff->count;
}

/* Room for one more range. */
static Bool rangeReserve(MVFF mvff)
{
  Size capacity;
  RangeStruct *r;
  if (mvff->count < mvff->capacity)
    return TRUE;
  capacity = mvff->capacity == 0 ? 16 : mvff->capacity * 2;
  r = realloc(mvff->ranges, capacity * sizeof *r);
  if (r == NULL)
    return FALSE;
  mvff->ranges = r;
  mvff->capacity = capacity;
  return TRUE;
}

/* Add [base, limit) to the free ranges, coalescing within a segment. */
static Res rangeInsert(MVFF mvff, Addr base, Addr limit)
{
  Pool pool = &mvff->pool;
  Size i = rangeSearch(mvff, base);
  Bool join_prev = i > 0 && mvff->ranges[i - 1].limit == base &&
                   sameSeg(pool, mvff->ranges[i - 1].base, base);
  Bool join_next = i < mvff->count && mvff->ranges[i].base == limit &&
                   sameSeg(pool, base, limit);
  AVER(i == 0 || mvff->ranges[i - 1].limit <= base);
  AVER(i == mvff->count || limit <= mvff->ranges[i].base);
  mvff->free_size += AddrOffset(base, limit);
  if (join_prev && join_next) {
    mvff->ranges[i - 1].limit = mvff->ranges[i].limit;
    rangeDelete(mvff, i);
  } else if (join_prev) {
    mvff->ranges[i - 1].limit = limit;
  } else if (join_next) {
    mvff->ranges[i].base = base;
  } else {
    if (!rangeReserve(mvff)) {
      mvff->free_size -= AddrOffset(base, limit);
      return MPS_RES_MEMORY;
    }
    memmove(&mvff->ranges[i + 1], &mvff->ranges[i],
            (mvff->count - i) * sizeof *mvff->ranges);
    mvff->ranges[i].base = base;
    mvff->ranges[i].limit = limit;
    ++mvff->count;
  }
  return MPS_RES_OK;
}

/* Take [base, base + size) out of range i. */
static void rangeTake(MVFF mvff, Size i, Addr base, Size size)
{
  RangeStruct *r = &mvff->ranges[i];
  Addr limit = AddrAdd(base, size);
  AVER(r->base <= base && limit <= r->limit);
  mvff->free_size -= size;
  if (r->base == base && r->limit == limit) {
    rangeDelete(mvff, i);
  } else if (r->base == base) {
    r->base = limit;
  } else if (r->limit == limit) {
    r->limit = base;
  } else {
    /* Split: never needed by the callers here, who carve from an end. */
    NOTREACHED;
  }
}

static Res mvffExtend(MVFF mvff, Size size)
{
  Pool pool = &mvff->pool;
  Size seg_size = SizeAlignUp(size, pool->arena->grain);
  Seg seg;
  Res res;
  if (seg_size < size)
    return MPS_RES_RESOURCE;
  if (seg_size < mvff->extend_by)
    seg_size = mvff->extend_by;
  res = SegAlloc(&seg, pool->arena, pool, NULL, seg_size, ZoneSetEMPTY);
  if (res != MPS_RES_OK)
    return res;
  RingAppend(&mvff->segs, &seg->pgen_ring);
  seg->used = seg->limit;
  if (mvff->debug != NULL)
    PoolDebugSplat(mvff->debug, seg->base, seg->limit);
  res = rangeInsert(mvff, seg->base, seg->limit);
  if (res != MPS_RES_OK)
    SegFree(seg);
  return res;
}

static Bool mvffOverSpare(MVFF mvff)
{
  Pool pool = &mvff->pool;
  return mvff->free_size > mvff->reserve &&
         (double)mvff->free_size > mvff->spare * (double)pool->total_size;
}

/* Return what range i holds of whole pages to the arena: its segment if
 * the range is all of it, else the pages inside it, splitting the
 * segment (SegFreePart).  Range i is replaced by what is left of it below
 * and above those pages (no range, one or two). */
static void mvffReturnRange(MVFF mvff, Size i)
{
  Arena arena = mvff->pool.arena;
  RangeStruct r = mvff->ranges[i];
  Addr base = AddrAlignUp(r.base, arena->grain);
  Addr limit = AddrAlignDown(r.limit, arena->grain);
  Seg seg;
  if (base >= limit)
    return;
  /* A range lies in one segment (rangeInsert coalesces within one). */
  seg = SegOfAddr(arena, base);
  if (seg == NULL || seg->buffer != NULL)
    return;
  if (seg->base == r.base && seg->limit == r.limit) {
    rangeTake(mvff, i, r.base, AddrOffset(r.base, r.limit));
    SegFree(seg);
    return;
  }
  if (!rangeReserve(mvff) ||
      SegFreePart(seg, base, limit) != MPS_RES_OK)
    return;
  /* Range i becomes what lies below and above the pages returned. */
  mvff->free_size -= AddrOffset(base, limit);
  if (r.base < base && limit < r.limit) {
    memmove(&mvff->ranges[i + 2], &mvff->ranges[i + 1],
            (mvff->count - i - 1) * sizeof *mvff->ranges);
    ++mvff->count;
    mvff->ranges[i].limit = base;
    mvff->ranges[i + 1].base = limit;
    mvff->ranges[i + 1].limit = r.limit;
    return;
  }
  if (r.base < base)
    mvff->ranges[i].limit = base;
  else if (limit < r.limit)
    mvff->ranges[i].base = limit;
  else
    rangeDelete(mvff, i);
}

/* After freeing the block at p: return free memory to the arena while it
 * exceeds the spare fraction of the pool, in whole pages (whole segments,
 * or pages inside a segment, which is split).  When the pool goes over
 * its spare fraction, every range is looked at, the highest first; while
 * it stays over, only the range that holds p changed since.  Until
 * 2026-12-07 only wholly free segments went back: after freeing nine
 * blocks in ten at random, a pool with spare 0 still held 86% of its
 * memory free (DESIGN.md#mvff). */
static void mvffReturnSpare(MVFF mvff, Addr p)
{
  Bool was_over = mvff->over_spare;
  if (!mvffOverSpare(mvff)) {
    mvff->over_spare = FALSE;
    return;
  }
  if (was_over) {
    Size i = rangeSearch(mvff, AddrAdd(p, 1));
    if (i > 0 && mvff->ranges[i - 1].base <= p &&
        p < mvff->ranges[i - 1].limit)
      mvffReturnRange(mvff, i - 1);
  } else {
    Size i;
    for (i = mvff->count; i-- > 0 && mvffOverSpare(mvff);)
      mvffReturnRange(mvff, i);
  }
  mvff->over_spare = mvffOverSpare(mvff);
}

/* Manual allocation ------------------------------------------------------ */

static Bool mvffFind(Size *i_o, MVFF mvff, Size size)
{
  Size i;
  if (mvff->first_fit) {
    for (i = 0; i < mvff->count; ++i)
      if (AddrOffset(mvff->ranges[i].base, mvff->ranges[i].limit) >= size) {
        *i_o = i;
        return TRUE;
      }
  } else {
    for (i = mvff->count; i-- > 0;)
      if (AddrOffset(mvff->ranges[i].base, mvff->ranges[i].limit) >= size) {
        *i_o = i;
        return TRUE;
      }
  }
  return FALSE;
}

Res MVFFAlloc(Addr *p_o, Pool pool, Size size)
{
  MVFF mvff = PoolMVFF(pool);
  Size i;
  Addr p;
  AVER(MVFFCheck(mvff));
  if (!mvffFind(&i, mvff, size)) {
    Res res = mvffExtend(mvff, size);
    if (res != MPS_RES_OK)
      return res;
    if (!mvffFind(&i, mvff, size))
      return MPS_RES_FAIL;
  }
  if (mvff->slot_high)
    p = mvff->ranges[i].limit - size;
  else
    p = mvff->ranges[i].base;
  rangeTake(mvff, i, p, size);
  *p_o = p;
  return MPS_RES_OK;
}

void MVFFFree(Pool pool, Addr p, Size size)
{
  MVFF mvff = PoolMVFF(pool);
  Seg seg = SegOfAddr(pool->arena, p);
  AVER(MVFFCheck(mvff));
  AVER(seg != NULL && seg->pool == pool && AddrAdd(p, size) <= seg->limit);
  (void)seg;
  /* Without memory to record the range, the block is lost, not freed
   * twice. */
  if (rangeInsert(mvff, p, AddrAdd(p, size)) == MPS_RES_OK)
    mvffReturnSpare(mvff, p);
}

/* Allocation points: the largest range (worst fit). */

Res MVFFBufferFill(Addr *base_o, Addr *limit_o, Pool pool, Buffer buffer,
                   Size size)
{
  MVFF mvff = PoolMVFF(pool);
  Size i, best = 0;
  Bool found = FALSE;
  RangeStruct r;
  /* Lowest fitting range instead when the pool is fragmented beyond
   * fill_low_above (MVT's fragmentation limit, DESIGN.md#mvt). */
  Bool low = (double)mvff->free_size >
             mvff->fill_low_above * (double)pool->total_size;
  for (i = 0; i < mvff->count; ++i) {
    Size s = AddrOffset(mvff->ranges[i].base, mvff->ranges[i].limit);
    if (s >= size &&
        (!found || s > AddrOffset(mvff->ranges[best].base,
                                  mvff->ranges[best].limit))) {
      best = i;
      found = TRUE;
      if (low)
        break;
    }
  }
  if (!found) {
    Res res = mvffExtend(mvff, size);
    if (res != MPS_RES_OK)
      return res;
    return MVFFBufferFill(base_o, limit_o, pool, buffer, size);
  }
  r = mvff->ranges[best];
  /* A debug pool's free memory is splatted: a write into it while it
   * was free shows now (DESIGN.md#debug). */
  if (mvff->debug != NULL &&
      !PoolDebugSplatIntact(mvff->debug, r.base, r.limit))
    AssertFail(__FILE__, __LINE__,
               "debug pool: free memory was overwritten (a write to a "
               "freed block), found when an allocation point was "
               "refilled from it");
  rangeTake(mvff, best, r.base, AddrOffset(r.base, r.limit));
  /* Several buffers may share a segment: the segment does not point
   * back to any of them. */
  buffer->seg = SegOfAddr(pool->arena, r.base);
  *base_o = r.base;
  *limit_o = r.limit;
  return MPS_RES_OK;
}

void MVFFBufferEmpty(Pool pool, Buffer buffer)
{
  MVFF mvff = PoolMVFF(pool);
  Addr init = (Addr)buffer->ap.init;
  if (init < buffer->limit) {
    if (mvff->debug != NULL)
      PoolDebugSplat(mvff->debug, init, buffer->limit);
    (void)rangeInsert(mvff, init, buffer->limit);
  }
}

Size MVFFFreeSize(Pool pool)
{
  return PoolMVFF(pool)->free_size;
}

/* mps_pool_create(&pool, arena, mps_class_mvff(), extend_size,
 * average_size, alignment, slot_high, arena_high, first_fit)
 * (DESIGN.md#varargs). */
void MVFFVarargs(mps_arg_s *args, va_list varargs)
{
  args[0].key = MPS_KEY_EXTEND_BY;
  args[0].val.size = va_arg(varargs, size_t);
  args[1].key = MPS_KEY_MEAN_SIZE;
  args[1].val.size = va_arg(varargs, size_t);
  args[2].key = MPS_KEY_ALIGN;
  args[2].val.align = va_arg(varargs, mps_align_t);
  args[3].key = MPS_KEY_MVFF_SLOT_HIGH;
  args[3].val.b = va_arg(varargs, mps_bool_t);
  args[4].key = MPS_KEY_MVFF_ARENA_HIGH;
  args[4].val.b = va_arg(varargs, mps_bool_t);
  args[5].key = MPS_KEY_MVFF_FIRST_FIT;
  args[5].val.b = va_arg(varargs, mps_bool_t);
  args[6].key = MPS_KEY_ARGS_END;
}

const struct mps_pool_class_s MVFFPoolClass = {
    .sig = PoolClassSig, .name = "MVFF", .size = sizeof(MVFFStruct),
    .automatic = FALSE, .moving = FALSE, .init = MVFFInit,
    .finish = MVFFFinish, .alloc = MVFFAlloc, .free = MVFFFree,
    .buffer_fill = MVFFBufferFill, .buffer_empty = MVFFBufferEmpty,
    .free_size = MVFFFreeSize, .varargs = MVFFVarargs};

mps_pool_class_t mps_class_mvff(void)
{
  return (mps_pool_class_t)&MVFFPoolClass;
}
