/* sigstack.c: alternate signal stacks of registered threads
 *
 * The barrier's SIGSEGV handler is installed with SA_ONSTACK, so that a
 * stack overflow still reaches the handler installed before it (Rust's
 * report, for one).  A barrier fault is therefore delivered on the
 * thread's alternate signal stack whenever it has one, and alternate
 * stacks are small: Rust gives every thread 8 KiB, of which one signal
 * frame takes 3.4 KiB on a machine with AVX-512; a program may set one of
 * MINSIGSTKSZ (2 KiB), on which the kernel cannot even build the frame.
 * Two measures make the handler independent of that size
 * (DESIGN.md#sigstacks):
 *
 * 1. Registration gives a thread whose alternate stack is too small for
 *    one signal frame and the handler's first steps a larger one of ours,
 *    for as long as it is registered (SigStackAdopt, SigStackRelease).
 * 2. The handler does its real work (the arena lock, scanning a segment
 *    behind the read barrier, which runs the client's format methods) on
 *    the stack the faulting code was using, below its stack pointer and
 *    red zone, as if the thread had no alternate stack (SigStackCall).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mpm.h"

/* What the handler needs on the alternate stack beyond the signal frame,
 * before it leaves for the faulting stack: its own frame, the arena lock
 * (pthread_mutex_lock), the page-table lookup; generous for a sanitizer
 * build. */
#define SIGSTACK_HANDLER_NEED ((Size)4096)

/* The size of the alternate stack we give a thread, at least. */
#define SIGSTACK_OWN_SIZE ((Size)64 * 1024)

/* Below the stack pointer, the x86-64 ABI lets leaf functions keep live
 * data (the red zone); AArch64 has none, but skipping it is harmless. */
#define SIGSTACK_RED_ZONE ((Size)128)

/* MINSIGSTKSZ as it was before the kernel told (with _GNU_SOURCE, glibc
 * makes the macro a sysconf call). */
#define SIGSTACK_LEGACY_MIN ((Size)2048)

/* Linux 4.7; not in every libc's headers. */
#ifndef SS_AUTODISARM
#define SS_AUTODISARM ((int)(1U << 31))
#endif

/* The kernel's figure for one signal frame on this machine (the XSAVE
 * area it needs for the features in use), or the architecture's old
 * constant where the kernel does not say. */
static Size sigFrameSize(void)
{
  Size min = (Size)getauxval(AT_MINSIGSTKSZ);
  return min > SIGSTACK_LEGACY_MIN ? min : SIGSTACK_LEGACY_MIN;
}

Size SigStackNeed(void)
{
  return sigFrameSize() + SIGSTACK_HANDLER_NEED;
}

Bool SigStackCheck(SigStack ss)
{
  return ss != NULL &&
         (ss->mem == NULL ||
          (ss->size >= SigStackNeed() && ss->guard > 0 &&
           (Word)ss->mem % (Word)sysconf(_SC_PAGESIZE) == 0));
}

Res SigStackAdopt(SigStack ss)
{
  stack_t cur, mine;
  Size page = (Size)sysconf(_SC_PAGESIZE);
  Size size, need = SigStackNeed();
  void *mem;
  AVER(ss->mem == NULL);
  if (sigaltstack(NULL, &cur) != 0)
    return MPS_RES_FAIL;
  /* None at all: every signal is delivered on the stack in use, which is
   * what the handler wants.  Running on it now (registering from a
   * handler): it cannot be changed; leave it. */
  if ((cur.ss_flags & (SS_DISABLE | SS_ONSTACK)) != 0 || cur.ss_size >= need)
    return MPS_RES_OK;
  size = SIGSTACK_OWN_SIZE;
  while (size < 4 * need)
    size *= 2;
  size = (size + page - 1) & ~(page - 1);
  /* A guard page below it: an overflow of the alternate stack faults
   * instead of overwriting whatever lies below. */
  mem = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED)
    return MPS_RES_MEMORY;
  if (mprotect(mem, page, PROT_NONE) != 0) {
    (void)munmap(mem, size + page);
    return MPS_RES_FAIL;
  }
  memset(&mine, 0, sizeof mine);
  mine.ss_sp = AddrAdd(mem, page);
  mine.ss_size = size;
  mine.ss_flags = cur.ss_flags & SS_AUTODISARM;
  if (sigaltstack(&mine, NULL) != 0) {
    (void)munmap(mem, size + page);
    return MPS_RES_FAIL;
  }
  ss->saved = cur;
  ss->mem = mem;
  ss->size = size;
  ss->guard = page;
  AVERT(SigStack, ss);
  return MPS_RES_OK;
}

