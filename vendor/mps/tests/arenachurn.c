/* arenachurn.c -- arenas destroyed while another arena takes barrier faults
 *
 * The barrier's SIGSEGV handler looks for the arena that owns the faulting
 * address among all arenas of the process, without the global lock.  An
 * arena destroyed while a handler was looking at it was freed under it:
 * the handler then claimed a lock in freed memory (seen as a hang of
 * mps/tests/incremental.rs, whose two tests run at once, and as a
 * SIGSEGV in CI).  Destroying an arena now makes the handlers skip it
 * and frees it only when none is looking (DESIGN.md#barrier-handlers).
 *
 * 1. Forced (checking build, test hooks): a victim arena is created
 *    before the main one, so a handler looks at it first; the hook at
 *    that point (MPSX_HOOK_FAULT_ARENA) has another thread destroy the
 *    victim and waits until it has; then the handler goes on, finds the
 *    main arena and lifts its write barrier.  The library before used the
 *    freed arena there (the checking build's lock check, or ASan).
 * 2. Timing: one thread keeps an arena whose collections are all
 *    incremental (pause time 0) and reads its objects, so it takes
 *    read-barrier faults all the time, while another creates and
 *    destroys arenas (with a pool, a root and some objects each) as fast
 *    as it can.  The faulting thread's list is checked after every round,
 *    and the faults must have happened.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#define LIST 200000
#define ROUNDS 30
#define CHURN_OBJS 2000

static void *list_head; /* exact root of the faulting arena */
static volatile int done;

static void *churn(void *arg)
{
  unsigned long *count = arg;
  while (!done) {
    mps_arena_t arena;
    mps_fmt_t fmt;
    mps_pool_t pool;
    mps_ap_t ap;
    mps_root_t root;
    void *objs[16] = {0};
    size_t i;
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
    tf_fmt_create(&fmt, arena, 0);
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
      CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
    } MPS_ARGS_END(args);
    CHECK_RES(mps_root_create_area(&root, arena, mps_rank_exact(), 0, objs,
                                   objs + 16, mps_scan_area, NULL));
    CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
    for (i = 0; i < CHURN_OBJS; ++i)
      objs[i % 16] = tf_make_pair(ap, i + 1, objs[(i + 1) % 16], NULL);
    mps_ap_destroy(ap);
    mps_root_destroy(root);
    mps_pool_destroy(pool);
    mps_fmt_destroy(fmt);
    mps_arena_destroy(arena);
    ++*count;
  }
  return NULL;
}

/* Part 1: the victim's destruction, forced inside a fault handler. */
static int to_destroyer[2], from_destroyer[2];
static volatile int hook_armed, hook_fired;

/* In the handler (async-signal-safe calls only): the first arena it looks
 * at is the victim; have it destroyed, and wait (at most 20 s). */
static void at_fault_arena(int point, void *closure)
{
  char c = 'd';
  struct pollfd p;
  (void)point;
  (void)closure;
  if (!hook_armed)
    return;
  hook_armed = 0;
  if (write(to_destroyer[1], &c, 1) != 1)
    return;
  p.fd = from_destroyer[0];
  p.events = POLLIN;
  if (poll(&p, 1, 20000) == 1 && read(from_destroyer[0], &c, 1) == 1)
    hook_fired = 1;
}

static void *destroyer(void *arg)
{
  mps_arena_t victim = arg;
  char c;
  if (read(to_destroyer[0], &c, 1) != 1)
    die("destroyer: read");
  mps_arena_destroy(victim);
  if (write(from_destroyer[1], &c, 1) != 1)
    die("destroyer: write");
  return NULL;
}

