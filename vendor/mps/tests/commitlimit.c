/* commitlimit.c -- the arena commit limit
 *
 * Checked:
 *  - committed and reserved are plausible (0 < committed <= reserved),
 *    and the default limit is unlimited (SIZE_MAX);
 *  - with spare memory off, setting the limit below what is committed
 *    fails (MPS_RES_FAIL) and leaves the limit alone; above it succeeds;
 *  - allocating live data until the limit bites makes mps_reserve return
 *    MPS_RES_COMMIT_LIMIT (not MEMORY); committed stays within the limit;
 *  - the data allocated before the failure is intact;
 *  - after dropping it and collecting, allocation works again;
 *  - the limit can be lifted again (SIZE_MAX).
 *
 * The stack is not a root: every object is held by the table root r[].
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

static mps_arena_t arena;
static mps_ap_t amc_ap, amcz_ap;
enum { HEAD, TMP_STR, TMP_PAIR, NR };
static void *r[NR];            /* exact table root */
static unsigned long next_id = 1;

#define STR_BYTES 1024

/* Allocate a pair (NULL fields) or a string; report failure. */
static mps_res_t try_alloc(void **p_o, int kind, unsigned long id)
{
  if (kind == TF_PAIR)
    return tf_try_make_pair(p_o, amc_ap, id, NULL, NULL);
  return tf_try_make_str(p_o, amcz_ap, id, STR_BYTES);
}

/* Push a (string . head) node; returns the first failure. */
static mps_res_t push_node(void)
{
  unsigned long id = next_id;
  mps_res_t res = try_alloc(&r[TMP_STR], TF_STR, id + 1);
  if (res != MPS_RES_OK)
    return res;
  res = try_alloc(&r[TMP_PAIR], TF_PAIR, id);
  if (res != MPS_RES_OK)
    return res;
  tf_set_ref(r[TMP_PAIR], 0, r[TMP_STR]);
  tf_set_ref(r[TMP_PAIR], 1, r[HEAD]);
  r[HEAD] = r[TMP_PAIR];
  r[TMP_PAIR] = r[TMP_STR] = NULL;
  next_id += 2;
  return MPS_RES_OK;
}

static void check_list(size_t nodes)
{
  void *p = r[HEAD];
  size_t n = 0;
  unsigned long id = next_id - 2;
  while (p != NULL) {
    void *s;
    tf_check_obj(p, "list node");
    if (tf_kind(p) != TF_PAIR || tf_id(p) != id)
      die("list node %zu: kind %d id %lu, expected pair %lu", n, tf_kind(p),
          tf_id(p), id);
    s = tf_ref(p, 0);
    if (s == NULL || tf_kind(s) != TF_STR || tf_id(s) != id + 1
        || tf_str_bytes(s) != STR_BYTES)
      die("list node %zu: bad string", n);
    tf_check_obj(s, "list string");        /* contents */
    p = tf_ref(p, 1);
    id -= 2;
    ++n;
  }
  if (n != nodes)
    die("list has %zu nodes, expected %zu", n, nodes);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t amc, amcz;
  mps_chain_t chain;
  mps_thr_t thr;
  mps_root_t root;
  mps_gen_param_s gens[] = { { 512, 0.8 }, { 1024, 0.4 } };
  size_t committed, reserved, limit, nodes = 0, i;
  mps_res_t res;

  test_init("commitlimit");
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
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, r, NR));
  CHECK_RES(mps_thread_reg(&thr, arena));

  if (mps_arena_commit_limit(arena) != SIZE_MAX)
    die("default commit limit is %zu, expected SIZE_MAX",
        mps_arena_commit_limit(arena));

  /* some live data first */
  for (i = 0; i < 500; ++i) {
    CHECK_RES(push_node());
    ++nodes;
  }
  mps_arena_spare_set(arena, 0.0);
  committed = mps_arena_committed(arena);
  reserved = mps_arena_reserved(arena);
  printf("commitlimit: committed %zu, reserved %zu\n", committed, reserved);
  if (committed == 0 || committed > reserved)
    die("implausible: committed %zu, reserved %zu", committed, reserved);
  if (committed < nodes * (tf_pair_size() + tf_str_size(STR_BYTES)))
    die("committed %zu is less than the live data", committed);

  /* below what is committed: must fail and change nothing */
  CHECK_RES_IS(mps_arena_commit_limit_set(arena, committed / 2),
               MPS_RES_FAIL);
  if (mps_arena_commit_limit(arena) != SIZE_MAX)
    die("failed commit_limit_set changed the limit to %zu",
        mps_arena_commit_limit(arena));

  /* above: succeeds */
  limit = mps_arena_committed(arena) + ((size_t)4 << 20);
  CHECK_RES(mps_arena_commit_limit_set(arena, limit));
  if (mps_arena_commit_limit(arena) != limit)
    die("commit limit reads %zu after setting %zu",
        mps_arena_commit_limit(arena), limit);

  /* fill up with live data until the limit bites */
  for (;;) {
    res = push_node();
    if (res != MPS_RES_OK)
      break;
    ++nodes;
    if (mps_arena_committed(arena) > limit)
      die("committed %zu exceeds the limit %zu", mps_arena_committed(arena),
          limit);
    if (nodes > 200000)
      die("allocated %zu nodes (>200 MB) without hitting the commit limit",
          nodes);
  }
  printf("commitlimit: reserve failed with %s after %zu live nodes; "
         "committed %zu, limit %zu\n", res_name(res), nodes,
         mps_arena_committed(arena), limit);
  if (res != MPS_RES_COMMIT_LIMIT)
    die("allocation beyond the commit limit returned %s, expected "
        "MPS_RES_COMMIT_LIMIT", res_name(res));
  if (mps_arena_committed(arena) > limit)
    die("committed %zu exceeds the limit %zu", mps_arena_committed(arena),
        limit);
  r[TMP_STR] = r[TMP_PAIR] = NULL;
  check_list(nodes);
  CHECK_RES(mps_arena_collect(arena));
  check_list(nodes);                 /* still intact after a collection */

  /* drop it all, collect, allocate again */
  r[HEAD] = NULL;
  nodes = 0;
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  for (i = 0; i < 8000; ++i) {         /* ~8 MiB, twice the headroom */
    res = push_node();
    if (res == MPS_RES_COMMIT_LIMIT) {
      /* the client's remedy: drop data, collect, retry once */
      r[HEAD] = NULL;
      nodes = 0;
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
      res = push_node();
    }
    if (res != MPS_RES_OK)
      die("allocation after freeing everything failed: %s", res_name(res));
    ++nodes;
    if (nodes == 1000) {               /* keep the live part small */
      r[HEAD] = NULL;
      nodes = 0;
    }
  }
  check_list(nodes);

  CHECK_RES(mps_arena_commit_limit_set(arena, SIZE_MAX));
  for (i = 0; i < 5000; ++i) {         /* now more than the old limit */
    CHECK_RES(push_node());
    ++nodes;
  }
  check_list(nodes);
  printf("commitlimit: after lifting the limit: committed %zu\n",
         mps_arena_committed(arena));

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(root);
  mps_ap_destroy(amcz_ap);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("commitlimit: OK\n");
  return 0;
}
