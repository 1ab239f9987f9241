/* segms.c: mark-sweep segments, shared by AMS, AWL and LO
 *
 * The non-moving automatic pools keep three bit tables per segment, one
 * bit per alignment grain: allocated (the grain belongs to an object or to
 * an attached buffer), marked (the object starting there is alive this
 * trace) and grey (marked, not yet scanned).  Free space is simply the
 * grains whose allocated bit is clear: it needs no pad objects, so the
 * format needs no pad method, and the walkers skip it (seg.c, SegAreas).
 * Allocation points are filled from free runs of existing segments first.
 * A trace marks what it reaches, scans what it marked, and sweeps:
 * unmarked objects of condemned segments become free grains, and a
 * segment left empty returns to the arena.  See DESIGN.md#mark-sweep.
 */

#include <stdlib.h>

#include "mpm.h"
#include "args.h"
#include "bt.h"
#include "segms.h"
#include "dbgpool.h"

#define MS_DEFAULT_EXTEND_BY ((Size)64 << 10)

Bool MSCheck(MS ms)
{
  Pool pool = &ms->pool;
  return PoolCheck(pool) && pool->gen_count == 1 &&
         pool->pgens == &ms->pgen && ms->extend_by > 0;
}

Res MSInit(Pool pool, mps_arg_s args[], RankSet ranks, Bool need_scan)
{
  MS ms = PoolMS(pool);
  Arena arena = pool->arena;
  mps_arg_s arg;
  Format format;
  Chain chain = arena->default_chain;
  unsigned gen = 0;

  if (!ArgPick(&arg, args, MPS_KEY_FORMAT) || arg.val.format == NULL)
    return MPS_RES_PARAM;
  format = arg.val.format;
  if (!FormatCheck(format) || format->arena != arena ||
      !FormatBindFixed(format, args) || !format->skip_given ||
      (need_scan && !format->scan_given))
    return MPS_RES_PARAM;
  if (ArgPick(&arg, args, MPS_KEY_CHAIN) && arg.val.chain != NULL)
    chain = arg.val.chain;
  if (!ChainCheck(chain) || chain->arena != arena)
    return MPS_RES_PARAM;
  if (ArgPick(&arg, args, MPS_KEY_GEN))
    gen = arg.val.u;
  if (gen >= chain->gen_count)
    return MPS_RES_PARAM;
  ms->extend_by = MS_DEFAULT_EXTEND_BY;
  if (ArgPick(&arg, args, MPS_KEY_EXTEND_BY) && arg.val.size > 0)
    ms->extend_by = arg.val.size;
  ms->extend_by = SizeAlignUp(ms->extend_by, arena->grain);

  /* One pool generation; survivors stay in it (no promotion). */
  PoolGenInit(&ms->pgen, pool, &chain->gens[gen]);
  pool->gen_count = 1;
  pool->pgens = &ms->pgen;
  pool->format = format;
  pool->chain = chain;
  pool->align = format->align;
  pool->ranks = ranks;
  ++format->pools;
  ++chain->pools;
  return MPS_RES_OK;
}

void MSFinish(Pool pool)
{
  MS ms = PoolMS(pool);
  while (!RingIsSingle(&ms->pgen.segs))
    SegFree(RING_ELT(Seg, pgen_ring, ms->pgen.segs.next));
  PoolGenFinish(&ms->pgen);
  --pool->format->pools;
  --pool->chain->pools;
}

static Size msGrains(Seg seg)
{
  return SegSize(seg) >> SegGrainShift(seg);
}

static Size msIndex(Seg seg, Addr addr)
{
  return AddrOffset(seg->base, addr) >> SegGrainShift(seg);
}

static Addr msAddr(Seg seg, Size i)
{
  return AddrAdd(seg->base, i << SegGrainShift(seg));
}

