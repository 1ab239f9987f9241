/* fmtfixed.c -- formats of variant fixed (mps_fmt_create_fixed,
 * DESIGN.md#fixed-format): objects of one size, no skip method
 *
 * Objects are UNIT bytes (32, 64 or 128 at random): a tag word (object,
 * pad or forwarded), two references and an id; the pad method makes
 * every unit of a padded range a pad.  Checked:
 *  - a pool given the format without MPS_KEY_MFS_UNIT_SIZE, or with a
 *    size that is not a power of two or is below the alignment, or with
 *    a size other than the one an earlier pool gave, is MPS_RES_PARAM;
 *  - AMC, AMCZ, AMS, AWL, LO and SNC all accept it with the size;
 *  - a random graph over AMC, AMS and AWL objects (leaves in AMCZ and LO,
 *    an SNC frame's objects too) survives collections (objects move in
 *    AMC; every reference is updated; no object is corrupted); dropped
 *    objects are reclaimed (mps_pool_total_size of AMC falls back);
 *  - mps_arena_formatted_objects_walk visits every rooted object (and
 *    only intact objects and pads), stepping with the fixed size.
 */

#include "testlib.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscams.h"
#include "mpscawl.h"
#include "mpsclo.h"
#include "mpscsnc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long word;

enum { T_OBJ = 0x4f424a, T_PAD = 0x504144, T_FWD = 0x465744 };
#define NOBJ 3000
#define ROUNDS 4

static size_t unit;
static void *objs[NOBJ];     /* exact root */
static unsigned long ids[NOBJ];

