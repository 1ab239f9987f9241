/* poolamc.c: AMC and AMCZ, the automatic mostly-copying pools
 *
 * Objects are allocated through allocation points into nursery segments.
 * When a generation is condemned, every object reachable by exact
 * references is copied to a segment of the next generation (Cheney: the
 * copies are scanned in the order they were made), and the condemned
 * segments are freed.  A segment hit by an ambiguous reference, a segment
 * a mutator buffer is attached to, and a segment holding a large object
 * are instead retained whole, in place ("nailed"), scanned, and promoted.
 * AMCZ is AMC for objects without references: its segments are never
 * scanned.  See DESIGN.md#amc and DESIGN.md#pinning.
 */

#include <stdlib.h>
#include <string.h>

#include "mpm.h"
#include "args.h"
#include "mpscamc.h"

#define AMC_DEFAULT_EXTEND_BY ((Size)8192)
#define AMC_DEFAULT_LARGE_SIZE ((Size)32768)

#define PoolAMC(pool) ((AMC)(void *)(pool))

static Res amcInitCommon(Pool pool, mps_arg_s args[], Bool leaf)
{
  AMC amc = PoolAMC(pool);
  Arena arena = pool->arena;
  mps_arg_s arg;
  Format format;
  Chain chain = arena->default_chain;
  size_t i;

  if (!ArgPick(&arg, args, MPS_KEY_FORMAT) || arg.val.format == NULL)
    return MPS_RES_PARAM;
  format = arg.val.format;
  if (!FormatCheck(format) || format->arena != arena)
    return MPS_RES_PARAM;
  /* AMC needs scan, skip, fwd, isfwd and pad; AMCZ all but scan.  (isfwd
   * has no default that could stand in for the client's.) */
  if ((!leaf && !format->scan_given) || !format->skip_given ||
      !format->fwd_given || !format->pad_given)
    return MPS_RES_PARAM;
  if (ArgPick(&arg, args, MPS_KEY_CHAIN) && arg.val.chain != NULL)
    chain = arg.val.chain;
  if (!ChainCheck(chain) || chain->arena != arena)
    return MPS_RES_PARAM;
  amc->interior = TRUE;
  if (ArgPick(&arg, args, MPS_KEY_INTERIOR))
    amc->interior = arg.val.b != 0;
  amc->extend_by = AMC_DEFAULT_EXTEND_BY;
  if (ArgPick(&arg, args, MPS_KEY_EXTEND_BY) && arg.val.size > 0)
    amc->extend_by = arg.val.size;
  amc->extend_by = SizeAlignUp(amc->extend_by, arena->grain);
  amc->large_size = AMC_DEFAULT_LARGE_SIZE;
  if (ArgPick(&arg, args, MPS_KEY_LARGE_SIZE) && arg.val.size > 0)
    amc->large_size = arg.val.size;

  amc->gen_count = chain->gen_count + 1;
  amc->pgens = calloc(amc->gen_count, sizeof *amc->pgens);
  if (amc->pgens == NULL)
    return MPS_RES_MEMORY;
  for (i = 0; i < amc->gen_count; ++i) {
    Gen gen = i < chain->gen_count ? &chain->gens[i] : &arena->top_gen;
    PoolGenInit(&amc->pgens[i], pool, gen);
  }
  for (i = 0; i + 1 < amc->gen_count; ++i)
    amc->pgens[i].next = &amc->pgens[i + 1];

  pool->format = format;
  pool->chain = chain;
  pool->align = format->align;
  pool->ranks = leaf ? RankSetEMPTY : RankSetSingle(RankEXACT);
  ++format->pools;
  ++chain->pools;
  return MPS_RES_OK;
}

static Res amcInit(Pool pool, mps_arg_s args[])
{
  return amcInitCommon(pool, args, FALSE);
}

static Res amczInit(Pool pool, mps_arg_s args[])
{
  return amcInitCommon(pool, args, TRUE);
}

static void amcFinish(Pool pool)
{
  AMC amc = PoolAMC(pool);
  size_t i;
  for (i = 0; i < amc->gen_count; ++i) {
    PoolGen pgen = &amc->pgens[i];
    while (!RingIsSingle(&pgen->segs))
      SegFree(RING_ELT(Seg, pgen_ring, pgen->segs.next));
    PoolGenFinish(pgen);
  }
  free(amc->pgens);
  --pool->format->pools;
  --pool->chain->pools;
}

