/* segms.h: mark-sweep segments, internal interface (segms.c) */

#ifndef MPS_SEGMS_H
#define MPS_SEGMS_H

#include "mpm.h"
#include "mpscawl.h"

/* The pool structure shared by AMS, AWL and LO. */
typedef struct MSStruct {
  struct mps_pool_s pool;
  struct PoolGenStruct pgen;   /* the one generation its objects live in */
  Size extend_by;
  Bool support_ambiguous;      /* AMS */
  mps_awl_find_dependent_t find_dependent; /* AWL */
  /* AMS debug (poolamsdbg.c): free grains are splatted, or NULL. */
  struct PoolDebugStruct *debug;
} MSStruct, *MS;

#define PoolMS(pool) ((MS)(void *)(pool))

Bool MSCheck(MS ms);
Res MSInit(Pool pool, mps_arg_s args[], RankSet ranks, Bool need_scan);
void MSFinish(Pool pool);
Res MSBufferFill(Addr *base_o, Addr *limit_o, Pool pool, Buffer buffer,
                 Size size);
void MSBufferEmpty(Pool pool, Buffer buffer);
void MSCondemn(Pool pool, Trace trace, Seg seg);
Res MSFix(Pool pool, Trace trace, Seg seg, mps_addr_t *ref_io);
Bool MSIsAlive(Pool pool, Trace trace, Seg seg, Addr ref);
void MSScan(Pool pool, Trace trace, Seg seg);
void MSReclaim(Pool pool, Trace trace, Seg seg);
void MSTraceEnd(Pool pool, Trace trace);
Size MSFreeSize(Pool pool);
/* Call f on every maximal run of free grains of the pool's segments. */
void MSEachFreeRun(Pool pool, void (*f)(Addr base, Addr limit, void *closure),
                   void *closure);

/* AMS, for its debug class (poolamsdbg.c). */
Res AMSInit(Pool pool, mps_arg_s args[]);
void AMSVarargs(mps_arg_s args[], va_list varargs);

/* The methods of every mark-sweep class but its size and finish. */
#define MS_CLASS_COMMON                                                      \
  .sig = PoolClassSig, .automatic = TRUE, .moving = FALSE,                   \
  .buffer_fill = MSBufferFill, .buffer_empty = MSBufferEmpty, .fix = MSFix,  \
  .is_alive = MSIsAlive, .condemn = MSCondemn, .reclaim = MSReclaim,         \
  .trace_end = MSTraceEnd, .scan = MSScan, .free_size = MSFreeSize

#define MS_CLASS_METHODS                                                     \
  MS_CLASS_COMMON, .size = sizeof(MSStruct), .finish = MSFinish

#endif /* MPS_SEGMS_H */
