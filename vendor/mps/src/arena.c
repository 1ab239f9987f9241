/* arena.c: the VM arena: chunks, page table, commit limit, spare memory
 *
 * See DESIGN.md#arena and DESIGN.md#zones.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpm.h"
#include "args.h"
#include "bt.h"
#include "telemetry.h"

/* Zone stripes of 4 MiB at least, as for the default reservation. */
#define ZONE_SHIFT_MIN 22

#define ARENA_DEFAULT_SIZE ((Size)256 << 20)
#define ARENA_MIN_GRAINS 64
#define CLIENT_DEFAULT_GRAIN ((Size)8192)
/* No reservation or grain can be larger: 2^48 bytes is the whole user
 * address space of x86-64 and AArch64 Linux.  Larger requests are refused
 * before any arithmetic on them can overflow: a VM arena's size with
 * MPS_RES_RESOURCE (the manual's result when the address space cannot be
 * reserved), a grain or a client arena's size with MPS_RES_PARAM. */
#define ARENA_SIZE_MAX ((Size)1 << 48)

RingStruct ArenaGlobalRing = {&ArenaGlobalRing, &ArenaGlobalRing};

/* Destroyed arenas not yet freed (ArenaDestroy), with the global lock. */
static Arena arenaZombies;

/* Checks -------------------------------------------------------------- */

Bool ChunkCheck(Chunk chunk)
{
  return chunk != NULL && chunk->sig == ChunkSig && chunk->arena != NULL &&
         chunk->base < chunk->limit && chunk->page_seg != NULL &&
         chunk->alloc_table != NULL && chunk->commit_table != NULL &&
         AddrOffset(chunk->base, chunk->limit) ==
             chunk->pages << chunk->arena->grain_shift &&
         !(chunk->soft && (chunk->exec || chunk->client));
}

Bool ArenaCheck(Arena arena)
{
  unsigned i;
  if (arena == NULL || arena->sig != ArenaSig)
    return FALSE;
  if (!LockCheck(&arena->lock) || !IsPow2(arena->grain) ||
      ((Size)1 << arena->grain_shift) != arena->grain)
    return FALSE;
  if (arena->zone_shift >= WORD_BITS || arena->chunk_count == 0 ||
      arena->chunk_count > ARENA_MAX_CHUNKS)
    return FALSE;
  if (arena->spare_committed > arena->committed)
    return FALSE;
  if (!(arena->spare >= 0.0 && arena->spare <= 1.0))
    return FALSE;
  for (i = 0; i < arena->chunk_count; ++i) {
    if (!ChunkCheck(arena->chunks[i]))
      return FALSE;
    if (i > 0 && arena->chunks[i - 1]->limit > arena->chunks[i]->base)
      return FALSE;
  }
  return RingCheck(&arena->pools) && RingCheck(&arena->roots) &&
         RingCheck(&arena->threads) && RingCheck(&arena->messages);
}

/* Zones --------------------------------------------------------------- */

ZoneSet ZoneSetOfRange(Arena arena, Addr base, Addr limit)
{
  Word zbase = (Word)base >> arena->zone_shift;
  Word zlast = ((Word)limit - 1) >> arena->zone_shift;
  ZoneSet set = 0;
  if (zlast - zbase >= ZONE_COUNT - 1)
    return ZoneSetUNIV;
  for (; zbase <= zlast; ++zbase)
    set |= (ZoneSet)1 << (zbase & (ZONE_COUNT - 1));
  return set;
}

/* Chunks -------------------------------------------------------------- */

/* Enter a new chunk in the arena's sorted array and its totals. */
static void chunkInsert(Arena arena, Chunk chunk)
{
  unsigned i;
  for (i = arena->chunk_count;
       i > 0 && arena->chunks[i - 1]->base > chunk->base; --i)
    arena->chunks[i] = arena->chunks[i - 1];
  arena->chunks[i] = chunk;
  ++arena->chunk_count;
  /* The span of every chunk: a cheap first test in address lookups. */
  arena->span_base = arena->chunks[0]->base;
  arena->span_limit = arena->chunks[arena->chunk_count - 1]->limit;
  arena->reserved += chunk->map_size;
  arena->committed += chunk->table_bytes;
  arena->control_committed += chunk->table_bytes;
  if (arena->extended != NULL)
    arena->extended(arena, chunk->map_base, chunk->map_size);
  TelemetryEvent(TelArena, "ChunkAdd",
                 "arena=0x%lx base=0x%lx limit=0x%lx size=%zu client=%d",
                 TelAddr(arena), TelAddr(chunk->base), TelAddr(chunk->limit),
                 chunk->map_size, chunk->client ? 1 : 0);
}

static Res chunkCreate(Chunk *chunk_o, Arena arena, Size size, Bool exec)
{
  Chunk chunk;
  Addr base, exec_base = NULL;
  int fd = -1;
  Size pages, seg_bytes, bit_bytes, table_bytes;
  Res res;
  void *tables;

  if (arena->chunk_count == ARENA_MAX_CHUNKS)
    return MPS_RES_RESOURCE;
  size = SizeAlignUp(size, arena->grain);
  if (exec)
    res = VMReserveCode(&base, &exec_base, &fd, size, arena->grain);
  else
    res = VMReserve(&base, size, arena->grain);
  if (res != MPS_RES_OK)
    return res;
  pages = size >> arena->grain_shift;
  seg_bytes = pages * sizeof(Seg);
  bit_bytes = BTWords(pages) * sizeof(Word);
  table_bytes = SizeAlignUp(sizeof(struct ChunkStruct) + seg_bytes +
                                2 * bit_bytes,
                            VMPageSize());
  tables = ControlAllocRaw(table_bytes);
  if (tables == NULL) {
    if (exec)
      VMUnreserveCode(base, exec_base, fd, size);
    else
      VMUnreserve(base, size);
    return MPS_RES_MEMORY;
  }
  /* The mapping is zero filled: no segment, nothing allocated or
   * committed. */
  chunk = tables;
  chunk->arena = arena;
  chunk->base = base;
  chunk->limit = AddrAdd(base, size);
  chunk->pages = pages;
  chunk->page_seg = (Seg *)(void *)(chunk + 1);
  chunk->alloc_table = (Word *)(void *)((char *)chunk->page_seg + seg_bytes);
  chunk->commit_table = (Word *)(void *)((char *)chunk->alloc_table +
                                         bit_bytes);
  chunk->map_base = base;
  chunk->map_size = size;
  chunk->table_bytes = table_bytes;
  chunk->tables = tables;
  chunk->exec = exec;
  chunk->exec_base = exec_base;
  chunk->fd = fd;
  /* Code chunks are shared mappings: they keep the mprotect barrier
   * (DESIGN.md#barrier-soft). */
  chunk->soft = !exec && arena->soft_barrier && SoftBarrierRegister(base, size);
  chunk->sig = ChunkSig;
  if (exec)
    arena->code_chunk = chunk;
  chunkInsert(arena, chunk);
  *chunk_o = chunk;
  return MPS_RES_OK;
}

