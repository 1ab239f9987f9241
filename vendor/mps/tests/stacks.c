/* stacks.c -- coroutines on stacks of their own (DESIGN.md#stacks)
 *
 * The main thread runs NCORO coroutines (ucontext, each on a stack of its
 * own added with mpsx_thread_stack_add; every switch goes through
 * mpsx_thread_stack_switch).  Each coroutine allocates objects and keeps
 * them only in locals of its own stack, then yields; while coroutines are
 * suspended, the main stack collects and allocates; some coroutines
 * collect themselves, on their own stack, while the main stack and every
 * other coroutine are suspended.  After every resume a coroutine checks
 * that its objects are where they were (its stack pinned them) and
 * intact.  A second thread collects now and then too, stopping the main
 * thread wherever it is: on its own stack or on a coroutine's.
 *
 * Stacks removed too early (DESIGN.md#stacks, orphans): some coroutines'
 * stacks are removed while they are suspended, others remove their own
 * while running on it; their objects must stay pinned all the same.  One
 * more coroutine is abandoned suspended, its stack removed and unmapped:
 * the collections after that must not touch the unmapped pages.
 *
 * A stack whose memory holds a page that cannot be read (touched, then
 * made inaccessible, as an arena's segment behind the read barrier is,
 * should such memory land where a stack was): the collections skip that
 * page instead of faulting in the collector.
 *
 * Switches that bypass mpsx_thread_stack_switch: some coroutines suspend
 * with a plain swapcontext, leaving their stack without a mark; its
 * pages that hold data are scanned all the same, so their objects stay
 * pinned (the library before: "object moved although only its stack
 * held it"), also when their stack was removed early.
 */

#define _GNU_SOURCE

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define NCORO 64
#define NOBJ 16
#define STACK_SIZE ((size_t)64 * 1024)

static mps_arena_t arena;
static mps_pool_t amc;
static mps_thr_t main_thr;
static mps_ap_t main_ap;
static atomic_int stop_collector;

typedef struct coro {
  ucontext_t ctx, *back;
  void *stack;
  int index;
  int done;
  int removed; /* its stack removed before it finished */
  unsigned long rounds;
  unsigned long checks;
} coro;

static coro coros[NCORO];
/* Objects held only by an exact root: free to move, and checked at the
 * end. */
#define NKEPT 256
static void *kept[NKEPT];
static unsigned long rounds_total;

typedef struct swap_args {
  ucontext_t *from, *to;
} swap_args;

static void do_swap(void *closure)
{
  swap_args *a = closure;
  if (swapcontext(a->from, a->to) != 0)
    die("swapcontext");
}

/* Every switch between stacks goes through the collector. */
static void switch_to(ucontext_t *from, ucontext_t *to)
{
  swap_args a;
  a.from = from;
  a.to = to;
  mpsx_thread_stack_switch(main_thr, do_swap, &a);
}

/* Coroutines that suspend without telling the collector, among them
 * some whose stack is removed early (index 16: while suspended; 10:
 * while running on it): a removed stack without a mark stays scanned
 * until its memory is unmapped (until 2026-12-08 it was forgotten at
 * once, and their objects moved). */
static int bypasses(int index)
{
  return index % 6 == 4;
}

