/* final.c -- finalization messages
 *
 * The thread is registered but its stack is NOT a root, so reachability
 * is exactly what the exact table root r[] and the weak area root weak[]
 * say.  (Consequently objects are created with NULL fields and linked
 * through r[] afterwards: a pointer in a local would not be updated.)
 *
 * Checked:
 *  - mps_definalize fails (MPS_RES_FAIL) without a registration and
 *    succeeds once per registration;
 *  - a registered object that becomes unreachable yields exactly one
 *    message; the message's reference is the object, intact with its
 *    children, and it stays valid (and current) after more collections
 *    until the message is discarded; a weak reference to it survives
 *    while the message is held and is cleared after the discard;
 *  - a reachable registered object yields no message;
 *  - registering twice yields one or two messages, never more;
 *  - resurrection: the object stays usable; no second message without a
 *    second registration, one after it;
 *  - with the message type disabled no message is posted and the object
 *    dies;
 *  - a batch of registered objects (AMC and AMCZ) all get their message
 *    once.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NR 16
#define NBATCH 200
#define MAX_COLLECTIONS 12

static mps_arena_t arena;
static mps_ap_t amc_ap, amcz_ap;
static void *r[NR];            /* exact table root */
static void *weak[4];          /* weak area root */
static void *batch[NBATCH];    /* exact table root */
static unsigned long next_id = 1;

static void collect(void)
{
  CHECK_RES(mps_arena_collect(arena));
}

/* r[i] = new pair whose car is a new string of nbytes; returns pair id. */
static unsigned long make_pair_with_string(size_t i, size_t scratch,
                                           size_t nbytes)
{
  unsigned long id = next_id++;
  r[scratch] = tf_make_str(amcz_ap, next_id++, nbytes);
  r[i] = tf_make_pair(amc_ap, id, NULL, NULL);
  tf_set_ref(r[i], 0, r[scratch]);
  r[scratch] = NULL;
  return id;
}

static void check_pair_with_string(void *p, unsigned long id, const char *what)
{
  void *s;
  tf_check_obj(p, what);
  if (tf_kind(p) != TF_PAIR || tf_id(p) != id)
    die("%s: object %p kind %d id %lu, expected pair %lu", what, p,
        tf_kind(p), tf_id(p), id);
  s = tf_ref(p, 0);
  tf_check_obj(s, what);
  if (tf_kind(s) != TF_STR || tf_id(s) != id + 1)
    die("%s: child of %lu is kind %d id %lu", what, id, tf_kind(s), tf_id(s));
}

/* Fetch one finalization message (or NULL) and its reference. */
static mps_message_t get_final(void **ref_o)
{
  mps_message_t msg;
  if (!mps_message_get(&msg, arena, mps_message_type_finalization()))
    return NULL;
  if (mps_message_type(arena, msg) != mps_message_type_finalization())
    die("message from the finalization queue has type %u",
        (unsigned)mps_message_type(arena, msg));
  mps_message_finalization_ref(ref_o, arena, msg);
  return msg;
}

static void test_definalize(void)
{
  unsigned long id = make_pair_with_string(0, 1, 16);
  CHECK_RES_IS(mps_definalize(arena, &r[0]), MPS_RES_FAIL);
  CHECK_RES(mps_finalize(arena, &r[0]));
  CHECK_RES(mps_definalize(arena, &r[0]));
  CHECK_RES_IS(mps_definalize(arena, &r[0]), MPS_RES_FAIL);
  /* two registrations, two removals */
  CHECK_RES(mps_finalize(arena, &r[0]));
  CHECK_RES(mps_finalize(arena, &r[0]));
  CHECK_RES(mps_definalize(arena, &r[0]));
  CHECK_RES(mps_definalize(arena, &r[0]));
  CHECK_RES_IS(mps_definalize(arena, &r[0]), MPS_RES_FAIL);
  /* definalized and dropped: no message may come */
  r[0] = NULL;
  collect();
  collect();
  {
    void *ref;
    mps_message_t msg = get_final(&ref);
    if (msg != NULL)
      die("message for a definalized object (id %lu, expected none for %lu)",
          tf_id(ref), id);
  }
  mps_arena_release(arena);
}

