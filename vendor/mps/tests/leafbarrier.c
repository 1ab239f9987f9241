/* leafbarrier.c -- large objects without references get no write barrier
 *
 * An AMC pool with the MPS manual's chain (150 and 170 KiB) and large
 * strings (40 to 60 KiB, above AMC's large-object threshold), each kept a
 * while in a ring of exact roots, and kept by their segments promoted in
 * place from generation to generation.  A large object that referred to
 * nothing when it was last scanned is left writable, with a summary of
 * every zone (DESIGN.md#barrier-leaf): scanning it reads one header,
 * where protecting it cost a system call over all its pages, and lifting
 * the protection when it died another.  The program counts the calls that
 * make memory read-only (its own mprotect, which the library's calls
 * reach): at most one for every four collections; the library before
 * made about one per string that survived a collection.
 *
 * Then some of the strings' neighbours, large vectors, get references to
 * young pairs stored in them, which must survive and be fixed; at the
 * end every string's contents and every pair are checked.
 */

#define _GNU_SOURCE
#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RING 48
#define STRINGS 3000
#define VECS 8
#define VEC_REFS 6000 /* 48 KiB: large */

static void *ring[RING];        /* exact root */
static void *vecs[VECS];        /* exact root */
static unsigned long read_only_calls;

/* Every mprotect of the process: the library's are among them. */
int mprotect(void *addr, size_t len, int prot)
{
  if (prot == PROT_READ)
    __atomic_add_fetch(&read_only_calls, 1, __ATOMIC_RELAXED);
  return (int)syscall(SYS_mprotect, addr, len, prot);
}

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_chain_t chain;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_thr_t thr;
  mps_root_t ring_root, vec_root, stack_root;
  mps_gen_param_s gens[2] = {{150, 0.85}, {170, 0.45}};
  unsigned long id = 1, before, collections0, collections, calls;
  size_t i, j;

  test_init("leafbarrier");
  /* This test is about the mprotect barrier's faults: keep it even
   * where the kernel offers the soft one (DESIGN.md#barrier-soft). */
  setenv("MPS_WRITE_BARRIER", "mprotect", 1);
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_area(&ring_root, arena, mps_rank_exact(), 0,
                                 ring, ring + RING, mps_scan_area, NULL));
  CHECK_RES(mps_root_create_area(&vec_root, arena, mps_rank_exact(), 0,
                                 vecs, vecs + VECS, mps_scan_area, NULL));
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread(&stack_root, arena, thr,
                                   (mps_addr_t)&thr));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));

  /* Large strings, each kept for RING more. */
  collections0 = mps_collections(arena);
  before = __atomic_load_n(&read_only_calls, __ATOMIC_RELAXED);
  for (i = 0; i < STRINGS; ++i) {
    size_t k = i % RING;
    ring[k] = tf_make_str(ap, id++, 40000 + 8 * rnd_below(2500));
  }
  calls = __atomic_load_n(&read_only_calls, __ATOMIC_RELAXED) - before;
  collections = mps_collections(arena) - collections0;
  printf("leafbarrier: %d large strings, %lu collections, %lu calls making "
         "memory read-only\n", STRINGS, collections, calls);
  CHECK(collections >= 100);
  CHECK(calls <= collections / 4);
  for (i = 0; i < RING; ++i)
    tf_check_obj(ring[i], "leafbarrier: a kept string");

  /* Large vectors: references to young pairs stored after they were
   * promoted must be fixed (they have references, so they get the
   * barrier; those without any yet have none). */
  for (i = 0; i < VECS; ++i)
    vecs[i] = tf_make_vec(ap, id++, VEC_REFS);
  for (j = 0; j < 200000; ++j) {
    void *p = tf_make_pair(ap, id++, NULL, NULL);
    if (j % 64 == 0)
      tf_set_ref(vecs[rnd_below(VECS)], rnd_below(VEC_REFS), p);
    if (j % 1000 == 0)
      ring[rnd_below(RING)] = tf_make_str(ap, id++, 40000);
  }
  mps_arena_park(arena);
  for (i = 0; i < VECS; ++i)
    for (j = 0; j < VEC_REFS; ++j) {
      void *q = tf_ref(vecs[i], j);
      if (q != NULL)
        tf_check_obj(q, "leafbarrier: a pair stored in a large vector");
    }
  for (i = 0; i < RING; ++i)
    tf_check_obj(ring[i], "leafbarrier: a kept string");
  mps_arena_release(arena);

  mps_ap_destroy(ap);
  mps_root_destroy(stack_root);
  mps_thread_dereg(thr);
  mps_root_destroy(vec_root);
  mps_root_destroy(ring_root);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  return 0;
}
