/* transform.c: transforms (mps_transform_*), a collection whose fix
 * replaces references to old objects by references to new ones
 *
 * See DESIGN.md#transforms.  A transform is a hash table old -> new,
 * built while the arena is parked.  mps_transform_apply runs a full,
 * atomic collection with the transform attached to the trace
 * (TransformBegin): its white set also covers the zones of the old
 * objects, so that MPS_FIX1 lets every reference to one through, and
 * _mps_fix2 calls TransformFix first.  Ambiguous references are fixed
 * before any exact one (trace.c, phase 3): one that points into an old
 * object aborts the transform before anything was replaced, so either
 * every reference is replaced or none is.
 */

#include <stdlib.h>
#include <string.h>

#include "mpm.h"

#define TransformSig ((Sig)0x5197A45FUL)

typedef struct {
  Addr base, limit; /* an old object's extent, header included */
} ExtentStruct;

struct mps_transform_s {
  Sig sig;
  Arena arena;
  Size epoch;        /* arena->collections at creation */
  Addr *olds, *news; /* open addressing; olds[i] == NULL: free slot */
  Size capacity;     /* a power of two, or 0 */
  Size count;
  ExtentStruct *extents; /* sorted by base, while being applied */
  ZoneSet zones;         /* of the old objects' extents */
  Bool aborted;          /* an ambiguous reference hit an old object */
  Size replaced;         /* references replaced */
};

Bool TransformCheck(Transform t)
{
  return t != NULL && t->sig == TransformSig && t->arena != NULL &&
         t->count <= t->capacity / 2 &&
         (t->capacity == 0 || IsPow2(t->capacity));
}

static Size hashAddr(Addr a, Size capacity)
{
  Word w = (Word)a;
  w ^= w >> 33;
  w *= (Word)0xff51afd7ed558ccdULL;
  w ^= w >> 29;
  return (Size)w & (capacity - 1);
}

static Bool transformLookup(Transform t, Addr old, Size *i_o)
{
  Size i;
  if (t->capacity == 0)
    return FALSE;
  for (i = hashAddr(old, t->capacity);; i = (i + 1) & (t->capacity - 1)) {
    if (t->olds[i] == NULL) {
      *i_o = i;
      return FALSE;
    }
    if (t->olds[i] == old) {
      *i_o = i;
      return TRUE;
    }
  }
}

static Res transformGrow(Transform t, Size want)
{
  Size capacity = t->capacity == 0 ? 64 : t->capacity, i;
  Addr *olds, *news;
  while (capacity / 2 < want) {
    if (capacity > SIZE_MAX / 4 / sizeof(Addr))
      return MPS_RES_MEMORY;
    capacity *= 2;
  }
  if (capacity == t->capacity)
    return MPS_RES_OK;
  olds = calloc(capacity, sizeof *olds);
  news = calloc(capacity, sizeof *news);
  if (olds == NULL || news == NULL) {
    free(olds);
    free(news);
    return MPS_RES_MEMORY;
  }
  for (i = 0; i < t->capacity; ++i)
    if (t->olds[i] != NULL) {
      Size j = hashAddr(t->olds[i], capacity);
      while (olds[j] != NULL)
        j = (j + 1) & (capacity - 1);
      olds[j] = t->olds[i];
      news[j] = t->news[i];
    }
  free(t->olds);
  free(t->news);
  t->olds = olds;
  t->news = news;
  t->capacity = capacity;
  return MPS_RES_OK;
}

static Bool arenaParked(Arena arena)
{
  return arena->clamped && arena->trace == NULL;
}

Res TransformCreate(Transform *t_o, Arena arena)
{
  Transform t;
  if (!arenaParked(arena))
    return MPS_RES_LIMIT;
  t = calloc(1, sizeof *t);
  if (t == NULL)
    return MPS_RES_MEMORY;
  t->arena = arena;
  t->epoch = arena->collections;
  t->sig = TransformSig;
  *t_o = t;
  return MPS_RES_OK;
}

Arena TransformArena(Transform t)
{
  AVERT(Transform, t);
  return t->arena;
}

/* All or nothing: a NULL or repeated old reference is MPS_RES_PARAM and
 * adds none of the pairs (the table is restored from a copy). */
Res TransformAddOldNew(Transform t, Addr *olds, Addr *news, Size count)
{
  Size k, i, before;
  Addr *saved;
  Res res;
  AVERT(Transform, t);
  if (count == 0)
    return MPS_RES_OK;
  if (count > SIZE_MAX / 4 - t->count)
    return MPS_RES_MEMORY;
  res = transformGrow(t, t->count + count);
  if (res != MPS_RES_OK)
    return res;
  saved = malloc(2 * t->capacity * sizeof *saved);
  if (saved == NULL)
    return MPS_RES_MEMORY;
  memcpy(saved, t->olds, t->capacity * sizeof *saved);
  memcpy(saved + t->capacity, t->news, t->capacity * sizeof *saved);
  before = t->count;
  for (k = 0; k < count; ++k) {
    if (olds[k] == NULL || transformLookup(t, olds[k], &i)) {
      memcpy(t->olds, saved, t->capacity * sizeof *saved);
      memcpy(t->news, saved + t->capacity, t->capacity * sizeof *saved);
      t->count = before;
      free(saved);
      return MPS_RES_PARAM;
    }
    t->olds[i] = olds[k];
    t->news[i] = news[k];
    ++t->count;
  }
  free(saved);
  return MPS_RES_OK;
}

