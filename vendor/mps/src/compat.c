/* compat.c: interfaces removed in MPS 1.118, kept for older programs
 *
 * Programs written for MPS 1.117 and before call a few functions that
 * 1.118 removed (mps.h lists them).  Each is defined here in terms of
 * what the interface has now; none adds state of its own.  See
 * DESIGN.md#compat.
 */

#include "mpm.h"

/* No trampoline is needed: the barrier's handler needs no frame of ours
 * below the mutator (DESIGN.md#barrier). */
mps_res_t mps_tramp(void **r_o, mps_tramp_t f, void *p, size_t s)
{
  AVER(r_o != NULL);
  AVER(f != NULL);
  *r_o = f(p, s);
  return MPS_RES_OK;
}

/* MPS_FIX12 as a function.  Called between a caller's MPS_SCAN_BEGIN and
 * MPS_SCAN_END, the zone it would record in ss->_ufs is overwritten by
 * the caller's MPS_SCAN_END, so it records the zone of the reference as
 * it leaves it in the trace's fixed zones instead, which the summary
 * takes whole (DESIGN.md#barrier); _mps_fix2 does that for the
 * references it is given. */
mps_res_t mps_fix(mps_ss_t ss, mps_addr_t *ref_io)
{
  Trace trace = TraceOfSS(ss);
  ZoneSet zone;
  AVER(ss != NULL);
  AVER(ref_io != NULL);
  if (*ref_io == NULL)
    return MPS_RES_OK;
  zone = (ZoneSet)1 << ZoneOfAddr(trace->arena, *ref_io);
  if ((ss->_w & zone) != 0)
    return _mps_fix2(ss, ref_io);
  trace->fixed_zones |= zone;
  return MPS_RES_OK;
}

/* Park, then lift every barrier; the arena is left parked (clamped, no
 * trace running), as mps_arena_park leaves it.  Nothing else is needed
 * to forget what the write barrier knew: a segment without its barrier
 * is scanned by every collection whatever its summary says
 * (DESIGN.md#barrier), so the next collection scans the whole heap, and
 * its end raises the barriers again.  The unsafe variant differs only in
 * that restoring raises them at once, from the summaries, which the
 * client promised not to make wrong. */
static void arenaExpose(mps_arena_t arena)
{
  ArenaEnter(arena);
  TraceFinish(arena);
  arena->clamped = TRUE;
  /* Writes the soft barrier saw must not be forgotten with it
   * (DESIGN.md#barrier-soft): restoring would raise it again on their
   * segments' old summaries. */
  ArenaHarvestWrites(arena, NULL);
  ArenaUnprotectAll(arena);
  ArenaLeave(arena);
}

void mps_arena_expose(mps_arena_t arena)
{
  arenaExpose(arena);
}

void mps_arena_unsafe_expose_remember_protection(mps_arena_t arena)
{
  arenaExpose(arena);
}

/* The barriers the end of a trace raises (the arena is parked). */
void mps_arena_unsafe_restore_protection(mps_arena_t arena)
{
  ArenaEnter(arena);
  if (arena->trace == NULL)
    ArenaProtectOld(arena);
  ArenaLeave(arena);
}

/* The reservoir (memory kept for allocations with a permit) is always
 * empty, as it was in 1.117. */
void mps_reservoir_limit_set(mps_arena_t arena, size_t size)
{
  AVER(arena != NULL);
  (void)arena;
  (void)size;
}

size_t mps_reservoir_limit(mps_arena_t arena)
{
  AVER(arena != NULL);
  (void)arena;
  return 0;
}

size_t mps_reservoir_available(mps_arena_t arena)
{
  AVER(arena != NULL);
  (void)arena;
  return 0;
}

mps_res_t mps_reserve_with_reservoir_permit(mps_addr_t *p_o, mps_ap_t ap,
                                            size_t size)
{
  return (mps_reserve)(p_o, ap, size);
}

mps_res_t mps_ap_fill_with_reservoir_permit(mps_addr_t *p_o, mps_ap_t ap,
                                            size_t size)
{
  return mps_ap_fill(p_o, ap, size);
}
