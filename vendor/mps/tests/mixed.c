/* mixed.c -- randomised stress over every automatic pool class
 *
 * The graph of stress.c spread over six kinds of home:
 *
 *   AMC    pairs and vectors (some large)     moving
 *   AMCZ   strings and one-word atoms         moving, never scanned
 *   AMS    pairs and vectors, exact AP        non-moving
 *   AMSA   pairs and vectors on an AMS AP     non-moving; their fields are
 *          of rank ambiguous                  never updated and pin their
 *                                             targets
 *   AWL    pairs and vectors, exact AP        non-moving
 *   LO     strings (some large)               non-moving, never scanned
 *
 * with references from every reference-holding home (AMC, AMS, AMSA,
 * AWL) to every home, verified against the shadow model after every
 * collection (hundreds, automatic and explicit).  Objects in the
 * non-moving homes must never move, stack-pinned objects must not move,
 * and at the end every (source, target) pair of homes must have been
 * seen as a live edge at some verification.
 *
 * AMS and AWL are in generation 1 of the chain (so their segments get
 * the write barrier between collections), LO in generation 0.
 * Roots: an exact table, an exact area, the thread's stack (pins).
 * Header size 0; ids are odd (AWL words other than references have a
 * non-zero low bit).  Environment: MPS_TEST_SEED, STRESS (scales the
 * number of collections, default 1000).
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscams.h"
#include "mpscawl.h"
#include "mpsclo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { H_AMC, H_AMCZ, H_AMS, H_AMSA, H_AWL, H_LO, NHOMES };
static const char *home_name[NHOMES] = { "AMC", "AMCZ", "AMS", "AMS-ambig",
                                         "AWL", "LO" };
static const int home_moves[NHOMES] = { 1, 1, 0, 0, 0, 0 };

#define NROOTS 500
#define NAREA 200
#define NSLOTS (NROOTS + NAREA)
#define NPINS 16

static void *roots[NROOTS];
static tf_node *sroots[NROOTS];
static void **aroots;
static tf_node *saroots[NAREA];

static mps_arena_t arena;
static mps_ap_t ap[NHOMES];
static mps_pool_t home_pool[NHOMES];
static tf_model model;

static signed char *id_home;      /* home of each object, by (id - 1) / 2 */
static size_t id_home_cap;

static unsigned long edges[NHOMES][NHOMES];   /* live edges ever seen */
static unsigned long n_verify, n_explicit;
static size_t max_live;

static void **slot_addr(size_t i)
{
  return i < NROOTS ? &roots[i] : &aroots[i - NROOTS];
}

static tf_node **sslot_addr(size_t i)
{
  return i < NROOTS ? &sroots[i] : &saroots[i - NROOTS];
}

static size_t idx_of(unsigned long id)
{
  return (size_t)((id - 1) / 2);
}

static void set_home(tf_node *s, int h)
{
  size_t x = idx_of(s->id);
  if (x >= id_home_cap) {
    size_t cap = id_home_cap ? 2 * id_home_cap : 65536;
    while (cap <= x)
      cap *= 2;
    id_home = realloc(id_home, cap);
    if (id_home == NULL)
      die("out of memory");
    memset(id_home + id_home_cap, -1, cap - id_home_cap);
    id_home_cap = cap;
  }
  id_home[x] = (signed char)h;
}

static int home_of(tf_node *s)
{
  return id_home[idx_of(s->id)];
}

static size_t random_vec_len(void)
{
  if (rnd_chance(1, 300))
    return 1000 + rnd_below(5000);
  if (rnd_chance(1, 10))
    return 16 + rnd_below(100);
  return rnd_below(16);
}

static size_t random_str_bytes(void)
{
  if (rnd_chance(1, 300))
    return 8 * (1024 + rnd_below(8192));
  return 8 * (1 + rnd_below(32));
}

static void *random_alloc(tf_node **s_o)
{
  size_t r = rnd_below(100);
  int h, kind;
  size_t n = 0;
  void *p;
  if (r < 60) {
    h = r < 18 ? H_AMC : r < 32 ? H_AMS : r < 38 ? H_AMSA : r < 50 ? H_AWL
      : H_AMC;
    kind = rnd_chance(1, 2) ? TF_PAIR : TF_VEC;
    if (kind == TF_VEC)
      n = random_vec_len();
  } else if (r < 75) {
    h = H_AMCZ;
    kind = rnd_chance(1, 3) ? TF_ATOM : TF_STR;
    if (kind == TF_STR)
      n = random_str_bytes();
  } else {
    h = H_LO;
    kind = TF_STR;
    n = random_str_bytes();
  }
  p = tfm_alloc(&model, ap[h], kind, n, s_o);
  set_home(*s_o, h);
  if (!home_moves[h])
    (*s_o)->home = (uintptr_t)p;
  return p;
}

static int has_refs(tf_node *s)
{
  return s != NULL && s->n > 0 && (s->kind == TF_PAIR || s->kind == TF_VEC);
}