/* A client chunk (DESIGN.md#client-arena): the block [block, block+size)
 * holds the chunk's descriptor and tables at its start and its pages,
 * aligned to the grain, after them.  MPS_RES_MEMORY if not even one page
 * fits after the tables. */
static Res chunkCreateClient(Chunk *chunk_o, Arena arena, Addr block,
                             Size size)
{
  Chunk chunk;
  Size bound, seg_bytes, bit_bytes, table_bytes;
  Addr base, limit, end;

  if (arena->chunk_count == ARENA_MAX_CHUNKS)
    return MPS_RES_RESOURCE;
  if (block == NULL || (Word)block + size < (Word)block)
    return MPS_RES_PARAM;
  /* A block that is not word aligned loses its first bytes (the manual:
   * a client arena may not use all of a chunk, for alignment). */
  if (!AddrIsAligned(block, sizeof(Word))) {
    Addr aligned = AddrAlignUp(block, sizeof(Word));
    if (AddrOffset(block, aligned) >= size)
      return MPS_RES_MEMORY;
    size -= AddrOffset(block, aligned);
    block = aligned;
  }
  /* Tables sized for every grain the block could hold. */
  bound = size >> arena->grain_shift;
  seg_bytes = bound * sizeof(Seg);
  bit_bytes = BTWords(bound) * sizeof(Word);
  table_bytes = sizeof(struct ChunkStruct) + seg_bytes + 2 * bit_bytes;
  end = AddrAdd(block, size);
  if (table_bytes >= size)
    return MPS_RES_MEMORY;
  base = AddrAlignUp(AddrAdd(block, table_bytes), arena->grain);
  limit = AddrAlignDown(end, arena->grain);
  if (base >= limit || base < block)
    return MPS_RES_MEMORY;
  {
    unsigned c;
    for (c = 0; c < arena->chunk_count; ++c)
      if (block < arena->chunks[c]->limit &&
          arena->chunks[c]->map_base < end)
        return MPS_RES_PARAM; /* overlaps a block already given */
  }
  memset(block, 0, table_bytes);
  chunk = (Chunk)(void *)block;
  chunk->arena = arena;
  chunk->base = base;
  chunk->limit = limit;
  chunk->pages = AddrOffset(base, limit) >> arena->grain_shift;
  chunk->page_seg = (Seg *)(void *)(chunk + 1);
  chunk->alloc_table = (Word *)(void *)((char *)chunk->page_seg + seg_bytes);
  chunk->commit_table = (Word *)(void *)((char *)chunk->alloc_table +
                                         bit_bytes);
  chunk->map_base = block;
  chunk->map_size = size;
  chunk->table_bytes = table_bytes;
  chunk->tables = block;
  chunk->fd = -1;
  chunk->client = TRUE;
  chunk->sig = ChunkSig;
  chunkInsert(arena, chunk);
  *chunk_o = chunk;
  return MPS_RES_OK;
}

static void chunkDestroy(Chunk chunk)
{
  Arena arena = chunk->arena;
  Size committed;
  AVERT(Chunk, chunk);
  AVER(BTFindSet(chunk->alloc_table, 0, chunk->pages) == chunk->pages);
  committed = BTCountSet(chunk->commit_table, 0, chunk->pages)
              << arena->grain_shift;
  arena->committed -= committed;
  arena->spare_committed -= committed;
  arena->committed -= chunk->table_bytes;
  arena->control_committed -= chunk->table_bytes;
  arena->reserved -= chunk->map_size;
  if (arena->contracted != NULL)
    arena->contracted(arena, chunk->base, chunk->map_size);
  chunk->sig = SigInvalid;
  if (arena->last_chunk == chunk)
    arena->last_chunk = NULL;
  if (chunk->client) {
    return; /* the block goes back to the client as it is */
  } else if (chunk->exec) {
    arena->code_chunk = NULL;
    VMUnreserveCode(chunk->map_base, chunk->exec_base, chunk->fd,
                    chunk->map_size);
  } else {
    VMUnreserve(chunk->map_base, chunk->map_size);
  }
  ControlFreeRaw(chunk->tables, chunk->table_bytes);
}

/* The arena's code chunk, reserved on demand by the first executable
 * pool so that its address (mpsx_code_delta) is known from then on. */
Res ArenaEnsureCodeChunk(Arena arena)
{
  Chunk chunk;
  if (arena->code_chunk != NULL)
    return MPS_RES_OK;
  if (arena->client)
    return MPS_RES_UNIMPL; /* code needs a VM arena: DESIGN.md#client-arena */
  return chunkCreate(&chunk, arena, arena->code_reserve, TRUE);
}

/* Binary search of the sorted chunk array; ArenaChunkOfAddr (mpm.h) tries
 * the last chunk found first. */
Chunk ArenaChunkSearch(Arena arena, Addr addr)
{
  unsigned lo = 0, hi = arena->chunk_count;
  while (lo < hi) {
    unsigned mid = (lo + hi) / 2;
    Chunk chunk = arena->chunks[mid];
    if (addr < chunk->base)
      hi = mid;
    else if (addr >= chunk->limit)
      lo = mid + 1;
    else {
      arena->last_chunk = chunk;
      return chunk;
    }
  }
  return NULL;
}

/* Create and destroy -------------------------------------------------- */

/* The smallest shift with (1 << shift) >= s, for s up to ARENA_SIZE_MAX;
 * never shifts by the width of Size or more. */
static unsigned log2Size(Size s)
{
  unsigned shift = 0;
  while (shift < WORD_BITS - 1 && ((Size)1 << shift) < s)
    ++shift;
  return shift;
}

/* A client arena (client TRUE, DESIGN.md#client-arena) requires
 * MPS_KEY_ARENA_CL_BASE and MPS_KEY_ARENA_SIZE and manages that block. */
