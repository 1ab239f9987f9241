/* varargs.c -- the deprecated positional creators and _mps_RES_ENUM
 *
 * Every pool of this test is made with mps_pool_create or
 * mps_pool_create_v and every allocation point with mps_ap_create or
 * mps_ap_create_v, each class with the positional arguments its manual
 * page documents (DESIGN.md#varargs).  Checked:
 *
 *  1. _mps_RES_ENUM lists the nine result codes in order, with the
 *     values of the MPS_RES_* constants;
 *  2. the VM arena's positional size is honoured;
 *  3. a weak-key table in AWL (pool: format, find_dependent) whose keys
 *     object comes from mps_ap_create(&ap, awl, mps_rank_weak()) and its
 *     values object from mps_ap_create_v(..., mps_rank_exact()): after a
 *     full collection, keys held only by the table are NULL and their
 *     values were cleared through the dependent object; keys held by an
 *     exact root survive and follow their moves;
 *  4. an AMS pool (format, chain, support_ambiguous) with one point
 *     made by mps_ap_create_v(..., mps_rank_ambig()) and one by
 *     mps_ap_create(..., mps_rank_exact()): an AMC pair referenced only
 *     from the ambiguous object stays where it is, alive, and the word
 *     is unchanged; one referenced from the exact object moves and the
 *     reference follows it (so the collection does move objects, and an
 *     ambiguous point scanned as exact would fail the first check);
 *  5. LO (format) through mps_pool_create_v: a string survives intact;
 *  6. MVFF (extend, mean, align, slot_high, arena_high, first_fit): the
 *     alignment is honoured, slot_high decides whether consecutive blocks
 *     go up or down, arena_high puts the pool above a low one;
 *  7. MFS (extend, unit): units are distinct and do not overlap;
 *  8. AMC's mps_ap_create takes no positional argument.
 *
 * No thread root and the arena parked while objects are built: only the
 * exact roots keep objects alive, so the expectations are exact.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscams.h"
#include "mpscawl.h"
#include "mpsclo.h"
#include "mpscmfs.h"
#include "mpscmvff.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uintptr_t word;

static mps_arena_t arena;
static mps_fmt_t tf_fmt, ams_fmt, lo_fmt, awl_fmt;
static mps_chain_t chain;

/* ---- 1. result codes ---------------------------------------------- */

#define NAME_ROW(prefix, ident, doc) #ident,
#define VALUE_ROW(prefix, ident, doc) prefix##ident,
#define DOC_ROW(prefix, ident, doc) doc,

static void check_res_enum(void)
{
  static const char *const names[] = {_mps_RES_ENUM(NAME_ROW, MPS_RES_)};
  static const int values[] = {_mps_RES_ENUM(VALUE_ROW, MPS_RES_)};
  static const char *const docs[] = {_mps_RES_ENUM(DOC_ROW, unused)};
  static const char *const want[] = {"OK", "FAIL", "RESOURCE", "MEMORY",
                                     "LIMIT", "UNIMPL", "IO", "COMMIT_LIMIT",
                                     "PARAM"};
  size_t i, n = sizeof names / sizeof names[0];
  CHECKF(n == (size_t)_mps_MPS_RES_LIMIT && n == sizeof want / sizeof *want,
         "_mps_RES_ENUM has %zu rows, expected %d", n, _mps_MPS_RES_LIMIT);
  for (i = 0; i < n; ++i) {
    CHECKF(strcmp(names[i], want[i]) == 0, "row %zu is %s, expected %s", i,
           names[i], want[i]);
    CHECKF(values[i] == (int)i, "MPS_RES_%s is %d, expected %zu", names[i],
           values[i], i);
    CHECKF(docs[i] != NULL && docs[i][0] != '\0', "row %zu has no text", i);
  }
  CHECK(values[7] == MPS_RES_COMMIT_LIMIT && values[8] == MPS_RES_PARAM);
}

/* ---- helpers reaching the _v forms ---------------------------------- */