static void count_edges(void)
{
  size_t i, j;
  for (i = 0; i < model.count; ++i) {
    tf_node *s = model.nodes[i];
    if (!has_refs(s))
      continue;
    for (j = 0; j < s->n; ++j)
      if (s->kids[j] != NULL)
        ++edges[home_of(s)][home_of(s->kids[j])];
  }
}

static void verify(void *volatile *pins, tf_node **spins, uintptr_t *pin_addr,
                   const char *when)
{
  void *pincopy[NPINS];
  size_t i, n;

  mps_arena_park(arena);
  for (i = 0; i < NPINS; ++i) {
    pincopy[i] = pins[i];
    if ((uintptr_t)pincopy[i] != pin_addr[i])
      die("%s: pinned object %zu (id %lu) moved from %p to %p", when, i,
          spins[i] ? spins[i]->id : 0UL, (void *)pin_addr[i], pincopy[i]);
  }
  tfm_verify_begin(&model);
  tfm_verify_roots(&model, roots, sroots, NROOTS, "table root");
  tfm_verify_roots(&model, aroots, saroots, NAREA, "area root");
  tfm_verify_roots(&model, pincopy, spins, NPINS, "stack pin");
  n = tfm_verify_end(&model);
  (void)tfm_check_homes(&model, when);
  for (i = 0; i < model.count; ++i) {
    tf_node *s = model.nodes[i];
    mps_pool_t q;
    int h = home_of(s);
    if (i % 16 == n_verify % 16 &&
        (!mps_addr_pool(&q, arena, s->addr) || q != home_pool[h]))
      die("%s: object %lu (%s) not in its pool", when, s->id, home_name[h]);
  }
  count_edges();
  if (n > max_live)
    max_live = n;
  ++n_verify;
  mps_arena_release(arena);
}

static void mutate(void *volatile *pins, tf_node **spins, uintptr_t *pin_addr)
{
  size_t r = rnd_below(1000);
  size_t a = rnd_below(NSLOTS), b = rnd_below(NSLOTS);
  void **pa = slot_addr(a);
  tf_node **sa = sslot_addr(a);

  if (r < 280) {                          /* new object */
    tf_node *s;
    void *p = random_alloc(&s);
    *pa = p;
    *sa = s;
  } else if (r < 400) {                   /* cons two root objects */
    static const int cons_home[] = { H_AMC, H_AMC, H_AMS, H_AMSA, H_AWL };
    int h = cons_home[rnd_below(5)];
    tf_node *s = tfm_new(&model, TF_PAIR, 2);
    void *car = *slot_addr(a), *cdr = *slot_addr(b);
    s->kids[0] = *sslot_addr(a);
    s->kids[1] = *sslot_addr(b);
    /* car and cdr are on the stack (ambiguous) across the allocation */
    *pa = tf_make_pair(ap[h], s->id, car, cdr);
    *sa = s;
    set_home(s, h);
    if (!home_moves[h])
      s->home = (uintptr_t)*pa;
  } else if (r < 650) {                   /* link a.slot = b or b's child */
    void *p = *pa, *q = *slot_addr(b);
    tf_node *s = *sa, *t = *sslot_addr(b);
    if (has_refs(s)) {
      if (has_refs(t) && rnd_chance(1, 3)) {
        size_t j = rnd_below(t->n);
        q = tf_ref(q, j);
        t = t->kids[j];
      }
      tfm_link(p, s, rnd_below(s->n), q, t);
    }
  } else if (r < 720) {                   /* unlink */
    if (has_refs(*sa))
      tfm_link(*pa, *sa, rnd_below((*sa)->n), NULL, NULL);
  } else if (r < 810) {                   /* overwrite a root slot */
    if (rnd_chance(1, 2)) {
      *pa = NULL;
      *sa = NULL;
    } else {
      *pa = *slot_addr(b);
      *sa = *sslot_addr(b);
    }
  } else if (r < 985) {                   /* descend */
    if (has_refs(*sa)) {
      size_t i = rnd_below((*sa)->n);
      *pa = tf_ref(*pa, i);
      *sa = (*sa)->kids[i];
    }
  } else {                                /* replace a stack-only pin */
    size_t k = rnd_below(NPINS);
    tf_node *s;
    void *p = random_alloc(&s);
    if (has_refs(s)) {                    /* children from root slots */
      size_t i;
      for (i = 0; i < s->n && i < 4; ++i) {
        size_t c = rnd_below(NSLOTS);
        tfm_link(p, s, i, *slot_addr(c), *sslot_addr(c));
      }
    }
    pins[k] = p;
    spins[k] = s;
    pin_addr[k] = (uintptr_t)p;
  }
}

