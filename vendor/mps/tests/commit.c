/* commit.c -- a commit whose trip is still pending at a second flip
 *
 * mps_commit stores init = alloc, then loads limit; a limit of 0 (the
 * buffer was trapped by a flip) sends it to mps_ap_trip, which takes the
 * arena lock.  Between the init store and the trip the thread can be
 * stopped, or wait for the lock, while another thread runs a whole
 * collection.  If the block was reserved across an earlier flip, the
 * references the client stored in it were read before that flip's moves,
 * so the block is void: the later flip must not take init (which now
 * covers the block) as where the buffer's objects end, and the trip must
 * still fail (DESIGN.md#buffers).  This test replays that interleaving on
 * one thread, deterministically, by doing the init store of mps_commit by
 * hand:
 *
 *   reserve, store a reference to X; collect (X moves); init = alloc;
 *   collect again; mps_ap_trip must return false, and the retry must
 *   build a pair whose reference is X's current address.
 *
 * The same replay on AMCZ (no references) must keep the block: its
 * commit succeeds and the string is intact after more collections.  The
 * stack is not a root: an exact table keeps objects alive, so X is free
 * to move, and an ambiguous table holds the block's address as the
 * committing thread's registers would (it pins a kept AMCZ block, and
 * must not turn a void block into an object).
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdint.h>
#include <stdio.h>

#define ROUNDS 50

static mps_arena_t arena;
static void *keep[2]; /* exact root: [0] the target X, [1] the result */
/* Ambiguous root standing for the committing thread's registers, which
 * hold the block's address while it commits. */
static void *pending[1];

/* A string for X, from its own short-lived allocation point, so that its
 * segment has no buffer and is freed once X has moved away. */
static void *make_target(mps_pool_t pool, unsigned long id)
{
  mps_ap_t ap;
  void *p;
  CHECK_RES(mps_ap_create_k(&ap, pool, mps_args_none));
  p = tf_make_str(ap, id, 64);
  mps_ap_destroy(ap);
  return p;
}

/* The first half of mps_commit: what a thread has done when it is
 * stopped (or waits for the arena lock in mps_ap_trip) after the init
 * store.  Returns whether the allocation point is trapped. */
static int commit_first_half(mps_ap_t ap)
{
  ap->init = ap->alloc;
  return ap->limit == NULL;
}

/* The pair case: the block holds a reference read before a flip. */
static void pair_round(mps_pool_t pool, mps_ap_t ap, unsigned long id)
{
  size_t size = tf_pair_size();
  uintptr_t before;
  mps_addr_t p;
  void *obj;
  int tries = 0;

  keep[0] = make_target(pool, id);
  before = (uintptr_t)keep[0];
  CHECK_RES(mps_reserve(&p, ap, size));
  pending[0] = p;
  obj = tf_init_pair(p, id + 1);
  tf_set_ref(obj, 0, keep[0]); /* read from the root, as a client would */

  /* Flip N while the block is reserved: X moves, the AP is trapped. */
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  CHECKF((uintptr_t)keep[0] != before,
         "round %lu: the target did not move (control)", id);
  CHECKF(commit_first_half(ap), "round %lu: the flip did not trap the AP",
         id);

  /* Flip N+1 while the trip is pending. */
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);

  /* The block was reserved across flip N: it is void (and the ambiguous
   * reference to it did not make it an object). */
  if (mps_ap_trip(ap, p, size))
    die("round %lu: a block reserved across a flip was committed because "
        "its trip was still pending at the next flip",
        id);

  /* The client's usual retry loop. */
  do {
    ++tries;
    CHECK_RES(mps_reserve(&p, ap, size));
    obj = tf_init_pair(p, id + 1);
    tf_set_ref(obj, 0, keep[0]);
  } while (!mps_commit(ap, p, size));
  CHECK(tries == 1);
  keep[1] = obj;
  pending[0] = NULL;

  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  tf_check_obj(keep[1], "the retried pair");
  CHECKF(tf_kind(keep[1]) == TF_PAIR && tf_id(keep[1]) == id + 1,
         "round %lu: the retried pair is wrong", id);
  CHECKF(tf_ref(keep[1], 0) == keep[0],
         "round %lu: the pair refers to %p, the target is at %p", id,
         tf_ref(keep[1], 0), keep[0]);
  tf_check_obj(tf_ref(keep[1], 0), "the target");
  keep[0] = keep[1] = NULL;
}

/* The leaf case: nothing in the block can be stale, so it is kept. */
static void leaf_round(mps_ap_t ap, unsigned long id)
{
  size_t size = tf_str_size(48);
  mps_addr_t p;

  CHECK_RES(mps_reserve(&p, ap, size));
  pending[0] = p;
  (void)tf_init_str(p, id, 48);
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  CHECKF(commit_first_half(ap), "round %lu: the flip did not trap the AP",
         id);
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  if (!mps_ap_trip(ap, p, size))
    die("round %lu: an AMCZ block failed its commit", id);
  keep[1] = (char *)p + tf_header();
  pending[0] = NULL;
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  tf_check_obj(keep[1], "the AMCZ string");
  CHECKF(tf_kind(keep[1]) == TF_STR && tf_id(keep[1]) == id,
         "round %lu: the AMCZ string is wrong", id);
  keep[1] = NULL;
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t amc, amcz;
  mps_ap_t amc_ap, amcz_ap;
  mps_root_t root, ambig;
  unsigned long round;

  test_init("commit");
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)32 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amcz, arena, mps_class_amcz(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, keep,
                                  2));
  CHECK_RES(mps_root_create_table(&ambig, arena, mps_rank_ambig(), 0,
                                  pending, 1));
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&amcz_ap, amcz, mps_args_none));

  for (round = 0; round < test_scale(ROUNDS); ++round) {
    pair_round(amc, amc_ap, 10 * round + 1);
    leaf_round(amcz_ap, 10 * round + 5);
  }
  printf("commit: %lu rounds of a trip pending across a second flip "
         "(AMC voided, AMCZ kept), %lu collections\n",
         round, (unsigned long)mps_collections(arena));

  mps_ap_destroy(amcz_ap);
  mps_ap_destroy(amc_ap);
  mps_root_destroy(ambig);
  mps_root_destroy(root);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  return 0;
}
