/* poolamc.c: AMC and AMCZ, the automatic mostly-copying pools
 *
 * Objects are allocated through allocation points into nursery segments.
 * When a generation is condemned, every object reachable by exact
 * references is copied to a segment of the next generation (Cheney: the
 * copies are scanned in the order they were made), and the condemned
 * segments are freed.  A segment hit by an ambiguous reference, a segment
 * a mutator buffer is attached to, and a segment holding a large object
 * are instead retained whole, in place ("nailed"), scanned, and promoted.
 * In a collection that stops the world, the youngest nursery segments
 * that are expected to survive nearly whole are marked in place instead
 * of copied (DESIGN.md#amc-in-place).  AMCZ is AMC for objects without
 * references: its segments are never scanned.  See DESIGN.md#amc and
 * DESIGN.md#pinning.
 */

#include <stdlib.h>
#include <string.h>

#include "mpm.h"
#include "args.h"
#include "mpscamc.h"
#include "mpsx.h"

#define AMC_DEFAULT_EXTEND_BY ((Size)32 << 10)
/* Copies go to bigger segments: fewer segments to manage and protect. */
#define AMC_FORWARD_SEG_SIZE ((Size)128 << 10)
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
  if (!FormatCheck(format) || format->arena != arena ||
      !FormatBindFixed(format, args))
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
  amc->in_place_window = 0;
  amc->dense_run = 0;
  amc->nursery_reclaimed = FALSE;
  amc->large_size = AMC_DEFAULT_LARGE_SIZE;
  if (ArgPick(&arg, args, MPS_KEY_LARGE_SIZE) && arg.val.size > 0)
    amc->large_size = arg.val.size;

  pool->gen_count = chain->gen_count + 1;
  pool->pgens = calloc(pool->gen_count, sizeof *pool->pgens);
  if (pool->pgens == NULL)
    return MPS_RES_MEMORY;
  for (i = 0; i < pool->gen_count; ++i) {
    Gen gen = i < chain->gen_count ? &chain->gens[i] : &arena->top_gen;
    PoolGenInit(&pool->pgens[i], pool, gen);
  }
  for (i = 0; i + 1 < pool->gen_count; ++i)
    pool->pgens[i].next = &pool->pgens[i + 1];

  pool->format = format;
  pool->chain = chain;
  pool->align = format->align;
  pool->ranks = leaf ? RankSetEMPTY : RankSetSingle(RankEXACT);
  ++format->pools;
  ++chain->pools;
  return MPS_RES_OK;
}

/* mps_pool_create(&pool, arena, class, format, chain) for AMC, AMCZ and
 * AMCX (DESIGN.md#varargs). */
static void amcVarargs(mps_arg_s args[MPS_ARGS_MAX], va_list varargs)
{
  args[0].key = MPS_KEY_FORMAT;
  args[0].val.format = va_arg(varargs, mps_fmt_t);
  args[1].key = MPS_KEY_CHAIN;
  args[1].val.chain = va_arg(varargs, mps_chain_t);
  args[2].key = MPS_KEY_ARGS_END;
}

static Res amcInit(Pool pool, mps_arg_s args[])
{
  return amcInitCommon(pool, args, FALSE);
}

static Res amczInit(Pool pool, mps_arg_s args[])
{
  return amcInitCommon(pool, args, TRUE);
}

/* AMCX: AMC in code memory (DESIGN.md#code). */
static Res amcxInit(Pool pool, mps_arg_s args[])
{
  Arena arena = pool->arena;
  mps_arg_s arg;
  Res res;
#if EXTENSIONS
  if (ArgPick(&arg, args, MPSX_KEY_CODE_RESERVE)) {
    Size reserve = SizeAlignUp(arg.val.size, arena->grain);
    if (reserve == 0 || reserve > ((Size)2 << 30))
      return MPS_RES_PARAM;
    if (arena->code_chunk == NULL)
      arena->code_reserve = reserve;
  }
#else
  (void)arg;
#endif
  res = ArenaEnsureCodeChunk(arena);
  if (res != MPS_RES_OK)
    return res;
  res = amcInitCommon(pool, args, FALSE);
  if (res == MPS_RES_OK)
    pool->exec = TRUE;
  return res;
}

