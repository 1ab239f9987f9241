/* reclaimhook.c: the reclaim hook extension (mpsx.h)
 *
 * A client that keeps something outside the heap for each object (the
 * code pool: unwind tables registered with the unwinder) learns which
 * objects died: the pool class's reclaim calls PoolReclaimHook on the
 * blocks it frees or pads, with the world still stopped.  See
 * DESIGN.md#reclaim-hook.
 */

#include "mpm.h"
#include "mpsx.h"

void PoolReclaimHook(Pool pool, Addr base, Addr limit)
{
  Format format = pool->format;
  Size header;
  Addr p;
  AVERT(Pool, pool);
  if (pool->reclaim_hook == NULL || format == NULL)
    return;
  header = format->header;
  p = AddrAdd(base, header);
  while (p - header < limit) {
    Addr next = format->skip(p);
    AVER(next > p);
    if (format->isfwd(p) == NULL)
      pool->reclaim_hook(p, pool->reclaim_closure);
    p = next;
  }
}

#if EXTENSIONS /* DESIGN.md#strict */

void mpsx_pool_reclaim_hook_set(mps_pool_t pool, mpsx_reclaim_hook_t hook,
                                void *closure)
{
  Arena arena = pool->arena;
  ArenaEnter(arena);
  AVERT(Pool, pool);
  pool->reclaim_hook = hook;
  pool->reclaim_closure = closure;
  ArenaLeave(arena);
}

#endif /* EXTENSIONS */
