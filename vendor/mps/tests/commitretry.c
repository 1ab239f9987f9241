/* commitretry.c -- a slow committer against back-to-back collections
 *
 * A commit fails when a flip came after its reserve, and the client's
 * loop reserves again.  Here one thread collects back to back, with
 * nothing in between but mps_arena_release, while the main thread makes
 * pairs whose reserve-to-commit window (it reads the target from a root,
 * stores it, then works for a while, as a JIT installer links code) is
 * several times longer than the gap between two collections.  Without
 * the collector's wait for retries (DESIGN.md#buffers-progress) every
 * flip voids the retry too, and the main thread never commits: the test
 * fails after MAX_TRIES attempts at one pair.  With it, a commit fails at
 * most once in a row (the test allows a few, for a committer that the
 * machine deschedules for longer than the wait's limit).
 *
 * At the end every committed pair must still refer to the target's
 * current address: a block committed with a reference read before a
 * collection moved its target would keep the stale one.
 */

#define _POSIX_C_SOURCE 200809L

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#define PAIRS 25
#define MAX_TRIES 4
/* The committer's window, in seconds: between WINDOW_MIN and twice that
 * at random after a voided commit, doubled (up to WINDOW_MAX) after a
 * commit that no collection came in to void. */
#define WINDOW_MIN 200e-6
#define WINDOW_MAX 20e-3

static mps_arena_t arena;
static atomic_int stop;
static atomic_ulong collections;
/* Exact root: [0] the target, then the committed pairs. */
static void *keep[1 + PAIRS];
/* The block being committed, as the committer's registers would hold it. */
static void *pending[1];

static void *collector(void *arg)
{
  mps_thr_t thread;
  (void)arg;
  CHECK_RES(mps_thread_reg(&thread, arena));
  while (!atomic_load(&stop)) {
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    atomic_fetch_add(&collections, 1);
  }
  mps_thread_dereg(thread);
  return NULL;
}

/* Take `seconds`, as a thread linking what it has reserved would, in
 * short sleeps: a thread that runs in user mode all along may take
 * milliseconds to see the collector's suspend signal when every core is
 * busy, which would leave few collections inside the window. */
static void work_for(double seconds)
{
  double until = test_now() + seconds;
  struct timespec nap = {0, 20000};
  while (test_now() < until)
    (void)nanosleep(&nap, NULL);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_root_t root, ambig;
  mps_thr_t thread;
  pthread_t other;
  size_t size, i;
  unsigned long voided = 0, worst = 0;
  double window = WINDOW_MIN;

  test_init("commitretry");
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
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, keep,
                                  1 + PAIRS));
  CHECK_RES(mps_root_create_table(&ambig, arena, mps_rank_ambig(), 0,
                                  pending, 1));
  CHECK_RES(mps_thread_reg(&thread, arena));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));
  keep[0] = tf_make_str(ap, 1, 64);
  size = tf_pair_size();

  CHECK(pthread_create(&other, NULL, collector, NULL) == 0);
  while (atomic_load(&collections) < 2)
    ;
  for (i = 1; i <= PAIRS; ++i) {
    unsigned long tries = 0;
    mps_addr_t p;
    void *obj;
    do {
      CHECKF(++tries <= MAX_TRIES,
             "pair %zu: %d commits in a row failed (a window of %.0f us "
             "against back-to-back collections): the retry loop does not "
             "make progress",
             i, MAX_TRIES, window * 1e6);
      CHECK_RES(mps_reserve(&p, ap, size));
      pending[0] = p;
      obj = tf_init_pair(p, 100 + i);
      tf_set_ref(obj, 0, keep[0]);
      work_for(window);
    } while (!mps_commit(ap, p, size));
    keep[i] = obj;
    pending[0] = NULL;
    voided += tries - 1;
    if (tries - 1 > worst)
      worst = tries - 1;
    /* No collection came inside the window: make the next one longer. */
    if (tries == 1 && window < WINDOW_MAX)
      window *= 2;
    else if (tries > 1)
      window = WINDOW_MIN * (1.0 + (double)rnd_below(1000) / 1000.0);
  }
  atomic_store(&stop, 1);
  CHECK(pthread_join(other, NULL) == 0);

  /* Voided commits show that the collections came inside the windows:
   * otherwise the test proved nothing. */
  CHECKF(voided > 0,
         "no commit was voided in %lu collections: no collection came "
         "inside a window",
         (unsigned long)atomic_load(&collections));
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  tf_check_obj(keep[0], "the target");
  for (i = 1; i <= PAIRS; ++i) {
    tf_check_obj(keep[i], "a committed pair");
    CHECKF(tf_id(keep[i]) == 100 + i && tf_ref(keep[i], 0) == keep[0],
           "pair %zu refers to %p, the target is at %p", i,
           tf_ref(keep[i], 0), keep[0]);
  }
  printf("commitretry: %d pairs committed against %lu back-to-back "
         "collections, %lu commits voided, at most %lu in a row\n",
         PAIRS, (unsigned long)atomic_load(&collections), voided, worst);

  mps_ap_destroy(ap);
  mps_thread_dereg(thread);
  mps_root_destroy(ambig);
  mps_root_destroy(root);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  return 0;
}
