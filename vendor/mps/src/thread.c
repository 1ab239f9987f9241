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

struct ThreadSuspendStruct {
  volatile sig_atomic_t requested; /* the collector wants it stopped */
  volatile sig_atomic_t stopped;   /* it is waiting in the handler */
  mcontext_t context;              /* registers at the interruption */
  Addr sp;
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

static void suspendHandler(int sig, siginfo_t *info, void *context)
{
  struct ThreadSuspendStruct *rec = &threadSuspend;
  int saved_errno = errno;
  ucontext_t *uc = context;
  sigset_t wait_mask;

  if (!__atomic_load_n(&rec->requested, __ATOMIC_SEQ_CST)) {
    chainSignal(sig, info, context, &oldSuspendAction);
    errno = saved_errno;
    return;
  }
  rec->context = uc->uc_mcontext;
  rec->sp = contextSP(uc);
  rec->has_outer = FALSE;
  /* Stopped inside the barrier's fault handler on an alternate stack: the
   * thread's own stack starts at the fault's stack pointer. */
  if (rec->fault_context != NULL && rec->stack_high != NULL &&
      !(rec->sp >= rec->stack_low && rec->sp < rec->stack_high)) {
    rec->outer = rec->fault_context->uc_mcontext;
    rec->has_outer = TRUE;
    rec->sp = contextSP(rec->fault_context);
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
 * context and every caller's frame. */
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
  hot = AddrAlignDown(rec->sp - RED_ZONE_SIZE, sizeof(Word));
  if (hot >= (Addr)cold)
    return MPS_RES_OK;
  return scan_area(ss, hot, cold, closure);
}
