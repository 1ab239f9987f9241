/* mpscsnc.h: the SNC pool class (Stack No Checking)
 *
 * Manual, formatted, scanned: objects are allocated through allocation
 * points only and freed wholesale by popping allocation frames
 * (mps_ap_frame_push, mps_ap_frame_pop); they are never collected and
 * never move, and the references in them are fixed at every collection.
 * Keys: MPS_KEY_FORMAT (required: scan, skip; no in-band header);
 * allocation point key MPS_KEY_RANK (exact by default).
 */
#ifndef mpscsnc_h
#define mpscsnc_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

extern mps_pool_class_t mps_class_snc(void);

#ifdef __cplusplus
}
#endif

#endif /* mpscsnc_h */
