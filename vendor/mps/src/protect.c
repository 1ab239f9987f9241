/* protect.c: the write barrier and the read barrier
 *
 * After a collection, every segment of an older generation whose objects
 * may hold references is made read-only, with its summary (the zones its
 * references may point to) exact from the scan that just happened.  A
 * minor collection then skips every protected segment whose summary misses
 * the condemned zones.  The first write by the mutator faults; the handler
 * makes the segment writable again and widens its summary to every zone,
 * so the next collection scans it (and protects it again).
 *
 * Invariant (DESIGN.md#barrier): a protected segment's summary contains
 * the zone of every reference it holds.  The collector itself never writes
 * to a protected segment: it unprotects before it scans (fixing writes
 * references), condemns, frees or refills one.
 *
 * During an incremental trace, grey segments are not accessible at all
 * (the read barrier, DESIGN.md#incremental); the handler has the trace
 * scan the segment, which makes it black, then lifts the protection.
 *
 * Faults that are not ours go to the handler installed before this one
 * (for example Rust's stack-overflow handler), or to the default action.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "mpm.h"
#include "bt.h"

static struct sigaction oldSegvAction;
static Bool segvInstalled = FALSE;

static int protFlags(unsigned mode)
{
  switch (mode) {
  case SegProtRO:
    return PROT_READ;
  case SegProtNA:
    return PROT_NONE;
  default:
    return PROT_READ | PROT_WRITE;
  }
}

/* Change [base, limit), in one chunk (NULL: chunks of the mprotect
 * barrier only), to mode from the modes its segments had (`had`: bit
 * 1 << m for each old mode m).  The mprotect barrier: one mprotect.  The soft barrier (DESIGN.md#barrier-soft):
 * pages with the write barrier are readable and writable and
 * write-protected through the userfaultfd, so only the read barrier
 * (SegProtNA) changes the pages' protection; lifting the write barrier
 * removes the write protection, so that the mutator's writes do not
 * enter the kernel at all. */
#define HAD(m) (1u << (m))

static void protChange(Chunk chunk, Addr base, Addr limit, unsigned mode,
                       unsigned had)
{
  if (base >= limit)
    return;
  if (chunk == NULL || !chunk->soft) {
    ASSERT_ALWAYS(mprotect(base, AddrOffset(base, limit), protFlags(mode)) ==
                  0);
    return;
  }
  if (mode == SegProtNA) {
    ASSERT_ALWAYS(mprotect(base, AddrOffset(base, limit), PROT_NONE) == 0);
    return;
  }
  if (had & HAD(SegProtNA))
    ASSERT_ALWAYS(mprotect(base, AddrOffset(base, limit),
                           PROT_READ | PROT_WRITE) == 0);
  if (mode == SegProtRO)
    SoftBarrierProtect(base, limit, TRUE);
  else if (had & (HAD(SegProtRO) | HAD(SegProtNA)))
    SoftBarrierProtect(base, limit, FALSE);
}

/* The chunk of seg where protChange needs it, or NULL: in an arena
 * without the soft barrier every chunk is mprotect's, and the lookup is
 * not made. */
static Chunk segSoftChunk(Seg seg)
{
  Arena arena = seg->pool->arena;
  Chunk chunk;
  if (!arena->soft_barrier)
    return NULL;
  chunk = ArenaChunkOfAddr(arena, seg->base);
  AVER(chunk != NULL);
  return chunk;
}

void SegSetProt(Seg seg, unsigned mode)
{
  if (seg->prot != mode) {
    protChange(segSoftChunk(seg), seg->base, seg->limit, mode,
               HAD(seg->prot));
    seg->prot = mode;
    SegTouchProt(seg);
  }
}

void SegProtect(Seg seg)
{
  SegSetProt(seg, SegProtRO);
}