static mps_res_t pool_create_v(mps_pool_t *pool_o, mps_pool_class_t klass,
                               ...)
{
  mps_res_t res;
  va_list varargs;
  va_start(varargs, klass);
  res = mps_pool_create_v(pool_o, arena, klass, varargs);
  va_end(varargs);
  return res;
}

static mps_res_t ap_create_v(mps_ap_t *ap_o, mps_pool_t pool, ...)
{
  mps_res_t res;
  va_list varargs;
  va_start(varargs, pool);
  res = mps_ap_create_v(ap_o, pool, varargs);
  va_end(varargs);
  return res;
}

/* ---- 3. the AWL weak-key table ------------------------------------- */

/* AWL object: [tag = nwords << 8 | kind << 3 | 1] [dependent | 1]
 * [slot 0] ... [slot n-1]; non-reference words have the low bit set. */
enum { K_KEYS = 1, K_VALS = 2 };
#define HDR 2
#define MKTAG(kind, nwords) (((word)(nwords) << 8) | ((word)(kind) << 3) | 1)
#define TAG_KIND(t) ((int)(((t) >> 3) & 0x1f))
#define TAG_NWORDS(t) ((size_t)((t) >> 8))

static unsigned long splats, dep_clears;
static word *bad_tag;

static mps_res_t awl_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  MPS_SCAN_BEGIN(ss) {
    word *p = base;
    while (p < (word *)limit) {
      word t = p[0];
      size_t nw = TAG_NWORDS(t), i;
      word *dep = NULL;
      if ((t & 7) != 1 || nw < HDR) {
        bad_tag = p;
        break;
      }
      if (TAG_KIND(t) == K_KEYS && p[1] != 1)
        dep = (word *)(p[1] & ~(word)1);
      for (i = HDR; i < nw; ++i) {
        mps_addr_t r = (mps_addr_t)p[i];
        if (r == NULL || !MPS_FIX1(ss, r))
          continue;
        {
          mps_res_t res = MPS_FIX2(ss, &r);
          if (res != MPS_RES_OK)
            return res;
        }
        if (r == NULL) {
          ++splats;
          if (dep != NULL) {
            dep[i] = 0;
            ++dep_clears;
          }
        }
        p[i] = (word)r;
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
  if (TAG_KIND(p[0]) == K_KEYS && p[1] != 1)
    return (mps_addr_t)(p[1] & ~(word)1);
  return NULL;
}

static word *awl_make(mps_ap_t ap, int kind, size_t n, word *dep)
{
  size_t nw = HDR + n, size = nw * sizeof(word);
  mps_addr_t a;
  word *p;
  do {
    CHECK_RES(mps_reserve(&a, ap, size));
    p = a;
    p[0] = MKTAG(kind, nw);
    p[1] = dep != NULL ? (word)dep | 1 : 1;
    memset(&p[HDR], 0, n * sizeof(word));
  } while (!mps_commit(ap, a, size));
  return p;
}

#define NENT 600
static void *awl_roots[2];           /* exact: the keys and vals objects */
static void *strong[NENT];           /* exact: the strongly held keys */

static void phase_awl(mps_pool_t amc, mps_ap_t amc_ap)
{
  mps_pool_t awl;
  mps_ap_t weak_ap, exact_ap;
  mps_root_t r1, r2;
  word *keys, *vals;
  unsigned long key_id[NENT], val_id[NENT];
  int held[NENT];
  uintptr_t old_addr[NENT];
  size_t i, nheld = 0, ndead = 0, moved = 0;
  (void)amc;

  CHECK_RES(mps_pool_create(&awl, arena, mps_class_awl(), awl_fmt,
                            awl_find_dependent));
  CHECK_RES(mps_ap_create(&weak_ap, awl, mps_rank_weak()));
  CHECK_RES(ap_create_v(&exact_ap, awl, mps_rank_exact()));
  CHECK_RES(mps_root_create_table(&r1, arena, mps_rank_exact(), 0,
                                  awl_roots, 2));
  CHECK_RES(mps_root_create_table(&r2, arena, mps_rank_exact(), 0, strong,
                                  NENT));

  mps_arena_park(arena);
  vals = awl_make(exact_ap, K_VALS, NENT, NULL);
  awl_roots[1] = vals;
  keys = awl_make(weak_ap, K_KEYS, NENT, vals);
  awl_roots[0] = keys;
  for (i = 0; i < NENT; ++i) {
    void *k, *v;
    key_id[i] = 100000 + i;
    val_id[i] = 200000 + i;
    k = tf_make_pair(amc_ap, key_id[i], NULL, NULL);
    v = tf_make_pair(amc_ap, val_id[i], NULL, NULL);
    held[i] = rnd_chance(1, 2);
    nheld += (size_t)held[i];
    strong[i] = held[i] ? k : NULL;
    old_addr[i] = (uintptr_t)k;
    keys[HDR + i] = (word)k;
    vals[HDR + i] = (word)v;
  }
  CHECK(nheld > 0 && nheld < NENT);

  CHECK_RES(mps_arena_collect(arena));
  CHECKF(bad_tag == NULL, "AWL scan met a bad tag at %p", (void *)bad_tag);
  CHECKF(awl_roots[0] == keys && awl_roots[1] == vals,
         "AWL objects moved");
  for (i = 0; i < NENT; ++i) {
    void *k = (void *)keys[HDR + i], *v = (void *)vals[HDR + i];
    if (!held[i]) {
      CHECKF(k == NULL,
             "entry %zu: key %lu, held only by the weak table, survived a "
             "full collection at %p (the weak point was not weak)",
             i, key_id[i], k);
      CHECKF(v == NULL, "entry %zu: key splatted, value %p not cleared", i,
             v);
      ++ndead;
      continue;
    }
    CHECKF(k != NULL, "entry %zu: strongly held key %lu was splatted", i,
           key_id[i]);
    CHECKF(k == strong[i], "entry %zu: key at %p, its root says %p", i, k,
           strong[i]);
    tf_check_obj(k, "awl: key");
    CHECKF(tf_id(k) == key_id[i], "entry %zu: key id %lu, expected %lu", i,
           tf_id(k), key_id[i]);
    CHECKF(v != NULL, "entry %zu: value of a live key was cleared", i);
    tf_check_obj(v, "awl: value");
    CHECKF(tf_id(v) == val_id[i], "entry %zu: value id %lu, expected %lu", i,
           tf_id(v), val_id[i]);
    moved += (uintptr_t)k != old_addr[i];
  }
  CHECKF(splats >= ndead && dep_clears >= ndead,
         "%lu splats and %lu dependent clears for %zu dead keys", splats,
         dep_clears, ndead);
  CHECKF(moved > 0, "no strongly held key moved: the test cannot tell a "
                    "weak reference that is updated from one never fixed");
  printf("varargs: awl: %zu keys held, %zu splatted, %zu moved\n", nheld,
         ndead, moved);

  mps_root_destroy(r2);
  mps_root_destroy(r1);
  mps_ap_destroy(exact_ap);
  mps_ap_destroy(weak_ap);
  mps_pool_destroy(awl);
  mps_arena_release(arena);
}

/* ---- 4. AMS: ambiguous and exact points ---------------------------- */

static void *ams_roots[2];

static void phase_ams(mps_ap_t amc_ap)
{
  mps_pool_t ams;
  mps_ap_t ambig_ap, exact_ap;
  mps_root_t root;
  void *amb, *ex, *p, *q;
  uintptr_t p_addr, q_addr;
  unsigned round;

  CHECK_RES(mps_pool_create(&ams, arena, mps_class_ams(), ams_fmt, chain,
                            (mps_bool_t)1));
  CHECK_RES(ap_create_v(&ambig_ap, ams, mps_rank_ambig()));
  CHECK_RES(mps_ap_create(&exact_ap, ams, mps_rank_exact()));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0,
                                  ams_roots, 2));
  mps_arena_park(arena);
  amb = tf_make_vec(ambig_ap, 1, 2);
  ams_roots[0] = amb;
  ex = tf_make_vec(exact_ap, 2, 1);
  ams_roots[1] = ex;
  p = tf_make_pair(amc_ap, 3, NULL, NULL);
  q = tf_make_pair(amc_ap, 4, NULL, NULL);
  p_addr = (uintptr_t)p;
  q_addr = (uintptr_t)q;
  tf_set_ref(amb, 0, p);
  tf_set_ref(amb, 1, (void *)(uintptr_t)0x7777); /* not a pointer */
  tf_set_ref(ex, 0, q);
  p = q = NULL;

  for (round = 0; round < 3; ++round) {
    CHECK_RES(mps_arena_collect(arena));
    CHECK(ams_roots[0] == amb && ams_roots[1] == ex);
    tf_check_obj(amb, "ams: ambiguous vector");
    CHECKF((uintptr_t)tf_ref(amb, 0) == p_addr,
           "round %u: the ambiguous object's reference changed from %#lx to "
           "%p: the point made with mps_rank_ambig() was scanned as exact",
           round, (unsigned long)p_addr, tf_ref(amb, 0));
    CHECK((uintptr_t)tf_ref(amb, 1) == 0x7777);
    tf_check_obj((void *)p_addr, "ams: pair pinned by an ambiguous object");
    CHECKF(tf_id((void *)p_addr) == 3, "pinned pair has id %lu",
           tf_id((void *)p_addr));
    q = tf_ref(ex, 0);
    tf_check_obj(q, "ams: pair referenced exactly");
    CHECKF(tf_id(q) == 4, "exactly referenced pair has id %lu", tf_id(q));
  }
  CHECKF((uintptr_t)q != q_addr,
         "the exactly referenced pair never moved: the test is not "
         "sensitive to an ambiguous point scanned as exact");
  mps_root_destroy(root);
  mps_ap_destroy(exact_ap);
  mps_ap_destroy(ambig_ap);
  mps_pool_destroy(ams);
  mps_arena_release(arena);
}

