/* pause.c: collection pauses with a large live heap.
 *
 * A table of S = 1Mi x BENCH_SCALE slots (outside the collected heap for
 * AMC, an exact area root; a GC_malloc'd array for Boehm) each holds a
 * list of 8 objects of 32 bytes: S x 256 B = 256 MiB live at scale 1.
 * Build phase: fill every slot.  Steady phase: OPS = 4 x S operations,
 * each builds a new list of 8 objects and stores it in a random slot,
 * dropping the list that was there (1 GiB allocated at scale 1).
 *
 * Pauses are measured per collection, steady phase only:
 *   amc    the mps_message_clock of each gc_start / gc message pair (the
 *          stopped-world part of TraceCollect), messages drained every
 *          256 operations
 *   boehm  GC_set_on_collection_event: GC_EVENT_START to GC_EVENT_END,
 *          CLOCK_MONOTONIC; default (non-incremental) mode, so the whole
 *          collection runs with the mutator stopped.  Boehm's sweeping is
 *          lazy (done a little in later allocations) and is not in these
 *          pauses.
 * Both variants also time every operation of the steady phase with
 * CLOCK_MONOTONIC and report the longest (a collector-independent check
 * of the worst pause as the mutator sees it).
 */

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GC_THREADS 1
#include <gc.h>

#include "mpslib.h"
#include "mpsx.h"

#define LIST_LEN 8
#define OBJ_SIZE 32

static void **gc_table;  /* Boehm: reachable from the data segment */

/* Collection records of the steady phase (and worst of the build phase). */
#define MAX_GCS 200000
static double *pauses;      /* seconds */
static size_t npauses;
static size_t nfull;
static double full_max;
static int steady;          /* 0: build phase, 1: steady phase */
static double build_max;
static size_t build_count;
static double gc_total;     /* steady phase, seconds */

static void record(double secs, int full)
{
  if (steady == 2)
    return;  /* the final measuring collection */
  if (!steady) {
    if (secs > build_max)
      build_max = secs;
    ++build_count;
    return;
  }
  gc_total += secs;
  if (npauses < MAX_GCS)
    pauses[npauses++] = secs;
  if (full) {
    ++nfull;
    if (secs > full_max)
      full_max = secs;
  }
}

/* ---- AMC ---------------------------------------------------------------- */

static mps_clock_t starts[4096];
static int start_full[4096];

static void amc_messages(mps_arena_t arena)
{
  mps_message_t msg;
  size_t ns = 0, ne = 0;
  double cps = (double)mps_clocks_per_sec();
  while (mps_message_get(&msg, arena, mps_message_type_gc_start())) {
    if (ns < sizeof starts / sizeof starts[0]) {
      const char *why = mps_message_gc_start_why(arena, msg);
      starts[ns] = mps_message_clock(arena, msg);
      start_full[ns] = why != NULL && strstr(why, "oldest") != NULL;
      ++ns;
    }
    mps_message_discard(arena, msg);
  }
  while (mps_message_get(&msg, arena, mps_message_type_gc())) {
    if (ne < ns)
      record((double)(mps_message_clock(arena, msg) - starts[ne]) / cps,
             start_full[ne]);
    ++ne;
    mps_message_discard(arena, msg);
  }
  if (ne != ns)
    fprintf(stderr, "pause amc: %zu gc_start, %zu gc messages\n", ns, ne);
}

static inline void *amc_list(mps_ap_t ap, uint64_t payload)
{
  void *head = NULL;
  int k;
  for (k = 0; k < LIST_LEN; ++k) {
    mps_addr_t p;
    do {
      if (mps_reserve(&p, ap, OBJ_SIZE) != MPS_RES_OK)
        abort();
      obj_init(p, OBJ_SIZE, head, payload);
    } while (!mps_commit(ap, p, OBJ_SIZE));
    head = p;
  }
  return head;
}

/* ---- Boehm -------------------------------------------------------------- */

static double gc_t0;

static void gc_event(GC_EventType ev)
{
  if (ev == GC_EVENT_START) {
    gc_t0 = now_wall();
  } else if (ev == GC_EVENT_END) {
    record(now_wall() - gc_t0, 1);
  }
}

