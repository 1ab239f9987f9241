/* poolsnc.c: SNC, the stack pool (Stack No Checking)
 *
 * Formatted objects are allocated through allocation points only and are
 * never collected or moved; they are freed wholesale by popping an
 * allocation frame.  Each allocation point owns a stack of segments
 * (buffer->stack, linked through seg->stack_next, newest first); its
 * objects lie at the bottom of each segment, [base, used), and in the
 * attached segment up to the point's init.  A frame is a position in that
 * stack: the address just after the last object when it was pushed (NULL
 * for an empty stack).  Popping frees the segments above the one holding
 * the position and cuts that one back to it.  The segments take part in
 * every trace as roots: they are scanned whole at the rank of their
 * point, never condemned, never behind a barrier.  See DESIGN.md#snc.
 */

#include "mpm.h"
#include "args.h"
#include "mpscsnc.h"

#define SNC_EXTEND_BY ((Size)64 << 10)

typedef struct SNCStruct {
  struct mps_pool_s pool;
  /* A generation of its own, in no chain: the segments need a pool
   * generation to be visited by traces, and must count toward no
   * collection policy. */
  struct GenStruct gen;
  struct PoolGenStruct pgen;
  Size extend_by;
} SNCStruct, *SNC;

#define PoolSNC(pool) ((SNC)(void *)(pool))

extern const struct mps_pool_class_s SNCPoolClass;

CHECK_FUNCTION static Bool SNCCheck(SNC snc)
{
  Pool pool = &snc->pool;
  return PoolCheck(pool) && pool->klass == &SNCPoolClass &&
         GenCheck(&snc->gen) && snc->gen.chain == NULL &&
         PoolGenCheck(&snc->pgen) && snc->pgen.gen == &snc->gen &&
         pool->gen_count == 1 && pool->pgens == &snc->pgen &&
         pool->format != NULL && pool->format->header == 0 &&
         snc->extend_by > 0 &&
         SizeIsAligned(snc->extend_by, pool->arena->grain);
}

static Res sncInit(Pool pool, mps_arg_s args[])
{
  SNC snc = PoolSNC(pool);
  Arena arena = pool->arena;
  mps_arg_s arg;
  Format format;

  if (!ArgPick(&arg, args, MPS_KEY_FORMAT) || arg.val.format == NULL)
    return MPS_RES_PARAM;
  format = arg.val.format;
  /* Scanned and walked; no in-band headers (frames are base addresses). */
  if (!FormatCheck(format) || format->arena != arena ||
      !FormatBindFixed(format, args) || !format->scan_given || !format->skip_given || format->header != 0)
    return MPS_RES_PARAM;
  snc->extend_by = SizeAlignUp(SNC_EXTEND_BY, arena->grain);
  GenInit(&snc->gen, NULL, 0, (Size)-1, 0.0);
  PoolGenInit(&snc->pgen, pool, &snc->gen);
  pool->gen_count = 1;
  pool->pgens = &snc->pgen;
  pool->format = format;
  pool->align = format->align;
  pool->ranks = RankSetSingle(RankAMBIG) | RankSetSingle(RankEXACT);
  ++format->pools;
  return MPS_RES_OK;
}

static void sncFinish(Pool pool)
{
  SNC snc = PoolSNC(pool);
  AVERT(SNC, snc);
  while (!RingIsSingle(&snc->pgen.segs))
    SegFree(RING_ELT(Seg, pgen_ring, snc->pgen.segs.next));
  PoolGenFinish(&snc->pgen);
  GenFinish(&snc->gen);
  --pool->format->pools;
}

/* Take the newest segment off the point's stack and free it. */
static void sncPopSeg(Buffer buffer)
{
  Seg seg = buffer->stack;
  AVERT(Seg, seg);
  AVER(seg->buffer == NULL);
  buffer->stack = seg->stack_next;
  seg->stack_next = NULL;
  SegFree(seg);
}

/* Only the newest segment of a stack may be empty: a frame position is
 * then found in the one below it (sncFramePush). */
static Res sncBufferFill(Addr *base_o, Addr *limit_o, Pool pool,
                         Buffer buffer, Size size)
{
  SNC snc = PoolSNC(pool);
  Seg seg = buffer->stack;
  AVERT(SNC, snc);
  AVER(buffer->seg == NULL);
  if (seg != NULL && AddrOffset(seg->used, seg->limit) < size) {
    if (seg->used == seg->base)
      sncPopSeg(buffer);
    seg = NULL;
  }
  if (seg == NULL) {
    Size seg_size = SizeAlignUp(size, pool->arena->grain);
    Res res;
    if (seg_size < size)
      return MPS_RES_RESOURCE;
    if (seg_size < snc->extend_by)
      seg_size = snc->extend_by;
    res = SegAlloc(&seg, pool->arena, pool, &snc->pgen, seg_size,
                   snc->gen.zones);
    if (res != MPS_RES_OK)
      return res;
    seg->ranks = RankSetSingle(buffer->rank);
    seg->used = seg->base;
    seg->summary = ZoneSetUNIV;
    seg->stack_next = buffer->stack;
    buffer->stack = seg;
  }
  SegUnprotect(seg);
  seg->buffer = buffer;
  SegTouchProt(seg);
  buffer->seg = seg;
  *base_o = seg->used;
  *limit_o = seg->limit;
  /* While attached, its objects end at the point's init (SegWalkLimit). */
  seg->used = seg->limit;
  return MPS_RES_OK;
}