/* Buffers ------------------------------------------------------------- */

static Res amcBufferFill(Addr *base_o, Addr *limit_o, Pool pool,
                         Buffer buffer, Size size)
{
  AMC amc = PoolAMC(pool);
  Arena arena = pool->arena;
  PoolGen pgen = &amc->pgens[0];
  Bool large = size >= amc->large_size;
  Size seg_size = SizeAlignUp(size, arena->grain);
  Seg seg;
  Res res;

  if (seg_size < size)
    return MPS_RES_RESOURCE; /* size overflowed */
  if (!large && seg_size < amc->extend_by)
    seg_size = amc->extend_by;
  res = SegAlloc(&seg, arena, pool, pgen, seg_size, pgen->gen->zones);
  if (res != MPS_RES_OK)
    return res;
  seg->large = large;
  seg->buffer = buffer;
  buffer->seg = seg;
  if (!buffer->hash_arrays)
    pgen->gen->new_size += seg_size;
  arena->allocated_since_full += seg_size;
  *base_o = seg->base;
  *limit_o = seg->limit;
  return MPS_RES_OK;
}

static void amcBufferEmpty(Pool pool, Buffer buffer)
{
  Seg seg = buffer->seg;
  (void)pool;
  AVERT(Seg, seg);
  AVER(seg->buffer == buffer);
  seg->used = (Addr)buffer->ap.init;
  seg->buffer = NULL;
}

/* Tracing ------------------------------------------------------------- */

static void amcNail(Trace trace, Seg seg)
{
  if (!seg->nailed) {
    seg->nailed = 1;
    if (seg->ranks != RankSetEMPTY)
      TraceGreySeg(trace, seg);
  }
}

static void amcCondemn(Pool pool, Trace trace, Seg seg)
{
  (void)pool;
  seg->condemned = 1;
  seg->scanned = seg->base;
  trace->white |= ZoneSetOfRange(trace->arena, seg->base, seg->limit);
  trace->condemned += AddrOffset(seg->base, SegWalkLimit(seg));
  ++trace->segs_condemned;
}

/* Find room for a copy of `size` bytes in pgen's forwarding segment. */
static Res amcForwardAlloc(Addr *base_o, Trace trace, Pool pool,
                           PoolGen pgen, Size size)
{
  Seg seg = pgen->fwd_seg;
  if (seg == NULL || AddrOffset(seg->used, seg->limit) < size) {
    AMC amc = PoolAMC(pool);
    Arena arena = pool->arena;
    Size seg_size = SizeAlignUp(size, arena->grain);
    ZoneSet pref = pgen->gen->zones & ~trace->white;
    Res res;
    if (seg_size < amc->extend_by)
      seg_size = amc->extend_by;
    res = SegAlloc(&seg, arena, pool, pgen, seg_size,
                   pref != ZoneSetEMPTY ? pref : pgen->gen->zones);
    if (res != MPS_RES_OK)
      return res;
    seg->forwarding = 1;
    pgen->fwd_seg = seg;
  }
  *base_o = seg->used;
  seg->used = AddrAdd(seg->used, size);
  if (seg->ranks != RankSetEMPTY && !seg->grey)
    TraceGreySeg(trace, seg);
  return MPS_RES_OK;
}

/* Is `ref` the client pointer of an object in the segment? */
static Bool amcIsObject(Seg seg, Addr ref)
{
  Format format = seg->pool->format;
  Size header = format->header;
  Addr limit = SegWalkLimit(seg);
  Addr p = AddrAdd(seg->base, header);
  while (p - header < limit) {
    if (p == ref)
      return TRUE;
    if (p > ref)
      return FALSE;
    p = format->skip(p);
  }
  return FALSE;
}

