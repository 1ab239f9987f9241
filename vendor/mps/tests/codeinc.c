/* codeinc.c -- incremental collections that condemn code
 *
 * Code objects (testcode.h) in an AMCX pool, reached only through an
 * AMC heap (testfmt.h): a vector whose slot i holds a pair of a caller
 * and the leaf it calls (value i).  The callers hold their leaves with
 * the exact reference of word 2, the pairs hold both; the vector is the
 * only root.  With pause time 0, full collections are incremental: heap
 * segments wait behind the read barrier, and code is copied whenever the
 * collector scans a heap segment that refers to it: in a step, or when
 * the mutator touches a grey segment (a barrier fault).
 *
 * Between increments the mutator reads each pair (the read barrier
 * scans what it touches first), checks that the caller's call
 * instruction reaches the leaf the pair holds now, and calls the caller:
 * a code object left grey when the mutator runs would still call its
 * leaf's old copy (DESIGN.md#code-incremental).  The test
 * also checks that the traces were incremental and moved code between
 * steps, and that garbage code dies.
 */

#include "testlib.h"
#include "testcode.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPAIRS 200

static mps_arena_t arena;
static mps_ap_t code_ap, heap_ap;
static void *vec_root[1]; /* the vector: the only exact root */
static void *link_root[1]; /* a leaf while its caller is installed */
/* Callers' addresses at the start of a trace, as integers and off the
 * stack: an ambiguous reference would pin them. */
static uintptr_t before[NPAIRS];

static void **slots(void)
{
  /* vector = [tag][id][refs...], client pointer = base (header 0) */
  return (void **)vec_root[0] + 2;
}

/* pair = [tag][id][car][cdr] */
static void *caller_of(size_t i)
{
  return ((void **)slots()[i])[2];
}

static void *leaf_of(size_t i)
{
  return ((void **)slots()[i])[3];
}

/* A leaf that returns the low 32 bits of its own entry's execute
 * address: lea rax, [rip - 7]; ret.  So a caller's result says which
 * copy of its leaf it called. */
static void *make_self_leaf(void)
{
  static const unsigned char code[] = {0x48, 0x8D, 0x05, 0xF9, 0xFF,
                                       0xFF, 0xFF, 0xC3};
  return tc_make_code(code_ap, code, sizeof code, NULL);
}

/* What a caller returns when it calls the leaf at `leaf` (write view). */
static int expected(void *leaf)
{
  uintptr_t entry = (uintptr_t)leaf + (uintptr_t)mpsx_code_delta(arena) +
                    TC_ENTRY;
  return (int)(uint32_t)entry + 1;
}

/* Check every pair through the vector: call every caller first (through
 * the execute view only, which no barrier protects), then look at its
 * call instruction (through the write view). */
static unsigned long check_pairs(const char *when)
{
  unsigned long calls = 0;
  size_t i;
  for (i = 0; i < NPAIRS; ++i) {
    void *caller = caller_of(i);
    void *leaf = leaf_of(i);
    int got = tc_call(arena, caller);
    if (got != expected(leaf))
      die("%s: caller %zu called a leaf at another address than the "
          "leaf's (%p)", when, i, leaf);
    if (tc_linked_target(caller) != leaf)
      die("%s: caller %zu calls %p, but its leaf is at %p now", when, i,
          tc_linked_target(caller), leaf);
    ++calls;
  }
  return calls;
}

/* Heap garbage: allocation drives steps too. */
static void heap_garbage(size_t n)
{
  size_t i;
  for (i = 0; i < n; ++i)
    (void)tf_make_pair(heap_ap, 2, NULL, NULL);
}

static void install_pairs(void)
{
  size_t i;
  void *v;
  mps_arena_park(arena);
  v = tf_make_vec(heap_ap, 1, NPAIRS);
  vec_root[0] = v;
  for (i = 0; i < NPAIRS; ++i) {
    void *caller;
    link_root[0] = make_self_leaf();
    caller = tc_make_caller(code_ap, link_root);
    slots()[i] = tf_make_pair(heap_ap, 3 + i, caller, link_root[0]);
    /* Garbage between the pairs, so that copies change layout and the
     * pairs spread over several segments. */
    (void)tc_make_leaf(code_ap, -1);
    heap_garbage(rnd_below(40));
  }
  link_root[0] = NULL;
  mps_arena_release(arena);
}

