/* trace.c: a collection, with every other thread of the arena stopped
 *
 * Phases (DESIGN.md#trace):
 *   1. stop the world, trap every allocation point (the flip);
 *   2. condemn the chosen generations: their zones form the white set;
 *   3. fix ambiguous references (thread stacks, ambiguous roots): they
 *      nail what they hit, before anything moves;
 *   4. fix exact roots, the finalization messages and every uncondemned
 *      segment that may hold references, then scan grey segments until
 *      there are none (copied objects are grey: Cheney order);
 *   5. finalization: registered objects that are otherwise dead get a
 *      message and are preserved; scan grey again;
 *   6. weak references to dead objects are set to NULL;
 *   7. reclaim: condemned segments are freed unless nailed, in which case
 *      they are kept and promoted; restart the world.
 *
 * An incremental trace (DESIGN.md#incremental) restarts the world after
 * phase 4's roots: grey segments wait behind the read barrier, and steps
 * (from allocation, mps_arena_step or a barrier fault) scan them with the
 * world stopped again; the step that finds nothing grey runs phases 5 to
 * 7.
 */

#include <math.h>
#include <string.h>

#include "mpm.h"
#include "telemetry.h"

Bool TraceCheck(Trace trace)
{
  return trace != NULL && trace->sig == TraceSig && trace->arena != NULL &&
         trace->ss._zs == trace->arena->zone_shift &&
         trace->rank < RankLIMIT;
}

#define TRACE_BLOCK_SIZE ((Size)1 << 20)

typedef struct TraceBlockStruct {
  struct TraceBlockStruct *next;
  Size size;
} TraceBlockStruct;

void *TraceControlAlloc(Trace trace, Size size)
{
  TraceBlockStruct *block = trace->blocks;
  void *p;
  size = SizeAlignUp(size, sizeof(Word));
  if (block == NULL || trace->block_used + size > block->size) {
    Size block_size = TRACE_BLOCK_SIZE;
    if (block_size < size + sizeof(TraceBlockStruct))
      block_size = SizeAlignUp(size + sizeof(TraceBlockStruct),
                               VMPageSize());
    block = ControlAllocRaw(block_size);
    if (block == NULL)
      return NULL;
    block->next = trace->blocks;
    block->size = block_size;
    trace->blocks = block;
    trace->block_used = SizeAlignUp(sizeof(TraceBlockStruct), sizeof(Word));
  }
  p = (char *)block + trace->block_used;
  trace->block_used += size;
  return p;
}

static void traceFreeControl(Trace trace)
{
  while (trace->blocks != NULL) {
    TraceBlockStruct *block = trace->blocks;
    trace->blocks = block->next;
    ControlFreeRaw(block, block->size);
  }
}

void TraceGreySeg(Trace trace, Seg seg)
{
  AVER(!seg->grey);
  /* Once the mutator runs during the trace, only pools behind the read
   * barrier may gain grey segments, and executable pools, whose grey
   * segments are all scanned before the mutator runs again
   * (DESIGN.md#incremental, #code-incremental). */
  AVER(!trace->mutator_ran || seg->pool->klass->incremental ||
       seg->pool->exec);
  seg->grey = 1;
  SegTouchProt(seg);
  RingAppend(seg->pool->exec ? &trace->grey_exec : &trace->grey,
             &seg->grey_ring);
}

/* Take a segment off its grey ring: the collector is about to scan it
 * (or, weak, to set it aside). */
static void traceUngrey(Seg seg)
{
  AVER(seg->grey);
  RingRemove(&seg->grey_ring);
  seg->grey = 0;
}

/* Is anything grey? */
static Bool traceNothingGrey(Trace trace)
{
  return RingIsSingle(&trace->grey) && RingIsSingle(&trace->grey_exec);
}

/* The look-ahead pass's fix (DESIGN.md#prefetch): start the loads that
 * the fix of ref will need (its segment, reached through the page
 * table, and the object itself), without waiting for them where it can.
 * Only the page table entry is read; a wrong guess costs a wasted
 * prefetch, never a fault (a prefetch of an unmapped or protected
 * address is dropped by the processor). */
static inline void tracePrefetch(Arena arena, Addr ref)
{
  Word entry = PageEntry(arena, ref);
  if (!(entry & PAGE_CONDEMNED))
    return; /* the fix will not read the segment, nor the object */
  Prefetch(PageSeg(entry)); /* what the fix reads of it: one line */
  Prefetch(ref);
}

/* The fix that MPS_FIX2 reaches: total over every word (rule: NULL,
 * integers, addresses outside the arena all return OK unchanged). */
