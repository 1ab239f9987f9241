/* mpscawl.h: the AWL pool class (Automatic Weak Linked)
 *
 * Non-moving, formatted; objects hold exact or weak references (the
 * allocation point's MPS_KEY_RANK decides).  Keys: MPS_KEY_FORMAT
 * (required: scan, skip), MPS_KEY_AWL_FIND_DEPENDENT, MPS_KEY_CHAIN,
 * MPS_KEY_GEN (declared in mps.h).
 */
#ifndef mpscawl_h
#define mpscawl_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef mps_addr_t (*mps_awl_find_dependent_t)(mps_addr_t addr);

extern mps_pool_class_t mps_class_awl(void);

#ifdef __cplusplus
}
#endif

#endif /* mpscawl_h */
