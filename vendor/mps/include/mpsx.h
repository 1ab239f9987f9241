/* mpsx.h: extensions beyond the MPS interface
 *
 * Everything here has the prefix mpsx_ / MPSX_ so that nothing clashes
 * with an MPS name.  A program using these links only against this
 * project's collector.
 *
 * 1. The executable pool class AMCX: AMC (automatic, mostly-copying,
 *    generational, formatted) whose memory holds machine code.  Its pages
 *    are mapped twice from one memfd: the pool's addresses (what the
 *    collector, the format methods and exact references use) are a
 *    read-write view; the same pages also appear, at a fixed distance, in
 *    a read-execute view where the code runs.  No page is ever writable
 *    and executable in the same view.  All code of an arena lives in one
 *    reservation (MPSX_KEY_CODE_RESERVE bytes, at most 2 GiB) so that any
 *    code object can call any other with a 32-bit displacement.
 * 2. An ambiguous area scanner for thread roots of threads that run such
 *    code: every word, at any alignment, that points into the execute view
 *    is translated to the write view and fixed ambiguously, so a return
 *    address pins the code object it returns into.
 * 3. Statistics of the last collection.
 * 4. A reclaim hook: what a collection frees, block by block.
 */

#ifndef MPSX_H
#define MPSX_H

#include <stddef.h>
#include <stdint.h>

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Executable AMC.  Keys as AMC, plus MPSX_KEY_CODE_RESERVE (size_t, default
 * 512 MiB, at most 2 GiB): address space for the arena's code, reserved
 * by the first executable pool of the arena. */
extern mps_pool_class_t mpsx_class_amcx(void);

extern const struct mps_key_s _mpsx_key_CODE_RESERVE;
#define MPSX_KEY_CODE_RESERVE (&_mpsx_key_CODE_RESERVE)
#define MPSX_KEY_CODE_RESERVE_FIELD size

/* Distance from the write view to the execute view of the arena's code:
 * exec = write + delta.  0 if the arena has no code memory yet.  Constant
 * for the life of the arena once code memory exists. */
extern intptr_t mpsx_code_delta(mps_arena_t arena);

/* The write view and execute view of the arena's code memory. */
extern mps_bool_t mpsx_code_range(mps_arena_t arena, void **write_base_o,
                                  void **exec_base_o, size_t *size_o);

/* Area scanner for thread roots (mps_root_create_thread_scanned, rank
 * ambiguous; closure unused): every word is an ambiguous reference;
 * words pointing into the execute view, at any alignment, are translated
 * to the write view first. */
extern mps_res_t mpsx_scan_area_code(mps_ss_t ss, void *base, void *limit,
                                     void *closure);

/* Make the instruction cache agree with the data written to the execute
 * view's pages [exec, exec + size).  A no-op on x86-64; required on
 * architectures without a coherent instruction cache.  The collector
 * calls it after it copies or scans (and so relinks) code. */
extern void mpsx_flush_icache(void *exec, size_t size);

/* What the last collection of the arena did. */
typedef struct mpsx_trace_stats_s {
  size_t condemned;      /* bytes condemned */
  size_t live;           /* bytes of the condemned set that survived */
  size_t copied;         /* bytes copied */
  size_t objects_moved;  /* objects copied */
  size_t segs_pinned;    /* segments with objects pinned by ambiguous
                            references */
  size_t segs_skipped;   /* old segments skipped thanks to the barrier */
  size_t bytes_scanned;  /* bytes of objects scanned */
  double seconds;        /* duration of the collection */
} mpsx_trace_stats_s;

extern void mpsx_arena_last_trace(mps_arena_t arena,
                                  mpsx_trace_stats_s *stats_o);

/* Reclaim hook of an AMC, AMCZ or AMCX pool (MPS_RES_PARAM for other
 * classes; fn NULL removes it): every time a collection reclaims memory
 * of the pool, it first calls fn(closure, base, limit) for the run of
 * blocks [base, limit) (base addresses, in the pool's write view) about to
 * be freed or padded over.  The run holds the pool's dead objects,
 * forwarding markers (of objects that moved away) and pads, and nothing
 * alive: a format that tells them apart counts the objects freed.  It is
 * called inside the collector, with the arena lock held and other threads
 * possibly stopped: fn may only read the blocks and update its own
 * counters (no locks, no allocation, no MPS calls, no unwinding). */
