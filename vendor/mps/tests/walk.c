/* walk.c -- walking the heap and introspection
 *
 * A random graph (test format, header size 8) spread over AMC, AMCZ,
 * AMS, AWL (exact) and LO, each pool with its own format object, plus an
 * MVFF pool with manual blocks (AMS and AWL in generation 1 of the chain,
 * so that their segments, like AMC's survivors, are write-protected
 * between collections: walkers that fix references must cope).  No
 * thread root, so after a full collection the formatted objects in the
 * heap are exactly the objects reachable in the shadow model (plus
 * pads).  With the arena parked:
 *
 *  1. mps_arena_formatted_objects_walk reports every reachable object
 *     exactly once, at its address, with its pool and format, and the
 *     closure arguments; anything else it reports is a pad; nothing in
 *     the MVFF pool;
 *  2. mps_pool_walk on each automatic pool calls the area scanner on
 *     disjoint areas covering exactly the pool's objects (pads allowed,
 *     no forwarding markers); the callback fixes every reference
 *     (nothing changes while parked) and returns OK; a non-OK result
 *     stops the walk and is returned;
 *  3. mps_addr_pool, mps_addr_fmt, mps_arena_has_addr on objects,
 *     interior addresses, MVFF blocks, malloc'd, static and stack
 *     memory; mps_pool_total_size / free_size against the bytes in each
 *     pool; mps_arena_committed / reserved / spare_committed /
 *     commit_limit (and commit_limit_set, spare_set) plausible;
 *  4. mps_arena_roots_walk, if implemented (DESIGN.md#unimplemented says
 *     it asserts; the call is tried in a child process, and skipped if
 *     the child reports "not implemented").
 */

#define _POSIX_C_SOURCE 200809L

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscams.h"
#include "mpscawl.h"
#include "mpsclo.h"
#include "mpscmvff.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum { P_AMC, P_AMCZ, P_AMS, P_AWL, P_LO, NPOOLS };
static const char *pool_name[NPOOLS] = { "AMC", "AMCZ", "AMS", "AWL", "LO" };

#define NROOTS 2000
#define MAXIDS 200000

static mps_arena_t arena;
static mps_fmt_t fmts[NPOOLS];
static mps_pool_t pools[NPOOLS], mvff;
static mps_ap_t aps[NPOOLS];
static void *roots[NROOTS];
static tf_node *sroots[NROOTS];
static tf_model model;
static signed char id_pool[MAXIDS];  /* pool index of each object by id */
static tf_node *id_node[MAXIDS];     /* after verify: reachable nodes */
static unsigned id_visits[MAXIDS];
static int static_var;

static size_t idx_of(unsigned long id)
{
  size_t i = (id - 1) / 2;          /* ids are 1, 3, 5, ... */
  if (id == 0 || id % 2 != 1 || i >= MAXIDS)
    die("id %lu out of range", id);
  return i;
}

static int pool_index(mps_pool_t pool)
{
  int k;
  for (k = 0; k < NPOOLS; ++k)
    if (pools[k] == pool)
      return k;
  return -1;
}

/* ---- building the graph ---- */

static int has_refs(tf_node *s)
{
  return s != NULL && s->n > 0 && (s->kind == TF_PAIR || s->kind == TF_VEC);
}

static void new_obj(size_t a)
{
  size_t r = rnd_below(100);
  int k, kind;
  size_t n;
  tf_node *s;
  void *p;
  if (r < 45) {
    k = r < 15 ? P_AMC : r < 30 ? P_AMS : P_AWL;
    kind = rnd_chance(1, 2) ? TF_PAIR : TF_VEC;
    n = kind == TF_PAIR ? 2 : rnd_below(12);
  } else {
    k = r < 70 ? P_AMCZ : P_LO;
    kind = TF_STR;
    n = 8 * (1 + rnd_below(rnd_chance(1, 50) ? 2000 : 20));
  }
  p = tfm_alloc(&model, aps[k], kind, n, &s);
  id_pool[idx_of(s->id)] = (signed char)k;
  roots[a] = p;
  sroots[a] = s;
}

