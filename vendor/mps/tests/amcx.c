/* amcx.c -- the executable pool (mpsx.h): code that moves and still runs
 *
 * Code objects in an AMCX pool, in the format of testcode.h: leaves
 * return a constant, callers call their target and add 1, so the k-th
 * object of a chain returns 7 + k; a caller is linked when it is
 * installed and relinked by the scan method.  The test builds a chain and
 * calls it at once (before any collection), then moves it by collecting
 * with garbage in between, and calls every object through its execute
 * view after every collection.  One object calls back into the runtime,
 * which collects while the object's frame is live: its return address
 * must pin it (mpsx_scan_area_code on the thread root).  Finally, no
 * mapping of the process is writable and executable at once.
 */

#include "testlib.h"
#include "testcode.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCHAIN 64
#define LEAF_VALUE 7

static mps_arena_t arena;
static mps_ap_t ap;
static void *table[NCHAIN + 2]; /* exact root */
static void *first[NCHAIN];     /* first addresses: not a root */

static void *make_leaf(int value)
{
  return tc_make_leaf(ap, value);
}

/* target_root: a slot of the exact root `table` */
static void *make_caller(void **target_root)
{
  return tc_make_caller(ap, target_root);
}

static int call(void *obj)
{
  return tc_call(arena, obj);
}

static unsigned long runtime_collections;

/* Called from JIT code: collects while the caller's frame is live. */
static int runtime_collect(void)
{
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  ++runtime_collections;
  return 5;
}

/* sub rsp, 8; mov rax, imm64; call rax; add rsp, 8; add eax, 100; ret */
static void *make_runtime_caller(void)
{
  unsigned char code[] = {0x48, 0x83, 0xEC, 0x08, 0x48, 0xB8, 0, 0, 0, 0,
                          0,    0,    0,    0,    0xFF, 0xD0, 0x48, 0x83,
                          0xC4, 0x08, 0x83, 0xC0, 0x64, 0xC3};
  int (*fn)(void) = runtime_collect;
  uint64_t addr;
  memcpy(&addr, &fn, sizeof addr);
  memcpy(code + 6, &addr, sizeof addr);
  return tc_make_code(ap, code, sizeof code, NULL);
}

static void garbage(size_t n)
{
  size_t i;
  for (i = 0; i < n; ++i)
    (void)make_leaf((int)i);
}

static void check_chain(const char *when)
{
  size_t k;
  for (k = 0; k < NCHAIN; ++k) {
    int got = call(table[k]);
    if (got != LEAF_VALUE + (int)k)
      die("%s: code object %zu at %p returned %d, expected %d", when, k,
          table[k], got, LEAF_VALUE + (int)k);
  }
}

/* A code object that nothing refers to but one word on this thread's
 * stack, either its write-view base or its entry in the execute view,
 * is kept where it is by a collection: tc_call relies on either form
 * pinning (the argument is in testcode.c).  The write-view address is
 * kept hidden (xor), so that only the chosen word refers to the object;
 * stale copies elsewhere could only make this pass for the wrong
 * reason, never fail it. */
#define HIDE ((uintptr_t)0x5a5a5a5a5a5a5a5aULL)

static __attribute__((noinline)) void check_one_word_pins(int exec_view)
{
  intptr_t delta = mpsx_code_delta(arena);
  void *volatile word; /* in memory: this frame is scanned */
  uintptr_t hidden;
  mps_word_t *w;
  int (*fn)(void);
  int got;
  void *obj = make_leaf(4242);
  hidden = (uintptr_t)obj ^ HIDE;
  /* Or the compiler keeps obj and undoes the xor. */
  __asm__ __volatile__("" : "+r"(hidden));
  word = exec_view ? (void *)((char *)obj + delta + TC_ENTRY) : obj;
  obj = NULL;
  garbage(2000);
  stack_scrub();
  CHECK_RES(mps_arena_collect(arena));
  w = (mps_word_t *)(hidden ^ HIDE);
  /* A dead object's bytes may well still be there (freed pages stay
   * committed): ask the arena whether it is an object of a live
   * segment. */
  {
    mps_addr_t base;
    if (mps_addr_object(&base, arena, w) != MPS_RES_OK || base != w ||
        w[0] != TC_CODE)
      die("an object referred to only by its %s was not kept in place",
          exec_view ? "entry in the execute view" : "write-view address");
  }
  {
    void *entry = (char *)w + delta + TC_ENTRY;
    memcpy(&fn, &entry, sizeof fn);
  }
  got = fn();
  if (got != 4242)
    die("an object kept by its %s returned %d",
        exec_view ? "entry in the execute view" : "write-view address",
        got);
  (void)word;
}

