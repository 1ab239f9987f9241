/* mpscamc.h: the AMC and AMCZ pool classes
 *
 * AMC (Automatic Mostly-Copying) is the generational copying collector;
 * AMCZ is the same for leaf objects, which are never scanned.  Their
 * keyword arguments (MPS_KEY_FORMAT, MPS_KEY_CHAIN, MPS_KEY_INTERIOR,
 * MPS_KEY_EXTEND_BY, MPS_KEY_LARGE_SIZE, and MPS_KEY_AP_HASH_ARRAYS for
 * allocation points) are declared in mps.h.
 */

#ifndef mpscamc_h
#define mpscamc_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

extern mps_pool_class_t mps_class_amc(void);
extern mps_pool_class_t mps_class_amcz(void);

/* Deprecated in favour of mps_pool_walk: call f(addr, p, s) for every
 * formatted object (padding included, dead objects possibly) in an AMC
 * pool.  The arena must be parked. */
typedef void (*mps_amc_apply_stepper_t)(mps_addr_t addr, void *p, size_t s);
extern void mps_amc_apply(mps_pool_t pool, mps_amc_apply_stepper_t f,
                          void *p, size_t s);

#ifdef __cplusplus
}
#endif

#endif /* mpscamc_h */
