/* messages.c -- gc and gc_start messages
 *
 * Checked:
 *  - nothing is posted before a type is enabled;
 *  - after enabling, each mps_arena_collect posts a gc_start and a gc
 *    message; queue_type reports the head's type; get with another type
 *    skips; mps_message_type agrees; clocks do not go backwards;
 *  - gc_start_why is a non-empty string;
 *  - gc sizes are plausible: live <= condemned, a full collection
 *    condemns at least the live data we hold, and live covers it;
 *  - disabling a type flushes its queued messages, and stops posting.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NLIVE 400

static mps_arena_t arena;
static mps_ap_t amc_ap;
static void *live[NLIVE];      /* exact table root */
static void *junk[4];
static unsigned long next_id = 1;
static size_t live_bytes;

static void churn(size_t bytes)
{
  size_t done = 0;
  while (done < bytes) {
    void *p = tf_make_vec(amc_ap, next_id++, 1 + rnd_below(30));
    done += tf_block_size(p);
    junk[rnd_below(4)] = p;
  }
}

/* Drain the queue, counting messages by type and checking each. */
typedef struct counts { unsigned long gc, start; } counts;

static void drain(counts *c, mps_clock_t *last_clock)
{
  mps_message_type_t type;
  while (mps_message_queue_type(&type, arena)) {
    mps_message_t msg;
    mps_clock_t clock;
    if (!mps_message_poll(arena))
      die("queue_type true but poll false");
    if (!mps_message_get(&msg, arena, type))
      die("queue_type said %u but get failed", (unsigned)type);
    if (mps_message_type(arena, msg) != type)
      die("message type %u, queue said %u",
          (unsigned)mps_message_type(arena, msg), (unsigned)type);
    clock = mps_message_clock(arena, msg);
    if (clock < *last_clock)
      die("message clock went backwards (%lu < %lu)", (unsigned long)clock,
          (unsigned long)*last_clock);
    *last_clock = clock;
    switch (type) {
    case mps_message_type_gc_start(): {
      const char *why = mps_message_gc_start_why(arena, msg);
      if (why == NULL || why[0] == '\0')
        die("gc_start_why is empty");
      if (strlen(why) > 1000)
        die("gc_start_why absurdly long");
      vlog("messages: gc_start: %s\n", why);
      ++c->start;
      break;
    }
    case mps_message_type_gc(): {
      size_t live_s = mps_message_gc_live_size(arena, msg);
      size_t cond = mps_message_gc_condemned_size(arena, msg);
      size_t notc = mps_message_gc_not_condemned_size(arena, msg);
      vlog("messages: gc: live %zu condemned %zu not condemned %zu\n",
           live_s, cond, notc);
      if (live_s > cond)
        die("gc message: live size %zu > condemned size %zu", live_s, cond);
      if (notc > ((size_t)1 << 40))
        die("gc message: not_condemned size %zu absurd", notc);
      ++c->gc;
      break;
    }
    default:
      die("unexpected message type %u", (unsigned)type);
    }
    mps_message_discard(arena, msg);
  }
  if (mps_message_poll(arena))
    die("poll true on an empty queue");
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t amc;
  mps_thr_t thr;
  mps_root_t root, junk_root;
  mps_message_t msg;
  mps_message_type_t type;
  mps_clock_t last_clock = 0;
  counts c = { 0, 0 };
  size_t i;
  int k;

  test_init("messages");
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, live,
                                  NLIVE));
  CHECK_RES(mps_root_create_table(&junk_root, arena, mps_rank_exact(), 0,
                                  junk, 4));
  CHECK_RES(mps_thread_reg(&thr, arena));

  for (i = 0; i < NLIVE; ++i) {
    live[i] = tf_make_vec(amc_ap, next_id++, 8 + rnd_below(40));
    live_bytes += tf_block_size(live[i]);
  }

  /* 1. nothing before enable */
  churn(1 << 20);
  CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);
  if (mps_message_poll(arena))
    die("message posted before any type was enabled");
  if (mps_message_queue_type(&type, arena))
    die("queue_type true before any type was enabled");
  if (mps_message_get(&msg, arena, mps_message_type_gc()))
    die("gc message before enable");

  /* 2. enabled: each full collection posts one gc_start and one gc */
  mps_message_type_enable(arena, mps_message_type_gc());
  mps_message_type_enable(arena, mps_message_type_gc_start());
  mps_message_type_enable(arena, mps_message_type_gc());     /* harmless */
  for (k = 0; k < 5; ++k) {
    mps_message_t m;
    size_t live_s, cond;
    const char *why;
    churn(256 << 10);
    mps_arena_park(arena);
    drain(&c, &last_clock);            /* automatic collections, if any */
    CHECK_RES(mps_arena_collect(arena));
    /* the gc_start is posted first */
    if (!mps_message_queue_type(&type, arena))
      die("no message after mps_arena_collect with gc types enabled");
    if (type != mps_message_type_gc_start())
      die("head of queue after a collection has type %u, not gc_start",
          (unsigned)type);
    /* get by type skips the gc_start at the head */
    if (!mps_message_get(&m, arena, mps_message_type_gc()))
      die("mps_arena_collect posted no gc message");
    live_s = mps_message_gc_live_size(arena, m);
    cond = mps_message_gc_condemned_size(arena, m);
    printf("messages: full collection: live %zu, condemned %zu, "
           "not condemned %zu, live data held by roots %zu\n",
           live_s, cond, mps_message_gc_not_condemned_size(arena, m),
           live_bytes);
    if (live_s > cond)
      die("live size %zu > condemned size %zu", live_s, cond);
    if (cond < live_bytes)
      die("full collection condemned %zu bytes, less than the %zu live",
          cond, live_bytes);
    if (live_s < live_bytes)
      die("full collection: live size %zu < %zu bytes held by roots",
          live_s, live_bytes);
    if (mps_message_clock(arena, m) < last_clock)
      die("gc message clock earlier than a previous message");
    mps_message_discard(arena, m);
    ++c.gc;
    if (mps_message_get(&m, arena, mps_message_type_gc()))
      die("two gc messages for one mps_arena_collect");
    if (!mps_message_get(&m, arena, mps_message_type_gc_start()))
      die("gc_start message vanished");
    why = mps_message_gc_start_why(arena, m);
    if (why == NULL || why[0] == '\0')
      die("empty gc_start reason");
    if (k == 0)
      printf("messages: gc_start reason: \"%s\"\n", why);
    mps_message_discard(arena, m);
    ++c.start;
    if (mps_message_poll(arena))
      die("more messages than one gc_start and one gc for one collection");
    mps_arena_release(arena);
  }
  printf("messages: %lu gc_start and %lu gc messages\n", c.start, c.gc);

  /* 3. disable flushes */
  CHECK_RES(mps_arena_collect(arena));
  churn(64 << 10);
  CHECK_RES(mps_arena_collect(arena));
  if (!mps_message_poll(arena))
    die("no messages queued after two collections");
  mps_message_type_disable(arena, mps_message_type_gc());
  if (mps_message_get(&msg, arena, mps_message_type_gc()))
    die("gc message still queued after disabling the type");
  if (!mps_message_queue_type(&type, arena)
      || type != mps_message_type_gc_start())
    die("gc_start messages lost when the gc type was disabled");
  mps_message_type_disable(arena, mps_message_type_gc_start());
  if (mps_message_poll(arena))
    die("messages queued after disabling every type");
  CHECK_RES(mps_arena_collect(arena));
  if (mps_message_poll(arena))
    die("message posted for a disabled type");
  mps_arena_release(arena);

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(junk_root);
  mps_root_destroy(root);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("messages: OK\n");
  return 0;
}