static void amcFinish(Pool pool)
{
  size_t i;
  for (i = 0; i < pool->gen_count; ++i) {
    PoolGen pgen = &pool->pgens[i];
    while (!RingIsSingle(&pgen->segs))
      SegFree(RING_ELT(Seg, pgen_ring, pgen->segs.next));
    PoolGenFinish(pgen);
  }
  free(pool->pgens);
  --pool->format->pools;
  --pool->chain->pools;
}

/* Buffers ------------------------------------------------------------- */

static Res amcBufferFill(Addr *base_o, Addr *limit_o, Pool pool,
                         Buffer buffer, Size size)
{
  AMC amc = PoolAMC(pool);
  Arena arena = pool->arena;
  PoolGen pgen = &pool->pgens[0];
  Bool large = size >= amc->large_size;
  Size seg_size = SizeAlignUp(size, arena->grain);
  Seg seg;
  Res res;

  if (seg_size < size)
    return MPS_RES_RESOURCE; /* size overflowed */
  if (!large && seg_size < amc->extend_by)
    seg_size = amc->extend_by;
  /* A large object is promoted in place if it survives: it goes into
   * zones kept for large objects, neither the nursery's nor those of the
   * old generations' small objects (DESIGN.md#zones). */
  if (large)
    res = SegAllocPlaced(&seg, arena, pool, pgen, seg_size, ZoneSetEMPTY,
                         &arena->large_gen);
  else
    res = SegAlloc(&seg, arena, pool, pgen, seg_size, pgen->gen->zones);
  if (res != MPS_RES_OK)
    return res;
  seg->large = large;
  seg->buffer = buffer;
  SegTouchProt(seg);
  buffer->seg = seg;
  /* Rehash buffers and ramps do not bring the nursery's collection nearer
   * (DESIGN.md#ramps). */
  if (!buffer->hash_arrays && buffer->ramp_depth == 0)
    pgen->gen->new_size += seg_size;
  arena->allocated_since_full += seg_size;
  *base_o = seg->base;
  /* A large object's segment holds that object only: a small one
   * allocated in the tail would nail the whole segment for as long as it
   * lives (amcFix nails large segments), keeping the large one too. */
  *limit_o = large ? AddrAdd(seg->base, size) : seg->limit;
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
  SegTouchProt(seg);
}

/* Tracing ------------------------------------------------------------- */

/* Retain the whole segment in place: every object in it survives and is
 * scanned (large objects, emergencies). */
static void amcNail(Trace trace, Seg seg)
{
  if (!seg->nailed) {
    seg->nailed = 1;
    seg->scanned = seg->base; /* scan all of it, even if partly done */
    if (seg->ranks != RankSetEMPTY && !seg->grey)
      TraceGreySeg(trace, seg);
  }
}

#define NAIL_SHIFT 3 /* one nailboard bit per 8 bytes */

static Size nailIndex(Seg seg, Addr block)
{
  return AddrOffset(seg->base, block) >> NAIL_SHIFT;
}

static Bool amcIsNailed(Seg seg, Addr block)
{
  Size i = nailIndex(seg, block);
  return seg->nailboard != NULL &&
         ((seg->nailboard[i / WORD_BITS] >> (i % WORD_BITS)) & 1);
}

/* Does this trace mark objects of this segment in place
 * (DESIGN.md#amc-in-place)?  Not in an incremental trace: a segment
 * greyed again by every new mark would have its read barrier raised and
 * lifted again and again (five times the mprotect calls in the pause
 * benchmark).  The trace decides that after condemning, before the first
 * fix. */
static Bool amcMarksInPlace(Trace trace, Seg seg)
{
  return seg->in_place && !seg->nailed && !trace->incremental;
}

/* Bytes of a board with one bit per 8 bytes of the segment, rounded up
 * to whole words. */
static Size nailBoardSize(Seg seg)
{
  Size bits = SegSize(seg) >> NAIL_SHIFT;
  return (bits + WORD_BITS - 1) / WORD_BITS * sizeof(Word);
}

/* Pin one object (DESIGN.md#pinning), or mark one object of a segment
 * promoted in place (DESIGN.md#amc-in-place): set its nailboard bit, and
 * in a segment marked in place its pending bit, so that it is scanned
 * once.  Without memory for a board, retain the whole segment instead. */
