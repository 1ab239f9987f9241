/* mpsacl.h: the client arena class
 *
 * A client arena manages one or more blocks of memory handed over by the
 * client (the first through MPS_KEY_ARENA_CL_BASE and MPS_KEY_ARENA_SIZE,
 * both required, or positionally mps_arena_create(&arena,
 * mps_arena_class_cl(), size, base); more with mps_arena_extend).  Each
 * block holds its own page tables at its start: one too small for them
 * and a page is MPS_RES_MEMORY.  MPS_KEY_ARENA_GRAIN_SIZE defaults to
 * 8192 and is rounded up to the system page size.  It never returns
 * memory; once the blocks are full, allocation fails with
 * MPS_RES_RESOURCE.  See DESIGN.md#client-arena.
 *
 * MPS_KEY_ARENA_CL_BASE itself is declared in mps.h together with the
 * other keys, so it is available whether or not this header is included.
 */

#ifndef mpsacl_h
#define mpsacl_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The class to pass to mps_arena_create_k. */
extern mps_arena_class_t mps_arena_class_cl(void);

#ifdef __cplusplus
}
#endif

#endif /* mpsacl_h */