/* ---- 5. LO ------------------------------------------------------------ */

static void *lo_root[1];

static void phase_lo(void)
{
  mps_pool_t lo;
  mps_ap_t ap;
  mps_root_t root;
  CHECK_RES(pool_create_v(&lo, mps_class_lo(), lo_fmt));
  CHECK_RES(mps_ap_create(&ap, lo));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0,
                                  lo_root, 1));
  lo_root[0] = tf_make_str(ap, 77, 256);
  (void)tf_make_str(ap, 78, 256); /* garbage */
  CHECK_RES(mps_arena_collect(arena));
  tf_check_obj(lo_root[0], "lo: string");
  CHECK(tf_id(lo_root[0]) == 77);
  mps_root_destroy(root);
  mps_ap_destroy(ap);
  mps_pool_destroy(lo);
  mps_arena_release(arena);
}

/* ---- 6. MVFF ----------------------------------------------------------- */

static void phase_mvff(void)
{
  mps_pool_t up, down;
  mps_addr_t a[64], b[64];
  size_t i, sizes[64];
  /* extend, mean, align, slot_high, arena_high, first_fit */
  CHECK_RES(mps_pool_create(&up, arena, mps_class_mvff(), (size_t)65536,
                            (size_t)32, (mps_align_t)64, (mps_bool_t)0,
                            (mps_bool_t)0, (mps_bool_t)1));
  CHECK_RES(pool_create_v(&down, mps_class_mvff(), (size_t)65536, (size_t)32,
                          (mps_align_t)16, (mps_bool_t)1, (mps_bool_t)1,
                          (mps_bool_t)0));
  for (i = 0; i < 64; ++i) {
    sizes[i] = 1 + rnd_below(200);
    CHECK_RES(mps_alloc(&a[i], up, sizes[i]));
    CHECK_RES(mps_alloc(&b[i], down, sizes[i]));
    CHECKF(((uintptr_t)a[i] & 63) == 0, "MVFF align 64: block at %p",
           a[i]);
    CHECKF(((uintptr_t)b[i] & 15) == 0, "MVFF align 16: block at %p",
           b[i]);
    memset(a[i], (int)i, sizes[i]);
    memset(b[i], (int)(i + 100), sizes[i]);
    if (i > 0) {
      CHECKF((uintptr_t)a[i] > (uintptr_t)a[i - 1],
             "slot_high false: block %zu at %p below block %zu at %p", i,
             a[i], i - 1, a[i - 1]);
      CHECKF((uintptr_t)b[i] < (uintptr_t)b[i - 1],
             "slot_high true: block %zu at %p above block %zu at %p", i,
             b[i], i - 1, b[i - 1]);
    }
  }
  CHECKF((uintptr_t)b[0] > (uintptr_t)a[0],
         "arena_high true: pool at %p below the arena_high false pool at %p",
         b[0], a[0]);
  for (i = 0; i < 64; ++i) {
    size_t j;
    for (j = 0; j < sizes[i]; ++j) {
      CHECK(((unsigned char *)a[i])[j] == (unsigned char)i);
      CHECK(((unsigned char *)b[i])[j] == (unsigned char)(i + 100));
    }
    mps_free(up, a[i], sizes[i]);
    mps_free(down, b[i], sizes[i]);
  }
  mps_pool_destroy(down);
  mps_pool_destroy(up);
}

