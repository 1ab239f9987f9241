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
 */

#include <string.h>

#include "mpm.h"

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
  seg->grey = 1;
  seg->grey_next = trace->grey;
  trace->grey = seg;
}

/* The fix that MPS_FIX2 reaches: total over every word (rule: NULL,
 * integers, addresses outside the arena all return OK unchanged). */
mps_res_t _mps_fix2(mps_ss_t ss, mps_addr_t *ref_io)
{
  Trace trace = TraceOfSS(ss);
  Arena arena = trace->arena;
  Seg seg = SegOfAddr(arena, (Addr)*ref_io);
  if (seg == NULL || !seg->condemned) {
    /* Nothing is condemned while roots are walked. */
    if (trace->root_stepper != NULL && seg != NULL &&
        seg->pool->klass->automatic)
      trace->root_stepper(ref_io, trace->walk_root, trace->walk_p,
                          trace->walk_s);
    return MPS_RES_OK;
  }
  return seg->pool->klass->fix(seg->pool, trace, seg, ref_io);
}

Res TraceFix(Trace trace, mps_addr_t *ref_io, Rank rank)
{
  Rank old = trace->rank;
  Res res = MPS_RES_OK;
  mps_ss_t ss = &trace->ss;
  trace->rank = rank;
  MPS_SCAN_BEGIN(ss) {
    res = MPS_FIX12(ss, ref_io);
  } MPS_SCAN_END(ss);
  trace->rank = old;
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
  trace->rank = SegRank(seg);
  trace->ss._ufs = 0;
  res = format->scan(&trace->ss, AddrAdd(from, header), AddrAdd(to, header));
  ASSERT_ALWAYS(res == MPS_RES_OK);
  trace->rank = old;
  /* The summary of what the segment may refer to: the union of the zones
   * of the references seen (DESIGN.md#barrier).  It only grows here; it
   * is reset when a scan of everything alive in the segment begins: when
   * the segment is condemned, made for copies, or scanned whole. */
  seg->summary |= trace->ss._ufs;
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
  SegAreas(seg, scanArea, trace);
}

static void traceGreyLoop(Trace trace)
{
  Seg seg;
  while ((seg = trace->grey) != NULL) {
    trace->grey = seg->grey_next;
    seg->grey_next = NULL;
    seg->grey = 0;
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
    seg->pool->klass->scan(seg->pool, trace, seg);
  }
}

