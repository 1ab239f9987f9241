/* awl.c -- the AWL pool class (Automatic Weak Linked): weak-key tables
 *
 * A table is two AWL objects of the same length:
 *
 *   keys   allocated on a weak-rank AP; slot i is a weak reference to a
 *          key (an AMC pair); its dependent object is `vals`;
 *   vals   allocated on an exact-rank AP; slot i is an exact reference
 *          to the value of key i (an AMC pair or an AMCZ string).
 *
 * AWL object layout (own format, header size 0, methods scan and skip
 * only), every non-reference word with its low bit set:
 *
 *   [tag = nwords << 8 | kind << 3 | 1] [dependent | 1] [id << 1 | 1]
 *   [slot 0] ... [slot n-1]
 *
 * MPS_KEY_AWL_FIND_DEPENDENT maps keys to vals.  The scan method, when a
 * non-NULL weak slot reads NULL after MPS_FIX2 (a splat), clears the
 * same slot of the dependent object.
 *
 * Checked:
 *  - keys referenced elsewhere (an exact root) survive, and the weak slot
 *    is updated to the key's new address when it moves;
 *  - keys referenced only weakly are NULL after a full collection, and
 *    their value slots were cleared by the scan method (so the values die
 *    at the next collection: a weak root on them goes NULL);
 *  - a key referenced from its own value (exact, in vals) survives;
 *  - AWL objects never move;
 *  - tables live in two AWL pools, MPS_KEY_GEN 0 and 1 (the latter gets
 *    the write barrier between collections);
 *  - a generation-1 AWL segment whose objects a collection scans out of
 *    address order (the one at the segment base last) keeps the zones of
 *    every object's references in its barrier summary;
 *  - with automatic collections while entries are added and strong
 *    references dropped: at every collection, for every entry, key and
 *    value are both present and correct, or both NULL.
 *
 * No thread root: only roots and the heap keep objects alive, so the
 * expectations are exact.  Entries are built with the arena parked.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscawl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uintptr_t word;

enum { K_KEYS = 1, K_VALS = 2 };
#define HDR 3                          /* header words of an AWL object */
#define MKTAG(kind, nwords) (((word)(nwords) << 8) | ((word)(kind) << 3) | 1)
#define TAG_KIND(t) ((int)(((t) >> 3) & 0x1f))
#define TAG_NWORDS(t) ((size_t)((t) >> 8))

#define NTABLES 4
#define NENT 5000                     /* longest table */
static const size_t table_len[NTABLES] = { 400, 5000, 17, 1000 };

static mps_arena_t arena;
static mps_pool_t amc, amcz, awl[2];   /* MPS_KEY_GEN 0 and 1 */
static mps_ap_t amc_ap, amcz_ap;

/* scan method statistics and error report (no library calls inside) */
static unsigned long splats, dep_clears, scan_calls, finddep_calls;
static word *scan_error;

