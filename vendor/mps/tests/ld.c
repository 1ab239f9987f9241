/* ld.c -- location dependencies
 *
 * The stack is not a root (the thread is registered without a thread
 * root), so objects held by the exact table root r[] are free to move.
 *
 * Checked:
 *  - a just-reset LD is not stale, for any address and for "any";
 *  - while the arena is parked or clamped, allocating a lot neither runs
 *    a collection (mps_collections unchanged) nor makes an LD stale;
 *  - after mps_arena_collect, mps_collections has increased, objects have
 *    moved, and for every moved object isstale(old address) is true
 *    (never a false negative), as is isstale_any;
 *  - merge: dest becomes stale when src's addresses move; merging an
 *    older LD into a newer one keeps the older epoch;
 *  - an address-keyed hash table that rehashes when its LD is stale
 *    always finds its keys, across many collections.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOBJ 128

static mps_arena_t arena;
static mps_ap_t amc_ap;
static void *r[NOBJ];        /* exact table root */
static void *junk[8];        /* exact table root, for churn */
static unsigned long next_id = 1;

static void churn(size_t bytes)
{
  size_t done = 0;
  while (done < bytes) {
    void *p = tf_make_vec(amc_ap, next_id++, rnd_below(20));
    done += tf_block_size(p);
    junk[rnd_below(8)] = p;
  }
}

static void test_fresh(void)
{
  mps_ld_s ld;
  size_t i;
  mps_ld_reset(&ld, arena);
  if (mps_ld_isstale_any(&ld, arena))
    die("just-reset LD is stale (any)");
  for (i = 0; i < NOBJ; ++i)
    if (mps_ld_isstale(&ld, arena, r[i]))
      die("just-reset LD is stale for %p", r[i]);
  if (mps_ld_isstale(&ld, arena, NULL))
    die("just-reset LD is stale for NULL");
}

static void test_quiet(int clamp)
{
  mps_ld_s ld;
  mps_word_t before;
  uintptr_t addr[NOBJ];
  size_t i;
  const char *how = clamp ? "clamped" : "parked";

  if (clamp)
    mps_arena_clamp(arena);
  else
    mps_arena_park(arena);
  before = mps_collections(arena);
  mps_ld_reset(&ld, arena);
  for (i = 0; i < NOBJ; ++i) {
    mps_ld_add(&ld, arena, r[i]);
    addr[i] = (uintptr_t)r[i];
  }
  churn(4 << 20);
  if (mps_collections(arena) != before)
    die("%s arena ran a collection (%lu -> %lu)", how,
        (unsigned long)before, (unsigned long)mps_collections(arena));
  for (i = 0; i < NOBJ; ++i) {
    if ((uintptr_t)r[i] != addr[i])
      die("%s arena moved object %zu", how, i);
    if (mps_ld_isstale(&ld, arena, r[i]))
      die("LD became stale in a %s arena", how);
  }
  if (mps_ld_isstale_any(&ld, arena))
    die("LD became stale (any) in a %s arena", how);
  mps_arena_release(arena);
}

static void test_moves(void)
{
  mps_ld_s ld, ld_copy, ld_empty;
  uintptr_t addr[NOBJ];
  mps_word_t before;
  size_t i, moved = 0, rounds;

  for (rounds = 0; rounds < 10; ++rounds) {
    mps_ld_reset(&ld, arena);
    mps_ld_reset(&ld_copy, arena);
    mps_ld_reset(&ld_empty, arena);
    for (i = 0; i < NOBJ; ++i) {
      mps_ld_add(&ld, arena, r[i]);
      addr[i] = (uintptr_t)r[i];
    }
    mps_ld_add(&ld_copy, arena, r[0]);
    before = mps_collections(arena);
    CHECK_RES(mps_arena_collect(arena));
    if (mps_collections(arena) <= before)
      die("mps_collections did not increase over mps_arena_collect "
          "(%lu -> %lu)", (unsigned long)before,
          (unsigned long)mps_collections(arena));
    for (i = 0; i < NOBJ; ++i) {
      if ((uintptr_t)r[i] == addr[i])
        continue;
      ++moved;
      if (!mps_ld_isstale(&ld, arena, (mps_addr_t)addr[i]))
        die("object %zu moved %p -> %p but isstale is false", i,
            (void *)addr[i], r[i]);
      if (!mps_ld_isstale_any(&ld, arena))
        die("object %zu moved but isstale_any is false", i);
    }
    if ((uintptr_t)r[0] != addr[0]) {
      mps_ld_merge(&ld_empty, arena, &ld_copy);
      if (!mps_ld_isstale_any(&ld_empty, arena))
        die("merged LD not stale though its source's object moved");
      if (!mps_ld_isstale(&ld_empty, arena, (mps_addr_t)addr[0]))
        die("merged LD not stale for the moved address");
    }
    mps_arena_release(arena);
    churn(64 << 10);
  }
  printf("ld: %zu moves observed over 10 collections\n", moved);
  if (moved == 0)
    die("no object moved in 10 collections: test is vacuous");
}