/* Change the protection of many segments with few system calls: walk the
 * page tables in address order and apply one mprotect to each run of
 * adjacent segments that need the same change (DESIGN.md#barrier-batch).
 * A run also bridges adjacent segments that are already in its mode:
 * setting a page to the protection it has changes nothing, and one call
 * replaces two.  Free pages end a run, except committed ones in a run
 * that makes pages writable: they are writable already.  `want` gives the
 * mode a segment should end up in, given `zones` (a zone set it may
 * use). */
static void arenaSetProtection(Arena arena,
                               unsigned (*want)(Seg seg, ZoneSet zones),
                               ZoneSet zones)
{
  unsigned c;
  for (c = 0; c < arena->chunk_count; ++c) {
    Chunk chunk = arena->chunks[c];
    Size i = 0;
    /* The run to change, [run_base, run_limit), and beyond it up to
     * `bridge` segments already in run_mode; run_had, the modes its
     * segments had. */
    Addr run_base = NULL, run_limit = NULL, bridge = NULL;
    unsigned run_mode = SegProtRW, run_had = 0;
    while (i < chunk->pages) {
      Seg seg;
      unsigned mode;
      Size free_base = i;
      i = BTFindSet(chunk->alloc_table, i, chunk->pages);
      if (i >= chunk->pages)
        break;
      /* Free committed pages are writable (SegFree lifts the barrier):
       * a run that makes pages writable may bridge them too. */
      if (i > free_base && run_base != NULL && run_mode == SegProtRW &&
          !chunk->exec &&
          bridge == AddrAdd(chunk->base, free_base << arena->grain_shift) &&
          BTFindClear(chunk->commit_table, free_base, i) >= i)
        bridge = AddrAdd(chunk->base, i << arena->grain_shift);
      seg = PageSeg((Word)chunk->page_seg[i]);
      i += SegSize(seg) >> arena->grain_shift;
      mode = want(seg, zones);
      if (mode == seg->prot) {
        /* Not over a soft barrier already up: protecting it again would
         * forget the writes since (DESIGN.md#barrier-soft). */
        if (run_base != NULL && seg->base == bridge && mode == run_mode &&
            !(chunk->soft && mode == SegProtRO))
          bridge = seg->limit;
        continue;
      }
      if (run_base != NULL && run_mode == mode &&
          (seg->base == run_limit || seg->base == bridge)) {
        run_limit = seg->limit;
      } else {
        if (run_base != NULL)
          protChange(chunk, run_base, run_limit, run_mode, run_had);
        run_base = seg->base;
        run_limit = seg->limit;
        run_mode = mode;
        run_had = 0;
      }
      bridge = run_limit;
      run_had |= HAD(seg->prot);
      seg->prot = mode;
    }
    if (run_base != NULL)
      protChange(chunk, run_base, run_limit, run_mode, run_had);
  }
}

/* May the write barrier go up on this segment: one with references, no
 * buffer, outside the youngest generation of its chain, not condemned,
 * with a summary narrower than everything?  Not a large object that
 * referred to nothing when last scanned (a string; not code, whose scan
 * relinks it): scanning it again
 * reads one header, which costs less than protecting it and lifting
 * the protection again when it dies, a system call each over all its
 * pages (DESIGN.md#barrier-leaf). */
static Bool barrierEligible(Seg seg)
{
  Pool pool = seg->pool;
  return pool->klass->automatic && !pool->klass->never_condemned &&
         pool->ranks != RankSetEMPTY &&
         seg->pgen != NULL &&
         !(seg->pgen->gen->chain != NULL && seg->pgen->gen->index == 0) &&
         seg->buffer == NULL && !seg->condemned &&
         seg->summary != ZoneSetUNIV && SegRank(seg) != RankAMBIG &&
         !(seg->large && seg->no_refs && !pool->exec);
}

