/* grow.c -- an arena created with a small reservation holds a large heap
 *
 * An arena reserves address space in chunks, at most 64 of them
 * (DESIGN.md#arena).  Until 2026-12-07 every chunk after the first had
 * the first one's size, so an arena created with MPS_KEY_ARENA_SIZE 1 MiB
 * could never hold more than 64 MiB, and allocation failed with
 * MPS_RES_RESOURCE.  Chunks now grow with the heap.
 *
 * The test keeps 96 MiB of vectors alive in an arena created with a 1 MiB
 * reservation, collects, and checks every vector.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdio.h>
#include <stdlib.h>

#define VEC_REFS 1000 /* about 8 KiB each */
#define LIVE ((size_t)96 << 20)

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_pool_t amc;
  mps_ap_t ap;
  mps_root_t root;
  size_t n = LIVE / tf_vec_size(VEC_REFS), i, j;
  void **vecs;

  test_init("grow");
  vecs = calloc(n, sizeof *vecs);
  CHECK(vecs != NULL);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)1 << 20);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_area(&root, arena, mps_rank_exact(), 0, vecs,
                                 vecs + n, mps_scan_area, NULL));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));

  /* Each vector refers to the one made before it. */
  for (i = 0; i < n; ++i) {
    vecs[i] = tf_make_vec(ap, i, VEC_REFS);
    if (i > 0)
      tf_set_ref(vecs[i], 0, vecs[i - 1]);
  }
  CHECK_RES(mps_arena_collect(arena));
  printf("grow: %zu vectors (%zu bytes) live in an arena created with "
         "1 MiB; %zu bytes reserved, %zu committed\n",
         n, n * tf_vec_size(VEC_REFS), mps_arena_reserved(arena),
         mps_arena_committed(arena));
  CHECK(mps_arena_reserved(arena) > (size_t)64 << 20);
  for (i = 0; i < n; ++i) {
    CHECK(tf_kind(vecs[i]) == TF_VEC && tf_id(vecs[i]) == i);
    CHECK(tf_ref(vecs[i], 0) == (i > 0 ? vecs[i - 1] : NULL));
    for (j = 1; j < VEC_REFS; ++j)
      CHECK(tf_ref(vecs[i], j) == NULL);
  }
  mps_arena_release(arena);

  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  free(vecs);
  return 0;
}