Res ArenaCreate(Arena *arena_o, mps_arg_s args[], Bool client)
{
  Arena arena;
  mps_arg_s arg;
  Size size = ARENA_DEFAULT_SIZE, grain = VMPageSize();
  Size commit_limit = SIZE_MAX;
  double spare = 0.75, pause = 0.1;
  mps_arena_extended_t extended = NULL;
  mps_arena_contracted_t contracted = NULL;
  Addr cl_base = NULL;
  Bool want_soft;
  Chunk chunk;
  Res res;

  if (client) {
    /* The manual's default grain for client arenas; barriers protect
     * whole pages, so never below the page size. */
    if (grain < CLIENT_DEFAULT_GRAIN)
      grain = CLIENT_DEFAULT_GRAIN;
    if (!ArgPick(&arg, args, MPS_KEY_ARENA_CL_BASE))
      return MPS_RES_PARAM;
    cl_base = arg.val.addr;
    if (!ArgPick(&arg, args, MPS_KEY_ARENA_SIZE))
      return MPS_RES_PARAM;
    size = arg.val.size;
  }
  if (ArgPick(&arg, args, MPS_KEY_ARENA_GRAIN_SIZE)) {
    if (!IsPow2(arg.val.size) ||
        arg.val.size >= ARENA_SIZE_MAX / ARENA_MIN_GRAINS)
      return MPS_RES_PARAM;
    if (client)
      grain = arg.val.size < VMPageSize() ? VMPageSize() : arg.val.size;
    else if (arg.val.size > grain)
      grain = arg.val.size;
  }
  if (!client && ArgPick(&arg, args, MPS_KEY_ARENA_SIZE)) {
    if (arg.val.size >= ARENA_SIZE_MAX)
      return MPS_RES_RESOURCE;
    size = arg.val.size;
  }
  if (client && size >= ARENA_SIZE_MAX)
    return MPS_RES_PARAM;
  if (!client && size < ARENA_MIN_GRAINS * grain)
    size = ARENA_MIN_GRAINS * grain;
  if (ArgPick(&arg, args, MPS_KEY_COMMIT_LIMIT))
    commit_limit = arg.val.size;
  if (ArgPick(&arg, args, MPS_KEY_SPARE)) {
    if (!(arg.val.d >= 0.0 && arg.val.d <= 1.0))
      return MPS_RES_PARAM;
    spare = arg.val.d;
  }
  if (ArgPick(&arg, args, MPS_KEY_SPARE_COMMIT_LIMIT)) {
    /* Deprecated: bytes of spare memory, turned into a fraction. */
    spare = (double)arg.val.size / (double)size;
    if (spare > 1.0)
      spare = 1.0;
  }
  if (ArgPick(&arg, args, MPS_KEY_PAUSE_TIME)) {
    if (!(arg.val.d >= 0.0))
      return MPS_RES_PARAM;
    pause = arg.val.d;
  }
  if (ArgPick(&arg, args, MPS_KEY_ARENA_EXTENDED))
    extended = (mps_arena_extended_t)arg.val.fun;
  if (ArgPick(&arg, args, MPS_KEY_ARENA_CONTRACTED))
    contracted = (mps_arena_contracted_t)arg.val.fun;
  (void)ArgPick(&arg, args, MPS_KEY_ARENA_ZONED); /* always zoned */
  {
    /* The write barrier (DESIGN.md#barrier-soft): the keyword, else the
     * environment, else mprotect. */
    const char *env = getenv("MPS_WRITE_BARRIER");
    want_soft = env != NULL && strcmp(env, "userfaultfd") == 0;
#if EXTENSIONS
    if (ArgPick(&arg, args, MPSX_KEY_WRITE_BARRIER)) {
      if (arg.val.i != MPSX_BARRIER_MPROTECT && arg.val.i != MPSX_BARRIER_SOFT)
        return MPS_RES_PARAM;
      want_soft = arg.val.i == MPSX_BARRIER_SOFT;
    }
#endif
  }

  arena = calloc(1, sizeof *arena);
  if (arena == NULL)
    return MPS_RES_MEMORY;
  LockInit(&arena->lock);
  arena->grain = grain;
  arena->grain_shift = log2Size(grain);
  /* Sixty-four zones stripe the initial reservation once, in stripes of
   * at least ZONE_SHIFT_MIN: a small initial reservation that the heap
   * outgrows many times would otherwise put every generation in every
   * zone, and no summary would miss a white set (DESIGN.md#zones). */
  arena->zone_shift = log2Size(size) > 6 ? log2Size(size) - 6 : 0;
  if (arena->zone_shift < ZONE_SHIFT_MIN)
    arena->zone_shift = ZONE_SHIFT_MIN;
  if (arena->zone_shift < arena->grain_shift)
    arena->zone_shift = arena->grain_shift;
  arena->chunk_size = size;
  arena->client = client;
  arena->commit_limit = commit_limit;
  arena->spare = spare;
  arena->pause_time = pause;
  arena->extended = extended;
  arena->contracted = contracted;
  arena->scan_rate = 200e6;
  arena->code_reserve = (Size)512 << 20;
  /* The soft write barrier if asked for and the kernel has it; never in
   * a client arena, whose memory the arena does not map
   * (DESIGN.md#barrier-soft). */
  if (!client && want_soft) {
    LockClaimGlobal();
    arena->soft_barrier = SoftBarrierAvailable();
    LockReleaseGlobal();
  }
  RingInit(&arena->global_ring);
  RingInit(&arena->pools);
  RingInit(&arena->roots);
  RingInit(&arena->threads);
  RingInit(&arena->formats);
  RingInit(&arena->chains);
  RingInit(&arena->messages);
  RingInit(&arena->got_messages);
  GenInit(&arena->top_gen, NULL, 0, SIZE_MAX, 0.5);
  GenInit(&arena->large_gen, NULL, 0, SIZE_MAX, 0.5);
  arena->sig = ArenaSig;

  if (client)
    res = chunkCreateClient(&chunk, arena, cl_base, size);
  else
    res = chunkCreate(&chunk, arena, size, FALSE);
  if (res != MPS_RES_OK)
    goto failChunk;
  {
    static const mps_gen_param_s defaults[2] = {{65536, 0.85},
                                                {131072, 0.45}};
    res = ChainCreate(&arena->default_chain, arena, 2, defaults);
    if (res != MPS_RES_OK)
      goto failChain;
  }
  res = ProtInstallHandler();
  if (res == MPS_RES_OK)
    res = ThreadInstallHandlers();
  if (res != MPS_RES_OK)
    goto failProt;
  /* Published complete: the fault handler walks the ring without the
   * global lock (ArenaDestroy). */
  LockClaimGlobal();
  arena->global_ring.next = &ArenaGlobalRing;
  arena->global_ring.prev = ArenaGlobalRing.prev;
  __atomic_store_n(&ArenaGlobalRing.prev->next, &arena->global_ring,
                   __ATOMIC_RELEASE);
  ArenaGlobalRing.prev = &arena->global_ring;
  LockReleaseGlobal();
  AVERT(Arena, arena);
  TelemetryEvent(TelArena, "ArenaCreate",
                 "arena=0x%lx class=%s reserved=%zu grain=%zu",
                 TelAddr(arena), client ? "CL" : "VM", arena->reserved,
                 arena->grain);
  *arena_o = arena;
  return MPS_RES_OK;

failProt:
  ChainDestroy(arena->default_chain);
failChain:
  chunkDestroy(chunk);
failChunk:
  arena->sig = SigInvalid;
  LockFinish(&arena->lock);
  free(arena);
  return res;
}