static void amcPinObject(Trace trace, Seg seg, Addr block)
{
  Size i;
  Word bit;
  if (seg->nailboard == NULL) {
    seg->nailboard = TraceControlAlloc(trace, nailBoardSize(seg));
    if (seg->nailboard != NULL && amcMarksInPlace(trace, seg) &&
        seg->ranks != RankSetEMPTY) {
      seg->pending = TraceControlAlloc(trace, nailBoardSize(seg));
      if (seg->pending == NULL)
        seg->nailboard = NULL; /* the trace frees its control memory */
    }
    if (seg->nailboard == NULL) {
      amcNail(trace, seg);
      return;
    }
    ++trace->segs_pinned;
  }
  i = nailIndex(seg, block);
  bit = (Word)1 << (i % WORD_BITS);
  if (seg->nailboard[i / WORD_BITS] & bit)
    return;
  seg->nailboard[i / WORD_BITS] |= bit;
  if (seg->pending != NULL) {
    seg->pending[i / WORD_BITS] |= bit; /* counted when scanned */
  } else if (amcMarksInPlace(trace, seg)) {
    Format format = seg->pool->format;
    Addr ref = AddrAdd(block, format->header);
    seg->survived += AddrOffset(ref, FormatSkip(format, ref));
  }
  seg->pinned = 1;
  if (seg->ranks != RankSetEMPTY && !seg->grey)
    TraceGreySeg(trace, seg);
}

/* Choose the nursery segments this trace marks in place: the youngest
 * that fit in the pool's window (DESIGN.md#amc-in-place).  Called for
 * the first (oldest) segment of the nursery, before any is condemned;
 * the trace condemns the nursery whole.  Large segments are retained
 * anyway, a buffered one keeps its own rule (DESIGN.md#buffers), and
 * objects smaller than a board bit would share one. */
static void amcChooseInPlace(AMC amc, PoolGen nursery)
{
  Pool pool = &amc->pool;
  Size left = amc->in_place_window;
  Ring node;
  if (left == 0 || pool->exec || pool->format->align < ((Size)1 << NAIL_SHIFT))
    return;
  for (node = nursery->segs.prev; node != &nursery->segs && left > 0;
       node = node->prev) {
    Seg seg = RING_ELT(Seg, pgen_ring, node);
    Size size = SegSize(seg);
    if (seg->buffer != NULL || seg->large)
      continue;
    if (size > left)
      break;
    seg->in_place = 1;
    left -= size;
  }
}

static void amcCondemn(Pool pool, Trace trace, Seg seg)
{
  PoolGen nursery = &pool->pgens[0];
  if (seg->pgen == nursery && seg->pgen_ring.prev == &nursery->segs)
    amcChooseInPlace(PoolAMC(pool), nursery);
  seg->survived = 0;
  /* Objects committed above the flip's init are new: not condemned
   * (DESIGN.md#buffers). */
  seg->flip_limit = seg->buffer != NULL ? SegWalkLimit(seg) : NULL;
  SegSetCondemned(seg, TRUE);
  seg->scanned = seg->base;
  trace->white |= SegRefZones(seg);
  trace->white_ambig |= ZoneSetOfRange(trace->arena, seg->base, seg->limit);
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
    if (seg_size < AMC_FORWARD_SEG_SIZE)
      seg_size = SizeAlignUp(AMC_FORWARD_SEG_SIZE, arena->grain);
    res = SegAlloc(&seg, arena, pool, pgen, seg_size,
                   pref != ZoneSetEMPTY ? pref : pgen->gen->zones);
    if (res != MPS_RES_OK)
      return res;
    seg->forwarding = 1;
    seg->summary = ZoneSetEMPTY; /* grows as its copies are scanned */
    seg->no_refs = 1;
    pgen->fwd_seg = seg;
  }
  /* Between increments it has a barrier like any other segment. */
  SegUnprotect(seg);
  *base_o = seg->used;
  seg->used = AddrAdd(seg->used, size);
  if (seg->ranks != RankSetEMPTY && !seg->grey)
    TraceGreySeg(trace, seg);
  return MPS_RES_OK;
}

/* The base of the object that an ambiguous reference designates: the one
 * whose client pointer it is, or with interior pointers the one whose
 * block [base, next base) contains it.  NULL if none.  By a walk from the
 * segment's start. */
