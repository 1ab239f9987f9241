/* sleepers.c -- a registered thread that sleeps is not starved by a
 * thread that collects back to back
 *
 * A thread stopped in nanosleep returns from it with EINTR and what was
 * left of its timeout, and sleeps again (as glibc's sleep and Rust's
 * std::thread::sleep do).  The time it spends stopped does not count.
 * If the next stop of the world came at once after each one let it go,
 * the sleeper would never be asleep long enough for its timeout to run
 * out (DESIGN.md#threads-fair): a 2 ms sleep took minutes.
 *
 * Checked: while one thread calls mps_arena_collect back to back, each of
 * SLEEPERS registered threads sleeps ROUNDS times for 2 ms (nanosleep,
 * restarted with the remaining time on EINTR), and allocates an object
 * between sleeps; all of them finish within DEADLINE seconds (0.2 s of
 * sleeping each; the library before did not finish in minutes), and
 * their objects are intact.  The collector counts its collections: at
 * least one per sleeper round must have happened.
 */

#define _GNU_SOURCE
#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define SLEEPERS 1
#define ROUNDS 100
#define DEADLINE 60.0

static mps_arena_t arena;
static mps_pool_t pool;
static volatile int stop;
static volatile unsigned long collections;

static void *collector(void *p)
{
  (void)p;
  while (!stop) {
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    ++collections;
  }
  return NULL;
}

typedef struct {
  int index;
  double took;
  int overran;
  volatile int done;
} sleeper_s;

static void *sleeper_body(sleeper_s *s)
{
  mps_thr_t thr;
  mps_root_t root;
  mps_ap_t ap;
  void *keep[1] = {NULL};
  void *marker;
  double t0 = test_now();
  int i;
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&root, arena, thr, &marker));
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  for (i = 0; i < ROUNDS; ++i) {
    struct timespec ts = {0, 2000000}, rem;
    while (nanosleep(&ts, &rem) != 0) {
      CHECK(errno == EINTR);
      ts = rem;
    }
    keep[0] = tf_make_pair(ap, (unsigned long)(s->index * ROUNDS + i), keep[0],
                           NULL);
    tf_check_obj(keep[0], "sleeper's pair");
    if (test_now() - t0 > DEADLINE) {
      s->overran = 1;
      break;
    }
  }
  s->took = test_now() - t0;
  /* The list is intact: ids count down from the last one. */
  {
    void *p = keep[0];
    unsigned long want = (unsigned long)(s->index * ROUNDS + i - 1);
    for (; p != NULL; p = tf_ref(p, 0), --want)
      CHECKF(tf_id(p) == want, "sleeper %d: pair %lu where %lu was expected",
             s->index, tf_id(p), want);
  }
  keep[0] = NULL;
  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_thread_dereg(thr);
  s->done = 1;
  return NULL;
}

static void *sleeper(void *p)
{
  return sleeper_body(p);
}

int main(void)
{
  mps_fmt_t fmt;
  pthread_t c, t[SLEEPERS];
  sleeper_s s[SLEEPERS];
  unsigned long before;
  int k;

  test_init("sleepers");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK(pthread_create(&c, NULL, collector, NULL) == 0);
  before = collections;
  for (k = 0; k < SLEEPERS; ++k) {
    s[k].index = k;
    s[k].took = 0.0;
    s[k].overran = 0;
    s[k].done = 0;
    CHECK(pthread_create(&t[k], NULL, sleeper, &s[k]) == 0);
  }
  /* A starved sleeper never returns from its nanosleep loop: watch the
   * clock here rather than hang. */
  {
    double t0 = test_now();
    for (;;) {
      int all = 1;
      struct timespec tick = {0, 10000000};
      for (k = 0; k < SLEEPERS; ++k)
        all &= s[k].done;
      if (all)
        break;
      CHECKF(test_now() - t0 < DEADLINE + 10.0,
             "the sleepers are not done after %.0f s (%lu collections)",
             test_now() - t0, collections - before);
      (void)nanosleep(&tick, NULL);
    }
  }
  for (k = 0; k < SLEEPERS; ++k)
    CHECK(pthread_join(t[k], NULL) == 0);
  stop = 1;
  CHECK(pthread_join(c, NULL) == 0);
  for (k = 0; k < SLEEPERS; ++k) {
    CHECKF(!s[k].overran,
           "sleeper %d: %d sleeps of 2 ms not done in %.0f s (%lu "
           "collections)", k, ROUNDS, DEADLINE, collections - before);
    printf("sleepers: sleeper %d: %d sleeps of 2 ms in %.2f s\n", k, ROUNDS,
           s[k].took);
  }
  CHECKF(collections - before >= ROUNDS,
         "only %lu collections while the sleepers slept",
         collections - before);
  printf("sleepers: %lu collections meanwhile\n", collections - before);
  mps_pool_destroy(pool);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("sleepers: ok\n");
  return 0;
}