static Res msSegCreate(Seg *seg_o, Pool pool, Size size, RankSet ranks)
{
  MS ms = PoolMS(pool);
  Seg seg;
  Size words, bytes;
  Res res = SegAlloc(&seg, pool->arena, pool, &ms->pgen, size,
                     ms->pgen.gen->zones);
  if (res != MPS_RES_OK)
    return res;
  words = BTWords(msGrains(seg));
  bytes = SizeAlignUp(3 * words * sizeof(Word), VMPageSize());
  seg->marks = ControlAllocRaw(bytes); /* zeroed: nothing allocated */
  if (seg->marks == NULL) {
    SegFree(seg);
    return MPS_RES_MEMORY;
  }
  seg->greys = seg->marks + words;
  seg->alloc_bits = seg->greys + words;
  seg->ms_bits_bytes = bytes;
  pool->arena->committed += bytes;
  pool->arena->control_committed += bytes;
  seg->ranks = ranks;
  seg->used = seg->limit; /* free space is found by the bit table */
  seg->free_bytes = SegSize(seg);
  if (ms->debug != NULL)
    PoolDebugSplat(ms->debug, seg->base, seg->limit);
  *seg_o = seg;
  return MPS_RES_OK;
}

/* Buffers --------------------------------------------------------------- */

Res MSBufferFill(Addr *base_o, Addr *limit_o, Pool pool, Buffer buffer,
                 Size size)
{
  MS ms = PoolMS(pool);
  RankSet ranks = pool->ranks == RankSetEMPTY ? RankSetEMPTY
                                               : RankSetSingle(buffer->rank);
  Ring node, next;
  Seg seg = NULL;
  Size i = 0, j, n;
  Res res;

  RING_FOR(node, &ms->pgen.segs, next) {
    Seg cand = RING_ELT(Seg, pgen_ring, node);
    if (cand->buffer == NULL && cand->ranks == ranks &&
        cand->free_bytes >= size &&
        BTFindClearRun(&i, cand->alloc_bits, 0, msGrains(cand),
                       size >> SegGrainShift(cand))) {
      seg = cand;
      break;
    }
  }
  if (seg == NULL) {
    Size seg_size = SizeAlignUp(size, pool->arena->grain);
    if (seg_size < size)
      return MPS_RES_RESOURCE;
    if (seg_size < ms->extend_by)
      seg_size = ms->extend_by;
    res = msSegCreate(&seg, pool, seg_size, ranks);
    if (res != MPS_RES_OK)
      return res;
    i = 0;
  }
  /* The mutator will write into it: no barrier on a buffered segment. */
  SegUnprotect(seg);
  seg->summary = ZoneSetUNIV;
  /* The buffer takes the whole free run that starts at i. */
  n = msGrains(seg);
  j = BTFindSet(seg->alloc_bits, i, n);
  /* A debug pool's free grains are splatted: a write into them while
   * they were free (into a dead object) shows now (DESIGN.md#debug). */
  if (ms->debug != NULL &&
      !PoolDebugSplatIntact(ms->debug, msAddr(seg, i), msAddr(seg, j)))
    AssertFail(__FILE__, __LINE__,
               "debug pool: free memory was written to (a write to a dead "
               "object or outside every object), found when an "
               "allocation point was refilled from it");
  BTSetRange(seg->alloc_bits, i, j);
  seg->free_bytes -= (j - i) << SegGrainShift(seg);
  seg->buffer = buffer;
  SegTouchProt(seg);
  buffer->seg = seg;
  if (!buffer->hash_arrays)
    ms->pgen.gen->new_size += (j - i) << SegGrainShift(seg);
  pool->arena->allocated_since_full += (j - i) << SegGrainShift(seg);
  *base_o = msAddr(seg, i);
  *limit_o = msAddr(seg, j);
  return MPS_RES_OK;
}