static void coro_main(int index)
{
  coro *c = &coros[index];
  void *volatile objs[NOBJ];
  uintptr_t where[NOBJ];
  unsigned long r;
  size_t i;
  for (r = 0; r < c->rounds; ++r) {
    for (i = 0; i < NOBJ; ++i) {
      unsigned long id = ((unsigned long)index << 32) | (r << 8) | i;
      objs[i] = tf_make_pair(main_ap, id, NULL, NULL);
      if (i > 0)
        tf_set_ref(objs[i], 0, objs[i - 1]);
      where[i] = (uintptr_t)objs[i];
    }
    /* Some coroutines collect on their own stack. */
    if (index % 8 == 0 && r % 3 == 1)
      CHECK_RES(mps_arena_collect(arena));
    /* Some remove their stack while running on it: it stays scanned. */
    if (index % 7 == 3 && r == 0 && !c->removed) {
      if (!mpsx_thread_stack_remove(main_thr, c->stack,
                                    (char *)c->stack + STACK_SIZE))
        die("coroutine %d: its stack was not known", index);
      c->removed = 1;
      CHECK_RES(mps_arena_collect(arena));
    }
    if (bypasses(index)) {
      if (swapcontext(&c->ctx, c->back) != 0)
        die("swapcontext");
    } else {
      switch_to(&c->ctx, c->back);
    }
    for (i = 0; i < NOBJ; ++i) {
      unsigned long id = ((unsigned long)index << 32) | (r << 8) | i;
      if ((uintptr_t)objs[i] != where[i])
        die("coroutine %d: object %zu moved although only its stack "
            "held it", index, i);
      if (tf_kind(objs[i]) != TF_PAIR || tf_id(objs[i]) != id)
        die("coroutine %d: object %zu broke (id %lu, expected %lu)", index,
            i, tf_id(objs[i]), id);
      if (i > 0 && tf_ref(objs[i], 0) != objs[i - 1])
        die("coroutine %d: object %zu lost its reference", index, i);
      ++c->checks;
    }
  }
  c->done = 1;
  switch_to(&c->ctx, c->back);
}

static void *collector_main(void *arg)
{
  void *marker = &marker;
  mps_thr_t thr;
  mps_root_t root;
  unsigned long n = 0;
  (void)arg;
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&root, arena, thr, marker));
  while (!atomic_load(&stop_collector)) {
    struct timespec gap = {0, 200000};
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    ++n;
    /* A moment between collections: the arena lock is not fair, and
     * back to back collections can starve the mutator (an ASan run took
     * 227 s; see tests/sigstack.c). */
    nanosleep(&gap, NULL);
  }
  mps_root_destroy(root);
  mps_thread_dereg(thr);
  printf("stacks: the second thread collected %lu times\n", n);
  return NULL;
}

static __attribute__((noinline)) void coro_init(int i, ucontext_t *back)
{
  coro *c = &coros[i];
  {
    c->index = i;
    c->rounds = test_scale(6) + (unsigned long)rnd_below(6);
    rounds_total += c->rounds;
    c->stack = malloc(STACK_SIZE);
    if (c->stack == NULL)
      die("malloc");
    CHECK_RES(mpsx_thread_stack_add(main_thr, c->stack,
                                    (char *)c->stack + STACK_SIZE));
    if (getcontext(&c->ctx) != 0)
      die("getcontext");
    c->ctx.uc_stack.ss_sp = c->stack;
    c->ctx.uc_stack.ss_size = STACK_SIZE;
    c->ctx.uc_link = NULL;
    c->back = back;
    makecontext(&c->ctx, (void (*)(void))coro_main, 1, i);
  }
}

/* A coroutine left suspended for ever: its objects are in its frames when
 * its stack is removed and unmapped. */
static coro abandoned;

static void abandoned_main(void)
{
  void *volatile obj = tf_make_pair(main_ap, 99, NULL, NULL);
  switch_to(&abandoned.ctx, abandoned.back);
  die("the abandoned coroutine was resumed (%p)", obj);
}

static __attribute__((noinline)) void abandon(ucontext_t *back)
{
  void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED)
    die("mmap");
  CHECK_RES(mpsx_thread_stack_add(main_thr, stack,
                                  (char *)stack + STACK_SIZE));
  if (getcontext(&abandoned.ctx) != 0)
    die("getcontext");
  abandoned.ctx.uc_stack.ss_sp = stack;
  abandoned.ctx.uc_stack.ss_size = STACK_SIZE;
  abandoned.ctx.uc_link = NULL;
  abandoned.back = back;
  makecontext(&abandoned.ctx, abandoned_main, 0);
  switch_to(back, &abandoned.ctx);
  if (!mpsx_thread_stack_remove(main_thr, stack, (char *)stack + STACK_SIZE))
    die("the abandoned stack was not known");
  if (munmap(stack, STACK_SIZE) != 0)
    die("munmap");
  CHECK_RES(mps_arena_collect(arena));
}

/* An added stack, never used, whose second page was touched and then
 * made inaccessible: every page of it that holds data is scanned (it has
 * no mark), but that one cannot be read. */
