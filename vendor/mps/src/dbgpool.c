/* dbgpool.c: fenceposts and free-space splatting for debug pool classes
 *
 * See dbgpool.h and DESIGN.md#debug.  The layer lives inside the pool's
 * own alloc and free methods, under the arena lock.
 */

#include <stdlib.h>
#include <string.h>

#include "mpm.h"
#include "args.h"
#include "dbgpool.h"

#define DEBUG_TOMB ((Addr)1)

Bool PoolDebugCheck(PoolDebug debug)
{
  return debug != NULL && debug->sig == PoolDebugSig &&
         debug->count <= debug->used && debug->used <= debug->capacity &&
         (debug->fence == NULL) == (debug->fence_size == 0) &&
         (debug->splat == NULL) == (debug->splat_size == 0);
}

static unsigned char *templateCopy(const void *t, Size size)
{
  unsigned char *copy;
  if (t == NULL || size == 0)
    return NULL;
  copy = malloc(size);
  if (copy != NULL)
    memcpy(copy, t, size);
  return copy;
}

Res PoolDebugInit(PoolDebug debug, Pool pool, mps_arg_s args[])
{
  mps_arg_s arg;
  memset(debug, 0, sizeof *debug);
  if (ArgPick(&arg, args, MPS_KEY_POOL_DEBUG_OPTIONS) &&
      arg.val.pool_debug_options != NULL) {
    const mps_pool_debug_option_s *o = arg.val.pool_debug_options;
    if ((o->fence_size > 0 && o->fence_template == NULL) ||
        (o->free_size > 0 && o->free_template == NULL))
      return MPS_RES_PARAM;
    debug->fence = templateCopy(o->fence_template, o->fence_size);
    debug->splat = templateCopy(o->free_template, o->free_size);
    if ((o->fence_size > 0 && debug->fence == NULL) ||
        (o->free_size > 0 && debug->splat == NULL)) {
      free(debug->fence);
      free(debug->splat);
      return MPS_RES_MEMORY;
    }
    debug->fence_size = debug->fence != NULL ? o->fence_size : 0;
    debug->splat_size = debug->splat != NULL ? o->free_size : 0;
  }
  debug->fence_alloc = SizeAlignUp(debug->fence_size, pool->align);
  debug->sig = PoolDebugSig;
  return MPS_RES_OK;
}

void PoolDebugFinish(PoolDebug debug)
{
  AVERT(PoolDebug, debug);
  free(debug->fence);
  free(debug->splat);
  free(debug->keys);
  free(debug->sizes);
  debug->sig = SigInvalid;
}

/* The live-block table ----------------------------------------------- */

static Size blockSlot(PoolDebug debug, Addr p)
{
  return (Size)(((Word)p >> 3) * (Word)0x9E3779B97F4A7C15ULL) &
         (debug->capacity - 1);
}

/* The slot holding p, or capacity if p is not a live block. */
static Size blockFind(PoolDebug debug, Addr p)
{
  Size i, n;
  if (debug->capacity == 0)
    return 0;
  for (i = blockSlot(debug, p), n = 0; n < debug->capacity;
       i = (i + 1) & (debug->capacity - 1), ++n) {
    if (debug->keys[i] == NULL)
      break;
    if (debug->keys[i] == p)
      return i;
  }
  return debug->capacity;
}

static Res blockGrow(PoolDebug debug)
{
  Size cap = debug->capacity == 0 ? 256 : 2 * debug->capacity, i;
  Addr *keys = calloc(cap, sizeof *keys), *old_keys = debug->keys;
  Size *sizes = calloc(cap, sizeof *sizes), *old_sizes = debug->sizes;
  Size old_cap = debug->capacity;
  if (keys == NULL || sizes == NULL) {
    free(keys);
    free(sizes);
    return MPS_RES_MEMORY;
  }
  debug->keys = keys;
  debug->sizes = sizes;
  debug->capacity = cap;
  debug->count = debug->used = 0;
  for (i = 0; i < old_cap; ++i) {
    if (old_keys[i] != NULL && old_keys[i] != DEBUG_TOMB) {
      Size j = blockSlot(debug, old_keys[i]);
      while (keys[j] != NULL)
        j = (j + 1) & (cap - 1);
      keys[j] = old_keys[i];
      sizes[j] = old_sizes[i];
      ++debug->count;
      ++debug->used;
    }
  }
  free(old_keys);
  free(old_sizes);
  return MPS_RES_OK;
}

