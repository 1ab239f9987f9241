/* sigstack.c -- barrier faults and thread suspension on alternate signal
 * stacks, with the interleavings forced (DESIGN.md#threads,
 * DESIGN.md#sigstacks)
 *
 * A mutator thread stores into old cells (protected segments: each store
 * is a barrier fault) while a collector thread collects.  The mutator
 * holds an object only in a local of its own stack, which must pin it.
 * In the checking build, test hooks force each interleaving instead of
 * hoping that timing finds it:
 *
 *   lock     the mutator's fault handler has parked and is about to take
 *            the arena lock when the collector stops the world: the
 *            collector must count it as stopped without a signal, and
 *            scan its fault context (the faulting store's registers pin
 *            the cell it stores into, so the store lands in the right
 *            object after the collection);
 *   early    the suspend signal is sent while the mutator is in the first
 *            instruction of its fault handler, before it recorded
 *            anything: the signal stays blocked, the handler parks and
 *            acknowledges, and the signal, delivered after the handler,
 *            is ignored (its default action would end the process);
 *   handler  the collection stops the mutator inside a handler of the
 *            program's own running on the alternate stack: frames on both
 *            stacks must be scanned, and nothing between them read.
 *
 * Then, in every build, the mutator stores at random while collections
 * run, with alternate stacks of 2 KiB (smaller than one signal frame on
 * a machine with AVX-512) and 8 KiB (Rust's), and the cells are checked
 * against a model.
 */

#define _GNU_SOURCE

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NCELLS 40000

enum { SCEN_NONE, SCEN_LOCK, SCEN_EARLY, SCEN_HANDLER, SCEN_STRESS };
static const char *scen_name[] = { "none", "lock", "early", "handler",
                                   "stress" };

static mps_arena_t arena;
static mps_pool_t amc;
static void *cells[NCELLS];              /* an exact root */
static unsigned long cell_car[NCELLS];   /* model: id of the car, or 0 */

/* Scenario state, shared with the hooks (which run in signal handlers:
 * atomics only). */
static atomic_int scenario;
static pthread_t mutator_thread;
static atomic_int fired;           /* the scenario's hook has acted */
static atomic_int go_collect;      /* the collector may start */
static atomic_int stop_collector;
static atomic_int world_stops;     /* stops of the world since `go` */
static atomic_int sends;           /* suspend signals since `go` */
static atomic_int sends_at_stop;   /* `sends` at the first stop */
static atomic_int fault_entries;   /* the mutator's barrier faults */
static atomic_int collections_done;
static atomic_ulong stores_done;   /* the mutator's stores, in stress */
static atomic_int hook_timed_out;
static atomic_int in_handler;      /* the mutator is in its SIGUSR1 handler */
static void *volatile handler_obj; /* handed to the SIGUSR1 handler */
static unsigned long handler_obj_id;
static atomic_int handler_ok;

/* Wait, in a hook or handler, until *flag >= value (20 s at most). */
static void spin_until(atomic_int *flag, int value)
{
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (atomic_load(flag) < value) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec > 20) {
      atomic_store(&hook_timed_out, 1);
      return;
    }
  }
}

static int on_mutator(void)
{
  return pthread_equal(pthread_self(), mutator_thread);
}

static void hook(int point, void *closure)
{
  int s = atomic_load(&scenario);
  (void)closure;
  switch (point) {
  case MPSX_HOOK_FAULT_ENTRY:
    if (!on_mutator())
      return;
    atomic_fetch_add(&fault_entries, 1);
    if (s == SCEN_EARLY && atomic_exchange(&fired, 1) == 0) {
      /* Let the collector stop the world now, and stay here until it has
       * sent this thread its suspend signal. */
      atomic_store(&go_collect, 1);
      spin_until(&sends, 1);
    }
    break;
  case MPSX_HOOK_FAULT_PARKED:
    if (s == SCEN_LOCK && on_mutator() &&
        atomic_exchange(&fired, 1) == 0) {
      /* Parked, not yet at the lock: let the collector take the lock and
       * stop the world before going on. */
      atomic_store(&go_collect, 1);
      spin_until(&world_stops, 1);
    }
    break;
  case MPSX_HOOK_SUSPEND_SENT:
    if (atomic_load(&go_collect))
      atomic_fetch_add(&sends, 1);
    break;
  case MPSX_HOOK_WORLD_STOPPED:
    if (atomic_load(&go_collect) && atomic_fetch_add(&world_stops, 1) == 0)
      atomic_store(&sends_at_stop, atomic_load(&sends));
    break;
  default:
    break;
  }
}

/* The program's own handler, on the alternate stack: it holds the only
 * reference to an object in a local there while a collection stops the
 * thread. */