Res ArenaExtend(Arena arena, Addr base, Size size)
{
  Chunk chunk;
  if (!arena->client)
    return MPS_RES_PARAM; /* only client arenas take blocks */
  if (size >= ARENA_SIZE_MAX)
    return MPS_RES_PARAM;
  return chunkCreateClient(&chunk, arena, base, size);
}

void ArenaDestroy(Arena arena)
{
  AVERT(Arena, arena);
  if (!arena->postmortem)
    TraceFinish(arena);
  /* The barrier's fault handler looks at every arena of the process,
   * without the global lock (DESIGN.md#barrier-handlers): from here on
   * it skips this one (it reads the flag with the arena lock, which it
   * holds while it reads the chunks), and the arena leaves the ring with
   * its link left pointing on, so that a handler standing on it goes on
   * to the rest. */
  if (!arena->postmortem) {
    LockClaim(&arena->lock);
    arena->dying = TRUE;
    LockRelease(&arena->lock);
  } else {
    arena->dying = TRUE;
  }
  LockClaimGlobal();
  arena->global_ring.prev->next = arena->global_ring.next;
  arena->global_ring.next->prev = arena->global_ring.prev;
  LockReleaseGlobal();
  ChainDestroy(arena->default_chain);
  AVER(RingIsSingle(&arena->pools));
  AVER(RingIsSingle(&arena->roots));
  AVER(RingIsSingle(&arena->threads));
  AVER(RingIsSingle(&arena->formats));
  AVER(RingIsSingle(&arena->chains));
  /* Queued messages are dropped; nothing is finalized. */
  while (!RingIsSingle(&arena->messages))
    MessageDestroy(RING_ELT(Message, queue_ring, arena->messages.next));
  while (!RingIsSingle(&arena->got_messages))
    MessageDestroy(RING_ELT(Message, queue_ring, arena->got_messages.next));
  MessageFlushDeferred(arena);
  FinalFinish(arena);
  GenFinish(&arena->top_gen);
  GenFinish(&arena->large_gen);
  while (arena->chunk_count > 0) {
    --arena->chunk_count;
    chunkDestroy(arena->chunks[arena->chunk_count]);
  }
  SegFreeDescriptors(arena);
  TelemetryEvent(TelArena, "ArenaDestroy", "arena=0x%lx", TelAddr(arena));
  TelemetryFlush(0); /* the manual: destroying an arena flushes */
  arena->sig = SigInvalid;
  /* Freed once no fault handler is looking at the ring: one may still
   * claim its lock or follow its link.  Until then it waits, with others
   * destroyed meanwhile, for a later destruction to find none looking. */
  LockClaimGlobal();
  arena->zombie_next = arenaZombies;
  arenaZombies = arena;
  if (ProtRingWalkersIdle()) {
    while (arenaZombies != NULL) {
      Arena dead = arenaZombies;
      arenaZombies = dead->zombie_next;
      LockFinish(&dead->lock);
      free(dead);
    }
  }
  LockReleaseGlobal();
}

void ArenaEnter(Arena arena)
{
  LockClaim(&arena->lock);
  AVERT(Arena, arena);
}

void ArenaLeave(Arena arena)
{
  AVERT(Arena, arena);
  LockRelease(&arena->lock);
}

/* Let go of the arena lock for a nap, so that other threads may take it
 * (DESIGN.md#buffers-progress, #threads-fair). */
void ArenaNap(Arena arena, long nanoseconds)
{
  ArenaLeave(arena);
  ClockNap(nanoseconds);
  ArenaEnter(arena);
}

/* Spare memory and the commit limit ----------------------------------- */

static Res chunkCommit(Chunk chunk, Size start, Size end)
{
  Arena arena = chunk->arena;
  Size offset = start << arena->grain_shift;
  Size size = (end - start) << arena->grain_shift;
  if (chunk->client)
    return MPS_RES_OK;
  if (chunk->exec)
    return VMCommitCode(AddrAdd(chunk->base, offset),
                        AddrAdd(chunk->exec_base, offset), size);
  return VMCommit(AddrAdd(chunk->base, offset), size);
}

static void chunkDecommit(Chunk chunk, Size start, Size end)
{
  Arena arena = chunk->arena;
  Size offset = start << arena->grain_shift;
  Size size = (end - start) << arena->grain_shift;
  if (chunk->client)
    return;
  if (chunk->exec)
    VMDecommitCode(AddrAdd(chunk->base, offset),
                   AddrAdd(chunk->exec_base, offset), chunk->fd, offset,
                   size);
  else if (chunk->soft)
    VMDecommitInPlace(AddrAdd(chunk->base, offset), size);
  else
    VMDecommit(AddrAdd(chunk->base, offset), size);
}

/* Decommit spare pages (committed, not allocated) until at most `target`
 * bytes of spare remain. */
void ArenaPurgeSpare(Arena arena, Size target)
{
  unsigned c;
  for (c = 0; c < arena->chunk_count && arena->spare_committed > target;
       ++c) {
    Chunk chunk = arena->chunks[c];
    Size i = 0;
    while (i < chunk->pages && arena->spare_committed > target) {
      Size start, end, limit;
      start = BTFindSet(chunk->commit_table, i, chunk->pages);
      if (start == chunk->pages)
        break;
      if (BTGet(chunk->alloc_table, start)) {
        /* Allocated: skip the run, not one page (until 2026-12-07 one
         * page at a time, 3% of the pause benchmark's time). */
        i = BTFindClear(chunk->alloc_table, start, chunk->pages);
        continue;
      }
      /* A run of spare pages: committed and unallocated. */
      limit = BTFindClear(chunk->commit_table, start, chunk->pages);
      end = BTFindSet(chunk->alloc_table, start, limit);
      {
        Size excess = arena->spare_committed - target;
        Size want = SizeAlignUp(excess, arena->grain) >> arena->grain_shift;
        if (end - start > want)
          end = start + want;
      }
      chunkDecommit(chunk, start, end);
      BTClearRange(chunk->commit_table, start, end);
      arena->committed -= (end - start) << arena->grain_shift;
      arena->spare_committed -= (end - start) << arena->grain_shift;
      i = end;
    }
  }
}

/* The most spare memory the arena may keep: `spare` of what it has
 * committed, control memory included, as the manual defines the
 * proportion.  (Until 2026-12-07 control memory was left out, so an arena
 * whose blocks were all freed kept no spare memory at any fraction below
 * 1: the spare memory was all of the rest.) */
static Size spareLimit(Arena arena)
{
  return (Size)(arena->spare * (double)arena->committed);
}