static inline void *gc_list(uint64_t payload)
{
  void *head = NULL;
  int k;
  for (k = 0; k < LIST_LEN; ++k) {
    word *p = GC_malloc(OBJ_SIZE);
    if (p == NULL)
      abort();
    obj_init(p, OBJ_SIZE, head, payload);
    head = p;
  }
  return head;
}

/* ---- run ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double p)
{
  size_t i;
  if (npauses == 0)
    return 0;
  i = (size_t)((double)npauses * p + 0.999999);
  if (i < 1)
    i = 1;
  if (i > npauses)
    i = npauses;
  return pauses[i - 1];
}

int wl_pause(const char *variant)
{
  size_t slots = (size_t)((double)(1u << 20) * bench_scale());
  size_t ops = 4 * slots, i;
  int amc;
  bench_mps_s m;
  mps_root_t troot = NULL;
  void **table;
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  double t0, c0, tb, wall, cpu, last, max_op = 0;

  pauses = malloc(MAX_GCS * sizeof *pauses);
  table = NULL;
  memset(&m, 0, sizeof m);
  if (strcmp(variant, "amc") == 0) {
    amc = 1;
    bench_mps_open(&m, FMT_OBJ);
    table = calloc(slots, sizeof *table);
    if (table == NULL)
      abort();
    if (mps_root_create_area(&troot, m.arena, mps_rank_exact(), 0, table,
                             table + slots, mps_scan_area, NULL)
        != MPS_RES_OK)
      abort();
  } else if (strcmp(variant, "boehm") == 0) {
    amc = 0;
    GC_INIT();
    GC_set_on_collection_event(gc_event);
    gc_table = table = GC_malloc(slots * sizeof *table);
    if (table == NULL)
      abort();
  } else {
    return 1;
  }

  tb = now_wall();
  for (i = 0; i < slots; ++i) {
    table[i] = amc ? amc_list(m.ap, i) : gc_list(i);
    if (amc && (i & 255) == 0)
      amc_messages(m.arena);
  }
  if (amc)
    amc_messages(m.arena);
  tb = now_wall() - tb;

  steady = 1;
  t0 = last = now_wall();
  c0 = now_cpu();
  for (i = 0; i < ops; ++i) {
    uint64_t r = rng_next(&s);
    double t;
    table[r % slots] = amc ? amc_list(m.ap, i) : gc_list(i);
    if (amc && (i & 255) == 0)
      amc_messages(m.arena);
    t = now_wall();
    if (t - last > max_op)
      max_op = t - last;
    last = t;
  }
  if (amc)
    amc_messages(m.arena);
  wall = now_wall() - t0;
  cpu = now_cpu() - c0;
  steady = 2;

  qsort(pauses, npauses, sizeof *pauses, cmp_double);
  emit("slots", "%zu", slots);
  emit("ops", "%zu", ops);
  emit("live_bytes", "%zu", slots * LIST_LEN * OBJ_SIZE);
  emit_d("build_wall", tb);
  emit("build_gcs", "%zu", build_count);
  emit_d("build_max_pause", build_max);
  emit_d("wall", wall);
  emit_d("cpu", cpu);
  emit("gcs", "%zu", npauses);
  emit("full_gcs", "%zu", nfull);
  emit_d("full_max", full_max);
  emit_d("p50", pct(0.50));
  emit_d("p90", pct(0.90));
  emit_d("p99", pct(0.99));
  emit_d("max", npauses ? pauses[npauses - 1] : 0);
  emit_d("gc_total", gc_total);
  emit_d("max_op", max_op);
  emit("peak_rss_kib", "%ld", peak_rss_kib());

  if (amc) {
    size_t committed, spare, live;
    bench_mps_full_collect(&m, &committed, &spare, &live);
    emit("after_full_committed", "%zu", committed);
    emit("after_full_spare", "%zu", spare);
    emit("after_full_gclive", "%zu", live);
    emit("after_full_rss_kib", "%ld", cur_rss_kib());
    mps_arena_park(m.arena);
    mps_root_destroy(troot);
    bench_mps_close(&m);
    free(table);
  } else {
    GC_gcollect();
    emit("after_full_committed", "%zu", GC_get_heap_size());
    emit("after_full_rss_kib", "%ld", cur_rss_kib());
  }
  return 0;
}