mps_res_t _mps_fix2(mps_ss_t ss, mps_addr_t *ref_io)
{
  Trace trace = TraceOfSS(ss);
  Arena arena = trace->arena;
  Res res = MPS_RES_OK;
  Word entry;
  Seg seg;
  if (trace->prefetching) {
    tracePrefetch(arena, *ref_io);
    return MPS_RES_OK;
  }
  if (trace->transform != NULL)
    TransformFix(trace, ref_io);
  entry = PageEntry(arena, (Addr)*ref_io);
  seg = PageSeg(entry);
  if (entry & PAGE_CONDEMNED) {
    AVER(seg->condemned);
    ++trace->fixes;
    res = seg->pool->klass->fix(seg->pool, trace, seg, ref_io);
  } else if (trace->root_stepper != NULL && seg != NULL &&
             seg->pool->klass->automatic &&
             !seg->pool->klass->never_condemned) {
    /* Nothing is condemned while roots are walked. */
    trace->root_stepper(ref_io, trace->walk_root, trace->walk_p,
                        trace->walk_s);
  }
  /* The summary holds the zone of where the reference points after the
   * fix, moved (a copy, a transform's replacement) or not: MPS_FIX1 saw
   * it in a white zone, which TraceScanSeg leaves out of _ufs
   * (DESIGN.md#barrier).  Not if it points into a segment of the arena's
   * top generation: only a full collection condemns those, and a full
   * collection trusts no summary (DESIGN.md#barrier-top). */
  if (*ref_io != NULL) {
    Addr ref = (Addr)*ref_io;
    Seg to = seg;
    if (to == NULL || ref < to->base || ref >= to->limit)
      to = PageSeg(PageEntry(arena, ref));
    if (to == NULL || to->pgen == NULL || to->pgen->gen != &arena->top_gen)
      trace->fixed_zones |= (ZoneSet)1 << ZoneOfAddr(arena, ref);
  }
  return res;
}

/* Set the rank of the references about to be fixed, and with it the
 * white set MPS_FIX1 tests them against: ambiguous references may point
 * anywhere inside a large object, exact ones hold its start
 * (DESIGN.md#zones). */
static void traceSetRank(Trace trace, Rank rank)
{
  trace->rank = rank;
  trace->ss._w = rank == RankAMBIG ? trace->white_ambig : trace->white;
}

Res TraceFix(Trace trace, mps_addr_t *ref_io, Rank rank)
{
  Rank old = trace->rank;
  Res res = MPS_RES_OK;
  mps_ss_t ss = &trace->ss;
  traceSetRank(trace, rank);
  MPS_SCAN_BEGIN(ss) {
    res = MPS_FIX12(ss, ref_io);
  } MPS_SCAN_END(ss);
  traceSetRank(trace, old);
  return res;
}

/* The rank a segment's references are fixed at. */
Rank SegRank(Seg seg)
{
  if (seg->ranks & RankSetSingle(RankAMBIG))
    return RankAMBIG;
  if (seg->ranks & RankSetSingle(RankWEAK))
    return RankWEAK;
  return RankEXACT;
}

/* Scan the objects of [from, to) (base addresses) in windows of about
 * SCAN_WINDOW bytes, each twice: first a look-ahead pass, in which
 * _mps_fix2 only prefetches, then the real one, which finds what it
 * reads in the cache (DESIGN.md#prefetch).  A window ends at an object
 * boundary, found with the skip method (the headers are read by the scan
 * next anyway); an object larger than the window is a window of its
 * own. */
#define SCAN_WINDOW ((Size)2048)

static Addr traceWindowLimit(Format format, Addr from, Addr to)
{
  Size header = format->header;
  Addr p;
  if (AddrOffset(from, to) <= SCAN_WINDOW)
    return to;
  p = AddrAdd(from, header);
  do
    p = FormatSkip(format, p);
  while (AddrOffset(from, p - header) < SCAN_WINDOW);
  return p - header < to ? p - header : to;
}

static void traceScanPass(Trace trace, Format format, Addr from, Addr to,
                          Bool ahead)
{
  Size header = format->header;
  mps_ss_t ss = &trace->ss;
  mps_word_t ufs = ss->_ufs;
  Res res;
  trace->prefetching = ahead;
  res = format->scan(ss, AddrAdd(from, header), AddrAdd(to, header));
  trace->prefetching = FALSE;
  ASSERT_ALWAYS(res == MPS_RES_OK);
  if (ahead)
    ss->_ufs = ufs; /* the real pass records the summary */
}

/* Does the look-ahead pay for the objects of [from, to), whose real
 * pass fixed `fixes` references to condemned segments?  Only where those
 * are dense: elsewhere (references that MPS_FIX1 filters out, or that
 * point to segments not condemned) it would only pay for a second call
 * of the scan method and the window walk (the `scripts` benchmark: 1.1
 * to 1.3 times the CPU time with look-ahead everywhere). */
