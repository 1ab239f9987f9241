/* mpm.h: the collector's internal interface
 *
 * Every module's structures and internal functions are declared here, so
 * that the modules (one concern per file) share one vocabulary.  The public
 * interface (mps.h) is implemented by mpsi.c, the entry layer, which is the
 * only place a public call crosses into these internals: it checks the
 * client's arguments and takes the arena lock.
 *
 * Design notes are in ../DESIGN.md; comments cite them by tag, e.g.
 * DESIGN.md#pinning.
 */

#ifndef MPS_MPM_H
#define MPS_MPM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>

#include "mps.h"
#include "check.h"
#include "mpslib.h"
#include "mpsx.h"

/* Functions that read stacks (which hold words the address sanitiser
 * may have poisoned: red zones between locals) without instrumentation:
 * reading them is legitimate for a conservative scan. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define NO_SANITIZE_ADDRESS
#endif

/* The strict variety (-DMPSX_STRICT=1) defines no symbol of the extension
 * interface mpsx.h, so that clients can be tested against the MPS
 * interface alone (DESIGN.md#strict).  The code behind the extensions
 * stays; only their entry points go. */
#if defined(MPSX_STRICT) && MPSX_STRICT
#define EXTENSIONS 0
#else
#define EXTENSIONS 1
#endif

/* ---------------------------------------------------------------------
 * Basic types
 */

typedef mps_word_t Word;
typedef unsigned char *Addr;     /* an address we do arithmetic on */
typedef size_t Size;
typedef int Bool;
typedef mps_res_t Res;
typedef Word Sig;
typedef Word ZoneSet;            /* bit z set: zone z (DESIGN.md#zones) */
typedef unsigned Rank;
typedef unsigned RankSet;

#define TRUE 1
#define FALSE 0

#define WORD_BITS ((unsigned)(sizeof(Word) * 8))
#define ZONE_COUNT 64
#define ZoneSetEMPTY ((ZoneSet)0)
#define ZoneSetUNIV (~(ZoneSet)0)

enum {
  RankAMBIG = 0,
  RankEXACT = 1,
  RankFINAL = 2,
  RankWEAK = 3,
  RankLIMIT = 4
};
#define RankSetSingle(r) ((RankSet)1 << (r))
#define RankSetEMPTY ((RankSet)0)

#define AddrAdd(a, s) ((Addr)(a) + (s))
#define AddrOffset(b, l) ((Size)((Addr)(l) - (Addr)(b)))
#define SizeIsAligned(s, a) (((s) & ((a)-1)) == 0)
#define AddrIsAligned(p, a) ((((Word)(p)) & ((a)-1)) == 0)
#define SizeAlignUp(s, a) (((s) + (a)-1) & ~((Size)(a)-1))
#define AddrAlignDown(p, a) ((Addr)((Word)(p) & ~((Word)(a)-1)))
#define AddrAlignUp(p, a) ((Addr)(((Word)(p) + (a)-1) & ~((Word)(a)-1)))
#define IsPow2(x) ((x) != 0 && ((x) & ((x)-1)) == 0)

/* ---------------------------------------------------------------------
 * Rings: intrusive doubly linked lists
 */

typedef struct RingStruct {
  struct RingStruct *next, *prev;
} RingStruct, *Ring;

void RingInit(Ring ring);
void RingAppend(Ring ring, Ring node);
void RingRemove(Ring node);
Bool RingIsSingle(Ring ring);
Bool RingCheck(Ring ring);
/* The structure of pointer type `type` whose member `field` is `node`. */
#define RING_ELT(type, field, node)                                          \
  ((type)(void *)((char *)(node)-offsetof(__typeof__(*(type)0), field)))
/* Iterate; the current node may be removed from the ring in the body. */
#define RING_FOR(node_, ring_, next_)                                        \
  for ((node_) = (ring_)->next, (next_) = (node_)->next; (node_) != (ring_); \
       (node_) = (next_), (next_) = (node_)->next)

/* ---------------------------------------------------------------------
 * Forward declarations.  Public handles are pointers to these same
 * structures: struct mps_arena_s is the arena, and so on.
 */

typedef struct mps_arena_s *Arena;
typedef struct ChunkStruct *Chunk;
typedef struct SegStruct *Seg;
typedef struct mps_pool_s *Pool;
typedef const struct mps_pool_class_s *PoolClass;
typedef struct mps_fmt_s *Format;
typedef struct BufferStruct *Buffer;
typedef struct mps_root_s *Root;
typedef struct mps_thr_s *Thread;
typedef struct mps_chain_s *Chain;
typedef struct GenStruct *Gen;
typedef struct PoolGenStruct *PoolGen;
typedef struct mps_message_s *Message;
typedef struct TraceStruct *Trace;
typedef struct FinalEntryStruct *FinalEntry;
typedef struct mps_transform_s *Transform;

/* ---------------------------------------------------------------------
 * Plinth (lib.c)
 */

double ClockSeconds(void);                 /* monotonic, in seconds */
void ClockNap(long nanoseconds);           /* sleep, under a second */
void *ControlAllocRaw(Size size);          /* mmap'd, zeroed, page granular */
void ControlFreeRaw(void *p, Size size);

/* ---------------------------------------------------------------------
 * Locks (lock.c).  DESIGN.md#locking
 */

typedef struct LockStruct {
  Sig sig;
  pthread_mutex_t mutex;
  /* The holder's thread id, or 0.  Only the holder stores its own id, and
   * it stores 0 before unlocking, so a thread reads its own id here only
   * while it holds the lock, whatever other threads do (DESIGN.md#locking). */
  unsigned long owner;
  Bool held;
  unsigned waiting;        /* threads blocked in LockClaim (atomic) */
  unsigned long claims;    /* acquisitions so far (atomic) */
} LockStruct, *Lock;

void LockInit(Lock lock);
void LockFinish(Lock lock);
void LockClaim(Lock lock);
void LockRelease(Lock lock);
Bool LockIsHeldByMe(Lock lock);
/* Threads blocked claiming it, and how often it has been claimed: a
 * holder that would take it again at once lets a waiter have it first
 * (ArenaAwaitMutators, DESIGN.md#threads-fair). */
