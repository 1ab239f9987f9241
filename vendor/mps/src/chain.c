/* chain.c: generation chains and pool generations
 *
 * A chain is a list of generations with capacities.  Each automatic pool
 * on the chain has a pool generation (PoolGen) for every generation of
 * the chain plus the arena's top generation, which takes the survivors of
 * the last one.  See DESIGN.md#generations.
 */

#include <stdlib.h>

#include "mpm.h"

#define PoolGenSig ((Sig)0x519B0096UL)

Bool GenCheck(Gen gen)
{
  return gen != NULL && gen->sig == GenSig && gen->mortality >= 0.0 &&
         gen->mortality <= 1.0 && RingCheck(&gen->pgens);
}

Bool ChainCheck(Chain chain)
{
  size_t i;
  if (chain == NULL || chain->sig != ChainSig || chain->gen_count == 0 ||
      chain->gens == NULL)
    return FALSE;
  for (i = 0; i < chain->gen_count; ++i)
    if (!GenCheck(&chain->gens[i]) || chain->gens[i].chain != chain)
      return FALSE;
  return TRUE;
}

Bool PoolGenCheck(PoolGen pgen)
{
  return pgen != NULL && pgen->sig == PoolGenSig && pgen->pool != NULL &&
         pgen->gen != NULL && pgen->next != NULL && RingCheck(&pgen->segs);
}

void GenInit(Gen gen, Chain chain, unsigned index, Size capacity,
             double mortality)
{
  gen->chain = chain;
  gen->index = index;
  gen->capacity = capacity;
  gen->mortality = mortality;
  gen->new_size = 0;
  gen->size = 0;
  gen->zones = ZoneSetEMPTY;
  gen->claim = ZoneSetEMPTY;
  gen->condemned_next = FALSE;
  RingInit(&gen->pgens);
  gen->sig = GenSig;
}

void GenFinish(Gen gen)
{
  AVERT(Gen, gen);
  AVER(RingIsSingle(&gen->pgens));
  gen->sig = SigInvalid;
}

Res ChainCreate(Chain *chain_o, Arena arena, size_t count,
                const mps_gen_param_s *params)
{
  Chain chain;
  size_t i;
  if (count == 0 || params == NULL)
    return MPS_RES_PARAM;
  for (i = 0; i < count; ++i)
    if (params[i].mps_capacity == 0 ||
        !(params[i].mps_mortality >= 0.0 && params[i].mps_mortality <= 1.0))
      return MPS_RES_PARAM;
  chain = calloc(1, sizeof *chain);
  if (chain == NULL)
    return MPS_RES_MEMORY;
  chain->gens = calloc(count, sizeof *chain->gens);
  if (chain->gens == NULL) {
    free(chain);
    return MPS_RES_MEMORY;
  }
  chain->arena = arena;
  chain->gen_count = count;
  for (i = 0; i < count; ++i) {
    Size capacity = params[i].mps_capacity;
    /* Capacities are in kilobytes; saturate rather than overflow. */
    capacity = capacity > SIZE_MAX / 1024 ? SIZE_MAX : capacity * 1024;
    GenInit(&chain->gens[i], chain, (unsigned)i, capacity,
            params[i].mps_mortality);
  }
  RingInit(&chain->arena_ring);
  RingAppend(&arena->chains, &chain->arena_ring);
  chain->sig = ChainSig;
  *chain_o = chain;
  return MPS_RES_OK;
}

void ChainDestroy(Chain chain)
{
  size_t i;
  AVERT(Chain, chain);
  AVER(chain->pools == 0);
  RingRemove(&chain->arena_ring);
  for (i = 0; i < chain->gen_count; ++i)
    GenFinish(&chain->gens[i]);
  chain->sig = SigInvalid;
  free(chain->gens);
  free(chain);
}

void PoolGenInit(PoolGen pgen, Pool pool, Gen gen)
{
  pgen->pool = pool;
  pgen->gen = gen;
  pgen->next = pgen;
  RingInit(&pgen->gen_ring);
  RingAppend(&gen->pgens, &pgen->gen_ring);
  RingInit(&pgen->segs);
  pgen->size = 0;
  pgen->fwd_seg = NULL;
  pgen->sig = PoolGenSig;
}

void PoolGenFinish(PoolGen pgen)
{
  AVERT(PoolGen, pgen);
  AVER(RingIsSingle(&pgen->segs));
  RingRemove(&pgen->gen_ring);
  pgen->sig = SigInvalid;
}

/* Does a pool allocate into this generation (rather than only promote
 * survivors into it)?  A pool allocates into its first pool generation. */
static Bool genAllocatedInto(Gen gen)
{
  Ring node, next;
  RING_FOR(node, &gen->pgens, next) {
    PoolGen pgen = RING_ELT(PoolGen, gen_ring, node);
    if (pgen->pool->pgens == pgen)
      return TRUE;
  }
  return FALSE;
}

/* The capacity a generation is collected at.  The arena's default chain
 * grows with the heap: no generation of it is smaller than the live size
 * measured by the last full collection, so that a program with a large
 * live heap does not copy most of it out of a nursery much smaller than
 * the heap (DESIGN.md#policy, "nursery sized to the live heap").  A
 * client's chain keeps the capacities the client gave. */
Size ChainGenCapacity(Chain chain, size_t i)
{
  Size capacity = chain->gens[i].capacity;
  Arena arena = chain->arena;
  if (chain == arena->default_chain && arena->live_after_full > capacity)
    capacity = arena->live_after_full;
  return capacity;
}

/* The highest generation whose new size exceeds its capacity, or -1.
 * Collecting it collects every younger generation too.  Nothing is due
 * until a generation that pools allocate into is over capacity: one that
 * grows only by the survivors of collections waits for the next
 * collection of the generation below and goes with it, rather than being
 * collected on its own a buffer fill after the collection that filled it
 * (DESIGN.md#policy). */
int ChainDeadline(Chain chain)
{
  int top = -1;
  Bool due = FALSE;
  size_t i;
  if (chain->pools == 0)
    return -1;
  for (i = 0; i < chain->gen_count; ++i)
    if (chain->gens[i].new_size > ChainGenCapacity(chain, i)) {
      top = (int)i;
      if (genAllocatedInto(&chain->gens[i]))
        due = TRUE;
    }
  return due ? top : -1;
}

/* The highest generation above the nursery that the next collection of
 * the chain will condemn with it, or 0: those over capacity now.  They
 * grow only by the survivors of collections, so they will still be over
 * capacity when the nursery is (unless a pool allocates into them, or
 * another collection condemns them first). */
int ChainNextTop(Chain chain)
{
  int top = 0;
  size_t i;
  for (i = 1; i < chain->gen_count; ++i)
    if (chain->gens[i].new_size > ChainGenCapacity(chain, i) &&
        !genAllocatedInto(&chain->gens[i]))
      top = (int)i;
  return top;
}

/* Recompute every generation's zone set from its segments, after a trace
 * freed some (DESIGN.md#zones). */
static void addSegZones(Seg seg, void *closure)
{
  (void)closure;
  seg->pgen->gen->zones |= SegRefZones(seg);
}

void ArenaRecomputeZones(Arena arena)
{
  Ring node, next;
  size_t g;
  arena->top_gen.zones = ZoneSetEMPTY;
  RING_FOR(node, &arena->chains, next) {
    Chain chain = RING_ELT(Chain, arena_ring, node);
    for (g = 0; g < chain->gen_count; ++g)
      chain->gens[g].zones = ZoneSetEMPTY;
  }
  ArenaEachSeg(arena, NULL, addSegZones, arena);
}