typedef void (*mpsx_reclaim_fn_t)(void *closure, mps_addr_t base,
                                  mps_addr_t limit);
extern mps_res_t mpsx_pool_reclaim_hook(mps_pool_t pool, mpsx_reclaim_fn_t fn,
                                        void *closure);

/* Collections (moving or not) since the arena was created. */
extern size_t mpsx_arena_traces(mps_arena_t arena);

/* The write barrier of an arena's memory (DESIGN.md#barrier-soft).
 * MPSX_BARRIER_MPROTECT, the default: read-only pages and a fault
 * handler.  MPSX_BARRIER_SOFT: the kernel write-protects pages for the
 * collector without changing their protection (userfaultfd's
 * asynchronous write protection and PAGEMAP_SCAN, Linux 6.7 and later):
 * no write faults and no mprotect calls for the write barrier, and system
 * calls may write into protected objects; the collector asks the kernel
 * which pages were written at the start of each collection, so it costs
 * a walk of the protected pages' page tables per collection (slower than
 * the default on programs that collect often: DESIGN.md#barrier-soft).
 * Asked for with MPSX_KEY_WRITE_BARRIER (int) when the arena is created,
 * or for every arena with MPS_WRITE_BARRIER=userfaultfd in the
 * environment; the arena falls back to MPSX_BARRIER_MPROTECT where the
 * kernel does not allow it.  Client arenas, code memory and a process
 * forked from one with the soft barrier always use the default.  The
 * read barrier of incremental collections is mprotect in both. */
enum { MPSX_BARRIER_MPROTECT = 0, MPSX_BARRIER_SOFT = 1 };
extern const struct mps_key_s _mpsx_key_WRITE_BARRIER;
#define MPSX_KEY_WRITE_BARRIER (&_mpsx_key_WRITE_BARRIER)
#define MPSX_KEY_WRITE_BARRIER_FIELD i
/* The barrier the arena uses. */
extern int mpsx_arena_write_barrier(mps_arena_t arena);

/* Segments the soft barrier found written since the arena was created
 * (each would have been a write fault with the mprotect barrier). */
extern size_t mpsx_arena_soft_barrier_hits(mps_arena_t arena);

/* Pauses: every interval during which the collector keeps the mutator
 * stopped (DESIGN.md#incremental).  A collection that runs to the end at
 * once is one pause; an incremental one is a flip, steps (from
 * allocation, mps_arena_step or the last one that ends it) and read
 * barrier faults. */
enum {
  MPSX_PAUSE_ATOMIC = 0, /* a whole collection */
  MPSX_PAUSE_FLIP = 1,   /* the start of an incremental collection */
  MPSX_PAUSE_STEP = 2,   /* a step of one */
  MPSX_PAUSE_FAULT = 3,  /* the mutator touched a grey segment */
  MPSX_PAUSE_KINDS = 4
};

typedef struct mpsx_pause_log_s {
  double *seconds;  /* client's array for the first `capacity` pauses, in
                       order, or NULL */
  size_t capacity;
  size_t count;     /* pauses so far */
  size_t kinds[MPSX_PAUSE_KINDS]; /* pauses of each kind */
  double total;     /* seconds, all pauses */
  double max;       /* seconds, longest pause */
} mpsx_pause_log_s;

/* Record the arena's pauses into *log (NULL: stop).  The arena writes it
 * while it holds its lock, from any thread (and from the fault handler):
 * read it when no other thread uses the arena, or with the arena parked.
 * The caller initialises the counters. */
extern void mpsx_arena_pause_log(mps_arena_t arena, mpsx_pause_log_s *log);

/* Is a collection in progress (an incremental one between steps)? */
extern mps_bool_t mpsx_arena_tracing(mps_arena_t arena);

