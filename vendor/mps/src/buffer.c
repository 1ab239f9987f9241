/* buffer.c: allocation points
 *
 * The mutator's fast path (mps_reserve, mps_commit: macros in mps.h)
 * touches only the three public words.  This file is the slow path:
 * filling a buffer from the pool, and the trip taken by a commit when the
 * collector has trapped the buffer (limit = 0) at a flip.
 *
 * Only the owning thread ever writes init and alloc; the collector writes
 * only limit (to trap) and reads init (at the flip, with the owner
 * stopped).  See DESIGN.md#buffers.
 */

#include <stdlib.h>

#include "mpm.h"
#include "args.h"

Bool BufferCheck(Buffer buffer)
{
  Addr init, alloc, limit;
  if (buffer == NULL || buffer->sig != BufferSig || buffer->pool == NULL)
    return FALSE;
  init = (Addr)buffer->ap.init;
  alloc = (Addr)buffer->ap.alloc;
  limit = (Addr)buffer->ap.limit;
  if (buffer->seg == NULL)
    return init == alloc && limit == NULL;
  if (!(buffer->base <= init && init <= alloc && alloc <= buffer->limit))
    return FALSE;
  if (limit != NULL && limit != buffer->limit)
    return FALSE;
  /* A retry is the block a fill reserved first. */
  if (buffer->retry_at != NULL &&
      !(buffer->base <= buffer->retry_at && buffer->retry_at < buffer->limit))
    return FALSE;
  /* Automatic pools attach one buffer per segment. */
  return !buffer->pool->klass->automatic || buffer->seg->buffer == buffer;
}

Res BufferCreate(Buffer *buffer_o, Pool pool, mps_arg_s args[])
{
  Buffer buffer;
  mps_arg_s arg;
  if (pool->klass->buffer_fill == NULL)
    return MPS_RES_UNIMPL;
  buffer = calloc(1, sizeof *buffer);
  if (buffer == NULL)
    return MPS_RES_MEMORY;
  buffer->arena = pool->arena;
  buffer->pool = pool;
  buffer->rank = RankEXACT;
  if (ArgPick(&arg, args, MPS_KEY_RANK))
    buffer->rank = arg.val.rank;
  /* The rank must be one the pool's objects may hold (pools without
   * references ignore it). */
  if (pool->ranks != RankSetEMPTY &&
      (buffer->rank >= RankLIMIT ||
       (pool->ranks & RankSetSingle(buffer->rank)) == RankSetEMPTY)) {
    free(buffer);
    return MPS_RES_PARAM;
  }
  if (ArgPick(&arg, args, MPS_KEY_AP_HASH_ARRAYS))
    buffer->hash_arrays = arg.val.b != 0;
  /* A new allocation point has all three fields zero: the first reserve
   * goes to fill. */
  buffer->ap.init = NULL;
  buffer->ap.alloc = NULL;
  buffer->ap.limit = NULL;
  RingInit(&buffer->pool_ring);
  RingAppend(&pool->buffers, &buffer->pool_ring);
  buffer->sig = BufferSig;
  *buffer_o = buffer;
  return MPS_RES_OK;
}

void BufferDestroy(Buffer buffer)
{
  AVERT(Buffer, buffer);
  /* A reserved, uncommitted block is abandoned. */
  buffer->ap.alloc = buffer->ap.init;
  BufferDetach(buffer);
  RingRemove(&buffer->pool_ring);
  buffer->sig = SigInvalid;
  free(buffer);
}

/* Give the buffer's segment back to the pool: objects end at init. */
void BufferDetach(Buffer buffer)
{
  if (buffer->seg != NULL) {
    buffer->pool->klass->buffer_empty(buffer->pool, buffer);
    buffer->seg = NULL;
  }
  buffer->base = NULL;
  buffer->limit = NULL;
  buffer->flipped = FALSE;
  buffer->retry_at = NULL;
  buffer->ap.init = NULL;
  buffer->ap.alloc = NULL;
  buffer->ap.limit = NULL;
}

Res BufferFill(Addr *p_o, Buffer buffer, Size size)
{
  Pool pool = buffer->pool;
  Arena arena = pool->arena;
  Addr base, limit;
  Res res;

  AVER(buffer->ap.init == buffer->ap.alloc);
  if (size == 0 || !SizeIsAligned(size, pool->align))
    return MPS_RES_PARAM;
  /* The fast path failed: the buffer is full, trapped, or the request
   * overflowed.  Retire the current buffer, let the collector run if it
   * is due, then get a fresh one. */
  BufferDetach(buffer);
  ArenaPoll(arena);
  res = pool->klass->buffer_fill(&base, &limit, pool, buffer, size);
  if (res != MPS_RES_OK && arena->trace != NULL && !arena->clamped &&
      !arena->postmortem) {
    /* Finishing the trace in progress frees its condemned memory. */
    TraceFinish(arena);
    res = pool->klass->buffer_fill(&base, &limit, pool, buffer, size);
  }
  if (res != MPS_RES_OK)
    return res;
  arena->filled += AddrOffset(base, limit);
  AVER(buffer->seg != NULL && AddrOffset(base, limit) >= size);
  buffer->base = base;
  buffer->limit = limit;
  buffer->flipped = FALSE;
  /* After a voided commit, the client's loop reserves again at once: the
   * block at base is the retry, which the next flip waits for. */
  buffer->retry_at = buffer->voided ? base : NULL;
  buffer->voided = FALSE;
  buffer->retry_waited = 0.0;
  buffer->filler = (unsigned long)pthread_self();
  buffer->ap.init = base;
  buffer->ap.alloc = AddrAdd(base, size);
  buffer->ap.limit = limit;
  ++buffer->fills;
  *p_o = base;
  return MPS_RES_OK;
}