static Addr amcObjectOfByWalk(Seg seg, Addr ref, Bool interior)
{
  Format format = seg->pool->format;
  Size header = format->header;
  Addr limit = SegWalkLimit(seg);
  Addr p = AddrAdd(seg->base, header);
  while (p - header < limit) {
    Addr next = FormatSkip(format, p);
    if (p == ref || (interior && ref >= p - header && ref < next - header))
      return p - header;
    if (p > ref)
      return NULL;
    p = next;
  }
  return NULL;
}

/* The segment's block starts for this trace (DESIGN.md#pinning): built by
 * one walk the second time an ambiguous reference falls in it, so that a
 * deep stack of references into one segment costs one walk, not one per
 * reference, while a segment that one reference designates costs what a
 * walk to it costs.  NULL the first time, if there is no memory for it,
 * or if blocks may start between two bits. */
static Word *amcStarts(Trace trace, Seg seg)
{
  Format format = seg->pool->format;
  Size header = format->header;
  /* Traces are counted as they end: the running one is the next. */
  Word serial = (Word)trace->arena->collections + 1;
  Addr limit, p;
  Word *starts;
  if (seg->starts_serial != serial) {
    seg->starts_serial = serial; /* seen once this trace */
    seg->starts = NULL;
    return NULL;
  }
  if (seg->starts != NULL)
    return seg->starts;
  if (format->align < ((Size)1 << NAIL_SHIFT))
    return NULL;
  starts = TraceControlAlloc(trace, nailBoardSize(seg)); /* zeroed */
  if (starts == NULL)
    return NULL;
  limit = SegWalkLimit(seg);
  for (p = AddrAdd(seg->base, header); p - header < limit;
       p = FormatSkip(format, p)) {
    Size i = nailIndex(seg, p - header);
    starts[i / WORD_BITS] |= (Word)1 << (i % WORD_BITS);
  }
  seg->starts = starts;
  seg->starts_limit = limit;
  return starts;
}

/* amcObjectOfByWalk, from the block starts where it can. */
static Addr amcObjectOfFromStarts(Trace trace, Seg seg, Addr ref,
                                  Bool interior)
{
  Size header = seg->pool->format->header;
  Word *starts = amcStarts(trace, seg);
  Size i;
  Word bits;
  if (starts == NULL || ref >= seg->starts_limit)
    return amcObjectOfByWalk(seg, ref, interior);
  if (!interior) {
    Addr block = ref - header;
    if (block < seg->base || !AddrIsAligned(block, (Size)1 << NAIL_SHIFT))
      return NULL;
    i = nailIndex(seg, block);
    return (starts[i / WORD_BITS] >> (i % WORD_BITS)) & 1 ? block : NULL;
  }
  /* The last start at or below ref: the block holding it (blocks tile
   * [base, starts_limit)). */
  i = nailIndex(seg, ref);
  bits = starts[i / WORD_BITS] &
         (((Word)2 << (i % WORD_BITS)) - 1); /* bits 0..i % WORD_BITS */
  for (;;) {
    if (bits != 0)
      return AddrAdd(seg->base,
                     ((i / WORD_BITS) * WORD_BITS +
                      (WORD_BITS - 1 - (Size)__builtin_clzll(bits)))
                         << NAIL_SHIFT);
    if (i / WORD_BITS == 0)
      return NULL;
    i -= WORD_BITS;
    bits = starts[i / WORD_BITS];
  }
}

