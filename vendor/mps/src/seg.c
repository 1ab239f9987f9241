/* seg.c: segments
 *
 * A segment is a run of pages owned by one pool, in one pool generation.
 * It carries what the trace needs to know about its objects (condemned,
 * nailed, grey, scanned up to where) and what a future write barrier will
 * need (the summary of zones its references may point to).  See
 * DESIGN.md#segments.
 *
 * Descriptors come from control blocks mapped directly from the OS, so
 * that a trace can make segments while other threads are stopped.
 */

#include "mpm.h"
#include "bt.h"

#define SEG_BLOCK_SIZE ((Size)64 << 10)

/* A control block: a header then descriptors. */
typedef struct SegBlockStruct {
  struct SegBlockStruct *next;
} SegBlockStruct;

Bool SegCheck(Seg seg)
{
  if (seg == NULL || seg->sig != SegSig)
    return FALSE;
  if (!(seg->base < seg->limit) || seg->pool == NULL)
    return FALSE;
  /* Segments of automatic pools belong to a pool generation. */
  if (seg->pool->klass->automatic && seg->pgen == NULL)
    return FALSE;
  if (!(seg->used >= seg->base && seg->used <= seg->limit))
    return FALSE;
  if (seg->buffer != NULL && BufferOfAP(&seg->buffer->ap)->seg != seg)
    return FALSE;
  if (seg->nailed && !seg->condemned)
    return FALSE;
  /* Marking in place is per trace (DESIGN.md#amc-in-place). */
  if ((seg->in_place || seg->pending != NULL) && !seg->condemned)
    return FALSE;
  /* The page table has it, with its condemned bit (DESIGN.md#prefetch):
   * first and last page. */
  {
    Arena arena = seg->pool->arena;
    Word entry = (Word)seg | (seg->condemned ? PAGE_CONDEMNED : 0);
    Addr last = AddrAdd(seg->base, SegSize(seg) - arena->grain);
    if (PageEntry(arena, seg->base) != entry ||
        PageEntry(arena, last) != entry)
      return FALSE;
  }
  return TRUE;
}

static Res segDescriptor(Seg *seg_o, Arena arena)
{
  Seg seg = arena->free_segs;
  if (seg == NULL) {
    SegBlockStruct *block = ControlAllocRaw(SEG_BLOCK_SIZE);
    Seg first;
    Size count, i;
    if (block == NULL)
      return MPS_RES_MEMORY;
    block->next = arena->seg_blocks;
    arena->seg_blocks = block;
    arena->committed += SEG_BLOCK_SIZE;
    arena->control_committed += SEG_BLOCK_SIZE;
    first = (Seg)(void *)AddrAlignUp((Addr)(block + 1), SEG_DESC_ALIGN);
    count = (SEG_BLOCK_SIZE - AddrOffset(block, first)) /
            sizeof(struct SegStruct);
    for (i = 0; i < count; ++i) {
      first[i].free_next = arena->free_segs;
      arena->free_segs = &first[i];
    }
    seg = arena->free_segs;
  }
  arena->free_segs = seg->free_next;
  *seg_o = seg;
  return MPS_RES_OK;
}

void SegFreeDescriptors(Arena arena)
{
  SegBlockStruct *block = arena->seg_blocks;
  while (block != NULL) {
    SegBlockStruct *next = block->next;
    ControlFreeRaw(block, SEG_BLOCK_SIZE);
    arena->committed -= SEG_BLOCK_SIZE;
    arena->control_committed -= SEG_BLOCK_SIZE;
    block = next;
  }
  arena->seg_blocks = NULL;
  arena->free_segs = NULL;
}

Res SegAlloc(Seg *seg_o, Arena arena, Pool pool, PoolGen pgen, Size size,
             ZoneSet pref)
{
  return SegAllocPlaced(seg_o, arena, pool, pgen, size, pref,
                        pgen != NULL ? pgen->gen : NULL);
}