Bool LockHasWaiters(Lock lock);
unsigned long LockClaims(Lock lock);
void LockForgetWaiters(Lock lock); /* in a forked child: none of them is */
Bool LockCheck(Lock lock);
void LockClaimWorld(void);    /* serialises stop-the-world phases */
void LockReleaseWorld(void);
void LockClaimGlobal(void);   /* protects process-wide state */
void LockReleaseGlobal(void);

/* ---------------------------------------------------------------------
 * Virtual memory (vm.c)
 */

Res VMReserve(Addr *base_o, Size size, Size align);
void VMUnreserve(Addr base, Size size);
Res VMCommit(Addr base, Size size);
void VMDecommit(Addr base, Size size);
/* The same, keeping the mapping (and its userfaultfd registration). */
void VMDecommitInPlace(Addr base, Size size);
/* Code memory: one memfd, a read-write and a read-execute view. */
Res VMReserveCode(Addr *rw_o, Addr *rx_o, int *fd_o, Size size, Size align);
void VMUnreserveCode(Addr rw, Addr rx, int fd, Size size);
Res VMCommitCode(Addr rw, Addr rx, Size size);
void VMDecommitCode(Addr rw, Addr rx, int fd, Size offset, Size size);
void CodeFlush(Addr rx, Size size);      /* instruction cache, code.c */
/* Flush the execute view of [rw, rw + size) of the arena's code. */
void CodeFlushWritten(Arena arena, Addr rw, Size size);
Size VMPageSize(void);

/* ---------------------------------------------------------------------
 * Chunks and the page table (arena.c).  DESIGN.md#arena
 *
 * A chunk is one contiguous reservation.  Its page table maps every page
 * (arena grain) to the segment that owns it, so that finding the segment
 * of an address is a chunk lookup plus an index.  Two bit tables say
 * which pages are allocated to segments and which are committed; a page
 * that is committed but not allocated is "spare".
 */

#define ChunkSig ((Sig)0x519C4A4BUL)

struct ChunkStruct {
  Sig sig;
  Arena arena;
  Addr base, limit;        /* the usable pages */
  Size pages;
  Seg *page_seg;           /* page_seg[i]: segment owning page i, or NULL,
                              with PAGE_CONDEMNED or'd in while the
                              segment is condemned (PageSeg) */
  Word *alloc_table;       /* bit i: page i belongs to a segment */
  Word *commit_table;      /* bit i: page i is committed */
  Addr map_base;           /* the whole reservation, including alignment */
  Size map_size;
  Size table_bytes;        /* size of the control mapping for the tables */
  void *tables;
  /* A code chunk (DESIGN.md#code) is a memfd mapped twice: the chunk's
   * own addresses are the read-write view, exec_base the read-execute
   * view of the same pages. */
  Bool exec;
  Addr exec_base;
  int fd;
  /* A client chunk (DESIGN.md#client-arena) is a block the client gave:
   * its tables at the start, its pages after them; nothing is mapped or
   * unmapped, commit and decommit are bookkeeping only. */
  Bool client;
  /* Its write barrier is the soft one (softbar.c, DESIGN.md#barrier-soft):
   * the chunk is registered with the userfaultfd, and a segment in
   * SegProtRO has readable, writable, write-protected pages. */
  Bool soft;
};

Bool ChunkCheck(Chunk chunk);

/* ---------------------------------------------------------------------
 * Segments (seg.c).  DESIGN.md#segments
 */

#define SegSig ((Sig)0x5195E9UL)
#define SEG_DESC_ALIGN 64 /* a cache line */

struct SegStruct {
  /* What the fix of a reference to it reads comes first, in one cache
   * line: descriptors are aligned to one, and the look-ahead pass
   * prefetches it (DESIGN.md#prefetch). */
  _Alignas(SEG_DESC_ALIGN) Sig sig;
  Pool pool;
  PoolGen pgen;            /* the pool generation it belongs to */
  Word *nailboard;         /* bit per 8 bytes: objects pinned this trace */
  Size survived;           /* bytes copied out of it or kept this trace */
  Addr base, limit;        /* grain aligned */
  unsigned condemned : 1;  /* condemned by the current trace */
  unsigned nailed : 1;     /* retained in place this trace (pinned) */
  unsigned pinned : 1;     /* nailed by an ambiguous reference */
  unsigned grey : 1;       /* on the trace's grey list */
  unsigned large : 1;      /* holds one large object: retained, not copied */
  unsigned summary_kept : 1; /* condemned with its barrier up: its summary
                                still holds (DESIGN.md#amc-large-scan) */
  unsigned forwarding : 1; /* the current trace copies into it */
  unsigned prot : 2;       /* SegProtRW, SegProtRO or SegProtNA */
  unsigned scan_whole : 1; /* grey as a whole: an uncondemned segment that
                              may refer to the white set */
  unsigned pinned_kept : 1; /* AMC: kept in its generation by a pin at the
                               last collection that condemned it */
  /* AMC promotion in place (DESIGN.md#amc-in-place). */
  unsigned in_place : 1;   /* condemned: reached objects stay, marked */
  /* Its scans since its summary was last reset fixed no reference: a
   * leaf object (a string) in a pool with references.  A hint for the
   * barrier's policy only (DESIGN.md#barrier-leaf). */
  unsigned no_refs : 1;
  /* The rest. */
  RingStruct pgen_ring;    /* in pgen->segs */
  Addr used;               /* objects occupy [base, used) unless buffered */
  Buffer buffer;           /* mutator buffer attached to it, or NULL */
  RankSet ranks;           /* ranks of references its objects hold */
  ZoneSet summary;         /* zones its references may point to (barrier) */
  Addr scanned;            /* [base, scanned) already scanned this trace */
  Addr flip_limit;         /* condemned with a buffer attached: where its
                              objects ended at the flip, else NULL */
  Word *pending;           /* bit per 8 bytes: marked, not yet scanned
                              (DESIGN.md#amc-in-place) */
  /* AMC: where its blocks start, one bit per 8 bytes, in [base,
   * starts_limit), for ambiguous references; valid only in the trace
   * whose serial is starts_serial: arena->collections + 1 while it runs
   * (DESIGN.md#pinning). */
  Word *starts;
  Word starts_serial;
  Addr starts_limit;
  /* Mark-sweep segments (segms.c): one bit per alignment grain. */
  Word *marks;             /* object marked live this trace */
  Word *greys;             /* marked, not yet scanned */
  Word *alloc_bits;        /* grain holds an object or a buffer */
  Size ms_bits_bytes;      /* size of the mapping holding the three */
  Size free_bytes;         /* grains not allocated */
  unsigned weak_pending : 1; /* on the trace's weak list */
  unsigned prot_touched : 1; /* in arena->prot_touched (protect.c) */
  Seg weak_next;
  RingStruct grey_ring;    /* in trace->grey while grey */
  Seg stack_next;          /* SNC: the segment below it in its allocation
                              point's stack (DESIGN.md#snc) */
  Seg free_next;           /* descriptor free list */
};

