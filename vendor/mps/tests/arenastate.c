/* arenastate.c -- clamp, park, release, collect, step, start_collect,
 * and commit failing after a flip
 *
 * The stack is not a root: objects are held by the exact table root r[],
 * so anything not pinned is free to move whenever a collection runs.
 *
 * Checked:
 *  - clamped or parked: lots of allocation runs no collection
 *    (mps_collections unchanged) and moves nothing;
 *  - released: allocation starts collections on its own and objects move;
 *  - mps_arena_collect counts, and leaves the arena parked;
 *  - mps_arena_step returns exactly 0 or 1, breaks nothing, and leaves a
 *    clamped arena clamped;
 *  - mps_arena_start_collect leads to a collection;
 *  - an AMC block reserved across mps_arena_collect fails its commit and
 *    the usual retry loop then succeeds; an AMCZ block does not fail.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOBJ 256

static mps_arena_t arena;
static mps_ap_t amc_ap, amcz_ap;
static void *r[NOBJ];          /* exact table root: pairs (string . NULL) */
static unsigned long ids[NOBJ];
static void *junk[8];
static unsigned long next_id = 1;

static void churn(size_t bytes)
{
  size_t done = 0;
  while (done < bytes) {
    void *p;
    if (rnd_chance(1, 3))
      p = tf_make_str(amcz_ap, next_id++, 8 * (1 + rnd_below(40)));
    else
      p = tf_make_vec(amc_ap, next_id++, rnd_below(24));
    done += tf_block_size(p);
    junk[2 + rnd_below(6)] = p;
  }
}

static void verify(const char *when)
{
  size_t i;
  for (i = 0; i < NOBJ; ++i) {
    void *s;
    tf_check_obj(r[i], when);
    if (tf_kind(r[i]) != TF_PAIR || tf_id(r[i]) != ids[i])
      die("%s: object %zu has kind %d id %lu, expected pair %lu", when, i,
          tf_kind(r[i]), tf_id(r[i]), ids[i]);
    s = tf_ref(r[i], 0);
    tf_check_obj(s, when);
    if (tf_kind(s) != TF_STR || tf_id(s) != ids[i] + 1)
      die("%s: child of object %zu wrong", when, i);
  }
}

static void snapshot(uintptr_t *addr)
{
  size_t i;
  for (i = 0; i < NOBJ; ++i)
    addr[i] = (uintptr_t)r[i];
}

static size_t count_moved(const uintptr_t *addr)
{
  size_t i, n = 0;
  for (i = 0; i < NOBJ; ++i)
    n += (uintptr_t)r[i] != addr[i];
  return n;
}

/* Clamped or parked: nothing moves, no collection. */
static void test_quiet(const char *how, void (*enter)(mps_arena_t))
{
  uintptr_t addr[NOBJ];
  mps_word_t before;
  enter(arena);
  snapshot(addr);
  before = mps_collections(arena);
  churn(8 << 20);                      /* 32 times the nursery */
  if (mps_collections(arena) != before)
    die("%s arena ran %lu collection(s)", how,
        (unsigned long)(mps_collections(arena) - before));
  if (count_moved(addr) != 0)
    die("%s arena moved %zu objects", how, count_moved(addr));
  verify(how);
  mps_arena_release(arena);
}

static void test_released(void)
{
  uintptr_t addr[NOBJ];
  mps_word_t before = mps_collections(arena);
  size_t allocated = 0, moved;
  snapshot(addr);
  while (mps_collections(arena) - before < 3) {
    churn(64 << 10);
    allocated += 64 << 10;
    if (allocated > ((size_t)256 << 20))
      die("256 MiB allocated by a released arena with a 256 KiB nursery "
          "and no collection started");
  }
  mps_arena_park(arena);
  moved = count_moved(addr);
  printf("arenastate: released: %zu KiB allocated before 3 automatic "
         "collections; %zu of %d objects moved\n", allocated >> 10, moved,
         NOBJ);
  verify("after automatic collections");
  mps_arena_release(arena);
}

static void test_collect(void)
{
  uintptr_t addr[NOBJ];
  mps_word_t before = mps_collections(arena), after;
  size_t moved;
  snapshot(addr);
  CHECK_RES(mps_arena_collect(arena));
  after = mps_collections(arena);
  if (after <= before)
    die("mps_arena_collect did not count a collection");
  moved = count_moved(addr);
  if (moved == 0)
    die("mps_arena_collect moved none of %d exact-only objects", NOBJ);
  verify("after mps_arena_collect");
  /* left parked */
  snapshot(addr);
  churn(8 << 20);
  if (mps_collections(arena) != after)
    die("arena not parked after mps_arena_collect: %lu more collection(s)",
        (unsigned long)(mps_collections(arena) - after));
  if (count_moved(addr) != 0)
    die("arena not parked after mps_arena_collect: objects moved");
  mps_arena_release(arena);
}

static void check_bool(mps_bool_t b, const char *what)
{
  if (b != 0 && b != 1)
    die("%s returned %d, not a boolean", what, (int)b);
}

