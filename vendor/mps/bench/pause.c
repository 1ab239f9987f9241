/* pause.c: collection pauses with a large live heap.
 *
 * A table of S = 1Mi x BENCH_SCALE slots each holds a list of 8 objects of
 * 32 bytes: S x 256 B = 256 MiB live at scale 1.  The table lives in the
 * collected heap, as a two-level table: a spine vector of S / 1024
 * references to chunk vectors of 1024 slots each (8 KiB), the spine held
 * by one root (AMC: a one-slot exact table root; Boehm: a static
 * variable).  A heap-allocated table is what a language runtime has; it is
 * two-level because a collector scans one object in one go, and one 8 MiB
 * array of references would be a single unit of work of about 1M fixes
 * (see bench/README.md).
 * Build phase: fill every slot.  Steady phase: OPS = 4 x S operations,
 * each builds a new list of 8 objects and stores it in a random slot,
 * dropping the list that was there (1 GiB allocated at scale 1).
 *
 * Pauses, steady phase only:
 *   amc, amc-5ms  every interval in which the collector stops the mutator,
 *          from mpsx_arena_pause_log: a whole collection, or the flip,
 *          steps and barrier faults of an incremental one.  amc runs with
 *          the default pause time (0.1 s), amc-5ms with
 *          mps_arena_pause_time_set(arena, 0.005).
 *   boehm  GC_set_on_collection_event: GC_EVENT_START to GC_EVENT_END,
 *          CLOCK_MONOTONIC; default (non-incremental) mode, so the whole
 *          collection runs with the mutator stopped.  Boehm's sweeping is
 *          lazy (done a little in later allocations) and is not in these
 *          pauses.
 * Every variant also times every operation of the steady phase with
 * CLOCK_MONOTONIC and reports the longest (a collector-independent check
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
#define CHUNK 1024 /* slots per chunk of the table */

static word *gc_spine;   /* Boehm: reachable from the data segment */
static word *amc_spine;  /* AMC: the one exact root */

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

/* Count the collections started (gc_start messages), and the full ones;
 * pauses come from the pause log. */
static size_t amc_gcs;

static void amc_messages(mps_arena_t arena)
{
  mps_message_t msg;
  while (mps_message_get(&msg, arena, mps_message_type_gc_start())) {
    const char *why = mps_message_gc_start_why(arena, msg);
    if (steady == 1) {
      ++amc_gcs;
      if (why != NULL && strstr(why, "oldest") != NULL)
        ++nfull;
    } else if (steady == 0) {
      ++build_count;
    }
    mps_message_discard(arena, msg);
  }
  bench_mps_drain(arena);
}

static mps_addr_t amc_vector(mps_ap_t ap, size_t refs)
{
  size_t size = (refs + 1) * sizeof(word);
  mps_addr_t p;
  do {
    size_t i;
    if (mps_reserve(&p, ap, size) != MPS_RES_OK)
      abort();
    ((word *)p)[0] = VEC_HDR(size);
    for (i = 1; i <= refs; ++i)
      ((word *)p)[i] = 0;
  } while (!mps_commit(ap, p, size));
  return p;
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

static inline void **slot_of(word *spine, size_t i)
{
  word *chunk = (word *)spine[1 + i / CHUNK];
  return (void **)&chunk[1 + i % CHUNK];
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
  size_t nchunks, ops = 4 * slots, i;
  int amc;
  bench_mps_s m;
  mps_root_t troot = NULL;
  mpsx_pause_log_s log;
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  double t0, c0, tb, wall, cpu, last, max_op = 0;

  slots = (slots + CHUNK - 1) / CHUNK * CHUNK;
  nchunks = slots / CHUNK;
  ops = 4 * slots;
  pauses = malloc(MAX_GCS * sizeof *pauses);
  memset(&m, 0, sizeof m);
  memset(&log, 0, sizeof log);
  if (strcmp(variant, "amc") == 0 || strcmp(variant, "amc-5ms") == 0) {
    amc = 1;
    bench_mps_open(&m, FMT_OBJ);
    if (strcmp(variant, "amc-5ms") == 0)
      mps_arena_pause_time_set(m.arena, 0.005);
    if (mps_root_create_table(&troot, m.arena, mps_rank_exact(), 0,
                              (mps_addr_t *)&amc_spine, 1) != MPS_RES_OK)
      abort();
    mpsx_arena_pause_log(m.arena, &log);
    amc_spine = amc_vector(m.ap, nchunks);
    for (i = 0; i < nchunks; ++i) {
      mps_addr_t chunk = amc_vector(m.ap, CHUNK);
      amc_spine[1 + i] = (word)chunk;
    }
  } else if (strcmp(variant, "boehm") == 0) {
    amc = 0;
    GC_INIT();
    GC_set_on_collection_event(gc_event);
    gc_spine = GC_malloc((nchunks + 1) * sizeof(word));
    if (gc_spine == NULL)
      abort();
    for (i = 0; i < nchunks; ++i) {
      word *chunk = GC_malloc((CHUNK + 1) * sizeof(word));
      if (chunk == NULL)
        abort();
      gc_spine[1 + i] = (word)chunk;
    }
  } else {
    return 1;
  }

  tb = now_wall();
  for (i = 0; i < slots; ++i) {
    if (amc) {
      void *list = amc_list(m.ap, i);
      *slot_of(amc_spine, i) = list;
      if ((i & 255) == 0)
        amc_messages(m.arena);
    } else {
      void *list = gc_list(i);
      *slot_of(gc_spine, i) = list;
    }
  }
  if (amc) {
    amc_messages(m.arena);
    build_max = log.max;
    /* The steady phase's pauses from here. */
    mpsx_arena_pause_log(m.arena, NULL);
    memset(&log, 0, sizeof log);
    log.seconds = pauses;
    log.capacity = MAX_GCS;
    mpsx_arena_pause_log(m.arena, &log);
  }
  tb = now_wall() - tb;

  steady = 1;
  t0 = last = now_wall();
  c0 = now_cpu();
  for (i = 0; i < ops; ++i) {
    uint64_t r = rng_next(&s);
    double t;
    if (amc) {
      void *list = amc_list(m.ap, i);
      *slot_of(amc_spine, r % slots) = list;
      if ((i & 255) == 0)
        amc_messages(m.arena);
    } else {
      void *list = gc_list(i);
      *slot_of(gc_spine, r % slots) = list;
    }
    t = now_wall();
    if (t - last > max_op)
      max_op = t - last;
    last = t;
  }
  if (amc) {
    amc_messages(m.arena);
    mpsx_arena_pause_log(m.arena, NULL);
    npauses = log.count < MAX_GCS ? log.count : MAX_GCS;
    gc_total = log.total;
    emit("pauses_atomic", "%zu", log.kinds[MPSX_PAUSE_ATOMIC]);
    emit("pauses_flip", "%zu", log.kinds[MPSX_PAUSE_FLIP]);
    emit("pauses_step", "%zu", log.kinds[MPSX_PAUSE_STEP]);
    emit("pauses_fault", "%zu", log.kinds[MPSX_PAUSE_FAULT]);
    emit("collections", "%zu", amc_gcs);
  }
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
  emit("gcs", "%zu", amc ? amc_gcs : npauses);
  emit("pauses", "%zu", npauses);
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
  } else {
    GC_gcollect();
    emit("after_full_committed", "%zu", GC_get_heap_size());
    emit("after_full_rss_kib", "%ld", cur_rss_kib());
  }
  return 0;
}