#define LOOKAHEAD_MIN_FIXES 16 /* per SCAN_WINDOW bytes */
#define LOOKAHEAD_MAX (8 * SCAN_WINDOW) /* a vector of 2,047 references */

static Bool traceLookAheadPays(Size fixes, Addr from, Addr to)
{
  return fixes * SCAN_WINDOW >= LOOKAHEAD_MIN_FIXES * AddrOffset(from, to);
}

static void traceScanAhead(Trace trace, Format format, Addr from, Addr to)
{
  while (from < to) {
    Addr limit;
    Size fixes = trace->fixes;
    if (!trace->lookahead) {
      /* The rest in one pass, which decides for the next range. */
      traceScanPass(trace, format, from, to, FALSE);
      trace->lookahead = traceLookAheadPays(trace->fixes - fixes, from, to);
      return;
    }
    limit = traceWindowLimit(format, from, to);
    /* An object much larger than a window is scanned once: what its
     * look-ahead would load does not stay in the cache until used. */
    if (AddrOffset(from, limit) <= LOOKAHEAD_MAX)
      traceScanPass(trace, format, from, limit, TRUE);
    traceScanPass(trace, format, from, limit, FALSE);
    trace->lookahead = traceLookAheadPays(trace->fixes - fixes, from, limit);
    from = limit;
  }
}

void TraceScanSeg(Trace trace, Seg seg, Addr from, Addr to)
{
  Format format = seg->pool->format;
  Size header = format->header;
  Rank old = trace->rank;
  Res res;
  if (from >= to)
    return;
  /* Fixing writes references: lift the barrier (DESIGN.md#barrier). */
  SegUnprotect(seg);
  if (seg->pool->klass->before_scan != NULL)
    seg->pool->klass->before_scan(seg->pool, seg, from, to);
  traceSetRank(trace, SegRank(seg));
  trace->ss._ufs = 0;
  trace->fixed_zones = ZoneSetEMPTY;
  if (trace->rank == RankAMBIG || seg->pool->exec) {
    res = format->scan(&trace->ss, AddrAdd(from, header),
                       AddrAdd(to, header));
    ASSERT_ALWAYS(res == MPS_RES_OK);
  } else {
    traceScanAhead(trace, format, from, to);
  }
  /* The summary of what the segment may refer to: the zones of the
   * references as the scan left them.  MPS_FIX1 recorded every zone
   * before the fix (_ufs); a reference in a zone of _w (the white set)
   * went to _mps_fix2, which recorded its zone after the fix
   * (fixed_zones), so the zones of _w in _ufs say nothing and are left
   * out (DESIGN.md#barrier).
   * Keeping them made every segment of copies refer to the white set and
   * be scanned again by the next collection.  It only grows here; it
   * is reset when a scan of everything alive in the segment begins: when
   * the segment is condemned, made for copies, or scanned whole. */
  seg->summary |= (trace->ss._ufs & ~trace->ss._w) | trace->fixed_zones;
  if ((trace->ss._ufs | trace->fixed_zones) != ZoneSetEMPTY)
    seg->no_refs = 0; /* MPS_FIX1 (or mps_fix) saw a reference */
  SegTouchProt(seg);
  traceSetRank(trace, old);
  trace->bytes_scanned += AddrOffset(from, to);
  /* Scanning code relinks it (DESIGN.md#code). */
  if (seg->pool->exec)
    CodeFlushWritten(trace->arena, from, AddrOffset(from, to));
}

static void scanArea(Seg seg, Addr base, Addr limit, void *closure)
{
  TraceScanSeg(closure, seg, base, limit);
}

void TraceScanSegWhole(Trace trace, Seg seg)
{
  seg->summary = ZoneSetEMPTY;
  seg->no_refs = 1;
  SegTouchProt(seg);
  SegAreas(seg, scanArea, trace);
}

/* Scan a segment just taken off the grey ring. */
static void traceScanGrey(Trace trace, Seg seg)
{
  /* The collector's turn to see it; a segment that kept its summary may
   * need no scan, and keep its barrier (DESIGN.md#amc-large-scan). */
  if (!seg->summary_kept)
    SegUnprotect(seg);
  if (seg->scan_whole) {
    seg->scan_whole = 0;
    TraceScanSegWhole(trace, seg);
  } else {
    seg->pool->klass->scan(seg->pool, trace, seg);
  }
}

/* Scan grey segments until none is left (TRUE), or until `work` bytes
 * have been scanned or copied, or the clock has passed `deadline` and at
 * least half of that is done (FALSE): the pause time is a soft
 * target, the collector must keep pace with the mutator. */