static Res blockAdd(PoolDebug debug, Addr p, Size size)
{
  Size i;
  if (4 * (debug->used + 1) > 3 * debug->capacity) {
    Res res = blockGrow(debug);
    if (res != MPS_RES_OK)
      return res;
  }
  i = blockSlot(debug, p);
  while (debug->keys[i] != NULL && debug->keys[i] != DEBUG_TOMB)
    i = (i + 1) & (debug->capacity - 1);
  if (debug->keys[i] == NULL)
    ++debug->used;
  debug->keys[i] = p;
  debug->sizes[i] = size;
  ++debug->count;
  return MPS_RES_OK;
}

/* Fenceposts ---------------------------------------------------------- */

static void fenceWrite(PoolDebug debug, Addr base, Size size)
{
  Size i;
  for (i = 0; i < size; ++i)
    base[i] = debug->fence[i % debug->fence_size];
}

static Bool fenceIntact(PoolDebug debug, Addr base, Size size)
{
  Size i;
  for (i = 0; i < size; ++i)
    if (base[i] != debug->fence[i % debug->fence_size])
      return FALSE;
  return TRUE;
}

/* Both fenceposts of the block at client address p with size bytes. */
static void blockCheck(PoolDebug debug, Addr p, Size size)
{
  if (debug->fence_size == 0)
    return;
  if (!fenceIntact(debug, p - debug->fence_alloc, debug->fence_alloc) ||
      !fenceIntact(debug, p + size, debug->fence_alloc))
    AssertFail(__FILE__, __LINE__,
               "debug pool: a fencepost was overwritten "
               "(a write outside an allocated block)");
}

Res PoolDebugAlloc(PoolDebug debug, Pool pool, PoolAllocMethod alloc,
                   PoolFreeMethod free_method, Addr *p_o, Size size)
{
  Size total = size + 2 * debug->fence_alloc;
  Addr base, p;
  Res res;
  AVERT(PoolDebug, debug);
  if (total < size)
    return MPS_RES_RESOURCE;
  res = alloc(&base, pool, total);
  if (res != MPS_RES_OK)
    return res;
  /* Free memory is splatted (a new segment, a freed block, a buffer's
   * unused tail): a write into the block while it was free shows now,
   * whether or not the client ever calls mps_pool_check_free_space. */
  if (!PoolDebugSplatIntact(debug, base, base + total))
    AssertFail(__FILE__, __LINE__,
               "debug pool: free memory was overwritten (a write to a "
               "freed block), found when it was allocated again");
  p = base + debug->fence_alloc;
  if (debug->fence_size > 0) {
    res = blockAdd(debug, p, size);
    if (res != MPS_RES_OK) {
      free_method(pool, base, total);
      return res;
    }
    fenceWrite(debug, base, debug->fence_alloc);
    fenceWrite(debug, p + size, debug->fence_alloc);
  }
  *p_o = p;
  return MPS_RES_OK;
}

void PoolDebugFree(PoolDebug debug, Pool pool, PoolFreeMethod free_method,
                   Addr p, Size size)
{
  Addr base = p - debug->fence_alloc;
  Size total = size + 2 * debug->fence_alloc;
  AVERT(PoolDebug, debug);
  if (debug->fence_size > 0) {
    Size i = blockFind(debug, p);
    if (i == debug->capacity || debug->sizes[i] != size)
      AssertFail(__FILE__, __LINE__,
                 "debug pool: freeing a block not allocated, or with "
                 "another size");
    blockCheck(debug, p, size);
    debug->keys[i] = DEBUG_TOMB;
    --debug->count;
  }
  PoolDebugSplat(debug, base, base + total);
  free_method(pool, base, total);
}