static void test_step(void)
{
  uintptr_t addr[NOBJ];
  int i, worked = 0;
  mps_bool_t b;

  for (i = 0; i < 50; ++i) {
    churn(32 << 10);
    b = mps_arena_step(arena, 0.001 * (double)rnd_below(10),
                       (double)rnd_below(4));
    check_bool(b, "mps_arena_step");
    worked += b;
  }
  verify("after steps (released)");

  /* a clamped arena stays clamped after a step */
  mps_arena_clamp(arena);
  churn(1 << 20);
  b = mps_arena_step(arena, 0.05, 10.0);
  check_bool(b, "mps_arena_step (clamped)");
  worked += b;
  snapshot(addr);
  {
    mps_word_t before = mps_collections(arena);
    churn(4 << 20);
    if (mps_collections(arena) != before || count_moved(addr) != 0)
      die("arena not clamped after mps_arena_step on a clamped arena");
  }
  verify("after steps (clamped)");

  /* parked as well */
  mps_arena_park(arena);
  b = mps_arena_step(arena, 0.0, 0.0);
  check_bool(b, "mps_arena_step (parked)");
  snapshot(addr);
  churn(1 << 20);
  if (count_moved(addr) != 0)
    die("objects moved after mps_arena_step on a parked arena");
  mps_arena_release(arena);
  printf("arenastate: mps_arena_step found work %d times\n", worked);
}

static void test_start_collect(void)
{
  mps_word_t before = mps_collections(arena);
  int i;
  CHECK_RES(mps_arena_start_collect(arena));
  for (i = 0; i < 100000 && mps_collections(arena) == before; ++i) {
    (void)tf_make_vec(amc_ap, next_id++, 2);
    if (i % 16 == 0)
      (void)mps_arena_step(arena, 0.001, 1.0);
  }
  if (mps_collections(arena) == before)
    die("mps_arena_start_collect never led to a collection");
  printf("arenastate: start_collect: collection after %d allocations\n", i);
  mps_arena_park(arena);
  verify("after start_collect");
  mps_arena_release(arena);
}

static void test_commit_after_flip(void)
{
  mps_addr_t p;
  size_t size = tf_pair_size(), ssize = tf_str_size(64);
  int tries = 0;
  unsigned long sid;
  void *obj;
  mps_bool_t ok;

  /* AMC: a flip while the block is reserved makes its commit fail */
  CHECK_RES(mps_reserve(&p, amc_ap, size));
  obj = tf_init_pair(p, next_id);
  CHECK_RES(mps_arena_collect(arena));
  ok = mps_commit(amc_ap, p, size);
  check_bool(ok, "mps_commit");
  if (ok)
    die("AMC commit succeeded although a collection flipped while the "
        "block was reserved");
  /* the usual loop then succeeds (the arena is parked: no more flips) */
  do {
    ++tries;
    CHECK_RES(mps_reserve(&p, amc_ap, size));
    obj = tf_init_pair(p, next_id);
  } while (!mps_commit(amc_ap, p, size));
  if (tries != 1)
    die("commit retry loop needed %d tries in a parked arena", tries);
  junk[0] = obj;
  if (tf_kind(junk[0]) != TF_PAIR || tf_id(junk[0]) != next_id)
    die("object from the retry loop is wrong");
  ++next_id;

  /* AMCZ: leaf objects are not trapped; the commit succeeds */
  sid = next_id++;
  CHECK_RES(mps_reserve(&p, amcz_ap, ssize));
  obj = tf_init_str(p, sid, 64);
  CHECK_RES(mps_arena_collect(arena));
  ok = mps_commit(amcz_ap, p, ssize);
  check_bool(ok, "mps_commit (AMCZ)");
  if (!ok)
    die("AMCZ commit failed after a collection");
  junk[1] = obj;
  mps_arena_release(arena);
  churn(512 << 10);
  CHECK_RES(mps_arena_collect(arena));
  tf_check_obj(junk[1], "AMCZ object committed across a collection");
  if (tf_id(junk[1]) != sid)
    die("AMCZ object committed across a collection has id %lu, "
        "expected %lu", tf_id(junk[1]), sid);
  tf_check_obj(junk[0], "AMC object from the retry loop");
  mps_arena_release(arena);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t amc, amcz;
  mps_chain_t chain;
  mps_thr_t thr;
  mps_root_t root, junk_root;
  mps_gen_param_s gens[] = { { 256, 0.8 }, { 512, 0.4 } };
  size_t i;

  test_init("arenastate");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amcz, arena, mps_class_amcz(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&amcz_ap, amcz, mps_args_none));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, r, NOBJ));
  CHECK_RES(mps_root_create_table(&junk_root, arena, mps_rank_exact(), 0,
                                  junk, 8));
  CHECK_RES(mps_thread_reg(&thr, arena));   /* stack not a root */

  for (i = 0; i < NOBJ; ++i) {
    ids[i] = next_id;
    junk[0] = tf_make_str(amcz_ap, next_id + 1, 8 * (1 + i % 9));
    r[i] = tf_make_pair(amc_ap, next_id, NULL, NULL);
    tf_set_ref(r[i], 0, junk[0]);
    next_id += 2;
  }
  verify("initial");

  test_quiet("clamped", mps_arena_clamp);
  test_quiet("parked", mps_arena_park);
  test_released();
  test_collect();
  test_step();
  test_start_collect();
  test_commit_after_flip();
  verify("at end");

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(junk_root);
  mps_root_destroy(root);
  mps_ap_destroy(amcz_ap);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("arenastate: OK\n");
  return 0;
}
