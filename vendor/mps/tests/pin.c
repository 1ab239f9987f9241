/* pin.c -- objects referenced only from the stack keep their address
 *
 * The format has a one-word in-band header (header size 8), so a client
 * pointer is base + 8.  Objects whose only reference is on the stack:
 *
 *   A  AMC vector, client pointer             must stay, contents intact
 *   B  AMC vector, interior pointer           must stay (INTERIOR default)
 *   C  AMC pair, pointer to the header (base) must stay (INTERIOR default)
 *   D  AMCZ string, interior pointer          must stay (word-aligned: the
 *                                             thread root ignores others)
 *   E  AMC (INTERIOR false) vector, client p. must stay
 *   F  AMC (INTERIOR false) vector, interior  need not stay (not checked)
 *
 * A, B, C hold exact references to strings that live only through them;
 * those may move, but must stay reachable and intact.  Between checks the
 * test allocates lots of garbage and survivors and runs collections.  As
 * a control, an object held only by an exact root must move at least once.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>
#include <stdlib.h>

enum { A, B, C, D, E, F, NREFS };
static const char *ref_kind[NREFS] = {
  "AMC, client pointer", "AMC, interior pointer", "AMC, header pointer",
  "AMCZ, interior pointer", "AMC no-interior, client pointer",
  "AMC no-interior, interior pointer"
};

#define NKEEP 64
#define DISGUISE ((uintptr_t)0x5a5a5a5a5a5a5a5bULL)  /* hides addresses */

static mps_arena_t arena;
static mps_ap_t amc_ap, amcz_ap, noint_ap;
static void *keep[NKEEP];        /* exact table root */

typedef struct expect {
  uintptr_t addr;       /* client pointer at creation */
  unsigned long id;
  int kind;
  size_t n;
  unsigned long kid_id[8];
} expect;

static expect ex[NREFS];
static unsigned long next_id = 1;

static void record(int k, void *p)
{
  size_t i;
  ex[k].addr = (uintptr_t)p;
  ex[k].id = tf_id(p);
  ex[k].kind = tf_kind(p);
  ex[k].n = tf_nrefs(p);
  for (i = 0; i < ex[k].n && i < 8; ++i)
    ex[k].kid_id[i] = tf_ref(p, i) ? tf_id(tf_ref(p, i)) : 0;
}

/* A vector of n slots in ap whose slots hold fresh strings. */
static void *vec_of_strings(mps_ap_t ap, size_t n)
{
  void *v = tf_make_vec(ap, next_id++, n);
  size_t i;
  for (i = 0; i < n; ++i) {
    void *s = tf_make_str(amcz_ap, next_id++, 8 * (1 + i));
    tf_set_ref(v, i, s);
  }
  return v;
}

/* Build the objects; leave only the chosen kind of reference in refs[]. */
static __attribute__((noinline)) void make_objects(void *volatile *refs)
{
  void *p;

  p = vec_of_strings(amc_ap, 6);
  record(A, p);
  refs[A] = p;

  p = vec_of_strings(amc_ap, 8);
  record(B, p);
  refs[B] = (char *)p + 3 * sizeof(void *);           /* interior */

  p = tf_make_pair(amc_ap, next_id++, NULL, NULL);
  tf_set_ref(p, 0, tf_make_str(amcz_ap, next_id++, 64));
  record(C, p);
  refs[C] = (char *)p - tf_header();                  /* the header */

  p = tf_make_str(amcz_ap, next_id++, 256);
  record(D, p);
  /* interior, word-aligned: mps_root_create_thread ignores words that
   * are not multiples of the word size */
  refs[D] = (char *)p + 13 * sizeof(void *);

  p = vec_of_strings(noint_ap, 4);
  record(E, p);
  refs[E] = p;

  p = vec_of_strings(noint_ap, 4);
  record(F, p);
  refs[F] = (char *)p + 2 * sizeof(void *);           /* interior */
}