static mps_res_t fx_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  MPS_SCAN_BEGIN(ss) {
    char *p;
    for (p = base; p < (char *)limit; p += unit) {
      word *w = (word *)p;
      if (w[0] == T_OBJ) {
        mps_res_t res = MPS_FIX12(ss, (mps_addr_t *)&w[1]);
        if (res != MPS_RES_OK)
          return res;
        res = MPS_FIX12(ss, (mps_addr_t *)&w[2]);
        if (res != MPS_RES_OK)
          return res;
      } else if (w[0] != T_PAD && w[0] != T_FWD) {
        die("scan: bad tag %#lx at %p", w[0], (void *)p);
      }
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static void fx_fwd(mps_addr_t old, mps_addr_t new_)
{
  word *w = old;
  w[0] = T_FWD;
  w[1] = (word)new_;
}

static mps_addr_t fx_isfwd(mps_addr_t addr)
{
  word *w = addr;
  return w[0] == T_FWD ? (mps_addr_t)w[1] : NULL;
}

static void fx_pad(mps_addr_t addr, size_t size)
{
  size_t i;
  CHECKF(size % unit == 0, "pad of %zu bytes, unit %zu", size, unit);
  for (i = 0; i < size; i += unit)
    *(word *)((char *)addr + i) = T_PAD;
}

static void *make(mps_ap_t ap, unsigned long id)
{
  mps_addr_t p;
  do {
    word *w;
    CHECK_RES(mps_reserve(&p, ap, unit));
    w = p;
    w[0] = T_OBJ;
    w[1] = w[2] = 0;
    w[3] = id;
  } while (!mps_commit(ap, p, unit));
  return p;
}

static void check(void *p, unsigned long id, const char *what)
{
  word *w = p;
  CHECKF(w[0] == T_OBJ && w[3] == id, "%s: tag %#lx id %lu, expected %lu",
         what, w[0], w[3], id);
}

/* Each object i refers to objects ref_a[i] and ref_b[i] (or nothing). */
static int ref_a[NOBJ], ref_b[NOBJ];

static void check_graph(void)
{
  size_t i;
  for (i = 0; i < NOBJ; ++i) {
    word *w = objs[i];
    if (w == NULL)
      continue;
    check(w, ids[i], "root object");
    if (ref_a[i] >= 0)
      CHECKF((void *)w[1] == objs[ref_a[i]], "object %zu: ref a stale", i);
    if (ref_b[i] >= 0)
      CHECKF((void *)w[2] == objs[ref_b[i]], "object %zu: ref b stale", i);
  }
}

static size_t walked;

static void walk_step(mps_addr_t addr, mps_fmt_t fmt, mps_pool_t pool,
                      void *p, size_t s)
{
  size_t i;
  (void)fmt;
  (void)pool;
  (void)s;
  ++walked;
  if (((word *)addr)[0] == T_PAD) /* the walk reports padding too */
    return;
  check(addr, ((word *)addr)[3], "walked object");
  for (i = 0; i < NOBJ; ++i)
    if (objs[i] == addr) {
      ++*(size_t *)p;
      break;
    }
}

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc, amcz, ams, awl, lo, snc, bad;
  mps_ap_t aps[5], snc_ap;
  mps_root_t root;
  mps_thr_t thr;
  mps_frame_t frame;
  mps_fmt_fixed_s fs;
  mps_gen_param_s gens[] = {{256, 0.8}, {512, 0.4}};
  size_t i, round, before, found, live;
  void *snc_objs[16];

  test_init("fmtfixed");
  unit = (size_t)32 << rnd_below(3); /* four words at least */
  printf("fmtfixed: unit %zu\n", unit);
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  fs.align = sizeof(word);
  fs.scan = fx_scan;
  fs.fwd = fx_fwd;
  fs.isfwd = fx_isfwd;
  fs.pad = fx_pad;
  CHECK_RES(mps_fmt_create_fixed(&fmt, arena, &fs));
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));

  /* No size, bad sizes: refused. */
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES_IS(mps_pool_create_k(&bad, arena, mps_class_amc(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_MFS_UNIT_SIZE, unit + 8);
    CHECK_RES_IS(mps_pool_create_k(&bad, arena, mps_class_ams(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_MFS_UNIT_SIZE, (size_t)4);
    CHECK_RES_IS(mps_pool_create_k(&bad, arena, mps_class_lo(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);

#define POOL(var, klass)                                                    \
  MPS_ARGS_BEGIN(args) {                                                    \
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);                                \
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);                               \
    MPS_ARGS_ADD(args, MPS_KEY_MFS_UNIT_SIZE, unit);                        \
    CHECK_RES(mps_pool_create_k(&var, arena, klass, args));                 \
  } MPS_ARGS_END(args)
  POOL(amc, mps_class_amc());
  POOL(amcz, mps_class_amcz());
  POOL(ams, mps_class_ams());
  POOL(awl, mps_class_awl());
  POOL(lo, mps_class_lo());
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_MFS_UNIT_SIZE, unit);
    CHECK_RES(mps_pool_create_k(&snc, arena, mps_class_snc(), args));
  } MPS_ARGS_END(args);
  /* Another size for the same format: refused. */
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_MFS_UNIT_SIZE, unit * 2);
    CHECK_RES_IS(mps_pool_create_k(&bad, arena, mps_class_amc(), args),
                 MPS_RES_PARAM);
  } MPS_ARGS_END(args);

  CHECK_RES(mps_ap_create_k(&aps[0], amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&aps[1], ams, mps_args_none));
  CHECK_RES(mps_ap_create_k(&aps[2], awl, mps_args_none));
  CHECK_RES(mps_ap_create_k(&aps[3], amcz, mps_args_none));
  CHECK_RES(mps_ap_create_k(&aps[4], lo, mps_args_none));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_RANK, mps_rank_exact());
    CHECK_RES(mps_ap_create_k(&snc_ap, snc, args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, objs,
                                  NOBJ));
  CHECK_RES(mps_thread_reg(&thr, arena));

  /* SNC: a frame of objects, popped. */
  CHECK_RES(mps_ap_frame_push(&frame, snc_ap));
  for (i = 0; i < 16; ++i)
    snc_objs[i] = make(snc_ap, 777000 + i);
  for (i = 0; i < 16; ++i)
    check(snc_objs[i], 777000 + i, "SNC object");
  CHECK_RES(mps_ap_frame_pop(snc_ap, frame));

  for (round = 0; round < ROUNDS; ++round) {
    /* Replace a random half; leaves (AMCZ, LO) hold no references. */
    for (i = 0; i < NOBJ; ++i) {
      int k = (int)rnd_below(5);
      if (objs[i] != NULL && rnd_chance(1, 2))
        continue;
      ids[i] = 1000000 * (round + 1) + i;
      objs[i] = make(aps[k], ids[i]);
      ref_a[i] = ref_b[i] = -1;
      if (k < 3) {
        size_t a = rnd_below(NOBJ), b = rnd_below(NOBJ);
        if (objs[a] != NULL) {
          ((word *)objs[i])[1] = (word)objs[a];
          ref_a[i] = (int)a;
        }
        if (objs[b] != NULL) {
          ((word *)objs[i])[2] = (word)objs[b];
          ref_b[i] = (int)b;
        }
      }
    }
    /* References from replaced objects' old holders: make the shadow
     * follow the roots (a slot whose target was replaced keeps the old,
     * still reachable object, which is not in objs[]: drop the check). */
    for (i = 0; i < NOBJ; ++i) {
      word *w = objs[i];
      if (ref_a[i] >= 0 && (void *)w[1] != objs[ref_a[i]])
        ref_a[i] = -1;
      if (ref_b[i] >= 0 && (void *)w[2] != objs[ref_b[i]])
        ref_b[i] = -1;
    }
    CHECK_RES(mps_arena_collect(arena));
    check_graph();
    mps_arena_release(arena);
  }

  /* The walk sees the live objects. */
  mps_arena_park(arena);
  found = walked = 0;
  mps_arena_formatted_objects_walk(arena, walk_step, &found, 0);
  live = 0;
  for (i = 0; i < NOBJ; ++i)
    live += objs[i] != NULL;
  CHECKF(found == live, "walk found %zu of %zu rooted objects (%zu walked)",
         found, live, walked);

  /* Dropping everything frees AMC's memory. */
  before = mps_pool_total_size(amc);
  memset(objs, 0, sizeof objs);
  CHECK_RES(mps_arena_collect(arena));
  CHECKF(mps_pool_total_size(amc) < before, "AMC kept %zu of %zu bytes",
         mps_pool_total_size(amc), before);
  printf("fmtfixed: %zu objects walked, AMC %zu -> %zu bytes\n", walked,
         before, mps_pool_total_size(amc));

  mps_thread_dereg(thr);
  mps_root_destroy(root);
  mps_ap_destroy(snc_ap);
  for (i = 0; i < 5; ++i)
    mps_ap_destroy(aps[i]);
  mps_pool_destroy(snc);
  mps_pool_destroy(lo);
  mps_pool_destroy(awl);
  mps_pool_destroy(ams);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  return 0;
}
