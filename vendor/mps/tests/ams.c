/* ams.c -- the AMS pool class (Automatic Mark and Sweep)
 *
 * Pools: AMS (format with scan and skip only, chain + MPS_KEY_GEN), AMC
 * and AMCZ (the full test format, header size 0).  No thread root except
 * in phase 5: every reference the test relies on is in an exact table
 * root or in the heap, so nothing is kept alive by stale stack words
 * and the tests below are sensitive.  The C code never holds a pointer
 * to a movable object across an MPS call (it re-reads root slots).
 *
 *  1. random graph over AMS (two pools: MPS_KEY_GEN 0, and GEN 1 whose
 *     segments get the write barrier), AMC and AMCZ, shadow-model
 *     verified after every collection; AMS objects keep their address;
 *  2. AMS -> AMC references are updated when the AMC objects move, and
 *     AMC -> AMS references keep the AMS objects alive (and in place);
 *  3. an ambiguous-rank allocation point (MPS_KEY_RANK = ambig): words
 *     in its objects that look like pointers keep their targets alive
 *     and in place (pinned) and are never changed; other words too;
 *  4. churn: allocate 100x the live size; mps_pool_total_size stays
 *     bounded (dead objects are reclaimed and their space reused);
 *  5. with a thread root: an AMS object referenced only from the stack
 *     survives and stays intact (MPS_KEY_AMS_SUPPORT_AMBIGUOUS default);
 *  6. a second AMS pool with MPS_KEY_GEN = 1 and SUPPORT_AMBIGUOUS
 *     false works;
 *  7. a generation-1 AMS segment whose objects a collection scans out of
 *     address order (the one at the segment base last) keeps, in its
 *     barrier summary, the zones of every object's references.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NROOTS 512

static mps_arena_t arena;
static mps_fmt_t amc_fmt, ams_fmt;
static mps_chain_t chain;
static mps_pool_t amc, amcz, ams, ams1;   /* ams1: MPS_KEY_GEN 1 */
static mps_ap_t amc_ap, amcz_ap, ams_ap, ams1_ap;

static void *roots[NROOTS];          /* exact table root */
static tf_node *sroots[NROOTS];
static tf_model model;

static unsigned long next_id = 1000000000UL;   /* ids outside the model */

static int in_pool(void *p, mps_pool_t pool)
{
  mps_pool_t q;
  return mps_addr_pool(&q, arena, p) && q == pool;
}

/* ---- 1. random graph ---------------------------------------------------- */

static void *new_obj(tf_node **s_o)
{
  size_t r = rnd_below(100);
  mps_ap_t ap = rnd_chance(1, 2) ? ams_ap : ams1_ap;
  void *p;
  if (r < 30) {
    p = tfm_alloc(&model, ap, TF_PAIR, 2, s_o);
  } else if (r < 45) {
    size_t n = rnd_chance(1, 100) ? 1000 + rnd_below(4000) : rnd_below(20);
    p = tfm_alloc(&model, ap, TF_VEC, n, s_o);
  } else if (r < 50) {
    p = tfm_alloc(&model, ap, TF_STR, 8 * (1 + rnd_below(16)), s_o);
  } else if (r < 70) {
    return tfm_alloc(&model, amc_ap, TF_PAIR, 2, s_o);
  } else if (r < 80) {
    return tfm_alloc(&model, amc_ap, TF_VEC, rnd_below(20), s_o);
  } else if (r < 92) {
    return tfm_alloc(&model, amcz_ap, TF_STR, 8 * (1 + rnd_below(16)), s_o);
  } else {
    return tfm_alloc(&model, amcz_ap, TF_ATOM, 0, s_o);
  }
  (*s_o)->home = (uintptr_t)p;       /* AMS: must never move */
  return p;
}

static int has_refs(tf_node *s)
{
  return s != NULL && s->n > 0 && (s->kind == TF_PAIR || s->kind == TF_VEC);
}

