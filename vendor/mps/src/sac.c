/* sac.c: segregated allocation caches
 *
 * A cache sits in front of a manual pool that has mps_alloc and mps_free
 * (MFS, MVFF, their debug classes).  It keeps, per size class, a list of
 * free blocks of the class's size, linked through their first word, so
 * that the inline fast paths MPS_SAC_ALLOC_FAST and MPS_SAC_FREE_FAST of
 * mps.h pop and push without a call.  The layout the macros rely on is
 * the public _mps_sac_s, which is the first member of the cache.  This
 * file is the slow path: filling an empty list from the pool, and
 * returning blocks to the pool when a list is full.  See DESIGN.md#sac.
 *
 * A cache is used by one thread at a time (the client's promise); the
 * pool's own operations take the arena lock.
 */

#include <stdlib.h>

#include "mpm.h"

/* The most a refill takes from the pool besides the block it serves. */
#define SAC_FILL_BYTES ((Size)64 << 10)

#define SACSig ((Sig)0x5195AC5AUL)

typedef struct SACStruct {
  _mps_sac_s esac;         /* the public part, first: mps_sac_t points here */
  Sig sig;
  Pool pool;
  size_t classes;          /* size classes in esac._freelists */
} SACStruct, *SAC;

#define SACOfPublic(p) ((SAC)(void *)(p))

CHECK_FUNCTION static Bool SACCheck(SAC sac)
{
  size_t i;
  if (sac == NULL || sac->sig != SACSig || sac->pool == NULL ||
      sac->pool->sig != PoolSig || sac->classes == 0 ||
      sac->classes > 2 * MPS_SAC_CLASS_LIMIT)
    return FALSE;
  if (sac->esac._middle != sac->esac._freelists[sac->classes - 1]._size)
    return FALSE;
  for (i = 0; i < sac->classes; ++i) {
    const _mps_sac_freelist_block_s *fl = &sac->esac._freelists[i];
    if (fl->_count > fl->_count_max || (fl->_count == 0) != (fl->_blocks == NULL))
      return FALSE;
    if (i > 0 && fl->_size <= sac->esac._freelists[i - 1]._size)
      return FALSE;
  }
  return TRUE;
}

mps_res_t mps_sac_create(mps_sac_t *sac_o, mps_pool_t pool,
                         size_t classes_count, mps_sac_class_s *classes)
{
  Arena arena = pool->arena;
  SAC sac;
  size_t i;
  AVER(sac_o != NULL);
  AVER(classes != NULL);
  AVERT(Pool, pool);
  if (pool->klass->alloc == NULL || pool->klass->free == NULL)
    return MPS_RES_PARAM; /* a cache needs mps_alloc and mps_free */
  if (classes_count == 0 || classes_count > 2 * MPS_SAC_CLASS_LIMIT)
    return MPS_RES_PARAM;
  for (i = 0; i < classes_count; ++i) {
    Size size = classes[i].mps_block_size;
    if (size < sizeof(mps_addr_t) || !SizeIsAligned(size, pool->align) ||
        (i > 0 && size <= classes[i - 1].mps_block_size))
      return MPS_RES_PARAM;
  }
  sac = calloc(1, sizeof *sac);
  if (sac == NULL)
    return MPS_RES_MEMORY;
  for (i = 0; i < classes_count; ++i) {
    _mps_sac_freelist_block_s *fl = &sac->esac._freelists[i];
    fl->_size = classes[i].mps_block_size;
    fl->_count = 0;
    fl->_count_max = classes[i].mps_cached_count;
    fl->_blocks = NULL;
  }
  sac->esac._middle = classes[classes_count - 1].mps_block_size;
  sac->esac._trapped = FALSE;
  sac->classes = classes_count;
  sac->pool = pool;
  sac->sig = SACSig;
  AVERT(SAC, sac);
  ArenaEnter(arena);
  ++pool->sacs;
  ArenaLeave(arena);
  *sac_o = &sac->esac;
  return MPS_RES_OK;
}

/* The class serving a request of `size` (size <= _middle). */
static _mps_sac_freelist_block_s *sacClass(SAC sac, Size size)
{
  size_t i = 0;
  while (sac->esac._freelists[i]._size < size)
    ++i;
  AVER(i < sac->classes);
  return &sac->esac._freelists[i];
}

/* Give `n` blocks of the list back to the pool; the arena lock is held. */
static void sacRelease(SAC sac, _mps_sac_freelist_block_s *fl, Size n)
{
  Pool pool = sac->pool;
  while (n > 0 && fl->_count > 0) {
    mps_addr_t p = fl->_blocks;
    fl->_blocks = *(mps_addr_t *)p;
    --fl->_count;
    pool->klass->free(pool, p, fl->_size);
    --n;
  }
}