/* How much spare memory to keep when decommitting because the spare
 * memory is over its limit.  Decommitting also lowers what is committed:
 * keeping k of the S spare bytes leaves C - S + k committed, and
 * k <= s (C - S + k) gives k <= s / (1 - s) (C - S), the most that keeps
 * the proportion once the decommit is done.  Until 2026-12-07 the target
 * was the limit before decommitting, so after a large free or
 * mps_arena_spare_set(0.01) the arena kept up to ten times the fraction
 * it was given (DESIGN.md#arena). */
static Size spareTarget(Arena arena)
{
  Size in_use = arena->committed - arena->spare_committed;
  double keep;
  if (arena->spare >= 1.0)
    return arena->spare_committed;
  keep = arena->spare / (1.0 - arena->spare) * (double)in_use;
  return keep < (double)arena->spare_committed ? (Size)keep
                                               : arena->spare_committed;
}

Res ArenaSetCommitLimit(Arena arena, Size limit)
{
  if (limit < arena->committed) {
    Size excess = arena->committed - limit;
    ArenaPurgeSpare(arena, arena->spare_committed > excess
                               ? arena->spare_committed - excess
                               : 0);
    if (limit < arena->committed)
      return MPS_RES_FAIL;
  }
  arena->commit_limit = limit;
  return MPS_RES_OK;
}

/* Back within the spare limit.  `exact`: so that the proportion holds
 * once the pages are decommitted; otherwise down to the limit before
 * decommitting, which keeps more: the trim at the end of a collection
 * the policy started, whose freed pages the allocation that started it
 * takes again at once (DESIGN.md#arena). */
void ArenaTrimSpare(Arena arena, Bool exact)
{
  if (arena->spare_committed > spareLimit(arena))
    ArenaPurgeSpare(arena, exact ? spareTarget(arena) : spareLimit(arena));
}

void ArenaSetSpare(Arena arena, double spare)
{
  arena->spare = spare;
  ArenaTrimSpare(arena, TRUE);
}

/* Page allocation ------------------------------------------------------ */

/* A run of n free pages in [base, limit) of the chunk; with `spare`,
 * only pages that are still committed (reusing them costs no system call
 * and no page fault, and keeps the resident set small). */
static Bool chunkFindRunIn(Size *i_o, Chunk chunk, Size base, Size limit,
                           Size n, Bool spare)
{
  if (spare)
    return BTFindSpareRun(i_o, chunk->alloc_table, chunk->commit_table, base,
                          limit, n);
  return BTFindClearRun(i_o, chunk->alloc_table, base, limit, n);
}

/* Is page i of the chunk in a zone of set? */
static Bool chunkPageInZones(Chunk chunk, Size i, ZoneSet set)
{
  Arena arena = chunk->arena;
  Addr addr = AddrAdd(chunk->base, i << arena->grain_shift);
  return (set & ((ZoneSet)1 << ZoneOfAddr(arena, addr))) != ZoneSetEMPTY;
}

/* The page where the zone stripe holding page i of the chunk ends (at
 * most the chunk's end). */
static Size chunkStripeEnd(Chunk chunk, Size i)
{
  Arena arena = chunk->arena;
  Size stripe_pages = (Size)1 << (arena->zone_shift - arena->grain_shift);
  Size base_page = AddrOffset(0, chunk->base) >> arena->grain_shift;
  Size end = ((base_page + i) / stripe_pages + 1) * stripe_pages - base_page;
  return end < chunk->pages ? end : chunk->pages;
}

/* Find n free pages in chunk whose zones all lie in set, or with
 * `start`, whose first page does: a large object's references hold its
 * start only (SegRefZones), so the zones of the rest do not matter. */
static Bool chunkFindRun(Size *i_o, Chunk chunk, Size n, ZoneSet set,
                         Bool spare, Bool start)
{
  Size i = 0;
  if (set == ZoneSetUNIV)
    return chunkFindRunIn(i_o, chunk, 0, chunk->pages, n, spare);
  if (start) {
    /* Each free run in turn: it starts in a stripe of the set, or a later
     * stripe of it does, within the run, with n pages after it. */
    while (chunkFindRunIn(i_o, chunk, i, chunk->pages, n, spare)) {
      if (chunkPageInZones(chunk, *i_o, set))
        return TRUE;
      i = chunkStripeEnd(chunk, *i_o);
    }
    return FALSE;
  }
  while (i < chunk->pages) {
    Size j = chunkStripeEnd(chunk, i);
    if (chunkPageInZones(chunk, i, set)) {
      /* Extend over following stripes that are also in the set. */
      while (j < chunk->pages && chunkPageInZones(chunk, j, set))
        j = chunkStripeEnd(chunk, j);
      if (chunkFindRunIn(i_o, chunk, i, j, n, spare))
        return TRUE;
    }
    i = j;
  }
  return FALSE;
}

static Bool arenaFindRun(Chunk *chunk_o, Size *i_o, Arena arena, Size n,
                         ZoneSet set, Bool exec, Bool spare, Bool start)
{
  unsigned c;
  if (set == ZoneSetEMPTY ||
      (spare && arena->spare_committed < (n << arena->grain_shift)))
    return FALSE;
  for (c = 0; c < arena->chunk_count; ++c)
    if (arena->chunks[c]->exec == exec &&
        chunkFindRun(i_o, arena->chunks[c], n, set, spare, start)) {
      *chunk_o = arena->chunks[c];
      return TRUE;
    }
  return FALSE;
}

/* Zones as seen by generation `gen` (NULL: a pool without one): those
 * that generations other than gen occupy, and those they claim. */
typedef struct {
  ZoneSet foreign, others;
} ZonesSeenStruct;

static void zonesAdd(ZonesSeenStruct *z, Gen g, Gen gen)
{
  if (g != gen) {
    z->foreign |= g->zones;
    z->others |= g->claim;
  }
}

static void arenaZonesSeen(ZonesSeenStruct *z, Arena arena, Gen gen)
{
  Ring node, next;
  z->foreign = z->others = ZoneSetEMPTY;
  zonesAdd(z, &arena->top_gen, gen);
  zonesAdd(z, &arena->large_gen, gen);
  RING_FOR(node, &arena->chains, next) {
    Chain chain = RING_ELT(Chain, arena_ring, node);
    size_t g;
    for (g = 0; g < chain->gen_count; ++g)
      zonesAdd(z, &chain->gens[g], gen);
  }
}

/* A run of n pages in `set`, spare (committed) pages first. */
static Bool arenaFindRunSpareFirst(Chunk *chunk_o, Size *i_o, Arena arena,
                                   Size n, ZoneSet set, Bool exec,
                                   Bool start)
{
  return arenaFindRun(chunk_o, i_o, arena, n, set, exec, TRUE, start) ||
         arenaFindRun(chunk_o, i_o, arena, n, set, exec, FALSE, start);
}