static void build(unsigned long steps)
{
  unsigned long i;
  for (i = 0; i < steps; ++i) {
    size_t r = rnd_below(100), a = rnd_below(NROOTS), b = rnd_below(NROOTS);
    if (r < 35) {
      new_obj(a);
    } else if (r < 85) {
      if (has_refs(sroots[a])) {
        void *q = roots[b];
        tf_node *t = sroots[b];
        if (has_refs(t) && rnd_chance(1, 3)) {
          size_t j = rnd_below(t->n);
          q = tf_ref(q, j);
          t = t->kids[j];
        }
        tfm_link(roots[a], sroots[a], rnd_below(sroots[a]->n), q, t);
      }
    } else if (r < 92) {
      roots[a] = NULL;
      sroots[a] = NULL;
    } else if (has_refs(sroots[a])) {
      size_t j = rnd_below(sroots[a]->n);
      roots[a] = tf_ref(roots[a], j);
      sroots[a] = sroots[a]->kids[j];
    }
  }
}

/* Full collection, verify, and index the reachable nodes by id. */
static size_t collect_and_index(size_t per_pool[NPOOLS],
                                size_t bytes[NPOOLS])
{
  size_t i, n;
  CHECK_RES(mps_arena_collect(arena));       /* leaves the arena parked */
  tfm_verify_begin(&model);
  tfm_verify_roots(&model, roots, sroots, NROOTS, "roots");
  n = tfm_verify_end(&model);
  memset(id_node, 0, sizeof id_node);
  memset(id_visits, 0, sizeof id_visits);
  for (i = 0; i < NPOOLS; ++i)
    per_pool[i] = bytes[i] = 0;
  for (i = 0; i < model.count; ++i) {
    tf_node *s = model.nodes[i];
    size_t x = idx_of(s->id);
    int k = id_pool[x];
    mps_pool_t q;
    mps_fmt_t f;
    id_node[x] = s;
    ++per_pool[k];
    bytes[k] += tf_block_size(s->addr);
    if (!mps_addr_pool(&q, arena, s->addr) || q != pools[k])
      die("mps_addr_pool: object %lu at %p is not reported in %s", s->id,
          s->addr, pool_name[k]);
    /* an interior address: inside the id word (the block ends there
     * for an empty vector) */
    if (!mps_addr_pool(&q, arena, (char *)s->addr + 4) || q != pools[k])
      die("mps_addr_pool: interior address of object %lu not in %s", s->id,
          pool_name[k]);
    if (!mps_addr_pool(&q, arena, (char *)s->addr - 8) || q != pools[k])
      die("mps_addr_pool: header (block base) of object %lu not in %s",
          s->id, pool_name[k]);
    if (!mps_addr_fmt(&f, arena, s->addr) || f != fmts[k])
      die("mps_addr_fmt: object %lu in %s: wrong or no format", s->id,
          pool_name[k]);
    if (!mps_arena_has_addr(arena, s->addr))
      die("mps_arena_has_addr false for object %lu", s->id);
  }
  if (model.count != n)
    die("model count %zu != %zu seen", model.count, n);
  return n;
}

/* ---- 1. formatted objects walk ---- */

typedef struct rec {
  mps_addr_t addr;
  mps_fmt_t fmt;
  mps_pool_t pool;
} rec;

typedef struct walk_state {
  unsigned long magic;
  rec *recs;
  size_t n, cap;
  int overflow, bad_closure;
} walk_state;

#define WALK_MAGIC 0x57a1c0deUL
#define WALK_S ((size_t)4242)

static void stepper(mps_addr_t addr, mps_fmt_t fmt, mps_pool_t pool, void *p,
                    size_t s)
{
  walk_state *w = p;
  if (w == NULL || w->magic != WALK_MAGIC || s != WALK_S) {
    if (w != NULL)
      w->bad_closure = 1;
    return;
  }
  if (w->n == w->cap) {
    w->overflow = 1;
    return;
  }
  w->recs[w->n].addr = addr;
  w->recs[w->n].fmt = fmt;
  w->recs[w->n].pool = pool;
  ++w->n;
}