static void usr1_handler(int sig)
{
  void *volatile mine = handler_obj;
  uintptr_t where = (uintptr_t)mine;
  (void)sig;
  handler_obj = NULL;
  atomic_store(&in_handler, 1);
  atomic_store(&go_collect, 1);
  spin_until(&collections_done, 1);
  atomic_store(&handler_ok, (uintptr_t)mine == where &&
                                tf_kind(mine) == TF_PAIR &&
                                tf_id(mine) == handler_obj_id);
  atomic_store(&in_handler, 0);
}

typedef struct mutator_args {
  size_t alt_size;   /* 0: no alternate stack of our own */
  int scen;
  unsigned long stores;
} mutator_args;

static void store_cell(mps_ap_t ap, size_t i, unsigned long *next_id)
{
  size_t j = rnd_below(NCELLS);
  (void)ap;
  (void)next_id;
  tf_set_ref(cells[i], 0, cells[j]);
  cell_car[i] = tf_id(cells[j]);
}

static __attribute__((noinline)) void mutator_loop(mutator_args *a,
                                                   mps_ap_t ap)
{
  unsigned long next_id = 1000000;
  /* Only on this stack: must be pinned by it. */
  void *volatile mine = tf_make_pair(ap, next_id, NULL, NULL);
  uintptr_t where = (uintptr_t)mine;
  unsigned long n = 0;

  if (a->scen == SCEN_HANDLER) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = usr1_handler;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
      die("sigaction");
    handler_obj_id = next_id + 1;
    handler_obj = tf_make_pair(ap, handler_obj_id, NULL, NULL);
    if (pthread_kill(pthread_self(), SIGUSR1) != 0)
      die("pthread_kill");
    ++n;
  } else if (a->scen == SCEN_STRESS) {
    while (!atomic_load(&stop_collector)) {
      store_cell(ap, rnd_below(NCELLS), &next_id);
      atomic_store_explicit(&stores_done, ++n, memory_order_relaxed);
    }
  } else {
    /* Store until the scenario's hook has acted and the collection it
     * started is over. */
    while (atomic_load(&collections_done) == 0 &&
           !atomic_load(&hook_timed_out)) {
      store_cell(ap, rnd_below(NCELLS), &next_id);
      ++n;
    }
  }
  if ((uintptr_t)mine != where || tf_kind(mine) != TF_PAIR ||
      tf_id(mine) != 1000000)
    die("%s: an object held only on the mutator's stack moved or broke",
        scen_name[a->scen]);
  a->stores = n;
}

static void *mutator_main(void *arg)
{
  mutator_args *a = arg;
  void *marker = &marker;
  void *alt = NULL;
  mps_thr_t thr;
  mps_root_t root;
  mps_ap_t ap;

  mutator_thread = pthread_self();
  atomic_thread_fence(memory_order_seq_cst);
  if (a->alt_size > 0) {
    stack_t ss;
    alt = malloc(a->alt_size);
    if (alt == NULL)
      die("malloc");
    ss.ss_sp = alt;
    ss.ss_size = a->alt_size;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) != 0)
      die("sigaltstack");
  }
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&root, arena, thr, marker));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));
  mutator_loop(a, ap);
  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_thread_dereg(thr);
  if (alt != NULL) {
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_flags = SS_DISABLE;
    if (sigaltstack(&ss, NULL) != 0)
      die("sigaltstack off");
    free(alt);
  }
  return NULL;
}

static void *collector_main(void *arg)
{
  void *marker = &marker;
  mps_thr_t thr;
  mps_root_t root;
  int stress = *(int *)arg;

  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&root, arena, thr, marker));
  if (stress) {
    unsigned long target = test_scale(60);
    /* Until both have done their share: the mutator may be slow to
     * start. */
    while ((unsigned long)atomic_load(&collections_done) < target ||
           atomic_load(&stores_done) < target * 1000) {
      struct timespec gap = {0, 200000};
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
      atomic_fetch_add(&collections_done, 1);
      /* A moment between collections: the arena lock is not fair, and a
       * mutator waiting for it in its barrier fault handler could lose
       * it to the next collection again and again (one ASan run made
       * 20,329 collections to the mutator's 91,516 stores, in 300 s). */
      nanosleep(&gap, NULL);
    }
    atomic_store(&stop_collector, 1);
  } else {
    spin_until(&go_collect, 1);
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    atomic_fetch_add(&collections_done, 1);
  }
  mps_root_destroy(root);
  mps_thread_dereg(thr);
  return NULL;
}

