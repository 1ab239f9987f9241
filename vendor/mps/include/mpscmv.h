/* mpscmv.h: the MV pool class (Manual Variable), removed in MPS 1.118
 *
 * Kept for programs written for earlier versions (DESIGN.md#compat): an
 * MV pool is an MVFF pool (mpscmvff.h).  Keys: MPS_KEY_EXTEND_BY,
 * MPS_KEY_MEAN_SIZE, MPS_KEY_MAX_SIZE (accepted; at least the mean size),
 * MPS_KEY_ALIGN; positional form: mps_pool_create(&pool, arena,
 * mps_class_mv(), extend_by, mean_size, max_size), and for the debug
 * class the debug options first.
 */
#ifndef mpscmv_h
#define mpscmv_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

extern mps_pool_class_t mps_class_mv(void);
/* MV with fenceposts and free-space splatting: MPS_KEY_POOL_DEBUG_OPTIONS. */
extern mps_pool_class_t mps_class_mv_debug(void);
extern size_t mps_mv_free_size(mps_pool_t pool);
extern size_t mps_mv_size(mps_pool_t pool);

#ifdef __cplusplus
}
#endif

#endif /* mpscmv_h */
