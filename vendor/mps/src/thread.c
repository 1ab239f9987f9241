/* thread.c: thread registration, stopping the world, stack scanning
 *
 * Linux, x86-64 and AArch64.  A collection stops every other thread
 * registered in the arena with a signal (SIGXCPU); the handler saves the
 * interrupted register context, acknowledges, and waits in sigsuspend
 * until the resume signal (SIGXFSZ).  Handlers installed before ours keep
 * receiving the signals we did not send.  See DESIGN.md#threads.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpm.h"

#define SIG_SUSPEND SIGXCPU
#define SIG_RESUME SIGXFSZ

/* Below the stack pointer, the x86-64 ABI lets leaf functions keep live
 * data (the red zone); AArch64 has none, but scanning it is harmless. */
#define RED_ZONE_SIZE 128

/* More than any signal frame the kernel builds: an x86-64 frame with the
 * whole XSAVE area (AVX-512, AMX tiles) is under 16 KiB, an AArch64 one
 * with SVE and SME state at the largest vector lengths under 128 KiB.  A
 * handler frame further than this below the interrupted stack pointer is
 * taken to be on some other stack (see suspendHandler). */
#define SIGNAL_FRAME_MAX ((Size)256 * 1024)

struct ThreadSuspendStruct {
  volatile sig_atomic_t requested; /* the collector wants it stopped */
  volatile sig_atomic_t stopped;   /* it is waiting in the handler */
  mcontext_t context;              /* registers at the interruption */
  /* The stack pointer of the code that runs on the thread's stack: the
   * interrupted one, or the fault's (below).  It says which stack that
   * is, so whether the cold end may be moved up (ThreadScan). */
  Addr sp;
  /* Where the scan of that stack starts: the suspend handler's own
   * frame, below its signal frame; inside the fault handler on an
   * alternate stack, the fault's signal frame if it is on the thread's
   * stack, else the fault's stack pointer less the red zone. */
  Addr hot;
  /* Frames on an alternate signal stack, scanned in place: [extra_base,
   * extra_limit), or empty. */
  Addr extra_base, extra_limit;
  /* While the thread runs the barrier's fault handler, the context of the
   * fault: that handler may run on an alternate signal stack. */
  ucontext_t *volatile fault_context;
  mcontext_t outer;                /* registers at the fault */
  Bool has_outer;
  Addr stack_low, stack_high;      /* the thread's own stack */
};

static _Thread_local struct ThreadSuspendStruct threadSuspend;

static struct sigaction oldSuspendAction, oldResumeAction;
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
    /* The default action of both signals ends the process: take it. */
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

static Addr contextSP(const ucontext_t *uc)
{
#if defined(__x86_64__)
  return (Addr)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (Addr)uc->uc_mcontext.sp;
#else
#error "thread.c: unsupported architecture"
#endif
}

void ThreadEnterFaultHandler(void *context)
{
  threadSuspend.fault_context = context;
}

void ThreadLeaveFaultHandler(void)
{
  threadSuspend.fault_context = NULL;
}

/* Is a in [low, high)? */
static Bool addrIn(Addr a, Addr low, Addr high)
{
  return a >= low && a < high;
}