static void test_basic(void)
{
  unsigned long id = make_pair_with_string(1, 2, 200);
  mps_message_t msg = NULL;
  void *ref = NULL;
  int i;

  CHECK_RES(mps_finalize(arena, &r[1]));
  weak[0] = r[1];
  /* reachable: no message */
  for (i = 0; i < 3; ++i) {
    collect();
    if (mps_message_get(&msg, arena, mps_message_type_finalization()))
      die("finalization message for a reachable object");
    check_pair_with_string(r[1], id, "reachable registered object");
    if (weak[0] != r[1])
      die("weak reference %p does not follow the object (at %p)", weak[0],
          r[1]);
  }
  r[1] = NULL;
  for (i = 0; i < MAX_COLLECTIONS && msg == NULL; ++i) {
    collect();
    msg = get_final(&ref);
  }
  if (msg == NULL)
    die("no finalization message after %d collections", MAX_COLLECTIONS);
  printf("final: message after %d collection(s)\n", i);
  if (mps_message_clock(arena, msg) != 0)
    printf("final: note: finalization message clock is %lu (reference: 0)\n",
           (unsigned long)mps_message_clock(arena, msg));
  check_pair_with_string(ref, id, "finalized object");
  if (weak[0] != ref)
    die("weak reference %p lost while the message is held (object at %p)",
        weak[0], ref);
  ref = NULL;

  /* the message keeps the object alive and current */
  for (i = 0; i < 4; ++i) {
    void *extra;
    /* some churn so the object has a reason to move */
    r[3] = tf_make_vec(amc_ap, next_id++, 100);
    collect();
    mps_message_finalization_ref(&ref, arena, msg);
    check_pair_with_string(ref, id, "finalized object after collections");
    if (weak[0] != ref)
      die("weak reference %p does not match message ref %p", weak[0], ref);
    if (get_final(&extra) != NULL)
      die("second message for a once-registered object (id %lu)",
          tf_id(extra));
  }
  mps_message_discard(arena, msg);
  ref = NULL;

  for (i = 0; i < 4 && weak[0] != NULL; ++i)
    collect();
  if (weak[0] != NULL)
    die("weak reference to a discarded finalized object not cleared after "
        "%d collections", i);
  mps_arena_release(arena);
}

static void test_twice(void)
{
  unsigned long id = make_pair_with_string(4, 5, 32);
  int i, count = 0;

  CHECK_RES(mps_finalize(arena, &r[4]));
  CHECK_RES(mps_finalize(arena, &r[4]));
  r[4] = NULL;
  for (i = 0; i < MAX_COLLECTIONS; ++i) {
    void *ref;
    mps_message_t msg;
    collect();
    while ((msg = get_final(&ref)) != NULL) {
      check_pair_with_string(ref, id, "twice-registered object");
      ++count;
      mps_message_discard(arena, msg);
    }
  }
  printf("final: twice-registered object gave %d message(s)\n", count);
  if (count < 1 || count > 2)
    die("twice-registered object gave %d messages", count);
  mps_arena_release(arena);
}

static void test_resurrect(void)
{
  unsigned long id = make_pair_with_string(6, 7, 48);
  mps_message_t msg = NULL;
  void *ref;
  int i;

  CHECK_RES(mps_finalize(arena, &r[6]));
  r[6] = NULL;
  for (i = 0; i < MAX_COLLECTIONS && msg == NULL; ++i) {
    collect();
    msg = get_final(&ref);
  }
  if (msg == NULL)
    die("no message for the object to resurrect");
  r[8] = ref;                               /* resurrect */
  mps_message_discard(arena, msg);
  for (i = 0; i < 4; ++i) {
    collect();
    check_pair_with_string(r[8], id, "resurrected object");
    if (get_final(&ref) != NULL)
      die("message for a resurrected object without a new registration");
  }
  CHECK_RES(mps_finalize(arena, &r[8]));
  r[8] = NULL;
  msg = NULL;
  for (i = 0; i < MAX_COLLECTIONS && msg == NULL; ++i) {
    collect();
    msg = get_final(&ref);
  }
  if (msg == NULL)
    die("no message after registering the resurrected object again");
  check_pair_with_string(ref, id, "re-registered object");
  mps_message_discard(arena, msg);
  mps_arena_release(arena);
}

