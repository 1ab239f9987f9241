/* final.c: finalization
 *
 * Each mps_finalize adds an entry holding a final-rank reference and a
 * preallocated message.  During a trace, after everything reachable
 * through exact references is known, an entry whose object is condemned
 * and not alive is finalizable: its object is preserved (fixed exactly,
 * so whatever it refers to survives too), its message is posted, and the
 * entry is consumed.  The posted message is a root until discarded.  See
 * DESIGN.md#finalization.
 */

#include <stdlib.h>

#include "mpm.h"

Res FinalRegister(Arena arena, Addr ref)
{
  Message message;
  Res res;
  if (arena->final_count == arena->final_capacity) {
    Size capacity = arena->final_capacity == 0 ? 16
                                               : arena->final_capacity * 2;
    FinalEntry entries = realloc(arena->finals, capacity * sizeof *entries);
    if (entries == NULL)
      return MPS_RES_MEMORY;
    arena->finals = entries;
    arena->final_capacity = capacity;
  }
  res = MessageCreate(&message, arena, mps_message_type_finalization());
  if (res != MPS_RES_OK)
    return res;
  arena->finals[arena->final_count].ref = ref;
  arena->finals[arena->final_count].message = message;
  ++arena->final_count;
  return MPS_RES_OK;
}

Res FinalDeregister(Arena arena, Addr ref)
{
  Size i;
  for (i = 0; i < arena->final_count; ++i)
    if (arena->finals[i].ref == ref) {
      MessageDestroy(arena->finals[i].message);
      arena->finals[i] = arena->finals[--arena->final_count];
      return MPS_RES_OK;
    }
  return MPS_RES_FAIL;
}

static Bool finalIsDying(Trace trace, Addr ref)
{
  Seg seg = SegOfAddr(trace->arena, ref);
  if (seg == NULL || !seg->condemned)
    return FALSE;
  return !seg->pool->klass->is_alive(seg->pool, trace, seg, ref);
}

Res FinalScan(Trace trace)
{
  Arena arena = trace->arena;
  Size i, dying = 0;
  FinalEntry entries = arena->finals;

  /* Decide every entry before fixing any: an object kept alive only by
   * another finalizable object is finalizable too. */
  for (i = 0; i < arena->final_count; ++i)
    if (finalIsDying(trace, entries[i].ref)) {
      /* Mark by moving the message pointer's low bit. */
      entries[i].message = (Message)((Word)entries[i].message | 1);
      ++dying;
    }
  i = 0;
  while (i < arena->final_count) {
    FinalEntry entry = &entries[i];
    mps_addr_t ref = entry->ref;
    Res res = TraceFix(trace, &ref, RankEXACT);
    ASSERT_ALWAYS(res == MPS_RES_OK);
    entry->ref = ref;
    if ((Word)entry->message & 1) {
      Message message = (Message)((Word)entry->message & ~(Word)1);
      message->the.final.ref = ref;
      message->clock = 0;
      MessagePost(arena, message);
      *entry = entries[--arena->final_count];
      continue;
    }
    ++i;
  }
  (void)dying;
  return MPS_RES_OK;
}

void FinalFinish(Arena arena)
{
  Size i;
  for (i = 0; i < arena->final_count; ++i)
    MessageDestroy(arena->finals[i].message);
  free(arena->finals);
  arena->finals = NULL;
  arena->final_count = arena->final_capacity = 0;
}
