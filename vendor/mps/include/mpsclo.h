/* mpsclo.h: the LO pool class (Leaf Object)
 *
 * Non-moving, never scanned, never protected.  Keys: MPS_KEY_FORMAT
 * (required: skip), MPS_KEY_CHAIN, MPS_KEY_GEN (declared in mps.h).
 */
#ifndef mpsclo_h
#define mpsclo_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

extern mps_pool_class_t mps_class_lo(void);

#ifdef __cplusplus
}
#endif

#endif /* mpsclo_h */