static void mutate(void)
{
  size_t r = rnd_below(1000);
  size_t a = rnd_below(NROOTS), b = rnd_below(NROOTS);

  if (r < 300) {                          /* new object */
    tf_node *s;
    void *p = new_obj(&s);
    roots[a] = p;
    sroots[a] = s;
  } else if (r < 650) {                   /* link a.slot = b or b's child */
    void *q = roots[b];
    tf_node *t = sroots[b];
    if (has_refs(sroots[a])) {
      if (has_refs(t) && rnd_chance(1, 3)) {
        size_t j = rnd_below(t->n);
        q = tf_ref(q, j);
        t = t->kids[j];
      }
      tfm_link(roots[a], sroots[a], rnd_below(sroots[a]->n), q, t);
    }
  } else if (r < 730) {                   /* unlink */
    if (has_refs(sroots[a]))
      tfm_link(roots[a], sroots[a], rnd_below(sroots[a]->n), NULL, NULL);
  } else if (r < 820) {                   /* overwrite a root slot */
    if (rnd_chance(1, 2)) {
      roots[a] = NULL;
      sroots[a] = NULL;
    } else {
      roots[a] = roots[b];
      sroots[a] = sroots[b];
    }
  } else {                                /* descend */
    if (has_refs(sroots[a])) {
      size_t i = rnd_below(sroots[a]->n);
      roots[a] = tf_ref(roots[a], i);
      sroots[a] = sroots[a]->kids[i];
    }
  }
}

static size_t verify(const char *when)
{
  size_t n, homes;
  mps_arena_park(arena);
  tfm_verify_begin(&model);
  tfm_verify_roots(&model, roots, sroots, NROOTS, when);
  n = tfm_verify_end(&model);
  homes = tfm_check_homes(&model, when);
  mps_arena_release(arena);
  (void)n;
  return homes;
}

static void phase_random(void)
{
  unsigned long target = test_scale(400), steps = 0, next_collect;
  unsigned long fwd0 = tf_fwd_count, verifies = 0;
  mps_word_t start = mps_collections(arena), seen = start;
  size_t homes_max = 0, i;

  next_collect = 2000 + rnd_below(6000);
  while (mps_collections(arena) - start < target) {
    mutate();
    ++steps;
    if (steps >= next_collect) {
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
      next_collect = steps + 2000 + rnd_below(6000);
    }
    if (mps_collections(arena) != seen) {
      size_t h = verify("random graph");
      if (h > homes_max)
        homes_max = h;
      ++verifies;
      seen = mps_collections(arena);
    }
    if (steps > 50000000UL)
      die("random graph: only %lu collections after %lu steps",
          (unsigned long)(mps_collections(arena) - start), steps);
  }
  verify("random graph, end");
  printf("ams: random graph: %lu collections, %lu steps, %lu verifications, "
         "up to %zu AMS objects checked in place, %lu AMC objects forwarded\n",
         (unsigned long)(mps_collections(arena) - start), steps, verifies,
         homes_max, tf_fwd_count - fwd0);
  if (homes_max == 0)
    die("random graph: no AMS object was ever reachable");
  if (tf_fwd_count == fwd0)
    die("random graph: AMC never moved anything");
  for (i = 0; i < NROOTS; ++i) {
    roots[i] = NULL;
    sroots[i] = NULL;
  }
  verify("random graph, cleared");
}

/* ---- 2. references between AMS and AMC ---------------------------------- */

#define NCROSS 200