/* At the end of a trace: protect the segments that a minor collection can
 * hope to skip.  Protected ones stay protected.  A segment whose summary
 * meets the nursery's zones will be scanned by the next collection
 * anyway, and one of a generation that the next collection of its chain
 * will condemn will be written to by it: protecting it now and
 * unprotecting it then are two system calls for nothing, so it stays
 * writable, with a summary that says nothing (DESIGN.md#barrier-avoid).
 * Not a large object's segment: condemned, it is not written to, and its
 * summary spares it a scan if it survives (DESIGN.md#amc-large-scan). */
static unsigned wantProtectOld(Seg seg, ZoneSet nursery)
{
  AVER(seg->prot != SegProtNA);
  if (seg->prot == SegProtRO)
    return SegProtRO;
  if (!barrierEligible(seg)) {
    /* The mutator may write to it unseen (the others are scanned whole
     * anyway: buffered, ambiguous, youngest, or without a summary). */
    if (seg->large && seg->no_refs && !seg->pool->exec &&
        seg->ranks != RankSetEMPTY)
      seg->summary = ZoneSetUNIV;
    return SegProtRW;
  }
  if ((seg->summary & nursery) != ZoneSetEMPTY ||
      (seg->pgen->gen->condemned_next && !seg->large)) {
    seg->summary = ZoneSetUNIV;
    return SegProtRW;
  }
  return SegProtRO;
}

void ArenaProtectOld(Arena arena)
{
  /* The zones of the references to every chain's youngest generation:
   * the white set of the next minor collection will contain them.  With
   * one chain in use, the next collection is of that chain, and it will
   * condemn the generations ChainNextTop names.  (With several, another
   * chain's collection would scan their unprotected segments whole.) */
  ZoneSet nursery = ZoneSetEMPTY;
  Ring node, next;
  Chain only = NULL;
  unsigned in_use = 0;
  int top = 0, g;
  RING_FOR(node, &arena->chains, next) {
    Chain chain = RING_ELT(Chain, arena_ring, node);
    nursery |= chain->gens[0].zones;
    if (chain->pools > 0) {
      only = chain;
      ++in_use;
    }
  }
  if (in_use == 1)
    top = ChainNextTop(only);
  for (g = 1; g <= top; ++g) {
    only->gens[g].condemned_next = TRUE;
    nursery |= only->gens[g].zones; /* white at the next collection too */
  }
  arenaSetProtection(arena, wantProtectOld, nursery);
  for (g = 1; g <= top; ++g)
    only->gens[g].condemned_next = FALSE;
}

/* The collector writes into condemned segments (forwarding markers,
 * pads), and into every protected segment that it will scan because its
 * summary meets the white set (fixing writes references): lift the
 * barrier on all of them at once, in address-ordered runs, rather than
 * one segment at a time as they are scanned (DESIGN.md#barrier-batch).
 * With `white` empty, condemned segments only. */
static unsigned wantUnprotectCondemned(Seg seg, ZoneSet white)
{
  /* A large object is never forwarded nor padded: nothing is written to
   * its segment (DESIGN.md#amc-large-scan). */
  if (seg->condemned && seg->summary_kept)
    return seg->prot;
  if (seg->condemned)
    return SegProtRW;
  if (seg->prot == SegProtRO && seg->ranks != RankSetEMPTY &&
      (seg->summary & white) != ZoneSetEMPTY)
    return SegProtRW;
  return seg->prot;
}

void ArenaUnprotectCondemned(Arena arena)
{
  arenaSetProtection(arena, wantUnprotectCondemned, ZoneSetEMPTY);
}

void ArenaUnprotectForScan(Arena arena, ZoneSet white)
{
  arenaSetProtection(arena, wantUnprotectCondemned, white);
}

static unsigned wantNothing(Seg seg, ZoneSet zones)
{
  (void)seg;
  (void)zones;
  return SegProtRW;
}

void ArenaUnprotectAll(Arena arena)
{
  arenaSetProtection(arena, wantNothing, ZoneSetEMPTY);
}