/* Protection of a segment's pages (protect.c, DESIGN.md#barrier and
 * DESIGN.md#incremental). */
enum {
  SegProtRW = 0, /* no barrier */
  SegProtRO = 1, /* write barrier: summary exact */
  SegProtNA = 2  /* read barrier: grey, the mutator must not see it */
};

Bool SegCheck(Seg seg);
Res SegAlloc(Seg *seg_o, Arena arena, Pool pool, PoolGen pgen, Size size,
             ZoneSet pref);
/* SegAlloc placed as for generation `place` rather than pgen's (zones it
 * claims, DESIGN.md#zones), or as for a pool without one (NULL). */
Res SegAllocPlaced(Seg *seg_o, Arena arena, Pool pool, PoolGen pgen,
                   Size size, ZoneSet pref, Gen place);
void SegFree(Seg seg);
/* Give pages [base, limit) of a manual pool's segment back to the arena;
 * the part above, if any, becomes a segment of its own (DESIGN.md#mvff). */
Res SegFreePart(Seg seg, Addr base, Addr limit);
Addr SegWalkLimit(Seg seg);                /* end of the objects in it */
ZoneSet SegRefZones(Seg seg);  /* zones exact references to it may hold */
/* Call f on every maximal area [base, limit) of consecutive formatted
 * objects of the segment (never an attached buffer's hole, never free
 * space of a mark-sweep segment). */
void SegAreas(Seg seg, void (*f)(Seg seg, Addr base, Addr limit,
                                 void *closure),
              void *closure);
/* Call f on the client pointer of every formatted object (pads and
 * forwarding markers included), in address order. */
void SegWalkObjects(Seg seg, void (*f)(Addr client, Seg seg, void *closure),
                    void *closure);
unsigned SegGrainShift(Seg seg);          /* mark-sweep bit granularity */
/* Call f on every segment of every automatic pool of the arena, or of the
 * pool `only` if not NULL.  f may move the segment to another generation
 * of its pool or free it. */
void ArenaEachSeg(Arena arena, Pool only, void (*f)(Seg seg, void *closure),
                  void *closure);
Size SegSize(Seg seg);
/* Set or clear seg->condemned and its pages' PAGE_CONDEMNED bits. */
void SegSetCondemned(Seg seg, Bool condemned);
void SegSetPoolGen(Seg seg, PoolGen pgen);
void SegFreeDescriptors(Arena arena);

/* ---------------------------------------------------------------------
 * Generations and chains (chain.c).  DESIGN.md#generations
 */

#define ChainSig ((Sig)0x519C8A1EUL)
#define GenSig ((Sig)0x5196E4UL)

struct GenStruct {
  Sig sig;
  Chain chain;             /* NULL for the arena's top generation */
  unsigned index;
  Size capacity;           /* bytes */
  double mortality;        /* moving average of the observed mortality */
  Size new_size;           /* allocated or promoted since last condemned */
  Size size;               /* bytes in its segments */
  ZoneSet zones;           /* zones its segments occupy (SegRefZones) or
                              prefer */
  ZoneSet claim;           /* zones kept for it: other generations go
                              there only when nothing else is free
                              (chain generations only; DESIGN.md#zones) */
  RingStruct pgens;        /* PoolGens of every pool in this generation */
  Bool condemned_next;     /* ArenaProtectOld: the next collection of its
                              chain will condemn it */
};

struct mps_chain_s {
  Sig sig;
  Arena arena;
  RingStruct arena_ring;
  size_t gen_count;
  unsigned pools;          /* pools using it */
  struct GenStruct *gens;  /* gen_count generations */
};

/* A pool's part of one generation. */
struct PoolGenStruct {
  Sig sig;
  Pool pool;
  Gen gen;
  PoolGen next;            /* where survivors are promoted (self at top) */
  RingStruct gen_ring;     /* in gen->pgens */
  RingStruct segs;         /* its segments */
  Size size;
  /* Forwarding buffer: where the current trace copies survivors. */
  Seg fwd_seg;
};

Bool ChainCheck(Chain chain);
Bool GenCheck(Gen gen);
Bool PoolGenCheck(PoolGen pgen);
Res ChainCreate(Chain *chain_o, Arena arena, size_t count,
                const mps_gen_param_s *params);
void ChainDestroy(Chain chain);
void GenInit(Gen gen, Chain chain, unsigned index, Size capacity,
             double mortality);
void GenFinish(Gen gen);
void PoolGenInit(PoolGen pgen, Pool pool, Gen gen);
void PoolGenFinish(PoolGen pgen);
/* The generation index that should be collected next, or -1. */
Size ChainGenCapacity(Chain chain, size_t i);
int ChainDeadline(Chain chain);
int ChainNextTop(Chain chain);
void ArenaRecomputeZones(Arena arena);

/* ---------------------------------------------------------------------
 * Formats (format.c)
 */

#define FormatSig ((Sig)0x519F0E4AUL)

struct mps_fmt_s {
  Sig sig;
  Arena arena;
  RingStruct arena_ring;
  Size align;
  Size header;
  mps_fmt_scan_t scan;
  mps_fmt_skip_t skip;
  mps_fmt_fwd_t fwd;
  mps_fmt_isfwd_t isfwd;
  mps_fmt_pad_t pad;
  mps_fmt_class_t klass;
  Bool scan_given, skip_given, fwd_given, pad_given;
  unsigned pools;
  /* Variant fixed (mps_fmt_create_fixed, DESIGN.md#fixed-format): no
   * skip; every object is fixed_size bytes, learnt from the first pool. */
  Bool fixed;
  Size fixed_size;
};

Bool FormatCheck(Format format);
Res FormatCreate(Format *format_o, Arena arena, mps_arg_s args[]);
void FormatDestroy(Format format);
/* A pool taking the format: a fixed format learns its object size from
 * MPS_KEY_MFS_UNIT_SIZE in the pool's arguments.  FALSE if the format is
 * fixed and the size is missing, bad, or not the one it already has. */
