/* amsdebug.c -- the debug pool class AMS debug (DESIGN.md#debug)
 *
 * Options: a 4-byte free template (and a fence template, accepted and
 * unused: allocation points get no fenceposts).  No thread is
 * registered: an exact table root holds the live objects, so the
 * expectations are exact.  Checked:
 *
 *  1. objects allocated alternately live (in the root) and dead: after a
 *     full collection every live object is intact, every dead one's block
 *     holds the free template in phase with the address (the sweep
 *     splatted it), and mps_pool_check_free_space and
 *     mps_pool_check_fenceposts pass; more allocation and collections
 *     reuse the free space and the checks keep passing;
 *  2. the positional mps_pool_create works (options pointer, format,
 *     chain, support_ambiguous), with mps_ap_create(&ap, pool, rank); the
 *     unused tail of a point's buffer is splatted when the point goes;
 *  3. without options the class behaves as AMS and the checks do nothing;
 *  4. caught, in a child process that must stop with an assertion: a
 *     write into a dead object's memory, by mps_pool_check_free_space,
 *     and by the refill of an allocation point that takes the free run
 *     holding it (no check called); and a child that makes no such
 *     mistake exits normally, also after refilling an allocation point
 *     from all that free memory.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscams.h"

#include <stdint.h>
#include <stdio.h>

#define NOBJ 3000

static mps_arena_t arena;
static mps_fmt_t fmt;
static mps_chain_t chain;
static mps_pool_t pool;
static void *live[NOBJ];
static unsigned long live_id[NOBJ];
static unsigned char *dead[NOBJ];
static size_t dead_size[NOBJ];
static size_t nlive, ndead;

static const unsigned char splat[4] = {0xDE, 0xAD, 0xBE, 0xEF};
static const unsigned char fence[5] = {'F', 'E', 'N', 'C', 'E'};
static mps_pool_debug_option_s options = {fence, sizeof fence, splat,
                                          sizeof splat};

static int splatted(const unsigned char *p, size_t size)
{
  size_t i;
  for (i = 0; i < size; ++i)
    if (p[i] != splat[(uintptr_t)(p + i) % sizeof splat])
      return 0;
  return 1;
}

/* Allocate n objects, alternately kept in live[] and dropped. */
static void allocate(mps_ap_t ap, size_t n, unsigned long first_id)
{
  size_t i;
  for (i = 0; i < n; ++i) {
    unsigned long id = first_id + i;
    void *p = rnd_chance(1, 2) ? tf_make_vec(ap, id, 1 + rnd_below(6))
                               : tf_make_str(ap, id, 8 * (1 + rnd_below(8)));
    if (i % 2 == 0 && nlive < NOBJ) {
      live[nlive] = p;
      live_id[nlive++] = id;
    } else if (ndead < NOBJ) {
      dead[ndead] = p;
      dead_size[ndead++] = tf_block_size(p);
    }
  }
}

static void check_live(const char *when)
{
  size_t i;
  for (i = 0; i < nlive; ++i) {
    tf_check_obj(live[i], when);
    CHECKF(tf_id(live[i]) == live_id[i], "%s: object %zu has id %lu, not %lu",
           when, i, tf_id(live[i]), live_id[i]);
  }
}