static void sncBufferEmpty(Pool pool, Buffer buffer)
{
  Seg seg = buffer->seg;
  (void)pool;
  AVERT(Seg, seg);
  AVER(seg == buffer->stack);
  seg->used = (Addr)buffer->ap.init;
  seg->buffer = NULL;
  SegTouchProt(seg);
}

/* The position just after the point's last object: in the attached
 * segment if it holds one, else the end of the objects of the newest
 * non-empty segment, else NULL.  A position p lies in exactly one live
 * segment s with s->base < p <= s->limit, whatever segments are added
 * later: the byte before p is in s, and segments do not overlap. */
static Res sncFramePush(mps_frame_t *frame_o, Pool pool, Buffer buffer)
{
  Seg seg = buffer->stack;
  AVERT(SNC, PoolSNC(pool));
  (void)pool;
  if (buffer->seg != NULL) {
    AVER(buffer->seg == seg);
    if ((Addr)buffer->ap.init > seg->base) {
      *frame_o = (mps_frame_t)buffer->ap.init;
      return MPS_RES_OK;
    }
    seg = seg->stack_next;
  } else if (seg != NULL && seg->used == seg->base) {
    seg = seg->stack_next;
  }
  AVER(seg == NULL || seg->used > seg->base);
  *frame_o = (mps_frame_t)(seg != NULL ? seg->used : NULL);
  return MPS_RES_OK;
}

/* Free everything allocated on the point since the frame was pushed: the
 * segments above the one holding the position, and that one's objects
 * beyond it.  The point is detached; its next reserve refills from the
 * position, so the memory is reused at once. */
static Res sncFramePop(Pool pool, Buffer buffer, mps_frame_t frame)
{
  Addr pos = (Addr)frame;
  Seg seg;
  AVERT(SNC, PoolSNC(pool));
  (void)pool;
  BufferDetach(buffer);
  /* Find the segment first: a frame that was already popped (or never
   * pushed on this point) changes nothing. */
  for (seg = buffer->stack; seg != NULL; seg = seg->stack_next)
    if (pos != NULL && seg->base < pos && pos <= seg->limit)
      break;
  if (pos != NULL && (seg == NULL || pos > seg->used)) {
    AVER(FALSE); /* not a live frame of this allocation point */
    return MPS_RES_PARAM;
  }
  while (buffer->stack != seg)
    sncPopSeg(buffer);
  if (seg != NULL)
    seg->used = pos;
  return MPS_RES_OK;
}

static Size sncFreeSize(Pool pool)
{
  SNC snc = PoolSNC(pool);
  Ring node, next;
  Size size = 0;
  AVERT(SNC, snc);
  RING_FOR(node, &snc->pgen.segs, next) {
    Seg seg = RING_ELT(Seg, pgen_ring, node);
    if (seg->buffer != NULL)
      size += AddrOffset(seg->buffer->ap.alloc, seg->limit);
    else
      size += AddrOffset(seg->used, seg->limit);
  }
  return size;
}

/* mps_pool_create(&pool, arena, mps_class_snc(), format);
 * mps_ap_create(&ap, pool, rank) (DESIGN.md#varargs). */
static void sncVarargs(mps_arg_s args[MPS_ARGS_MAX], va_list varargs)
{
  args[0].key = MPS_KEY_FORMAT;
  args[0].val.format = va_arg(varargs, mps_fmt_t);
  args[1].key = MPS_KEY_ARGS_END;
}

const struct mps_pool_class_s SNCPoolClass = {
    .sig = PoolClassSig, .name = "SNC", .size = sizeof(SNCStruct),
    .automatic = TRUE, .moving = FALSE, .never_condemned = TRUE,
    .init = sncInit, .finish = sncFinish, .buffer_fill = sncBufferFill,
    .buffer_empty = sncBufferEmpty, .free_size = sncFreeSize,
    .varargs = sncVarargs, .ap_rank_vararg = TRUE,
    .frame_push = sncFramePush, .frame_pop = sncFramePop};

mps_pool_class_t mps_class_snc(void)
{
  return (mps_pool_class_t)&SNCPoolClass;
}