/* The checking build compares the two ways. */
static Addr amcObjectOf(Trace trace, Seg seg, Addr ref, Bool interior)
{
  Addr base = amcObjectOfFromStarts(trace, seg, ref, interior);
  AVER(base == amcObjectOfByWalk(seg, ref, interior));
  return base;
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
     * interior pointers, anywhere inside one, header included) pins that
     * object where it is. */
    if (ref >= SegWalkLimit(seg) || seg->nailed)
      return MPS_RES_OK; /* unallocated tail, or all retained anyway */
    base = amcObjectOf(trace, seg, ref, amc->interior);
    if (base != NULL && format->isfwd(base + format->header) == NULL)
      amcPinObject(trace, seg, base);
    return MPS_RES_OK;
  }

  /* A large object is retained where it is, never forwarded: nothing of
   * it is read or written here, its barrier may stay
   * (DESIGN.md#amc-large-scan). */
  if (seg->large && trace->rank != RankWEAK) {
    amcNail(trace, seg);
    return MPS_RES_OK;
  }

  /* An incremental trace lifts barriers on condemned segments lazily:
   * this one may be read-only (old) or inaccessible (nailed, grey). */
  SegUnprotect(seg);
  if (amcMarksInPlace(trace, seg)) {
    /* Marked where it is, scanned from the pending board, promoted with
     * its segment (DESIGN.md#amc-in-place).  Nothing in it is ever
     * forwarded. */
    base = ref - format->header;
    if (amcIsNailed(seg, base))
      return MPS_RES_OK;
    if (trace->rank == RankWEAK)
      *ref_io = NULL; /* the target is dead: splat */
    else
      amcPinObject(trace, seg, base);
    return MPS_RES_OK;
  }
  moved = format->isfwd(ref);
  if (moved != NULL) {
    *ref_io = moved;
    return MPS_RES_OK;
  }
  if (seg->nailed || amcIsNailed(seg, ref - format->header))
    return MPS_RES_OK; /* retained in place */
  if (trace->rank == RankWEAK) {
    *ref_io = NULL; /* the target is dead: splat */
    return MPS_RES_OK;
  }
  if (seg->large) {
    amcNail(trace, seg);
    return MPS_RES_OK;
  }

  size = AddrOffset(ref, FormatSkip(format, ref));
  res = amcForwardAlloc(&base, trace, pool, seg->pgen->next, size);
  if (res != MPS_RES_OK) {
    /* No room for a copy: pin in place instead of failing
     * (DESIGN.md#emergency). */
    amcNail(trace, seg);
    return MPS_RES_OK;
  }
  memcpy(base, ref - format->header, size);
  if (pool->exec)
    CodeFlushWritten(pool->arena, base, size);
  moved = AddrAdd(base, format->header);
  format->fwd(ref, moved);
  trace->copied += size;
  seg->survived += size;
  ++trace->objects_moved;
  /* Promotion counts toward the next generation's new size; survivors
   * of the top generation stay in it and are not new. */
  if (seg->pgen->next != seg->pgen)
    seg->pgen->next->gen->new_size += size;
  *ref_io = moved;
  return MPS_RES_OK;
}

static Bool amcIsAlive(Pool pool, Trace trace, Seg seg, Addr ref)
{
  (void)trace;
  return seg->nailed || amcIsNailed(seg, ref - pool->format->header) ||
         pool->format->isfwd(ref) != NULL;
}

/* Tell the pool's reclaim hook (mpsx_pool_reclaim_hook) that the blocks
 * of [base, limit) are reclaimed: dead objects, forwarding markers and
 * pads, about to be padded over or freed. */
static void amcReclaimed(Pool pool, Addr base, Addr limit)
{
  if (pool->reclaim_hook != NULL && base < limit)
    pool->reclaim_hook(pool->reclaim_closure, base, limit);
}

/* Replace every object of [base, limit) that is not pinned (copied away,
 * or dead) by pads, one per run.  Returns the bytes kept. */
static Size amcPadUnpinned(Seg seg, Addr limit)
{
  Format format = seg->pool->format;
  Size header = format->header, kept = 0;
  Addr p = AddrAdd(seg->base, header), run = NULL;
  while (p - header < limit) {
    Addr next = FormatSkip(format, p);
    if (amcIsNailed(seg, p - header)) {
      if (run != NULL) {
        amcReclaimed(seg->pool, run, p - header);
        format->pad(run, AddrOffset(run, p - header));
      }
      run = NULL;
      kept += AddrOffset(p, next);
    } else if (run == NULL) {
      run = p - header;
    }
    p = next;
  }
  if (run != NULL) {
    amcReclaimed(seg->pool, run, p - header);
    format->pad(run, AddrOffset(run, p - header));
  }
  return kept;
}

/* Measure the nursery for the next collection's window
 * (DESIGN.md#amc-in-place): reclaim visits a generation's segments
 * oldest first, so after the last one dense_run is the bytes of the
 * youngest run of segments of which at least 7/8 survived.  A buffered
 * segment is still being filled: it neither ends nor extends a run. */
