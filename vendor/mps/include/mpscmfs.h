/* mpscmfs.h: the MFS pool class (Manual Fixed Small)
 *
 * Fixed-size units with mps_alloc and mps_free.  Keys:
 * MPS_KEY_MFS_UNIT_SIZE (required), MPS_KEY_EXTEND_BY (declared in mps.h).
 */
#ifndef mpscmfs_h
#define mpscmfs_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

extern mps_pool_class_t mps_class_mfs(void);

#ifdef __cplusplus
}
#endif

#endif /* mpscmfs_h */