/* ---- 7. MFS ------------------------------------------------------------ */

#define UNIT 48
#define NUNITS 700

static void phase_mfs(void)
{
  mps_pool_t mfs;
  static unsigned char *u[NUNITS];
  size_t i;
  CHECK_RES(mps_pool_create(&mfs, arena, mps_class_mfs(), (size_t)8192,
                            (size_t)UNIT));
  for (i = 0; i < NUNITS; ++i) {
    mps_addr_t p;
    CHECK_RES(mps_alloc(&p, mfs, UNIT));
    u[i] = p;
    memset(u[i], (int)(i & 0xff), UNIT);
  }
  for (i = 0; i < NUNITS; ++i) {
    size_t j;
    for (j = 0; j < UNIT; ++j)
      CHECKF(u[i][j] == (unsigned char)(i & 0xff),
             "MFS unit %zu at %p overlaps another", i, (void *)u[i]);
  }
  CHECKF(mps_pool_total_size(mfs) >= (size_t)NUNITS * UNIT &&
             mps_pool_total_size(mfs) < (size_t)NUNITS * UNIT * 2,
         "MFS pool of %d units of %d bytes has %zu bytes", NUNITS, UNIT,
         mps_pool_total_size(mfs));
  for (i = 0; i < NUNITS; ++i)
    mps_free(mfs, u[i], UNIT);
  mps_pool_destroy(mfs);
}