Res SegAllocPlaced(Seg *seg_o, Arena arena, Pool pool, PoolGen pgen,
                   Size size, ZoneSet pref, Gen place)
{
  Seg seg;
  Addr base;
  Res res;

  AVER(SizeIsAligned(size, arena->grain));
  res = segDescriptor(&seg, arena);
  if (res != MPS_RES_OK)
    return res;
  res = ArenaAllocPages(&base, arena, size, pref, place, seg, pool->exec,
                        pool->arena_high);
  if (res != MPS_RES_OK) {
    seg->free_next = arena->free_segs;
    arena->free_segs = seg;
    return res;
  }
  seg->base = base;
  seg->limit = AddrAdd(base, size);
  seg->pool = pool;
  seg->pgen = NULL;
  RingInit(&seg->pgen_ring);
  seg->used = base;
  seg->buffer = NULL;
  seg->ranks = pool->ranks;
  seg->summary = ZoneSetUNIV;
  seg->condemned = 0;
  seg->nailed = 0;
  seg->pinned = 0;
  seg->grey = 0;
  seg->large = 0;
  seg->summary_kept = 0;
  seg->forwarding = 0;
  seg->prot = 0;
  seg->scanned = base;
  seg->nailboard = NULL;
  seg->in_place = 0;
  seg->no_refs = 0;
  seg->pending = NULL;
  seg->starts = NULL;
  seg->starts_serial = 0;
  seg->starts_limit = NULL;
  seg->survived = 0;
  seg->marks = seg->greys = seg->alloc_bits = NULL;
  seg->ms_bits_bytes = 0;
  seg->free_bytes = 0;
  seg->weak_pending = 0;
  seg->weak_next = NULL;
  RingInit(&seg->grey_ring);
  seg->scan_whole = 0;
  seg->pinned_kept = 0;
  seg->flip_limit = NULL;
  seg->stack_next = NULL;
  seg->free_next = NULL;
  seg->prot_touched = 0;
  seg->sig = SegSig;
  SegTouchProt(seg);
  pool->total_size += size;
  if (pgen != NULL)
    SegSetPoolGen(seg, pgen);
  *seg_o = seg;
  return MPS_RES_OK;
}

void SegSetPoolGen(Seg seg, PoolGen pgen)
{
  Size size = SegSize(seg);
  /* Manual pools keep their segments on a ring of their own through the
   * same node. */
  RingRemove(&seg->pgen_ring);
  if (seg->pgen != NULL) {
    seg->pgen->size -= size;
    seg->pgen->gen->size -= size;
  }
  seg->pgen = pgen;
  RingAppend(&pgen->segs, &seg->pgen_ring);
  pgen->size += size;
  pgen->gen->size += size;
  pgen->gen->zones |= SegRefZones(seg);
  SegTouchProt(seg);
}

void SegFree(Seg seg)
{
  Pool pool = seg->pool;
  Arena arena = pool->arena;
  Size size = SegSize(seg);
  AVERT(Seg, seg);
  AVER(seg->buffer == NULL);
  AVER(!seg->grey);
  SegUnprotect(seg); /* its pages may be reused */
  ArenaForgetTouched(arena, seg);
  /* Manual pools keep their segments on a ring of their own through the
   * same node. */
  RingRemove(&seg->pgen_ring);
  if (seg->pgen != NULL) {
    seg->pgen->size -= size;
    seg->pgen->gen->size -= size;
  }
  if (seg->ms_bits_bytes != 0) {
    ControlFreeRaw(seg->marks, seg->ms_bits_bytes);
    arena->committed -= seg->ms_bits_bytes;
    arena->control_committed -= seg->ms_bits_bytes;
  }
  pool->total_size -= size;
  ArenaFreePages(arena, seg->base, size);
  seg->sig = SigInvalid;
  seg->free_next = arena->free_segs;
  arena->free_segs = seg;
}