/* What a stopped thread's scan must cover (DESIGN.md#threads).
 *
 * The machine context the kernel hands a handler holds the general
 * registers, but the FP/SIMD registers are elsewhere in the signal frame:
 * on x86-64 `fpregs` points to the FXSAVE/XSAVE area (xmm0-15, the upper
 * halves of the ymm registers, AVX-512 state), which the kernel puts
 * between the interrupted stack pointer (less the red zone) and the
 * ucontext; on AArch64 the V registers are in the ucontext's __reserved
 * records (so the copy of uc_mcontext below already has V0-V31), SVE and
 * SME state possibly in an extra block after them.
 * Compilers keep pointers in vector registers (a 16- or 32-byte struct
 * moves through xmm/ymm), so a copy of the general registers is not
 * enough.  Rather than knowing every layout, scan the whole signal frame
 * where it lies: it stays put while the thread waits in sigsuspend.
 *
 * This handler is installed without SA_ONSTACK, so the kernel never
 * switches stacks for it: the signal frame is pushed on whatever stack the
 * thread was using, just below the interrupted stack pointer, and this
 * function's frame lies just below that.  So `frame` (our frame address)
 * up to the interrupted stack pointer is exactly the signal frame (plus
 * the red zone, which the kernel skips on x86-64, and our own frame).
 *
 * 1. Interrupted on its own stack (the usual case, and also inside the
 *    barrier's fault handler when no alternate stack is in use): scan the
 *    stack from `frame`.  That covers the signal frame and everything the
 *    interrupted code has on the stack.
 *
 * 2. Interrupted inside the barrier's fault handler running on an
 *    alternate signal stack (SA_ONSTACK, e.g. Rust's): this handler and
 *    its signal frame are on that alternate stack too.  The mutator's
 *    registers at the fault, FP/SIMD state included, are in the SIGSEGV
 *    signal frame, at the top of the alternate stack.  The kernel recorded
 *    the alternate stack it used in that frame's uc_stack (before any
 *    SS_AUTODISARM), so scan from `frame` up to the top of that stack, in
 *    place: both signal frames, with both register sets, and the fault
 *    handler's frames in between.  The thread's own stack is scanned from
 *    the fault's stack pointer, as before, and both general register sets
 *    are copied as before.  In place rather than a copy of the FP areas:
 *    no per-thread buffer sized for the largest XSAVE or SVE/SME state
 *    (thread-local, so every thread of the process would pay for it), no
 *    format to parse, and every extension is covered.
 *
 *    If the fault's signal frame is not on the alternate stack it names
 *    (a handler nested in the fault handler took the thread to the
 *    alternate stack, or the fault handler runs on some other stack),
 *    only our own signal frame, [frame, interrupted sp), is added: it
 *    holds the interrupted registers, FP/SIMD included.  When the fault's
 *    signal frame is on the thread's own stack, that stack is scanned
 *    from it rather than from the fault's stack pointer.
 *
 * 3. Interrupted on some other stack, outside the fault handler: scan
 *    from `frame` (the cold end is then not moved: ThreadScan).
 *
 * `frame` is checked to lie on the stack we expect before it is used; if
 * it does not (something ran this handler elsewhere), the scan starts at
 * the interrupted stack pointer less the red zone, as without it.
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
  ucontext_t *uc = context;
  sigset_t wait_mask;
  Addr frame, sp;
  Bool own, frame_ok;

  if (!__atomic_load_n(&rec->requested, __ATOMIC_SEQ_CST)) {
    chainSignal(sig, info, context, &oldSuspendAction);
    errno = saved_errno;
    return;
  }
  frame = AddrAlignDown(__builtin_frame_address(0), sizeof(Word));
  sp = contextSP(uc);
  own = rec->stack_high != NULL &&
        addrIn(sp, rec->stack_low, rec->stack_high);
  if (own)
    frame_ok = addrIn(frame, rec->stack_low, sp);
  else
    frame_ok = frame < sp && AddrOffset(frame, sp) <= SIGNAL_FRAME_MAX;
  if (!frame_ok)
    frame = AddrAlignDown(sp - RED_ZONE_SIZE, sizeof(Word));
  rec->context = uc->uc_mcontext;
  rec->sp = sp;
  rec->hot = frame;
  rec->extra_base = rec->extra_limit = NULL;
  rec->has_outer = FALSE;
  /* Stopped inside the barrier's fault handler on an alternate stack
   * (case 2 above): the thread's own stack starts at the fault's stack
   * pointer. */
  if (rec->fault_context != NULL && rec->stack_high != NULL && !own) {
    ucontext_t *fault = rec->fault_context;
    Addr fault_sp = contextSP(fault);
    Addr alt_low = fault->uc_stack.ss_sp;
    Addr alt_high = AddrAdd(alt_low, fault->uc_stack.ss_size);
    if (frame_ok) {
      Addr top = sp; /* at least our own signal frame */
      if (!(fault->uc_stack.ss_flags & SS_DISABLE) &&
          fault->uc_stack.ss_size > 0 && addrIn(frame, alt_low, sp) &&
          addrIn((Addr)fault, sp, alt_high))
        top = alt_high; /* the fault's frame too, on the same stack */
      rec->extra_base = frame;
      rec->extra_limit = AddrAlignDown(top, sizeof(Word));
    }
    rec->outer = fault->uc_mcontext;
    rec->has_outer = TRUE;
    rec->sp = fault_sp;
    rec->hot = AddrAlignDown(fault_sp - RED_ZONE_SIZE, sizeof(Word));
    /* The fault's signal frame on the thread's own stack, below the
     * fault's stack pointer (a handler nested in the fault handler took
     * the thread to the alternate stack): scan the own stack from it, so
     * that the FP/SIMD state of the fault is seen. */
    if (addrIn((Addr)fault, rec->stack_low, rec->hot))
      rec->hot = AddrAlignDown((Addr)fault, sizeof(Word));
  }
  sigfillset(&wait_mask);
  sigdelset(&wait_mask, SIG_RESUME);
  __atomic_store_n(&rec->stopped, 1, __ATOMIC_SEQ_CST);
  (void)sem_post(&ackSem);
  while (__atomic_load_n(&rec->requested, __ATOMIC_SEQ_CST))
    (void)sigsuspend(&wait_mask);
  __atomic_store_n(&rec->stopped, 0, __ATOMIC_SEQ_CST);
  (void)sem_post(&ackSem);
  errno = saved_errno;
}