/* Before the mutator runs between two increments (DESIGN.md#incremental):
 * grey segments get the read barrier; an uncondemned segment the
 * collector has made writable gets the write barrier back if it may have
 * it, or else an unknown summary, because the mutator may now write into
 * it without a fault.  Condemned segments the mutator cannot reach (it
 * holds no white reference) stay as they are. */
static unsigned wantBetweenIncrements(Seg seg, ZoneSet zones)
{
  (void)zones;
  if (seg->grey)
    return SegProtNA;
  if (seg->condemned || seg->prot != SegProtRW ||
      seg->ranks == RankSetEMPTY)
    return seg->prot;
  if (barrierEligible(seg))
    return SegProtRO;
  seg->summary = ZoneSetUNIV;
  return SegProtRW;
}

/* Apply want to the touched segments only, in address order, one
 * mprotect per run of adjacent segments that need the same change
 * (DESIGN.md#barrier-touched).  A run bridges a gap of at most a few
 * segments that are in its mode already (they are untouched, so they
 * stay in it). */
#define BRIDGE_SEGS 8

static Bool protBridges(Arena arena, Chunk chunk, Addr from, Addr to,
                        unsigned mode)
{
  unsigned n;
  /* Never over a soft barrier already up (DESIGN.md#barrier-soft). */
  if (chunk != NULL && chunk->soft && mode == SegProtRO)
    return from == to;
  for (n = 0; n < BRIDGE_SEGS && from < to; ++n) {
    Seg seg = SegOfAddr(arena, from);
    /* Executable pools' segments lie in the code chunk, which no run
     * crosses into. */
    if (seg == NULL || seg->pool->exec || seg->base != from ||
        seg->prot != mode)
      return FALSE;
    from = seg->limit;
  }
  return from == to;
}

static void protApplyTouched(Arena arena,
                             unsigned (*want)(Seg seg, ZoneSet zones))
{
  Seg *segs = arena->prot_touched;
  Size n = arena->prot_touched_count, i;
  Addr run_base = NULL, run_limit = NULL;
  unsigned run_mode = SegProtRW, run_had = 0;
  Chunk run_chunk = NULL;
  /* Insertion sort by address: a step touches a few segments. */
  for (i = 1; i < n; ++i) {
    Seg seg = segs[i];
    Size j = i;
    while (j > 0 && segs[j - 1]->base > seg->base) {
      segs[j] = segs[j - 1];
      --j;
    }
    segs[j] = seg;
  }
  for (i = 0; i < n; ++i) {
    Seg seg = segs[i];
    unsigned mode = want(seg, ZoneSetEMPTY);
    Chunk chunk;
    if (mode == seg->prot)
      continue;
    chunk = segSoftChunk(seg);
    if (run_base != NULL && run_mode == mode && run_chunk == chunk &&
        (seg->base == run_limit ||
         protBridges(arena, chunk, run_limit, seg->base, mode))) {
      run_limit = seg->limit;
    } else {
      if (run_base != NULL)
        protChange(run_chunk, run_base, run_limit, run_mode, run_had);
      run_base = seg->base;
      run_limit = seg->limit;
      run_mode = mode;
      run_had = 0;
      run_chunk = chunk;
    }
    run_had |= HAD(seg->prot);
    seg->prot = mode;
  }
  if (run_base != NULL)
    protChange(run_chunk, run_base, run_limit, run_mode, run_had);
}

static void touchedClear(Arena arena)
{
  Size i;
  for (i = 0; i < arena->prot_touched_count; ++i)
    arena->prot_touched[i]->prot_touched = 0;
  arena->prot_touched_count = 0;
  arena->prot_touched_overflow = FALSE;
}