static void phase_cross(void)
{
  /* roots[0]: AMS vector V -> AMC pairs; roots[1]: AMC vector W -> AMS
   * pairs.  Nothing else refers to the pairs. */
  static uintptr_t amc_addr[NCROSS], ams_addr[NCROSS];
  static unsigned long amc_id[NCROSS], ams_id[NCROSS];
  unsigned long moved = 0, round;
  uintptr_t v_addr;
  size_t i;

  roots[0] = tf_make_vec(ams_ap, next_id++, NCROSS);
  v_addr = (uintptr_t)roots[0];
  roots[1] = tf_make_vec(amc_ap, next_id++, NCROSS);
  CHECK(in_pool(roots[0], ams));
  CHECK(in_pool(roots[1], amc));
  for (i = 0; i < NCROSS; ++i) {
    void *p;
    amc_id[i] = next_id++;
    p = tf_make_pair(amc_ap, amc_id[i], NULL, NULL);
    tf_set_ref(roots[0], i, p);
    ams_id[i] = next_id++;
    p = tf_make_pair(ams_ap, ams_id[i], NULL, NULL);
    tf_set_ref(roots[1], i, p);       /* roots[1] re-read: W may move */
  }
  for (i = 0; i < NCROSS; ++i) {
    amc_addr[i] = (uintptr_t)tf_ref(roots[0], i);
    ams_addr[i] = (uintptr_t)tf_ref(roots[1], i);
    CHECK(in_pool((void *)ams_addr[i], ams));
  }

  for (round = 0; round < 6; ++round) {
    /* garbage in both pools, then a full collection */
    unsigned long k;
    for (k = 0; k < 3000; ++k) {
      (void)tf_make_pair(amc_ap, next_id++, NULL, NULL);
      (void)tf_make_vec(ams_ap, next_id++, rnd_below(8));
    }
    CHECK_RES(mps_arena_collect(arena));
    if ((uintptr_t)roots[0] != v_addr)
      die("cross: AMS vector moved from %p to %p", (void *)v_addr, roots[0]);
    tf_check_obj(roots[0], "cross: AMS vector");
    tf_check_obj(roots[1], "cross: AMC vector");
    for (i = 0; i < NCROSS; ++i) {
      void *p = tf_ref(roots[0], i), *q = tf_ref(roots[1], i);
      tf_check_obj(p, "cross: AMC pair referenced from AMS");
      if (tf_id(p) != amc_id[i])
        die("cross: AMS slot %zu: AMC pair id %lu, expected %lu (stale "
            "reference not updated?)", i, tf_id(p), amc_id[i]);
      if (!in_pool(p, amc))
        die("cross: AMS slot %zu does not point into AMC", i);
      if ((uintptr_t)p != amc_addr[i]) {
        ++moved;
        amc_addr[i] = (uintptr_t)p;
      }
      tf_check_obj(q, "cross: AMS pair referenced from AMC");
      if ((uintptr_t)q != ams_addr[i])
        die("cross: AMS pair %zu moved from %p to %p", i, (void *)ams_addr[i],
            q);
      if (tf_id(q) != ams_id[i])
        die("cross: AMS pair %zu (only referenced from AMC) has id %lu, "
            "expected %lu: reclaimed while reachable?", i, tf_id(q),
            ams_id[i]);
    }
    mps_arena_release(arena);
  }
  printf("ams: cross references: %lu AMC moves seen through AMS slots\n",
         moved);
  if (moved == 0)
    die("cross: no AMC object referenced from AMS ever moved");
  roots[0] = roots[1] = NULL;
}

/* ---- 3. ambiguous-rank allocation point --------------------------------- */

enum { AM_PAIR, AM_INT, AM_AMS, AM_INTERIOR, AM_STR, AM_STATIC, AM_ODDPTR,
       AM_NSLOTS };

static unsigned long static_word = 42;

