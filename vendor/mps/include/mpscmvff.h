/* mpscmvff.h: the MVFF pool class (Manual Variable First Fit)
 *
 * Manual allocation with mps_alloc and mps_free, and allocation points.
 * Keys: MPS_KEY_EXTEND_BY, MPS_KEY_MEAN_SIZE, MPS_KEY_ALIGN, MPS_KEY_SPARE,
 * MPS_KEY_MVFF_ARENA_HIGH, MPS_KEY_MVFF_SLOT_HIGH, MPS_KEY_MVFF_FIRST_FIT
 * (declared in mps.h).
 */
#ifndef mpscmvff_h
#define mpscmvff_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

extern mps_pool_class_t mps_class_mvff(void);
/* MVFF with fenceposts and free-space splatting: MPS_KEY_POOL_DEBUG_OPTIONS. */
extern mps_pool_class_t mps_class_mvff_debug(void);

#define mps_mvff_free_size mps_pool_free_size
#define mps_mvff_size mps_pool_total_size

#ifdef __cplusplus
}
#endif

#endif /* mpscmvff_h */