Bool FormatBindFixed(Format format, mps_arg_s args[]);

/* The client address after the object at client address p: the
 * format's skip method, or the fixed size. */
static inline Addr FormatSkip(Format format, Addr p)
{
  return format->fixed_size != 0 ? AddrAdd(p, format->fixed_size)
                                 : (Addr)format->skip(p);
}

/* ---------------------------------------------------------------------
 * Pools (pool.c) and pool classes (poolamc.c, ...).  DESIGN.md#pools
 */

#define PoolSig ((Sig)0x519B0011UL)
#define PoolClassSig ((Sig)0x519C1A55UL)

typedef Res (*PoolInitMethod)(Pool pool, mps_arg_s args[]);
typedef void (*PoolFinishMethod)(Pool pool);
typedef Res (*PoolBufferFillMethod)(Addr *base_o, Addr *limit_o, Pool pool,
                                    Buffer buffer, Size size);
typedef void (*PoolBufferEmptyMethod)(Pool pool, Buffer buffer);
typedef Res (*PoolFixMethod)(Pool pool, Trace trace, Seg seg,
                             mps_addr_t *ref_io);
typedef Bool (*PoolIsAliveMethod)(Pool pool, Trace trace, Seg seg, Addr ref);
typedef void (*PoolCondemnMethod)(Pool pool, Trace trace, Seg seg);
typedef void (*PoolReclaimMethod)(Pool pool, Trace trace, Seg seg);
typedef void (*PoolTraceEndMethod)(Pool pool, Trace trace);
typedef Res (*PoolAllocMethod)(Addr *p_o, Pool pool, Size size);
typedef void (*PoolFreeMethod)(Pool pool, Addr p, Size size);
typedef void (*PoolScanMethod)(Pool pool, Trace trace, Seg seg);
typedef Size (*PoolFreeSizeMethod)(Pool pool);
typedef void (*PoolBeforeScanMethod)(Pool pool, Seg seg, Addr base,
                                     Addr limit);
/* Decode the positional arguments of the deprecated mps_pool_create and
 * mps_pool_create_v into a keyword list (terminated), DESIGN.md#varargs. */
typedef void (*PoolVarargsMethod)(mps_arg_s args[MPS_ARGS_MAX],
                                  va_list varargs);
/* mps_pool_check_fenceposts, mps_pool_check_free_space (debug classes). */
typedef void (*PoolDebugCheckMethod)(Pool pool);
/* Allocation frames (SNC, DESIGN.md#snc): called with the arena lock held
 * and no block reserved on the point. */
typedef Res (*PoolFramePushMethod)(mps_frame_t *frame_o, Pool pool,
                                   Buffer buffer);
typedef Res (*PoolFramePopMethod)(Pool pool, Buffer buffer,
                                  mps_frame_t frame);

struct mps_pool_class_s {
  Sig sig;
  const char *name;
  Size size;                      /* of the pool structure */
  Bool automatic;
  Bool moving;
  Bool incremental;               /* its grey segments may wait behind the
                                     read barrier (DESIGN.md#incremental) */
  PoolInitMethod init;
  PoolFinishMethod finish;
  PoolBufferFillMethod buffer_fill;
  PoolBufferEmptyMethod buffer_empty;
  PoolFixMethod fix;
  PoolIsAliveMethod is_alive;
  PoolCondemnMethod condemn;
  PoolReclaimMethod reclaim;
  PoolTraceEndMethod trace_end;
  PoolAllocMethod alloc;
  PoolFreeMethod free;
  PoolScanMethod scan;            /* scan the grey part of a segment */
  PoolFreeSizeMethod free_size;
  PoolBeforeScanMethod before_scan; /* AWL: lift barriers on dependents */
  PoolVarargsMethod varargs;      /* NULL: no positional arguments */
  Bool ap_rank_vararg;            /* mps_ap_create takes a rank */
  PoolDebugCheckMethod check_fenceposts; /* NULL: nothing to check */
  PoolDebugCheckMethod check_free_space;
  /* SNC: its segments take part in every trace as roots (scanned whole,
   * buffers flipped) but are never condemned and never get a barrier
   * (DESIGN.md#snc). */
  Bool never_condemned;
  PoolFramePushMethod frame_push; /* NULL: frames accepted and ignored */
  PoolFramePopMethod frame_pop;
};

struct mps_pool_s {
  Sig sig;
  Arena arena;
  PoolClass klass;
  RingStruct arena_ring;
  RingStruct buffers;
  Format format;           /* NULL if unformatted */
  Chain chain;             /* NULL if not generational */
  Size align;
  RankSet ranks;           /* ranks of references its objects hold */
  Size total_size;         /* bytes of segments it owns */
  unsigned serial;
  Bool exec;               /* its segments hold executable code */
  Bool arena_high;         /* take segments from high addresses */
  unsigned sacs;           /* segregated allocation caches (sac.c) */
  /* Automatic pools: one pool generation per chain generation, plus the
   * arena's top generation last. */
  size_t gen_count;
  struct PoolGenStruct *pgens;
  /* mpsx_pool_reclaim_hook: told of every run of blocks whose memory a
   * collection reclaims (AMC classes only), or NULL. */
  void (*reclaim_hook)(void *closure, void *base, void *limit);
  void *reclaim_closure;
};

Bool PoolCheck(Pool pool);
Bool PoolClassCheck(PoolClass klass);
Res PoolCreate(Pool *pool_o, Arena arena, PoolClass klass, mps_arg_s args[]);
void PoolDestroy(Pool pool);
/* Apply f to every segment of every pool generation of the pool. */
Res PoolWalkObjects(Pool pool, Seg seg,
                    void (*f)(Addr client, Pool pool, void *p, size_t s),
                    void *p, size_t s);

extern const struct mps_pool_class_s AMCPoolClass;
extern const struct mps_pool_class_s AMCZPoolClass;
extern const struct mps_pool_class_s AMCXPoolClass;

/* AMC's pool structure, visible for the trace's statistics. */
typedef struct AMCStruct {
  struct mps_pool_s pool;
  Bool interior;
  Size extend_by;
  Size large_size;
  /* Promotion in place (DESIGN.md#amc-in-place): the youngest bytes of
   * the nursery to mark in place at its next collection, and the dense
   * run being measured by the current trace's reclaim. */
  Size in_place_window;
  Size dense_run;
  Bool nursery_reclaimed;
} AMCStruct, *AMC;

