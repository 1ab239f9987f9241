/* mpsavm.h: the virtual-memory arena class
 *
 * A VM arena reserves address space from the operating system and maps
 * (commits) pages on demand.  Its keyword arguments (all optional) are
 * listed with MPS_KEY_ARENA_SIZE and friends in mps.h.
 */

#ifndef mpsavm_h
#define mpsavm_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The class to pass to mps_arena_create_k. */
extern mps_arena_class_t mps_arena_class_vm(void);

/* Tuning (undocumented by the MPS): how much address space a VM arena
 * asks for when it has to grow -- "desired" if it can get it, else at
 * least "minimum" bytes. */
extern mps_res_t mps_arena_vm_growth(mps_arena_t arena, size_t desired,
                                     size_t minimum);

#ifdef __cplusplus
}
#endif

#endif /* mpsavm_h */