static void forced(void)
{
  mps_arena_t victim, arena;
  mps_fmt_t fmt;
  mps_pool_t pool;
  mps_ap_t ap;
  mps_root_t root;
  void *obj[1];
  pthread_t thread;
  size_t i;

  if (pipe(to_destroyer) != 0 || pipe(from_destroyer) != 0)
    die("pipe");
  CHECK_RES(mps_arena_create_k(&victim, mps_arena_class_vm(), mps_args_none));
  /* A write fault is wanted: the mprotect barrier, whatever the
   * environment asks for (DESIGN.md#barrier-soft). */
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPSX_KEY_WRITE_BARRIER, MPSX_BARRIER_MPROTECT);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  if (mpsx_test_hook_set(MPSX_HOOK_FAULT_ARENA, at_fault_arena, NULL) !=
      MPS_RES_OK) {
    printf("arenachurn: no test hooks in this build; the forced "
           "interleaving is skipped\n");
    mps_arena_destroy(arena);
    mps_arena_destroy(victim);
    return;
  }
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_area(&root, arena, mps_rank_exact(), 0, obj,
                                 obj + 1, mps_scan_area, NULL));
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  obj[0] = tf_make_pair(ap, 1, NULL, NULL);
  /* Old, with the write barrier up: the store below faults. */
  for (i = 0; i < 3; ++i)
    CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  if (pthread_create(&thread, NULL, destroyer, victim) != 0)
    die("pthread_create");
  hook_armed = 1;
  tf_set_ref(obj[0], 1, obj[0]);
  (void)mpsx_test_hook_set(MPSX_HOOK_FAULT_ARENA, NULL, NULL);
  if (hook_armed) {
    /* No fault: let the destroyer go, then say why. */
    char c = 'd';
    hook_armed = 0;
    if (write(to_destroyer[1], &c, 1) != 1 || pthread_join(thread, NULL) != 0)
      die("the destroyer");
    die("the store did not fault: no write barrier on the object");
  }
  if (pthread_join(thread, NULL) != 0)
    die("pthread_join");
  CHECK(hook_fired);
  CHECK(tf_ref(obj[0], 1) == obj[0]);
  CHECK_RES(mps_arena_collect(arena));
  tf_check_obj(obj[0], "arenachurn: the object stored into");
  CHECK(tf_ref(obj[0], 1) == obj[0]);
  printf("arenachurn: an arena destroyed while a fault handler looked at "
         "it; the handler went on\n");
  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_pool_destroy(pool);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
}

static void check_list(const char *when)
{
  void *p = list_head;
  unsigned long n = 0;
  while (p != NULL) {
    tf_check_obj(p, when);
    if (tf_id(p) != LIST - n)
      die("%s: element %lu has id %lu", when, n, tf_id(p));
    p = tf_ref(p, 0);
    ++n;
  }
  if (n != LIST)
    die("%s: the list has %lu elements, not %d", when, n, LIST);
}

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t pool;
  mps_ap_t ap;
  mps_thr_t thr;
  mps_root_t root, stack_root;
  mps_gen_param_s gens[1] = {{1024, 0.5}};
  mpsx_pause_log_s log = {0};
  pthread_t churner;
  unsigned long churned = 0, i, r;

  test_init("arenachurn");
  forced();
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_PAUSE_TIME, 0.0);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 1, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_area(&root, arena, mps_rank_exact(), 0,
                                 &list_head, &list_head + 1, mps_scan_area,
                                 NULL));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr,
                                   (mps_addr_t)&thr));
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  mpsx_arena_pause_log(arena, &log);
  for (i = 1; i <= LIST; ++i)
    list_head = tf_make_pair(ap, i, list_head, NULL);

  if (pthread_create(&churner, NULL, churn, &churned) != 0)
    die("pthread_create");
  for (r = 0; r < (unsigned long)test_scale(ROUNDS); ++r) {
    /* A full collection, incremental: walking the list reads grey
     * segments, which faults; garbage drives its steps. */
    CHECK_RES(mps_arena_start_collect(arena));
    for (i = 0; i < 100000 && !mpsx_arena_tracing(arena); ++i)
      (void)tf_make_pair(ap, 0, NULL, NULL);
    check_list("arenachurn: the list, walked while a collection runs");
    for (i = 0; i < 20000; ++i)
      (void)tf_make_pair(ap, 0, NULL, NULL);
    check_list("arenachurn: the list, walked again");
  }
  done = 1;
  if (pthread_join(churner, NULL) != 0)
    die("pthread_join");
  mps_arena_park(arena);
  check_list("arenachurn: the list at the end");
  printf("arenachurn: %lu arenas created and destroyed, %zu read-barrier "
         "faults, %zu pauses\n", churned, log.kinds[MPSX_PAUSE_FAULT],
         log.count);
  CHECK(churned >= 10);
  CHECK(log.kinds[MPSX_PAUSE_FAULT] >= 10);
  mpsx_arena_pause_log(arena, NULL);

  mps_ap_destroy(ap);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(root);
  mps_pool_destroy(pool);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  return 0;
}
