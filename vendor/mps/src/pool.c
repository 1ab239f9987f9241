/* pool.c: generic pool operations and class dispatch
 *
 * See DESIGN.md#pools.
 */

#include <stdlib.h>

#include "mpm.h"
#include "telemetry.h"

Bool PoolClassCheck(PoolClass klass)
{
  return klass != NULL && klass->sig == PoolClassSig && klass->name != NULL &&
         klass->size >= sizeof(struct mps_pool_s) && klass->init != NULL &&
         klass->finish != NULL;
}

Bool PoolCheck(Pool pool)
{
  return pool != NULL && pool->sig == PoolSig && pool->arena != NULL &&
         PoolClassCheck(pool->klass) && IsPow2(pool->align) &&
         RingCheck(&pool->buffers) &&
         (pool->format == NULL || pool->format->sig == FormatSig);
}

Res PoolCreate(Pool *pool_o, Arena arena, PoolClass klass, mps_arg_s args[])
{
  Pool pool;
  Res res;
  AVERT(PoolClass, klass);
  pool = calloc(1, klass->size);
  if (pool == NULL)
    return MPS_RES_MEMORY;
  pool->arena = arena;
  pool->klass = klass;
  RingInit(&pool->arena_ring);
  RingInit(&pool->buffers);
  pool->align = sizeof(Word);
  pool->serial = arena->pool_serial++;
  res = klass->init(pool, args);
  if (res != MPS_RES_OK) {
    free(pool);
    return res;
  }
  RingAppend(&arena->pools, &pool->arena_ring);
  pool->sig = PoolSig;
  AVERT(Pool, pool);
  TelemetryEvent(TelPool, "PoolInit", "pool=0x%lx arena=0x%lx class=%s",
                 TelAddr(pool), TelAddr(arena), klass->name);
  *pool_o = pool;
  return MPS_RES_OK;
}

void PoolDestroy(Pool pool)
{
  AVERT(Pool, pool);
  AVER(RingIsSingle(&pool->buffers));
  AVER(pool->sacs == 0); /* caches are destroyed before their pool */
  RingRemove(&pool->arena_ring);
  TelemetryEvent(TelPool, "PoolFinish", "pool=0x%lx", TelAddr(pool));
  pool->klass->finish(pool);
  pool->sig = SigInvalid;
  free(pool);
}