void mps_sac_flush(mps_sac_t esac)
{
  SAC sac = SACOfPublic(esac);
  Arena arena;
  size_t i;
  AVERT(SAC, sac);
  arena = sac->pool->arena;
  ArenaEnter(arena);
  for (i = 0; i < sac->classes; ++i) {
    _mps_sac_freelist_block_s *fl = &sac->esac._freelists[i];
    sacRelease(sac, fl, fl->_count);
  }
  ArenaLeave(arena);
}

void mps_sac_destroy(mps_sac_t esac)
{
  SAC sac = SACOfPublic(esac);
  Pool pool;
  AVERT(SAC, sac);
  pool = sac->pool;
  mps_sac_flush(esac);
  ArenaEnter(pool->arena);
  AVER(pool->sacs > 0);
  --pool->sacs;
  ArenaLeave(pool->arena);
  sac->sig = SigInvalid;
  free(sac);
}

/* The slow path of MPS_SAC_ALLOC_FAST: an overlarge request, an empty
 * list, or a trapped cache.  An empty list is refilled with half its
 * capacity of blocks of the class's size, besides the one returned. */
mps_res_t mps_sac_fill(mps_addr_t *p_o, mps_sac_t esac, size_t size,
                       mps_bool_t unused)
{
  SAC sac = SACOfPublic(esac);
  Pool pool;
  Addr p = NULL;
  Res res = MPS_RES_OK;
  (void)unused; /* a hint the interface passes on; not needed here */
  AVERT(SAC, sac);
  AVER(p_o != NULL);
  AVER(size > 0);
  pool = sac->pool;
  ArenaEnter(pool->arena);
  if (size > sac->esac._middle) {
    res = pool->klass->alloc(&p, pool, SizeAlignUp(size, pool->align));
  } else {
    _mps_sac_freelist_block_s *fl = sacClass(sac, size);
    if (fl->_count > 0) {
      p = fl->_blocks;
      fl->_blocks = *(mps_addr_t *)p;
      --fl->_count;
    } else {
      /* Half the cached count, but no more than SAC_FILL_BYTES at once: a
       * cached count is a bound, not a request (a huge one would fill
       * memory at the first allocation). */
      Size extra = fl->_count_max / 2;
      if (extra > SAC_FILL_BYTES / fl->_size)
        extra = SAC_FILL_BYTES / fl->_size;
      res = pool->klass->alloc(&p, pool, fl->_size);
      while (res == MPS_RES_OK && extra > 0) {
        Addr q;
        if (pool->klass->alloc(&q, pool, fl->_size) != MPS_RES_OK)
          break; /* the cache stays short; the request is served */
        *(mps_addr_t *)q = fl->_blocks;
        fl->_blocks = q;
        ++fl->_count;
        --extra;
      }
    }
  }
  ArenaLeave(pool->arena);
  if (res == MPS_RES_OK)
    *p_o = p;
  return res;
}

/* The slow path of MPS_SAC_FREE_FAST: an overlarge block, a full list, or
 * a trapped cache.  A full list gives half its blocks back to the pool
 * first. */
void mps_sac_empty(mps_sac_t esac, mps_addr_t p, size_t size)
{
  SAC sac = SACOfPublic(esac);
  Pool pool;
  AVERT(SAC, sac);
  AVER(p != NULL);
  AVER(size > 0);
  pool = sac->pool;
  ArenaEnter(pool->arena);
  if (size > sac->esac._middle) {
    pool->klass->free(pool, p, SizeAlignUp(size, pool->align));
  } else {
    _mps_sac_freelist_block_s *fl = sacClass(sac, size);
    if (fl->_count_max == 0) {
      pool->klass->free(pool, p, fl->_size);
    } else {
      if (fl->_count >= fl->_count_max)
        sacRelease(sac, fl, (fl->_count_max + 1) / 2);
      *(mps_addr_t *)p = fl->_blocks;
      fl->_blocks = p;
      ++fl->_count;
    }
  }
  ArenaLeave(pool->arena);
}

mps_res_t mps_sac_alloc(mps_addr_t *p_o, mps_sac_t sac, size_t size,
                        mps_bool_t unused)
{
  mps_res_t res;
  mps_addr_t p;
  MPS_SAC_ALLOC_FAST(res, p, sac, size, unused);
  if (res == MPS_RES_OK)
    *p_o = p;
  return res;
}

void mps_sac_free(mps_sac_t sac, mps_addr_t p, size_t size)
{
  MPS_SAC_FREE_FAST(sac, p, size);
}