void ArenaForgetTouched(Arena arena, Seg seg)
{
  Size i;
  if (!seg->prot_touched)
    return;
  for (i = 0; i < arena->prot_touched_count; ++i) {
    if (arena->prot_touched[i] == seg) {
      arena->prot_touched[i] =
          arena->prot_touched[--arena->prot_touched_count];
      break;
    }
  }
  seg->prot_touched = 0;
}

void ArenaStopTouched(Arena arena)
{
  touchedClear(arena);
  arena->prot_tracking = FALSE;
}

#if defined(MPS_CHECK) && MPS_CHECK
/* After ArenaProtectBetweenIncrements: every segment is as the walk of
 * all of them would have left it (the touched list missed none). */
static unsigned wantCheckBetweenIncrements(Seg seg, ZoneSet zones)
{
  (void)zones;
  if (seg->grey)
    AVER(seg->prot == SegProtNA);
  else if (!seg->condemned && seg->prot == SegProtRW &&
           seg->ranks != RankSetEMPTY)
    AVER(!barrierEligible(seg) && seg->summary == ZoneSetUNIV);
  return seg->prot;
}
#endif

/* The first time in a trace, every segment; after that, only those
 * touched since (DESIGN.md#barrier-touched).  Until 2026-12-07 every
 * segment every time: in the pause benchmark about 40,000 segments at
 * each of 2,000 steps, 12% of the time. */
void ArenaProtectBetweenIncrements(Arena arena)
{
  if (!arena->prot_tracking || arena->prot_touched_overflow)
    arenaSetProtection(arena, wantBetweenIncrements, ZoneSetEMPTY);
  else
    protApplyTouched(arena, wantBetweenIncrements);
  touchedClear(arena);
  arena->prot_tracking = TRUE;
#if defined(MPS_CHECK) && MPS_CHECK
  arenaSetProtection(arena, wantCheckBetweenIncrements, ZoneSetEMPTY);
#endif
}

/* The soft barrier's faults, all at once (DESIGN.md#barrier-soft): at
 * the start of a trace, with the world stopped, every segment with the
 * barrier up whose pages were written since it went up is treated as the
 * fault handler treats a segment of the mprotect barrier: no barrier,
 * and a summary of every zone, so the trace scans it.  Its remaining
 * write-protected pages stay so until the barrier goes up again, which
 * protects them all afresh; the trace's own writes to them enter the
 * kernel once a page. */
typedef struct {
  Arena arena;
  Chunk chunk;
} HarvestStruct;

/* The segment of the first allocated page of [*i, end) in chunk, or
 * NULL; *i moves past the segment. */
static Seg chunkNextSeg(Chunk chunk, Size *i, Size end)
{
  Size j = BTFindSet(chunk->alloc_table, *i, end);
  Seg seg;
  if (j >= end)
    return NULL;
  seg = PageSeg((Word)chunk->page_seg[j]);
  *i = AddrOffset(chunk->base, seg->limit) >> chunk->arena->grain_shift;
  return seg;
}

static void harvestRun(void *closure, Addr base, Addr limit)
{
  HarvestStruct *h = closure;
  Chunk chunk = h->chunk;
  Arena arena = h->arena;
  Size i, end;
  Seg seg;
  if (base < chunk->base)
    base = chunk->base;
  if (limit > chunk->limit)
    limit = chunk->limit;
  if (base >= limit)
    return;
  i = AddrOffset(chunk->base, base) >> arena->grain_shift;
  end = (AddrOffset(chunk->base, limit) + arena->grain - 1) >>
        arena->grain_shift;
  while ((seg = chunkNextSeg(chunk, &i, end)) != NULL) {
    if (seg->prot == SegProtRO) {
      seg->prot = SegProtRW;
      seg->summary = ZoneSetUNIV;
      SegTouchProt(seg);
      ++arena->soft_hits;
    }
  }
}

/* Ask about the runs of adjacent segments with the barrier up only: the
 * kernel walks the page tables of the range it is given, and a chunk's
 * other pages (the nursery, free and unmapped ones) are most of it. */