static void phase_ambig(void)
{
  mps_ap_t ambig_ap;
  uintptr_t want[AM_NSLOTS];
  unsigned long pair_id, str_id, ams_id, w_id, t_id, ctl_id;
  uintptr_t v_addr, ctl_addr;
  unsigned long round, ctl_moves = 0;
  void *v;
  size_t i;

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_RANK, mps_rank_ambig());
    CHECK_RES(mps_ap_create_k(&ambig_ap, ams, args));
  } MPS_ARGS_END(args);

  /* roots[0] = V (AMS, ambiguous), roots[1] = control vector C (AMS,
   * exact) whose slot 0 refers exactly to an AMC pair that must move. */
  roots[0] = tf_make_vec(ambig_ap, next_id++, AM_NSLOTS);
  v_addr = (uintptr_t)roots[0];
  roots[1] = tf_make_vec(ams_ap, next_id++, 1);
  ctl_id = next_id++;
  tf_set_ref(roots[1], 0, tf_make_pair(amc_ap, ctl_id, NULL, NULL));
  ctl_addr = (uintptr_t)tf_ref(roots[1], 0);

  /* AM_PAIR: an AMC pair whose car (exact) is an AMCZ string.  The
   * string goes via roots[2] while the pair is allocated. */
  str_id = next_id++;
  roots[2] = tf_make_str(amcz_ap, str_id, 64);
  pair_id = next_id++;
  {
    void *p = tf_make_pair(amc_ap, pair_id, NULL, NULL);
    tf_set_ref(p, 0, roots[2]);
    tf_set_ref(roots[0], AM_PAIR, p);
  }
  roots[2] = NULL;
  /* AM_INT: an integer that is not a plausible pointer */
  tf_set_ref(roots[0], AM_INT, (void *)(uintptr_t)0x123457);
  /* AM_AMS: an exact-rank AMS pair, client pointer */
  ams_id = next_id++;
  tf_set_ref(roots[0], AM_AMS, tf_make_pair(ams_ap, ams_id, NULL, NULL));
  /* AM_INTERIOR: a pointer into the middle of an AMC vector (interior
   * pointers pin with MPS_KEY_INTERIOR true, the default) */
  w_id = next_id++;
  tf_set_ref(roots[0], AM_INTERIOR,
             (char *)tf_make_vec(amc_ap, w_id, 6) + 3 * sizeof(void *));
  /* AM_STR: an AMCZ string */
  t_id = next_id++;
  tf_set_ref(roots[0], AM_STR, tf_make_str(amcz_ap, t_id, 200));
  /* AM_STATIC: an address outside the arena */
  tf_set_ref(roots[0], AM_STATIC, &static_word);
  /* AM_ODDPTR: an AMC pair's address plus one (not word-aligned: no
   * area scanner would have passed it, but the format's scan does) */
  tf_set_ref(roots[0], AM_ODDPTR,
             (char *)tf_make_pair(amc_ap, next_id++, NULL, NULL) + 1);

  v = roots[0];
  for (i = 0; i < AM_NSLOTS; ++i)
    want[i] = (uintptr_t)tf_ref(v, i);

  for (round = 0; round < 8; ++round) {
    unsigned long k;
    void *p;
    for (k = 0; k < 5000; ++k) {
      (void)tf_make_pair(amc_ap, next_id++, NULL, NULL);
      (void)tf_make_vec(amc_ap, next_id++, rnd_below(10));
      (void)tf_make_str(amcz_ap, next_id++, 64);
      (void)tf_make_pair(ams_ap, next_id++, NULL, NULL);
    }
    CHECK_RES(mps_arena_collect(arena));

    v = roots[0];
    if ((uintptr_t)v != v_addr)
      die("ambig: AMS object moved from %p to %p", (void *)v_addr, v);
    tf_check_obj(v, "ambig: the ambiguous-rank AMS vector");
    for (i = 0; i < AM_NSLOTS; ++i)
      if ((uintptr_t)tf_ref(v, i) != want[i])
        die("ambig: round %lu: ambiguous slot %zu changed from %#lx to %#lx",
            round, i, (unsigned long)want[i], (unsigned long)tf_ref(v, i));
    p = (void *)want[AM_PAIR];
    tf_check_obj(p, "ambig: AMC pair referenced only ambiguously");
    if (tf_id(p) != pair_id)
      die("ambig: AMC pair at %p has id %lu, expected %lu (not kept alive "
          "or moved)", p, tf_id(p), pair_id);
    p = tf_ref(p, 0);
    tf_check_obj(p, "ambig: string referenced exactly from a pinned pair");
    if (tf_id(p) != str_id)
      die("ambig: pinned pair's car has id %lu, expected %lu", tf_id(p),
          str_id);
    p = (void *)want[AM_AMS];
    tf_check_obj(p, "ambig: AMS pair referenced only ambiguously");
    if (tf_id(p) != ams_id)
      die("ambig: AMS pair id %lu, expected %lu", tf_id(p), ams_id);
    p = (char *)want[AM_INTERIOR] - 3 * sizeof(void *);
    tf_check_obj(p, "ambig: AMC vector referenced by an interior pointer");
    if (tf_id(p) != w_id || tf_nrefs(p) != 6)
      die("ambig: interior-referenced vector has id %lu, expected %lu",
          tf_id(p), w_id);
    p = (void *)want[AM_STR];
    tf_check_obj(p, "ambig: AMCZ string referenced only ambiguously");
    if (tf_id(p) != t_id)
      die("ambig: AMCZ string id %lu, expected %lu", tf_id(p), t_id);
    if (static_word != 42)
      die("ambig: a static variable was written");

    /* control: an exactly referenced AMC pair moves */
    p = tf_ref(roots[1], 0);
    tf_check_obj(p, "ambig: control pair");
    if (tf_id(p) != ctl_id)
      die("ambig: control pair id %lu, expected %lu", tf_id(p), ctl_id);
    if ((uintptr_t)p != ctl_addr) {
      ++ctl_moves;
      ctl_addr = (uintptr_t)p;
    }
    mps_arena_release(arena);
  }
  printf("ams: ambiguous AP: %d slots unchanged over 8 collections; control "
         "object moved %lu times\n", AM_NSLOTS, ctl_moves);
  if (ctl_moves == 0)
    die("ambig: the exactly referenced control object never moved, so the "
        "pinning checks prove nothing");
  roots[0] = roots[1] = NULL;
  mps_ap_destroy(ambig_ap);
}