static void phase_objects_walk(size_t nlive, const size_t per_pool[NPOOLS],
                               mps_addr_t mvff_block)
{
  walk_state w;
  size_t i, pads = 0, seen[NPOOLS] = { 0 };
  int k;

  memset(&w, 0, sizeof w);
  w.magic = WALK_MAGIC;
  w.cap = 4 * nlive + 100000;
  w.recs = malloc(w.cap * sizeof *w.recs);
  if (w.recs == NULL)
    die("out of memory");
  mps_arena_formatted_objects_walk(arena, stepper, &w, WALK_S);
  if (w.bad_closure)
    die("objects walk: stepper got the wrong closure arguments");
  if (w.overflow)
    die("objects walk: more than %zu objects reported for %zu live", w.cap,
        nlive);
  for (i = 0; i < w.n; ++i) {
    rec *r = &w.recs[i];
    int kind, pk = pool_index(r->pool);
    if (r->pool == mvff)
      die("objects walk: reported %p in the MVFF pool", r->addr);
    if (pk < 0)
      die("objects walk: reported %p in an unknown pool", r->addr);
    if (r->fmt != fmts[pk])
      die("objects walk: %p in %s reported with the wrong format", r->addr,
          pool_name[pk]);
    if ((char *)mvff_block <= (char *)r->addr &&
        (char *)r->addr < (char *)mvff_block + 4096)
      die("objects walk: reported an address inside an MVFF block");
    kind = tf_kind(r->addr);
    if (kind == TF_PAD1 || kind == TF_PADN) {
      ++pads;
      continue;
    }
    if (kind == TF_FWD1 || kind == TF_FWDN)
      die("objects walk: reported a forwarding marker at %p in %s (parked "
          "after a full collection)", r->addr, pool_name[pk]);
    if (kind != TF_PAIR && kind != TF_VEC && kind != TF_STR)
      die("objects walk: %p in %s is not an object or pad (tag %#lx)",
          r->addr, pool_name[pk], (unsigned long)*(uintptr_t *)
          ((char *)r->addr - 8));
    {
      unsigned long id = tf_id(r->addr);
      size_t x = idx_of(id);
      tf_node *s = id_node[x];
      if (s == NULL)
        die("objects walk: reported object %lu at %p in %s, which is not "
            "reachable (not reclaimed by a full collection?)", id, r->addr,
            pool_name[pk]);
      if (s->addr != r->addr)
        die("objects walk: object %lu reported at %p, it is at %p", id,
            r->addr, s->addr);
      if (id_pool[x] != pk)
        die("objects walk: object %lu reported in %s, allocated in %s", id,
            pool_name[pk], pool_name[(int)id_pool[x]]);
      if (++id_visits[x] != 1)
        die("objects walk: object %lu reported %u times", id, id_visits[x]);
      ++seen[pk];
    }
  }
  for (k = 0; k < NPOOLS; ++k)
    if (seen[k] != per_pool[k])
      die("objects walk: %zu objects reported in %s, %zu reachable",
          seen[k], pool_name[k], per_pool[k]);
  printf("walk: formatted objects walk: %zu objects, each once (AMC %zu, "
         "AMCZ %zu, AMS %zu, AWL %zu, LO %zu), %zu pads\n", nlive,
         seen[P_AMC], seen[P_AMCZ], seen[P_AMS], seen[P_AWL], seen[P_LO],
         pads);
  free(w.recs);
}

/* ---- 2. pool walk ---- */

typedef struct area {
  char *base, *limit;
} area;

typedef struct pwalk {
  unsigned long magic;
  mps_addr_t *objs;
  size_t nobj, cap;
  area *areas;
  size_t nareas, acap;
  size_t pads, fixes;
  int overflow, fwd_seen, changed, bad;
  mps_res_t fail_with;            /* non-OK: return it from the first call */
  unsigned long calls;
} pwalk;