/* Called by mps_commit when limit is 0.  The block [p, p+size) was
 * reserved; init has just been set to its end. */
Bool BufferTrip(Buffer buffer, Addr p, Size size)
{
  (void)size;
  AVER(buffer->ap.limit == NULL);
  AVER(buffer->ap.init == buffer->ap.alloc);
  AVER(AddrAdd(p, size) == (Addr)buffer->ap.alloc);
  if (buffer->flipped && buffer->scan_limit <= p &&
      buffer->pool->ranks != RankSetEMPTY) {
    /* A flip happened while the block was reserved: the collector neither
     * scanned it nor saw the references the client stored in it.  Void
     * the block; the AP stays trapped so the next reserve refills. */
    buffer->ap.init = p;
    buffer->ap.alloc = p;
    buffer->voided = TRUE;
    return FALSE;
  }
  buffer->voided = FALSE;
  return TRUE;
}

/* Trap the buffer at a flip and record where its objects end.
 *
 * Only the first flip since the buffer was filled records init, in pools
 * whose objects hold references.  A trapped buffer can still hold one
 * block reserved before that flip, and its owner may have done the init
 * store of mps_commit and be stopped, or waiting for the arena lock in
 * mps_ap_trip, when a later flip comes: init then covers the block, but
 * the block is void (its references were read before the first flip's
 * moves).  Recording init again would let the later trace scan the block
 * as an object, with references into memory freed since, and the trip
 * succeed.  Leaf blocks cannot be stale: for them every flip records
 * init, so that a block committed after a flip is an object at the next
 * (DESIGN.md#buffers). */
void BufferFlip(Buffer buffer)
{
  if (buffer->seg != NULL) {
    if (!buffer->flipped || buffer->pool->ranks == RankSetEMPTY)
      buffer->scan_limit = (Addr)buffer->ap.init;
    buffer->flipped = TRUE;
    buffer->ap.limit = NULL;
  }
}

/* Progress for voided commits (DESIGN.md#buffers-progress) ------------- */

/* How long flips wait, in all, for one retry, and how long each look at
 * the buffers sleeps. */
#define RETRY_WAIT_MAX 0.05
#define RETRY_POLL_NS 20000L

/* Is the retry of a voided commit reserved on `buffer` and not yet
 * committed, by another thread than `self`, with time left to wait for?
 * The owner stores init and alloc without the lock (the mps_reserve and
 * mps_commit macros), hence the atomic loads; everything else is written
 * under the arena lock, which the caller holds. */
static Bool bufferRetryPending(Buffer buffer, unsigned long self)
{
  Addr init, alloc;
  if (buffer->retry_at == NULL || buffer->flipped ||
      buffer->filler == self || buffer->retry_waited >= RETRY_WAIT_MAX)
    return FALSE;
  init = __atomic_load_n((Addr *)&buffer->ap.init, __ATOMIC_ACQUIRE);
  alloc = __atomic_load_n((Addr *)&buffer->ap.alloc, __ATOMIC_ACQUIRE);
  return init == buffer->retry_at && alloc != init;
}

/* Charge `seconds` of waiting to every retry still pending; return how
 * many are, with time left to wait for. */
static size_t bufferChargeRetries(Arena arena, unsigned long self,
                                 double seconds)
{
  Ring pnode, pnext, bnode, bnext;
  size_t pending = 0;
  RING_FOR(pnode, &arena->pools, pnext) {
    Pool pool = RING_ELT(Pool, arena_ring, pnode);
    if (!pool->klass->automatic || pool->ranks == RankSetEMPTY)
      continue;
    RING_FOR(bnode, &pool->buffers, bnext) {
      Buffer buffer = RING_ELT(Buffer, pool_ring, bnode);
      if (bufferRetryPending(buffer, self)) {
        buffer->retry_waited += seconds;
        if (buffer->retry_waited < RETRY_WAIT_MAX)
          ++pending;
      }
    }
  }
  return pending;
}

/* Called, with the arena lock held, before a trace flips: while another
 * thread's allocation point holds the retry of a commit that an earlier
 * flip voided, let go of the lock and wait for the commit (at most
 * RETRY_WAIT_MAX for each retry).  A flip in the retry's window would
 * void it again, and a thread whose reserve-to-commit window is longer
 * than the gaps between back-to-back collections would retry forever.
 * Returns TRUE if it released the lock: the caller decides again what
 * to do, since another thread may have changed the arena meanwhile. */
Bool BufferAwaitRetries(Arena arena)
{
  unsigned long self = (unsigned long)pthread_self();
  Bool released = FALSE;
  double last = ClockSeconds();
  AVERT(Arena, arena);
  for (;;) {
    /* One pass charges the nap just taken and counts what is pending. */
    double now = ClockSeconds();
    size_t pending = bufferChargeRetries(arena, self, now - last);
    last = now;
    if (pending == 0)
      return released;
    ArenaNap(arena, RETRY_POLL_NS);
    released = TRUE;
  }
}