/* ---------------------------------------------------------------------
 * Allocation points (buffer.c).  DESIGN.md#buffers
 */

#define BufferSig ((Sig)0x519B0FF1UL)

struct BufferStruct {
  struct mps_ap_s ap;      /* the public part: must come first */
  Sig sig;
  Arena arena;
  Pool pool;
  RingStruct pool_ring;
  Rank rank;
  Bool hash_arrays;
  Addr base;               /* start of the attached buffer, or NULL */
  Addr limit;              /* true limit while ap.limit may be 0 */
  Seg seg;                 /* segment the buffer is in, or NULL */
  Bool flipped;            /* trapped by a flip since it was filled */
  Addr scan_limit;         /* ap.init read at the last flip */
  Size fills;
  /* Progress for voided commits (DESIGN.md#buffers-progress): the last
   * trip failed; the block this fill reserved first is that commit's
   * retry (or NULL); the thread that filled; how long flips have waited
   * for the retry. */
  Bool voided;
  Addr retry_at;
  unsigned long filler;
  double retry_waited;
  /* Allocation patterns (DESIGN.md#ramps): bit i of ramp_stack is set
   * if level i is a ramp_collect_all; while ramp_depth > 0, AMC does not
   * count this point's fills toward its nursery's new size. */
  unsigned ramp_depth;
  Word ramp_stack;
  Bool ramp_collect_all;   /* a collect_all level ended in this ramp */
  Seg stack;               /* SNC: the newest segment of the point's
                              stack of segments (DESIGN.md#snc) */
};

Bool BufferCheck(Buffer buffer);
Res BufferCreate(Buffer *buffer_o, Pool pool, mps_arg_s args[]);
void BufferDestroy(Buffer buffer);
Res BufferFill(Addr *p_o, Buffer buffer, Size size);
Bool BufferTrip(Buffer buffer, Addr p, Size size);
void BufferDetach(Buffer buffer);
void BufferFlip(Buffer buffer);           /* at a flip: trap and note init */
Bool BufferAwaitRetries(Arena arena);     /* before a flip; TRUE if it
                                             released the arena lock */
#define BufferOfAP(ap) ((Buffer)(void *)(ap))

/* ---------------------------------------------------------------------
 * Roots (root.c).  DESIGN.md#roots
 */

#define RootSig ((Sig)0x51940075UL)

typedef enum {
  RootFUN,        /* mps_root_create: scan(ss, p, s) */
  RootAREA,       /* area with an area scanner */
  RootFMT,        /* formatted objects, format scan method */
  RootTHREAD      /* a thread's registers and stack */
} RootVar;

struct mps_root_s {
  Sig sig;
  Arena arena;
  RingStruct arena_ring;
  Rank rank;
  RootVar var;
  union {
    struct { mps_root_scan_t scan; void *p; size_t s; } fun;
    struct {
      Word *base, *limit;
      mps_area_scan_t scan_area;
      void *closure;
    } area;
    struct { mps_fmt_scan_t scan; Addr base, limit; } fmt;
    struct {
      Thread thread;
      mps_area_scan_t scan_area;
      void *closure;
      void *cold;
    } thread;
  } the;
  mps_scan_tag_s tag;      /* owned closure for the tagged variants */
};

Bool RootCheck(Root root);
Res RootCreate(Root *root_o, Arena arena, Rank rank, RootVar var);
void RootDestroy(Root root);
Res RootScan(Trace trace, Root root);
/* Scan an area of words as the thread scanner would (no sanitiser). */
Res ScanAreaAmbiguous(mps_ss_t ss, void *base, void *limit,
                      mps_area_scan_t scan_area, void *closure);

/* ---------------------------------------------------------------------
 * Threads (thread.c).  DESIGN.md#threads
 */

#define ThreadSig ((Sig)0x519DEEADUL)

typedef struct ThreadSuspendStruct *ThreadSuspend;

/* A stack other than a thread's own that it runs on (a coroutine's):
 * DESIGN.md#stacks.  Nodes of a list in the thread's record, written only
 * by the thread itself. */
typedef struct ThreadStackStruct *ThreadStack;
struct ThreadStackStruct {
  ThreadStack next;
  Addr low, high;
  Addr left;     /* where the thread left it, or NULL: running on it, or
                    not started, or finished */
  Bool orphan;   /* removed: still scanned, the pages of it that can be
                    read, until its memory is unmapped or a new stack
                    overlaps it (frames may be on it) */
};

struct mps_thr_s {
  Sig sig;
  Arena arena;
  RingStruct arena_ring;
  pthread_t id;
  ThreadSuspend record;    /* the thread's own suspension record */
  Addr stack_low, stack_high; /* the thread's stack mapping, if known */
  Bool forked_away;        /* registered in the parent of a fork child */
  Bool suspended;
};

Bool ThreadCheck(Thread thread);
Res ThreadRegister(Thread *thread_o, Arena arena);
/* Signal handlers for stopping threads, and the fork protocol. */
Res ThreadInstallHandlers(void);
void ThreadDeregister(Thread thread);
void ThreadRingSuspend(Arena arena);
void ThreadRingResume(Arena arena);
Bool ThreadRingAwaitLetGo(Arena arena, double deadline); /* TRUE if it
                                             released the arena lock */
Bool ThreadIsCurrent(Thread thread);
/* Scan registers and stack of the thread: the saved context if it is
 * suspended, the live registers and stack if it is the current one. */
Res ThreadScan(mps_ss_t ss, Thread thread, void *cold,
               mps_area_scan_t scan_area, void *closure);

/* The barrier's fault handler parks the thread first thing, and unparks
 * it last: while parked, the thread counts as stopped for every
 * collector, with the fault's context as its mutator state
 * (DESIGN.md#threads). */
void ThreadPark(void *context);
void ThreadUnpark(void);
/* Other stacks of the calling thread (DESIGN.md#stacks). */
Res ThreadStackAdd(Thread thread, Addr low, Addr high);
Bool ThreadStackRemove(Thread thread, Addr low, Addr high);
void ThreadStackSwitch(Thread thread, void (*fn)(void *), void *closure);
Bool ThreadStackKnown(Thread thread, Addr sp);
/* The stack pointer of an interrupted context. */
Addr ContextSP(const ucontext_t *uc);

