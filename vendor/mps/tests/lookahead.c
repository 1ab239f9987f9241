/* lookahead.c -- scanning in windows with a look-ahead pass
 *
 * The collector scans a grey range in windows of about 2 KiB, each
 * twice: a look-ahead pass whose fixes only prefetch, then the real one
 * (DESIGN.md#prefetch).  A window ends at an object boundary found with
 * the skip method; an object larger than a window is a window of its
 * own.  This test builds a random graph of objects of every size the
 * windows can meet (one-word atoms, pairs, strings, vectors of 1 to 1,200
 * references, that is up to 9.6 KiB, several windows), with in-band
 * headers of 8 bytes and, in a child process, without (every test format
 * of a process has the same header size), and checks after every
 * collection, automatic or full, that the graph is intact
 * (shadow-model verified) and that the look-ahead pass is not counted
 * as scanning: a full collection of a parked arena scans no more bytes
 * than survive it.  With MPS_TEST_PAUSE_TIME=0 the collections are
 * incremental, and look-ahead fixes meet references to grey segments
 * behind the read barrier (prefetching them must not fault).
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#include <stdio.h>

#define NROOTS 512
#define ROUNDS 6
#define MAX_VEC 1200

static mps_arena_t arena;
static mps_ap_t ap;
static void *roots[NROOTS];
static tf_node *sroots[NROOTS];
static tf_model model;
static size_t header = 8;

static void verify(const char *when)
{
  mps_arena_park(arena);
  tfm_verify_begin(&model);
  tfm_verify_roots(&model, roots, sroots, NROOTS, when);
  (void)tfm_verify_end(&model);
  mps_arena_release(arena);
}

/* One new object of a random kind and size, linked to up to four random
 * roots, stored in a random root (the one there may die). */
static size_t make_one(void)
{
  tf_node *s;
  void *p;
  size_t r = rnd_below(100), n, size, i, links;
  int kind;
  if (r < 5 && tf_header() == 0) {
    kind = TF_ATOM;
    n = 0;
    size = 8;
  } else if (r < 55) {
    kind = TF_PAIR;
    n = 2;
    size = tf_pair_size();
  } else if (r < 70) {
    kind = TF_STR;
    n = 8 * (1 + rnd_below(64));
    size = tf_str_size(n);
  } else {
    kind = TF_VEC;
    /* Mostly small, some around the window (2 KiB: 256 references),
     * some several windows long. */
    n = rnd_chance(1, 4) ? 1 + rnd_below(MAX_VEC) : 1 + rnd_below(16);
    size = tf_vec_size(n);
  }
  p = tfm_alloc(&model, ap, kind, n, &s);
  links = kind == TF_PAIR || kind == TF_VEC ? (n < 4 ? n : 4) : 0;
  for (i = 0; i < links; ++i) {
    size_t j = rnd_below(NROOTS);
    if (roots[j] != NULL)
      tfm_link(p, s, rnd_below(n), roots[j], sroots[j]);
  }
  i = rnd_below(NROOTS);
  roots[i] = p;
  sroots[i] = s;
  return size;
}

static void run(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t pool;
  mps_root_t root;
  mps_thr_t thr;
  mps_gen_param_s gens[] = {{512, 0.5}, {2048, 0.5}};
  size_t round, fulls = 0;
  mps_word_t before;

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  test_arena_setup(arena);
  CHECK_RES(mps_thread_reg(&thr, arena));
  tf_fmt_create(&fmt, arena, header);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, roots,
                                  NROOTS));
  tfm_init(&model, 1, 1);
  test_pauses_start(arena);

  before = mps_collections(arena);
  for (round = 0; round < ROUNDS; ++round) {
    size_t made = 0;
    mpsx_trace_stats_s st;
    while (made < test_scale((size_t)4 << 20))
      made += make_one();
    verify("after automatic collections");
    mps_arena_park(arena);
    CHECK_RES(mps_arena_collect(arena));
    mpsx_arena_last_trace(arena, &st);
    CHECKF(st.bytes_scanned <= st.live,
           "a full collection of a parked arena scanned %zu bytes, but "
           "only %zu survived: the look-ahead pass was counted",
           st.bytes_scanned, st.live);
    CHECKF(st.live > 0, "nothing survived a full collection");
    ++fulls;
    mps_arena_release(arena);
    verify("after a full collection");
  }
  CHECKF(mps_collections(arena) - before > fulls,
         "no automatic collection in %lu rounds of 4 MiB through a "
         "512 KiB nursery",
         (unsigned long)ROUNDS);
  test_pauses_report(arena);

  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_ap_destroy(ap);
  mps_pool_destroy(pool);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_thread_dereg(thr);
  mps_arena_destroy(arena);
  tfm_finish(&model);
}

static void run_header0(void)
{
  header = 0;
  run();
}

int main(void)
{
  test_init("lookahead");
  test_in_child("without in-band headers", run_header0, NULL);
  run();
  printf("lookahead: OK\n");
  return 0;
}