static Bool traceGreyWork(Trace trace, Size work, double deadline)
{
  Size start = trace->bytes_scanned + trace->copied;
  while (!traceNothingGrey(trace)) {
    /* Code first: it is never left grey (traceDrainExec). */
    Ring ring = RingIsSingle(&trace->grey_exec) ? &trace->grey
                                                 : &trace->grey_exec;
    Seg seg = RING_ELT(Seg, grey_ring, ring->next);
    traceUngrey(seg);
    if (SegRank(seg) == RankWEAK) {
      /* Weak segments wait until everything strong is known
       * (DESIGN.md#weak). */
      if (!seg->weak_pending) {
        seg->weak_pending = 1;
        seg->weak_next = trace->weak;
        trace->weak = seg;
      }
      continue;
    }
    traceScanGrey(trace, seg);
    {
      Size done = trace->bytes_scanned + trace->copied - start;
      if (done >= work ||
          (done >= work / 2 && deadline < HUGE_VAL &&
           ClockSeconds() >= deadline))
        return traceNothingGrey(trace);
    }
  }
  return TRUE;
}

/* Scan grey segments of executable pools until there is none, before the
 * mutator runs again: code is never grey while it may run, because it is
 * executed through a view the read barrier does not protect
 * (DESIGN.md#code-incremental).  Scanning code may grey more code (its
 * targets, copied) and heap segments (which wait behind the barrier). */
static void traceDrainExec(Trace trace)
{
  while (!RingIsSingle(&trace->grey_exec)) {
    Seg seg = RING_ELT(Seg, grey_ring, trace->grey_exec.next);
    traceUngrey(seg);
    traceScanGrey(trace, seg);
  }
}

static void traceGreyLoop(Trace trace)
{
  (void)traceGreyWork(trace, (Size)-1, HUGE_VAL);
}

static void traceScanRoots(Trace trace, Rank rank)
{
  Ring node, next;
  traceSetRank(trace, rank);
  RING_FOR(node, &trace->arena->roots, next) {
    Root root = RING_ELT(Root, arena_ring, node);
    if (root->rank == rank) {
      Res res = RootScan(trace, root);
      ASSERT_ALWAYS(res == MPS_RES_OK);
      traceSetRank(trace, rank);
    }
  }
}

typedef struct {
  Trace trace;
  Rank rank;
  void (*f)(Trace trace, Seg seg);
} EachSegStruct;

static void eachSegOfRank(Seg seg, void *closure)
{
  EachSegStruct *e = closure;
  if ((seg->ranks & RankSetSingle(e->rank)) != RankSetEMPTY &&
      SegRank(seg) == e->rank && !seg->forwarding)
    e->f(e->trace, seg);
}

/* Apply f to every segment of every automatic pool that holds
 * references of rank `rank`. */
static void traceEachSeg(Trace trace, Rank rank,
                         void (*f)(Trace trace, Seg seg))
{
  EachSegStruct e;
  e.trace = trace;
  e.rank = rank;
  e.f = f;
  ArenaEachSeg(trace->arena, NULL, eachSegOfRank, &e);
}

/* Without a remembered set, every uncondemned segment that may hold
 * references is a root (DESIGN.md#barrier).  A segment whose summary
 * misses the white set cannot refer to anything condemned, but its
 * summary is only trustworthy once a write barrier keeps it so; until
 * then scan everything. */
static void scanIfUncondemned(Trace trace, Seg seg)
{
  /* A protected segment whose summary misses the white set refers to
   * nothing condemned: the barrier makes skipping it sound. */
  if (seg->condemned)
    return;
  if (seg->prot && (seg->summary & trace->white) == 0) {
    ++trace->segs_skipped;
    return;
  }
  TraceScanSegWhole(trace, seg);
}

/* Segments of ambiguous references are scanned whole before anything
 * moves, condemned or not: an ambiguous word in any of them may pin.  A
 * condemned one may hold dead objects, which must not keep anything
 * alive beyond this collection: their words only pin movable objects
 * (retained this time, as any ambiguous reference does) and mark nothing
 * in mark-sweep pools.  Objects of it that turn out reachable are scanned
 * again, at ambiguous rank, when they are marked (DESIGN.md#mark-sweep). */
static void scanAmbiguousSeg(Trace trace, Seg seg)
{
  trace->pin_only = seg->condemned;
  TraceScanSegWhole(trace, seg);
  trace->pin_only = FALSE;
}

/* The weak phase: weak roots, then weak segments.  Fixing a weak
 * reference never preserves anything, so no grey work follows. */