static Res amcFix(Pool pool, Trace trace, Seg seg, mps_addr_t *ref_io)
{
  AMC amc = PoolAMC(pool);
  Format format = pool->format;
  Addr ref = *ref_io, moved, base;
  Size size;
  Res res;

  if (trace->rank == RankAMBIG) {
    /* DESIGN.md#pinning: an ambiguous reference to an object (or, with
     * interior pointers, anywhere inside one, header included) retains
     * and pins its whole segment. */
    if (ref >= SegWalkLimit(seg))
      return MPS_RES_OK; /* unallocated tail: harmless */
    if (amc->interior || amcIsObject(seg, ref)) {
      if (!seg->pinned) {
        seg->pinned = 1;
        ++trace->segs_pinned;
      }
      amcNail(trace, seg);
    }
    return MPS_RES_OK;
  }

  moved = format->isfwd(ref);
  if (moved != NULL) {
    *ref_io = moved;
    return MPS_RES_OK;
  }
  if (seg->nailed)
    return MPS_RES_OK; /* retained in place */
  if (trace->rank == RankWEAK) {
    *ref_io = NULL; /* the target is dead: splat */
    return MPS_RES_OK;
  }
  if (seg->large) {
    amcNail(trace, seg);
    return MPS_RES_OK;
  }

  size = AddrOffset(ref, format->skip(ref));
  res = amcForwardAlloc(&base, trace, pool, seg->pgen->next, size);
  if (res != MPS_RES_OK) {
    /* No room for a copy: pin in place instead of failing
     * (DESIGN.md#emergency). */
    amcNail(trace, seg);
    return MPS_RES_OK;
  }
  memcpy(base, ref - format->header, size);
  moved = AddrAdd(base, format->header);
  format->fwd(ref, moved);
  trace->copied += size;
  ++trace->objects_moved;
  seg->pgen->next->gen->new_size += size;
  *ref_io = moved;
  return MPS_RES_OK;
}

static Bool amcIsAlive(Pool pool, Trace trace, Seg seg, Addr ref)
{
  (void)trace;
  return seg->nailed || pool->format->isfwd(ref) != NULL;
}

/* After the trace: retained segments lose their forwarding markers (they
 * become pads) and are promoted; the others are freed, except that a
 * segment with a mutator buffer attached must stay where it is: the
 * mutator may still be writing a reserved block above the flip's init.
 * Its objects below that point are dead or copied; one pad replaces them
 * all (DESIGN.md#buffers). */
static void amcReclaim(Pool pool, Trace trace, Seg seg)
{
  Format format = pool->format;
  if (!seg->nailed && seg->buffer != NULL) {
    Addr limit = SegWalkLimit(seg);
    if (limit > seg->base)
      format->pad(seg->base, AddrOffset(seg->base, limit));
    seg->condemned = 0;
    return;
  }
  if (seg->nailed) {
    Size header = format->header;
    Addr limit = SegWalkLimit(seg);
    Addr p = AddrAdd(seg->base, header);
    while ((Addr)(p - header) < limit) {
      Addr next = format->skip(p);
      if (format->isfwd(p) != NULL)
        format->pad(p - header, AddrOffset(p, next));
      p = next;
    }
    trace->preserved += AddrOffset(seg->base, limit);
    seg->condemned = 0;
    seg->nailed = 0;
    seg->pinned = 0;
    if (seg->pgen->next != seg->pgen)
      seg->pgen->next->gen->new_size += SegSize(seg);
    SegSetPoolGen(seg, seg->pgen->next);
    return;
  }
  seg->condemned = 0;
  SegFree(seg);
}

static void amcTraceEnd(Pool pool, Trace trace)
{
  AMC amc = PoolAMC(pool);
  size_t i;
  (void)trace;
  for (i = 0; i < amc->gen_count; ++i) {
    PoolGen pgen = &amc->pgens[i];
    Ring node, next;
    pgen->fwd_seg = NULL;
    RING_FOR(node, &pgen->segs, next) {
      Seg seg = RING_ELT(Seg, pgen_ring, node);
      seg->forwarding = 0;
      seg->grey = 0;
      seg->grey_next = NULL;
    }
  }
}

const struct mps_pool_class_s AMCPoolClass = {
    PoolClassSig,    "AMC",          sizeof(AMCStruct), TRUE,
    TRUE,            amcInit,        amcFinish,         amcBufferFill,
    amcBufferEmpty,  amcFix,         amcIsAlive,        amcCondemn,
    amcReclaim,      amcTraceEnd,    NULL,              NULL};

const struct mps_pool_class_s AMCZPoolClass = {
    PoolClassSig,    "AMCZ",         sizeof(AMCStruct), TRUE,
    TRUE,            amczInit,       amcFinish,         amcBufferFill,
    amcBufferEmpty,  amcFix,         amcIsAlive,        amcCondemn,
    amcReclaim,      amcTraceEnd,    NULL,              NULL};

mps_pool_class_t mps_class_amc(void)
{
  return (mps_pool_class_t)&AMCPoolClass;
}

mps_pool_class_t mps_class_amcz(void)
{
  return (mps_pool_class_t)&AMCZPoolClass;
}