static void amcMeasureNursery(AMC amc, Seg seg, Size kept)
{
  Size size, live;
  if (seg->pgen != &amc->pool.pgens[0])
    return;
  amc->nursery_reclaimed = TRUE;
  if (seg->buffer != NULL)
    return;
  size = AddrOffset(seg->base, SegWalkLimit(seg));
  live = seg->survived + kept;
  if (size > 0 && live >= size - size / 8)
    amc->dense_run += SegSize(seg);
  else
    amc->dense_run = 0;
}

/* Promote a retained segment to the next generation, whose new size it
 * counts toward; the top generation's segments stay where they are. */
static void amcPromote(Seg seg)
{
  if (seg->pgen->next == seg->pgen)
    return;
  seg->pgen->next->gen->new_size += SegSize(seg);
  SegSetPoolGen(seg, seg->pgen->next);
}

/* A segment kept for its pinned objects stays in its generation the
 * first time: most pins are gone by the next collection, which then
 * copies the objects out of it.  Kept again, it is promoted in place, and
 * its generation and every younger one of the chain give up their claims
 * on the zones of its references: an old segment there would put those
 * zones in every white set of theirs and make the old segments that refer
 * to it be scanned by each of their collections (DESIGN.md#zones).  (A
 * segment promoted in place from the nursery may lie in the nursery's
 * zones when it is pinned in generation 1.) */
static void amcPromotePinned(Seg seg)
{
  Pool pool = seg->pool;
  ZoneSet zones;
  size_t i;
  if (!seg->pinned_kept) {
    seg->pinned_kept = 1;
    return;
  }
  seg->pinned_kept = 0;
  zones = SegRefZones(seg);
  for (i = 0; i < pool->gen_count && &pool->pgens[i] != seg->pgen->next; ++i)
    if (pool->pgens[i].gen->chain != NULL)
      pool->pgens[i].gen->claim &= ~zones;
  amcPromote(seg);
}

/* After the trace: retained segments lose their forwarding markers (they
 * become pads) and are promoted (pinned ones
 * as amcPromotePinned says); the others are freed, except that a
 * segment with a mutator buffer attached must stay where it is: the
 * mutator may still be writing a reserved block above the flip's init.
 * Its objects below that point are dead or copied; one pad replaces them
 * all (DESIGN.md#buffers). */
static void amcReclaim(Pool pool, Trace trace, Seg seg)
{
  Format format = pool->format;
  Bool kept_whole = seg->nailed || seg->buffer != NULL ||
                    seg->nailboard != NULL || seg->flip_limit != NULL;
  Bool in_place = amcMarksInPlace(trace, seg);
  seg->in_place = 0;
  seg->pending = NULL;
  if (kept_whole) {
    SegUnprotect(seg); /* pads are written */
    /* The mutator may have written into it during an incremental trace
     * without a barrier: its summary says nothing. */
    if (trace->incremental)
      seg->summary = ZoneSetUNIV;
  }
  if (!seg->nailed && kept_whole) {
    /* Keep the pinned objects, pad the rest (up to where its objects
     * ended at the flip; what was committed after it is new).  A buffered
     * segment stays in its generation: its owner is still allocating
     * into it. */
    /* A segment marked in place knows what it kept: if that is all of
     * it, there is nothing to pad (DESIGN.md#amc-in-place). */
    Size kept;
    Addr limit = SegWalkLimit(seg);
    if (in_place && seg->buffer == NULL && seg->flip_limit == NULL &&
        seg->survived == AddrOffset(seg->base, limit)) {
      kept = seg->survived;
      seg->survived = 0; /* not copied out: kept, counted once */
    } else {
      kept = amcPadUnpinned(seg, limit);
      if (in_place)
        seg->survived = 0;
    }
    amcMeasureNursery(PoolAMC(pool), seg, kept);
    trace->preserved += kept;
    seg->flip_limit = NULL;
    SegSetCondemned(seg, FALSE);
    seg->pinned = 0;
    seg->nailboard = NULL;
    /* Marked in place: promoted now, like a nailed segment. */
    if (seg->buffer == NULL) {
      if (in_place)
        amcPromote(seg);
      else
        amcPromotePinned(seg);
    }
    return;
  }
  if (seg->nailed) {
    Size header = format->header;
    Addr limit = SegWalkLimit(seg);
    Addr p = AddrAdd(seg->base, header);
    while ((Addr)(p - header) < limit) {
      Addr next = FormatSkip(format, p);
      if (format->isfwd(p) != NULL)
        format->pad(p - header, AddrOffset(p, next));
      p = next;
    }
    amcMeasureNursery(PoolAMC(pool), seg, AddrOffset(seg->base, limit));
    trace->preserved += AddrOffset(seg->base, limit);
    seg->flip_limit = NULL;
    SegSetCondemned(seg, FALSE);
    seg->nailed = 0;
    seg->pinned = 0;
    seg->pinned_kept = 0;
    seg->nailboard = NULL;
    amcPromote(seg);
    return;
  }
  amcMeasureNursery(PoolAMC(pool), seg, 0);
  amcReclaimed(pool, seg->base, SegWalkLimit(seg));
  SegSetCondemned(seg, FALSE);
  SegFree(seg);
}