void TransformDestroy(Transform t)
{
  AVERT(Transform, t);
  AVER(t->arena->transform != t);
  t->sig = SigInvalid;
  free(t->olds);
  free(t->news);
  free(t->extents);
  free(t);
}

static int extentCompare(const void *a, const void *b)
{
  const ExtentStruct *x = a, *y = b;
  return x->base < y->base ? -1 : x->base > y->base;
}

/* The extent of the object at client address p: that of its format
 * (skip) in a formatted pool, one byte otherwise. */
static void objectExtent(Arena arena, Addr p, ExtentStruct *e)
{
  Seg seg = SegOfAddr(arena, p);
  e->base = p;
  e->limit = AddrAdd(p, 1);
  if (seg != NULL && seg->pool->format != NULL &&
      seg->pool->format->skip_given && p >= seg->base && p < seg->limit) {
    Format format = seg->pool->format;
    Addr next = FormatSkip(format, p);
    e->base = p - format->header;
    if (next > p)
      e->limit = next - format->header;
  }
}

/* Sorted extents of the old objects, and their zones.  Before the
 * collection, with the world running: the arena is parked, so the
 * objects stay where they are. */
static Res transformPrepare(Transform t)
{
  Size i, n = 0;
  free(t->extents);
  t->extents = malloc((t->count > 0 ? t->count : 1) * sizeof *t->extents);
  if (t->extents == NULL)
    return MPS_RES_MEMORY;
  t->zones = ZoneSetEMPTY;
  for (i = 0; i < t->capacity; ++i)
    if (t->olds[i] != NULL) {
      objectExtent(t->arena, t->olds[i], &t->extents[n]);
      t->zones |= ZoneSetOfRange(t->arena, t->extents[n].base,
                                 t->extents[n].limit);
      ++n;
    }
  AVER(n == t->count);
  qsort(t->extents, n, sizeof *t->extents, extentCompare);
  t->aborted = FALSE;
  t->replaced = 0;
  return MPS_RES_OK;
}

/* Does p lie in an old object's extent?  Extents may nest (a client's
 * objects cannot overlap, but an old reference need not be an object
 * of a formatted pool), so look at the last few below p. */
static Bool transformHits(Transform t, Addr p)
{
  Size lo = 0, hi = t->count, k;
  while (lo < hi) {
    Size mid = (lo + hi) / 2;
    if (t->extents[mid].base <= p)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (k = lo; k > 0 && lo - k < 8; --k)
    if (p < t->extents[k - 1].limit)
      return TRUE;
  return FALSE;
}

void TransformBegin(Trace trace, Transform t)
{
  AVERT(Transform, t);
  trace->transform = t;
  trace->white |= t->zones;
  trace->white_ambig |= t->zones;
  trace->ss._w =
      trace->rank == RankAMBIG ? trace->white_ambig : trace->white;
}

void TransformFix(Trace trace, mps_addr_t *ref_io)
{
  Transform t = trace->transform;
  Size i;
  Addr ref = *ref_io;
  if (t->aborted || ref == NULL)
    return;
  if (trace->rank == RankAMBIG) {
    if (transformHits(t, ref)) {
      /* Nothing exact has been fixed yet (ambiguous references come
       * first): nothing was replaced. */
      AVER(t->replaced == 0);
      t->aborted = TRUE;
    }
    return;
  }
  if (transformLookup(t, ref, &i)) {
    Addr new_ = t->news[i];
    /* _mps_fix2 records the zone where it now points
     * (DESIGN.md#barrier). */
    *ref_io = new_;
    ++t->replaced;
  }
}

Res TransformApply(Bool *applied_o, Transform t)
{
  Arena arena = t->arena;
  Res res;
  AVERT(Transform, t);
  /* Before the checks and before arena->transform is set: waiting for
   * the mutator lets go of the lock, and another thread may collect
   * meanwhile.  The collection below does not wait (the
   * transform is set), so the lock is held from the checks to its end
   * (DESIGN.md#buffers-progress). */
  (void)ArenaAwaitMutators(arena);
  if (!arenaParked(arena))
    return MPS_RES_LIMIT;
  if (arena->collections != t->epoch)
    return MPS_RES_PARAM;
  res = transformPrepare(t);
  if (res != MPS_RES_OK)
    return res;
  arena->transform = t;
  res = ArenaCollect(arena, "Client applied a transform "
                            "(mps_transform_apply)");
  arena->transform = NULL;
  arena->clamped = TRUE; /* left parked */
  if (res != MPS_RES_OK)
    return res;
  *applied_o = !t->aborted;
  if (!t->aborted)
    TransformDestroy(t);
  return MPS_RES_OK;
}
