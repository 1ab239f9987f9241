/* softbarrier.c -- the soft write barrier (DESIGN.md#barrier-soft)
 *
 * An arena created with MPSX_KEY_WRITE_BARRIER = MPSX_BARRIER_SOFT uses
 * userfaultfd write protection where the kernel allows it (the test says
 * so and passes otherwise).  Old vectors (small ones sharing segments,
 * and large ones) are promoted by a full collection; then young pairs are
 * stored into random slots of them while the nursery is collected again
 * and again, which must find every such store with no write fault: the
 * program counts its own mprotect calls that make memory read-only (the
 * library's reach it) and requires none.  Some stores are made by the
 * kernel: read(2) from a pipe into the slot, which the mprotect barrier
 * would refuse with EFAULT.  A shadow table of which pair each slot must
 * hold is checked after every round (a store the barrier missed leaves a
 * slot pointing at a freed or moved pair), and one store in 8 by the
 * kernel has to have happened.  Minor collections must skip
 * old segments (the barrier is trusted) and the arena must report
 * segments found written.
 *
 * Then the process forks: the child's mappings are no longer registered
 * with the userfaultfd, so it must fall back to the mprotect barrier and
 * treat every segment that had the soft one as written; it goes on
 * storing, collecting and checking.  The parent, whose pages the fork
 * made copy-on-write, goes on too.
 */

#define _GNU_SOURCE
#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL 256      /* small old vectors */
#define SMALL_REFS 64
#define LARGE 4        /* large old vectors */
#define LARGE_REFS 6000
#define VECS (SMALL + LARGE)

static void *vecs[VECS];              /* exact root */
static unsigned long *expect[VECS];   /* the id each slot must hold, or 0 */
static unsigned long read_only_calls;
static unsigned long next_id = 1;
static unsigned long kernel_stores;
static int pipe_fds[2];

/* Every mprotect of the process: the library's are among them. */
int mprotect(void *addr, size_t len, int prot)
{
  if (prot == PROT_READ)
    __atomic_add_fetch(&read_only_calls, 1, __ATOMIC_RELAXED);
  return (int)syscall(SYS_mprotect, addr, len, prot);
}

static size_t refs_of(size_t v)
{
  return v < SMALL ? SMALL_REFS : LARGE_REFS;
}

/* Store a new young pair into a random slot of a random old vector; one
 * store in `kernel` is made by read(2), unless an incremental collection
 * is in progress: its read barrier is mprotect, and a system call
 * cannot pass a grey segment's (EFAULT, DESIGN.md#incremental). */
static void store(mps_arena_t arena, mps_ap_t ap, unsigned kernel)
{
  size_t v = rnd_below(VECS), i = rnd_below(refs_of(v));
  unsigned long id = next_id++;
  void *pair = tf_make_pair(ap, id, NULL, NULL);
  if (kernel != 0 && rnd_below(kernel) == 0 && !mpsx_arena_tracing(arena)) {
    /* The format has no header: slot i is word 2 + i of the block. */
    void **slot = (void **)vecs[v] + 2 + i;
    CHECK(write(pipe_fds[1], &pair, sizeof pair) == (ssize_t)sizeof pair);
    CHECK(read(pipe_fds[0], slot, sizeof pair) == (ssize_t)sizeof pair);
    CHECK(tf_ref(vecs[v], i) == pair);
    ++kernel_stores;
  } else {
    tf_set_ref(vecs[v], i, pair);
  }
  expect[v][i] = id;
}

static void verify(mps_arena_t arena, const char *when)
{
  size_t v, i;
  mps_arena_park(arena);
  for (v = 0; v < VECS; ++v) {
    tf_check_obj(vecs[v], when);
    for (i = 0; i < refs_of(v); ++i) {
      void *q = tf_ref(vecs[v], i);
      if (expect[v][i] == 0) {
        CHECK(q == NULL);
        continue;
      }
      CHECK(q != NULL);
      tf_check_obj(q, when);
      if (tf_id(q) != expect[v][i])
        die("%s: vector %zu slot %zu holds pair %lu, not %lu", when, v, i,
            tf_id(q), expect[v][i]);
    }
  }
  mps_arena_release(arena);
}