static void test_disabled(void)
{
  int i;
  mps_message_t msg;
  mps_message_type_disable(arena, mps_message_type_finalization());
  make_pair_with_string(9, 10, 16);
  CHECK_RES(mps_finalize(arena, &r[9]));
  weak[1] = r[9];
  r[9] = NULL;
  for (i = 0; i < 6; ++i) {
    collect();
    if (mps_message_get(&msg, arena, mps_message_type_finalization()))
      die("finalization message posted while the type is disabled");
    if (mps_message_poll(arena))
      die("mps_message_poll true with every message type disabled");
  }
  if (weak[1] != NULL)
    die("object whose finalization message was dropped is still alive");
  mps_message_type_enable(arena, mps_message_type_finalization());
  mps_arena_release(arena);
}

static void test_batch(void)
{
  unsigned char *seen = calloc(NBATCH, 1);
  unsigned long first = next_id;
  size_t i, got = 0;
  int c;

  if (seen == NULL)
    die("out of memory");
  for (i = 0; i < NBATCH; ++i) {
    if (i % 3 == 0)
      batch[i] = tf_make_str(amcz_ap, first + i, 8 * (1 + i % 7));
    else
      batch[i] = tf_make_vec(amc_ap, first + i, i % 5);
    if (i % 3 != 0 && i % 5 == 2 && i > 0)
      tf_set_ref(batch[i], 0, batch[i - 1]);   /* chains between them */
    CHECK_RES(mps_finalize(arena, &batch[i]));
  }
  next_id = first + NBATCH;
  for (i = 0; i < NBATCH; ++i)
    batch[i] = NULL;
  for (c = 0; c < MAX_COLLECTIONS && got < NBATCH; ++c) {
    void *ref;
    mps_message_t msg;
    collect();
    while ((msg = get_final(&ref)) != NULL) {
      unsigned long id;
      tf_check_obj(ref, "batch object");
      id = tf_id(ref);
      if (id < first || id >= first + NBATCH)
        die("finalization message for unexpected object id %lu", id);
      if (seen[id - first])
        die("two finalization messages for batch object %lu", id);
      seen[id - first] = 1;
      ++got;
      mps_message_discard(arena, msg);
    }
  }
  printf("final: batch: %zu of %d messages after %d collections\n", got,
         NBATCH, c);
  if (got != NBATCH)
    die("only %zu of %d unreachable registered objects were finalized", got,
        NBATCH);
  free(seen);
  mps_arena_release(arena);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t amc, amcz;
  mps_thr_t thr;
  mps_root_t root, weak_root, batch_root;

  test_init("final");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amcz, arena, mps_class_amcz(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&amcz_ap, amcz, mps_args_none));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, r, NR));
  CHECK_RES(mps_root_create_table(&batch_root, arena, mps_rank_exact(), 0,
                                  batch, NBATCH));
  CHECK_RES(mps_root_create_area(&weak_root, arena, mps_rank_weak(), 0, weak,
                                 weak + 4, mps_scan_area, NULL));
  CHECK_RES(mps_thread_reg(&thr, arena));   /* no stack root, on purpose */

  mps_message_type_enable(arena, mps_message_type_finalization());
  mps_message_type_enable(arena, mps_message_type_finalization()); /* twice */

  test_definalize();
  test_basic();
  test_twice();
  test_resurrect();
  test_disabled();
  test_batch();

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(weak_root);
  mps_root_destroy(batch_root);
  mps_root_destroy(root);
  mps_ap_destroy(amcz_ap);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("final: OK\n");
  return 0;
}