/* Give the pages [base, limit) of a segment back to the arena: grain
 * aligned, inside the segment and not all of it.  What is left on either
 * side stays the pool's: the part below in `seg`, the part above, when
 * both remain, in a segment of its own.  For
 * segments of manual pools, which hold no collector state: no
 * generation, no mark bits, no buffer, never condemned or protected
 * (DESIGN.md#mvff).  Fails only without memory for a descriptor, leaving
 * the segment whole. */
Res SegFreePart(Seg seg, Addr base, Addr limit)
{
  Pool pool = seg->pool;
  Arena arena = pool->arena;
  AVERT(Seg, seg);
  AVER(AddrIsAligned(base, arena->grain) &&
       AddrIsAligned(limit, arena->grain));
  AVER(seg->base <= base && base < limit && limit <= seg->limit);
  AVER(seg->base != base || seg->limit != limit);
  AVER(seg->pgen == NULL && seg->buffer == NULL && seg->ms_bits_bytes == 0);
  AVER(!seg->condemned && !seg->grey && seg->prot == 0);
  if (seg->base < base && limit < seg->limit) {
    Chunk chunk = ArenaChunkOfAddr(arena, limit);
    Size i, end;
    Seg upper;
    Res res = segDescriptor(&upper, arena);
    if (res != MPS_RES_OK)
      return res;
    *upper = *seg;
    upper->base = limit;
    upper->used = seg->used > limit ? seg->used : limit;
    upper->scanned = limit;
    upper->free_next = NULL;
    upper->stack_next = NULL;
    upper->weak_next = NULL;
    RingInit(&upper->grey_ring);
    RingInit(&upper->pgen_ring);
    RingAppend(&seg->pgen_ring, &upper->pgen_ring);
    i = AddrOffset(chunk->base, limit) >> arena->grain_shift;
    end = AddrOffset(chunk->base, seg->limit) >> arena->grain_shift;
    for (; i < end; ++i)
      chunk->page_seg[i] = upper;
    seg->limit = base;
  } else if (seg->base == base) {
    seg->base = limit;
    seg->scanned = limit;
    if (seg->used < limit)
      seg->used = limit;
  } else {
    seg->limit = base;
  }
  if (seg->used > seg->limit)
    seg->used = seg->limit;
  pool->total_size -= AddrOffset(base, limit);
  ArenaFreePages(arena, base, AddrOffset(base, limit));
  return MPS_RES_OK;
}

void SegSetCondemned(Seg seg, Bool condemned)
{
  Arena arena = seg->pool->arena;
  Chunk chunk = ArenaChunkOfAddr(arena, seg->base);
  Size i = AddrOffset(chunk->base, seg->base) >> arena->grain_shift;
  Size n = SegSize(seg) >> arena->grain_shift, k;
  Word entry = (Word)seg | (condemned ? PAGE_CONDEMNED : 0);
  for (k = i; k < i + n; ++k)
    chunk->page_seg[k] = (Seg)entry;
  seg->condemned = condemned ? 1 : 0;
}

Size SegSize(Seg seg)
{
  return AddrOffset(seg->base, seg->limit);
}

/* The zones exact references to the segment's objects may hold: all of
 * its zones, or, for a segment holding one large object, the zone of its
 * start.  An exact reference holds the object's client pointer (perhaps
 * tagged), within a grain of the segment's base, and zones are at least
 * a grain wide.  A large object spans many zones; counting them all made
 * every nursery collection scan every old segment that referred to any
 * object in those zones (DESIGN.md#zones). */
ZoneSet SegRefZones(Seg seg)
{
  Arena arena = seg->pool->arena;
  if (seg->large)
    return (ZoneSet)1 << ZoneOfAddr(arena, seg->base);
  return ZoneSetOfRange(arena, seg->base, seg->limit);
}

/* The end of the objects in a segment.  A segment with a mutator buffer
 * attached holds objects up to the buffer's init pointer; during a trace,
 * and in pools with references until the buffer is refilled, up to where
 * init was at the flip that trapped the buffer (DESIGN.md#buffers).  For a
 * condemned segment, that stays its limit even once the buffer has left
 * it. */