/* A new chunk, for pages when the arena has none free, or when it has
 * none in zones that would keep the generations apart (arenaPlace).
 * Chunks grow with the arena: at least half of what it has reserved for
 * the heap so far, so that the ARENA_MAX_CHUNKS chunks of an arena
 * created with a small reservation hold a large heap. */
static Res arenaExtend(Chunk *chunk_o, Arena arena, Size size, Bool exec)
{
  Size want = exec ? arena->code_reserve : arena->chunk_size;
  if (!exec) {
    Size heap = arena->reserved - (arena->code_chunk != NULL
                                       ? arena->code_chunk->map_size
                                       : 0);
    if (want < heap / 2)
      want = heap / 2;
  }
  /* All code lives in one chunk, so that every call between code objects
   * stays within reach of a 32-bit displacement. */
  if (exec && arena->code_chunk != NULL)
    return MPS_RES_RESOURCE;
  /* A client arena has only what the client gave it. */
  if (arena->client)
    return MPS_RES_RESOURCE;
  if (want < size + arena->grain)
    want = size + arena->grain;
  return chunkCreate(chunk_o, arena, want, exec);
}

/* At most CLAIM_MAX zones claimed by one generation and CLAIMS_MAX by all:
 * three quarters of the zones or more stay for the old generations. */
#define CLAIM_MAX (ZONE_COUNT / 8)
#define CLAIMS_MAX (ZONE_COUNT / 4)

static unsigned zoneSetCount(ZoneSet set)
{
  return (unsigned)__builtin_popcountll((unsigned long long)set);
}

/* Where n pages for generation `gen` (NULL for pools without one) go
 * (DESIGN.md#zones), at each step spare pages first:
 *   1. the zones `gen` claims, and `pref` (the generation's zones, or what
 *      the caller prefers) minus those other generations claim, and for a
 *      claimant minus those other generations occupy (it may have spilled
 *      into them);
 *   2. zones nobody occupies or claims, which a claimant then claims;
 *   3. for a claimant, if such zones remain, and for large_gen at its
 *      claim limit, a new chunk: landing among the old generations would
 *      make every minor collection scan them;
 *   4. zones no other generation claims;
 *   5. a new chunk (unless step 3 made one), then anywhere.
 * Claimants are chain generations and the arena's large_gen, while their
 * claims are within CLAIM_MAX and CLAIMS_MAX. */
static Res arenaPlace(Chunk *chunk_o, Size *i_o, Arena arena, Size n,
                      ZoneSet pref, Gen gen, Bool exec)
{
  ZonesSeenStruct z;
  ZoneSet mine, others, unused, own;
  Bool claimant =
      gen != NULL && (gen->chain != NULL || gen == &arena->large_gen);
  Bool extended = FALSE;
  Res res = MPS_RES_RESOURCE;
  Chunk chunk;
  /* Large objects: only the zone of the start counts (SegRefZones). */
  Bool start = gen == &arena->large_gen;
  /* The zone of NULL and of small integers: collected objects are kept
   * out of it, so that it is never in a white set and MPS_FIX1 rejects
   * NULL inline (DESIGN.md#zones, "the zone of NULL"). */
  ZoneSet null_zone = gen != NULL ? (ZoneSet)1 << ZoneOfAddr(arena, 0)
                                  : ZoneSetEMPTY;
  arenaZonesSeen(&z, arena, gen);
  mine = gen != NULL ? gen->claim & ~null_zone : ZoneSetEMPTY;
  others = z.others;
  /* Claims are for generations small beside the zone cycle: past the
   * limits, a generation is placed as the old ones are. */
  if (claimant && (zoneSetCount(mine) >= CLAIM_MAX ||
                   zoneSetCount(mine | others) >= CLAIMS_MAX))
    claimant = FALSE;
  /* From here on, `others` is what to keep out of. */
  others |= null_zone;
  unused = ~(z.foreign | others | mine | (gen != NULL ? gen->zones : 0));
  own = pref & ~others;
  if (claimant)
    own &= ~z.foreign;
  if (arenaFindRunSpareFirst(chunk_o, i_o, arena, n, own | mine, exec, start))
    return MPS_RES_OK;
  if (arenaFindRunSpareFirst(chunk_o, i_o, arena, n, unused, exec, start))
    goto claim;
  /* A claimant gets fresh stripes in a new chunk rather than land among
   * the old generations; so do large objects at their claim limit, which
   * need fresh stripes for their starts only. */
  if ((claimant && unused != ZoneSetEMPTY) ||
      (start && mine != ZoneSetEMPTY)) {
    if (arenaExtend(&chunk, arena, n << arena->grain_shift, exec) ==
        MPS_RES_OK) {
      extended = TRUE;
      if (chunkFindRun(i_o, chunk, n, mine, FALSE, start)) {
        *chunk_o = chunk;
        return MPS_RES_OK;
      }
      if (claimant && chunkFindRun(i_o, chunk, n, unused, FALSE, start)) {
        *chunk_o = chunk;
        goto claim;
      }
    }
  }
  if (arenaFindRunSpareFirst(chunk_o, i_o, arena, n, ~others, exec, start))
    return MPS_RES_OK;
  if (!extended) {
    res = arenaExtend(&chunk, arena, n << arena->grain_shift, exec);
    if (res == MPS_RES_OK &&
        (chunkFindRun(i_o, chunk, n, ~others, FALSE, start) ||
         chunkFindRun(i_o, chunk, n, ZoneSetUNIV, FALSE, FALSE))) {
      *chunk_o = chunk;
      return MPS_RES_OK;
    }
  }
  if (arenaFindRunSpareFirst(chunk_o, i_o, arena, n, ZoneSetUNIV, exec, start))
    return MPS_RES_OK;
  return res != MPS_RES_OK ? res : MPS_RES_RESOURCE;

claim:
  if (claimant) {
    Addr base = AddrAdd((*chunk_o)->base, *i_o << arena->grain_shift);
    Addr limit = AddrAdd(base, n << arena->grain_shift);
    gen->claim |= start ? (ZoneSet)1 << ZoneOfAddr(arena, base)
                        : ZoneSetOfRange(arena, base, limit);
  }
  return MPS_RES_OK;
}

/* The highest run of n free pages of the arena's chunks of kind exec. */
static Bool arenaFindRunHigh(Chunk *chunk_o, Size *i_o, Arena arena, Size n,
                             Bool exec)
{
  unsigned c;
  for (c = arena->chunk_count; c-- > 0;) {
    Chunk chunk = arena->chunks[c];
    Size i = 0, k, found = 0;
    Bool any = FALSE;
    if (chunk->exec != exec)
      continue;
    while (BTFindClearRun(&k, chunk->alloc_table, i, chunk->pages, n)) {
      Size end = BTFindSet(chunk->alloc_table, k, chunk->pages);
      found = end - n; /* the highest start in this free stretch */
      any = TRUE;
      i = end;
    }
    if (any) {
      *chunk_o = chunk;
      *i_o = found;
      return TRUE;
    }
  }
  return FALSE;
}