static void check_objects(void *volatile *refs, const char *when)
{
  int k;
  for (k = 0; k < NREFS; ++k) {
    void *p = (void *)ex[k].addr;
    size_t i;
    if (k == F)
      continue;
    /* the stack word itself is ambiguous and is never rewritten */
    (void)refs[k];
    {
      char what[96];
      snprintf(what, sizeof what, "%s: pinned object %c (%s)", when, 'A' + k,
               ref_kind[k]);
      tf_check_obj(p, what);
    }
    if (tf_kind(p) != ex[k].kind || tf_id(p) != ex[k].id)
      die("%s: pinned object %c at %p: kind %d id %lu, expected kind %d id "
          "%lu", when, 'A' + k, p, tf_kind(p), tf_id(p), ex[k].kind,
          ex[k].id);
    for (i = 0; i < ex[k].n && i < 8; ++i) {
      void *q = tf_ref(p, i);
      if (ex[k].kid_id[i] == 0) {
        if (q != NULL)
          die("%s: %c slot %zu should be NULL", when, 'A' + k, i);
        continue;
      }
      tf_check_obj(q, when);
      if (tf_id(q) != ex[k].kid_id[i])
        die("%s: %c slot %zu: child id %lu, expected %lu", when, 'A' + k, i,
            tf_id(q), ex[k].kid_id[i]);
    }
  }
}

/* Garbage and survivors: fill the keep[] root with fresh objects. */
static __attribute__((noinline)) void churn(size_t bytes)
{
  size_t done = 0;
  while (done < bytes) {
    size_t r = rnd_below(4), k = 1 + rnd_below(NKEEP - 1);
    void *p;
    if (r == 0) {
      p = tf_make_str(amcz_ap, next_id++, 8 * (1 + rnd_below(64)));
    } else if (r == 1) {
      p = tf_make_vec(noint_ap, next_id++, rnd_below(10));
    } else {
      p = tf_make_pair(amc_ap, next_id++, keep[rnd_below(NKEEP)],
                       keep[rnd_below(NKEEP)]);
    }
    done += tf_block_size(p);
    if (rnd_chance(1, 8))
      keep[k] = p;
  }
}

/* noinline: refs[] must live in a frame below main's cold marker */
static __attribute__((noinline)) void run(void)
{
  void *volatile refs[NREFS];
  unsigned long rounds = test_scale(150), i;
  uintptr_t mover_first;
  unsigned long mover_moves = 0;

  make_objects(refs);
  stack_scrub();
  check_objects(refs, "after creation");

  mover_first = 0;
  for (i = 0; i < rounds; ++i) {
    uintptr_t before;           /* disguised: the stack is a root */
    /* control: a fresh object held only by an exact root slot, away from
     * the pinned objects' segments; it should usually move */
    keep[0] = tf_make_pair(amc_ap, 999999999UL, NULL, NULL);
    before = (uintptr_t)keep[0] ^ DISGUISE;
    if (mover_first == 0)
      mover_first = before;
    churn(200 * 1024 + rnd_below(300 * 1024));
    if (rnd_chance(1, 2)) {
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
    }
    mps_arena_park(arena);
    check_objects(refs, "after collection");
    if (tf_id(keep[0]) != 999999999UL)
      die("exact-root object lost its identity");
    if (((uintptr_t)keep[0] ^ DISGUISE) != before)
      ++mover_moves;
    mps_arena_release(arena);
    keep[1 + rnd_below(NKEEP - 1)] = NULL;
  }
  printf("pin: %lu rounds, %lu collections; the exact-root control object "
         "moved %lu times (first at %p)\n",
         rounds, (unsigned long)mps_collections(arena), mover_moves,
         (void *)(mover_first ^ DISGUISE));
  if (mover_moves == 0)
    die("object held only by an exact root never moved: test is vacuous");
  (void)refs;
}

int main(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc, amcz, noint;
  mps_thr_t thr;
  mps_root_t stack_root, keep_root;
  mps_gen_param_s gens[] = { { 256, 0.8 }, { 512, 0.4 } };
  void *marker = &marker;

  test_init("pin");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 8);
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
    MPS_ARGS_ADD(args, MPS_KEY_INTERIOR, 0);
    CHECK_RES(mps_pool_create_k(&noint, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&amcz_ap, amcz, mps_args_none));
  CHECK_RES(mps_ap_create_k(&noint_ap, noint, mps_args_none));
  CHECK_RES(mps_root_create_table(&keep_root, arena, mps_rank_exact(), 0,
                                  keep, NKEEP));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr, marker));

  run();

  mps_arena_park(arena);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(keep_root);
  mps_ap_destroy(noint_ap);
  mps_ap_destroy(amcz_ap);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(noint);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("pin: OK\n");
  return 0;
}