static void traceWeakPhase(Trace trace)
{
  Seg seg;
  traceScanRoots(trace, RankWEAK);
  while ((seg = trace->weak) != NULL) {
    trace->weak = seg->weak_next;
    seg->weak_next = NULL;
    seg->weak_pending = 0;
    seg->pool->klass->scan(seg->pool, trace, seg);
  }
  traceEachSeg(trace, RankWEAK, scanIfUncondemned);
  AVER(traceNothingGrey(trace));
}

/* A finalization message keeps its object alive and current until it is
 * discarded, whether it is still queued or already got. */
static void traceScanMessages(Trace trace)
{
  Ring rings[2], node, next;
  int i;
  rings[0] = &trace->arena->messages;
  rings[1] = &trace->arena->got_messages;
  for (i = 0; i < 2; ++i)
    RING_FOR(node, rings[i], next) {
      Message message = RING_ELT(Message, queue_ring, node);
      if (message->type == mps_message_type_finalization())
        (void)TraceFix(trace, &message->the.final.ref, RankEXACT);
    }
}

/* Which pool generations does this collection condemn? */
static Bool traceCondemns(PoolGen pgen, Chain chain, int top, Bool full)
{
  if (full)
    return TRUE;
  return pgen->gen->chain == chain && chain != NULL &&
         (int)pgen->gen->index <= top;
}

static void traceCondemn(Trace trace, Chain chain, int top, Bool full)
{
  Arena arena = trace->arena;
  Ring pnode, pnext;
  size_t g;
  RING_FOR(pnode, &arena->pools, pnext) {
    Pool pool = RING_ELT(Pool, arena_ring, pnode);
    if (!pool->klass->automatic)
      continue;
    for (g = 0; g < pool->gen_count; ++g) {
      PoolGen pgen = &pool->pgens[g];
      Ring snode, snext;
      /* SNC's segments are roots, never condemned (DESIGN.md#snc). */
      Bool condemn = !pool->klass->never_condemned &&
                     traceCondemns(pgen, chain, top, full);
      /* Summaries rely on it (DESIGN.md#barrier-top). */
      AVER(!condemn || full || pgen->gen != &arena->top_gen);
      RING_FOR(snode, &pgen->segs, snext) {
        Seg seg = RING_ELT(Seg, pgen_ring, snode);
        if (condemn) {
          /* Whatever survives is scanned this trace: the summary is
           * rebuilt from those scans.  A large object's segment with its
           * barrier up keeps its summary: if the object survives, it is
           * scanned only if that summary meets the white set
           * (DESIGN.md#amc-large-scan).  Not in a full collection: it
           * condemns the top generation, which summaries leave out
           * (DESIGN.md#barrier-top). */
          seg->summary_kept = seg->large && seg->prot == SegProtRO &&
                              seg->summary != ZoneSetUNIV && !full;
          if (!seg->summary_kept) {
            seg->summary = ZoneSetEMPTY;
            seg->no_refs = 1;
          }
          pool->klass->condemn(pool, trace, seg);
          if (pool->klass->moving)
            trace->moving = TRUE;
          /* Executable pools are scanned eagerly instead
           * (DESIGN.md#code-incremental). */
          if (!pool->klass->incremental && !pool->exec)
            trace->eager_condemned = TRUE;
        }
        else
          trace->not_condemned += AddrOffset(seg->base, SegWalkLimit(seg));
      }
      if (condemn)
        pgen->gen->new_size = 0;
    }
  }
  if (full)
    arena->top_gen.new_size = 0;
  traceSetRank(trace, trace->rank);
}

static void traceReclaim(Trace trace)
{
  Arena arena = trace->arena;
  Ring pnode, pnext;
  size_t g;
  RING_FOR(pnode, &arena->pools, pnext) {
    Pool pool = RING_ELT(Pool, arena_ring, pnode);
    if (!pool->klass->automatic || pool->klass->never_condemned)
      continue;
    /* Oldest first, so that a segment promoted into a generation is not
     * visited twice. */
    for (g = pool->gen_count; g-- > 0;) {
      Ring snode, snext;
      RING_FOR(snode, &pool->pgens[g].segs, snext) {
        Seg seg = RING_ELT(Seg, pgen_ring, snode);
        if (seg->condemned)
          pool->klass->reclaim(pool, trace, seg);
      }
    }
    pool->klass->trace_end(pool, trace);
  }
}

static void traceFlipBuffers(Arena arena)
{
  Ring pnode, pnext, bnode, bnext;
  RING_FOR(pnode, &arena->pools, pnext) {
    Pool pool = RING_ELT(Pool, arena_ring, pnode);
    if (!pool->klass->automatic)
      continue;
    RING_FOR(bnode, &pool->buffers, bnext) {
      BufferFlip(RING_ELT(Buffer, pool_ring, bnode));
    }
  }
}