/* Was this signal sent by pthread_kill from this process? */
static Bool signalIsOurs(const siginfo_t *info)
{
  return info != NULL && info->si_code == SI_TKILL && info->si_pid == getpid();
}

static void resumeHandler(int sig, siginfo_t *info, void *context)
{
  int saved_errno = errno;
  /* Our resume signal only has to interrupt sigsuspend.  It may also
   * arrive after the suspend handler saw `requested` cleared and left
   * without waiting; then it is simply late, and ignored. */
  if (!__atomic_load_n(&threadSuspend.stopped, __ATOMIC_SEQ_CST) &&
      !signalIsOurs(info))
    chainSignal(sig, info, context, &oldResumeAction);
  errno = saved_errno;
}

/* fork: DESIGN.md#fork.  Before a fork, take every arena's lock, then the
 * world lock, then the global lock, in the usual order, so that the child
 * starts with every collector structure consistent; both sides release
 * them.  In the child only the forking thread exists: every other thread
 * registered in an arena is marked as gone, never signalled or scanned. */

static void forkPrepare(void)
{
  Ring node, next;
  RING_FOR(node, &ArenaGlobalRing, next) {
    Arena arena = RING_ELT(Arena, global_ring, node);
    LockClaim(&arena->lock);
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
    LockRelease(&arena->lock);
  }
}

static void forkParent(void)
{
  forkReleaseAll();
}