static void harvestAsk(HarvestStruct *h, Addr base, Addr limit)
{
  /* If the kernel will not say, everything may have been written. */
  if (base < limit && !SoftBarrierWritten(base, limit, harvestRun, h))
    harvestRun(h, base, limit);
}

void ArenaHarvestWrites(Arena arena, Trace trace)
{
  unsigned c;
  for (c = 0; c < arena->chunk_count; ++c) {
    Chunk chunk = arena->chunks[c];
    HarvestStruct h;
    Addr run_base = NULL, run_limit = NULL;
    Size i = 0;
    Seg seg;
    if (!chunk->soft)
      continue;
    h.arena = arena;
    h.chunk = chunk;
    while ((seg = chunkNextSeg(chunk, &i, chunk->pages)) != NULL) {
      if (seg->prot != SegProtRO)
        continue;
      /* During a trace: only the segments whose summary it will trust. */
      if (trace != NULL &&
          (seg->condemned ? !seg->summary_kept
                          : (seg->summary & trace->white) != ZoneSetEMPTY))
        continue;
      if (run_base != NULL && seg->base == run_limit) {
        run_limit = seg->limit;
        continue;
      }
      harvestAsk(&h, run_base, run_limit);
      run_base = seg->base;
      run_limit = seg->limit;
    }
    harvestAsk(&h, run_base, run_limit);
  }
}

/* In a forked child the mappings are no longer registered with the
 * userfaultfd, and their pages are not write-protected any more: every
 * segment that had the soft barrier is one without a barrier, which may
 * have been written; the child uses the mprotect barrier from now on
 * (DESIGN.md#fork). */
void ArenaForkChildBarrier(Arena arena)
{
  unsigned c;
  for (c = 0; c < arena->chunk_count; ++c) {
    Chunk chunk = arena->chunks[c];
    HarvestStruct h;
    if (!chunk->soft)
      continue;
    h.arena = arena;
    h.chunk = chunk;
    harvestRun(&h, chunk->base, chunk->limit);
    chunk->soft = FALSE;
  }
  arena->soft_barrier = FALSE;
}

/* Pass a fault that is not a barrier's to the handler installed before
 * ours, as the kernel would have delivered it: with the mask of the
 * interrupted code plus that handler's own (ours blocks every signal). */
static void chainSegv(int sig, siginfo_t *info, ucontext_t *uc)
{
  const struct sigaction *old = &oldSegvAction;
  if (old->sa_handler == SIG_IGN)
    return;
  if (old->sa_handler != SIG_DFL) {
    sigset_t mask = uc->uc_sigmask;
    int s;
    for (s = 1; s < NSIG; ++s)
      if (sigismember(&old->sa_mask, s) == 1)
        (void)sigaddset(&mask, s);
    if (!(old->sa_flags & SA_NODEFER))
      (void)sigaddset(&mask, sig);
    (void)pthread_sigmask(SIG_SETMASK, &mask, NULL);
    if (old->sa_flags & SA_SIGINFO)
      old->sa_sigaction(sig, info, uc);
    else
      old->sa_handler(sig);
    return;
  }
  /* Default action: restore it and return, so the faulting instruction
   * runs again and the process dies of it as it would have. */
  {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    (void)sigaction(sig, &dfl, NULL);
  }
}

typedef struct SegFaultStruct {
  Arena arena;
  Seg seg;
} SegFaultStruct;

/* A fault on a segment of ours, with the arena lock held.  Grey: the read
 * barrier; scan it (DESIGN.md#incremental).  Read-only: the write
 * barrier; lift it.  Neither: another thread resolved the fault since;
 * the access will succeed when retried. */
static void segFault(void *closure)
{
  SegFaultStruct *f = closure;
  Seg seg = f->seg;
  if (seg->prot == SegProtNA)
    (void)TraceFault(f->arena, seg);
  if (seg->prot != SegProtRW) {
    SegUnprotect(seg);
    seg->summary = ZoneSetUNIV;
  }
}