static void traceUpdateMortality(Arena arena, Trace trace)
{
  /* One survival figure for the whole collection, folded into every
   * chain generation's moving average. */
  Ring node, next;
  double survival;
  if (trace->condemned == 0)
    return;
  survival = (double)(trace->copied + trace->preserved) /
             (double)trace->condemned;
  if (survival > 1.0)
    survival = 1.0;
  RING_FOR(node, &arena->chains, next) {
    Chain chain = RING_ELT(Chain, arena_ring, node);
    Gen gen = &chain->gens[0];
    gen->mortality = 0.5 * gen->mortality + 0.5 * (1.0 - survival);
  }
}

/* May this trace let the mutator run before it ends?  Only if every
 * condemned segment and every segment that may turn grey later belongs
 * to a pool behind the read barrier, and nothing weak needs the last
 * phase while the mutator could read a reference to a white object
 * (DESIGN.md#incremental). */
static Bool traceMayBeIncremental(Trace trace)
{
  Arena arena = trace->arena;
  Ring node, next;
  if (trace->eager_condemned)
    return FALSE;
  RING_FOR(node, &arena->roots, next) {
    Root root = RING_ELT(Root, arena_ring, node);
    if (root->rank == RankWEAK)
      return FALSE;
  }
  RING_FOR(node, &arena->pools, next) {
    Pool pool = RING_ELT(Pool, arena_ring, node);
    if (pool->klass->automatic &&
        (pool->ranks & RankSetSingle(RankWEAK)) != RankSetEMPTY)
      return FALSE;
  }
  return TRUE;
}

/* An uncondemned segment that may refer to the white set: grey for later
 * if its pool is behind the read barrier, else scanned now. */
static void greyOrScanUncondemned(Trace trace, Seg seg)
{
  Pool pool = seg->pool;
  if (seg->condemned)
    return;
  if (seg->prot == SegProtRO && (seg->summary & trace->white) == 0) {
    ++trace->segs_skipped;
    return;
  }
  /* A large object that referred to nothing when last scanned is left
   * without a barrier (DESIGN.md#barrier-leaf): scanning it now reads
   * one header, where greying it would protect it until then. */
  if (trace->incremental && pool->klass->incremental && !pool->exec &&
      !(seg->large && seg->no_refs)) {
    seg->scan_whole = 1;
    if (!seg->grey)
      TraceGreySeg(trace, seg);
  } else {
    TraceScanSegWhole(trace, seg);
  }
}

static void tracePause(Arena arena, double seconds, unsigned kind)
{
  mpsx_pause_log_s *log = arena->pause_log;
  if (log == NULL)
    return;
  if (log->seconds != NULL && log->count < log->capacity)
    log->seconds[log->count] = seconds;
  ++log->count;
  ++log->kinds[kind];
  log->total += seconds;
  if (seconds > log->max)
    log->max = seconds;
}

/* Stop the world for the collector (from an MPS call or the fault
 * handler, with the arena lock held). */
static double traceStopWorld(Arena arena)
{
  double t0 = ClockSeconds();
  AVER(!arena->busy);
  arena->busy = TRUE;
  LockClaimWorld();
  ThreadRingSuspend(arena);
  return t0;
}

static void traceRestartWorld(Arena arena, double t0, unsigned kind)
{
  Trace trace = arena->trace;
  double seconds;
  ThreadRingResume(arena);
  LockReleaseWorld();
  seconds = ClockSeconds() - t0;
  if (trace != NULL)
    trace->busy_seconds += seconds;
  arena->busy = FALSE;
  tracePause(arena, seconds, kind);
}

/* Phases 5 to 7, with the world stopped. */
static void traceComplete(Trace trace)
{
  Arena arena = trace->arena;
  ArenaStopTouched(arena);
  if (trace->white != ZoneSetEMPTY) {
    if (trace->incremental)
      ArenaUnprotectCondemned(arena); /* reclaim writes pads, frees */
    traceGreyLoop(trace);
    (void)FinalScan(trace);
    traceGreyLoop(trace);
    traceWeakPhase(trace);
    traceReclaim(trace);
    ArenaRecomputeZones(arena);
    ArenaProtectOld(arena);
    if (!arena->clamped) /* mps_arena_release trims */
      ArenaTrimSpare(arena, FALSE);
  }
  traceUpdateMortality(arena, trace);
  ++arena->collections;
  TelemetryEvent(TelTrace, "TraceEnd",
                 "arena=0x%lx condemned=%zu live=%zu copied=%zu "
                 "scanned=%zu moved=%zu incremental=%d busy=%.3f",
                 TelAddr(arena), trace->condemned,
                 trace->copied + trace->preserved, trace->copied,
                 trace->bytes_scanned, trace->objects_moved,
                 (int)trace->incremental, trace->busy_seconds);
  if (trace->end_message != NULL) {
    Message end = trace->end_message;
    end->the.gc.live = trace->copied + trace->preserved;
    end->the.gc.condemned = trace->condemned;
    end->the.gc.not_condemned = trace->not_condemned;
    end->clock = mps_clock();
    MessagePost(arena, end);
    trace->end_message = NULL;
  }
}