/* Rounds of stores among garbage (which collects the nursery), each
 * checked.  Returns how many collections skipped a segment. */
static unsigned long rounds(mps_arena_t arena, mps_ap_t ap, unsigned n,
                            unsigned kernel, const char *when)
{
  unsigned r;
  unsigned long skipping = 0;
  for (r = 0; r < n; ++r) {
    size_t j;
    size_t traces = mpsx_arena_traces(arena);
    for (j = 0; j < 60000; ++j) {
      (void)tf_make_pair(ap, next_id++, NULL, NULL);
      if (j % 200 == 0)
        store(arena, ap, kernel);
      if (mpsx_arena_traces(arena) != traces) {
        mpsx_trace_stats_s stats;
        traces = mpsx_arena_traces(arena);
        mpsx_arena_last_trace(arena, &stats);
        if (stats.segs_skipped > 0)
          ++skipping;
      }
    }
    verify(arena, when);
  }
  return skipping;
}

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_thr_t thr;
  mps_root_t vec_root, stack_root;
  mps_gen_param_s gens[2] = {{256, 0.85}, {512, 0.45}};
  unsigned long calls0, skipping, collections0;
  size_t v, hits;
  pid_t child;
  int status;

  test_init("softbarrier");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPSX_KEY_WRITE_BARRIER, MPSX_BARRIER_SOFT);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  if (mpsx_arena_write_barrier(arena) != MPSX_BARRIER_SOFT) {
    printf("softbarrier: the kernel does not allow the soft barrier "
           "(userfaultfd asynchronous write protection and PAGEMAP_SCAN, "
           "Linux 6.7); nothing to test\n");
    mps_arena_destroy(arena);
    return 0;
  }
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_area(&vec_root, arena, mps_rank_exact(), 0,
                                 vecs, vecs + VECS, mps_scan_area, NULL));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr,
                                   (mps_addr_t)&thr));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));
  CHECK(pipe(pipe_fds) == 0);

  for (v = 0; v < VECS; ++v) {
    vecs[v] = tf_make_vec(ap, next_id++, refs_of(v));
    expect[v] = calloc(refs_of(v), sizeof *expect[v]);
    CHECK(expect[v] != NULL);
  }
  CHECK_RES(mps_arena_collect(arena)); /* the vectors are old now */
  mps_arena_release(arena);

  calls0 = __atomic_load_n(&read_only_calls, __ATOMIC_RELAXED);
  collections0 = mpsx_arena_traces(arena);
  skipping = rounds(arena, ap, 12, 8, "softbarrier");
  hits = mpsx_arena_soft_barrier_hits(arena);
  printf("softbarrier: %lu collections, %lu skipped old segments, %zu "
         "segments found written, %lu stores by read(2), %lu calls making "
         "memory read-only\n",
         (unsigned long)(mpsx_arena_traces(arena) - collections0), skipping,
         hits, kernel_stores,
         __atomic_load_n(&read_only_calls, __ATOMIC_RELAXED) - calls0);
  CHECK(__atomic_load_n(&read_only_calls, __ATOMIC_RELAXED) == calls0);
  CHECK(mpsx_arena_traces(arena) - collections0 >= 50);
  CHECK(skipping >= 10);
  CHECK(hits >= 10);
  CHECK(kernel_stores >= 100);

  /* fork: the child falls back to the mprotect barrier. */
  mps_arena_park(arena);
  child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    mps_arena_release(arena);
    CHECK(mpsx_arena_write_barrier(arena) == MPSX_BARRIER_MPROTECT);
    /* The mprotect barrier: no stores by the kernel. */
    (void)rounds(arena, ap, 6, 0, "softbarrier: forked child");
    _exit(0);
  }
  mps_arena_release(arena);
  (void)rounds(arena, ap, 6, 8, "softbarrier: parent after the fork");
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(mpsx_arena_write_barrier(arena) == MPSX_BARRIER_SOFT);
  CHECK(__atomic_load_n(&read_only_calls, __ATOMIC_RELAXED) == calls0);
  verify(arena, "softbarrier: at the end");

  mps_arena_park(arena);
  mps_ap_destroy(ap);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(vec_root);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  for (v = 0; v < VECS; ++v)
    free(expect[v]);
  return 0;
}