static mps_res_t area_scan(mps_ss_t ss, void *base, void *limit,
                           void *closure)
{
  pwalk *w = closure;
  char *p;
  if (w == NULL || w->magic != WALK_MAGIC) {
    if (w != NULL)
      w->bad = 1;
    return MPS_RES_OK;
  }
  ++w->calls;
  if (w->fail_with != MPS_RES_OK)
    return w->fail_with;
  if (w->nareas < w->acap) {
    w->areas[w->nareas].base = base;
    w->areas[w->nareas].limit = limit;
    ++w->nareas;
  } else {
    w->overflow = 1;
  }
  MPS_SCAN_BEGIN(ss) {
    for (p = base; p < (char *)limit; ) {
      int kind = tf_kind(p);
      size_t size = tf_block_size(p);
      if (size == 0) {
        w->bad = 1;
        break;
      }
      if (kind == TF_FWD1 || kind == TF_FWDN) {
        w->fwd_seen = 1;
      } else if (kind == TF_PAD1 || kind == TF_PADN) {
        ++w->pads;
      } else {
        if (w->nobj < w->cap)
          w->objs[w->nobj++] = p;
        else
          w->overflow = 1;
        if (kind == TF_PAIR || kind == TF_VEC) {
          size_t i, n = tf_nrefs(p);
          for (i = 0; i < n; ++i) {
            mps_addr_t r = tf_ref(p, i), r0 = r;
            mps_res_t res = MPS_FIX12(ss, &r);
            if (res != MPS_RES_OK)
              return res;
            if (r != r0)
              w->changed = 1;
            tf_set_ref(p, i, r);
            ++w->fixes;
          }
        }
      }
      p += size;
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static int cmp_area(const void *a, const void *b)
{
  const area *x = a, *y = b;
  return x->base < y->base ? -1 : x->base > y->base;
}

static void phase_pool_walk(const size_t per_pool[NPOOLS])
{
  int k;
  for (k = 0; k < NPOOLS; ++k) {
    pwalk w;
    size_t i, expect = per_pool[k];
    memset(&w, 0, sizeof w);
    w.magic = WALK_MAGIC;
    w.cap = 2 * model.count + 1000;
    w.objs = malloc(w.cap * sizeof *w.objs);
    w.acap = 100000;
    w.areas = malloc(w.acap * sizeof *w.areas);
    if (w.objs == NULL || w.areas == NULL)
      die("out of memory");
    memset(id_visits, 0, sizeof id_visits);
    CHECK_RES(mps_pool_walk(pools[k], area_scan, &w));
    if (w.bad)
      die("pool walk %s: bad closure or unparsable area", pool_name[k]);
    if (w.overflow)
      die("pool walk %s: too many objects or areas", pool_name[k]);
    if (w.fwd_seen)
      die("pool walk %s: saw a forwarding marker", pool_name[k]);
    if (w.changed)
      die("pool walk %s: fixing a reference changed it (arena parked)",
          pool_name[k]);
    qsort(w.areas, w.nareas, sizeof *w.areas, cmp_area);
    for (i = 0; i < w.nareas; ++i) {
      if (w.areas[i].base > w.areas[i].limit)
        die("pool walk %s: area [%p, %p) inverted", pool_name[k],
            (void *)w.areas[i].base, (void *)w.areas[i].limit);
      if (i > 0 && w.areas[i - 1].limit > w.areas[i].base)
        die("pool walk %s: areas [%p, %p) and [%p, %p) overlap",
            pool_name[k], (void *)w.areas[i - 1].base,
            (void *)w.areas[i - 1].limit, (void *)w.areas[i].base,
            (void *)w.areas[i].limit);
    }
    for (i = 0; i < w.nobj; ++i) {
      unsigned long id = tf_id(w.objs[i]);
      size_t x = idx_of(id);
      if (id_node[x] == NULL)
        die("pool walk %s: object %lu at %p is not reachable", pool_name[k],
            id, w.objs[i]);
      if (id_node[x]->addr != w.objs[i] || id_pool[x] != k)
        die("pool walk %s: object %lu at %p: wrong address or pool",
            pool_name[k], id, w.objs[i]);
      if (++id_visits[x] != 1)
        die("pool walk %s: object %lu visited twice", pool_name[k], id);
    }
    if (w.nobj != expect)
      die("pool walk %s: %zu objects visited, %zu reachable in the pool",
          pool_name[k], w.nobj, expect);
    printf("walk: pool walk %-4s: %zu objects in %zu areas, %zu pads, %zu "
           "references fixed\n", pool_name[k], w.nobj, w.nareas, w.pads,
           w.fixes);

    /* a failing callback stops the walk and its result is returned */
    if (expect > 0) {
      mps_res_t res;
      memset(&w, 0, sizeof w);
      w.magic = WALK_MAGIC;
      w.fail_with = MPS_RES_LIMIT;
      res = mps_pool_walk(pools[k], area_scan, &w);
      if (res != MPS_RES_LIMIT)
        die("pool walk %s: callback failed with LIMIT, walk returned %s",
            pool_name[k], res_name(res));
      if (w.calls != 1)
        die("pool walk %s: callback called %lu times after failing",
            pool_name[k], w.calls);
    }
    free(w.objs);
    free(w.areas);
  }
}

/* ---- 3. introspection ---- */

static void phase_introspect(const size_t bytes[NPOOLS], void *mvff_block)
{
  mps_pool_t q;
  mps_fmt_t f;
  int local = 0, k;
  void *m = malloc(64);
  size_t committed = mps_arena_committed(arena);
  size_t reserved = mps_arena_reserved(arena);
  size_t spare = mps_arena_spare_committed(arena);
  size_t limit = mps_arena_commit_limit(arena);
  size_t sum = 0;

  if (m == NULL)
    die("out of memory");
  if (mps_addr_pool(&q, arena, m) || mps_addr_fmt(&f, arena, m) ||
      mps_arena_has_addr(arena, m))
    die("introspect: malloc'd memory reported in the arena");
  if (mps_addr_pool(&q, arena, &static_var) ||
      mps_arena_has_addr(arena, &static_var))
    die("introspect: a static variable reported in the arena");
  if (mps_addr_pool(&q, arena, &local) || mps_arena_has_addr(arena, &local))
    die("introspect: a stack variable reported in the arena");
  if (!mps_addr_pool(&q, arena, mvff_block) || q != mvff)
    die("introspect: MVFF block not reported in the MVFF pool");
  if (!mps_addr_pool(&q, arena, (char *)mvff_block + 100) || q != mvff)
    die("introspect: interior of an MVFF block not in the MVFF pool");
  if (mps_addr_fmt(&f, arena, mvff_block))
    die("introspect: mps_addr_fmt found a format for an MVFF block");
  if (!mps_arena_has_addr(arena, mvff_block))
    die("introspect: mps_arena_has_addr false for an MVFF block");
  free(m);

  for (k = 0; k < NPOOLS; ++k) {
    size_t t = mps_pool_total_size(pools[k]);
    size_t fr = mps_pool_free_size(pools[k]);
    if (fr > t)
      die("introspect: %s free size %zu > total size %zu", pool_name[k], fr,
          t);
    if (t - fr < bytes[k])
      die("introspect: %s holds %zu bytes of reachable objects, but total "
          "%zu - free %zu is less", pool_name[k], bytes[k], t, fr);
    sum += t;
    printf("walk: %-4s total %8zu free %8zu objects %8zu bytes\n",
           pool_name[k], t, fr, bytes[k]);
  }
  sum += mps_pool_total_size(mvff);
  if (mps_pool_total_size(mvff) < 4096 ||
      mps_pool_free_size(mvff) > mps_pool_total_size(mvff) - 4096)
    die("introspect: MVFF total %zu free %zu with a 4096-byte block",
        mps_pool_total_size(mvff), mps_pool_free_size(mvff));
  if (committed < sum)
    die("introspect: committed %zu < the pools' total %zu", committed, sum);
  if (reserved < committed)
    die("introspect: reserved %zu < committed %zu", reserved, committed);
  if (spare > committed)
    die("introspect: spare committed %zu > committed %zu", spare, committed);
  if (limit < committed)
    die("introspect: commit limit %zu < committed %zu", limit, committed);
  printf("walk: arena committed %zu, reserved %zu, spare %zu, limit %zu\n",
         committed, reserved, spare, limit);

  /* commit limit: set just above committed, read it back, restore */
  CHECK_RES(mps_arena_commit_limit_set(arena, committed + ((size_t)1 << 20)));
  if (mps_arena_commit_limit(arena) != committed + ((size_t)1 << 20))
    die("introspect: commit limit reads %zu after setting %zu",
        mps_arena_commit_limit(arena), committed + ((size_t)1 << 20));
  CHECK_RES(mps_arena_commit_limit_set(arena, limit));
  if (mps_arena_commit_limit(arena) != limit)
    die("introspect: commit limit not restored");

  /* spare memory: a big MVFF pool destroyed leaves spare pages, which
   * mps_arena_spare_set(0) returns at once */
  {
    mps_pool_t big;
    mps_addr_t p;
    size_t before, after, c1;
    int i;
    mps_arena_spare_set(arena, 0.9);
    CHECK_RES(mps_pool_create_k(&big, arena, mps_class_mvff(),
                                mps_args_none));
    for (i = 0; i < 64; ++i) {
      CHECK_RES(mps_alloc(&p, big, 65536));
      memset(p, 0xa5, 65536);
    }
    before = mps_arena_spare_committed(arena);
    c1 = mps_arena_committed(arena);
    mps_pool_destroy(big);
    after = mps_arena_spare_committed(arena);
    if (after <= before)
      die("introspect: destroying a pool of 4 MiB left spare committed at "
          "%zu (was %zu) with spare fraction 0.9", after, before);
    if (mps_arena_committed(arena) > c1)
      die("introspect: committed grew when a pool was destroyed");
    mps_arena_spare_set(arena, 0.0);
    if (mps_arena_spare_committed(arena) != 0)
      die("introspect: spare committed %zu after mps_arena_spare_set(0)",
          mps_arena_spare_committed(arena));
    printf("walk: spare committed %zu -> %zu after destroying a pool, 0 "
           "after spare_set(0)\n", before, after);
    mps_arena_spare_set(arena, 0.75);
  }
}

/* ---- 4. roots walk (in a child process) ---- */

typedef struct rwalk {
  unsigned long magic;
  mps_addr_t **refs;
  size_t n, cap;
  int bad;
} rwalk;

static void root_stepper(mps_addr_t *ref, mps_root_t root, void *p, size_t s)
{
  rwalk *w = p;
  (void)root;
  if (w == NULL || w->magic != WALK_MAGIC || s != WALK_S) {
    if (w != NULL)
      w->bad = 1;
    return;
  }
  if (w->n < w->cap)
    w->refs[w->n++] = ref;
  else
    w->bad = 1;
}

static int roots_walk_child(void)
{
  rwalk w;
  size_t i, j, expect = 0;
  memset(&w, 0, sizeof w);
  w.magic = WALK_MAGIC;
  w.cap = 100000;
  w.refs = malloc(w.cap * sizeof *w.refs);
  if (w.refs == NULL)
    return 3;
  mps_arena_roots_walk(arena, root_stepper, &w, WALK_S);
  if (w.bad)
    return 4;
  for (i = 0; i < NROOTS; ++i) {
    size_t count = 0;
    if (roots[i] == NULL)
      continue;
    ++expect;
    for (j = 0; j < w.n; ++j)
      if (w.refs[j] == &roots[i])
        ++count;
    if (count != 1) {
      fprintf(stderr, "roots walk: root slot %zu reported %zu times\n", i,
              count);
      return 5;
    }
  }
  if (w.n != expect) {
    fprintf(stderr, "roots walk: %zu references reported, %zu non-NULL "
            "root slots\n", w.n, expect);
    return 6;
  }
  return 0;
}

static void phase_roots_walk(void)
{
  int fds[2], status;
  pid_t pid;
  char buf[4096];
  size_t len = 0;
  ssize_t got;

  fflush(stdout);
  fflush(stderr);
  if (pipe(fds) != 0)
    die("pipe failed");
  pid = fork();
  if (pid < 0)
    die("fork failed");
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    _exit(roots_walk_child());
  }
  close(fds[1]);
  while (len < sizeof buf - 1 &&
         (got = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)got;
  buf[len] = '\0';
  close(fds[0]);
  if (waitpid(pid, &status, 0) != pid)
    die("waitpid failed");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    printf("walk: mps_arena_roots_walk reported every root reference once\n");
    return;
  }
  if (strstr(buf, "not implemented") != NULL) {
    printf("walk: mps_arena_roots_walk not implemented (asserts, as "
           "DESIGN.md#unimplemented says): skipped\n");
    return;
  }
  die("mps_arena_roots_walk failed in the child (status %#x): %s", status,
      buf);
}

int main(void)
{
  mps_chain_t chain;
  mps_thr_t thr;
  mps_root_t table_root;
  mps_gen_param_s gens[] = { { 256, 0.85 }, { 512, 0.45 } };
  mps_addr_t mvff_block;
  size_t per_pool[NPOOLS], bytes[NPOOLS], n;
  int k;

  test_init("walk");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
    test_arena_setup(arena);
  } MPS_ARGS_END(args);
  for (k = 0; k < NPOOLS; ++k)
    if (k != P_AMCZ)
      tf_fmt_create(&fmts[k], arena, 8);
  fmts[P_AMCZ] = fmts[P_AMC];        /* AMC and AMCZ share one */
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  for (k = 0; k < NPOOLS; ++k) {
    static mps_pool_class_t (*const cls[NPOOLS])(void) = {
      mps_class_amc, mps_class_amcz, mps_class_ams, mps_class_awl,
      mps_class_lo };
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmts[k]);
      MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
      if (k == P_AMS || k == P_AWL)      /* barrier-protected between */
        MPS_ARGS_ADD(args, MPS_KEY_GEN, 1);  /* collections */
      CHECK_RES(mps_pool_create_k(&pools[k], arena, cls[k](), args));
    } MPS_ARGS_END(args);
    CHECK_RES(mps_ap_create_k(&aps[k], pools[k], mps_args_none));
  }
  CHECK_RES(mps_pool_create_k(&mvff, arena, mps_class_mvff(), mps_args_none));
  CHECK_RES(mps_alloc(&mvff_block, mvff, 4096));
  memset(mvff_block, 0x3c, 4096);
  CHECK_RES(mps_root_create_table(&table_root, arena, mps_rank_exact(), 0,
                                   roots, NROOTS));
  CHECK_RES(mps_thread_reg(&thr, arena));
  tfm_init(&model, 1, 2);            /* odd ids: AWL words are tagged */

  build(test_scale(30000));
  n = collect_and_index(per_pool, bytes);
  phase_objects_walk(n, per_pool, mvff_block);
  phase_pool_walk(per_pool);
  /* the pool walks fixed every reference: the graph is unchanged */
  (void)collect_and_index(per_pool, bytes);
  phase_objects_walk(n, per_pool, mvff_block);
  phase_introspect(bytes, mvff_block);
  phase_roots_walk();

  /* more mutation and collection, then walk again */
  mps_arena_release(arena);
  build(test_scale(30000));
  n = collect_and_index(per_pool, bytes);
  phase_objects_walk(n, per_pool, mvff_block);
  phase_pool_walk(per_pool);
  for (k = 0; k < NPOOLS; ++k)
    if (per_pool[k] == 0)
      die("no reachable objects in %s: the test is too weak", pool_name[k]);

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(table_root);
  mps_free(mvff, mvff_block, 4096);
  mps_pool_destroy(mvff);
  for (k = 0; k < NPOOLS; ++k) {
    mps_ap_destroy(aps[k]);
    mps_pool_destroy(pools[k]);
  }
  mps_chain_destroy(chain);
  for (k = 0; k < NPOOLS; ++k)
    if (k != P_AMCZ)
      mps_fmt_destroy(fmts[k]);
  mps_arena_destroy(arena);
  tfm_finish(&model);
  printf("walk: OK\n");
  return 0;
}
