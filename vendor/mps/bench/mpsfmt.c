/* mpsfmt.c: object formats and MPS arena setup for the benchmarks. */

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

#include "mpsavm.h"
#include "mpscamc.h"
#include "mpsx.h"

#define WORDSZ sizeof(word)

/* ---- node format (binary trees) --------------------------------------
 * node    {left, right}: w[0] & 3 == 0 (an aligned pointer or NULL), 16 B
 * pad     w[0] = size << 2 | 1, size any multiple of 8
 * forward w[0] = new | 2, 16 B                                          */

static mps_res_t node_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  MPS_SCAN_BEGIN(ss) {
    word *p = base;
    while (p < (word *)limit) {
      word t = p[0];
      switch (t & 3) {
      case 0: {
        mps_res_t res = MPS_FIX12(ss, (mps_addr_t *)&p[0]);
        if (res != MPS_RES_OK)
          return res;
        res = MPS_FIX12(ss, (mps_addr_t *)&p[1]);
        if (res != MPS_RES_OK)
          return res;
        p += 2;
        break;
      }
      case 1:
        p = (word *)((char *)p + (t >> 2));
        break;
      default:
        p += 2;
        break;
      }
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static mps_addr_t node_skip(mps_addr_t a)
{
  word t = *(word *)a;
  if ((t & 3) == 1)
    return (char *)a + (t >> 2);
  return (char *)a + 2 * WORDSZ;
}

static void node_fwd(mps_addr_t old, mps_addr_t new)
{
  *(word *)old = (word)new | 2;
}

static mps_addr_t node_isfwd(mps_addr_t a)
{
  word t = *(word *)a;
  return (t & 3) == 2 ? (mps_addr_t)(t & ~(word)3) : NULL;
}

static void node_pad(mps_addr_t a, size_t size)
{
  *(word *)a = ((word)size << 2) | 1;
}

/* ---- object format (allocation and pause workloads), see bench.h ----- */

static mps_res_t obj_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  MPS_SCAN_BEGIN(ss) {
    word *p = base;
    while (p < (word *)limit) {
      word t = p[0];
      switch (t & 3) {
      case 1: {
        word *end = (word *)((char *)p + (t >> 3));
        word *q = p + 1, *last = (t & 4) ? end : p + 2;
        for (; q < last; ++q) {
          mps_res_t res = MPS_FIX12(ss, (mps_addr_t *)q);
          if (res != MPS_RES_OK)
            return res;
        }
        p = end;
        break;
      }
      case 3:
        p = (word *)((char *)p + (t >> 3));
        break;
      case 2:
        p = (word *)((char *)p + p[1]);
        break;
      default:
        abort();
      }
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static mps_addr_t obj_skip(mps_addr_t a)
{
  word *p = a;
  if ((p[0] & 3) == 2)
    return (char *)a + p[1];
  return (char *)a + (p[0] >> 3);
}

static void obj_fwd(mps_addr_t old, mps_addr_t new)
{
  word *p = old;
  word size = p[0] >> 3;  /* an object or vector: header holds the size */
  p[0] = (word) new | 2;
  p[1] = size;
}

static mps_addr_t obj_isfwd(mps_addr_t a)
{
  word t = *(word *)a;
  return (t & 3) == 2 ? (mps_addr_t)(t & ~(word)3) : NULL;
}

static void obj_pad(mps_addr_t a, size_t size)
{
  *(word *)a = ((word)size << 3) | 3;
}

/* ---- setup ------------------------------------------------------------ */

static void check(mps_res_t res, const char *what)
{
  if (res != MPS_RES_OK) {
    fprintf(stderr, "bench: %s failed: %d\n", what, (int)res);
    exit(2);
  }
}

void bench_mps_open(bench_mps_s *m, int fmt_kind)
{
  bench_mps_open_with(m, fmt_kind, 0, NULL, 0);
}

void bench_mps_open_with(bench_mps_s *m, int fmt_kind, size_t arena_size,
                         mps_gen_param_s *gens, size_t ngens)
{
  m->chain = NULL;
  MPS_ARGS_BEGIN(a) {
    if (arena_size != 0)
      MPS_ARGS_ADD(a, MPS_KEY_ARENA_SIZE, arena_size);
    check(mps_arena_create_k(&m->arena, mps_arena_class_vm(), a),
          "arena create");
  } MPS_ARGS_END(a);
  if (ngens != 0)
    check(mps_chain_create(&m->chain, m->arena, ngens, gens), "chain create");
  MPS_ARGS_BEGIN(a) {
    if (fmt_kind == FMT_NODE) {
      MPS_ARGS_ADD(a, MPS_KEY_FMT_SCAN, node_scan);
      MPS_ARGS_ADD(a, MPS_KEY_FMT_SKIP, node_skip);
      MPS_ARGS_ADD(a, MPS_KEY_FMT_FWD, node_fwd);
      MPS_ARGS_ADD(a, MPS_KEY_FMT_ISFWD, node_isfwd);
      MPS_ARGS_ADD(a, MPS_KEY_FMT_PAD, node_pad);
    } else {
      MPS_ARGS_ADD(a, MPS_KEY_FMT_SCAN, obj_scan);
      MPS_ARGS_ADD(a, MPS_KEY_FMT_SKIP, obj_skip);
      MPS_ARGS_ADD(a, MPS_KEY_FMT_FWD, obj_fwd);
      MPS_ARGS_ADD(a, MPS_KEY_FMT_ISFWD, obj_isfwd);
      MPS_ARGS_ADD(a, MPS_KEY_FMT_PAD, obj_pad);
    }
    check(mps_fmt_create_k(&m->fmt, m->arena, a), "format create");
  } MPS_ARGS_END(a);
  MPS_ARGS_BEGIN(a) {
    MPS_ARGS_ADD(a, MPS_KEY_FORMAT, m->fmt);
    if (m->chain != NULL)
      MPS_ARGS_ADD(a, MPS_KEY_CHAIN, m->chain);
    check(mps_pool_create_k(&m->pool, m->arena, mps_class_amc(), a),
          "pool create");
  } MPS_ARGS_END(a);
  check(mps_ap_create_k(&m->ap, m->pool, mps_args_none), "ap create");
  check(mps_thread_reg(&m->thr, m->arena), "thread reg");
  check(mps_root_create_thread(&m->stack_root, m->arena, m->thr,
                               bench_stack_cold),
        "thread root");
  mps_message_type_enable(m->arena, mps_message_type_gc());
  mps_message_type_enable(m->arena, mps_message_type_gc_start());
}

void bench_mps_close(bench_mps_s *m)
{
  mps_arena_park(m->arena);
  bench_mps_drain(m->arena);
  mps_root_destroy(m->stack_root);
  mps_thread_dereg(m->thr);
  mps_ap_destroy(m->ap);
  mps_pool_destroy(m->pool);
  mps_fmt_destroy(m->fmt);
  if (m->chain != NULL)
    mps_chain_destroy(m->chain);
  mps_arena_destroy(m->arena);
}

void bench_mps_drain(mps_arena_t arena)
{
  mps_message_type_t type;
  while (mps_message_queue_type(&type, arena)) {
    mps_message_t msg;
    if (mps_message_get(&msg, arena, type))
      mps_message_discard(arena, msg);
  }
}

void bench_mps_full_collect(bench_mps_s *m, size_t *committed_o,
                            size_t *spare_o, size_t *live_o)
{
  mpsx_trace_stats_s st;
  check(mps_arena_collect(m->arena), "arena collect");
  mpsx_arena_last_trace(m->arena, &st);
  *committed_o = mps_arena_committed(m->arena);
  *spare_o = mps_arena_spare_committed(m->arena);
  *live_o = st.live;
  mps_arena_release(m->arena);
  bench_mps_drain(m->arena);
}
