/* mpscams.h: the AMS pool class (Automatic Mark and Sweep)
 *
 * Non-moving, formatted, exact or ambiguous references inside objects
 * (allocation point key MPS_KEY_RANK).  Keys: MPS_KEY_FORMAT (required:
 * scan, skip), MPS_KEY_CHAIN, MPS_KEY_GEN, MPS_KEY_AMS_SUPPORT_AMBIGUOUS
 * (declared in mps.h).
 */
#ifndef mpscams_h
#define mpscams_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

extern mps_pool_class_t mps_class_ams(void);
/* AMS with free-space splatting: MPS_KEY_POOL_DEBUG_OPTIONS. */
extern mps_pool_class_t mps_class_ams_debug(void);

#ifdef __cplusplus
}
#endif

#endif /* mpscams_h */
