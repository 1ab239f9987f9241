/* bintrees.c: the binary-trees benchmark.
 *
 * As in the classic benchmark: a "stretch" tree of depth max+1 is built,
 * checked and dropped; a long-lived tree of depth max is built and kept
 * alive to the end; then for d = min, min+2, ..., max, 2^(max-d+2) trees
 * of depth d are built bottom-up, checked (node count) and dropped.
 * min..max is 16..20 at BENCH_SCALE=1 (max = 20 + round(log2 scale)).
 *
 * Every variant uses the same 16-byte node {left, right}:
 *   amc          this project's AMC pool, mps_reserve/mps_commit inline,
 *                default arena and chain, thread stack as ambiguous root
 *   boehm        Boehm GC, GC_malloc(16), default settings
 *   boehm-incr   Boehm GC after GC_enable_incremental()
 *   malloc       malloc(16) and an explicit free of every node of each
 *                tree once checked (the stand-in for Rust's Box<Node>)
 * The node has no header: in the AMC format a node's first word is its
 * left pointer (low bits 00), pads and forwarding markers are tagged in
 * the low bits (see mpsfmt.c).
 */

#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_THREADS 1 /* declares GC_get_parallel; no threads are created */
#include <gc.h>

#include "mpsx.h"

typedef struct node {
  struct node *l, *r;
} node;

int bt_max_depth(void)
{
  const char *e = getenv("BENCH_BT_DEPTH");
  if (e != NULL && *e != '\0')
    return atoi(e);
  return 20 + (int)lround(log2(bench_scale()));
}

int bt_min_depth(void)
{
  int m = bt_max_depth() - 4;
  return m < 4 ? 4 : m;
}

static long count(const node *n)
{
  long c = 1;
  while (n->l != NULL) {
    c += 1 + count(n->l);
    n = n->r;
  }
  return c;
}

/* ---- AMC ---------------------------------------------------------------- */

static inline node *amc_mk(mps_ap_t ap, node *l, node *r)
{
  mps_addr_t p;
  do {
    if (mps_reserve(&p, ap, sizeof(node)) != MPS_RES_OK)
      abort();
    ((node *)p)->l = l;
    ((node *)p)->r = r;
  } while (!mps_commit(ap, p, sizeof(node)));
  return p;
}

static node *amc_tree(mps_ap_t ap, int d)
{
  node *l, *r;
  if (d == 0)
    return amc_mk(ap, NULL, NULL);
  l = amc_tree(ap, d - 1);
  r = amc_tree(ap, d - 1);
  return amc_mk(ap, l, r);
}

/* ---- Boehm --------------------------------------------------------------- */

static node *gc_tree(int d)
{
  node *n, *l, *r;
  if (d == 0) {
    l = r = NULL;
  } else {
    l = gc_tree(d - 1);
    r = gc_tree(d - 1);
  }
  n = GC_malloc(sizeof(node));
  if (n == NULL)
    abort();
  n->l = l;
  n->r = r;
  return n;
}

/* ---- malloc/free ---------------------------------------------------------- */

static node *malloc_tree(int d)
{
  node *n, *l, *r;
  if (d == 0) {
    l = r = NULL;
  } else {
    l = malloc_tree(d - 1);
    r = malloc_tree(d - 1);
  }
  n = malloc(sizeof(node));
  if (n == NULL)
    abort();
  n->l = l;
  n->r = r;
  return n;
}

static void free_tree(node *n)
{
  while (n != NULL) {
    node *r = n->r;
    free_tree(n->l);
    free(n);
    n = r;
  }
}

/* ---- driver of one run ---------------------------------------------------- */

enum { V_AMC, V_BOEHM, V_MALLOC };

static node *make(int v, bench_mps_s *m, int d)
{
  switch (v) {
  case V_AMC:
    return amc_tree(m->ap, d);
  case V_BOEHM:
    return gc_tree(d);
  default:
    return malloc_tree(d);
  }
}

static void drop(int v, node *n)
{
  if (v == V_MALLOC)
    free_tree(n);
}

int wl_bintrees(const char *variant)
{
  int v, maxd = bt_max_depth(), mind = bt_min_depth(), d;
  bench_mps_s m;
  node *longlived;
  long total = 0, expect = 0, nll;
  double t0, c0, wall, cpu;

  memset(&m, 0, sizeof m);
  if (strcmp(variant, "amc") == 0) {
    v = V_AMC;
    bench_mps_open(&m, FMT_NODE);
  } else if (strcmp(variant, "boehm") == 0) {
    v = V_BOEHM;
    GC_INIT();
  } else if (strcmp(variant, "boehm-incr") == 0) {
    v = V_BOEHM;
    GC_INIT();
    GC_enable_incremental();
  } else if (strcmp(variant, "malloc") == 0) {
    v = V_MALLOC;
  } else {
    return 1;
  }

  t0 = now_wall();
  c0 = now_cpu();
  {
    node *stretch = make(v, &m, maxd + 1);
    total += count(stretch);
    expect += (2L << (maxd + 1)) - 1;
    drop(v, stretch);
  }
  longlived = make(v, &m, maxd);
  for (d = mind; d <= maxd; d += 2) {
    long i, iters = 1L << (maxd - d + 2);
    for (i = 0; i < iters; ++i) {
      node *t = make(v, &m, d);
      total += count(t);
      drop(v, t);
    }
    expect += iters * ((2L << d) - 1);
  }
  nll = count(longlived);
  total += nll;
  expect += (2L << maxd) - 1;
  wall = now_wall() - t0;
  cpu = now_cpu() - c0;

  if (total != expect) {
    fprintf(stderr, "bintrees %s: checksum %ld, expected %ld\n", variant,
            total, expect);
    return 3;
  }
  emit("depths", "%d..%d", mind, maxd);
  emit_d("wall", wall);
  emit_d("cpu", cpu);
  emit("peak_rss_kib", "%ld", peak_rss_kib());
  emit("nodes", "%ld", expect);
  emit("live_bytes", "%zu", (size_t)nll * sizeof(node));
  /* Most data reachable at once: the stretch tree, or the long-lived tree
   * plus one tree of depth max. */
  emit("maxreach_bytes", "%zu", (size_t)((2L << (maxd + 1)) - 1) * sizeof(node));

  if (v == V_AMC) {
    size_t committed, spare, live;
    emit("collections", "%lu", (unsigned long)mps_collections(m.arena));
    bench_mps_full_collect(&m, &committed, &spare, &live);
    if (count(longlived) != nll)
      return 3;
    emit("after_full_committed", "%zu", committed);
    emit("after_full_spare", "%zu", spare);
    emit("after_full_gclive", "%zu", live);
    emit("after_full_rss_kib", "%ld", cur_rss_kib());
    bench_mps_close(&m);
  } else if (v == V_BOEHM) {
    emit("collections", "%lu", (unsigned long)GC_get_gc_no());
    emit("incremental", "%d", GC_is_incremental_mode());
    emit("markers", "%d", GC_get_parallel() + 1);
    GC_gcollect();
    if (count(longlived) != nll)
      return 3;
    emit("after_full_committed", "%zu", GC_get_heap_size());
    emit("after_full_rss_kib", "%ld", cur_rss_kib());
  } else {
    free_tree(longlived);
  }
  return 0;
}
