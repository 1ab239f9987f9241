/* scripts.c: many collections in a small arena, a large changing live set.
 *
 * The shape of a C program written for the MPS (issue 19): an arena
 * created with a small reservation (MPS_KEY_ARENA_SIZE 8 MiB, it grows as
 * needed) and a two-generation chain of the MPS manual's example
 * ({150 KiB, 0.85}, {170 KiB, 0.45}), one AMC pool, objects of the
 * "object" format of bench.h (small objects and reference vectors).  At
 * scale 1:
 *
 *   A. scripts: 12 times, make 10,000..100,000 objects (random count):
 *      nine in ten small objects of 16..64 B, one in ten a vector of 2..64
 *      references to kept objects, one in 2,000 a big vector of
 *      64 KiB..1.2 MiB; keep one object in five in an exact root table;
 *      then drop every root and collect (mps_arena_collect);
 *   B. big among small: 3 times, make 40,000 objects of which one in 200
 *      is a big vector, keep every big one and one small in five (each
 *      small one refers to the previous small one kept), then drop the big
 *      ones only and collect;
 *   C. a tree: 4 levels, fan-out 46 (1 + 46 + 2,116 vectors and 97,336
 *      leaves of 256..576 B, about 40 MiB), built top down (every store of
 *      a child goes into an older vector: write-barrier hits), checked,
 *      then 4 scripts of A run beside it, the tree is checked again,
 *      dropped, and collected.
 *
 *   amc    the MPS setup above; collections from mps_collections
 *   boehm  GC_malloc (default settings), GC_gcollect for each collect;
 *          the root table is a GC_malloc'd array held by a static variable
 *
 * Figures: wall and CPU time of the whole script, peak RSS, collections,
 * mprotect calls (main.c counts every one the process makes), and their
 * ratio.
 */

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_THREADS 1
#include <gc.h>

#include "mpsx.h"

#define TABLE_SLOTS 100000
#define FANOUT 46
#define LEAF_MIN 256
#define LEAF_SPREAD 321 /* leaves of 256..576 B */

enum { V_AMC, V_BOEHM };

typedef struct script_s {
  int v;
  mps_ap_t ap;
  word **table;     /* root table: TABLE_SLOTS slots */
  size_t used;      /* slots filled */
  size_t base;      /* slots below this survive drops */
  uint64_t rng;
  size_t objects;   /* allocated in all */
} script_s;

static word **gc_table; /* Boehm: reachable from the data segment */

/* A new block of `size` bytes: an object (w[1] = ref) or a vector (every
 * reference NULL but the first, ref). */
static word *make(script_s *s, size_t size, int vec, void *ref)
{
  word *w;
  ++s->objects;
  if (s->v == V_AMC) {
    mps_addr_t p;
    do {
      if (mps_reserve(&p, s->ap, size) != MPS_RES_OK)
        abort();
      w = p;
      if (vec) {
        w[0] = VEC_HDR(size);
        memset(w + 1, 0, size - sizeof(word));
        w[1] = (word)ref;
      } else {
        obj_init(w, size, ref, size);
      }
    } while (!mps_commit(s->ap, p, size));
    return w;
  }
  w = GC_malloc(size);
  if (w == NULL)
    abort();
  if (vec) {
    w[0] = VEC_HDR(size);
    w[1] = (word)ref;
  } else {
    obj_init(w, size, ref, size);
  }
  return w;
}

static void collect(script_s *s, mps_arena_t arena)
{
  if (s->v == V_AMC) {
    if (mps_arena_collect(arena) != MPS_RES_OK)
      abort();
    mps_arena_release(arena);
    bench_mps_drain(arena);
  } else {
    GC_gcollect();
  }
}

static void drop_all(script_s *s)
{
  memset(s->table + s->base, 0,
         (TABLE_SLOTS - s->base) * sizeof *s->table);
  s->used = s->base;
}

static word *some_kept(script_s *s, uint64_t r)
{
  return s->used == 0 ? NULL : s->table[r % s->used];
}

static void keep(script_s *s, word *p)
{
  if (s->used < TABLE_SLOTS)
    s->table[s->used++] = p;
  else
    s->table[s->base + rng_next(&s->rng) % (TABLE_SLOTS - s->base)] = p;
}

static size_t big_size(uint64_t r)
{
  /* 64 KiB .. 1.2 MiB, a multiple of 8 */
  return ((size_t)64 << 10) + (size_t)(r % (1152u << 10)) / 8 * 8;
}

/* A. one script. */
static void script(script_s *s, mps_arena_t arena)
{
  size_t n = 10000 + (size_t)(rng_next(&s->rng) % 90001), i;
  for (i = 0; i < n; ++i) {
    uint64_t r = rng_next(&s->rng);
    word *p;
    if (r % 2000 == 0) {
      p = make(s, big_size(r >> 11), 1, some_kept(s, r >> 40));
    } else if ((r >> 12) % 10 == 0) {
      size_t refs = 2 + (size_t)((r >> 16) % 63), k;
      p = make(s, (1 + refs) * sizeof(word), 1, NULL);
      for (k = 1; k <= refs; ++k)
        p[k] = (word)some_kept(s, rng_next(&s->rng));
    } else {
      p = make(s, 16 + 8 * (size_t)((r >> 20) % 7), 0,
               some_kept(s, r >> 32));
    }
    if ((r >> 48) % 5 == 0)
      keep(s, p);
  }
  drop_all(s);
  collect(s, arena);
}

/* B. big objects dropped among small ones.  Small objects refer only to
 * small ones (the previous small one kept), so the big ones die when
 * their slots are cleared. */