/* ---- 4. churn: space is reclaimed and reused ---------------------------- */

#define NLIVE 400

static void phase_churn(void)
{
  size_t live_bytes = 0, total_max = 0, total, bound;
  size_t garbage = 0, target;
  unsigned long k = 0;
  mps_word_t c0;
  size_t i;

  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  c0 = mps_collections(arena);
  for (i = 0; i < NLIVE; ++i) {
    roots[i] = tf_make_vec(ams_ap, next_id++, 30);   /* 256 bytes each */
    live_bytes += tf_vec_size(30);
  }
  target = 100 * live_bytes;
  bound = 4 * live_bytes + ((size_t)3 << 20);
  while (garbage < target) {
    size_t n = rnd_chance(1, 500) ? 2000 + rnd_below(6000) : rnd_below(40);
    void *g = tf_make_vec(ams_ap, next_id++, n);
    garbage += tf_vec_size(n);
    if (n > 0 && rnd_chance(1, 8))     /* give the garbage a reference */
      tf_set_ref(g, 0, roots[rnd_below(NLIVE)]);
    if (++k % 64 == 0) {               /* replace a live object */
      size_t j = rnd_below(NLIVE);
      roots[j] = tf_make_vec(ams_ap, next_id++, 30);
      tf_set_ref(roots[j], 0, roots[rnd_below(NLIVE)]);
    }
    total = mps_pool_total_size(ams);
    if (total > total_max)
      total_max = total;
    if (total > bound)
      die("churn: AMS total size %zu after allocating %zu bytes (live %zu, "
          "bound %zu): dead objects not reclaimed or space not reused",
          total, garbage, live_bytes, bound);
  }
  printf("ams: churn: allocated %zu bytes, live %zu, AMS total size at most "
         "%zu (bound %zu), %lu collections\n", garbage, live_bytes, total_max,
         bound, (unsigned long)(mps_collections(arena) - c0));
  if (mps_collections(arena) == c0)
    die("churn: no automatic collection while allocating %zu bytes", garbage);
  CHECK_RES(mps_arena_collect(arena));
  total = mps_pool_total_size(ams);
  {
    size_t free_size = mps_pool_free_size(ams);
    if (free_size > total)
      die("churn: free size %zu > total size %zu", free_size, total);
    if (total - free_size < live_bytes)
      die("churn: AMS in use %zu < live %zu", total - free_size, live_bytes);
  }
  for (i = 0; i < NLIVE; ++i)
    tf_check_obj(roots[i], "churn: live AMS vector");
  mps_arena_release(arena);
  for (i = 0; i < NROOTS; ++i)
    roots[i] = NULL;
}

/* ---- 5. stack reference to an AMS object -------------------------------- */

#define NSTACK 8

