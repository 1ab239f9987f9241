/* fairstop.c -- a mutator thread against back-to-back collections
 *
 * One thread collects back to back, with nothing in between but
 * mps_arena_release; the main thread, registered, makes pairs and links
 * them into a list held by an exact root, one pair per collection (it
 * waits for the count to go up).  Each collection stops the main
 * thread in its suspend handler and then lets it go; waking it can take
 * longer than the next collection takes to ask again (milliseconds when
 * every core is busy).  A thread that has not
 * left the handler when the next collection asks was counted as stopped
 * again, and with collections back to back it never left: the main thread
 * made no progress however long the test ran.  Now a collection first
 * lets such a thread leave and run (DESIGN.md#threads-fair).
 *
 * The checking build makes the slow wake certain: a test hook in the
 * suspend handler, where it has seen the collector let it go, sleeps
 * 2 ms before the thread leaves (the fast build has no hooks, and relies
 * on the machine's own latency).  The test fails if the collecting thread
 * completes MAX_COLLECTIONS collections before the main thread has made
 * its pairs; afterwards the list must be intact.
 */

#define _POSIX_C_SOURCE 200809L

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#define PAIRS 300
#define MAX_COLLECTIONS 20000

static mps_arena_t arena;
static atomic_int done, starved;
static atomic_ulong collections;
static void *list[1]; /* exact root: the newest pair */

static void *collector(void *arg)
{
  mps_thr_t thread;
  (void)arg;
  CHECK_RES(mps_thread_reg(&thread, arena));
  while (!atomic_load(&done)) {
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    if (atomic_fetch_add(&collections, 1) + 1 >= MAX_COLLECTIONS) {
      atomic_store(&starved, 1);
      break;
    }
  }
  mps_thread_dereg(thread);
  return NULL;
}

/* In the suspend handler, released: wake slowly. */
static void slow_wake(int point, void *closure)
{
  struct timespec nap = {0, 2000000};
  (void)point;
  (void)closure;
  (void)nanosleep(&nap, NULL);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_root_t root;
  mps_thr_t thread;
  pthread_t other;
  unsigned long i, n;
  void *p;
  int hooked;

  test_init("fairstop");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)32 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, list,
                                  1));
  CHECK_RES(mps_thread_reg(&thread, arena));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));
  hooked = mpsx_test_hook_set(MPSX_HOOK_SUSPEND_RELEASED, slow_wake, NULL) ==
           MPS_RES_OK;

  CHECK(pthread_create(&other, NULL, collector, NULL) == 0);
  for (i = 1; i <= PAIRS && !atomic_load(&starved); ++i) {
    /* Each pair after a collection more. */
    unsigned long seen = atomic_load(&collections);
    void *pair = tf_make_pair(ap, i, NULL, NULL);
    tf_set_ref(pair, 1, list[0]);
    list[0] = pair;
    while (atomic_load(&collections) == seen && !atomic_load(&starved))
      sched_yield();
  }
  atomic_store(&done, 1);
  CHECK(pthread_join(other, NULL) == 0);
  if (hooked)
    CHECK_RES(mpsx_test_hook_set(MPSX_HOOK_SUSPEND_RELEASED, NULL, NULL));
  CHECKF(!atomic_load(&starved),
         "the main thread made %lu pairs of %d in %d back-to-back "
         "collections: the collections kept it stopped",
         i - 1, PAIRS, MAX_COLLECTIONS);

  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  for (p = list[0], n = PAIRS; p != NULL; p = tf_ref(p, 1), --n) {
    tf_check_obj(p, "a pair of the list");
    CHECKF(tf_id(p) == n, "pair %lu of the list has id %lu", PAIRS - n,
           tf_id(p));
  }
  CHECK(n == 0);
  printf("fairstop: %d pairs made during %lu back-to-back collections%s\n",
         PAIRS, (unsigned long)atomic_load(&collections),
         hooked ? " (each wake delayed 2 ms)" : "");

  mps_ap_destroy(ap);
  mps_thread_dereg(thread);
  mps_root_destroy(root);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  return 0;
}