void PoolDebugCheckFenceposts(PoolDebug debug)
{
  Size i;
  AVERT(PoolDebug, debug);
  for (i = 0; i < debug->capacity; ++i)
    if (debug->keys[i] != NULL && debug->keys[i] != DEBUG_TOMB)
      blockCheck(debug, debug->keys[i], debug->sizes[i]);
}

/* Free space --------------------------------------------------------- */

/* Byte a of free memory holds splat[a % splat_size].  The phase is
 * computed once per range and then stepped (a division per byte made the
 * checks at every reuse cost about 1 ms per 64 KiB).  When the template's
 * size divides a word's, every aligned word holds the same pattern, so
 * the aligned middle of a range is written and compared a word at a
 * time; the ends, and every range of another template, byte by byte. */
static Bool splatPattern(PoolDebug debug, Word *pattern_o)
{
  unsigned char bytes[sizeof(Word)];
  Size k;
  if (sizeof(Word) % debug->splat_size != 0)
    return FALSE;
  for (k = 0; k < sizeof(Word); ++k)
    bytes[k] = debug->splat[k % debug->splat_size];
  memcpy(pattern_o, bytes, sizeof bytes);
  return TRUE;
}

/* The aligned middle [*mid_base_o, *mid_limit_o) of [base, limit) that
 * can go a word at a time, or an empty one. */
static void splatMiddle(PoolDebug debug, Addr base, Addr limit,
                        Word *pattern_o, Addr *mid_base_o, Addr *mid_limit_o)
{
  Addr mb = AddrAlignUp(base, sizeof(Word));
  Addr ml = AddrAlignDown(limit, sizeof(Word));
  if (mb < ml && splatPattern(debug, pattern_o)) {
    *mid_base_o = mb;
    *mid_limit_o = ml;
  } else {
    *mid_base_o = *mid_limit_o = limit;
  }
}

static void splatBytes(PoolDebug debug, Addr base, Addr limit)
{
  Size size = debug->splat_size, j = (Size)((Word)base % size);
  Addr a;
  for (a = base; a < limit; ++a) {
    *a = debug->splat[j];
    if (++j == size)
      j = 0;
  }
}

static Bool splatBytesIntact(PoolDebug debug, Addr base, Addr limit)
{
  Size size = debug->splat_size, j = (Size)((Word)base % size);
  Addr a;
  for (a = base; a < limit; ++a) {
    if (*a != debug->splat[j])
      return FALSE;
    if (++j == size)
      j = 0;
  }
  return TRUE;
}

void PoolDebugSplat(PoolDebug debug, Addr base, Addr limit)
{
  Addr mb, ml;
  Word pattern = 0, *w;
  if (debug->splat_size == 0 || base >= limit)
    return;
  splatMiddle(debug, base, limit, &pattern, &mb, &ml);
  splatBytes(debug, base, mb);
  for (w = (Word *)mb; (Addr)w < ml; ++w)
    *w = pattern;
  splatBytes(debug, ml, limit);
}

Bool PoolDebugSplatIntact(PoolDebug debug, Addr base, Addr limit)
{
  Addr mb, ml;
  Word pattern = 0;
  const Word *w;
  if (debug->splat_size == 0 || base >= limit)
    return TRUE;
  splatMiddle(debug, base, limit, &pattern, &mb, &ml);
  if (!splatBytesIntact(debug, base, mb))
    return FALSE;
  for (w = (const Word *)mb; (Addr)w < ml; ++w)
    if (*w != pattern)
      return FALSE;
  return splatBytesIntact(debug, ml, limit);
}