static void phase_splat(void)
{
  mps_ap_t ap;
  mps_root_t root;
  size_t i;
  unsigned round;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    MPS_ARGS_ADD(args, MPS_KEY_POOL_DEBUG_OPTIONS, &options);
    CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_ams_debug(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, live,
                                  NOBJ));
  mps_arena_park(arena);
  allocate(ap, 2000, 1);
  CHECK_RES(mps_arena_collect(arena));
  check_live("after the first collection");
  for (i = 0; i < ndead; ++i)
    CHECKF(splatted(dead[i], dead_size[i]),
           "dead object %zu at %p (%zu bytes) was not splatted", i,
           (void *)dead[i], dead_size[i]);
  mps_pool_check_free_space(pool);
  mps_pool_check_fenceposts(pool);
  printf("amsdebug: %zu dead objects splatted, %zu live intact\n", ndead,
         nlive);

  /* Reuse: the dead objects' space is allocated again. */
  for (round = 0; round < 3; ++round) {
    nlive = nlive > 500 ? nlive - 500 : 0; /* drop some live ones */
    for (i = nlive; i < NOBJ; ++i)
      live[i] = NULL;
    ndead = 0;
    allocate(ap, 1000, 100000 * (round + 1));
    CHECK_RES(mps_arena_collect(arena));
    check_live("after reuse");
    mps_pool_check_free_space(pool);
  }
  mps_arena_release(arena);
  mps_root_destroy(root);
  mps_ap_destroy(ap);
  mps_pool_check_free_space(pool);
}

/* 4. A child writes into a dead object, then checks. */
static void scribble(void)
{
  CHECK(ndead > 0);
  dead[ndead / 2][dead_size[ndead / 2] / 2] ^= 0x5A;
  mps_pool_check_free_space(pool);
}

/* Allocate small objects until every free run of the pool has been
 * taken by a refill of the allocation point (refills take the lowest
 * free run of a segment, whole), or at most `limit` objects. */
static size_t refill_everything(size_t limit)
{
  mps_ap_t ap;
  size_t made = 0;
  mps_arena_park(arena);
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  while (made < limit && mps_pool_free_size(pool) > 64) {
    (void)tf_make_str(ap, 1, 8);
    ++made;
  }
  mps_ap_destroy(ap);
  return made;
}

static void scribble_then_allocate(void)
{
  size_t made;
  CHECK(ndead > 0);
  dead[ndead / 2][dead_size[ndead / 2] / 2] ^= 0x5A;
  made = refill_everything(1000000);
  printf("amsdebug: %zu objects made, the write was not noticed\n", made);
}

static void no_scribble(void)
{
  size_t made;
  mps_pool_check_free_space(pool);
  made = refill_everything(1000000);
  CHECK(made > ndead); /* the dead objects' runs were refilled */
  mps_pool_check_free_space(pool);
}

static void phase_varargs(void)
{
  mps_pool_t vpool;
  mps_ap_t ap;
  void *p;
  CHECK_RES(mps_pool_create(&vpool, arena, mps_class_ams_debug(), &options,
                            fmt, chain, (mps_bool_t)1));
  CHECK_RES(mps_ap_create(&ap, vpool, mps_rank_exact()));
  p = tf_make_str(ap, 7, 64);
  CHECKF(mps_pool_free_size(vpool) < mps_pool_total_size(vpool),
         "nothing allocated in the positional pool");
  mps_ap_destroy(ap); /* the buffer's unused tail becomes free: splatted */
  mps_pool_check_free_space(vpool);
  tf_check_obj(p, "positional pool");
  mps_pool_destroy(vpool);

  /* Without options: plain AMS, nothing to check. */
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&vpool, arena, mps_class_ams_debug(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create(&ap, vpool, mps_rank_exact()));
  p = tf_make_str(ap, 8, 64);
  mps_pool_check_free_space(vpool);
  mps_pool_check_fenceposts(vpool);
  mps_ap_destroy(ap);
  mps_pool_destroy(vpool);
}

int main(void)
{
  mps_gen_param_s gens[] = {{1024, 0.5}};
  test_init("amsdebug");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  test_arena_setup(arena);
  tf_fmt_create_methods(&fmt, arena, 0, TF_M_SCAN | TF_M_SKIP);
  CHECK_RES(mps_chain_create(&chain, arena, 1, gens));

  phase_splat();
  test_in_child("no mistake", no_scribble, NULL);
  test_in_child("a write to a dead object", scribble, "free memory");
  test_in_child("a write to a dead object, then allocation",
                scribble_then_allocate, "refilled");
  phase_varargs();

  mps_pool_destroy(pool);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("amsdebug: OK\n");
  return 0;
}