Res ArenaAllocPages(Addr *base_o, Arena arena, Size size, ZoneSet pref,
                    Gen gen, Seg seg, Bool exec, Bool high)
{
  Size n = size >> arena->grain_shift, i, uncommitted, k;
  Chunk chunk;
  Addr base;

  AVER(SizeIsAligned(size, arena->grain) && size > 0);
  AVER(gen == NULL || GenCheck(gen));
  /* Pools that ask for high addresses take the highest free run; others
   * are placed by zone (arenaPlace), which extends the arena when it must. */
  if (high) {
    if (!arenaFindRunHigh(&chunk, &i, arena, n, exec)) {
      Res res = arenaExtend(&chunk, arena, size, exec);
      if (res != MPS_RES_OK)
        return res;
      if (!chunkFindRun(&i, chunk, n, ZoneSetUNIV, FALSE, FALSE))
        return MPS_RES_RESOURCE;
    }
  } else {
    Res res = arenaPlace(&chunk, &i, arena, n, pref, gen, exec);
    if (res != MPS_RES_OK)
      return res;
  }

  /* Commit what is not already committed, within the limit. */
  uncommitted = n - BTCountSet(chunk->commit_table, i, i + n);
  if (uncommitted > 0) {
    Size bytes = uncommitted << arena->grain_shift;
    if (arena->committed + bytes > arena->commit_limit ||
        arena->committed + bytes < arena->committed) {
      Size room = arena->commit_limit > bytes ? arena->commit_limit - bytes
                                              : 0;
      Size excess = arena->committed > room ? arena->committed - room : 0;
      /* Purging may decommit spare pages of the run itself; that is
       * harmless, they are recommitted below. */
      ArenaPurgeSpare(arena, arena->spare_committed > excess
                                 ? arena->spare_committed - excess
                                 : 0);
      uncommitted = n - BTCountSet(chunk->commit_table, i, i + n);
      bytes = uncommitted << arena->grain_shift;
      if (arena->committed + bytes > arena->commit_limit)
        return MPS_RES_COMMIT_LIMIT;
    }
    k = i;
    while (k < i + n) {
      Size start = BTFindClear(chunk->commit_table, k, i + n), end;
      Res res;
      if (start == i + n)
        break;
      end = BTFindSet(chunk->commit_table, start, i + n);
      res = chunkCommit(chunk, start, end);
      if (res != MPS_RES_OK)
        return res;
      BTSetRange(chunk->commit_table, start, end);
      arena->committed += (end - start) << arena->grain_shift;
      arena->spare_committed += (end - start) << arena->grain_shift;
      k = end;
    }
  }
  arena->spare_committed -= size;
  BTSetRange(chunk->alloc_table, i, i + n);
  for (k = i; k < i + n; ++k)
    chunk->page_seg[k] = seg;
  base = AddrAdd(chunk->base, i << arena->grain_shift);
  TelemetryEvent(TelSeg, "SegAlloc", "arena=0x%lx seg=0x%lx base=0x%lx size=%zu",
                 TelAddr(arena), TelAddr(seg), TelAddr(base), size);
  *base_o = base;
  return MPS_RES_OK;
}

void ArenaFreePages(Arena arena, Addr base, Size size)
{
  Chunk chunk = ArenaChunkOfAddr(arena, base);
  Size i, n = size >> arena->grain_shift, k;
  AVERT(Chunk, chunk);
  i = AddrOffset(chunk->base, base) >> arena->grain_shift;
  AVER(BTCountSet(chunk->alloc_table, i, i + n) == n);
  TelemetryEvent(TelSeg, "SegFree", "arena=0x%lx seg=0x%lx base=0x%lx size=%zu",
                 TelAddr(arena), TelAddr(PageSeg((Word)chunk->page_seg[i])),
                 TelAddr(base),
                 size);
  BTClearRange(chunk->alloc_table, i, i + n);
  for (k = i; k < i + n; ++k)
    chunk->page_seg[k] = NULL;
  arena->spare_committed += size;
  /* During a collection, spare pages are trimmed once at the end
   * (ArenaTrimSpare), not segment by segment.  A clamped or parked arena
   * returns no memory to the operating system (the manual's table of
   * arena states); mps_arena_release trims. */
  if (!arena->busy && !arena->clamped &&
      arena->spare_committed > spareLimit(arena)) {
    /* Return the pages just freed first, then older spare. */
    Size excess = arena->spare_committed - spareTarget(arena);
    Size give = SizeAlignUp(excess, arena->grain) >> arena->grain_shift;
    if (give > n)
      give = n;
    chunkDecommit(chunk, i, i + give);
    BTClearRange(chunk->commit_table, i, i + give);
    arena->committed -= give << arena->grain_shift;
    arena->spare_committed -= give << arena->grain_shift;
    ArenaTrimSpare(arena, TRUE);
  }
}

/* Policy: when to collect.  DESIGN.md#policy ---------------------------- */

#define TOP_GEN_MIN_GROWTH ((Size)16 << 20)

Res ArenaCollect(Arena arena, const char *why)
{
  Res res = TraceCollect(arena, NULL, -1, TRUE, why);
  arena->pending_full = FALSE;
  /* The client asked for this one, and may measure the heap after it. */
  ArenaTrimSpare(arena, TRUE);
  return res;
}

/* Find the most urgent collection, if any.  Returns TRUE and sets
 * *chain_o and *top_o (top < 0 and chain NULL: full collection). */
static Bool arenaNeedsCollection(Arena arena, Chain *chain_o, int *top_o,
                                 const char **why_o)
{
  Ring node, next;
  Size grown;
  if (arena->pending_full) {
    *chain_o = NULL;
    *top_o = -1;
    *why_o = "Client requested a collection (mps_arena_start_collect)";
    return TRUE;
  }
  /* The oldest generation first: collections of the chains condemn only
   * younger ones, and while an incremental trace runs the nursery fills
   * again, so a chain is nearly always due (DESIGN.md#policy). */
  grown = arena->top_size_after_full > TOP_GEN_MIN_GROWTH
              ? arena->top_size_after_full
              : TOP_GEN_MIN_GROWTH;
  if (arena->top_gen.new_size > grown) {
    *chain_o = NULL;
    *top_o = -1;
    *why_o = "The oldest generation has doubled since the last full "
             "collection";
    return TRUE;
  }
  RING_FOR(node, &arena->chains, next) {
    Chain chain = RING_ELT(Chain, arena_ring, node);
    int top = ChainDeadline(chain);
    if (top >= 0) {
      *chain_o = chain;
      *top_o = top;
      *why_o = "Generation of a chain has reached capacity";
      return TRUE;
    }
  }
  return FALSE;
}