static __attribute__((noinline)) void phase_stack_inner(void)
{
  void *volatile held[NSTACK];
  uintptr_t addr[NSTACK];
  unsigned long id[NSTACK], kid_id[NSTACK];
  unsigned long round, k;
  size_t i;

  for (i = 0; i < NSTACK; ++i) {
    void *p, *s;
    id[i] = next_id++;
    p = tf_make_pair(ams_ap, id[i], NULL, NULL);
    held[i] = p;
    kid_id[i] = next_id++;
    s = tf_make_str(amcz_ap, kid_id[i], 48);
    tf_set_ref(held[i], 0, s);
    addr[i] = (uintptr_t)held[i];
  }
  for (round = 0; round < 5; ++round) {
    for (k = 0; k < 20000; ++k)
      (void)tf_make_pair(ams_ap, next_id++, NULL, NULL);
    CHECK_RES(mps_arena_collect(arena));
    for (i = 0; i < NSTACK; ++i) {
      void *p = held[i];
      if ((uintptr_t)p != addr[i])
        die("stack: C variable changed?");
      tf_check_obj(p, "stack: AMS pair referenced only from the stack");
      if (tf_id(p) != id[i])
        die("stack: AMS pair %zu has id %lu, expected %lu (reclaimed while "
            "ambiguously referenced?)", i, tf_id(p), id[i]);
      tf_check_obj(tf_ref(p, 0), "stack: string referenced from it");
      if (tf_id(tf_ref(p, 0)) != kid_id[i])
        die("stack: its string has id %lu, expected %lu",
            tf_id(tf_ref(p, 0)), kid_id[i]);
    }
    mps_arena_release(arena);
  }
  for (i = 0; i < NSTACK; ++i)
    held[i] = NULL;
}

static void phase_stack(mps_thr_t thr, void *cold)
{
  mps_root_t stack_root;
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr, cold));
  phase_stack_inner();
  mps_arena_park(arena);
  mps_root_destroy(stack_root);
  mps_arena_release(arena);
  printf("ams: stack-referenced AMS objects survived 5 collections\n");
}

/* ---- 6. GEN 1, no ambiguous support ------------------------------------- */

static void phase_gen1(void)
{
  mps_pool_t ams2;
  mps_ap_t ap2;
  unsigned long ids[64];
  uintptr_t addr[64];
  size_t i;
  unsigned long k;

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, ams_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_GEN, 1);
    MPS_ARGS_ADD(args, MPS_KEY_AMS_SUPPORT_AMBIGUOUS, 0);
    CHECK_RES(mps_pool_create_k(&ams2, arena, mps_class_ams(), args));
    CHECK(args[0].key == MPS_KEY_ARGS_END);   /* all keys consumed */
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap2, ams2, mps_args_none));
  for (i = 0; i < 64; ++i) {
    ids[i] = next_id++;
    roots[i] = tf_make_pair(ap2, ids[i], NULL, NULL);
    addr[i] = (uintptr_t)roots[i];
    tf_set_ref(roots[i], 1, tf_make_str(amcz_ap, next_id++, 16));
  }
  for (k = 0; k < 20000; ++k)
    (void)tf_make_pair(ap2, next_id++, NULL, NULL);
  CHECK_RES(mps_arena_collect(arena));
  for (i = 0; i < 64; ++i) {
    if ((uintptr_t)roots[i] != addr[i] || !in_pool(roots[i], ams2))
      die("gen1: AMS object moved or left its pool");
    tf_check_obj(roots[i], "gen1: AMS pair");
    if (tf_id(roots[i]) != ids[i])
      die("gen1: id %lu, expected %lu", tf_id(roots[i]), ids[i]);
    tf_check_obj(tf_ref(roots[i], 1), "gen1: string");
    roots[i] = NULL;
  }
  mps_ap_destroy(ap2);
  mps_pool_destroy(ams2);
  mps_arena_release(arena);
}

/* ---- 7. summary of a segment whose objects are scanned out of order ----
 *
 * In a fresh AMS pool in generation 1 (write barrier between
 * collections), objects X0 (at the segment base) .. X9: the root refers
 * to X9, Xi to X(i-1), and Xi (i > 0) to Ti, an object in the
 * generation-0 AMS pool.  A full collection scans X9 first and X0 (which
 * refers to no Ti) last.  The segment's summary must still cover every
 * Ti, or the minor collections that follow skip the segment and free the
 * Ti.  A weak root on the Ti tells whether they died. */

#define NCHAIN 10