static void traceScanRoots(Trace trace, Rank rank)
{
  Ring node, next;
  trace->rank = rank;
  RING_FOR(node, &trace->arena->roots, next) {
    Root root = RING_ELT(Root, arena_ring, node);
    if (root->rank == rank) {
      Res res = RootScan(trace, root);
      ASSERT_ALWAYS(res == MPS_RES_OK);
      trace->rank = rank;
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
  AVER(trace->grey == NULL);
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
      Bool condemn = traceCondemns(pgen, chain, top, full);
      RING_FOR(snode, &pgen->segs, snext) {
        Seg seg = RING_ELT(Seg, pgen_ring, snode);
        if (condemn) {
          /* Whatever survives is scanned this trace: the summary is
           * rebuilt from those scans. */
          seg->summary = ZoneSetEMPTY;
          pool->klass->condemn(pool, trace, seg);
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
  trace->ss._w = trace->white;
  ArenaUnprotectCondemned(arena);
}

static void traceReclaim(Trace trace)
{
  Arena arena = trace->arena;
  Ring pnode, pnext;
  size_t g;
  RING_FOR(pnode, &arena->pools, pnext) {
    Pool pool = RING_ELT(Pool, arena_ring, pnode);
    if (!pool->klass->automatic)
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

Res TraceCollect(Arena arena, Chain chain, int top, Bool full,
                 const char *why)
{
  struct TraceStruct ts;
  Trace trace = &ts;
  Message start = NULL, end = NULL;
  double t0, t1;

  AVERT(Arena, arena);
  AVER(!arena->busy);
  if (arena->postmortem)
    return MPS_RES_FAIL;
  /* Messages are allocated before the world stops: a stopped thread may
   * hold malloc's lock (DESIGN.md#stopped-world). */
  if (MessageTypeEnabled(arena, mps_message_type_gc_start()))
    (void)MessageCreate(&start, arena, mps_message_type_gc_start());
  if (MessageTypeEnabled(arena, mps_message_type_gc()))
    (void)MessageCreate(&end, arena, mps_message_type_gc());

  t0 = ClockSeconds();
  trace->ss._zs = arena->zone_shift;
  trace->ss._w = 0;
  trace->ss._ufs = 0;
  trace->arena = arena;
  trace->rank = RankAMBIG;
  trace->white = ZoneSetEMPTY;
  trace->grey = NULL;
  trace->weak = NULL;
  trace->full = full;
  trace->why = why;
  trace->condemned = trace->preserved = trace->copied = 0;
  trace->not_condemned = trace->objects_moved = 0;
  trace->segs_pinned = trace->segs_condemned = trace->bytes_scanned = 0;
  trace->segs_skipped = 0;
  trace->pin_only = FALSE;
  trace->blocks = NULL;
  trace->block_used = 0;
  trace->root_stepper = NULL;
  trace->walk_root = NULL;
  trace->sig = TraceSig;
  arena->busy = TRUE;
  arena->trace = trace;

  LockClaimWorld();
  ThreadRingSuspend(arena);

  if (start != NULL) {
    start->the.gc_start.why = why;
    start->clock = mps_clock();
    MessagePost(arena, start);
  }

  traceFlipBuffers(arena);
  traceCondemn(trace, chain, top, full);

  if (trace->white != ZoneSetEMPTY) {
    /* Ambiguous references first: nothing may move before every pin is
     * known (DESIGN.md#pinning). */
    traceScanRoots(trace, RankAMBIG);
    traceEachSeg(trace, RankAMBIG, scanAmbiguousSeg);
    traceScanRoots(trace, RankEXACT);
    trace->rank = RankEXACT;
    traceScanMessages(trace);
    traceEachSeg(trace, RankEXACT, scanIfUncondemned);
    traceGreyLoop(trace);
    (void)FinalScan(trace);
    traceGreyLoop(trace);
    traceWeakPhase(trace);
    traceReclaim(trace);

    arena->history[arena->epoch % HISTORY_LENGTH] = trace->white;
    ++arena->epoch;
    ArenaRecomputeZones(arena);
    ArenaProtectOld(arena);
    ArenaTrimSpare(arena);
  }
  traceUpdateMortality(arena, trace);
  ++arena->collections;

  if (end != NULL) {
    end->the.gc.live = trace->copied + trace->preserved;
    end->the.gc.condemned = trace->condemned;
    end->the.gc.not_condemned = trace->not_condemned;
    end->clock = mps_clock();
    MessagePost(arena, end);
  }

  ThreadRingResume(arena);
  LockReleaseWorld();

  t1 = ClockSeconds();
  if (t1 > t0 && trace->condemned > 0) {
    double rate = (double)(trace->condemned + trace->bytes_scanned) /
                  (t1 - t0);
    arena->scan_rate = 0.5 * arena->scan_rate + 0.5 * rate;
  }
  if (full) {
    arena->top_size_after_full = arena->top_gen.size;
    arena->allocated_since_full = 0;
  }
  arena->last_trace.condemned = trace->condemned;
  arena->last_trace.live = trace->copied + trace->preserved;
  arena->last_trace.copied = trace->copied;
  arena->last_trace.objects_moved = trace->objects_moved;
  arena->last_trace.segs_pinned = trace->segs_pinned;
  arena->last_trace.segs_skipped = trace->segs_skipped;
  arena->last_trace.bytes_scanned = trace->bytes_scanned;
  arena->last_trace.seconds = t1 - t0;
  traceFreeControl(trace);
  trace->sig = SigInvalid;
  arena->trace = NULL;
  arena->busy = FALSE;
  MessageFlushDeferred(arena);
  return MPS_RES_OK;
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