static void check_no_wx(void)
{
  FILE *maps = fopen("/proc/self/maps", "r");
  char line[512];
  if (maps == NULL)
    return;
  while (fgets(line, sizeof line, maps) != NULL) {
    char perms[5] = {0};
    if (sscanf(line, "%*x-%*x %4s", perms) == 1 && perms[1] == 'w' &&
        perms[2] == 'x')
      die("writable and executable mapping: %s", line);
  }
  fclose(maps);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t pool;
  mps_thr_t thr;
  mps_root_t table_root, stack_root;
  void *marker = &marker;
  size_t k, moved = 0;
  int round, rounds;
  void *pinned;
  int got;

  test_init("amcx");
  rounds = (int)test_scale(40);
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tc_fmt_create(&fmt, arena);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPSX_KEY_CODE_RESERVE, (size_t)64 << 20);
    CHECK_RES(mps_pool_create_k(&pool, arena, mpsx_class_amcx(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  CHECK_RES(mps_root_create_table(&table_root, arena, mps_rank_exact(), 0,
                                  table, NCHAIN + 2));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread_scanned(&stack_root, arena,
                                           mps_rank_ambig(), 0, thr,
                                           mpsx_scan_area_code, NULL,
                                           marker));

  /* A chain: table[k] calls table[k-1]; table[0] is the leaf. */
  mps_arena_park(arena);
  table[0] = make_leaf(LEAF_VALUE);
  for (k = 1; k < NCHAIN; ++k) {
    garbage(rnd_below(20));
    table[k] = make_caller(&table[k - 1]);
  }
  /* Linked at installation: runs before any collection. */
  check_chain("at installation");
  CHECK_RES(mps_arena_collect(arena));
  check_chain("after the first collection");
  memcpy(first, table, sizeof first);
  check_no_wx();

  for (round = 0; round < rounds; ++round) {
    mps_arena_release(arena);
    garbage(200 + rnd_below(2000));
    CHECK_RES(mps_arena_collect(arena));
    check_chain("after a collection");
  }
  for (k = 0; k < NCHAIN; ++k)
    if (table[k] != first[k])
      ++moved;
  printf("amcx: %d collections, %zu of %d code objects moved and still "
         "run\n",
         rounds + 1, moved, NCHAIN);
  if (moved == 0)
    die("no code object moved: the test is vacuous");

  /* One ambiguous word pins, in either view. */
  check_one_word_pins(0);
  check_one_word_pins(1);

  /* Running code is pinned by its return address. */
  mps_arena_release(arena);
  table[NCHAIN] = make_runtime_caller();
  CHECK_RES(mps_arena_collect(arena)); /* settle it */
  pinned = table[NCHAIN];
  got = call(table[NCHAIN]);
  if (got != 105)
    die("runtime caller returned %d, expected 105", got);
  if (runtime_collections != 1)
    die("the runtime function ran %lu times", runtime_collections);
  if (table[NCHAIN] != pinned)
    die("code object moved (%p -> %p) while it was running", pinned,
        table[NCHAIN]);
  /* Not running any more: it may move again. */
  mps_arena_release(arena);
  garbage(1000);
  CHECK_RES(mps_arena_collect(arena));
  check_chain("at the end");
  check_no_wx();

  mps_arena_park(arena);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(table_root);
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("amcx: OK\n");
  return 0;
}