static void test_merge_epoch(void)
{
  mps_ld_s old, young;
  uintptr_t a0 = 0;
  int tries;
  for (tries = 0; tries < 10; ++tries) {
    mps_ld_reset(&old, arena);
    mps_ld_add(&old, arena, r[1]);
    a0 = (uintptr_t)r[1];
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
    if ((uintptr_t)r[1] != a0)
      break;
  }
  if ((uintptr_t)r[1] == a0)
    die("object never moved");
  mps_arena_park(arena);
  mps_ld_reset(&young, arena);        /* after the move */
  mps_ld_add(&young, arena, r[2]);
  mps_ld_merge(&young, arena, &old);
  if (!mps_ld_isstale(&young, arena, (mps_addr_t)a0))
    die("merge lost the older epoch: moved address not stale");
  mps_arena_release(arena);
}

/* An address-keyed hash table (open addressing) with an LD, as a client
 * would write it: the keys are an exact root, so they are updated when
 * objects move, but they then sit at the wrong hash position; a miss on
 * a stale table means "rehash and look again". */
#define TBITS 9
#define TSIZE (1u << TBITS)
static void *tkeys[TSIZE];          /* exact table root */
static unsigned long tvals[TSIZE];
static mps_ld_s table_ld;
static unsigned long rehashes;

static size_t hash(void *p)
{
  uintptr_t x = (uintptr_t)p >> 3;
  return (size_t)((x * 0x9e3779b97f4a7c15ULL) >> (64 - TBITS));
}

static void table_put(void *key, unsigned long val)
{
  size_t h = hash(key);
  mps_ld_add(&table_ld, arena, key);     /* before using the address */
  while (tkeys[h] != NULL && tkeys[h] != key)
    h = (h + 1) & (TSIZE - 1);
  tkeys[h] = key;
  tvals[h] = val;
}

static void table_rehash(void)
{
  size_t i;
  ++rehashes;
  for (i = 0; i < TSIZE; ++i)
    tkeys[i] = NULL;
  mps_ld_reset(&table_ld, arena);
  for (i = 0; i < NOBJ; ++i)
    table_put(r[i], tf_id(r[i]));
}

static int table_get(void *key, unsigned long *val_o)
{
  size_t h = hash(key);
  while (tkeys[h] != NULL) {
    if (tkeys[h] == key) {
      *val_o = tvals[h];
      return 1;
    }
    h = (h + 1) & (TSIZE - 1);
  }
  return 0;
}

static void test_table(void)
{
  unsigned long rounds = test_scale(100), k, misses = 0;
  table_rehash();
  for (k = 0; k < rounds; ++k) {
    size_t i;
    churn(rnd_below(512 << 10));
    if (rnd_chance(1, 3)) {
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
    }
    for (i = 0; i < NOBJ; ++i) {
      unsigned long v;
      void *key = r[i];
      if (!table_get(key, &v)) {
        ++misses;
        if (!mps_ld_isstale_any(&table_ld, arena))
          die("key %zu not found but the table's LD is not stale", i);
        table_rehash();
        if (!table_get(r[i], &v))
          die("key %zu not found after rehash", i);
      }
      if (v != tf_id(r[i]))
        die("table gives %lu for object %lu", v, tf_id(r[i]));
    }
  }
  printf("ld: hash table: %lu rounds, %lu misses, %lu rehashes\n", rounds,
         misses, rehashes);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t amc;
  mps_chain_t chain;
  mps_thr_t thr;
  mps_root_t root, junk_root, table_root;
  mps_gen_param_s gens[] = { { 256, 0.8 }, { 256, 0.4 } };
  size_t i;

  test_init("ld");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, r, NOBJ));
  CHECK_RES(mps_root_create_table(&junk_root, arena, mps_rank_exact(), 0,
                                  junk, 8));
  CHECK_RES(mps_root_create_table(&table_root, arena, mps_rank_exact(), 0,
                                  tkeys, TSIZE));
  CHECK_RES(mps_thread_reg(&thr, arena));   /* stack not a root */

  for (i = 0; i < NOBJ; ++i)
    r[i] = tf_make_pair(amc_ap, next_id++, NULL, NULL);

  test_fresh();
  test_quiet(0);
  test_quiet(1);
  test_moves();
  test_merge_epoch();
  test_table();

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(table_root);
  mps_root_destroy(junk_root);
  mps_root_destroy(root);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("ld: OK\n");
  return 0;
}