/* After the world restarts at the end of a trace. */
static void traceEnd(Trace trace)
{
  Arena arena = trace->arena;
  if (trace->busy_seconds > 0 && trace->condemned > 0) {
    double rate = (double)(trace->condemned + trace->bytes_scanned) /
                  trace->busy_seconds;
    arena->scan_rate = 0.5 * arena->scan_rate + 0.5 * rate;
  }
  if (trace->full) {
    arena->top_size_after_full = arena->top_gen.size;
    arena->live_after_full = trace->copied + trace->preserved;
    arena->allocated_since_full = 0;
  }
  arena->last_trace.condemned = trace->condemned;
  arena->last_trace.live = trace->copied + trace->preserved;
  arena->last_trace.copied = trace->copied;
  arena->last_trace.objects_moved = trace->objects_moved;
  arena->last_trace.segs_pinned = trace->segs_pinned;
  arena->last_trace.segs_skipped = trace->segs_skipped;
  arena->last_trace.bytes_scanned = trace->bytes_scanned;
  arena->last_trace.seconds = ClockSeconds() - trace->started;
  traceFreeControl(trace);
  trace->sig = SigInvalid;
  arena->trace = NULL;
  MessageFlushDeferred(arena);
}

/* Leave a stopped-world interval begun at t0: if the trace is done, its
 * last phases, else barriers for the mutator; restart the world; then
 * the end of the trace, or the mutator runs during it. */
static void traceLeaveIncrement(Trace trace, double t0, Bool done,
                                unsigned kind)
{
  Arena arena = trace->arena;
  if (done) {
    traceComplete(trace);
  } else {
    traceDrainExec(trace);
    ArenaProtectBetweenIncrements(arena);
  }
  traceRestartWorld(arena, t0, kind);
  if (done)
    traceEnd(trace);
  else
    trace->mutator_ran = TRUE;
}

Res TraceStart(Arena arena, Chain chain, int top, Bool full,
               const char *why, Bool atomic)
{
  Trace trace = &arena->trace_struct;
  Message start = NULL, end = NULL;
  double t0;
  Bool done;

  AVERT(Arena, arena);
  AVER(!arena->busy);
  AVER(arena->trace == NULL);
  if (arena->postmortem)
    return MPS_RES_FAIL;
  /* Messages are allocated before the world stops: a stopped thread may
   * hold malloc's lock (DESIGN.md#stopped-world). */
  if (MessageTypeEnabled(arena, mps_message_type_gc_start()))
    (void)MessageCreate(&start, arena, mps_message_type_gc_start());
  if (MessageTypeEnabled(arena, mps_message_type_gc()))
    (void)MessageCreate(&end, arena, mps_message_type_gc());

  memset(trace, 0, sizeof *trace);
  trace->ss._zs = arena->zone_shift;
  trace->ss._w = 0;
  trace->ss._ufs = 0;
  trace->arena = arena;
  trace->rank = RankAMBIG;
  trace->white = ZoneSetEMPTY;
  trace->white_ambig = ZoneSetEMPTY;
  RingInit(&trace->grey);
  RingInit(&trace->grey_exec);
  trace->weak = NULL;
  trace->full = full;
  trace->why = why;
  trace->end_message = end;
  trace->pin_only = FALSE;
  trace->lookahead = TRUE;
  trace->blocks = NULL;
  trace->root_stepper = NULL;
  trace->walk_root = NULL;
  trace->sig = TraceSig;
  arena->trace = trace;

  t0 = traceStopWorld(arena);
  trace->started = t0;
  trace->filled_at_flip = trace->filled_at_step = arena->filled;

  if (start != NULL) {
    start->the.gc_start.why = why;
    start->clock = mps_clock();
    MessagePost(arena, start);
  }

  traceFlipBuffers(arena);
  traceCondemn(trace, chain, top, full);
  /* The soft barrier's faults, before any summary is trusted
   * (DESIGN.md#barrier-soft). */
  ArenaHarvestWrites(arena, trace);
  if (arena->transform != NULL)
    TransformBegin(trace, arena->transform);
  TelemetryEvent(TelTrace, "TraceStart", "arena=0x%lx why=\"%s\" condemned=%zu",
                 TelAddr(arena), why, trace->condemned);
  /* Incremental if it may be and is expected to take longer than the
   * pause time at the measured rate (DESIGN.md#incremental). */
  trace->incremental =
      !atomic && trace->white != ZoneSetEMPTY &&
      traceMayBeIncremental(trace) &&
      (double)trace->condemned / arena->scan_rate > arena->pause_time;
  /* Everything a whole collection writes to, in one pass
   * (DESIGN.md#barrier-batch). */
  if (!trace->incremental)
    ArenaUnprotectForScan(arena, trace->white);

  if (trace->white != ZoneSetEMPTY) {
    /* Ambiguous references first: nothing may move before every pin is
     * known (DESIGN.md#pinning). */
    traceScanRoots(trace, RankAMBIG);
    traceEachSeg(trace, RankAMBIG, scanAmbiguousSeg);
    traceScanRoots(trace, RankEXACT);
    traceSetRank(trace, RankEXACT);
    traceScanMessages(trace);
    traceEachSeg(trace, RankEXACT, greyOrScanUncondemned);
    /* Objects the mutator sees have moved: location dependencies on the
     * white set are stale from here (DESIGN.md#ld).  A trace of pools
     * that never move objects moves nothing: the manual's mps_collections
     * stays 0 in an arena of such pools. */
    if (trace->moving) {
      arena->history[arena->epoch % HISTORY_LENGTH] = trace->white;
      ++arena->epoch;
    }
  }
  done = !trace->incremental;
  traceLeaveIncrement(trace, t0, done,
                      done ? MPSX_PAUSE_ATOMIC : MPSX_PAUSE_FLIP);
  return MPS_RES_OK;
}

