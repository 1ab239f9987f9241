/* thread.c: thread registration, stopping the world, stack scanning
 *
 * Linux, x86-64 and AArch64.  A collection stops every other thread
 * registered in the arena: a thread running its own code gets a signal
 * (SIGXCPU), whose handler records where its registers and frames are,
 * acknowledges, and waits on a futex until the collector lets it go; a
 * thread inside the barrier's fault handler is already at a safe point
 * (it parked there) and is not signalled at all.  Handlers installed
 * before ours keep receiving the signals we did not send.  See
 * DESIGN.md#threads.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mpm.h"

#define SIG_SUSPEND SIGXCPU

/* Below the stack pointer, the x86-64 ABI lets leaf functions keep live
 * data (the red zone); AArch64 has none, but scanning it is harmless. */
#define RED_ZONE_SIZE 128

/* More than any signal frame the kernel builds: an x86-64 frame with the
 * whole XSAVE area (AVX-512, AMX tiles) is under 16 KiB, an AArch64 one
 * with SVE and SME state at the largest vector lengths under 128 KiB.  A
 * handler frame further than this below the interrupted stack pointer is
 * taken to be on some other stack. */
#define SIGNAL_FRAME_MAX ((Size)256 * 1024)

/* The state word of a thread (DESIGN.md#threads).  REQUESTED is set and
 * cleared by the collector that stops the world; STOPPED and PARKED by
 * the thread itself.  All three change by atomic read-modify-write on
 * the one word, so that whoever changes it learns the others' bits at
 * that instant. */
enum {
  STATE_REQUESTED = 1u, /* a collector wants the thread stopped */
  STATE_STOPPED = 2u,   /* waiting in the suspend handler */
  STATE_PARKED = 4u     /* inside the barrier's fault handler */
};

struct ThreadSuspendStruct {
  unsigned state;                  /* atomic; a futex word */
  /* Where the mutator's state is while the thread is stopped or parked:
   * written by the thread before it sets STOPPED or PARKED (release),
   * read by the collector after it saw the bit or the acknowledgement.
   * The registers: */
  mcontext_t context;
  /* The mutator's stack pointer: which stack its newest frames are on
   * (NULL: not known, see recordInterrupted); */
  Addr sp;
  /* where the scan of that stack starts (at most sp less the red zone:
   * it covers the signal frame when that is on the same stack); */
  Addr hot;
  /* signal frames and handler frames on another stack (the alternate
   * one), scanned in place: [extra_base, extra_limit), or empty. */
  Addr extra_base, extra_limit;
  Addr stack_low, stack_high;      /* the thread's own stack */
  /* Where the thread left its own stack for another one, or NULL while
   * it runs on it (mpsx_thread_stack_leave). */
  Addr own_left;
  ThreadStack stacks;              /* other stacks it runs on: a list */
  unsigned registrations;          /* in all arenas */
  /* Stops that found it still in the suspend handler since the one
   * before (atomic; DESIGN.md#threads-fair). */
  unsigned held;
  SigStackStruct sigstack;         /* an alternate stack we gave it */
};

static _Thread_local struct ThreadSuspendStruct threadSuspend;

static struct sigaction oldSuspendAction;
static Bool handlersInstalled = FALSE;
static sem_t ackSem;

Bool ThreadCheck(Thread thread)
{
  return thread != NULL && thread->sig == ThreadSig &&
         thread->arena != NULL && thread->record != NULL;
}

/* Signal handlers ------------------------------------------------------- */

/* Pass a signal we did not send to whoever handled it before us. */
static void chainSignal(int sig, siginfo_t *info, void *context,
                        const struct sigaction *old)
{
  if (old->sa_flags & SA_SIGINFO) {
    if (old->sa_sigaction != NULL)
      old->sa_sigaction(sig, info, context);
  } else if (old->sa_handler == SIG_IGN) {
    return;
  } else if (old->sa_handler == SIG_DFL) {
    /* The default action of SIGXCPU ends the process: take it. */
    sigset_t unblock;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    (void)sigaction(sig, &dfl, NULL);
    sigemptyset(&unblock);
    sigaddset(&unblock, sig);
    (void)pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    (void)raise(sig);
  } else {
    old->sa_handler(sig);
  }
}

Addr ContextSP(const ucontext_t *uc)
{
#if defined(__x86_64__)
  return (Addr)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (Addr)uc->uc_mcontext.sp;
#else
#error "thread.c: unsupported architecture"
#endif
}

/* Is a in [low, high)? */
static Bool addrIn(Addr a, Addr low, Addr high)
{
  return a >= low && a < high;
}