/* ---------------------------------------------------------------------
 * Alternate signal stacks of registered threads (sigstack.c).
 * DESIGN.md#sigstacks
 */

typedef struct SigStackStruct {
  void *mem;      /* our mapping (guard page first), or NULL */
  Size size;      /* usable bytes above the guard page */
  Size guard;     /* bytes of the guard page */
  stack_t saved;  /* the thread's own alternate stack, given back */
} SigStackStruct, *SigStack;

Bool SigStackCheck(SigStack ss);
/* Bytes an alternate stack needs for one signal frame and the barrier
 * handler's first steps. */
Size SigStackNeed(void);
/* Give the calling thread a big enough alternate stack if the one it has
 * is smaller than SigStackNeed(); SigStackRelease gives its own back. */
Res SigStackAdopt(SigStack ss);
void SigStackRelease(SigStack ss);
/* In a handler running on the alternate stack for code that was not on
 * it: a 16-byte aligned stack top below that code's stack pointer and
 * red zone; else NULL. */
Addr SigStackMutatorTop(const ucontext_t *uc);
/* Call fn(closure) with the stack pointer at `top`. */
void SigStackCall(void (*fn)(void *), void *closure, Addr top);

/* ---------------------------------------------------------------------
 * Test hooks (testhook.c): points where a test of the checking build can
 * run code of its own, to force an interleaving (mpsx.h).
 */

#if defined(MPS_CHECK) && MPS_CHECK
void TestHook(int point);
#define TEST_HOOK(point) TestHook(point)
#else
#define TEST_HOOK(point) ((void)0)
#endif

/* ---------------------------------------------------------------------
 * The write barrier (protect.c).  DESIGN.md#barrier
 */

void SegSetProt(Seg seg, unsigned mode);
/* Record that seg's protection, greyness, summary, generation, buffer or
 * ranks changed: ArenaProtectBetweenIncrements looks at these segments
 * only (DESIGN.md#barrier-touched).  Defined after the arena. */
static inline void SegTouchProt(Seg seg);
void SegProtect(Seg seg);
/* Lift any barrier.  Inline: the fix and copy paths call it on every
 * object, and the segment is nearly always unprotected already. */
static inline void SegUnprotect(Seg seg)
{
  if (seg->prot != SegProtRW)
    SegSetProt(seg, SegProtRW);
}
void ArenaProtectOld(Arena arena);
void ArenaUnprotectCondemned(Arena arena);
void ArenaUnprotectForScan(Arena arena, ZoneSet white);
/* Barriers for the mutator between two increments (DESIGN.md#incremental). */
void ArenaProtectBetweenIncrements(Arena arena);
/* The touched list (DESIGN.md#barrier-touched): a segment freed leaves
 * it; the end of a trace empties it and stops recording. */
void ArenaForgetTouched(Arena arena, Seg seg);
void ArenaStopTouched(Arena arena);
void ArenaUnprotectAll(Arena arena);   /* mps_arena_postmortem */
Res ProtInstallHandler(void);
/* Is no fault handler looking at the ring of arenas (ArenaDestroy)? */
Bool ProtRingWalkersIdle(void);
void ProtRingWalkBegin(void);
void ProtRingWalkEnd(void);
/* The soft barrier (DESIGN.md#barrier-soft): at the start of a trace,
 * every segment with the barrier whose pages were written since is
 * treated as a fault would have: no barrier, every zone. */
void ArenaHarvestWrites(Arena arena, Trace trace);
/* In a forked child: no soft barrier any more (DESIGN.md#fork). */
void ArenaForkChildBarrier(Arena arena);

/* softbar.c: the kernel side of the soft barrier. */
Bool SoftBarrierAvailable(void);
Bool SoftBarrierRegister(Addr base, Size size);
void SoftBarrierProtect(Addr base, Addr limit, Bool on);
Bool SoftBarrierWritten(Addr base, Addr limit,
                        void (*found)(void *closure, Addr base, Addr limit),
                        void *closure);
void SoftBarrierForkChild(void);

/* ---------------------------------------------------------------------
 * Messages (message.c)
 */

#define MessageSig ((Sig)0x5199E55AUL)

struct mps_message_s {
  Sig sig;
  Arena arena;
  RingStruct queue_ring;   /* in arena->messages while posted */
  mps_message_type_t type;
  mps_clock_t clock;
  Bool posted;
  union {
    struct { mps_addr_t ref; } final;
    struct { Size live, condemned, not_condemned; } gc;
    struct { const char *why; } gc_start;
  } the;
};

Bool MessageCheck(Message message);
Res MessageCreate(Message *message_o, Arena arena, mps_message_type_t type);
void MessageDestroy(Message message);
void MessagePost(Arena arena, Message message);  /* or drop if disabled */
Bool MessageTypeEnabled(Arena arena, mps_message_type_t type);
void MessageEmptyType(Arena arena, mps_message_type_t type);
void MessageFlushDeferred(Arena arena);          /* free dropped messages */

/* ---------------------------------------------------------------------
 * Finalization (final.c).  DESIGN.md#finalization
 */

struct FinalEntryStruct {
  Addr ref;                /* client pointer, a final-rank reference */
  Message message;         /* preallocated, posted when it dies */
};

Res FinalRegister(Arena arena, Addr ref);
Res FinalDeregister(Arena arena, Addr ref);
Res FinalScan(Trace trace);
void FinalFinish(Arena arena);

/* ---------------------------------------------------------------------
 * The trace: one collection, stop the world.  DESIGN.md#trace
 */

#define TraceSig ((Sig)0x51974ACEUL)

