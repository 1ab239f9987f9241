/* bench.h: shared declarations of the collector benchmark suite.
 *
 * One binary, build/bench/bench.  Run without arguments it is the driver:
 * it runs every (workload, variant) pair in a child process of its own
 * (fork + exec of itself with "run <workload> <variant>"), reads the
 * child's "key=value" lines from a pipe and its resource usage from
 * wait4, and prints one markdown table.  See bench/README.md.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "mps.h"

/* Scale factor from the environment (BENCH_SCALE, default 1). */
double bench_scale(void);

/* Monotonic wall clock and process CPU time (all threads), seconds. */
double now_wall(void);
double now_cpu(void);
/* Peak resident set size of this process so far, KiB (ru_maxrss). */
long peak_rss_kib(void);
/* Resident set size now, KiB (/proc/self/statm). */
long cur_rss_kib(void);

/* Child output: one "key=value" line on stdout. */
void emit(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void emit_d(const char *key, double v);

/* Cold end of the main thread's stack, for the MPS thread root. */
extern void *bench_stack_cold;

/* Fast deterministic random numbers (xorshift64*). */
static inline uint64_t rng_next(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* ---- MPS setup shared by the workloads ------------------------------- */

typedef struct bench_mps_s {
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_pool_t pool;
  mps_ap_t ap;
  mps_thr_t thr;
  mps_root_t stack_root;
  mps_chain_t chain; /* NULL: the arena's default chain */
} bench_mps_s;

/* Format of the binary-trees nodes: two words {left, right}, no header
 * (see bintrees.c).  Format of the "objects" of the allocation and pause
 * workloads: header word, one reference, payload (see objfmt in mpsfmt.c). */
enum { FMT_NODE, FMT_OBJ };

/* Arena with default settings, the format, an AMC pool with the default
 * chain, an allocation point, the calling thread registered with its
 * stack as an ambiguous root.  Aborts on failure. */
void bench_mps_open(bench_mps_s *m, int fmt_kind);
/* The same with an initial arena reservation (0: default) and a chain of
 * ngens generations (0: the arena's default chain). */
void bench_mps_open_with(bench_mps_s *m, int fmt_kind, size_t arena_size,
                         mps_gen_param_s *gens, size_t ngens);
void bench_mps_close(bench_mps_s *m);
/* Drain every queued message (gc, gc_start) without looking at it. */
void bench_mps_drain(mps_arena_t arena);
/* Full collection, then arena committed and spare committed bytes and
 * the live size the collector measured; leaves the arena released. */
void bench_mps_full_collect(bench_mps_s *m, size_t *committed_o,
                            size_t *spare_o, size_t *live_o);

/* ---- the "object" layout of the alloc and pause workloads ------------- */

typedef uintptr_t word;

/* Block of `size` bytes (16..64, multiple of 8):
 *   w[0] = size << 3 | 1   (object)
 *   w[1] = reference (another object or NULL)
 *   w[2..] = payload (not references)
 * Vector:   w[0] = size << 3 | 5, w[1..] = references (any size)
 * Pad:      w[0] = size << 3 | 3
 * Forward:  w[0] = new | 2, w[1] = size  (objects are at least 16 bytes) */
#define OBJ_HDR(size) (((word)(size) << 3) | 1)
#define VEC_HDR(size) (((word)(size) << 3) | 5)

static inline void obj_init(word *w, size_t size, void *ref, word payload)
{
  size_t i, n = size / sizeof(word);
  w[0] = OBJ_HDR(size);
  w[1] = (word)ref;
  for (i = 2; i < n; ++i)
    w[i] = payload;
}

/* ---- workloads: each runs in its own process and emits its figures ---- */

int wl_bintrees(const char *variant);
int wl_alloc(const char *variant);
int wl_pause(const char *variant);
int wl_scripts(const char *variant);

/* mprotect calls made by this process so far (main.c interposes
 * mprotect; the collector and Boehm GC both reach it). */
unsigned long bench_mprotect_calls(void);

/* Binary trees parameters (shared by driver and workload). */
int bt_max_depth(void);
int bt_min_depth(void);

#endif /* BENCH_H */