static void *wtargets[NCHAIN];       /* weak table root */

static void phase_summary(void)
{
  mps_pool_t src;
  mps_ap_t src_ap;
  mps_root_t wroot;
  void *x[NCHAIN];
  unsigned long tid[NCHAIN];
  mps_word_t c;
  size_t i;

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, ams_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_GEN, 1);
    CHECK_RES(mps_pool_create_k(&src, arena, mps_class_ams(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&src_ap, src, mps_args_none));
  CHECK_RES(mps_root_create_table(&wroot, arena, mps_rank_weak(), 0,
                                   wtargets, NCHAIN));
  mps_arena_park(arena);
  for (i = 0; i < NCHAIN; ++i)
    x[i] = tf_make_pair(src_ap, next_id++, NULL, NULL);
  for (i = 1; i < NCHAIN; ++i) {
    tid[i] = next_id++;
    wtargets[i] = tf_make_pair(ams_ap, tid[i], NULL, NULL);
    tf_set_ref(x[i], 1, wtargets[i]);
    tf_set_ref(x[i], 0, x[i - 1]);
  }
  roots[0] = x[NCHAIN - 1];
  mps_ap_destroy(src_ap);              /* detach the buffer */
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  c = mps_collections(arena);
  while (mps_collections(arena) < c + 3)
    (void)tf_make_pair(ams_ap, next_id++, NULL, NULL);
  mps_arena_park(arena);
  for (i = 1; i < NCHAIN; ++i) {
    void *t = tf_ref(x[i], 1);
    if (wtargets[i] == NULL)
      die("summary: generation-0 AMS object %lu, referenced from the "
          "generation-1 AMS object X%zu, died in a minor collection (the "
          "segment's summary lost its zone when X0, at the segment base, "
          "was scanned last?)", tid[i], i);
    if (t != wtargets[i])
      die("summary: X%zu refers to %p, the weak root to %p", i, t,
          wtargets[i]);
    tf_check_obj(t, "summary: target");
    if (tf_id(t) != tid[i])
      die("summary: target %zu has id %lu, expected %lu", i, tf_id(t),
          tid[i]);
  }
  roots[0] = NULL;
  mps_root_destroy(wroot);
  mps_pool_destroy(src);
  mps_arena_release(arena);
  printf("ams: generation-1 segment scanned out of address order kept its "
         "summary\n");
}

int main(void)
{
  mps_thr_t thr;
  mps_root_t table_root;
  mps_gen_param_s gens[] = { { 256, 0.85 }, { 512, 0.45 } };
  void *marker = &marker;

  test_init("ams");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
    test_arena_setup(arena);
  } MPS_ARGS_END(args);
  tf_fmt_create(&amc_fmt, arena, 0);
  tf_fmt_create_methods(&ams_fmt, arena, 0, TF_M_SCAN | TF_M_SKIP);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, amc_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, amc_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amcz, arena, mps_class_amcz(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, ams_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_GEN, 0);
    CHECK_RES(mps_pool_create_k(&ams, arena, mps_class_ams(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, ams_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_GEN, 1);
    CHECK_RES(mps_pool_create_k(&ams1, arena, mps_class_ams(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&amcz_ap, amcz, mps_args_none));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_RANK, mps_rank_exact());
    CHECK_RES(mps_ap_create_k(&ams_ap, ams, args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ams1_ap, ams1, mps_args_none));
  CHECK_RES(mps_root_create_table(&table_root, arena, mps_rank_exact(), 0,
                                   roots, NROOTS));
  CHECK_RES(mps_thread_reg(&thr, arena));

  tfm_init(&model, 1, 1);
  phase_random();
  phase_cross();
  phase_ambig();
  phase_churn();
  phase_stack(thr, marker);
  phase_gen1();
  phase_summary();

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(table_root);
  mps_ap_destroy(ams1_ap);
  mps_ap_destroy(ams_ap);
  mps_ap_destroy(amcz_ap);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(ams1);
  mps_pool_destroy(ams);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(ams_fmt);
  mps_fmt_destroy(amc_fmt);
  mps_arena_destroy(arena);
  tfm_finish(&model);
  printf("ams: OK\n");
  return 0;
}
