/* signals.c -- the collector's signal handlers coexist with the client's
 *
 * The collector uses SIGSEGV (write barrier) and SIGXCPU (stopping threads;
 * SIGXFSZ, which it used to resume them, is now the client's alone).  Checked here:
 *  1. a client SIGSEGV handler installed BEFORE the arena still receives
 *     the faults that are not the barrier's (a page of its own that it
 *     protects and unprotects), while barrier faults keep working;
 *  2. a client handler installed AFTER the arena, which passes on faults it
 *     does not recognise to the handler it replaced (as well-behaved
 *     handlers do), lets the barrier work, and sees its own faults;
 *  3. SIGXFSZ and SIGXCPU that the collector did not send reach the
 *     client's handlers, installed before the arena;
 *  4. through all of it, a graph in old (barrier-protected) generations is
 *     mutated and verified across collections.
 */

#define _GNU_SOURCE
#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NOBJ 2000

static mps_arena_t arena;
static mps_ap_t ap;
static void *objs[NOBJ];         /* exact root */
static char *client_page;         /* the client's own guarded page */
static size_t page_size;
static volatile sig_atomic_t client_faults, xfsz_seen, xcpu_seen;
static struct sigaction before_old, after_old;

/* Handler 1: installed before the arena.  Its page only. */
static void before_segv(int sig, siginfo_t *info, void *uc)
{
  char *addr = info->si_addr;
  (void)sig;
  (void)uc;
  if (addr >= client_page && addr < client_page + page_size) {
    mprotect(client_page, page_size, PROT_READ | PROT_WRITE);
    ++client_faults;
    return;
  }
  /* Not ours either: die as the default would. */
  signal(SIGSEGV, SIG_DFL);
}

/* Handler 2: installed after the arena; passes on what it does not know. */
static void after_segv(int sig, siginfo_t *info, void *uc)
{
  char *addr = info->si_addr;
  if (addr >= client_page && addr < client_page + page_size) {
    mprotect(client_page, page_size, PROT_READ | PROT_WRITE);
    ++client_faults;
    return;
  }
  if (after_old.sa_flags & SA_SIGINFO)
    after_old.sa_sigaction(sig, info, uc);
  else if (after_old.sa_handler != SIG_DFL && after_old.sa_handler != SIG_IGN)
    after_old.sa_handler(sig);
  else
    signal(SIGSEGV, SIG_DFL);
}

static void on_xfsz(int sig)
{
  (void)sig;
  ++xfsz_seen;
}

static void on_xcpu(int sig)
{
  (void)sig;
  ++xcpu_seen;
}

static void install(int sig, void (*h)(int, siginfo_t *, void *),
                    struct sigaction *old)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = h;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, old) != 0)
    die("sigaction failed");
}

static void touch_client_page(void)
{
  unsigned long before = (unsigned long)client_faults;
  if (mprotect(client_page, page_size, PROT_READ) != 0)
    die("mprotect failed");
  ((volatile char *)client_page)[rnd_below(page_size)] = 1; /* faults */
  if ((unsigned long)client_faults != before + 1)
    die("the client's own fault was not delivered to its handler");
}

/* Mutate and verify the graph: pairs whose left slot points at another
 * object; old objects are written, which hits the barrier. */
static void mutate_and_check(int rounds)
{
  int r;
  size_t i;
  for (r = 0; r < rounds; ++r) {
    for (i = 0; i < NOBJ / 4; ++i) {
      size_t a = rnd_below(NOBJ), b = rnd_below(NOBJ);
      tf_set_ref(objs[a], 0, objs[b]);
    }
    for (i = 0; i < 200; ++i)
      (void)tf_make_pair(ap, 0, NULL, NULL); /* garbage */
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    for (i = 0; i < NOBJ; ++i) {
      void *l = tf_ref(objs[i], 0);
      tf_check_obj(objs[i], "signals: object");
      if (l != NULL)
        tf_check_obj(l, "signals: referent");
    }
  }
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t pool;
  struct sigaction sa;
  size_t i;

  test_init("signals");
  /* This test is about the mprotect barrier's faults: keep it even
   * where the kernel offers the soft one (DESIGN.md#barrier-soft). */
  setenv("MPS_WRITE_BARRIER", "mprotect", 1);
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  client_page = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (client_page == MAP_FAILED)
    die("mmap failed");

  /* Client handlers before the arena. */
  install(SIGSEGV, before_segv, &before_old);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_xfsz;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGXFSZ, &sa, NULL);
  sa.sa_handler = on_xcpu;
  sigaction(SIGXCPU, &sa, NULL);

  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  for (i = 0; i < NOBJ; ++i)
    objs[i] = tf_make_pair(ap, i + 1, NULL, NULL);
  {
    mps_root_t root;
    CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0,
                                    objs, NOBJ));
    /* Age the objects so the barrier protects them. */
    for (i = 0; i < 3; ++i) {
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
    }

    /* 1: handler installed before. */
    touch_client_page();
    mutate_and_check(10);
    touch_client_page();

    /* 3: signals the collector did not send. */
    kill(getpid(), SIGXFSZ);
    kill(getpid(), SIGXCPU);
    if (xfsz_seen != 1 || xcpu_seen != 1)
      die("SIGXFSZ/SIGXCPU not passed on (%d, %d)", (int)xfsz_seen,
          (int)xcpu_seen);

    /* 2: a handler installed after the arena, chaining to ours. */
    install(SIGSEGV, after_segv, &after_old);
    touch_client_page();
    mutate_and_check(10);
    touch_client_page();

    printf("signals: %d client faults delivered, barrier faults handled "
           "over %lu collections\n",
           (int)client_faults, (unsigned long)mps_collections(arena));
    mps_arena_park(arena);
    mps_root_destroy(root);
  }
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("signals: OK\n");
  return 0;
}