static void forkChild(void)
{
  Ring node, next;
  RING_FOR(node, &ArenaGlobalRing, next) {
    Arena arena = RING_ELT(Arena, global_ring, node);
    Ring tnode, tnext;
    RING_FOR(tnode, &arena->threads, tnext) {
      Thread thread = RING_ELT(Thread, arena_ring, tnode);
      if (!ThreadIsCurrent(thread))
        thread->forked_away = TRUE;
    }
  }
  forkReleaseAll();
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
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIG_RESUME);
    sa.sa_sigaction = suspendHandler;
    if (sigaction(SIG_SUSPEND, &sa, &oldSuspendAction) != 0) {
      LockReleaseGlobal();
      return MPS_RES_RESOURCE;
    }
    sigemptyset(&sa.sa_mask);
    sa.sa_sigaction = resumeHandler;
    if (sigaction(SIG_RESUME, &sa, &oldResumeAction) != 0) {
      (void)sigaction(SIG_SUSPEND, &oldSuspendAction, NULL);
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
  Res res = ThreadInstallHandlers();
  if (res != MPS_RES_OK)
    return res;
  thread = calloc(1, sizeof *thread);
  if (thread == NULL)
    return MPS_RES_MEMORY;
  thread->arena = arena;
  thread->id = pthread_self();
  thread->record = &threadSuspend;
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
        threadSuspend.stack_low = low;
        threadSuspend.stack_high = AddrAdd(low, size);
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
  AVERT(Thread, thread);
  RingRemove(&thread->arena_ring);
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
 * thread registered twice is stopped once. */
void ThreadRingSuspend(Arena arena)
{
  Ring node, next;
  Size waiting = 0;
  RING_FOR(node, &arena->threads, next) {
    Thread thread = RING_ELT(Thread, arena_ring, node);
    thread->suspended = FALSE;
    if (ThreadIsCurrent(thread) || thread->record->requested ||
        thread->forked_away)
      continue;
    __atomic_store_n(&thread->record->requested, 1, __ATOMIC_SEQ_CST);
    if (pthread_kill(thread->id, SIG_SUSPEND) != 0) {
      /* The thread has gone without deregistering: a client error. */
      __atomic_store_n(&thread->record->requested, 0, __ATOMIC_SEQ_CST);
      AssertFail(__FILE__, __LINE__,
                 "registered thread exited without mps_thread_dereg");
    }
    thread->suspended = TRUE;
    ++waiting;
  }
  while (waiting-- > 0)
    semWait();
}

void ThreadRingResume(Arena arena)
{
  Ring node, next;
  Size waiting = 0;
  RING_FOR(node, &arena->threads, next) {
    Thread thread = RING_ELT(Thread, arena_ring, node);
    if (!thread->suspended)
      continue;
    thread->suspended = FALSE;
    __atomic_store_n(&thread->record->requested, 0, __ATOMIC_SEQ_CST);
    ASSERT_ALWAYS(pthread_kill(thread->id, SIG_RESUME) == 0);
    ++waiting;
  }
  while (waiting-- > 0)
    semWait();
}

/* Stack scanning ---------------------------------------------------------- */

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
  if (!(hot < (Addr)cold && hot >= frame - 4096)) {
    /* The context is not on this frame: AddressSanitizer moved the local
     * to a "fake stack" in the heap.  Scan it there, and the real stack
     * from the frame (locals in fake frames are not seen:
     * DESIGN.md#threads). */
    res = scan_area(ss, &uc, (Addr)&uc + sizeof(Word) *
                    (sizeof uc / sizeof(Word)), closure);
    if (res != MPS_RES_OK)
      return res;
    hot = AddrAlignDown(frame, sizeof(Word));
  }
  res = scan_area(ss, hot, cold, closure);
  /* Keep uc alive until the scan is over. */
  __asm__ volatile("" : : "r"(&uc) : "memory");
  return res;
}

Res ThreadScan(mps_ss_t ss, Thread thread, void *cold,
               mps_area_scan_t scan_area, void *closure)
{
  struct ThreadSuspendStruct *rec = thread->record;
  Addr hot;
  Res res;
  AVERT(Thread, thread);
  /* A cold end is conventionally a local of main or of the thread's start
   * function, but compilers (and sanitizers) lay out frames as they like:
   * a local of the same frame may lie above it.  Scanning to the top of
   * the stack mapping is more conservative and never wrong. */
  {
    /* When the thread runs on its own stack, scan up to the top of it,
     * wherever the cold end lies: also when the cold end is not on the
     * stack at all (a local that AddressSanitizer put in a fake frame).
     * A thread running on some other stack is scanned to its cold end. */
    Addr sp = ThreadIsCurrent(thread) ? (Addr)__builtin_frame_address(0)
                                      : rec->sp;
    if (sp >= thread->stack_low && sp < thread->stack_high)
      cold = AddrAlignDown(thread->stack_high, sizeof(Word));
  }
  if (ThreadIsCurrent(thread))
    return scanCurrent(ss, cold, scan_area, closure);
  if (thread->forked_away)
    return MPS_RES_OK; /* it does not exist in this process */
  AVER(rec->stopped);
  res = scan_area(ss, &rec->context, (Addr)&rec->context + sizeof(Word) *
                  (sizeof rec->context / sizeof(Word)), closure);
  if (res != MPS_RES_OK)
    return res;
  if (rec->has_outer) {
    res = scan_area(ss, &rec->outer, (Addr)&rec->outer + sizeof(Word) *
                    (sizeof rec->outer / sizeof(Word)), closure);
    if (res != MPS_RES_OK)
      return res;
  }
  /* Frames and signal frames on an alternate stack, in place: the thread
   * waits in the handler on that stack until it is resumed. */
  if (rec->extra_base < rec->extra_limit) {
    res = scan_area(ss, rec->extra_base, rec->extra_limit, closure);
    if (res != MPS_RES_OK)
      return res;
  }
  /* From the suspend handler's frame, which covers the signal frame with
   * the FP/SIMD registers (suspendHandler). */
  hot = rec->hot;
  if (hot >= (Addr)cold)
    return MPS_RES_OK;
  return scan_area(ss, hot, cold, closure);
}
