/* reclaim.c -- the reclaim hook counts what collections free
 *
 * mpsx_pool_reclaim_hook (mpsx.h) shows a format every run of blocks an
 * AMC collection is about to free or pad over.  The test allocates N
 * pairs in an AMC pool, keeps every second one in an exact root, and
 * counts the objects (not pads, not forwarding markers) in the runs the
 * hook is shown: after collections, every dropped pair is counted at most
 * once and the kept ones never; once the root is cleared, the rest are
 * counted too; with the hook removed nothing more is.  Pools of other
 * classes refuse a hook.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscmvff.h"
#include "mpsx.h"

#include <stdint.h>

#define N 4000

static mps_arena_t arena;
static mps_ap_t ap;
static void *keep[N / 2]; /* exact table root */
static size_t freed, freed_bytes, runs;

/* Counts the objects of the run [base, limit) of testfmt blocks. */
static void count(void *closure, mps_addr_t base, mps_addr_t limit)
{
  char *p = base;
  CHECK(closure == &freed);
  ++runs;
  while (p < (char *)limit) {
    uintptr_t tag = *(uintptr_t *)p;
    size_t size = 8;
    switch (tag & 7) {
    case 1: /* one-word marker */
    case 2: /* one-word pad */
      break;
    case 4: /* atom */
      ++freed;
      freed_bytes += size;
      break;
    case 3: {
      unsigned kind = (unsigned)(tag >> 8) & 0xff;
      size = (size_t)(tag >> 16);
      if (kind == TF_PAIR || kind == TF_VEC || kind == TF_STR) {
        ++freed;
        freed_bytes += size;
      }
      break;
    }
    default:
      die("reclaim: a block with tag %#lx", (unsigned long)tag);
    }
    CHECK(size > 0);
    p += size;
  }
  CHECK(p == (char *)limit);
}

static __attribute__((noinline)) void make_all(void)
{
  size_t i;
  for (i = 0; i < N; ++i) {
    void *p = tf_make_pair(ap, i + 1, NULL, NULL);
    if (i % 2 == 0)
      keep[i / 2] = p;
  }
}

static void collect(int times)
{
  int i;
  stack_scrub();
  for (i = 0; i < times; ++i) {
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
  }
}

static void run(mps_pool_t amc, mps_pool_t mvff)
{
  size_t i, after_drop;
  CHECK_RES_IS(mpsx_pool_reclaim_hook(mvff, count, &freed), MPS_RES_PARAM);
  CHECK_RES(mpsx_pool_reclaim_hook(amc, count, &freed));
  make_all();
  collect(3);
  vlog("dropped half: %zu objects freed (%zu bytes) in %zu runs\n", freed,
       freed_bytes, runs);
  CHECKF(freed <= N / 2, "%zu objects counted, only %d were dropped", freed,
         N / 2);
  CHECKF(freed >= N / 4, "only %zu of %d dropped objects counted", freed,
         N / 2);
  CHECK(freed_bytes == freed * tf_pair_size());
  for (i = 0; i < N / 2; ++i)
    CHECK(tf_id(keep[i]) == 2 * i + 1);
  after_drop = freed;
  for (i = 0; i < N / 2; ++i)
    keep[i] = NULL;
  collect(3);
  vlog("dropped all: %zu objects freed\n", freed);
  CHECKF(freed <= N, "%zu objects counted, %d allocated", freed, N);
  CHECKF(freed >= after_drop + N / 4, "only %zu objects counted", freed);
  CHECK_RES(mpsx_pool_reclaim_hook(amc, NULL, NULL));
  after_drop = freed;
  make_all();
  for (i = 0; i < N / 2; ++i)
    keep[i] = NULL;
  collect(2);
  CHECK(freed == after_drop);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc, mvff;
  mps_thr_t thr;
  mps_root_t stack_root, keep_root;
  mps_gen_param_s gens[] = {{256, 0.8}, {512, 0.4}};
  void *marker = &marker;

  test_init("reclaim");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_pool_create_k(&mvff, arena, mps_class_mvff(), mps_args_none));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));
  CHECK_RES(mps_root_create_table(&keep_root, arena, mps_rank_exact(), 0,
                                  keep, N / 2));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr, marker));

  run(amc, mvff);

  mps_arena_park(arena);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(keep_root);
  mps_ap_destroy(ap);
  mps_pool_destroy(mvff);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  vlog("reclaim: OK\n");
  return 0;
}