void SigStackRelease(SigStack ss)
{
  stack_t cur;
  AVERT(SigStack, ss);
  if (ss->mem == NULL)
    return;
  if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_ONSTACK) != 0)
    return; /* running on it: keep it (and leak it) rather than break */
  /* Give the thread back its own, unless it has set another since. */
  if (cur.ss_sp == AddrAdd(ss->mem, ss->guard))
    (void)sigaltstack(&ss->saved, NULL);
  (void)munmap(ss->mem, ss->size + ss->guard);
  ss->mem = NULL;
}

static Bool inStack(Addr a, const stack_t *st)
{
  return (st->ss_flags & SS_DISABLE) == 0 && st->ss_size > 0 &&
         a >= (Addr)st->ss_sp && a < AddrAdd(st->ss_sp, st->ss_size);
}

Addr SigStackMutatorTop(const ucontext_t *uc)
{
  Addr frame = __builtin_frame_address(0);
  Addr sp = ContextSP(uc);
  /* On the alternate stack, delivered for code that was not on it. */
  if (!inStack(frame, &uc->uc_stack) || inStack(sp, &uc->uc_stack))
    return NULL;
  return AddrAlignDown(sp - SIGSTACK_RED_ZONE - 64, 16);
}

/* SigStackCall(fn, closure, top): call fn(closure) with the stack pointer
 * at `top` (16-byte aligned), and return on the original stack.  The
 * frame pointer keeps the way back; unwind information describes it, so
 * debuggers see through the switch. */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl SigStackCall\n"
        ".hidden SigStackCall\n"
        ".type SigStackCall, @function\n"
        ".p2align 4\n"
        "SigStackCall:\n"
        "  .cfi_startproc\n"
        "  pushq %rbp\n"
        "  .cfi_def_cfa_offset 16\n"
        "  .cfi_offset %rbp, -16\n"
        "  movq %rsp, %rbp\n"
        "  .cfi_def_cfa_register %rbp\n"
        "  movq %rdx, %rsp\n"
        "  movq %rdi, %rax\n"
        "  movq %rsi, %rdi\n"
        "  callq *%rax\n"
        "  movq %rbp, %rsp\n"
        "  popq %rbp\n"
        "  .cfi_def_cfa %rsp, 8\n"
        "  ret\n"
        "  .cfi_endproc\n"
        ".size SigStackCall, .-SigStackCall\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl SigStackCall\n"
        ".hidden SigStackCall\n"
        ".type SigStackCall, %function\n"
        ".p2align 2\n"
        "SigStackCall:\n"
        "  .cfi_startproc\n"
        "  stp x29, x30, [sp, #-16]!\n"
        "  .cfi_def_cfa_offset 16\n"
        "  .cfi_offset x29, -16\n"
        "  .cfi_offset x30, -8\n"
        "  mov x29, sp\n"
        "  .cfi_def_cfa_register x29\n"
        "  mov sp, x2\n"
        "  mov x9, x0\n"
        "  mov x0, x1\n"
        "  blr x9\n"
        "  mov sp, x29\n"
        "  ldp x29, x30, [sp], #16\n"
        "  .cfi_def_cfa sp, 0\n"
        "  ret\n"
        "  .cfi_endproc\n"
        ".size SigStackCall, .-SigStackCall\n");
#else
#error "sigstack.c: unsupported architecture"
#endif