static void amcTraceEnd(Pool pool, Trace trace)
{
  AMC amc = PoolAMC(pool);
  size_t i;
  (void)trace;
  if (amc->nursery_reclaimed)
    amc->in_place_window = amc->dense_run;
  amc->dense_run = 0;
  amc->nursery_reclaimed = FALSE;
  for (i = 0; i < pool->gen_count; ++i) {
    PoolGen pgen = &pool->pgens[i];
    Ring node, next;
    pgen->fwd_seg = NULL;
    RING_FOR(node, &pgen->segs, next) {
      Seg seg = RING_ELT(Seg, pgen_ring, node);
      seg->forwarding = 0;
      AVER(!seg->grey);
    }
  }
}

/* Scan the objects of a segment marked in place that are marked and not
 * yet scanned, until none is left: scanning marks more, in this segment
 * too.  Words are taken from the top down, and a word again until it is
 * clear, because objects usually refer to older ones, at lower addresses
 * (a tree built bottom-up), which this order reaches in one sweep.
 * Neighbours pending together are scanned as one range. */
static void amcScanPending(Trace trace, Seg seg)
{
  Format format = seg->pool->format;
  Size header = format->header;
  Size words = nailBoardSize(seg) / sizeof(Word), w;
  Bool more = TRUE;
  while (more) {
    more = FALSE;
    for (w = words; w-- > 0;) {
      Word bits;
      while ((bits = seg->pending[w]) != 0) {
        seg->pending[w] = 0;
        more = TRUE;
        while (bits != 0) {
          unsigned b = (unsigned)__builtin_ctzl(bits);
          Addr base = AddrAdd(seg->base,
                              ((Size)w * WORD_BITS + b) << NAIL_SHIFT);
          Addr limit = FormatSkip(format, base + header) - header;
          bits &= bits - 1;
          /* The following objects, while pending in this word. */
          while (limit < seg->limit) {
            Size j = nailIndex(seg, limit);
            Word next = (Word)1 << (j % WORD_BITS);
            if (j / WORD_BITS != w || !(bits & next))
              break;
            bits &= ~next;
            limit = FormatSkip(format, limit + header) - header;
          }
          seg->survived += AddrOffset(base, limit);
          TraceScanSeg(trace, seg, base, limit);
        }
      }
    }
  }
}

/* Scan a grey segment: the copies made into it since it was last scanned
 * (Cheney order), all of it if it is nailed, its pending objects if it
 * is marked in place, or only its pinned objects if it has a nailboard. */
