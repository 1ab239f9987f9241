/* compat.c -- interfaces removed in MPS 1.118, kept for older programs
 * (src/compat.c, src/poolmv.c; DESIGN.md#compat)
 *
 * Checked:
 *  - mps_tramp calls the function with its arguments and stores its
 *    result;
 *  - mps_fix: a format whose scan method fixes a third of its references
 *    with mps_fix outside MPS_SCAN_BEGIN/END, a third with mps_fix inside
 *    them (without MPS_FIX_CALL) and a third with MPS_FIX12.  Holder
 *    vectors (in an exact root table) keep references to leaves of two
 *    pools of different chains (see "The heap" below), which point to
 *    other leaves in turn, through many collections of both chains; a
 *    shadow model checks every reference after each phase (a zone that
 *    mps_fix failed to put in a summary leaves a reference unfixed when
 *    its target moves);
 *  - mps_arena_expose parks the arena and leaves no page of it write
 *    protected (there were some before); young references stored while
 *    exposed into old leaves (no barrier) are followed by later
 *    collections;
 *    mps_arena_unsafe_expose_remember_protection does the same, and
 *    mps_arena_unsafe_restore_protection protects pages again;
 *  - the reservoir: limit and available 0 before and after setting a
 *    limit; mps_reserve_with_reservoir_permit,
 *    MPS_RESERVE_WITH_RESERVOIR_PERMIT_BLOCK and
 *    mps_ap_fill_with_reservoir_permit allocate;
 *  - MV (mpscmv.h): created with keywords and positionally; a maximum
 *    size below the mean is MPS_RES_PARAM; random blocks keep their
 *    contents through allocation and freeing; mps_mv_size and
 *    mps_mv_free_size agree with the pool's sizes; MV debug detects a
 *    write past the end of a block.
 */

#include "testlib.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscmv.h"
#include "mpsx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The format: [tag][id][refs...] ------------------------------------ */

#define T_OBJ 0x11  /* (n << 8) | T_OBJ: id, then n references */
#define T_PAD1 0x21 /* a one-word pad */
#define T_PADN 0x31 /* (size << 8) | T_PADN */
#define T_FWD 0x41  /* (size << 8) | T_FWD, then the new address */

typedef mps_word_t word;

static size_t obj_size(const word *w)
{
  switch (w[0] & 0xFF) {
  case T_OBJ:
    return (2 + (w[0] >> 8)) * sizeof(word);
  case T_PAD1:
    return sizeof(word);
  default:
    return (size_t)(w[0] >> 8);
  }
}

static mps_res_t c_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  word *p = base;
  while ((mps_addr_t)p < limit) {
    if ((p[0] & 0xFF) == T_OBJ) {
      size_t n = (size_t)(p[0] >> 8), i;
      mps_res_t res = MPS_RES_OK;
      MPS_SCAN_BEGIN(ss) {
        for (i = 0; i < n && res == MPS_RES_OK; ++i) {
          mps_addr_t *ref = (mps_addr_t *)&p[2 + i];
          if (i % 3 == 1)
            res = mps_fix(ss, ref); /* inside, without MPS_FIX_CALL */
          else if (i % 3 == 2)
            res = MPS_FIX12(ss, ref);
        }
      } MPS_SCAN_END(ss);
      for (i = 0; i < n && res == MPS_RES_OK; i += 3)
        res = mps_fix(ss, (mps_addr_t *)&p[2 + i]); /* outside */
      if (res != MPS_RES_OK)
        return res;
    }
    p = (word *)((char *)p + obj_size(p));
  }
  return MPS_RES_OK;
}

static mps_addr_t c_skip(mps_addr_t addr)
{
  return (char *)addr + obj_size(addr);
}

static void c_fwd(mps_addr_t old, mps_addr_t new)
{
  word *w = old;
  size_t size = obj_size(w);
  w[0] = ((word)size << 8) | T_FWD;
  w[1] = (word)new;
}

static mps_addr_t c_isfwd(mps_addr_t addr)
{
  word *w = addr;
  return (w[0] & 0xFF) == T_FWD ? (mps_addr_t)w[1] : NULL;
}

static void c_pad(mps_addr_t addr, size_t size)
{
  word *w = addr;
  w[0] = size == sizeof(word) ? T_PAD1 : ((word)size << 8) | T_PADN;
}

/* ---- The heap and its shadow ---------------------------------------- */

/* Holders and the leaves in their hot slots (every third, fixed with
 * MPS_FIX12) live in pool A; the leaves of their cold slots (fixed with
 * mps_fix, inside and outside MPS_SCAN_BEGIN/END) in pool B, of another
 * chain.  A collection of chain A scans the holders for their hot
 * references and fixes the cold ones while they are not white: their
 * zones reach the holders' summaries only through mps_fix.  A collection
 * of chain B then scans a holder only if its summary has B's zones; one
 * skipped would keep references to cold leaves that moved. */