/* Handlers looking at the process's arenas.  An arena being destroyed
 * leaves the ring at once, but its structure is freed only when no
 * handler is looking (ArenaDestroy, DESIGN.md#barrier-handlers): one that
 * read the ring before may still claim its lock or follow its link. */
static unsigned long protHandlersActive;

/* Others that walk the ring without the global lock count themselves
 * too: the fork handlers (thread.c). */
void ProtRingWalkBegin(void)
{
  (void)__atomic_add_fetch(&protHandlersActive, 1, __ATOMIC_SEQ_CST);
}

void ProtRingWalkEnd(void)
{
  (void)__atomic_sub_fetch(&protHandlersActive, 1, __ATOMIC_SEQ_CST);
}

Bool ProtRingWalkersIdle(void)
{
  __atomic_thread_fence(__ATOMIC_SEQ_CST); /* after the ring changed */
  return __atomic_load_n(&protHandlersActive, __ATOMIC_SEQ_CST) == 0;
}

/* Is the fault at `addr` a barrier's?  If so, handle it.  The lookup runs
 * where the handler runs; the work, which may scan a segment with the
 * client's format methods, on the faulting code's own stack if the
 * handler is on the alternate one (DESIGN.md#sigstacks). */
static Bool barrierFault(Addr addr, ucontext_t *uc)
{
  Ring node, next;
  Bool ours = FALSE;
  ProtRingWalkBegin();
  RING_FOR(node, &ArenaGlobalRing, next) {
    Arena arena = RING_ELT(Arena, global_ring, node);
    SegFaultStruct f;
    f.arena = arena;
    f.seg = NULL;
    TEST_HOOK(MPSX_HOOK_FAULT_ARENA);
    if (LockIsHeldByMe(&arena->lock))
      continue; /* a fault inside the collector is a bug: not ours */
    LockClaim(&arena->lock);
    /* Not one being destroyed: its chunks may be going. */
    if (!arena->dying && ArenaChunkOfAddr(arena, addr) != NULL)
      f.seg = SegOfAddr(arena, addr);
    if (f.seg != NULL) {
      Addr top = SigStackMutatorTop(uc);
      if (top != NULL)
        SigStackCall(segFault, &f, top);
      else
        segFault(&f);
    }
    LockRelease(&arena->lock);
    if (f.seg != NULL) {
      ours = TRUE;
      break;
    }
  }
  ProtRingWalkEnd();
  return ours;
}

/* The handler runs with every signal blocked (ProtInstallHandler), so
 * nothing nests in it: not the collector's suspend signal, which finds
 * the thread parked instead (DESIGN.md#threads), nor a handler of the
 * program's. */
static void segvHandler(int sig, siginfo_t *info, void *context)
{
  int saved_errno = errno;
  ucontext_t *uc = context;
  Bool ours = FALSE;
  TEST_HOOK(MPSX_HOOK_FAULT_ENTRY);
  ThreadPark(uc);
  TEST_HOOK(MPSX_HOOK_FAULT_PARKED);
  if (info->si_code == SEGV_ACCERR)
    ours = barrierFault(info->si_addr, uc);
  ThreadUnpark();
  if (!ours)
    chainSegv(sig, info, uc);
  errno = saved_errno;
}

Res ProtInstallHandler(void)
{
  Res res = MPS_RES_OK;
  LockClaimGlobal();
  if (!segvInstalled) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segvHandler;
    /* SA_ONSTACK: a stack overflow must still reach the previous handler
     * on the alternate stack.  Every signal blocked: nothing nests in the
     * handler (DESIGN.md#sigstacks). */
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &oldSegvAction) == 0)
      segvInstalled = TRUE;
    else
      res = MPS_RES_RESOURCE;
  }
  LockReleaseGlobal();
  return res;
}