static void futexWait(unsigned *word, unsigned seen)
{
  (void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void futexWakeAll(unsigned *word)
{
  (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Wait while a collector counts this thread as stopped (REQUESTED), then
 * clear `bit` (STOPPED or PARKED) in the same atomic step that sees
 * REQUESTED clear, so that a collector asking again either finds the bit
 * (and counts the thread as stopped) or finds it gone (and signals). */
static void waitReleased(struct ThreadSuspendStruct *rec, unsigned bit)
{
  for (;;) {
    unsigned w = __atomic_load_n(&rec->state, __ATOMIC_ACQUIRE);
    if (w & STATE_REQUESTED) {
      futexWait(&rec->state, w);
      continue;
    }
    if (bit == STATE_STOPPED)
      TEST_HOOK(MPSX_HOOK_SUSPEND_RELEASED);
    if (__atomic_compare_exchange_n(&rec->state, &w, w & ~bit, FALSE,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      if (bit == STATE_STOPPED)
        __atomic_store_n(&rec->held, 0u, __ATOMIC_RELAXED);
      return;
    }
  }
}

/* The signal frame of the handler that was interrupted first on the
 * alternate stack [low, high): the frame the kernel built at the top of
 * that stack when it switched to it.  Its ucontext records the alternate
 * stack exactly as it was (not SS_ONSTACK: the thread was elsewhere) and
 * the stack pointer of the code it interrupted, outside the alternate
 * stack.  A stale frame of an earlier signal may match too; of all
 * matches, the lowest stack pointer is returned, which is at most the
 * live one: scanning from it covers every live frame (DESIGN.md#threads).
 * Returns NULL if none matches. */
NO_SANITIZE_ADDRESS static Addr outermostSP(Addr from, Addr low, Addr high)
{
  Size need = offsetof(ucontext_t, uc_mcontext) + sizeof(mcontext_t);
  Size size = AddrOffset(low, high);
  Addr p, best = NULL;
  if (from < low || AddrOffset(low, high) < need)
    return NULL;
  for (p = AddrAlignDown(high - need, sizeof(Word)); p >= from;
       p -= sizeof(Word)) {
    const ucontext_t *u = (const ucontext_t *)p;
    Addr sp;
    if ((Addr)u->uc_stack.ss_sp != low || u->uc_stack.ss_size != size ||
        (u->uc_stack.ss_flags & (SS_ONSTACK | SS_DISABLE)) != 0)
      continue;
    sp = ContextSP(u);
    if (addrIn(sp, low, high))
      continue;
    if (best == NULL || sp < best)
      best = sp;
  }
  return best;
}

/* Record where a mutator interrupted with context `uc` has its state:
 * its registers, and the lowest address `low` that must be scanned on
 * the stack that holds the signal frame (the suspend handler's own
 * frame, which lies below its signal frame; or, in the fault handler,
 * the fault's ucontext, the lowest part of its signal frame).
 *
 * 1. The signal frame is on the alternate stack and the mutator was not
 *    (a barrier fault delivered there): the frame is scanned in place,
 *    [low, top of the alternate stack); the mutator's stack from its
 *    stack pointer less the red zone.
 * 2. The mutator itself runs on the alternate stack (inside some
 *    handler of the program's that was delivered there): the frames
 *    there, from `low` (or the stack pointer) to the top, are scanned in
 *    place; they include the signal frame of the outermost such handler,
 *    which tells the stack pointer of the code it interrupted
 *    (outermostSP): that stack is scanned from there.  If no frame is
 *    found, the stack pointer is unknown and the scan covers the whole
 *    mapped part of the thread's own stack.
 * 3. Otherwise the signal frame is just below the stack pointer, on the
 *    same stack: that stack is scanned from `low`, covering the frame and
 *    with it the FP/SIMD registers (DESIGN.md#threads).  `low` is checked
 *    to lie there; if not, the scan starts at the stack pointer less the
 *    red zone. */
static void recordInterrupted(struct ThreadSuspendStruct *rec,
                              const ucontext_t *uc, Addr low)
{
  const stack_t *alt = &uc->uc_stack;
  Bool alt_on = (alt->ss_flags & SS_DISABLE) == 0 && alt->ss_size > 0;
  Addr alt_low = alt->ss_sp, alt_high = AddrAdd(alt->ss_sp, alt->ss_size);
  Addr sp = ContextSP(uc);
  low = AddrAlignDown(low, sizeof(Word));
  rec->context = uc->uc_mcontext;
  rec->extra_base = rec->extra_limit = NULL;
  if (alt_on && addrIn(low, alt_low, alt_high) && !addrIn(sp, alt_low, alt_high)) {
    rec->extra_base = low;
    rec->extra_limit = AddrAlignDown(alt_high, sizeof(Word));
  } else if (alt_on && addrIn(sp, alt_low, alt_high)) {
    Addr from = (low < sp && low >= alt_low) ? low : sp - RED_ZONE_SIZE;
    if (from < alt_low)
      from = alt_low;
    rec->extra_base = AddrAlignDown(from, sizeof(Word));
    rec->extra_limit = AddrAlignDown(alt_high, sizeof(Word));
    sp = outermostSP(rec->extra_base, alt_low, alt_high);
    if (sp == NULL) {
      rec->sp = rec->hot = NULL;
      return;
    }
  } else {
    Bool ok = low < sp && AddrOffset(low, sp) <= SIGNAL_FRAME_MAX;
    if (ok && rec->stack_high != NULL && addrIn(sp, rec->stack_low, rec->stack_high))
      ok = low >= rec->stack_low;
    rec->sp = sp;
    rec->hot = ok ? low : AddrAlignDown(sp - RED_ZONE_SIZE, sizeof(Word));
    return;
  }
  rec->sp = sp;
  rec->hot = AddrAlignDown(sp - RED_ZONE_SIZE, sizeof(Word));
}

/* Stop here, on the thread's own stack or wherever the signal came (the
 * handler is installed without SA_ONSTACK, and blocks every signal, so
 * that nothing of the program's runs while the world is stopped).
 *
 * AddressSanitizer: __builtin_frame_address is the real frame even when
 * locals live in a fake stack, and the area scanners read stacks without
 * instrumentation (root.c, NO_SANITIZE_ADDRESS), so the red zones ASan
 * poisons in our frame and stale poison in the kernel-written signal
 * frame are read without a report. */
static void suspendHandler(int sig, siginfo_t *info, void *context)
{
  struct ThreadSuspendStruct *rec = &threadSuspend;
  int saved_errno = errno;

  if (!(__atomic_load_n(&rec->state, __ATOMIC_ACQUIRE) & STATE_REQUESTED)) {
    /* Ours but late (DESIGN.md#threads), or someone else's. */
    if (info == NULL || info->si_code != SI_TKILL || info->si_pid != getpid())
      chainSignal(sig, info, context, &oldSuspendAction);
    errno = saved_errno;
    return;
  }
  recordInterrupted(rec, context, __builtin_frame_address(0));
  TEST_HOOK(MPSX_HOOK_SUSPEND_RECORDED);
  (void)__atomic_fetch_or(&rec->state, STATE_STOPPED, __ATOMIC_ACQ_REL);
  (void)sem_post(&ackSem);
  waitReleased(rec, STATE_STOPPED);
  errno = saved_errno;
}

/* The barrier's fault handler parks the thread before anything else
 * (protect.c; every signal is blocked there, so no suspend signal can
 * interrupt it): its mutator state is then the fault's context, which
 * stays put until the handler returns, and the collector counts it as
 * stopped without a signal.  A collector that asked before the thread
 * parked sent a signal, which stays pending, and waits for an
 * acknowledgement: give it here (DESIGN.md#threads). */
void ThreadPark(void *context)
{
  struct ThreadSuspendStruct *rec = &threadSuspend;
  ucontext_t *uc = context;
  unsigned old;
  recordInterrupted(rec, uc, (Addr)uc);
  old = __atomic_fetch_or(&rec->state, STATE_PARKED, __ATOMIC_ACQ_REL);
  AVER(!(old & (STATE_PARKED | STATE_STOPPED)));
  if (old & STATE_REQUESTED)
    (void)sem_post(&ackSem);
}

/* Leave the fault handler's safe point: not while a collector counts the
 * thread as stopped. */
void ThreadUnpark(void)
{
  AVER(__atomic_load_n(&threadSuspend.state, __ATOMIC_ACQUIRE) &
       STATE_PARKED);
  waitReleased(&threadSuspend, STATE_PARKED);
}

/* fork: DESIGN.md#fork.  Before a fork, take every arena's lock, then the
 * world lock, then the global lock, in the usual order, so that the child
 * starts with every collector structure consistent; both sides release
 * them.  In the child only the forking thread exists: every other thread
 * registered in an arena is marked as gone, never signalled or scanned. */

static void forkPrepare(void)
{
  Ring node, next;
  /* Counted as a walk of the ring (without the global lock): an arena
   * destroyed meanwhile is not freed under it (DESIGN.md#barrier-handlers). */
  ProtRingWalkBegin();
  RING_FOR(node, &ArenaGlobalRing, next) {
    Arena arena = RING_ELT(Arena, global_ring, node);
    LockClaim(&arena->lock);
    /* One being destroyed is left alone (its destruction set the flag
     * with the lock, and cannot unlink it before the fork: that needs
     * the global lock). */
    if (arena->dying)
      LockRelease(&arena->lock);
  }
  LockClaimWorld();
  LockClaimGlobal();
}

static void forkReleaseAll(void)
{
  Ring node, next;
  LockReleaseGlobal();
  LockReleaseWorld();
  RING_FOR(node, &ArenaGlobalRing, next) {
    Arena arena = RING_ELT(Arena, global_ring, node);
    if (!arena->dying)
      LockRelease(&arena->lock);
  }
}

static void forkParent(void)
{
  forkReleaseAll();
  ProtRingWalkEnd();
}

static void forkChild(void)
{
  Ring node, next;
  RING_FOR(node, &ArenaGlobalRing, next) {
    Arena arena = RING_ELT(Arena, global_ring, node);
    Ring tnode, tnext;
    if (arena->dying)
      continue; /* its destroying thread is not in the child */
    RING_FOR(tnode, &arena->threads, tnext) {
      Thread thread = RING_ELT(Thread, arena_ring, tnode);
      if (!ThreadIsCurrent(thread))
        thread->forked_away = TRUE;
    }
    /* Threads of the parent that were blocked on the lock are not here:
     * nobody waits for it in the child (ArenaAwaitMutators would yield to
     * them at every collection). */
    LockForgetWaiters(&arena->lock);
    ArenaForkChildBarrier(arena);
  }
  SoftBarrierForkChild();
  forkReleaseAll();
  ProtRingWalkEnd();
}

Res ThreadInstallHandlers(void)
{
  struct sigaction sa;
  LockClaimGlobal();
  if (!handlersInstalled) {
    if (pthread_atfork(forkPrepare, forkParent, forkChild) != 0) {
      LockReleaseGlobal();
      return MPS_RES_RESOURCE;
    }
    if (sem_init(&ackSem, 0, 0) != 0) {
      LockReleaseGlobal();
      return MPS_RES_RESOURCE;
    }
    memset(&sa, 0, sizeof sa);
    /* No SA_ONSTACK: the signal frame goes on the stack in use, where the
     * scan finds it; every signal blocked: nothing of the program runs
     * on a stopped thread, and nothing nests in this handler. */
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    sa.sa_sigaction = suspendHandler;
    if (sigaction(SIG_SUSPEND, &sa, &oldSuspendAction) != 0) {
      LockReleaseGlobal();
      return MPS_RES_RESOURCE;
    }
    handlersInstalled = TRUE;
  }
  LockReleaseGlobal();
  return MPS_RES_OK;
}

/* Registration ---------------------------------------------------------- */

Res ThreadRegister(Thread *thread_o, Arena arena)
{
  Thread thread;
  struct ThreadSuspendStruct *rec = &threadSuspend;
  Res res = ThreadInstallHandlers();
  if (res != MPS_RES_OK)
    return res;
  thread = calloc(1, sizeof *thread);
  if (thread == NULL)
    return MPS_RES_MEMORY;
  if (rec->registrations == 0) {
    /* An alternate signal stack too small for the barrier's handler is
     * replaced while the thread is registered (sigstack.c). */
    res = SigStackAdopt(&rec->sigstack);
    if (res != MPS_RES_OK) {
      free(thread);
      return res;
    }
  }
  ++rec->registrations;
  thread->arena = arena;
  thread->id = pthread_self();
  thread->record = rec;
  {
    /* Where is this thread's stack?  Used to extend a cold end that lies
     * inside it up to its top (DESIGN.md#threads). */
    pthread_attr_t attr;
    void *low;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      if (pthread_attr_getstack(&attr, &low, &size) == 0) {
        thread->stack_low = low;
        thread->stack_high = AddrAdd(low, size);
        rec->stack_low = low;
        rec->stack_high = AddrAdd(low, size);
      }
      (void)pthread_attr_destroy(&attr);
    }
  }
  RingInit(&thread->arena_ring);
  RingAppend(&arena->threads, &thread->arena_ring);
  thread->sig = ThreadSig;
  *thread_o = thread;
  return MPS_RES_OK;
}

void ThreadDeregister(Thread thread)
{
  struct ThreadSuspendStruct *rec;
  AVERT(Thread, thread);
  rec = thread->record;
  RingRemove(&thread->arena_ring);
  /* From another thread (a client error the manual does not forbid
   * outright), the alternate stack we gave is left in place. */
  if (ThreadIsCurrent(thread) && !thread->forked_away) {
    AVER(rec->registrations > 0);
    if (--rec->registrations == 0)
      SigStackRelease(&rec->sigstack);
  }
  thread->sig = SigInvalid;
  free(thread);
}

Bool ThreadIsCurrent(Thread thread)
{
  return pthread_equal(thread->id, pthread_self());
}

static void semWait(void)
{
  while (sem_wait(&ackSem) != 0)
    ASSERT_ALWAYS(errno == EINTR);
}

/* Stop every other registered thread of the arena.  The world lock is
 * held, so no other arena is stopping threads at the same time.  A
 * thread registered twice is stopped once.  A thread that is stopped or
 * parked already (DESIGN.md#threads) is not signalled and sends no
 * acknowledgement; every other one is, and does. */
void ThreadRingSuspend(Arena arena)
{
  Ring node, next;
  Size waiting = 0;
  RING_FOR(node, &arena->threads, next) {
    Thread thread = RING_ELT(Thread, arena_ring, node);
    unsigned old;
    thread->suspended = FALSE;
    if (ThreadIsCurrent(thread) || thread->forked_away)
      continue;
    old = __atomic_fetch_or(&thread->record->state, STATE_REQUESTED,
                            __ATOMIC_ACQ_REL);
    if (old & STATE_REQUESTED)
      continue; /* the same thread, registered again */
    thread->suspended = TRUE;
    if (old & STATE_STOPPED) {
      /* Still in the suspend handler since the last stop let it go: it
       * has not run since (DESIGN.md#threads-fair). */
      (void)__atomic_fetch_add(&thread->record->held, 1u, __ATOMIC_RELAXED);
      continue;
    }
    if (old & STATE_PARKED)
      continue;
    if (pthread_kill(thread->id, SIG_SUSPEND) != 0) {
      /* The thread has gone without deregistering: a client error. */
      __atomic_fetch_and(&thread->record->state, ~(unsigned)STATE_REQUESTED,
                         __ATOMIC_ACQ_REL);
      AssertFail(__FILE__, __LINE__,
                 "registered thread exited without mps_thread_dereg");
    }
    TEST_HOOK(MPSX_HOOK_SUSPEND_SENT);
    ++waiting;
  }
  while (waiting-- > 0)
    semWait();
  TEST_HOOK(MPSX_HOOK_WORLD_STOPPED);
}

/* Let them go.  No acknowledgement: a thread that has not yet seen its
 * request cleared when the next collection asks again is counted as
 * stopped by it (its record is still true: it has not run); the one after
 * that lets it leave and run first (ThreadRingAwaitLetGo). */
void ThreadRingResume(Arena arena)
{
  Ring node, next;
  Bool let_go = FALSE;
  RING_FOR(node, &arena->threads, next) {
    Thread thread = RING_ELT(Thread, arena_ring, node);
    if (!thread->suspended)
      continue;
    thread->suspended = FALSE;
    let_go = TRUE;
    (void)__atomic_fetch_and(&thread->record->state,
                             ~(unsigned)STATE_REQUESTED, __ATOMIC_ACQ_REL);
    futexWakeAll(&thread->record->state);
  }
  arena->let_go_at = let_go ? ClockSeconds() : 0.0;
}

/* Fair stops (DESIGN.md#threads-fair) ----------------------------------- */

/* How long a thread that has just left the suspend handler is let run
 * before the world is stopped again, and how often the collector looks
 * whether it has left. */
#define RUN_QUANTUM_NS 50000L
#define LET_GO_POLL_NS 10000L

/* Is some thread of the arena still in the suspend handler since a stop
 * before the last one (the last stop found it there and counted it as
 * stopped)? */
static Bool threadRingHeld(Arena arena)
{
  Ring node, next;
  RING_FOR(node, &arena->threads, next) {
    Thread thread = RING_ELT(Thread, arena_ring, node);
    struct ThreadSuspendStruct *rec = thread->record;
    if (thread->forked_away || ThreadIsCurrent(thread))
      continue;
    if ((__atomic_load_n(&rec->state, __ATOMIC_ACQUIRE) &
         (STATE_REQUESTED | STATE_STOPPED)) == STATE_STOPPED &&
        __atomic_load_n(&rec->held, __ATOMIC_RELAXED) > 0)
      return TRUE;
  }
  return FALSE;
}

/* Called, with the arena lock held, before a stop of the world: while a
 * thread of the arena has not left the suspend handler since a stop
 * before the last one (waking a thread can take longer than a small
 * collection, and stops back to back would keep it there for ever), let
 * go of the lock and wait until it has left, or until `deadline`; then
 * let it run RUN_QUANTUM_NS, the lock still let go (its next step may
 * need it: an allocation point's fill).  Returns TRUE if it released the
 * lock. */
Bool ThreadRingAwaitLetGo(Arena arena, double deadline)
{
  Bool released = FALSE;
  double since;
  AVERT(Arena, arena);
  while (threadRingHeld(arena) && ClockSeconds() < deadline) {
    ArenaNap(arena, LET_GO_POLL_NS);
    released = TRUE;
  }
  if (released) {
    ArenaNap(arena, RUN_QUANTUM_NS);
    return TRUE;
  }
  /* Every thread the last stop let go runs a quantum before the next one.
   * A thread that was stopped in a call like nanosleep returns from it
   * with EINTR and what was left of its timeout, and sleeps again: if
   * the next stop came at once, a collector working back to back would
   * leave it no time to sleep in, and its sleep would never end (seen
   * with std::thread::sleep, a 2 ms sleep taking minutes). */
  since = ClockSeconds() - arena->let_go_at;
  if (arena->let_go_at > 0.0 && since >= 0.0 &&
      since < RUN_QUANTUM_NS * 1e-9) {
    ArenaNap(arena, RUN_QUANTUM_NS - (long)(since * 1e9));
    arena->let_go_at = 0.0;
    return TRUE;
  }
  return FALSE;
}

/* Other stacks ----------------------------------------------------------- */

/* Is nothing of [low, high) mapped any more?  Then nothing can run on
 * it again.  mincore fails for a range with an unmapped page: a chunk of
 * pages at a time (a stack still mapped: one call a chunk), page by page
 * in a chunk where it fails, until a page is mapped. */
#define UNMAPPED_CHUNK 256 /* pages */

static Bool stackUnmapped(Addr low, Addr high)
{
  Size page = VMPageSize();
  unsigned char vec[UNMAPPED_CHUNK];
  Addr p = AddrAlignDown(low, page);
  while (p < high) {
    Size n = AddrOffset(p, high) / page + (AddrOffset(p, high) % page != 0);
    Size i;
    if (n > UNMAPPED_CHUNK)
      n = UNMAPPED_CHUNK;
    if (mincore(p, n * page, vec) == 0)
      return FALSE;
    for (i = 0; i < n; ++i)
      if (mincore(AddrAdd(p, i * page), page, vec) == 0 || errno != ENOMEM)
        return FALSE;
    p = AddrAdd(p, n * page);
  }
  return TRUE;
}

/* Free the orphans (see ThreadStackRemove) that are done with: those
 * whose memory is unmapped (nothing can run there again), without a
 * *left* mark and the thread not on them, and those overlapping [low,
 * high), a stack the thread adds, which two live stacks cannot share.
 * Not one that is only without a mark: a coroutine on it may have been
 * suspended by a switch that bypassed mpsx_thread_stack_switch, with
 * frames no mark records (DESIGN.md#stacks). */
static void stacksFreeOrphans(struct ThreadSuspendStruct *rec, Addr low,
                              Addr high)
{
  ThreadStack *link = &rec->stacks, st;
  Addr sp = __builtin_frame_address(0); /* on the stack in use */
  while ((st = *link) != NULL) {
    if (st->orphan &&
        ((low < st->high && st->low < high) ||
         (st->left == NULL && !addrIn(sp, st->low, st->high) &&
          stackUnmapped(st->low, st->high)))) {
      __atomic_store_n(link, st->next, __ATOMIC_RELEASE);
      free(st);
    } else {
      link = &st->next;
    }
  }
}

Res ThreadStackAdd(Thread thread, Addr low, Addr high)
{
  struct ThreadSuspendStruct *rec = thread->record;
  ThreadStack st, node;
  AVERT(Thread, thread);
  AVER(ThreadIsCurrent(thread));
  if (low == NULL || high <= low ||
      (Word)low % sizeof(Word) != 0 || (Word)high % sizeof(Word) != 0)
    return MPS_RES_PARAM;
  stacksFreeOrphans(rec, low, high);
  if (rec->stack_high != NULL && low < rec->stack_high &&
      rec->stack_low < high)
    return MPS_RES_PARAM; /* overlaps the thread's own */
  for (st = rec->stacks; st != NULL; st = st->next)
    if (low < st->high && st->low < high)
      return MPS_RES_PARAM; /* overlaps one it has */
  node = malloc(sizeof *node);
  if (node == NULL)
    return MPS_RES_MEMORY;
  node->low = low;
  node->high = high;
  node->left = NULL;
  node->orphan = FALSE;
  node->next = rec->stacks;
  /* A collector reads the list only while this thread is stopped, which
   * may be between any two instructions: publish the node complete. */
  __atomic_store_n(&rec->stacks, node, __ATOMIC_RELEASE);
  return MPS_RES_OK;
}

Bool ThreadStackRemove(Thread thread, Addr low, Addr high)
{
  struct ThreadSuspendStruct *rec = thread->record;
  ThreadStack st;
  AVERT(Thread, thread);
  AVER(ThreadIsCurrent(thread));
  for (st = rec->stacks; st != NULL; st = st->next) {
    if (st->low == low && st->high == high && !st->orphan) {
      /* Frames on it (the thread left it with them, or runs on it now,
       * or a switch that bypassed mpsx_thread_stack_switch left them
       * without a mark) may hold references that pin objects: it stays,
       * an orphan, scanned as long as they may be there
       * (DESIGN.md#stacks).  A stack never started or finished is not
       * told apart from the last: it goes when its memory is unmapped or
       * a new stack takes its place. */
      st->orphan = TRUE;
      return TRUE;
    }
  }
  return FALSE;
}

/* The stack holding sp: where its "left" mark is. */
static Addr *leftMark(struct ThreadSuspendStruct *rec, Addr sp)
{
  ThreadStack st;
  if (rec->stack_high != NULL && addrIn(sp, rec->stack_low, rec->stack_high))
    return &rec->own_left;
  for (st = rec->stacks; st != NULL; st = st->next)
    if (addrIn(sp, st->low, st->high))
      return &st->left;
  return NULL;
}

Bool ThreadStackKnown(Thread thread, Addr sp)
{
  AVERT(Thread, thread);
  return leftMark(thread->record, sp) != NULL;
}

/* Mark the stack in use as left at this frame, call fn (which switches
 * to another stack and comes back), and clear the mark.  Every
 * callee-saved register is saved in this frame first
 * (__builtin_unwind_init), so scanning from the stack pointer here covers
 * every value the frames above keep in registers while the thread is on
 * the other stack. */
__attribute__((noinline)) void ThreadStackSwitch(Thread thread,
                                                 void (*fn)(void *),
                                                 void *closure)
{
  struct ThreadSuspendStruct *rec = thread->record;
  Addr sp, *mark;
  AVERT(Thread, thread);
  AVER(ThreadIsCurrent(thread));
  __builtin_unwind_init();
#if defined(__x86_64__)
  __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
  __asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
  mark = leftMark(rec, sp);
  if (mark != NULL)
    __atomic_store_n(mark, sp, __ATOMIC_RELEASE);
  fn(closure);
  /* Back on this stack (the same one, by construction). */
  if (mark != NULL)
    __atomic_store_n(mark, NULL, __ATOMIC_RELEASE);
}

/* Stack scanning ---------------------------------------------------------- */

/* Scan [base, limit), rounded to words (empty: nothing). */
static Res scanWords(mps_ss_t ss, Addr base, Addr limit,
                     mps_area_scan_t scan_area, void *closure)
{
  base = AddrAlignDown(base, sizeof(Word));
  limit = AddrAlignDown(limit, sizeof(Word));
  if (base >= limit)
    return MPS_RES_OK;
  return scan_area(ss, base, limit, closure);
}

/* Scan the current thread: spill every register into a context on this
 * frame, then scan from that frame to the cold end, which covers the
 * context and every caller's frame.  Vector registers need no spilling
 * here: the thread is inside an MPS call, and x86-64 has no callee-saved
 * vector registers (a live value was spilled by the caller); AArch64's
 * callee-saved d8-d15 are in the FP record glibc's getcontext writes. */
__attribute__((noinline)) static Res scanCurrent(mps_ss_t ss, void *cold,
                                                 mps_area_scan_t scan_area,
                                                 void *closure)
{
  ucontext_t uc;
  Addr hot, frame = __builtin_frame_address(0);
  Res res;
  if (getcontext(&uc) != 0)
    return MPS_RES_FAIL;
  hot = AddrAlignDown((Addr)&uc, sizeof(Word));
  if (cold == NULL) {
    /* Only the registers: the stack's extent is not known. */
    res = scanWords(ss, (Addr)&uc, (Addr)(&uc + 1), scan_area, closure);
    __asm__ volatile("" : : "r"(&uc) : "memory");
    return res;
  }
  if (!(hot < (Addr)cold && hot >= frame - 4096)) {
    /* The context is not on this frame: AddressSanitizer moved the local
     * to a "fake stack" in the heap.  Scan it there, and the real stack
     * from the frame (locals in fake frames are not seen:
     * DESIGN.md#threads). */
    res = scanWords(ss, (Addr)&uc, (Addr)(&uc + 1), scan_area, closure);
    if (res != MPS_RES_OK)
      return res;
    hot = AddrAlignDown(frame, sizeof(Word));
  }
  res = scan_area(ss, hot, cold, closure);
  /* Keep uc alive until the scan is over. */
  __asm__ volatile("" : : "r"(&uc) : "memory");
  return res;
}

/* The lowest address from which [low, high) is mapped up to `high`: a
 * stack's mapping grows down from its top, so the mapped pages are a
 * suffix of the range.  Binary search with mincore, which fails with
 * ENOMEM for unmapped pages. */
static Addr mappedFrom(Addr low, Addr high)
{
  Size page = VMPageSize();
  unsigned char vec;
  Size lo, hi;
  low = AddrAlignDown(AddrAdd(low, page - 1), page);
  high = AddrAlignDown(high, page);
  if (low >= high)
    return high;
  /* Invariant: page `hi` is mapped (or is `high`), pages below `lo` are
   * not known to be. */
  lo = 0;
  hi = AddrOffset(low, high) / page;
  while (lo < hi) {
    Size mid = lo + (hi - lo) / 2;
    if (mincore(AddrAdd(low, mid * page), page, &vec) == 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return AddrAdd(low, hi * page);
}


#define RESIDENT_CHUNK 256 /* pages per mincore, pagemap read and probe */

/* How many of the n pages from `base` can be read: process_vm_readv of
 * one byte of each stops at the first that cannot (a page of another
 * mapping since made inaccessible, such as an arena's segment behind the
 * read barrier, where a stack once was) instead of faulting.  All of them
 * where the call is not allowed (a seccomp filter may forbid it). */
static Size pagesReadable(Addr base, Size n, Size page)
{
  struct iovec local, remote[RESIDENT_CHUNK];
  char buf[RESIDENT_CHUNK];
  ssize_t got;
  Size i;
  if (n > RESIDENT_CHUNK)
    n = RESIDENT_CHUNK;
  for (i = 0; i < n; ++i) {
    remote[i].iov_base = AddrAdd(base, i * page);
    remote[i].iov_len = 1;
  }
  local.iov_base = buf;
  local.iov_len = n;
  got = process_vm_readv(getpid(), &local, 1, remote, n, 0);
  if (got < 0)
    return errno == EFAULT ? 0 : n;
  return (Size)got;
}

/* Scan the words of [base, limit), a run of whole pages but for its ends
 * (clamped to the caller's bounds), skipping every page that cannot be
 * read. */
static Res scanReadableWords(mps_ss_t ss, Addr base, Addr limit, Size page,
                             mps_area_scan_t scan_area, void *closure)
{
  Addr p = AddrAlignDown(base, page);
  while (p < limit) {
    Size n = AddrOffset(p, AddrAlignDown(AddrAdd(limit, page - 1), page)) /
             page;
    Size ok = pagesReadable(p, n, page);
    Addr ok_limit = AddrAdd(p, ok * page);
    if (ok > 0) {
      Res res = scanWords(ss, p < base ? base : p,
                          ok_limit > limit ? limit : ok_limit, scan_area,
                          closure);
      if (res != MPS_RES_OK)
        return res;
    }
    /* Past the readable pages, and the unreadable one after them (if
     * the probe covered fewer pages than asked, the rest is probed
     * next). */
    p = ok < n && ok < RESIDENT_CHUNK ? AddrAdd(ok_limit, page) : ok_limit;
  }
  return MPS_RES_OK;
}

/* Scan the words of [low, high) on pages that hold data: the resident
 * ones (mincore) and the swapped-out ones (/proc/self/pagemap, bit 62),
 * but not pages never touched (reading them would map them: a coroutine's
 * stack is mostly untouched) nor unmapped ones (its owner may have freed
 * it) nor, in practice, guard pages (never touched).  For an added stack
 * that may hold frames without a mark (DESIGN.md#stacks).  The pagemap is
 * opened for the call (no descriptor to share between arenas, or to
 * inherit through fork); without it, swapped-out pages are skipped. */
static Res scanResidentWords(mps_ss_t ss, Addr low, Addr high,
                             mps_area_scan_t scan_area, void *closure)
{
  Size page = VMPageSize();
  Addr chunk, end = AddrAlignDown(AddrAdd(high, page - 1), page);
  int pagemap = -2; /* -2: not opened yet; -1: not available */
  Res res = MPS_RES_OK;
  for (chunk = AddrAlignDown(low, page); chunk < end && res == MPS_RES_OK;) {
    unsigned char vec[RESIDENT_CHUNK];
    uint64_t map[RESIDENT_CHUNK];
    Bool have_map = FALSE, any_swappable = FALSE;
    Size n = AddrOffset(chunk, end) / page, i;
    Addr run = NULL;
    if (n > RESIDENT_CHUNK)
      n = RESIDENT_CHUNK;
    /* Not resident, an unmapped page (mincore fails for it) has no
     * pagemap entry either. */
    if (mincore(chunk, n * page, vec) != 0)
      for (i = 0; i < n; ++i)
        if (mincore(AddrAdd(chunk, i * page), page, &vec[i]) != 0)
          vec[i] = 0;
    for (i = 0; i < n; ++i)
      if (!(vec[i] & 1))
        any_swappable = TRUE;
    if (any_swappable && pagemap == -2)
      pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (any_swappable && pagemap >= 0) {
      ssize_t want = (ssize_t)(n * sizeof map[0]);
      off_t at = (off_t)((Word)chunk / page * sizeof map[0]);
      have_map = pread(pagemap, map, (size_t)want, at) == want;
    }
    for (i = 0; i <= n && res == MPS_RES_OK; ++i) {
      Addr a = AddrAdd(chunk, i * page);
      Bool data =
          i < n && ((vec[i] & 1) || (have_map && (map[i] >> 62 & 1)));
      if (data && run == NULL) {
        run = a;
      } else if (!data && run != NULL) {
        /* The run's pages, within the stack's bounds. */
        res = scanReadableWords(ss, run < low ? low : run,
                                a > high ? high : a, page, scan_area,
                                closure);
        run = NULL;
      }
    }
    chunk = AddrAdd(chunk, n * page);
  }
  if (pagemap >= 0)
    (void)close(pagemap);
  return res;
}

/* The thread's stacks (DESIGN.md#stacks): its own, and those it said it
 * runs on besides.  Each one not in use is scanned from where the thread
 * left it to its top; the one in use (holding `sp`) is not scanned here
 * (the caller scans it from its hot end).  Sets *current_o to the one in
 * use (its top in *top_o), or NULL; *own_lost_o if the thread is off its
 * own stack without having said where it left it. */
static Res scanOtherStacks(mps_ss_t ss, struct ThreadSuspendStruct *rec,
                           Addr sp, Addr *top_o, Bool *current_o,
                           Bool *own_lost_o, mps_area_scan_t scan_area,
                           void *closure)
{
  ThreadStack st;
  Bool own_known = rec->stack_high != NULL;
  Res res;
  *current_o = FALSE;
  *own_lost_o = FALSE;
  *top_o = NULL;
  if (own_known && sp != NULL && addrIn(sp, rec->stack_low, rec->stack_high)) {
    *current_o = TRUE;
    *top_o = rec->stack_high;
  } else if (own_known && rec->own_left != NULL) {
    res = scanWords(ss, rec->own_left - RED_ZONE_SIZE, rec->stack_high,
                    scan_area, closure);
    if (res != MPS_RES_OK)
      return res;
  } else {
    *own_lost_o = own_known;
  }
  for (st = __atomic_load_n(&rec->stacks, __ATOMIC_ACQUIRE); st != NULL;
       st = st->next) {
    if (sp != NULL && addrIn(sp, st->low, st->high)) {
      *current_o = TRUE;
      *top_o = st->high;
      /* Left and not yet marked as entered again (between the mark and
       * the switch, either way): also from the mark. */
      if (st->left == NULL || st->left - RED_ZONE_SIZE >= sp)
        continue;
    } else if (st->left == NULL) {
      /* Not in use, and not left through mpsx_thread_stack_switch: not
       * started, finished, or left by a switch that bypassed it (a
       * coroutine suspended with its crate's own call), whose frames
       * may hold references.  Every page that holds data: more than
       * needed, never less (DESIGN.md#stacks). */
      res = scanResidentWords(ss, st->low, st->high, scan_area, closure);
      if (res != MPS_RES_OK)
        return res;
      continue;
    }
    /* An orphan's memory may have been unmapped since (its owner freed
     * it without finishing the frames on it), wholly or in part: only
     * the pages that can be read. */
    if (st->orphan)
      res = scanReadableWords(ss, st->left - RED_ZONE_SIZE, st->high,
                              VMPageSize(), scan_area, closure);
    else
      res = scanWords(ss, st->left - RED_ZONE_SIZE, st->high, scan_area,
                      closure);
    if (res != MPS_RES_OK)
      return res;
  }
  return MPS_RES_OK;
}

/* A stopped or parked thread: what recordInterrupted wrote. */
static Res scanRecorded(mps_ss_t ss, Thread thread, Addr cold,
                        mps_area_scan_t scan_area, void *closure)
{
  struct ThreadSuspendStruct *rec = thread->record;
  Addr top;
  Bool current, own_lost;
  Res res;
  res = scanWords(ss, (Addr)&rec->context, (Addr)(&rec->context + 1),
                  scan_area, closure);
  if (res != MPS_RES_OK)
    return res;
  res = scanWords(ss, rec->extra_base, rec->extra_limit, scan_area, closure);
  if (res != MPS_RES_OK)
    return res;
  res = scanOtherStacks(ss, rec, rec->sp, &top, &current, &own_lost,
                        scan_area, closure);
  if (res != MPS_RES_OK)
    return res;
  if (current) {
    /* On a stack it told about: to the top of it, wherever the cold end
     * is (a local of one frame may lie above another's: ThreadScan). */
    res = scanWords(ss, rec->hot, top, scan_area, closure);
  } else if (rec->sp != NULL && !(rec->stack_high != NULL &&
                                   addrIn(cold, rec->stack_low,
                                          rec->stack_high))) {
    /* On a stack it did not tell about, but was registered on: to the
     * cold end. */
    res = rec->hot < cold ? scanWords(ss, rec->hot, cold, scan_area, closure)
                          : MPS_RES_OK;
    own_lost = FALSE;
  } else if (rec->sp != NULL && rec->hot < rec->sp &&
             AddrOffset(rec->hot, rec->sp) <= SIGNAL_FRAME_MAX) {
    /* On a stack not known at all: its extent is not known, so only its
     * signal frame (DESIGN.md#stacks). */
    res = scanWords(ss, rec->hot, rec->sp, scan_area, closure);
  }
  if (res != MPS_RES_OK)
    return res;
  /* Its own stack, left at a point not known: every mapped page of it.
   * More than needed, never less. */
  if (own_lost)
    res = scanWords(ss, mappedFrom(rec->stack_low, rec->stack_high),
                    rec->stack_high, scan_area, closure);
  return res;
}

Res ThreadScan(mps_ss_t ss, Thread thread, void *cold,
               mps_area_scan_t scan_area, void *closure)
{
  struct ThreadSuspendStruct *rec = thread->record;
  unsigned state;
  AVERT(Thread, thread);
  if (ThreadIsCurrent(thread)) {
    Addr sp = __builtin_frame_address(0);
    Addr top;
    Bool current, own_lost;
    Res res;
    /* Collecting from inside the barrier's fault handler (a fault on a
     * grey segment runs a step of the trace): the mutator's state is what
     * the handler recorded, as for a parked thread; the handler's own
     * frames hold nothing of the client's. */
    if (__atomic_load_n(&rec->state, __ATOMIC_ACQUIRE) & STATE_PARKED)
      return scanRecorded(ss, thread, cold, scan_area, closure);
    res = scanOtherStacks(ss, rec, sp, &top, &current, &own_lost, scan_area,
                          closure);
    if (res != MPS_RES_OK)
      return res;
    if (current) {
      /* A cold end is conventionally a local of main or of the thread's
       * start function, but compilers (and sanitizers) lay out frames as
       * they like: a local of the same frame may lie above it.  So when
       * the thread runs on a stack it told about (its own, at least),
       * scan up to the top of it, wherever the cold end lies: also when
       * the cold end is not on the stack at all (a local that
       * AddressSanitizer put in a fake frame). */
      cold = AddrAlignDown(top, sizeof(Word));
    } else if (rec->stack_high != NULL &&
               addrIn(cold, rec->stack_low, rec->stack_high)) {
      /* On a stack not known at all, registered on its own: the extent
       * of this one is not known (DESIGN.md#stacks); only the registers. */
      cold = NULL;
    } else {
      own_lost = FALSE; /* registered on this stack: to its cold end */
    }
    if (own_lost) {
      res = scanWords(ss, mappedFrom(rec->stack_low, rec->stack_high),
                      rec->stack_high, scan_area, closure);
      if (res != MPS_RES_OK)
        return res;
    }
    return scanCurrent(ss, cold, scan_area, closure);
  }
  if (thread->forked_away)
    return MPS_RES_OK; /* it does not exist in this process */
  state = __atomic_load_n(&rec->state, __ATOMIC_ACQUIRE);
  AVER(state & STATE_REQUESTED);
  AVER(state & (STATE_STOPPED | STATE_PARKED));
  (void)state;
  return scanRecorded(ss, thread, cold, scan_area, closure);
}