Addr SegWalkLimit(Seg seg)
{
  Buffer buffer = seg->buffer;
  if (seg->condemned && seg->flip_limit != NULL)
    return seg->flip_limit;
  if (buffer != NULL) {
    Arena arena = seg->pool->arena;
    /* Between traces too: a block committed after the flip is void, and
     * its owner may have done the init store of mps_commit but not yet
     * the trip that rewinds init. */
    if (buffer->flipped &&
        (arena->busy || seg->pool->ranks != RankSetEMPTY))
      return buffer->scan_limit;
    return (Addr)buffer->ap.init;
  }
  return seg->used;
}

void ArenaEachSeg(Arena arena, Pool only, void (*f)(Seg seg, void *closure),
                  void *closure)
{
  Ring pnode, pnext;
  RING_FOR(pnode, &arena->pools, pnext) {
    Pool pool = RING_ELT(Pool, arena_ring, pnode);
    size_t g;
    if ((only != NULL && pool != only) || !pool->klass->automatic)
      continue;
    for (g = 0; g < pool->gen_count; ++g) {
      Ring snode, snext;
      RING_FOR(snode, &pool->pgens[g].segs, snext) {
        f(RING_ELT(Seg, pgen_ring, snode), closure);
      }
    }
  }
}

unsigned SegGrainShift(Seg seg)
{
  return (unsigned)__builtin_ctzl(seg->pool->align);
}

void SegAreas(Seg seg, void (*f)(Seg seg, Addr base, Addr limit,
                                 void *closure),
              void *closure)
{
  Addr hole = SegWalkLimit(seg);
  Addr hole_limit = seg->buffer != NULL ? seg->buffer->limit : hole;
  if (seg->alloc_bits == NULL) {
    /* Copying segments: objects from the base to the walk limit, and, if a
     * buffer is attached, after its limit up to used. */
    if (hole > seg->base)
      f(seg, seg->base, hole, closure);
    if (seg->buffer != NULL && hole_limit < seg->used)
      f(seg, hole_limit, seg->used, closure);
  } else {
    /* Mark-sweep segments: the allocated runs, minus the buffer hole. */
    unsigned shift = SegGrainShift(seg);
    Size n = SegSize(seg) >> shift, i = 0;
    Size hole_i = AddrOffset(seg->base, hole) >> shift;
    Size hole_j = AddrOffset(seg->base, hole_limit) >> shift;
    while (i < n) {
      Size j;
      i = BTFindSet(seg->alloc_bits, i, n);
      if (i >= n)
        break;
      j = BTFindClear(seg->alloc_bits, i, n);
      if (seg->buffer != NULL && i < hole_j && j > hole_i) {
        if (i < hole_i)
          f(seg, AddrAdd(seg->base, i << shift), hole, closure);
        if (j > hole_j)
          f(seg, hole_limit, AddrAdd(seg->base, j << shift), closure);
      } else {
        f(seg, AddrAdd(seg->base, i << shift), AddrAdd(seg->base, j << shift),
          closure);
      }
      i = j;
    }
  }
}

typedef struct {
  void (*f)(Addr client, Seg seg, void *closure);
  void *closure;
} WalkStruct;

static void walkArea(Seg seg, Addr base, Addr limit, void *closure)
{
  WalkStruct *w = closure;
  Format format = seg->pool->format;
  Size header = format->header;
  Addr p = AddrAdd(base, header);
  while (p - header < limit) {
    Addr next = FormatSkip(format, p);
    w->f(p, seg, w->closure);
    p = next;
  }
}

void SegWalkObjects(Seg seg, void (*f)(Addr client, Seg seg, void *closure),
                    void *closure)
{
  WalkStruct w;
  w.f = f;
  w.closure = closure;
  SegAreas(seg, walkArea, &w);
}
