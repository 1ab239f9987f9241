/* dbgpool.h: the debugging layer of the debug pool classes
 *
 * A debug pool class wraps a manual pool's mps_alloc and mps_free: each
 * block gets a fencepost (copies of the client's fence template) before
 * and after it, checked when it is freed and by mps_pool_check_fenceposts;
 * freed memory is overwritten with the client's free template, checked by
 * mps_pool_check_free_space.  A failed check stops the program with an
 * assertion in every build.  See DESIGN.md#debug.
 */

#ifndef MPS_DBGPOOL_H
#define MPS_DBGPOOL_H

#include "mpm.h"

#define PoolDebugSig ((Sig)0x519DEB06UL)

typedef struct PoolDebugStruct {
  Sig sig;
  unsigned char *fence;    /* the fence template (a copy), or NULL */
  Size fence_size;
  Size fence_alloc;        /* room for a fencepost: fence_size aligned */
  unsigned char *splat;    /* the free template (a copy), or NULL */
  Size splat_size;
  /* Live blocks: open addressing on the client address; a slot holds
   * NULL (empty), DEBUG_TOMB (deleted) or a block. */
  Addr *keys;
  Size *sizes;
  Size capacity, count, used;
} PoolDebugStruct, *PoolDebug;

Bool PoolDebugCheck(PoolDebug debug);
/* Read MPS_KEY_POOL_DEBUG_OPTIONS (absent: no fenceposts, no splatting). */
Res PoolDebugInit(PoolDebug debug, Pool pool, mps_arg_s args[]);
void PoolDebugFinish(PoolDebug debug);
/* Allocate through the underlying method, with fenceposts. */
Res PoolDebugAlloc(PoolDebug debug, Pool pool, PoolAllocMethod alloc,
                   PoolFreeMethod free_method, Addr *p_o, Size size);
/* Check the fenceposts, splat, and free through the underlying method. */
void PoolDebugFree(PoolDebug debug, Pool pool, PoolFreeMethod free, Addr p,
                   Size size);
/* Overwrite free memory [base, limit) with the free template, in phase
 * with the address so that coalesced ranges stay checkable. */
void PoolDebugSplat(PoolDebug debug, Addr base, Addr limit);
/* Is [base, limit) still as PoolDebugSplat left it? */
Bool PoolDebugSplatIntact(PoolDebug debug, Addr base, Addr limit);
void PoolDebugCheckFenceposts(PoolDebug debug);

#endif /* MPS_DBGPOOL_H */
