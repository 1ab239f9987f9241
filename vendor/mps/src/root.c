/* root.c: roots and the area scanners
 *
 * A root is client memory outside the collected pools that holds
 * references: a table, an area scanned by an area scanner, a block of
 * formatted objects, a scan function's closure, or a thread's registers
 * and stack.  See DESIGN.md#roots.
 */

#include <stdlib.h>

#include "mpm.h"

Bool RootCheck(Root root)
{
  if (root == NULL || root->sig != RootSig || root->arena == NULL ||
      root->rank >= RankLIMIT)
    return FALSE;
  switch (root->var) {
  case RootFUN:
    return root->the.fun.scan != NULL;
  case RootAREA:
    return root->the.area.scan_area != NULL &&
           root->the.area.base <= root->the.area.limit;
  case RootFMT:
    return root->the.fmt.scan != NULL &&
           root->the.fmt.base <= root->the.fmt.limit;
  case RootTHREAD:
    return root->the.thread.thread != NULL &&
           root->the.thread.scan_area != NULL && root->rank == RankAMBIG;
  }
  return FALSE;
}

Res RootCreate(Root *root_o, Arena arena, Rank rank, RootVar var)
{
  Root root;
  if (rank >= RankLIMIT || rank == RankFINAL)
    return MPS_RES_PARAM;
  root = calloc(1, sizeof *root);
  if (root == NULL)
    return MPS_RES_MEMORY;
  root->arena = arena;
  root->rank = rank;
  root->var = var;
  RingInit(&root->arena_ring);
  *root_o = root;
  return MPS_RES_OK;
}

void RootDestroy(Root root)
{
  AVERT(Root, root);
  RingRemove(&root->arena_ring);
  root->sig = SigInvalid;
  free(root);
}

Res RootScan(Trace trace, Root root)
{
  mps_ss_t ss = &trace->ss;
  Res res = MPS_RES_OK;
  AVERT(Root, root);
  trace->ss._ufs = 0;
  switch (root->var) {
  case RootFUN:
    res = root->the.fun.scan(ss, root->the.fun.p, root->the.fun.s);
    break;
  case RootAREA:
    res = root->the.area.scan_area(ss, root->the.area.base,
                                   root->the.area.limit,
                                   root->the.area.closure);
    break;
  case RootFMT:
    res = root->the.fmt.scan(ss, root->the.fmt.base, root->the.fmt.limit);
    break;
  case RootTHREAD:
    res = ThreadScan(ss, root->the.thread.thread, root->the.thread.cold,
                     root->the.thread.scan_area, root->the.thread.closure);
    break;
  }
  return res;
}

/* Area scanners --------------------------------------------------------
 *
 * Each fixes the words of [base, limit) that look like references under
 * its rule, putting back any tag bits after the fix.
 */

/* mps_scan_area reads and writes each word atomically, and writes a fixed
 * reference back only if the word still holds what it read: an area root
 * may be written by a thread the collection did not stop (a code pool's
 * root slot cleared by a CodeObject dropped on an unregistered thread),
 * and that store must neither race with the collector's (a data race in
 * the C11 memory model) nor be undone by it (DESIGN.md#roots). */
NO_SANITIZE_ADDRESS
mps_res_t mps_scan_area(mps_ss_t ss, void *base, void *limit, void *closure)
{
  mps_word_t *p;
  (void)closure;
  MPS_SCAN_BEGIN(ss) {
    Bool walking = TraceOfSS(ss)->root_stepper != NULL;
    for (p = base; p < (mps_word_t *)limit; ++p) {
      mps_word_t word = __atomic_load_n(p, __ATOMIC_RELAXED);
      if (MPS_FIX1(ss, word)) {
        /* Fix a copy (the area may be a stack, with sanitizer red zones
         * between its words) and write back only what changed, so a live
         * stack is never written.  Root walkers get the real location. */
        mps_addr_t ref = (mps_addr_t)word;
        mps_res_t res = MPS_FIX2(ss, walking ? (mps_addr_t *)(void *)p : &ref);
        if (res != MPS_RES_OK)
          return res;
        if (!walking && (mps_word_t)ref != word) {
          mps_word_t expected = word;
          (void)__atomic_compare_exchange_n(p, &expected, (mps_word_t)ref, 0,
                                            __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED);
        }
      }
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

NO_SANITIZE_ADDRESS
mps_res_t mps_scan_area_masked(mps_ss_t ss, void *base, void *limit,
                               void *closure)
{
  mps_scan_tag_t tag = closure;
  mps_word_t mask = tag->mask;
  mps_word_t *p;
  MPS_SCAN_BEGIN(ss) {
    for (p = base; p < (mps_word_t *)limit; ++p) {
      mps_word_t word = *p;
      mps_word_t bits = word & mask;
      mps_word_t untagged = word & ~mask;
      if (MPS_FIX1(ss, untagged)) {
        mps_addr_t ref = (mps_addr_t)untagged;
        mps_res_t res = MPS_FIX2(ss, &ref);
        if (res != MPS_RES_OK)
          return res;
        if ((mps_word_t)ref != untagged)
          *p = (mps_word_t)ref | bits;
      }
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

NO_SANITIZE_ADDRESS
static mps_res_t scanTagged(mps_ss_t ss, void *base, void *limit,
                            mps_scan_tag_t tag, Bool or_zero)
{
  mps_word_t mask = tag->mask, pattern = tag->pattern;
  mps_word_t *p;
  MPS_SCAN_BEGIN(ss) {
    for (p = base; p < (mps_word_t *)limit; ++p) {
      mps_word_t word = *p;
      mps_word_t bits = word & mask;
      mps_word_t untagged;
      if (bits != pattern && !(or_zero && bits == 0))
        continue;
      untagged = word ^ bits;
      if (MPS_FIX1(ss, untagged)) {
        mps_addr_t ref = (mps_addr_t)untagged;
        mps_res_t res = MPS_FIX2(ss, &ref);
        if (res != MPS_RES_OK)
          return res;
        /* Write only what changed (a tagged NULL stays as it was, a live
         * stack is never written); a splatted weak reference reads as 0,
         * without its tag. */
        if ((mps_word_t)ref != untagged)
          *p = ref == NULL ? 0 : ((mps_word_t)ref | bits);
      }
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

mps_res_t mps_scan_area_tagged(mps_ss_t ss, void *base, void *limit,
                               void *closure)
{
  return scanTagged(ss, base, limit, closure, FALSE);
}

mps_res_t mps_scan_area_tagged_or_zero(mps_ss_t ss, void *base, void *limit,
                                       void *closure)
{
  return scanTagged(ss, base, limit, closure, TRUE);
}