int main(void)
{
  mps_fmt_t code_fmt, heap_fmt;
  mps_pool_t code_pool, heap_pool;
  mps_root_t vec_root_r, link_root_r;
  mps_thr_t thr;
  mps_root_t stack_root;
  void *marker = &marker;
  mpsx_pause_log_s log;
  unsigned long calls = 0, moved_between_steps = 0, incremental_traces = 0;
  int round, rounds;

  test_init("codeinc");
  rounds = (int)test_scale(12);
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  mps_arena_pause_time_set(arena, 0.0);
  memset(&log, 0, sizeof log);
  mpsx_arena_pause_log(arena, &log);
  tc_fmt_create(&code_fmt, arena);
  tf_fmt_create(&heap_fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, code_fmt);
    MPS_ARGS_ADD(args, MPSX_KEY_CODE_RESERVE, (size_t)64 << 20);
    CHECK_RES(mps_pool_create_k(&code_pool, arena, mpsx_class_amcx(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, heap_fmt);
    CHECK_RES(mps_pool_create_k(&heap_pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&code_ap, code_pool, mps_args_none));
  CHECK_RES(mps_ap_create_k(&heap_ap, heap_pool, mps_args_none));
  CHECK_RES(mps_root_create_table(&vec_root_r, arena, mps_rank_exact(), 0,
                                  vec_root, 1));
  CHECK_RES(mps_root_create_table(&link_root_r, arena, mps_rank_exact(), 0,
                                  link_root, 1));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread_scanned(&stack_root, arena,
                                           mps_rank_ambig(), 0, thr,
                                           mpsx_scan_area_code, NULL,
                                           marker));

  install_pairs();
  calls += check_pairs("after installation");

  for (round = 0; round < rounds; ++round) {
    size_t flips = log.kinds[MPSX_PAUSE_FLIP], i, moved = 0;
    int steps = 0;
    for (i = 0; i < NPAIRS; ++i)
      before[i] = (uintptr_t)caller_of(i);
    /* Allocation starts it (the flip) and makes steps. */
    CHECK_RES(mps_arena_start_collect(arena));
    while (!mpsx_arena_tracing(arena)) {
      heap_garbage(64);
      if (++steps > 100000)
        die("round %d: the collection did not start", round);
    }
    while (mpsx_arena_tracing(arena)) {
      size_t moved_now = 0;
      calls += check_pairs("between increments");
      for (i = 0; i < NPAIRS; ++i)
        if ((uintptr_t)caller_of(i) != before[i])
          ++moved_now;
      if (mpsx_arena_tracing(arena) && moved_now > moved)
        ++moved_between_steps;
      moved = moved_now;
      heap_garbage(rnd_below(2000));
      if (++steps > 1000000)
        die("round %d: the trace did not end", round);
    }
    if (log.kinds[MPSX_PAUSE_FLIP] > flips)
      ++incremental_traces;
    calls += check_pairs("after the trace");
    /* New garbage code for the next round, and a new vector: the old
     * pairs become garbage and must be freed without harm. */
    if (round % 4 == 3)
      install_pairs();
  }
  mpsx_arena_pause_log(arena, NULL);

  printf("codeinc: %d rounds, %lu incremental traces, code moved between "
         "steps in %lu increments, %lu calls, %zu pauses (%zu flips, %zu "
         "steps, %zu faults)\n",
         rounds, incremental_traces, moved_between_steps, calls, log.count,
         log.kinds[MPSX_PAUSE_FLIP], log.kinds[MPSX_PAUSE_STEP],
         log.kinds[MPSX_PAUSE_FAULT]);
  if (incremental_traces == 0)
    die("no collection that condemns code was incremental");
  if (moved_between_steps == 0)
    die("code never moved while the mutator ran between steps");

  mps_arena_park(arena);
  vec_root[0] = NULL;
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(link_root_r);
  mps_root_destroy(vec_root_r);
  mps_ap_destroy(heap_ap);
  mps_ap_destroy(code_ap);
  mps_pool_destroy(heap_pool);
  mps_pool_destroy(code_pool);
  mps_fmt_destroy(heap_fmt);
  mps_fmt_destroy(code_fmt);
  mps_arena_destroy(arena);
  printf("codeinc: OK\n");
  return 0;
}