void MSBufferEmpty(Pool pool, Buffer buffer)
{
  MS ms = PoolMS(pool);
  Seg seg = buffer->seg;
  Addr init = (Addr)buffer->ap.init;
  AVERT(Seg, seg);
  if (init < buffer->limit) {
    BTClearRange(seg->alloc_bits, msIndex(seg, init),
                 msIndex(seg, buffer->limit));
    seg->free_bytes += AddrOffset(init, buffer->limit);
    if (ms->debug != NULL)
      PoolDebugSplat(ms->debug, init, buffer->limit);
  }
  seg->buffer = NULL;
  SegTouchProt(seg);
}

/* Tracing ----------------------------------------------------------------- */

void MSCondemn(Pool pool, Trace trace, Seg seg)
{
  Size words = BTWords(msGrains(seg));
  (void)pool;
  SegSetCondemned(seg, TRUE);
  BTClearRange(seg->marks, 0, words * WORD_BITS);
  BTClearRange(seg->greys, 0, words * WORD_BITS);
  trace->white |= ZoneSetOfRange(trace->arena, seg->base, seg->limit);
  trace->white_ambig |= ZoneSetOfRange(trace->arena, seg->base, seg->limit);
  trace->condemned += SegSize(seg) - seg->free_bytes;
  ++trace->segs_condemned;
}

/* Is client pointer ref the start of an object of the segment?  Only
 * client pointers count for ambiguous references to these pools. */
static Bool msIsObject(Seg seg, Addr ref)
{
  Format format = seg->pool->format;
  Size header = format->header, i, n = msGrains(seg);
  Addr base = ref - header, p;
  Addr hole = SegWalkLimit(seg);
  Addr hole_limit = seg->buffer != NULL ? seg->buffer->limit : hole;
  if (base < seg->base || base >= seg->limit ||
      !AddrIsAligned(base, seg->pool->align))
    return FALSE;
  i = msIndex(seg, base);
  if (!BTGet(seg->alloc_bits, i))
    return FALSE;
  if (seg->buffer != NULL && base >= hole && base < hole_limit)
    return FALSE; /* reserved or unused part of a buffer */
  /* Walk from the start of the allocated run containing it. */
  while (i > 0 && BTGet(seg->alloc_bits, i - 1))
    --i;
  p = msAddr(seg, i);
  if (seg->buffer != NULL && p < hole_limit && base >= hole_limit)
    p = hole_limit;
  while (p < base) {
    p = FormatSkip(format, p + header) - header;
    if (p >= hole && p < hole_limit)
      return FALSE;
  }
  (void)n;
  return p == base;
}

static void msMark(Trace trace, Seg seg, Size i)
{
  BTSet(seg->marks, i);
  if (seg->ranks != RankSetEMPTY) {
    BTSet(seg->greys, i);
    if (!seg->grey)
      TraceGreySeg(trace, seg);
  }
}

Res MSFix(Pool pool, Trace trace, Seg seg, mps_addr_t *ref_io)
{
  Addr ref = *ref_io;
  Addr base = ref - pool->format->header;
  Size i;
  if (trace->rank == RankAMBIG) {
    if (trace->pin_only)
      return MPS_RES_OK; /* nothing moves here: nothing to pin */
    if (msIsObject(seg, ref)) {
      i = msIndex(seg, base);
      if (!BTGet(seg->marks, i))
        msMark(trace, seg, i);
    }
    return MPS_RES_OK;
  }
  if (base < seg->base)
    return MPS_RES_OK; /* header spans the segment start: not an object */
  i = msIndex(seg, base);
  if (BTGet(seg->marks, i))
    return MPS_RES_OK; /* alive; it never moves */
  if (trace->rank == RankWEAK) {
    *ref_io = NULL; /* dead: splat */
    return MPS_RES_OK;
  }
  msMark(trace, seg, i);
  return MPS_RES_OK;
}

Bool MSIsAlive(Pool pool, Trace trace, Seg seg, Addr ref)
{
  Addr base = ref - pool->format->header;
  (void)trace;
  return base >= seg->base && BTGet(seg->marks, msIndex(seg, base));
}

