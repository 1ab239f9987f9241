/* ld.c: location dependencies
 *
 * An LD records the arena's move epoch at reset and the zones of the
 * addresses added since.  The arena remembers, for each of the last
 * HISTORY_LENGTH flips, the zones whose objects may have moved.  An LD is
 * stale if a flip since its epoch moved objects in one of its zones, and
 * always stale (unless empty) if that history has been forgotten.  Never
 * false for an object that moved; sometimes true for one that did not.
 * add and isstale take no lock: see DESIGN.md#ld.
 */

#include "mpm.h"

void mps_ld_reset(mps_ld_t ld, mps_arena_t arena)
{
  AVERT(Arena, arena);
  ld->_epoch = __atomic_load_n(&arena->epoch, __ATOMIC_ACQUIRE);
  ld->_rs = ZoneSetEMPTY;
}

void mps_ld_add(mps_ld_t ld, mps_arena_t arena, mps_addr_t addr)
{
  ld->_rs |= (ZoneSet)1 << ZoneOfAddr(arena, addr);
}

void mps_ld_merge(mps_ld_t dest, mps_arena_t arena, mps_ld_t src)
{
  (void)arena;
  if (src->_epoch < dest->_epoch)
    dest->_epoch = src->_epoch;
  dest->_rs |= src->_rs;
}

mps_bool_t mps_ld_isstale_any(mps_ld_t ld, mps_arena_t arena)
{
  Word now = __atomic_load_n(&arena->epoch, __ATOMIC_ACQUIRE);
  Word e;
  ZoneSet moved = ZoneSetEMPTY;
  if (ld->_rs == ZoneSetEMPTY || now == ld->_epoch)
    return 0;
  if (now - ld->_epoch >= HISTORY_LENGTH)
    return 1;
  for (e = ld->_epoch; e != now; ++e)
    moved |= arena->history[e % HISTORY_LENGTH];
  return (moved & ld->_rs) != ZoneSetEMPTY;
}

mps_bool_t mps_ld_isstale(mps_ld_t ld, mps_arena_t arena, mps_addr_t addr)
{
  (void)addr; /* the summary is per LD, not per address */
  return mps_ld_isstale_any(ld, arena);
}