int main(void)
{
  mps_pool_t amc;
  mps_ap_t amc_ap;
  mps_thr_t thr;
  mps_gen_param_s gens[] = {{256, 0.85}, {512, 0.45}};

  test_init("varargs");
  check_res_enum();

  CHECK_RES(mps_arena_create(&arena, mps_arena_class_vm(), (size_t)48 << 20));
  CHECKF(mps_arena_reserved(arena) >= ((size_t)48 << 20),
         "arena reserved %zu bytes, asked for 48 MiB",
         mps_arena_reserved(arena));
  test_arena_setup(arena);
  CHECK_RES(mps_thread_reg(&thr, arena));
  tf_fmt_create(&tf_fmt, arena, 0);
  tf_fmt_create_methods(&ams_fmt, arena, 0, TF_M_SCAN | TF_M_SKIP);
  tf_fmt_create_methods(&lo_fmt, arena, 0, TF_M_SKIP);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SCAN, awl_scan);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SKIP, awl_skip);
    CHECK_RES(mps_fmt_create_k(&awl_fmt, arena, args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  CHECK_RES(mps_pool_create(&amc, arena, mps_class_amc(), tf_fmt, chain));
  CHECK_RES(mps_ap_create(&amc_ap, amc));

  phase_awl(amc, amc_ap);
  phase_ams(amc_ap);
  phase_lo();
  phase_mvff();
  phase_mfs();

  mps_arena_park(arena);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(awl_fmt);
  mps_fmt_destroy(lo_fmt);
  mps_fmt_destroy(ams_fmt);
  mps_fmt_destroy(tf_fmt);
  mps_thread_dereg(thr);
  mps_arena_destroy(arena);
  printf("varargs: OK\n");
  return 0;
}