static void amcScan(Pool pool, Trace trace, Seg seg)
{
  Addr limit = SegWalkLimit(seg);
  (void)pool;
  /* A surviving large object whose summary held since its last scan,
   * under the barrier, refers to nothing condemned if that summary misses
   * the white set: nothing to fix.  Otherwise it is scanned whole, and the
   * summary rebuilt (DESIGN.md#amc-large-scan). */
  if (seg->summary_kept) {
    seg->summary_kept = 0;
    /* Read-only, or inaccessible since it turned grey between increments
     * (the read barrier): either way the mutator has not written to it. */
    if (seg->prot != SegProtRW &&
        (seg->summary & trace->white) == ZoneSetEMPTY) {
      if (seg->prot == SegProtNA)
        SegSetProt(seg, SegProtRO); /* black now: the mutator may read */
      seg->scanned = limit;
      ++trace->segs_skipped;
      return;
    }
    seg->summary = ZoneSetEMPTY;
    seg->no_refs = 1;
    /* traceScanGrey left its barrier for this decision; what follows
     * reads it (the walk of a pinned segment's objects) and fixes. */
    SegUnprotect(seg);
  }
  if (!seg->condemned && !seg->forwarding) {
    TraceScanSegWhole(trace, seg);
  } else if (seg->pending != NULL && !seg->nailed) {
    amcScanPending(trace, seg);
  } else if (seg->nailboard != NULL && !seg->nailed) {
    if (seg->scanned < limit) {
      Format format = pool->format;
      Size header = format->header;
      Addr p = AddrAdd(seg->base, header), run = NULL;
      seg->scanned = limit;
      while (p - header < limit) {
        Addr next = FormatSkip(format, p);
        if (amcIsNailed(seg, p - header)) {
          if (run == NULL)
            run = p - header;
        } else if (run != NULL) {
          TraceScanSeg(trace, seg, run, p - header);
          run = NULL;
        }
        p = next;
      }
      if (run != NULL)
        TraceScanSeg(trace, seg, run, p - header);
    }
  } else if (seg->scanned < limit) {
    Addr from = seg->scanned;
    seg->scanned = limit;
    TraceScanSeg(trace, seg, from, limit);
  }
}

static Size amcFreeSize(Pool pool)
{
  Size free_size = 0;
  size_t g;
  for (g = 0; g < pool->gen_count; ++g) {
    Ring node, next;
    RING_FOR(node, &pool->pgens[g].segs, next) {
      Seg seg = RING_ELT(Seg, pgen_ring, node);
      free_size += AddrOffset(SegWalkLimit(seg), seg->limit);
    }
  }
  return free_size;
}

#define AMC_CLASS_METHODS                                                    \
  .sig = PoolClassSig, .size = sizeof(AMCStruct), .automatic = TRUE,         \
  .moving = TRUE, .finish = amcFinish, .buffer_fill = amcBufferFill,         \
  .buffer_empty = amcBufferEmpty, .fix = amcFix, .is_alive = amcIsAlive,     \
  .condemn = amcCondemn, .reclaim = amcReclaim, .trace_end = amcTraceEnd,    \
  .scan = amcScan, .free_size = amcFreeSize, .varargs = amcVarargs

/* AMC and AMCZ may wait behind the read barrier; AMCX may not (code runs
 * in its pages), so its grey segments are scanned before the mutator runs
 * again (DESIGN.md#incremental, #code-incremental). */
const struct mps_pool_class_s AMCPoolClass = {
    AMC_CLASS_METHODS, .name = "AMC", .init = amcInit, .incremental = TRUE};

const struct mps_pool_class_s AMCZPoolClass = {
    AMC_CLASS_METHODS, .name = "AMCZ", .init = amczInit,
    .incremental = TRUE};

const struct mps_pool_class_s AMCXPoolClass = {
    AMC_CLASS_METHODS, .name = "AMCX", .init = amcxInit};

#if EXTENSIONS /* DESIGN.md#strict */
mps_pool_class_t mpsx_class_amcx(void)
{
  return (mps_pool_class_t)&AMCXPoolClass;
}

mps_res_t mpsx_pool_reclaim_hook(mps_pool_t pool, mpsx_reclaim_fn_t fn,
                                 void *closure)
{
  Arena arena = pool->arena;
  Res res = MPS_RES_OK;
  ArenaEnter(arena);
  AVERT(Pool, pool);
  if (pool->klass == &AMCPoolClass || pool->klass == &AMCZPoolClass ||
      pool->klass == &AMCXPoolClass) {
    pool->reclaim_hook = fn;
    pool->reclaim_closure = closure;
  } else {
    res = MPS_RES_PARAM;
  }
  ArenaLeave(arena);
  return res;
}
#endif

mps_pool_class_t mps_class_amc(void)
{
  return (mps_pool_class_t)&AMCPoolClass;
}

mps_pool_class_t mps_class_amcz(void)
{
  return (mps_pool_class_t)&AMCZPoolClass;
}