/* Pacing of an incremental trace (DESIGN.md#incremental): a step once
 * the mutator has been given STEP_FILL bytes since the last one (or an
 * eighth of the condemned size, if less, but at least STEP_FILL_MIN),
 * doing
 * STEP_RATE times as many bytes of scanning and copying (at least
 * STEP_WORK), within the pause time.  Once the mutator has been given
 * more than twice the condemned size (and at least OVERRUN_MIN) since the
 * flip, the pause time gives way and the trace ends at the next step. */
#define STEP_FILL ((Size)256 << 10)
#define STEP_FILL_MIN ((Size)32 << 10)
#define STEP_WORK ((Size)1 << 20)
#define STEP_RATE 4
#define OVERRUN_MIN ((Size)64 << 20)

static void arenaStepTrace(Arena arena)
{
  Trace trace = arena->trace;
  Size filled = arena->filled - trace->filled_at_step;
  Size since_flip = arena->filled - trace->filled_at_flip;
  Size overrun = 2 * trace->condemned;
  Size step_fill = trace->condemned / 8;
  Size work;
  if (step_fill > STEP_FILL)
    step_fill = STEP_FILL;
  if (step_fill < STEP_FILL_MIN)
    step_fill = STEP_FILL_MIN;
  if (overrun < OVERRUN_MIN)
    overrun = OVERRUN_MIN;
  if (since_flip > overrun) {
    TraceFinish(arena);
    return;
  }
  if (filled < step_fill)
    return;
  work = filled * STEP_RATE;
  if (work < STEP_WORK)
    work = STEP_WORK;
  TraceStep(arena, work, arena->pause_time);
}

/* How long one call of ArenaAwaitMutators waits for threads that have
 * not left the suspend handler. */
#define MUTATOR_WAIT_MAX 0.1
#define LOCK_WAITER_POLL_NS 10000L

/* Another thread blocked on the arena lock (a registration, a barrier
 * fault, a buffer fill) gets it before the next collection: let go of it
 * until some other thread has claimed it.  A plain mutex lets the thread
 * that releases it take it again before a woken waiter runs; a thread
 * collecting back to back then kept it, with every core busy, for all
 * 2 s of mps/tests/altstack.rs (DESIGN.md#threads-fair). */
static Bool arenaAwaitLockWaiters(Arena arena, double deadline)
{
  unsigned long claims;
  if (!LockHasWaiters(&arena->lock))
    return FALSE;
  claims = LockClaims(&arena->lock);
  ArenaLeave(arena);
  while (LockClaims(&arena->lock) == claims && ClockSeconds() < deadline)
    ClockNap(LOCK_WAITER_POLL_NS);
  ArenaEnter(arena);
  return TRUE;
}

/* Before a stop of the world that another thread may repeat back to back
 * (a collection, or mps_arena_step): let the mutator make progress.  A
 * voided commit's retry goes first (DESIGN.md#buffers-progress); the
 * threads the last stop let go run a moment, a thread that two stops in
 * a row found still in the suspend handler is let leave it and run, and
 * a thread blocked on the arena lock gets it (DESIGN.md#threads-fair).
 * Returns TRUE if it let go of the arena lock: the caller decides again
 * what to do, since another thread may have changed the arena meanwhile. */
Bool ArenaAwaitMutators(Arena arena)
{
  double deadline = ClockSeconds() + MUTATOR_WAIT_MAX;
  Bool released = FALSE, yielded = FALSE;
  /* The collection of mps_transform_apply is set up under this lock
   * (TransformApply waited before it began). */
  if (arena->transform != NULL)
    return FALSE;
  for (;;) {
    Bool waited = BufferAwaitRetries(arena);
    if (ThreadRingAwaitLetGo(arena, deadline))
      waited = TRUE;
    /* Once a call: threads that keep claiming the lock make progress
     * themselves, and the collection should not wait for all of them. */
    if (!yielded && arenaAwaitLockWaiters(arena, deadline)) {
      yielded = TRUE;
      waited = TRUE;
    }
    if (!waited)
      return released;
    released = TRUE;
    if (ClockSeconds() >= deadline)
      return released;
  }
}

void ArenaPoll(Arena arena)
{
  Chain chain;
  int top;
  const char *why;
  if (arena->clamped || arena->busy || arena->postmortem)
    return;
  if (arena->trace != NULL) {
    arenaStepTrace(arena);
    return;
  }
  if (!arenaNeedsCollection(arena, &chain, &top, &why))
    return;
  /* The mutator goes first (DESIGN.md#buffers-progress,
   * #threads-fair).  Waiting let go of the lock: decide again. */
  if (ArenaAwaitMutators(arena) &&
      (arena->clamped || arena->busy || arena->postmortem ||
       arena->trace != NULL ||
       !arenaNeedsCollection(arena, &chain, &top, &why)))
    return;
  (void)TraceStart(arena, chain, top, chain == NULL, why, FALSE);
  if (chain == NULL)
    arena->pending_full = FALSE;
}

Bool ArenaStep(Arena arena, double interval, double multiplier)
{
  Chain chain;
  int top;
  const char *why;
  Size heap = 0;
  Ring node, next;

  /* Before anything that stops the world (DESIGN.md#threads-fair). */
  (void)ArenaAwaitMutators(arena);
  if (arena->trace != NULL) {
    TraceStep(arena, (Size)-1, interval);
    return TRUE;
  }
  if (arenaNeedsCollection(arena, &chain, &top, &why)) {
    double t0 = ClockSeconds();
    (void)TraceStart(arena, chain, top, chain == NULL, why, FALSE);
    if (chain == NULL)
      arena->pending_full = FALSE;
    if (arena->trace != NULL) {
      double left = interval - (ClockSeconds() - t0);
      TraceStep(arena, (Size)-1, left > 0 ? left : 0);
    }
    return TRUE;
  }
  /* Idle time: start (and, stopping the world, finish) a full collection
   * if it is expected to fit in interval * multiplier and the heap has
   * changed since the last one. */
  RING_FOR(node, &arena->pools, next) {
    Pool pool = RING_ELT(Pool, arena_ring, node);
    if (pool->klass->automatic)
      heap += pool->total_size;
  }
  if (arena->allocated_since_full > 0 &&
      (double)heap / arena->scan_rate <= interval * multiplier) {
    (void)TraceCollect(arena, NULL, -1, TRUE,
                       "Idle time offered by mps_arena_step");
    return TRUE;
  }
  return FALSE;
}
