/* alloc.c: allocation throughput of small objects.
 *
 * N = 20M x BENCH_SCALE objects of 16..64 bytes (uniform over the seven
 * multiples of 8), each initialised whole (header, one reference to a
 * random survivor, payload).  One object in 32 is stored in a table of
 * 64Ki survivor slots at a random index (evicting the one there), so a
 * small fraction survives a while and most die at once.
 *
 *   amc          AMC pool through an allocation point, mps_reserve and
 *                mps_commit inline; the table is an exact area root
 *   boehm        GC_malloc, default settings; the table is a GC_malloc'd
 *                array reachable from a static variable
 *   malloc       malloc, nothing ever freed
 *   malloc-free  malloc, and free of every object as soon as it is
 *                dropped (immediately, or when evicted from the table)
 */

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_THREADS 1
#include <gc.h>

#include "mpsx.h"

#define TABLE_SLOTS ((size_t)1 << 16)

static void **gc_table;   /* Boehm: reachable from the data segment */

enum { V_AMC, V_BOEHM, V_MALLOC, V_MALLOC_FREE };

static inline size_t pick_size(uint64_t r)
{
  return 16 + 8 * (size_t)((r & 0xff) % 7);
}

#define KEEP(r) ((((r) >> 24) & 31) == 0)
#define SLOT(r) (((r) >> 32) & (TABLE_SLOTS - 1))
#define REF(r) (((r) >> 8) & (TABLE_SLOTS - 1))

static void run_amc(mps_ap_t ap, void **table, size_t n)
{
  uint64_t s = 88172645463325252ULL;
  size_t i;
  for (i = 0; i < n; ++i) {
    uint64_t r = rng_next(&s);
    size_t size = pick_size(r);
    mps_addr_t p;
    do {
      if (mps_reserve(&p, ap, size) != MPS_RES_OK)
        abort();
      obj_init(p, size, table[REF(r)], i);
    } while (!mps_commit(ap, p, size));
    if (KEEP(r))
      table[SLOT(r)] = p;
  }
}

static void run_boehm(void **table, size_t n)
{
  uint64_t s = 88172645463325252ULL;
  size_t i;
  for (i = 0; i < n; ++i) {
    uint64_t r = rng_next(&s);
    size_t size = pick_size(r);
    word *p = GC_malloc(size);
    if (p == NULL)
      abort();
    obj_init(p, size, table[REF(r)], i);
    if (KEEP(r))
      table[SLOT(r)] = p;
  }
}

static void run_malloc(void **table, size_t n, int do_free)
{
  uint64_t s = 88172645463325252ULL;
  size_t i;
  for (i = 0; i < n; ++i) {
    uint64_t r = rng_next(&s);
    size_t size = pick_size(r);
    word *p = malloc(size);
    if (p == NULL)
      abort();
    obj_init(p, size, table[REF(r)], i);
    if (KEEP(r)) {
      if (do_free)
        free(table[SLOT(r)]);
      table[SLOT(r)] = p;
    } else if (do_free) {
      free(p);
    }
  }
}

int wl_alloc(const char *variant)
{
  size_t n = (size_t)(20e6 * bench_scale());
  bench_mps_s m;
  mps_root_t troot = NULL;
  void **table = NULL;
  int v;
  double t0, c0, wall, cpu;

  memset(&m, 0, sizeof m);
  if (strcmp(variant, "amc") == 0) {
    v = V_AMC;
    bench_mps_open(&m, FMT_OBJ);
    table = calloc(TABLE_SLOTS, sizeof *table);
    if (mps_root_create_area(&troot, m.arena, mps_rank_exact(), 0, table,
                             table + TABLE_SLOTS, mps_scan_area, NULL)
        != MPS_RES_OK)
      abort();
  } else if (strcmp(variant, "boehm") == 0) {
    v = V_BOEHM;
    GC_INIT();
    gc_table = table = GC_malloc(TABLE_SLOTS * sizeof *table);
  } else if (strcmp(variant, "malloc") == 0) {
    v = V_MALLOC;
    table = calloc(TABLE_SLOTS, sizeof *table);
  } else if (strcmp(variant, "malloc-free") == 0) {
    v = V_MALLOC_FREE;
    table = calloc(TABLE_SLOTS, sizeof *table);
  } else {
    return 1;
  }
  if (table == NULL)
    abort();

  t0 = now_wall();
  c0 = now_cpu();
  switch (v) {
  case V_AMC:
    run_amc(m.ap, table, n);
    break;
  case V_BOEHM:
    run_boehm(table, n);
    break;
  default:
    run_malloc(table, n, v == V_MALLOC_FREE);
    break;
  }
  wall = now_wall() - t0;
  cpu = now_cpu() - c0;

  emit("objects", "%zu", n);
  emit_d("wall", wall);
  emit_d("cpu", cpu);
  emit_d("objs_per_s", (double)n / wall);
  emit("peak_rss_kib", "%ld", peak_rss_kib());
  if (v == V_AMC) {
    emit("collections", "%lu", (unsigned long)mps_collections(m.arena));
    mps_arena_park(m.arena);
    mps_root_destroy(troot);
    bench_mps_close(&m);
    free(table);
  } else if (v == V_BOEHM) {
    emit("collections", "%lu", (unsigned long)GC_get_gc_no());
  }
  return 0;
}