struct TraceStruct {
  struct mps_ss_s ss;      /* what clients see: must come first */
  Sig sig;
  Arena arena;
  Rank rank;               /* rank of the references being fixed */
  Transform transform;     /* being applied (DESIGN.md#transforms), or NULL */
  /* The white set: the zones of the condemned objects' references.
   * Exact references to a large object hold its start, so a large
   * segment adds the zone of its start only; ambiguous ones may point
   * anywhere inside, so white_ambig has every zone of every condemned
   * segment (DESIGN.md#zones). */
  ZoneSet white;
  ZoneSet white_ambig;
  /* Zones of the references as fixed (moved) since the scan began: the
   * client's summary (_ufs) has their zones before the fix only. */
  ZoneSet fixed_zones;
  RingStruct grey;         /* grey segments */
  RingStruct grey_exec;    /* grey segments of executable pools, never
                              left grey while the mutator runs */
  Seg weak;                /* grey weak segments, scanned last */
  Bool full;
  Bool incremental;        /* the mutator runs between increments */
  Bool mutator_ran;        /* ... and has run since the flip */
  Bool moving;             /* a pool that moves objects has segments
                              condemned: the flip counts for
                              mps_collections and location dependency */
  Bool eager_condemned;    /* a pool not behind the read barrier has
                              condemned segments */
  const char *why;
  Message end_message;     /* the gc message, made before the flip */
  double started;          /* ClockSeconds() at the flip */
  double busy_seconds;     /* stopped-world time so far */
  Size filled_at_step;     /* arena->filled at the last step */
  Size filled_at_flip;     /* arena->filled at the flip */
  /* statistics */
  Size condemned;
  Size preserved;          /* bytes retained in place */
  Size copied;             /* bytes copied */
  Size not_condemned;
  Size objects_moved;
  Size segs_pinned;
  Size segs_condemned;
  Size bytes_scanned;
  Size segs_skipped;       /* protected, summary misses the white set */
  Bool pin_only;           /* ambiguous fixes pin movable objects only */
  /* The scan under way only looks ahead: _mps_fix2 prefetches what the
   * fix of each reference will read, and changes nothing
   * (DESIGN.md#prefetch). */
  Bool prefetching;
  Bool lookahead;          /* it paid in the last window scanned */
  Size fixes;              /* fixes of condemned references, look-ahead
                              excluded */
  /* Control memory that lives as long as the trace (nailboards): mapped
   * blocks, never malloc (DESIGN.md#stopped-world). */
  struct TraceBlockStruct *blocks;
  Size block_used;
  /* Walking roots instead of collecting (mps_arena_roots_walk). */
  mps_roots_stepper_t root_stepper;
  Root walk_root;
  void *walk_p;
  size_t walk_s;
};

Bool TraceCheck(Trace trace);
/* Collect the generations [0, top] of chain, or everything if full, in
 * one pause (after finishing any trace in progress). */
Res TraceCollect(Arena arena, Chain chain, int top, Bool full,
                 const char *why);
/* Start a trace (the flip); it runs to the end at once if `atomic`, or
 * unless it may be incremental and is expected to take longer than the
 * pause time (DESIGN.md#incremental). */
Res TraceStart(Arena arena, Chain chain, int top, Bool full,
               const char *why, Bool atomic);
/* Advance the arena's trace by about `work` bytes of scanning and
 * copying, or for at most `seconds`; ends it when nothing is grey. */
void TraceStep(Arena arena, Size work, double seconds);
/* Run the arena's trace, if any, to the end. */
void TraceFinish(Arena arena);
/* The read barrier: the mutator touched a grey segment.  Scan it; TRUE
 * if it was grey.  Called with the arena lock held. */
Bool TraceFault(Arena arena, Seg seg);
Res TraceFix(Trace trace, mps_addr_t *ref_io, Rank rank);
void TraceWalkRoots(Arena arena, mps_roots_stepper_t f, void *p, size_t s);
void TraceGreySeg(Trace trace, Seg seg);
void TraceScanSeg(Trace trace, Seg seg, Addr from, Addr to);
/* Scan every object of a segment (an uncondemned segment is a root). */
void TraceScanSegWhole(Trace trace, Seg seg);
Rank SegRank(Seg seg);
/* Zeroed memory until the end of the trace, or NULL. */
void *TraceControlAlloc(Trace trace, Size size);
#define TraceOfSS(ss) ((Trace)(void *)(ss))

/* ---------------------------------------------------------------------
 * The arena (arena.c).  DESIGN.md#arena
 */

#define ArenaSig ((Sig)0x519A4E4AUL)
#define ARENA_MAX_CHUNKS 64
#define HISTORY_LENGTH 64
#define PROT_TOUCHED_MAX 512   /* DESIGN.md#barrier-touched */

struct mps_arena_s {
  Sig sig;
  LockStruct lock;
  RingStruct global_ring;  /* in the process's arena ring */
  Bool dying;               /* being destroyed: the fault handler skips it */
  Arena zombie_next;        /* destroyed, waiting for the fault handlers
                               to stop looking (ArenaDestroy) */
  Size grain;
  unsigned grain_shift;
  unsigned zone_shift;
  Chunk chunks[ARENA_MAX_CHUNKS];   /* sorted by base */
  unsigned chunk_count;
  Chunk last_chunk;                 /* lookup cache */
  Addr span_base, span_limit;       /* lowest chunk base, highest limit */
  Chunk code_chunk;                 /* the one code chunk, or NULL */
  Size code_reserve;                /* its size when it is made */
  Size chunk_size;                  /* size of the next reservation */
  Size reserved;
  Size committed;
  Size spare_committed;
  Size commit_limit;
  double spare;
  double pause_time;
  Size control_committed;
  Bool client;                      /* a client arena (mpsacl.h) */
  Bool soft_barrier;                /* new VM chunks get the soft write
                                       barrier (DESIGN.md#barrier-soft) */
  Size soft_hits;                   /* segments found written by it */
  mps_arena_extended_t extended;
  mps_arena_contracted_t contracted;
  /* Contents */
  RingStruct pools, roots, threads, formats, chains;
  unsigned pool_serial;
  struct GenStruct top_gen;         /* survivors of the last generation */
  struct GenStruct large_gen;       /* no segments: claims the zones where
                                       AMC places large objects
                                       (DESIGN.md#zones) */
  Chain default_chain;
  Seg free_segs;                    /* descriptor free list */
  void *seg_blocks;                 /* control blocks holding them */
  /* Segments whose barrier may need a change at the end of the current
   * increment (DESIGN.md#barrier-touched): recorded while prot_tracking,
   * that is between two increments of an incremental trace. */
  Bool prot_tracking;
  Bool prot_touched_overflow;       /* more than fit: walk them all */
  Size prot_touched_count;
  Seg prot_touched[PROT_TOUCHED_MAX];
  /* Collector state */
  Bool clamped;                     /* no trace starts or advances on
                                       its own; parked: also none is in
                                       progress */
  Bool postmortem;
  Bool busy;                        /* the collector runs, the world is
                                       stopped */
  Bool pending_full;                /* mps_arena_start_collect */
  Trace trace;                      /* current trace or NULL */
  Transform transform;              /* for the next trace (transform.c) */
  struct TraceStruct trace_struct;  /* its storage */
  Size filled;                      /* bytes handed to buffers, ever */
  mpsx_pause_log_s *pause_log;      /* client's pause record, or NULL */
  Word epoch;                       /* flips that may have moved objects */
  double let_go_at;                 /* ClockSeconds() when the last stop
                                       let threads go, 0 if it stopped none
                                       (DESIGN.md#threads-fair) */
  ZoneSet history[HISTORY_LENGTH];  /* history[e % N]: zones moved by
                                       flip e */
  Size top_size_after_full;
  Size live_after_full;             /* survivors of the last full trace */
  Size allocated_since_full;
  double scan_rate;                 /* bytes per second, measured */
  Size collections;                 /* traces run, moving or not */
  struct {                          /* figures from the last trace */
    Size condemned, live, copied, objects_moved, segs_pinned;
    Size segs_skipped, bytes_scanned;
    double seconds;
  } last_trace;
  /* Messages */
  RingStruct messages;              /* posted, not yet got */
  RingStruct got_messages;          /* got, not yet discarded */
  unsigned enabled_types;           /* bit per mps_message_type_t */
  Message deferred_free;            /* dropped while the world was stopped */
  /* Finalization */
  FinalEntry finals;
  Size final_count, final_capacity;
};