static void unreadable_page(void)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  unsigned char *mem = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    die("mmap");
  memset(mem, 0x11, 4 * page); /* every page resident */
  if (mprotect(mem + page, page, PROT_NONE) != 0)
    die("mprotect");
  CHECK_RES(mpsx_thread_stack_add(main_thr, mem, mem + 4 * page));
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  if (!mpsx_thread_stack_remove(main_thr, mem, mem + 4 * page))
    die("the stack with an unreadable page was not known");
  if (munmap(mem, 4 * page) != 0)
    die("munmap");
  printf("stacks: a stack with an unreadable page was scanned around it\n");
}

static __attribute__((noinline)) void run_all(void)
{
  ucontext_t main_ctx;
  int i, live = NCORO;
  unsigned long k = 0;
  abandon(&main_ctx);
  for (i = 0; i < NCORO; ++i)
    coro_init(i, &main_ctx);
  if (mpsx_thread_stack_add(main_thr, coros[0].stack,
                            (char *)coros[0].stack + 8) != MPS_RES_PARAM)
    die("an overlapping stack was accepted");
  while (live > 0) {
    for (i = 0; i < NCORO; ++i) {
      coro *c = &coros[i];
      if (c->done)
        continue;
      switch_to(&main_ctx, &c->ctx);
      if (c->done) {
        if (!c->removed &&
            !mpsx_thread_stack_remove(main_thr, c->stack,
                                      (char *)c->stack + STACK_SIZE))
          die("stack of coroutine %d was not known", i);
        --live;
      } else if (i % 5 == 1 && !c->removed) {
        /* Removed while suspended: it stays scanned from where it was
         * left. */
        if (!mpsx_thread_stack_remove(main_thr, c->stack,
                                      (char *)c->stack + STACK_SIZE))
          die("stack of coroutine %d was not known", i);
        c->removed = 1;
        CHECK_RES(mps_arena_collect(arena));
      }
      /* Garbage and a collection now and then on the main stack. */
      (void)tf_make_vec(main_ap, 7, 16);
      if (++k % 17 == 0)
        CHECK_RES(mps_arena_collect(arena));
    }
  }
}

int main(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_root_t root, kept_root;
  mps_gen_param_s gens[] = { { 256, 0.8 }, { 512, 0.5 } };
  void *marker = &marker;
  pthread_t collector;
  unsigned long checks = 0;
  int i;

  test_init("stacks");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_thread_reg(&main_thr, arena));
  CHECK_RES(mps_root_create_thread(&root, arena, main_thr, marker));
  CHECK_RES(mps_ap_create_k(&main_ap, amc, mps_args_none));
  CHECK_RES(mps_root_create_table(&kept_root, arena, mps_rank_exact(), 0,
                                  kept, NKEPT));
  for (i = 0; i < NKEPT; ++i)
    kept[i] = tf_make_pair(main_ap, 7000000 + (unsigned long)i, NULL, NULL);
  if (pthread_create(&collector, NULL, collector_main, NULL) != 0)
    die("pthread_create");

  unreadable_page();
  run_all();

  atomic_store(&stop_collector, 1);
  if (pthread_join(collector, NULL) != 0)
    die("pthread_join");
  for (i = 0; i < NCORO; ++i) {
    checks += coros[i].checks;
    free(coros[i].stack);
  }
  if (checks != rounds_total * NOBJ)
    die("%lu checks, expected %lu", checks, rounds_total * NOBJ);
  mps_arena_park(arena);
  for (i = 0; i < NKEPT; ++i)
    if (tf_kind(kept[i]) != TF_PAIR ||
        tf_id(kept[i]) != 7000000 + (unsigned long)i)
      die("kept object %d broke", i);
  if (tf_fwd_count == 0)
    die("no object was forwarded (the kept ones should move)");
  printf("stacks: %d coroutines, %lu rounds, %lu objects checked, %lu "
         "collections\n", NCORO, rounds_total, checks,
         (unsigned long)mps_collections(arena));

  mps_ap_destroy(main_ap);
  mps_root_destroy(kept_root);
  mps_root_destroy(root);
  mps_thread_dereg(main_thr);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("stacks: OK\n");
  return 0;
}
