/* protect.c: the write barrier
 *
 * After a collection, every segment of an older generation whose objects
 * may hold references is made read-only, with its summary (the zones its
 * references may point to) exact from the scan that just happened.  A
 * minor collection then skips every protected segment whose summary misses
 * the condemned zones.  The first write by the mutator faults; the handler
 * makes the segment writable again and widens its summary to every zone,
 * so the next collection scans it (and protects it again).
 *
 * Invariant (DESIGN.md#barrier): a protected segment's summary contains
 * the zone of every reference it holds.  The collector itself never writes
 * to a protected segment: it unprotects before it scans (fixing writes
 * references), condemns, frees or refills one.
 *
 * Faults that are not ours go to the handler installed before this one
 * (for example Rust's stack-overflow handler), or to the default action.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "mpm.h"

static struct sigaction oldSegvAction;
static Bool segvInstalled = FALSE;

void SegProtect(Seg seg)
{
  if (!seg->prot) {
    ASSERT_ALWAYS(mprotect(seg->base, SegSize(seg), PROT_READ) == 0);
    seg->prot = 1;
  }
}

void SegUnprotect(Seg seg)
{
  if (seg->prot) {
    ASSERT_ALWAYS(mprotect(seg->base, SegSize(seg),
                           PROT_READ | PROT_WRITE) == 0);
    seg->prot = 0;
  }
}

/* Protect the segments that a minor collection can hope to skip: those
 * with references, no buffer, outside the youngest generation of their
 * chain, with a summary narrower than everything. */
void ArenaProtectOld(Arena arena)
{
  Ring pnode, pnext;
  RING_FOR(pnode, &arena->pools, pnext) {
    Pool pool = RING_ELT(Pool, arena_ring, pnode);
    size_t g;
    if (!pool->klass->automatic || pool->ranks == RankSetEMPTY)
      continue;
    for (g = 0; g < pool->gen_count; ++g) {
      PoolGen pgen = &pool->pgens[g];
      Ring snode, snext;
      if (pgen->gen->chain != NULL && pgen->gen->index == 0)
        continue;
      RING_FOR(snode, &pgen->segs, snext) {
        Seg seg = RING_ELT(Seg, pgen_ring, snode);
        if (seg->buffer == NULL && !seg->condemned &&
            seg->summary != ZoneSetUNIV && SegRank(seg) != RankAMBIG)
          SegProtect(seg);
      }
    }
  }
}

static void chainSegv(int sig, siginfo_t *info, void *context)
{
  const struct sigaction *old = &oldSegvAction;
  if (old->sa_flags & SA_SIGINFO) {
    if (old->sa_sigaction != NULL) {
      old->sa_sigaction(sig, info, context);
      return;
    }
  } else if (old->sa_handler == SIG_IGN) {
    return;
  } else if (old->sa_handler != SIG_DFL) {
    old->sa_handler(sig);
    return;
  }
  /* Default action: restore it and return, so the faulting instruction
   * runs again and the process dies of it as it would have. */
  {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    (void)sigaction(sig, &dfl, NULL);
  }
}

static void segvHandler(int sig, siginfo_t *info, void *context)
{
  int saved_errno = errno;
  Addr addr = info->si_addr;
  Ring node, next;
  ThreadEnterFaultHandler(context);
  if (info->si_code == SEGV_ACCERR) {
    RING_FOR(node, &ArenaGlobalRing, next) {
      Arena arena = RING_ELT(Arena, global_ring, node);
      Bool ours = FALSE;
      if (LockIsHeldByMe(&arena->lock))
        continue; /* a fault inside the collector is a bug: not ours */
      LockClaim(&arena->lock);
      if (ArenaChunkOfAddr(arena, addr) != NULL) {
        Seg seg = SegOfAddr(arena, addr);
        if (seg != NULL) {
          /* Protected: lift it.  Not protected: another thread lifted it
           * since the fault; the access will succeed when retried. */
          SegUnprotect(seg);
          seg->summary = ZoneSetUNIV;
          ours = TRUE;
        }
      }
      LockRelease(&arena->lock);
      if (ours) {
        ThreadLeaveFaultHandler();
        errno = saved_errno;
        return;
      }
    }
  }
  ThreadLeaveFaultHandler();
  chainSegv(sig, info, context);
  errno = saved_errno;
}

Res ProtInstallHandler(void)
{
  Res res = MPS_RES_OK;
  LockClaimGlobal();
  if (!segvInstalled) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segvHandler;
    /* SA_ONSTACK: a stack overflow must still reach the previous handler
     * on the alternate stack. */
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &oldSegvAction) == 0)
      segvInstalled = TRUE;
    else
      res = MPS_RES_RESOURCE;
  }
  LockReleaseGlobal();
  return res;
}