extern RingStruct ArenaGlobalRing;

/* Transforms (transform.c).  DESIGN.md#transforms */
Bool TransformCheck(Transform t);
Res TransformCreate(Transform *t_o, Arena arena);
Arena TransformArena(Transform t);
Res TransformAddOldNew(Transform t, Addr *olds, Addr *news, Size count);
Res TransformApply(Bool *applied_o, Transform t);
void TransformDestroy(Transform t);
/* The trace applying t: widen its white set by the old objects' zones. */
void TransformBegin(Trace trace, Transform t);
/* First thing in _mps_fix2 while a transform is applied. */
void TransformFix(Trace trace, mps_addr_t *ref_io);

Bool ArenaCheck(Arena arena);
Res ArenaCreate(Arena *arena_o, mps_arg_s args[], Bool client);
/* Give a client arena another block (mps_arena_extend). */
Res ArenaExtend(Arena arena, Addr base, Size size);
void ArenaDestroy(Arena arena);
void ArenaEnter(Arena arena);
void ArenaLeave(Arena arena);
void ArenaNap(Arena arena, long nanoseconds); /* lock let go meanwhile */
Chunk ArenaChunkSearch(Arena arena, Addr addr); /* out of line */
/* Page allocation for segments. */
Res ArenaAllocPages(Addr *base_o, Arena arena, Size size, ZoneSet pref,
                    Gen gen, Seg seg, Bool exec, Bool high);
void ArenaFreePages(Arena arena, Addr base, Size size);
Res ArenaSetCommitLimit(Arena arena, Size limit);
void ArenaSetSpare(Arena arena, double spare);
void ArenaPurgeSpare(Arena arena, Size target);
void ArenaTrimSpare(Arena arena, Bool exact); /* within the spare limit */
Res ArenaEnsureCodeChunk(Arena arena);
/* Run collector work that policy says is due (unclamped arenas). */
void ArenaPoll(Arena arena);
Bool ArenaAwaitMutators(Arena arena);     /* before a stop; TRUE if it
                                             released the arena lock */
Bool ArenaStep(Arena arena, double interval, double multiplier);
Res ArenaCollect(Arena arena, const char *why);
#define ZoneOfAddr(arena, a) (((Word)(a) >> (arena)->zone_shift) & 63)
ZoneSet ZoneSetOfRange(Arena arena, Addr base, Addr limit);

/* ---------------------------------------------------------------------
 * Location dependency (ld.c) uses arena->epoch and arena->history.
 */

/* ---------------------------------------------------------------------
 * Address lookups: the fix path's first step, so inline.  The last chunk
 * found is cached; the page table gives the segment.
 */

static inline Chunk ArenaChunkOfAddr(Arena arena, Addr addr)
{
  Chunk chunk = arena->last_chunk;
  if (chunk != NULL && addr >= chunk->base && addr < chunk->limit)
    return chunk;
  /* NULL and other words outside every chunk (half the references of a
   * tree are NULL, and NULL passes MPS_FIX1 when zone 0 is white). */
  if (addr < arena->span_base || addr >= arena->span_limit)
    return NULL;
  return ArenaChunkSearch(arena, addr);
}

static inline void SegTouchProt(Seg seg)
{
  Arena arena = seg->pool->arena;
  if (!arena->prot_tracking || seg->prot_touched)
    return;
  if (arena->prot_touched_count == PROT_TOUCHED_MAX) {
    arena->prot_touched_overflow = TRUE;
    return;
  }
  seg->prot_touched = 1;
  arena->prot_touched[arena->prot_touched_count++] = seg;
}

/* Start loading the cache line at p; never faults.  In assembly because
 * GCC 12 at -O2 drops __builtin_prefetch of an address it loaded itself
 * (the table lookup of tracePrefetch vanished whole). */
static inline void Prefetch(const void *p)
{
#if defined(__GNUC__) && defined(__x86_64__)
  __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__ volatile("prfm pldl1keep, %0" : : "Q"(*(const char *)p));
#else
  (void)p;
#endif
}

/* A page table entry: the segment's address, and in its low bit whether
 * the segment is condemned, so that the fix of a reference to a segment
 * that is not condemned decides without reading the segment
 * (DESIGN.md#prefetch). */
#define PAGE_CONDEMNED ((Word)1)

static inline Word PageEntry(Arena arena, Addr addr)
{
  Chunk chunk = ArenaChunkOfAddr(arena, addr);
  if (chunk == NULL)
    return 0;
  return (Word)chunk->page_seg[AddrOffset(chunk->base, addr) >>
                               arena->grain_shift];
}

static inline Seg PageSeg(Word entry)
{
  return (Seg)(entry & ~PAGE_CONDEMNED);
}

static inline Seg SegOfAddr(Arena arena, Addr addr)
{
  return PageSeg(PageEntry(arena, addr));
}

#endif /* MPS_MPM_H */