#define HOLDERS 48
#define SLOTS 30 /* a multiple of 3: every way of fixing */
#define LEAF_REFS 3
#define MAX_IDS 600000

static mps_arena_t arena;
static mps_ap_t ap, ap_b;
static word *holders[HOLDERS]; /* the exact root */
/* Shadow: the id each holder slot refers to (0: NULL), and each leaf's
 * children's ids. */
static unsigned long shadow[HOLDERS][SLOTS];
static unsigned long (*children)[LEAF_REFS];
static unsigned long next_id = 1;

static word *make_in(mps_ap_t in, size_t n, unsigned long id)
{
  size_t size = (2 + n) * sizeof(word), i;
  mps_addr_t p;
  word *w;
  do {
    CHECK_RES(mps_reserve(&p, in, size));
    w = p;
    w[0] = ((word)n << 8) | T_OBJ;
    w[1] = id;
    for (i = 0; i < n; ++i)
      w[2 + i] = 0;
  } while (!mps_commit(in, p, size));
  return w;
}

static word *make(size_t n, unsigned long id)
{
  return make_in(ap, n, id);
}

/* A new leaf in `in` referring to objects the holders hold now. */
static word *make_leaf(mps_ap_t in)
{
  unsigned long id = next_id++;
  word *leaf;
  size_t k;
  CHECK(id < MAX_IDS);
  leaf = make_in(in, LEAF_REFS, id);
  for (k = 0; k < LEAF_REFS; ++k) {
    size_t h = rnd_below(HOLDERS), s = rnd_below(SLOTS);
    leaf[2 + k] = holders[h][2 + s];
    children[id][k] = shadow[h][s];
  }
  return leaf;
}

static void store(size_t h, size_t s, word *leaf)
{
  holders[h][2 + s] = (word)leaf;
  shadow[h][s] = leaf[1];
}

static void mutate(unsigned long steps)
{
  unsigned long i;
  for (i = 0; i < steps; ++i) {
    size_t h = rnd_below(HOLDERS), s = rnd_below(SLOTS / 3) * 3;
    if (rnd_chance(1, 500)) {
      /* A new holder: a copy of an old one (new refers to old). */
      word *copy = make(SLOTS, 0);
      memcpy(copy + 2, holders[h] + 2, SLOTS * sizeof(word));
      holders[h] = copy;
    } else if (rnd_chance(1, 50)) {
      store(h, s + rnd_below(2), make_leaf(ap_b)); /* a cold slot */
    } else {
      store(h, s + 2, make_leaf(ap)); /* a hot slot */
    }
    if (rnd_chance(1, 2))
      (void)make_in(ap_b, 4, 0); /* garbage: chain B collects too */
  }
}

/* Store young leaves into leaves the holders hold (mostly old ones, on
 * pages with the write barrier up). */
static void relink(unsigned long steps)
{
  unsigned long i;
  for (i = 0; i < steps; ++i) {
    size_t h = rnd_below(HOLDERS), s = rnd_below(SLOTS), k;
    word *leaf = (word *)holders[h][2 + s], *young;
    if (leaf == NULL)
      continue;
    k = rnd_below(LEAF_REFS);
    young = make_leaf(rnd_chance(1, 2) ? ap : ap_b);
    leaf[2 + k] = (word)young;
    children[leaf[1]][k] = young[1];
  }
}

static void verify(const char *when)
{
  size_t h, s, k;
  for (h = 0; h < HOLDERS; ++h)
    for (s = 0; s < SLOTS; ++s) {
      const word *leaf = (const word *)holders[h][2 + s];
      unsigned long id = shadow[h][s];
      if (id == 0) {
        CHECKF(leaf == NULL, "%s: holder %zu slot %zu", when, h, s);
        continue;
      }
      CHECKF(leaf != NULL && leaf[0] == (((word)LEAF_REFS << 8) | T_OBJ) &&
                 leaf[1] == id,
             "%s: holder %zu slot %zu: want leaf %lu", when, h, s, id);
      for (k = 0; k < LEAF_REFS; ++k) {
        const word *c = (const word *)leaf[2 + k];
        unsigned long cid = children[id][k];
        CHECKF(cid == 0 ? c == NULL
                        : c != NULL && (c[0] & 0xFF) == T_OBJ && c[1] == cid,
               "%s: leaf %lu child %zu: want %lu", when, id, k, cid);
      }
    }
}

