/* poolmvff.h: the free-range manager of MVFF, shared with MVT
 *
 * MVFF keeps its free memory as address-ordered ranges (poolmvff.c).  MVT
 * (poolmvt.c) is the same manager with its own keys and policies, so the
 * pool structure and the methods they share are declared here.
 * DESIGN.md#mvff, DESIGN.md#mvt.
 */

#ifndef MPS_POOLMVFF_H
#define MPS_POOLMVFF_H

#include "mpm.h"
#include "dbgpool.h"

#define MVFFSig ((Sig)0x5193FFFFUL)

typedef struct RangeStruct {
  Addr base, limit;
} RangeStruct;

typedef struct MVFFStruct {
  struct mps_pool_s pool;
  Sig sig;
  Size extend_by;
  Size mean_size;
  Bool arena_high, slot_high, first_fit;
  double spare;
  Size reserve;            /* free bytes always kept (MVT) */
  Bool over_spare;         /* free memory was over the spare fraction
                              after the last free (mvffReturnSpare) */
  double fill_low_above;   /* fill buffers lowest-first while free/total
                              exceeds this (MVT); > 1: never */
  RangeStruct *ranges;     /* free ranges, sorted, disjoint */
  Size count, capacity;
  Size free_size;          /* sum of the free ranges */
  RingStruct segs;
  struct PoolDebugStruct *debug; /* MVFF debug: splat free memory */
} MVFFStruct, *MVFF;

#define PoolMVFF(pool) ((MVFF)(void *)(pool))

Bool MVFFCheck(MVFF mvff);
/* Set up an empty range set; the caller has set the policy fields. */
void MVFFInitRanges(MVFF mvff);
Res MVFFInit(Pool pool, mps_arg_s args[]);
Res MVFFAlloc(Addr *p_o, Pool pool, Size size);
void MVFFVarargs(mps_arg_s *args, va_list varargs);
void MVFFFinish(Pool pool);
void MVFFFree(Pool pool, Addr p, Size size);
Res MVFFBufferFill(Addr *base_o, Addr *limit_o, Pool pool, Buffer buffer,
                   Size size);
void MVFFBufferEmpty(Pool pool, Buffer buffer);
Size MVFFFreeSize(Pool pool);

/* MVFF debug (poolmvffdbg.c): the pool and its methods, shared with MV
 * debug (poolmv.c). */
typedef struct MVFFDebugStruct {
  MVFFStruct mvff;
  PoolDebugStruct debug;
} MVFFDebugStruct, *MVFFDebug;

#define PoolMVFFDebug(pool) ((MVFFDebug)(void *)(pool))

Res MVFFDebugInit(Pool pool, mps_arg_s args[]);
void MVFFDebugFinish(Pool pool);
Res MVFFDebugAlloc(Addr *p_o, Pool pool, Size size);
void MVFFDebugFree(Pool pool, Addr p, Size size);
void MVFFDebugCheckFenceposts(Pool pool);
void MVFFDebugCheckFreeSpace(Pool pool);

#endif /* MPS_POOLMVFF_H */