void TraceStep(Arena arena, Size work, double seconds)
{
  Trace trace = arena->trace;
  double t0;
  Bool done;
  AVERT(Trace, trace);
  t0 = traceStopWorld(arena);
  done = traceGreyWork(trace, work, t0 + seconds);
  trace->filled_at_step = arena->filled;
  traceLeaveIncrement(trace, t0, done, MPSX_PAUSE_STEP);
}

void TraceFinish(Arena arena)
{
  while (arena->trace != NULL)
    TraceStep(arena, (Size)-1, HUGE_VAL);
}

Bool TraceFault(Arena arena, Seg seg)
{
  Trace trace = arena->trace;
  double t0;
  if (trace == NULL || arena->busy || !seg->grey)
    return FALSE;
  t0 = traceStopWorld(arena);
  /* Scanning may copy into the segment itself: scan until it is black. */
  while (seg->grey) {
    traceUngrey(seg);
    traceScanGrey(trace, seg);
  }
  /* The mutator is about to use it, perhaps write to it: no barrier, and
   * a summary that says nothing.  (A segment that kept its summary and
   * needed no scan kept its protection too.) */
  SegUnprotect(seg);
  seg->summary = ZoneSetUNIV;
  /* Copies go elsewhere from now on, or the mutator would fault here
   * again for every batch of them. */
  if (seg->pgen != NULL && seg->pgen->fwd_seg == seg)
    seg->pgen->fwd_seg = NULL;
  traceLeaveIncrement(trace, t0, FALSE, MPSX_PAUSE_FAULT);
  return TRUE;
}

Res TraceCollect(Arena arena, Chain chain, int top, Bool full,
                 const char *why)
{
  Res res;
  /* The mutator goes first (DESIGN.md#buffers-progress, #threads-fair);
   * while the wait let go of the lock, another thread may have started
   * a trace. */
  do
    TraceFinish(arena);
  while (ArenaAwaitMutators(arena));
  res = TraceStart(arena, chain, top, full, why, TRUE);
  AVER(arena->trace == NULL);
  return res;
}

/* Walk every root reference into an automatic pool: a trace that
 * condemns nothing and whose fix reports instead of fixing.  Other
 * threads are stopped so that their stacks can be read. */
void TraceWalkRoots(Arena arena, mps_roots_stepper_t f, void *p, size_t s)
{
  struct TraceStruct ts;
  Trace trace = &ts;
  Ring node, next;
  memset(trace, 0, sizeof *trace);
  trace->ss._zs = arena->zone_shift;
  trace->ss._w = ZoneSetUNIV; /* let every candidate reach _mps_fix2 */
  trace->arena = arena;
  trace->root_stepper = f;
  trace->walk_p = p;
  trace->walk_s = s;
  trace->sig = TraceSig;
  arena->busy = TRUE;
  LockClaimWorld();
  ThreadRingSuspend(arena);
  RING_FOR(node, &arena->roots, next) {
    Root root = RING_ELT(Root, arena_ring, node);
    trace->rank = root->rank;
    trace->walk_root = root;
    (void)RootScan(trace, root);
  }
  ThreadRingResume(arena);
  LockReleaseWorld();
  arena->busy = FALSE;
  trace->sig = SigInvalid;
}