/* Pages of the arena that are mapped read-only: the write barrier. */
static size_t arena_read_only_kib(void)
{
  FILE *f = fopen("/proc/self/maps", "r");
  char line[512];
  size_t kib = 0;
  CHECK(f != NULL);
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
      continue;
    if (strcmp(perms, "r--p") == 0 && mps_arena_has_addr(arena, (void *)lo))
      kib += (hi - lo) >> 10;
  }
  fclose(f);
  return kib;
}

static void *tramp_target(void *p, size_t s)
{
  return (char *)p + s;
}

static void phase_fix_and_expose(void)
{
  mps_fmt_t fmt;
  mps_chain_t chain, chain_b;
  mps_pool_t pool, pool_b;
  mps_root_t root;
  mps_gen_param_s gens[2] = {{256, 0.8}, {512, 0.5}};
  mps_gen_param_s gens_b[2] = {{384, 0.8}, {768, 0.5}};
  size_t h, ro_before, ro_exposed, ro_restored;
  int round;

  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ALIGN, sizeof(word));
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SCAN, c_scan);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SKIP, c_skip);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_FWD, c_fwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ISFWD, c_isfwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_PAD, c_pad);
    CHECK_RES(mps_fmt_create_k(&fmt, arena, args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  CHECK_RES(mps_chain_create(&chain_b, arena, 2, gens_b));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain_b);
    CHECK_RES(mps_pool_create_k(&pool_b, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  CHECK_RES(mps_ap_create_k(&ap_b, pool_b, mps_args_none));
  CHECK_RES(mps_root_create_area(&root, arena, mps_rank_exact(), 0, holders,
                                 holders + HOLDERS, mps_scan_area, NULL));
  children = calloc(MAX_IDS, sizeof *children);
  CHECK(children != NULL);
  for (h = 0; h < HOLDERS; ++h)
    holders[h] = make(SLOTS, 0);

  /* mps_fix in all three ways through many collections. */
  for (round = 0; round < 6; ++round) {
    mutate(test_scale(25000));
    mps_arena_park(arena);
    verify("after mutating");
    mps_arena_release(arena);
  }
  vlog("%lu leaves, %lu collections\n", next_id - 1,
       (unsigned long)mps_collections(arena));
  CHECK(mps_collections(arena) >= 10);

  /* Expose: no page left write-protected, stores without a barrier are
   * seen by later collections. */
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  mutate(test_scale(20000)); /* old holders get young references */
  mps_arena_step(arena, 0.0, 0.0);
  ro_before = arena_read_only_kib();
  mps_arena_expose(arena);
  ro_exposed = arena_read_only_kib();
  vlog("read-only KiB before expose %zu, exposed %zu\n", ro_before,
       ro_exposed);
  CHECK(ro_exposed == 0); /* none with the soft barrier either */
  CHECK(mps_arena_busy(arena) == 0);
  relink(test_scale(5000)); /* no barrier: allocation works, no
                               collection starts */
  verify("exposed");
  mps_arena_release(arena);
  mutate(test_scale(30000));
  mps_arena_park(arena);
  verify("after the exposed stores");
  mps_arena_release(arena);

  /* The unsafe pair: the barriers come back. */
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  mutate(test_scale(3000));
  CHECK_RES(mps_arena_collect(arena)); /* leaves it parked, barriers up */
  ro_before = arena_read_only_kib();
  mps_arena_unsafe_expose_remember_protection(arena);
  ro_exposed = arena_read_only_kib();
  verify("exposed, remembering"); /* reads only */
  mps_arena_unsafe_restore_protection(arena);
  ro_restored = arena_read_only_kib();
  vlog("read-only KiB before %zu, exposed %zu, restored %zu\n", ro_before,
       ro_exposed, ro_restored);
  /* The soft barrier (DESIGN.md#barrier-soft) makes no page read-only:
   * what it does is checked by the verify() calls. */
  if (mpsx_arena_write_barrier(arena) == MPSX_BARRIER_MPROTECT) {
    CHECK(ro_before > 0);
    CHECK(ro_restored > 0);
  }
  CHECK(ro_exposed == 0);
  mps_arena_release(arena);
  mutate(test_scale(30000));
  mps_arena_park(arena);
  verify("after restoring");

  /* The reservoir is empty and the permit changes nothing. */
  CHECK(mps_reservoir_limit(arena) == 0);
  mps_reservoir_limit_set(arena, 1 << 20);
  CHECK(mps_reservoir_limit(arena) == 0);
  CHECK(mps_reservoir_available(arena) == 0);
  mps_arena_release(arena);
  {
    mps_addr_t p;
    mps_res_t res;
    size_t size = 4 * sizeof(word);
    do {
      CHECK_RES(mps_reserve_with_reservoir_permit(&p, ap, size));
      c_pad(p, size);
    } while (!mps_commit(ap, p, size));
    do {
      MPS_RESERVE_WITH_RESERVOIR_PERMIT_BLOCK(res, p, ap, size);
      CHECK_RES(res);
      c_pad(p, size);
    } while (!mps_commit(ap, p, size));
    do {
      CHECK_RES(mps_ap_fill_with_reservoir_permit(&p, ap, size));
      c_pad(p, size);
    } while (!mps_commit(ap, p, size));
  }

  {
    void *r = NULL;
    char buf[8];
    CHECK_RES(mps_tramp(&r, tramp_target, buf, 5));
    CHECK(r == buf + 5);
  }

  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_ap_destroy(ap);
  mps_ap_destroy(ap_b);
  mps_pool_destroy(pool);
  mps_pool_destroy(pool_b);
  mps_chain_destroy(chain);
  mps_chain_destroy(chain_b);
  mps_fmt_destroy(fmt);
  free(children);
}

/* ---- MV ------------------------------------------------------------------ */

#define MV_BLOCKS 500

static void mv_churn(mps_pool_t pool)
{
  static unsigned char *blocks[MV_BLOCKS];
  static size_t sizes[MV_BLOCKS];
  size_t i, live = 0;
  unsigned long op;
  for (op = 0; op < test_scale(20000); ++op) {
    size_t b = rnd_below(MV_BLOCKS);
    if (blocks[b] != NULL) {
      for (i = 0; i < sizes[b]; ++i)
        CHECK(blocks[b][i] == (unsigned char)(b + i));
      mps_free(pool, blocks[b], sizes[b]);
      live -= sizes[b];
      blocks[b] = NULL;
    } else {
      mps_addr_t p;
      sizes[b] = 1 + rnd_below(rnd_chance(1, 50) ? 20000 : 200);
      CHECK_RES(mps_alloc(&p, pool, sizes[b]));
      blocks[b] = p;
      for (i = 0; i < sizes[b]; ++i)
        blocks[b][i] = (unsigned char)(b + i);
      live += sizes[b];
    }
    if (op % 1000 == 0) {
      CHECK(mps_mv_size(pool) == mps_pool_total_size(pool));
      CHECK(mps_mv_free_size(pool) == mps_pool_free_size(pool));
      CHECK(mps_mv_size(pool) >= live + mps_mv_free_size(pool));
    }
  }
  for (i = 0; i < MV_BLOCKS; ++i)
    if (blocks[i] != NULL) {
      mps_free(pool, blocks[i], sizes[i]);
      live -= sizes[i];
      blocks[i] = NULL;
    }
  CHECK(live == 0);
}

static const char fence[8] = {'F', 'E', 'N', 'C', 'E', 'P', 'O', 'S'};
static mps_pool_debug_option_s debug_options = {fence, sizeof fence, NULL,
                                                0};

static void mv_overrun(void)
{
  mps_pool_t pool;
  mps_addr_t p;
  CHECK_RES(mps_pool_create(&pool, arena, mps_class_mv_debug(),
                            &debug_options, (size_t)65536, (size_t)32,
                            (size_t)65536));
  CHECK_RES(mps_alloc(&p, pool, 40));
  ((char *)p)[40] = 'X';
  mps_pool_check_fenceposts(pool);
  exit(0); /* not reached: the check aborts */
}

static void phase_mv(void)
{
  mps_pool_t pool;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_EXTEND_BY, 65536);
    MPS_ARGS_ADD(args, MPS_KEY_MEAN_SIZE, 64);
    MPS_ARGS_ADD(args, MPS_KEY_MAX_SIZE, 16);
    CHECK_RES_IS(mps_pool_create_k(&pool, arena, mps_class_mv(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_EXTEND_BY, 65536);
    MPS_ARGS_ADD(args, MPS_KEY_MEAN_SIZE, 64);
    MPS_ARGS_ADD(args, MPS_KEY_MAX_SIZE, 65536);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mv(), args));
  } MPS_ARGS_END(args);
  mv_churn(pool);
  mps_pool_destroy(pool);

  CHECK_RES(mps_pool_create(&pool, arena, mps_class_mv(), (size_t)4096,
                            (size_t)32, (size_t)8192));
  mv_churn(pool);
  mps_pool_destroy(pool);

  CHECK_RES(mps_pool_create(&pool, arena, mps_class_mv_debug(),
                            &debug_options, (size_t)65536, (size_t)32,
                            (size_t)65536));
  mv_churn(pool);
  mps_pool_check_fenceposts(pool);
  mps_pool_destroy(pool);
  test_in_child("MV debug: a write past a block", mv_overrun, "fencepost");
}

int main(void)
{
  test_init("compat");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  phase_fix_and_expose();
  phase_mv();
  mps_arena_destroy(arena);
  printf("compat: OK\n");
  return 0;
}
