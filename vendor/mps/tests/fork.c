/* fork.c -- fork while other registered threads allocate and collect
 *
 * DESIGN.md#fork: every arena lock is taken around fork, so the child
 * starts with consistent collector state; in the child, threads that were
 * registered in the parent do not exist and are neither signalled nor
 * scanned.  Checked:
 *  1. children that only exec or exit, forked while a second registered
 *     thread allocates and collects, never hang and exit cleanly;
 *  2. a child that goes on using the arena (allocates, collects, verifies
 *     a list reachable from a root, deregisters the parent's thread
 *     records) works;
 *  3. the parent is unaffected: its graph verifies afterwards.
 */

#define _GNU_SOURCE
#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NLIST 500

/* How long a child may run: far more than any needs.  One still running
 * then has hung (what check 1 is about, perhaps before fork even returned
 * in it), and is killed; the test fails at once, naming the child, rather
 * than waiting for it until the test runner's time limit. */
#define CHILD_SECONDS 60.0

static mps_arena_t arena;
static mps_pool_t pool;
static void *list_root[1];       /* exact root: a list of pairs */
static volatile int stop_worker;

static void *build_list(mps_ap_t ap, size_t n)
{
  void *list = NULL;
  size_t i;
  for (i = 0; i < n; ++i)
    list = tf_make_pair(ap, i + 1, NULL, list);
  return list;
}

static size_t check_list(void *list)
{
  size_t n = 0;
  unsigned long expect = NLIST;
  while (list != NULL) {
    tf_check_obj(list, "fork: list cell");
    if (tf_id(list) != expect--)
      die("fork: list cell %lu has id %lu", expect + 1, tf_id(list));
    list = tf_ref(list, 1);
    ++n;
  }
  return n;
}

static void *worker(void *arg)
{
  mps_thr_t thr;
  mps_ap_t ap;
  mps_root_t root;
  void *marker = &marker;
  unsigned long n = 0;
  (void)arg;
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&root, arena, thr, marker));
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  while (!stop_worker) {
    (void)build_list(ap, 100);
    if (++n % 20 == 0) {
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
    }
  }
  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_thread_dereg(thr);
  return NULL;
}

/* Waits for the child `pid` (`what`, for the message) for at most
 * CHILD_SECONDS; returns its exit code, or 128 + the signal that killed
 * it. */
static int wait_child(pid_t pid, const char *what)
{
  int status;
  double deadline = test_now() + CHILD_SECONDS;
  pid_t got;
  while ((got = waitpid(pid, &status, WNOHANG)) == 0) {
    struct timespec ms = { 0, 1000000 };
    if (test_now() > deadline) {
      kill(pid, SIGKILL);
      (void)waitpid(pid, &status, 0);
      die("the %s still running after %.0f s: hung (killed)", what,
          CHILD_SECONDS);
    }
    nanosleep(&ms, NULL); /* may end early, interrupted by the collector */
  }
  if (got != pid)
    die("waitpid failed");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_thr_t thr;
  mps_root_t root, stack_root;
  mps_ap_t ap;
  pthread_t t;
  void *marker = &marker;
  int i, forks;

  test_init("fork");
  forks = (int)test_scale(20);
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr, marker));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0,
                                  list_root, 1));
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  list_root[0] = build_list(ap, NLIST);
  if (pthread_create(&t, NULL, worker, NULL) != 0)
    die("pthread_create failed");

  /* 1: children that exec or exit at once. */
  for (i = 0; i < forks; ++i) {
    pid_t pid = fork();
    if (pid < 0)
      die("fork failed");
    if (pid == 0) {
      if (i % 2 == 0)
        execl("/bin/true", "true", (char *)NULL);
      _exit(0);
    }
    if (wait_child(pid, i % 2 == 0 ? "child that execs /bin/true"
                                   : "child that exits at once") != 0)
      die("child %d failed", i);
  }

  /* 2: a child that keeps using the arena. */
  {
    pid_t pid = fork();
    if (pid < 0)
      die("fork failed");
    if (pid == 0) {
      int k;
      for (k = 0; k < 5; ++k) {
        (void)build_list(ap, 1000);
        CHECK_RES(mps_arena_collect(arena));
        mps_arena_release(arena);
        if (check_list(list_root[0]) != NLIST)
          _exit(3);
      }
      _exit(0);
    }
    if (wait_child(pid, "child that uses the arena") != 0)
      die("the child that used the arena failed");
  }

  stop_worker = 1;
  pthread_join(t, NULL);
  /* 3: the parent. */
  CHECK_RES(mps_arena_collect(arena));
  if (check_list(list_root[0]) != NLIST)
    die("parent list broken");
  printf("fork: %d exec/exit children and one working child, %lu "
         "collections\n",
         forks, (unsigned long)mps_collections(arena));
  mps_arena_park(arena);
  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_pool_destroy(pool);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("fork: OK\n");
  return 0;
}