typedef struct {
  Trace trace;
  Seg seg;
  Size scanned;
} MSScanStruct;

static void scanGreyObject(Addr client, Seg seg, void *closure)
{
  MSScanStruct *s = closure;
  Format format = seg->pool->format;
  Addr base = client - format->header;
  Size i = msIndex(seg, base);
  if (BTGet(seg->greys, i)) {
    BTClear(seg->greys, i);
    TraceScanSeg(s->trace, seg, base, FormatSkip(format, client) - format->header);
    ++s->scanned;
  }
}

void MSScan(Pool pool, Trace trace, Seg seg)
{
  MSScanStruct s;
  (void)pool;
  if (!seg->condemned) {
    TraceScanSegWhole(trace, seg);
    return;
  }
  s.trace = trace;
  s.seg = seg;
  s.scanned = 0;
  /* Objects marked behind the walk while scanning make the segment grey
   * again, so the grey loop comes back for them. */
  SegWalkObjects(seg, scanGreyObject, &s);
}

typedef struct {
  Trace trace;
  Size kept;
} MSSweepStruct;

static void sweepObject(Addr client, Seg seg, void *closure)
{
  MSSweepStruct *s = closure;
  Format format = seg->pool->format;
  Addr base = client - format->header;
  Addr limit = FormatSkip(format, client) - format->header;
  Size i = msIndex(seg, base);
  if (BTGet(seg->marks, i)) {
    s->kept += AddrOffset(base, limit);
  } else {
    BTClearRange(seg->alloc_bits, i, msIndex(seg, limit));
    seg->free_bytes += AddrOffset(base, limit);
    if (PoolMS(seg->pool)->debug != NULL)
      PoolDebugSplat(PoolMS(seg->pool)->debug, base, limit);
  }
}

void MSReclaim(Pool pool, Trace trace, Seg seg)
{
  MSSweepStruct s;
  (void)pool;
  s.trace = trace;
  s.kept = 0;
  /* The walk computes each object's extent before the sweep clears its
   * bits, and clearing never affects objects ahead of the walk. */
  SegWalkObjects(seg, sweepObject, &s);
  trace->preserved += s.kept;
  SegSetCondemned(seg, FALSE);
  if (seg->buffer == NULL && seg->free_bytes == SegSize(seg))
    SegFree(seg);
}

void MSTraceEnd(Pool pool, Trace trace)
{
  MS ms = PoolMS(pool);
  Ring node, next;
  (void)trace;
  RING_FOR(node, &ms->pgen.segs, next) {
    Seg seg = RING_ELT(Seg, pgen_ring, node);
    AVER(!seg->grey); /* the trace's grey ring is empty */
    (void)seg;
  }
}

Size MSFreeSize(Pool pool)
{
  MS ms = PoolMS(pool);
  Ring node, next;
  Size size = 0;
  RING_FOR(node, &ms->pgen.segs, next) {
    Seg seg = RING_ELT(Seg, pgen_ring, node);
    size += seg->free_bytes;
    if (seg->buffer != NULL)
      size += AddrOffset(seg->buffer->ap.alloc, seg->buffer->limit);
  }
  return size;
}

void MSEachFreeRun(Pool pool, void (*f)(Addr base, Addr limit, void *closure),
                   void *closure)
{
  MS ms = PoolMS(pool);
  Ring node, next;
  RING_FOR(node, &ms->pgen.segs, next) {
    Seg seg = RING_ELT(Seg, pgen_ring, node);
    Size n = msGrains(seg), i = 0;
    while (i < n) {
      Size j;
      i = BTFindClear(seg->alloc_bits, i, n);
      if (i >= n)
        break;
      j = BTFindSet(seg->alloc_bits, i, n);
      f(msAddr(seg, i), msAddr(seg, j), closure);
      i = j;
    }
  }
}