/* Stacks other than a thread's own: coroutines, green threads, segmented
 * stacks (vendor/mps/DESIGN.md#stacks).  A registered thread that runs
 * code using the arena on another stack tells the collector:
 *
 * - mpsx_thread_stack_add: the thread (the calling one; thr is one of its
 *   registrations) may run on [low, high) (word-aligned, not overlapping
 *   its own stack or another it added).  MPS_RES_PARAM otherwise.
 * - mpsx_thread_stack_switch: call fn(closure), which switches to another
 *   stack of the thread and comes back (a coroutine's resume, or its
 *   suspend), with the stack in use marked as left at this call's frame:
 *   while the thread is elsewhere, that stack is scanned from there to its
 *   top, with the registers its frames keep.  Every switch between stacks
 *   should go through it: a stack left by a switch that did not (so
 *   without a mark) is scanned whole, every page of it that holds data,
 *   at every collection, as are finished ones until removed (so a page
 *   of [low, high) once touched must stay readable: a guard page belongs
 *   outside the bounds, or must never have been touched).
 * - mpsx_thread_stack_remove: the stack is no longer used (the coroutine
 *   finished); FALSE if it was not added.  Frames may still be on it (a
 *   coroutine suspended there): it stays scanned, the pages that can be
 *   read, until its memory is unmapped or a stack added later overlaps
 *   it.
 * - mpsx_thread_stack_known: is sp on the thread's own stack or one it
 *   added?
 * - mpsx_thread_stack_own: the thread's own stack, [*low_o, *high_o);
 *   FALSE if not known.
 *
 * Every stack of the thread, not only the one it runs on, is then an
 * ambiguous root with each of its thread roots, scanned with the root's
 * area scanner.  A thread stopped on a stack it did not add is scanned
 * only as far as its registers and signal frame there, and its own stack
 * from the lowest mapped page. */
extern mps_res_t mpsx_thread_stack_add(mps_thr_t thr, void *low,
                                       void *high);
extern mps_bool_t mpsx_thread_stack_remove(mps_thr_t thr, void *low,
                                           void *high);
extern void mpsx_thread_stack_switch(mps_thr_t thr, void (*fn)(void *),
                                     void *closure);
extern mps_bool_t mpsx_thread_stack_known(mps_thr_t thr, void *sp);
extern mps_bool_t mpsx_thread_stack_own(mps_thr_t thr, void **low_o,
                                        void **high_o);

/* Test hooks, in the checking build only (elsewhere the setter returns
 * MPS_RES_UNIMPL and the hooks are never called): the collector calls
 * fn(point, closure) at each of these points, so that a test can force an
 * interleaving of threads instead of hoping that timing finds it.  Hooks
 * marked "in a handler" run inside a signal handler with every signal
 * blocked: they may only use atomics, spin, and async-signal-safe calls.
 * A test sets them before it starts the threads concerned. */
enum {
  MPSX_HOOK_FAULT_ENTRY = 0,     /* in a handler: the barrier's fault
                                    handler, before anything else */
  MPSX_HOOK_FAULT_PARKED = 1,    /* in a handler: that handler, after the
                                    thread parked, before the arena lock */
  MPSX_HOOK_SUSPEND_SENT = 2,    /* the collector sent the suspend signal
                                    to a thread, before it waits for it */
  MPSX_HOOK_WORLD_STOPPED = 3,   /* the collector stopped every thread */
  MPSX_HOOK_SUSPEND_RECORDED = 4,/* in a handler: the suspend handler
                                    recorded the thread's state, before it
                                    acknowledges */
  MPSX_HOOK_SUSPEND_RELEASED = 5,/* in a handler: the suspend handler saw
                                    the collector let the thread go,
                                    before it leaves */
  MPSX_HOOK_FAULT_ARENA = 6,     /* in a handler: the barrier's fault
                                    handler, before it looks at one arena
                                    of the process (each in turn, oldest
                                    first) */
  MPSX_HOOK_LIMIT = 7
};
typedef void (*mpsx_test_hook_t)(int point, void *closure);
extern mps_res_t mpsx_test_hook_set(int point, mpsx_test_hook_t fn,
                                    void *closure);

#ifdef __cplusplus
}
#endif

#endif /* MPSX_H */