static mps_res_t awl_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  ++scan_calls;
  MPS_SCAN_BEGIN(ss) {
    word *p = base;
    while (p < (word *)limit) {
      word t = p[0];
      size_t nw = TAG_NWORDS(t), i;
      int kind = TAG_KIND(t);
      word *dep = NULL;
      if ((t & 7) != 1 || nw < HDR || (kind != K_KEYS && kind != K_VALS)) {
        scan_error = p;
        break;
      }
      if (kind == K_KEYS && p[1] != 1)
        dep = (word *)(p[1] & ~(word)1);
      for (i = HDR; i < nw; ++i) {
        mps_addr_t r = (mps_addr_t)p[i];
        if (r == NULL)              /* rule 10: test non-NULL first */
          continue;
        if (MPS_FIX1(ss, r)) {
          mps_res_t res = MPS_FIX2(ss, &r);
          if (res != MPS_RES_OK)
            return res;
          if (r == NULL) {
            ++splats;
            if (dep != NULL) {
              dep[i] = 0;
              ++dep_clears;
            }
          }
          p[i] = (word)r;
        }
      }
      p += nw;
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static mps_addr_t awl_skip(mps_addr_t addr)
{
  word *p = addr;
  return p + TAG_NWORDS(p[0]);
}

static mps_addr_t awl_find_dependent(mps_addr_t addr)
{
  word *p = addr;
  ++finddep_calls;
  if (TAG_KIND(p[0]) == K_KEYS && p[1] != 1)
    return (mps_addr_t)(p[1] & ~(word)1);
  return NULL;
}

static word *awl_make(mps_ap_t ap, int kind, size_t n, unsigned long id,
                      word *dep)
{
  size_t nw = HDR + n, size = nw * sizeof(word);
  mps_addr_t a;
  word *p;
  do {
    CHECK_RES(mps_reserve(&a, ap, size));
    p = a;
    p[0] = MKTAG(kind, nw);
    p[1] = dep != NULL ? (word)dep | 1 : 1;
    p[2] = ((word)id << 1) | 1;
    memset(&p[HDR], 0, n * sizeof(word));
  } while (!mps_commit(ap, a, size));
  return p;
}

static void check_awl_obj(word *p, int kind, size_t n, const char *what)
{
  if (p[0] != MKTAG(kind, HDR + n))
    die("%s: AWL object %p has tag %#lx, expected %#lx", what, (void *)p,
        (unsigned long)p[0], (unsigned long)MKTAG(kind, HDR + n));
}

/* ---- tables and their expectations ---- */

enum { E_EMPTY, E_STRONG, E_WEAK, E_SELF, E_DEAD };

typedef struct table {
  word *keys, *vals;                 /* AWL objects (also in roots[]) */
  size_t n;                          /* entries */
  uintptr_t keys_addr, vals_addr;
  int state[NENT];
  unsigned long key_id[NENT], val_id[NENT];
  int val_is_str[NENT];
  uintptr_t key_addr[NENT];          /* address when last checked */
} table;

static table tables[NTABLES];
static void *roots[2 * NTABLES];     /* exact: the AWL objects */
static void **strong;                /* exact area root: NTABLES * NENT */
static void **wvals;                 /* weak area root on the values */
static unsigned long next_id = 1;
static unsigned long key_moves;

#define STRONG(t, i) strong[(t) * NENT + (i)]
#define WVAL(t, i) wvals[(t) * NENT + (i)]

/* Fill entry (t, i) with a new key and value; arena must be parked (so
 * nothing moves or dies while the pieces are only in C variables). */
static void set_entry(size_t t, size_t i, int state)
{
  table *tb = &tables[t];
  void *key, *val;
  tb->key_id[i] = next_id++;
  key = tf_make_pair(amc_ap, tb->key_id[i], NULL, NULL);
  tb->val_id[i] = next_id++;
  tb->val_is_str[i] = state != E_SELF && rnd_chance(1, 3);
  if (tb->val_is_str[i]) {
    val = tf_make_str(amcz_ap, tb->val_id[i], 8 * (1 + rnd_below(8)));
  } else {
    val = tf_make_pair(amc_ap, tb->val_id[i], NULL, NULL);
    if (state == E_SELF)
      tf_set_ref(val, 0, key);
  }
  tb->keys[HDR + i] = (word)key;
  tb->vals[HDR + i] = (word)val;
  tb->key_addr[i] = (uintptr_t)key;
  STRONG(t, i) = state == E_STRONG ? key : NULL;
  WVAL(t, i) = val;
  tb->state[i] = state;
}

static int random_state(void)
{
  size_t r = rnd_below(10);
  return r < 4 ? E_STRONG : r < 9 ? E_WEAK : E_SELF;
}

/* Check every entry.  full: a full collection just finished (weak-only
 * keys must be gone).  Returns the number of weak-only keys found dead
 * (they become E_DEAD; their values are checked at the next full
 * collection through the weak root). */
static size_t check_tables(int full, const char *when)
{
  size_t t, i, died = 0;
  if (scan_error != NULL)
    die("%s: AWL scan method met a bad tag at %p", when, (void *)scan_error);
  for (t = 0; t < NTABLES; ++t) {
    table *tb = &tables[t];
    if ((uintptr_t)tb->keys != tb->keys_addr || roots[2 * t] != tb->keys)
      die("%s: keys object of table %zu moved", when, t);
    if ((uintptr_t)tb->vals != tb->vals_addr || roots[2 * t + 1] != tb->vals)
      die("%s: vals object of table %zu moved", when, t);
    check_awl_obj(tb->keys, K_KEYS, tb->n, when);
    check_awl_obj(tb->vals, K_VALS, tb->n, when);
    if (tb->keys[1] != ((word)tb->vals | 1))
      die("%s: keys object's dependent word changed", when);
    for (i = 0; i < tb->n; ++i) {
      void *k = (void *)tb->keys[HDR + i], *v = (void *)tb->vals[HDR + i];
      int st = tb->state[i];
      if (st == E_EMPTY || st == E_DEAD) {
        if (k != NULL || v != NULL)
          die("%s: table %zu entry %zu should be empty: key %p value %p",
              when, t, i, k, v);
        if (st == E_DEAD && full && WVAL(t, i) != NULL)
          die("%s: table %zu entry %zu: value %lu of a dead key is still "
              "alive after a full collection (weak root %p): the scan "
              "method's clearing of the dependent slot was lost",
              when, t, i, tb->val_id[i], WVAL(t, i));
        continue;
      }
      if (k == NULL) {
        if (st != E_WEAK)
          die("%s: table %zu entry %zu: key %lu (%s) was splatted while "
              "strongly reachable", when, t, i, tb->key_id[i],
              st == E_STRONG ? "in an exact root" : "referenced by its value");
        if (v != NULL)
          die("%s: table %zu entry %zu: key splatted but value %p not "
              "cleared (scan of the dependent object)", when, t, i, v);
        tb->state[i] = E_DEAD;
        ++died;
        continue;
      }
      if (full && st == E_WEAK)
        die("%s: table %zu entry %zu: weakly held key %lu at %p survived a "
            "full collection", when, t, i, tb->key_id[i], k);
      tf_check_obj(k, "key");
      if (tf_id(k) != tb->key_id[i])
        die("%s: table %zu entry %zu: key has id %lu, expected %lu", when, t,
            i, tf_id(k), tb->key_id[i]);
      if (st == E_STRONG && STRONG(t, i) != k)
        die("%s: table %zu entry %zu: weak slot %p differs from the strong "
            "reference %p (not updated when the key moved?)", when, t, i, k,
            STRONG(t, i));
      if ((uintptr_t)k != tb->key_addr[i]) {
        ++key_moves;
        tb->key_addr[i] = (uintptr_t)k;
      }
      if (v == NULL)
        die("%s: table %zu entry %zu: value cleared but key %lu alive", when,
            t, i, tb->key_id[i]);
      tf_check_obj(v, "value");
      if (tf_id(v) != tb->val_id[i])
        die("%s: table %zu entry %zu: value has id %lu, expected %lu", when,
            t, i, tf_id(v), tb->val_id[i]);
      if (WVAL(t, i) != v)
        die("%s: table %zu entry %zu: weak root on the value %p differs "
            "from the value slot %p", when, t, i, WVAL(t, i), v);
      if (st == E_SELF && tf_ref(v, 0) != k)
        die("%s: table %zu entry %zu: value's reference to its key is %p, "
            "key slot %p", when, t, i, tf_ref(v, 0), k);
    }
  }
  return died;
}

static void phase_basic(void)
{
  size_t t, i, nweak = 0, died;
  unsigned long s0 = splats, c0 = dep_clears;

  mps_arena_park(arena);
  for (t = 0; t < NTABLES; ++t)
    for (i = 0; i < tables[t].n; ++i) {
      int st = random_state();
      set_entry(t, i, st);
      if (st == E_WEAK)
        ++nweak;
    }
  CHECK_RES(mps_arena_collect(arena));
  died = check_tables(1, "basic, first collection");
  if (died != nweak)
    die("basic: %zu weakly held keys died, expected %zu", died, nweak);
  if (splats - s0 != nweak)
    die("basic: the scan method saw %lu splats, expected %zu", splats - s0,
        nweak);
  if (dep_clears - c0 != nweak)
    die("basic: %lu dependent slots cleared, expected %zu", dep_clears - c0,
        nweak);
  CHECK_RES(mps_arena_collect(arena));
  (void)check_tables(1, "basic, second collection");
  if (key_moves == 0)
    die("basic: no strongly held key ever moved (AMC should copy them)");
  printf("awl: basic: %zu keys weakly held died, their values were "
         "cleared and died; %lu key moves seen in the weak slots\n", nweak,
         key_moves);
  mps_arena_release(arena);
}

static void phase_churn(void)
{
  unsigned long target = test_scale(200), steps = 0, checks = 0, full = 0;
  size_t died = 0;
  mps_word_t start = mps_collections(arena), seen = start;

  while (mps_collections(arena) - start < target) {
    size_t r = rnd_below(100);
    size_t t = rnd_below(NTABLES), i = rnd_below(tables[t].n);
    int did_full = 0;
    if (r < 10) {                     /* new entry */
      mps_arena_park(arena);
      set_entry(t, i, random_state());
      mps_arena_release(arena);
    } else if (r < 15) {              /* drop the strong reference */
      if (tables[t].state[i] == E_STRONG) {
        STRONG(t, i) = NULL;
        tables[t].state[i] = E_WEAK;
      }
    } else if (r < 99) {              /* garbage: drives collections */
      (void)tf_make_pair(amc_ap, next_id++, NULL, NULL);
      (void)tf_make_str(amcz_ap, next_id++, 8 * (1 + rnd_below(30)));
    } else if (rnd_chance(1, 100)) {
      CHECK_RES(mps_arena_collect(arena));
      did_full = 1;
      ++full;
    }
    ++steps;
    if (mps_collections(arena) != seen) {
      mps_arena_park(arena);
      died += check_tables(did_full, did_full ? "churn, full collection"
                                               : "churn, collection");
      ++checks;
      mps_arena_release(arena);
      seen = mps_collections(arena);
    }
    if (steps > 20000000UL)
      die("churn: only %lu collections in %lu steps",
          (unsigned long)(mps_collections(arena) - start), steps);
  }
  CHECK_RES(mps_arena_collect(arena));
  died += check_tables(1, "churn, final full collection");
  CHECK_RES(mps_arena_collect(arena));
  died += check_tables(1, "churn, second final full collection");
  mps_arena_release(arena);
  printf("awl: churn: %lu collections (%lu full), %lu checks, %zu keys died, "
         "%lu splats, %lu dependent clears, %lu key moves, %lu scan calls, "
         "%lu find_dependent calls\n",
         (unsigned long)(mps_collections(arena) - start), full + 2, checks,
         died, splats, dep_clears, key_moves, scan_calls, finddep_calls);
  if (died == 0)
    die("churn: no key died");
}

/* ---- summary of a segment whose objects are scanned out of order ----
 *
 * In a fresh AWL pool in generation 1 (write barrier between
 * collections), exact objects X0 (at the segment base) .. X9: a root
 * refers to X9, Xi to X(i-1), and Xi (i > 0) to Ti, an exact AWL object
 * in the generation-0 pool.  A full collection scans X9 first and X0
 * (which refers to no Ti) last.  The segment's summary must still cover
 * every Ti, or the minor collections that follow skip the segment and
 * free the Ti (seen through a weak root). */

#define NCHAIN 10

static void *wtargets[NCHAIN];
static void *chain_root[1];

static void phase_summary(mps_fmt_t fmt, mps_chain_t chain, mps_ap_t gen0_ap)
{
  mps_pool_t src;
  mps_ap_t src_ap;
  mps_root_t wroot, croot;
  word *x[NCHAIN];
  mps_word_t c;
  size_t i;

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_GEN, 1);
    CHECK_RES(mps_pool_create_k(&src, arena, mps_class_awl(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&src_ap, src, mps_args_none));
  CHECK_RES(mps_root_create_table(&wroot, arena, mps_rank_weak(), 0,
                                   wtargets, NCHAIN));
  CHECK_RES(mps_root_create_table(&croot, arena, mps_rank_exact(), 0,
                                   chain_root, 1));
  mps_arena_park(arena);
  for (i = 0; i < NCHAIN; ++i)
    x[i] = awl_make(src_ap, K_VALS, 2, next_id++, NULL);
  for (i = 1; i < NCHAIN; ++i) {
    wtargets[i] = awl_make(gen0_ap, K_VALS, 0, next_id++, NULL);
    x[i][HDR + 1] = (word)wtargets[i];
    x[i][HDR + 0] = (word)x[i - 1];
  }
  chain_root[0] = x[NCHAIN - 1];
  mps_ap_destroy(src_ap);              /* detach the buffer */
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  c = mps_collections(arena);
  while (mps_collections(arena) < c + 3)
    (void)tf_make_pair(amc_ap, next_id++, NULL, NULL);
  mps_arena_park(arena);
  if (scan_error != NULL)
    die("summary: AWL scan method met a bad tag at %p", (void *)scan_error);
  for (i = 1; i < NCHAIN; ++i) {
    if (wtargets[i] == NULL)
      die("summary: generation-0 AWL object referenced from the "
          "generation-1 AWL object X%zu died in a minor collection (the "
          "segment's summary lost its zone when X0, at the segment base, "
          "was scanned last?)", i);
    if ((void *)x[i][HDR + 1] != wtargets[i])
      die("summary: X%zu refers to %p, the weak root to %p", i,
          (void *)x[i][HDR + 1], wtargets[i]);
    check_awl_obj(wtargets[i], K_VALS, 0, "summary: target");
  }
  chain_root[0] = NULL;
  for (i = 0; i < NCHAIN; ++i)
    wtargets[i] = NULL;
  mps_root_destroy(croot);
  mps_root_destroy(wroot);
  mps_pool_destroy(src);
  mps_arena_release(arena);
  printf("awl: generation-1 segment scanned out of address order kept its "
         "summary\n");
}

int main(void)
{
  mps_fmt_t tf_fmt, awl_fmt;
  mps_chain_t chain;
  mps_thr_t thr;
  mps_root_t root_objs, root_strong, root_weak;
  mps_ap_t weak_ap[2], exact_ap[2];
  mps_gen_param_s gens[] = { { 200, 0.85 }, { 400, 0.45 } };
  size_t t;

  test_init("awl");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
    test_arena_setup(arena);
  } MPS_ARGS_END(args);
  tf_fmt_create(&tf_fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ALIGN, sizeof(word));
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SCAN, awl_scan);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SKIP, awl_skip);
    CHECK_RES(mps_fmt_create_k(&awl_fmt, arena, args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, tf_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, tf_fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amcz, arena, mps_class_amcz(), args));
  } MPS_ARGS_END(args);
  for (t = 0; t < 2; ++t) {
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_FORMAT, awl_fmt);
      MPS_ARGS_ADD(args, MPS_KEY_AWL_FIND_DEPENDENT, awl_find_dependent);
      MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
      MPS_ARGS_ADD(args, MPS_KEY_GEN, (unsigned)t);
      CHECK_RES(mps_pool_create_k(&awl[t], arena, mps_class_awl(), args));
    } MPS_ARGS_END(args);
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_RANK, mps_rank_weak());
      CHECK_RES(mps_ap_create_k(&weak_ap[t], awl[t], args));
    } MPS_ARGS_END(args);
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_RANK, mps_rank_exact());
      CHECK_RES(mps_ap_create_k(&exact_ap[t], awl[t], args));
    } MPS_ARGS_END(args);
  }
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&amcz_ap, amcz, mps_args_none));

  strong = calloc(NTABLES * NENT, sizeof *strong);
  wvals = calloc(NTABLES * NENT, sizeof *wvals);
  if (strong == NULL || wvals == NULL)
    die("out of memory");
  CHECK_RES(mps_root_create_table(&root_objs, arena, mps_rank_exact(), 0,
                                   roots, 2 * NTABLES));
  CHECK_RES(mps_root_create_area(&root_strong, arena, mps_rank_exact(), 0,
                                 strong, strong + NTABLES * NENT,
                                 mps_scan_area, NULL));
  CHECK_RES(mps_root_create_area(&root_weak, arena, mps_rank_weak(), 0,
                                 wvals, wvals + NTABLES * NENT,
                                 mps_scan_area, NULL));
  CHECK_RES(mps_thread_reg(&thr, arena));

  for (t = 0; t < NTABLES; ++t) {
    table *tb = &tables[t];
    word *vals = awl_make(exact_ap[t % 2], K_VALS, table_len[t], next_id++,
                          NULL);
    roots[2 * t + 1] = vals;
    roots[2 * t] = awl_make(weak_ap[t % 2], K_KEYS, table_len[t], next_id++,
                            vals);
    tb->n = table_len[t];
    tb->vals = roots[2 * t + 1];
    tb->keys = roots[2 * t];
    tb->keys_addr = (uintptr_t)tb->keys;
    tb->vals_addr = (uintptr_t)tb->vals;
  }

  phase_summary(awl_fmt, chain, exact_ap[0]);

  /* Detach the AWL buffers, so that the tables' segments may get the
   * write barrier (in generation 1). */
  for (t = 0; t < 2; ++t) {
    mps_ap_destroy(exact_ap[t]);
    mps_ap_destroy(weak_ap[t]);
  }

  phase_basic();
  phase_churn();

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(root_weak);
  mps_root_destroy(root_strong);
  mps_root_destroy(root_objs);
  mps_ap_destroy(amcz_ap);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(awl[1]);
  mps_pool_destroy(awl[0]);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(awl_fmt);
  mps_fmt_destroy(tf_fmt);
  mps_arena_destroy(arena);
  free(strong);
  free(wvals);
  printf("awl: OK\n");
  return 0;
}
