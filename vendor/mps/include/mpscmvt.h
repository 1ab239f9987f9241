/* mpscmvt.h: the MVT pool class (Manual Variable Temporal)
 *
 * Manual pool for blocks whose lifetimes are related to when they were
 * allocated: allocation through allocation points only, freeing with
 * mps_free.  Keys: MPS_KEY_ALIGN, MPS_KEY_MIN_SIZE, MPS_KEY_MEAN_SIZE,
 * MPS_KEY_MAX_SIZE, MPS_KEY_MVT_RESERVE_DEPTH, MPS_KEY_MVT_FRAG_LIMIT
 * (declared in mps.h).
 */
#ifndef mpscmvt_h
#define mpscmvt_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

extern mps_pool_class_t mps_class_mvt(void);

#define mps_mvt_free_size mps_pool_free_size
#define mps_mvt_size mps_pool_total_size

#ifdef __cplusplus
}
#endif

#endif /* mpscmvt_h */
