/* code.c: code memory, the extension interface mpsx.h
 *
 * The pages of an executable pool come from the arena's code chunk: one
 * memfd mapped twice (vm.c).  Everything inside the collector uses the
 * read-write view; code runs in the read-execute view.  See
 * DESIGN.md#code.
 */

#include "mpm.h"
#include "args.h"
#include "mpsx.h"

#if EXTENSIONS
const struct mps_key_s _mpsx_key_CODE_RESERVE = {
    KeySig, "MPSX_KEY_CODE_RESERVE", "size"};
const struct mps_key_s _mpsx_key_WRITE_BARRIER = {
    KeySig, "MPSX_KEY_WRITE_BARRIER", "i"};
#endif

/* The instruction-cache rule: after bytes of code change through the
 * write view, and before they run, the execute view's range must be made
 * coherent.  x86-64 keeps instruction and data caches coherent (and
 * resuming a stopped thread serialises it), so there is nothing to do;
 * elsewhere the compiler's builtin does it.  This is the one function
 * that enforces the rule. */
void CodeFlush(Addr rx, Size size)
{
#if defined(__x86_64__) || defined(__i386__)
  (void)rx;
  (void)size;
#else
  __builtin___clear_cache((char *)rx, (char *)rx + size);
#endif
}

void CodeFlushWritten(Arena arena, Addr rw, Size size)
{
  Chunk chunk = arena->code_chunk;
  AVER(chunk != NULL && rw >= chunk->base && rw + size <= chunk->limit);
  CodeFlush(chunk->exec_base + (rw - chunk->base), size);
}

#if EXTENSIONS /* the entry points of mpsx.h (DESIGN.md#strict) */

void mpsx_flush_icache(void *exec, size_t size)
{
  CodeFlush(exec, size);
}

intptr_t mpsx_code_delta(mps_arena_t arena)
{
  Chunk chunk = arena->code_chunk;
  if (chunk == NULL)
    return 0;
  return (intptr_t)(chunk->exec_base - chunk->base);
}

mps_bool_t mpsx_code_range(mps_arena_t arena, void **write_base_o,
                           void **exec_base_o, size_t *size_o)
{
  Chunk chunk;
  Bool found = FALSE;
  ArenaEnter(arena);
  chunk = arena->code_chunk;
  if (chunk != NULL) {
    *write_base_o = chunk->base;
    *exec_base_o = chunk->exec_base;
    *size_o = AddrOffset(chunk->base, chunk->limit);
    found = TRUE;
  }
  ArenaLeave(arena);
  return found;
}

NO_SANITIZE_ADDRESS
mps_res_t mpsx_scan_area_code(mps_ss_t ss, void *base, void *limit,
                              void *closure)
{
  Arena arena = TraceOfSS(ss)->arena;
  Chunk chunk = arena->code_chunk;
  Word exec_lo = 0, exec_hi = 0, delta = 0;
  mps_word_t *p;
  (void)closure;
  if (chunk != NULL) {
    exec_lo = (Word)chunk->exec_base;
    exec_hi = exec_lo + AddrOffset(chunk->base, chunk->limit);
    delta = (Word)(chunk->exec_base - chunk->base);
  }
  MPS_SCAN_BEGIN(ss) {
    for (p = base; p < (mps_word_t *)limit; ++p) {
      mps_word_t word = *p;
      mps_addr_t ref;
      if (word >= exec_lo && word < exec_hi)
        word -= delta; /* a return address or code pointer */
      if (MPS_FIX1(ss, word)) {
        mps_res_t res;
        ref = (mps_addr_t)word; /* ambiguous: the copy is never stored */
        res = MPS_FIX2(ss, &ref);
        if (res != MPS_RES_OK)
          return res;
      }
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

void mpsx_arena_last_trace(mps_arena_t arena, mpsx_trace_stats_s *stats_o)
{
  ArenaEnter(arena);
  stats_o->condemned = arena->last_trace.condemned;
  stats_o->live = arena->last_trace.live;
  stats_o->copied = arena->last_trace.copied;
  stats_o->objects_moved = arena->last_trace.objects_moved;
  stats_o->segs_pinned = arena->last_trace.segs_pinned;
  stats_o->segs_skipped = arena->last_trace.segs_skipped;
  stats_o->bytes_scanned = arena->last_trace.bytes_scanned;
  stats_o->seconds = arena->last_trace.seconds;
  ArenaLeave(arena);
}

size_t mpsx_arena_traces(mps_arena_t arena)
{
  Size n;
  ArenaEnter(arena);
  n = arena->collections;
  ArenaLeave(arena);
  return n;
}

int mpsx_arena_write_barrier(mps_arena_t arena)
{
  int kind;
  ArenaEnter(arena);
  kind = arena->soft_barrier ? MPSX_BARRIER_SOFT : MPSX_BARRIER_MPROTECT;
  ArenaLeave(arena);
  return kind;
}

size_t mpsx_arena_soft_barrier_hits(mps_arena_t arena)
{
  Size n;
  ArenaEnter(arena);
  n = arena->soft_hits;
  ArenaLeave(arena);
  return n;
}

#endif /* EXTENSIONS */