static void big_among_small(script_s *s, mps_arena_t arena)
{
  size_t i, j, kept;
  word *small = NULL;
  for (i = 0; i < 40000; ++i) {
    uint64_t r = rng_next(&s->rng);
    if (r % 200 == 0) {
      keep(s, make(s, big_size(r >> 8), 1, small));
    } else {
      word *p = make(s, 16 + 8 * (size_t)((r >> 20) % 7), 0, small);
      if ((r >> 48) % 5 == 0) {
        keep(s, p);
        small = p;
      }
    }
  }
  small = NULL;
  /* Drop the big ones only: compact the table over the small ones. */
  for (i = 0, kept = 0; i < s->used; ++i) {
    word *p = s->table[i];
    if ((p[0] >> 3) <= 64)
      s->table[kept++] = p;
  }
  for (j = kept; j < s->used; ++j)
    s->table[j] = NULL;
  s->used = kept;
  collect(s, arena);
}

/* C. the tree: vectors of FANOUT references, three levels of them, then
 * leaves.  Returns the number of leaves reachable (checked). */
static word *build(script_s *s, int level, word **prev_leaf, size_t *leaves)
{
  size_t k;
  word *v;
  if (level == 3) {
    size_t size =
        LEAF_MIN + (size_t)(rng_next(&s->rng) % LEAF_SPREAD) / 8 * 8;
    word *leaf = make(s, size, 0, *prev_leaf);
    *prev_leaf = leaf;
    ++*leaves;
    return leaf;
  }
  v = make(s, (1 + FANOUT) * sizeof(word), 1, NULL);
  for (k = 1; k <= FANOUT; ++k) {
    word *child = build(s, level + 1, prev_leaf, leaves);
    v[k] = (word)child; /* v may be old by now: a barrier hit */
  }
  return v;
}

static size_t count(const word *v, int level, size_t *bytes)
{
  size_t k, n = 0;
  if (level == 3) {
    size_t size = v[0] >> 3, i;
    if ((v[0] & 7) != 1 || size < LEAF_MIN)
      abort();
    for (i = 2; i < size / sizeof(word); ++i)
      if (v[i] != size)
        abort();
    *bytes += size;
    return 1;
  }
  if ((v[0] & 7) != 5 || (v[0] >> 3) != (1 + FANOUT) * sizeof(word))
    abort();
  *bytes += (1 + FANOUT) * sizeof(word);
  for (k = 1; k <= FANOUT; ++k)
    n += count((const word *)v[k], level + 1, bytes);
  return n;
}

int wl_scripts(const char *variant)
{
  double sc = bench_scale();
  int nscripts = (int)(12 * sc + 0.5), i;
  bench_mps_s m;
  mps_root_t troot = NULL;
  script_s s;
  double t0, c0, wall, cpu;
  unsigned long prot0, prot;
  size_t collections, leaves = 0, tree_bytes = 0, again = 0;
  word *prev_leaf = NULL;
  mps_gen_param_s gens[2] = {{150, 0.85}, {170, 0.45}};

  memset(&m, 0, sizeof m);
  memset(&s, 0, sizeof s);
  s.rng = 0x9E3779B97F4A7C15ULL;
  if (strcmp(variant, "amc") == 0) {
    s.v = V_AMC;
    bench_mps_open_with(&m, FMT_OBJ, (size_t)8 << 20, gens, 2);
    s.ap = m.ap;
    s.table = calloc(TABLE_SLOTS, sizeof *s.table);
    if (s.table == NULL ||
        mps_root_create_area(&troot, m.arena, mps_rank_exact(), 0, s.table,
                             s.table + TABLE_SLOTS, mps_scan_area, NULL) !=
            MPS_RES_OK)
      abort();
  } else if (strcmp(variant, "boehm") == 0) {
    s.v = V_BOEHM;
    GC_INIT();
    gc_table = s.table = GC_malloc(TABLE_SLOTS * sizeof *s.table);
    if (s.table == NULL)
      abort();
  } else {
    return 1;
  }

  prot0 = bench_mprotect_calls();
  t0 = now_wall();
  c0 = now_cpu();
  for (i = 0; i < nscripts; ++i)
    script(&s, m.arena);
  for (i = 0; i < 3; ++i)
    big_among_small(&s, m.arena);
  drop_all(&s);
  s.table[0] = build(&s, 0, &prev_leaf, &leaves);
  prev_leaf = NULL;
  if (count(s.table[0], 0, &tree_bytes) != leaves)
    abort();
  /* Scripts beside the tree: slot 0 is kept across their drops. */
  s.base = s.used = 1;
  for (i = 0; i < 4; ++i)
    script(&s, m.arena);
  s.base = 0;
  if (count(s.table[0], 0, &again) != leaves || again != tree_bytes)
    abort();
  drop_all(&s);
  collect(&s, m.arena);
  wall = now_wall() - t0;
  cpu = now_cpu() - c0;
  prot = bench_mprotect_calls() - prot0;

  if (s.v == V_AMC)
    collections = (size_t)mps_collections(m.arena);
  else
    collections = (size_t)GC_get_gc_no();
  emit("objects", "%zu", s.objects);
  emit("tree_bytes", "%zu", tree_bytes);
  emit_d("wall", wall);
  emit_d("cpu", cpu);
  emit("peak_rss_kib", "%ld", peak_rss_kib());
  emit("collections", "%zu", collections);
  emit("mprotect", "%lu", prot);
  emit_d("mprotect_per_gc",
         collections > 0 ? (double)prot / (double)collections : 0.0);
  if (s.v == V_AMC) {
    mps_arena_park(m.arena);
    mps_root_destroy(troot);
    bench_mps_close(&m);
    free(s.table);
  }
  return 0;
}