static void verify_cells(const char *what)
{
  size_t i;
  mps_arena_park(arena);
  for (i = 0; i < NCELLS; ++i) {
    void *car;
    tf_check_obj(cells[i], what);
    if (tf_id(cells[i]) != i + 1)
      die("%s: cell %zu has id %lu", what, i, tf_id(cells[i]));
    car = tf_ref(cells[i], 0);
    if (cell_car[i] == 0 ? car != NULL
                         : car == NULL || tf_id(car) != cell_car[i])
      die("%s: cell %zu: car is %lu, expected %lu", what, i,
          car == NULL ? 0UL : tf_id(car), cell_car[i]);
  }
  mps_arena_release(arena);
}

static unsigned long run(int scen, size_t alt_size)
{
  pthread_t m, c;
  mutator_args a;
  int stress = scen == SCEN_STRESS;

  atomic_store(&fired, 0);
  atomic_store(&go_collect, 0);
  atomic_store(&stop_collector, 0);
  atomic_store(&world_stops, 0);
  atomic_store(&sends, 0);
  atomic_store(&sends_at_stop, -1);
  atomic_store(&fault_entries, 0);
  atomic_store(&collections_done, 0);
  atomic_store(&stores_done, 0);
  atomic_store(&hook_timed_out, 0);
  atomic_store(&handler_ok, 0);
  /* Old cells, behind the write barrier: survivors of two collections
   * are out of the youngest generation. */
  CHECK_RES(mps_arena_collect(arena));
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);

  /* In stress, count every stop from the start. */
  atomic_store(&go_collect, stress);
  memset(&a, 0, sizeof a);
  a.alt_size = alt_size;
  a.scen = scen;
  atomic_store(&scenario, scen);
  if (pthread_create(&m, NULL, mutator_main, &a) != 0)
    die("pthread_create");
  if (pthread_create(&c, NULL, collector_main, &stress) != 0)
    die("pthread_create");
  if (pthread_join(c, NULL) != 0 || pthread_join(m, NULL) != 0)
    die("pthread_join");
  atomic_store(&scenario, SCEN_NONE);
  if (atomic_load(&hook_timed_out))
    die("%s: the forced interleaving did not happen (a hook timed out)",
        scen_name[scen]);
  verify_cells(scen_name[scen]);
  printf("sigstack: %s, alternate stack %zu: %lu stores, %d barrier "
         "faults, %d collections, %d suspend signals\n",
         scen_name[scen], alt_size, a.stores, atomic_load(&fault_entries),
         atomic_load(&collections_done), atomic_load(&sends));
  return a.stores;
}

int main(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_root_t root;
  mps_ap_t ap;
  mps_gen_param_s gens[] = { { 1024, 0.8 }, { 2048, 0.5 } };
  size_t i;
  int hooks;

  test_init("sigstack");
  /* This test is about the mprotect barrier's faults: keep it even
   * where the kernel offers the soft one (DESIGN.md#barrier-soft). */
  setenv("MPS_WRITE_BARRIER", "mprotect", 1);
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, cells,
                                  NCELLS));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));
  for (i = 0; i < NCELLS; ++i)
    cells[i] = tf_make_pair(ap, i + 1, NULL, NULL);
  mps_ap_destroy(ap);

  hooks = mpsx_test_hook_set(MPSX_HOOK_FAULT_ENTRY, hook, NULL) ==
          MPS_RES_OK;
  if (hooks) {
    int p;
    for (p = 1; p < MPSX_HOOK_LIMIT; ++p)
      CHECK_RES(mpsx_test_hook_set(p, hook, NULL));

    run(SCEN_LOCK, 8192);
    if (atomic_load(&world_stops) < 1 || atomic_load(&sends_at_stop) != 0)
      die("lock: the world was not stopped while the mutator was parked "
          "(stops %d, signals before the first %d)",
          atomic_load(&world_stops), atomic_load(&sends_at_stop));

    run(SCEN_EARLY, 8192);
    if (atomic_load(&sends_at_stop) < 1)
      die("early: no suspend signal reached the handler's first "
          "instruction");

    run(SCEN_HANDLER, 64 * 1024);
    if (!atomic_load(&handler_ok))
      die("handler: an object held only in the program's handler on the "
          "alternate stack moved or broke");
  } else {
    printf("sigstack: test hooks exist in the checking build only; the "
           "forced interleavings are skipped here\n");
  }

  {
    static const size_t alt_sizes[] = { 2048, 8192, 0 };
    for (i = 0; i < sizeof alt_sizes / sizeof alt_sizes[0]; ++i) {
      run(SCEN_STRESS, alt_sizes[i]);
      /* The hooks count the faults (checking build). */
      if (hooks && atomic_load(&fault_entries) == 0)
        die("stress: no barrier fault happened");
    }
  }
  if (hooks) {
    int p;
    for (p = 0; p < MPSX_HOOK_LIMIT; ++p)
      CHECK_RES(mpsx_test_hook_set(p, NULL, NULL));
  }

  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("sigstack: OK\n");
  return 0;
}