static __attribute__((noinline)) void run(unsigned long target)
{
  void *volatile pins[NPINS];
  tf_node *spins[NPINS];
  uintptr_t *pin_addr = calloc(NPINS, sizeof *pin_addr);
  mps_word_t start = mps_collections(arena), seen = start;
  unsigned long steps = 0, next_collect, next_report = 100;
  double t0 = test_now();
  size_t i;
  int x, y;

  if (pin_addr == NULL)
    die("out of memory");
  for (i = 0; i < NPINS; ++i) {
    pins[i] = NULL;
    spins[i] = NULL;
  }
  next_collect = 500 + rnd_below(8000);
  while (mps_collections(arena) - start < target) {
    mutate(pins, spins, pin_addr);
    ++steps;
    if (steps >= next_collect) {
      ++n_explicit;
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
      next_collect = steps + 500 + rnd_below(8000);
    }
    if (mps_collections(arena) != seen) {
      verify(pins, spins, pin_addr, "after collection");
      seen = mps_collections(arena);
      if (seen - start >= next_report) {
        printf("mixed: %4lu collections (%lu explicit), %lu steps, %zu live "
               "objects, %lu forwarded, %.1fs\n",
               (unsigned long)(seen - start), n_explicit, steps, model.count,
               tf_fwd_count, test_now() - t0);
        next_report += 100;
      }
    }
    if (steps > 100000000UL)
      die("only %lu collections in %lu steps",
          (unsigned long)(mps_collections(arena) - start), steps);
  }
  verify(pins, spins, pin_addr, "at end");
  printf("mixed: done: %lu collections (%lu explicit), %lu verifications, "
         "%lu steps, max %zu reachable objects, %lu forwarded\n",
         (unsigned long)(mps_collections(arena) - start), n_explicit,
         n_verify, steps, max_live, tf_fwd_count);
  printf("mixed: live edges seen (rows: source home, columns: target):\n"
         "%-10s", "");
  for (y = 0; y < NHOMES; ++y)
    printf(" %9s", home_name[y]);
  printf("\n");
  for (x = 0; x < NHOMES; ++x) {
    printf("%-10s", home_name[x]);
    for (y = 0; y < NHOMES; ++y)
      printf(" %9lu", edges[x][y]);
    printf("\n");
  }
  for (x = 0; x < NHOMES; ++x)
    for (y = 0; y < NHOMES; ++y) {
      int holds_refs = x == H_AMC || x == H_AMS || x == H_AMSA || x == H_AWL;
      if (holds_refs && edges[x][y] == 0)
        die("no live edge from %s to %s was ever verified: the test is too "
            "weak", home_name[x], home_name[y]);
      if (!holds_refs && edges[x][y] != 0)
        die("model has an edge from leaf home %s", home_name[x]);
    }
  if (tf_fwd_count == 0)
    die("nothing was ever forwarded");
  if (mps_collections(arena) - start <= n_explicit)
    die("no automatic collection happened");
  free(pin_addr);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc, amcz, ams, awl, lo;
  mps_thr_t thr;
  mps_root_t table_root, area_root, stack_root;
  mps_gen_param_s gens[] = { { 150, 0.85 }, { 170, 0.45 } };
  void *marker = &marker;
  unsigned long target;
  int h;

  test_init("mixed");
  target = test_scale(1000);
  printf("mixed: target %lu collections\n", target);

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
    test_arena_setup(arena);
  } MPS_ARGS_END(args);
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
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_GEN, 1);
    CHECK_RES(mps_pool_create_k(&ams, arena, mps_class_ams(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_GEN, 1);
    CHECK_RES(mps_pool_create_k(&awl, arena, mps_class_awl(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_GEN, 0);
    CHECK_RES(mps_pool_create_k(&lo, arena, mps_class_lo(), args));
  } MPS_ARGS_END(args);
  home_pool[H_AMC] = amc;
  home_pool[H_AMCZ] = amcz;
  home_pool[H_AMS] = ams;
  home_pool[H_AMSA] = ams;
  home_pool[H_AWL] = awl;
  home_pool[H_LO] = lo;
  CHECK_RES(mps_ap_create_k(&ap[H_AMC], amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&ap[H_AMCZ], amcz, mps_args_none));
  CHECK_RES(mps_ap_create_k(&ap[H_AMS], ams, mps_args_none));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_RANK, mps_rank_ambig());
    CHECK_RES(mps_ap_create_k(&ap[H_AMSA], ams, args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_RANK, mps_rank_exact());
    CHECK_RES(mps_ap_create_k(&ap[H_AWL], awl, args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap[H_LO], lo, mps_args_none));

  aroots = calloc(NAREA, sizeof *aroots);
  if (aroots == NULL)
    die("out of memory");
  CHECK_RES(mps_root_create_table(&table_root, arena, mps_rank_exact(), 0,
                                   roots, NROOTS));
  CHECK_RES(mps_root_create_area(&area_root, arena, mps_rank_exact(), 0,
                                 aroots, aroots + NAREA, mps_scan_area, NULL));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr, marker));

  tfm_init(&model, 1, 2);
  run(target);

  mps_arena_park(arena);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(area_root);
  mps_root_destroy(table_root);
  for (h = 0; h < NHOMES; ++h)
    mps_ap_destroy(ap[h]);
  mps_pool_destroy(lo);
  mps_pool_destroy(awl);
  mps_pool_destroy(ams);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  free(aroots);
  free(id_home);
  tfm_finish(&model);
  printf("mixed: OK\n");
  return 0;
}
