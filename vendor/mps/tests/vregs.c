/* vregs.c -- a reference held only in a vector register of a stopped
 * thread pins its object
 *
 * A registered mutator thread (thread root scanned with mps_scan_area)
 * allocates an AMC string, keeps its address only in a vector register
 * and spins, while the main thread allocates garbage and runs full
 * collections.  The collector stops the mutator with a signal: the kernel
 * saves that register only in the FP/SIMD part of the signal frame, not in
 * the general-register context, so the stack scan must cover the signal
 * frame (DESIGN.md#threads).  If it does not, the string is dead to the
 * collector: it is padded over or its memory reused or freed, and the
 * check after the spin fails.  If it does, the ambiguous reference pins
 * it: a string with the right tag and id is still at that address.
 *
 * Where the reference is held (x86-64; the other parts are skipped when
 * the CPU lacks them):
 *   xmm5       low 64 bits of xmm5 (SSE2): the FXSAVE area
 *   ymm5-high  bits 128-191 of ymm5 (AVX): the XSAVE area's YMM_Hi128
 *   zmm5-high  bits 256-319 of zmm5 (AVX-512F): ZMM_Hi256
 *   xmm21      low 64 bits of xmm21 (AVX-512F): Hi16_ZMM
 * and where the thread is when it is stopped:
 *   own        spinning on its own stack
 *   alt        inside the barrier's SIGSEGV handler, on an alternate
 *              signal stack: the reference is then only in the SIGSEGV
 *              frame's FP state, on that stack.
 *
 * For "alt", the spin loop first stores to a read-only page of the
 * test's own.  The fault goes to the MPS's handler (SA_ONSTACK, so on the
 * mutator's alternate stack), which takes each arena's lock in turn to
 * look the address up.  Arena B is created before the collected arena A,
 * so the handler comes to it first, and a helper thread holds B's lock
 * inside a formatted-objects walk: the mutator waits in the handler, on
 * the alternate stack, while A is collected.  Then the helper lets go,
 * the handler finds the fault is not the MPS's and passes it on to the
 * test's handler (installed before the arenas), which makes the page
 * writable; the store is retried and the spin goes on.  The test checks
 * that this really happened (the mutator was asleep in the handler before
 * the collections, and the test's handler ran on the alternate stack).
 *
 * The reference must really be nowhere but in the vector register, or the
 * test proves nothing: the object is made by a noinline function that
 * returns its address XORed with a key (not a reference), the stack below
 * is scrubbed, and one asm block turns the disguised value back into the
 * address, puts it in the vector register, clears every general register
 * that held it (and every other vector register), spins until the main
 * thread says so, and moves it back.  The main thread is not registered,
 * so its stack is no root.  As a control, an object held by an exact root
 * must move at least once.
 */

#define _GNU_SOURCE

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)

#define NKEEP 128
#define ALT_STACK_SIZE ((size_t)256 * 1024)
#define TIMEOUT 120.0 /* seconds for any one wait */
/* An address XORed with this is no address in the heap (non-canonical). */
#define KEY ((uintptr_t)0x6b3c9e1d5a0f7247ULL)
#define CONTROL_ID 999999999UL

enum { V_XMM, V_YMM, V_ZMM, V_X21, NVEC };
static const char *const vec_name[NVEC] = {
  "xmm5", "ymm5 high half", "zmm5 high half", "xmm21"
};

static mps_arena_t arena;      /* A: collected */
static mps_arena_t lock_arena; /* B: its lock stops the fault handler */
static mps_pool_t amc;
static mps_ap_t main_ap;
static void *keep[NKEEP];      /* exact root of A: survivors of churn() */
static unsigned long next_id = 1;

/* [0]: set by the mutator's asm once the reference is only in the vector
 * register; [1]: set by the main thread to end the spin.  Read and written
 * by the asm as plain ints, in C with atomics. */
static int hold_flags[2];

/* The mutator thread's job, filled in by the main thread. */
static int job_vec, job_alt;
static unsigned long job_id;
static uintptr_t target_disguised;  /* the object's address ^ KEY */
static pid_t mutator_tid;

/* The read-only page the "alt" spin stores to, and the alternate stack. */
static char *fault_page;
static size_t page_size;
static uintptr_t alt_low, alt_high;
static int chained, segv_on_alt;  /* the test's SIGSEGV handler ran */

/* Arena B's lock holder. */
static int b_holding, b_let_go;

static void sleep_ms(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

/* Wait until *flag is non-zero. */
static void await(int *flag, const char *what)
{
  double deadline = test_now() + TIMEOUT;
  while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST)) {
    if (test_now() > deadline)
      die("timed out waiting for %s", what);
    sleep_ms(1);
  }
}

/* The scheduler state of one of our threads ('R', 'S', ...). */
static char thread_state(pid_t tid)
{
  char path[64], buf[512], *p;
  FILE *f;
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  f = fopen(path, "r");
  if (f == NULL)
    return '?';
  p = fgets(buf, sizeof buf, f);
  fclose(f);
  if (p == NULL || (p = strrchr(buf, ')')) == NULL || p[1] == '\0')
    return '?';
  return p[2];
}

/* ---- the test's SIGSEGV handler (the MPS's passes faults on to it) --- */

static void test_segv(int sig, siginfo_t *info, void *context)
{
  char *addr = info->si_addr;
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  (void)context;
  if (addr >= fault_page && addr < fault_page + page_size) {
    if (here >= alt_low && here < alt_high)
      __atomic_store_n(&segv_on_alt, 1, __ATOMIC_SEQ_CST);
    (void)mprotect(fault_page, page_size, PROT_READ | PROT_WRITE);
    __atomic_add_fetch(&chained, 1, __ATOMIC_SEQ_CST);
    return;
  }
  /* Not ours: take the default action when the access is retried. */
  {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    (void)sigaction(sig, &dfl, NULL);
  }
}

/* ---- holding the reference in a vector register -------------------- */

/* Every asm block below: rax = d ^ k is the reference; it goes into the
 * vector register; rax, the other caller-saved general registers (which
 * may hold stale copies from the allocation) and the operands d, k are
 * cleared; hold_flags[0] is set; for "alt" the store to the read-only
 * page faults; then it spins until hold_flags[1] is set and returns the
 * reference from the vector register.  Callee-saved registers hold only
 * values of our callers, which never had the reference. */
#define HOLD_UNDISGUISE \
  "mov %[d], %%rax\n\t" \
  "xor %[k], %%rax\n\t"
#define HOLD_CLEAR_GPRS \
  "xor %%eax, %%eax\n\t" \
  "xor %%ecx, %%ecx\n\t" \
  "xor %%edx, %%edx\n\t" \
  "xor %%esi, %%esi\n\t" \
  "xor %%edi, %%edi\n\t" \
  "xor %%r8d, %%r8d\n\t" \
  "xor %%r9d, %%r9d\n\t" \
  "xor %%r10d, %%r10d\n\t" \
  "xor %%r11d, %%r11d\n\t" \
  "xor %[d], %[d]\n\t" \
  "xor %[k], %[k]\n\t"
#define HOLD_SPIN \
  "movl $1, (%[flags])\n\t" \
  "test %[fault], %[fault]\n\t" \
  "jz 1f\n\t" \
  "movb $1, (%[fault])\n" \
  "1:\n\t" \
  "pause\n\t" \
  "cmpl $0, 4(%[flags])\n\t" \
  "je 1b\n\t"
#define HOLD_OPERANDS \
  : "=&a"(out), [d] "+r"(d), [k] "+r"(k) \
  : [flags] "r"(hold_flags), [fault] "r"(fault)
#define HOLD_CLOBBERS \
  "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", \
  "cc", "memory"

/* In xmm5; every other xmm register zeroed first. */
static __attribute__((noinline)) uintptr_t hold_xmm(uintptr_t d, uintptr_t k,
                                                    char *fault)
{
  uintptr_t out;
  __asm__ volatile(
    "pxor %%xmm0, %%xmm0\n\t"   "pxor %%xmm1, %%xmm1\n\t"
    "pxor %%xmm2, %%xmm2\n\t"   "pxor %%xmm3, %%xmm3\n\t"
    "pxor %%xmm4, %%xmm4\n\t"   "pxor %%xmm5, %%xmm5\n\t"
    "pxor %%xmm6, %%xmm6\n\t"   "pxor %%xmm7, %%xmm7\n\t"
    "pxor %%xmm8, %%xmm8\n\t"   "pxor %%xmm9, %%xmm9\n\t"
    "pxor %%xmm10, %%xmm10\n\t" "pxor %%xmm11, %%xmm11\n\t"
    "pxor %%xmm12, %%xmm12\n\t" "pxor %%xmm13, %%xmm13\n\t"
    "pxor %%xmm14, %%xmm14\n\t" "pxor %%xmm15, %%xmm15\n\t"
    HOLD_UNDISGUISE
    "movq %%rax, %%xmm5\n\t"
    HOLD_CLEAR_GPRS
    HOLD_SPIN
    "movq %%xmm5, %%rax\n\t"
    "pxor %%xmm5, %%xmm5\n\t"
    HOLD_OPERANDS
    : HOLD_CLOBBERS);
  return out;
}

/* In bits 128-191 of ymm5 (its low half zero); the rest zeroed. */
static __attribute__((noinline)) uintptr_t hold_ymm(uintptr_t d, uintptr_t k,
                                                    char *fault)
{
  uintptr_t out;
  __asm__ volatile(
    "vzeroall\n\t"
    HOLD_UNDISGUISE
    "vmovq %%rax, %%xmm1\n\t"
    "vinsertf128 $1, %%xmm1, %%ymm5, %%ymm5\n\t"
    "vpxor %%xmm1, %%xmm1, %%xmm1\n\t"
    HOLD_CLEAR_GPRS
    HOLD_SPIN
    "vextractf128 $1, %%ymm5, %%xmm1\n\t"
    "vmovq %%xmm1, %%rax\n\t"
    "vzeroall\n\t"
    HOLD_OPERANDS
    : HOLD_CLOBBERS);
  return out;
}

/* In bits 256-319 of zmm5 (its low 256 bits zero); the rest zeroed. */
static __attribute__((noinline)) uintptr_t hold_zmm(uintptr_t d, uintptr_t k,
                                                    char *fault)
{
  uintptr_t out;
  __asm__ volatile(
    "vzeroall\n\t"
    HOLD_UNDISGUISE
    "vmovq %%rax, %%xmm1\n\t"
    "vinserti64x4 $1, %%ymm1, %%zmm5, %%zmm5\n\t"
    "vpxor %%xmm1, %%xmm1, %%xmm1\n\t"
    HOLD_CLEAR_GPRS
    HOLD_SPIN
    "vextracti64x4 $1, %%zmm5, %%ymm1\n\t"
    "vmovq %%xmm1, %%rax\n\t"
    "vzeroall\n\t"
    HOLD_OPERANDS
    : HOLD_CLOBBERS);
  return out;
}

/* In xmm21 (AVX-512's registers 16-31: without -mavx512f the compiler
 * never uses them, so they need no clobber). */
static __attribute__((noinline)) uintptr_t hold_x21(uintptr_t d, uintptr_t k,
                                                    char *fault)
{
  uintptr_t out;
  __asm__ volatile(
    "vzeroall\n\t"
    "vpxord %%zmm21, %%zmm21, %%zmm21\n\t"
    HOLD_UNDISGUISE
    "vmovq %%rax, %%xmm21\n\t"
    HOLD_CLEAR_GPRS
    HOLD_SPIN
    "vmovq %%xmm21, %%rax\n\t"
    "vpxord %%zmm21, %%zmm21, %%zmm21\n\t"
    "vzeroall\n\t"
    HOLD_OPERANDS
    : HOLD_CLOBBERS);
  return out;
}

/* ---- the mutator thread ----------------------------------------------- */

/* The object, made in a frame that is gone (and scrubbed) before the
 * spin; only its disguised address comes back. */
static __attribute__((noinline)) uintptr_t make_target(mps_ap_t ap,
                                                       unsigned long id)
{
  void *p = tf_make_str(ap, id, 64);
  uintptr_t disguised = (uintptr_t)p ^ KEY;
  __atomic_store_n(&target_disguised, disguised, __ATOMIC_SEQ_CST);
  return disguised;
}

/* make_target, called 16 KiB deeper: its frames (and those of the
 * allocation, and of any collection it runs) lie below everything that is
 * live at the spin and below the signal frames, in the middle of what
 * stack_scrub() then zeroes.  Without this, a stale copy can survive just
 * below our caller's frame, where stack_scrub's buffer has its edge and
 * AddressSanitizer's red zones (which memset does not touch), and the
 * frames of the spin, which do not write every slot, are laid over it. */
static __attribute__((noinline)) uintptr_t make_target_deep(mps_ap_t ap,
                                                            unsigned long id)
{
  char *pad = __builtin_alloca(16 * 1024);
  uintptr_t d;
  __asm__ volatile("" : : "r"(pad) : "memory");
  d = make_target(ap, id);
  __asm__ volatile("" : : "r"(pad) : "memory");
  return d;
}

static __attribute__((noinline)) uintptr_t hold(int vec, uintptr_t d,
                                                char *fault)
{
  switch (vec) {
  case V_XMM: return hold_xmm(d, KEY, fault);
  case V_YMM: return hold_ymm(d, KEY, fault);
  case V_ZMM: return hold_zmm(d, KEY, fault);
  default:    return hold_x21(d, KEY, fault);
  }
}

static void *mutator(void *arg)
{
  void *marker = &marker;
  mps_thr_t thr;
  mps_root_t root;
  mps_ap_t ap;
  mps_pool_t pool;
  void *alt_stack = NULL;
  stack_t old_ss; /* the thread's alternate stack before ours (ASan's) */
  uintptr_t d, ref;
  char what[128];
  (void)arg;

  __atomic_store_n(&mutator_tid, (pid_t)syscall(SYS_gettid),
                   __ATOMIC_SEQ_CST);
  CHECK_RES(mps_thread_reg(&thr, arena));
  CHECK_RES(mps_root_create_thread_scanned(&root, arena, mps_rank_ambig(), 0,
                                           thr, mps_scan_area, NULL, marker));
  CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));
  if (job_alt) {
    stack_t ss;
    alt_stack = mmap(NULL, ALT_STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(alt_stack != MAP_FAILED);
    alt_low = (uintptr_t)alt_stack;
    alt_high = alt_low + ALT_STACK_SIZE;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = alt_stack;
    ss.ss_size = ALT_STACK_SIZE;
    CHECK(sigaltstack(&ss, &old_ss) == 0);
  }

  d = make_target_deep(ap, job_id);
  stack_scrub();
  ref = hold(job_vec, d, job_alt ? fault_page : NULL);

  /* The main thread has parked the arena: nothing moves now. */
  snprintf(what, sizeof what, "object held only in %s (%s stack)",
           vec_name[job_vec], job_alt ? "alternate" : "own");
  if ((ref ^ KEY) != target_disguised)
    die("%s: the register gave back %p, not the object's address",
        what, (void *)ref);
  if (!mps_addr_pool(&pool, arena, (void *)ref) || pool != amc)
    die("%s: %p is no longer in the pool: the object was collected",
        what, (void *)ref);
  tf_check_obj((void *)ref, what);
  if (tf_kind((void *)ref) != TF_STR || tf_id((void *)ref) != job_id)
    die("%s: at %p, kind %d id %lu, expected a string with id %lu: the "
        "object moved or was collected", what, (void *)ref,
        tf_kind((void *)ref), tf_id((void *)ref), job_id);
  vlog("%s: intact at %p\n", what, (void *)ref);

  if (job_alt) {
    CHECK(sigaltstack(&old_ss, NULL) == 0);
    CHECK(munmap(alt_stack, ALT_STACK_SIZE) == 0);
  }
  mps_ap_destroy(ap);
  mps_root_destroy(root);
  mps_thread_dereg(thr);
  return NULL;
}

/* ---- arena B's lock holder -------------------------------------------- */

static void hold_stepper(mps_addr_t addr, mps_fmt_t fmt, mps_pool_t pool,
                         void *p, size_t s)
{
  (void)addr, (void)fmt, (void)pool, (void)p, (void)s;
  if (__atomic_load_n(&b_holding, __ATOMIC_SEQ_CST))
    return; /* only the first object's visit waits */
  __atomic_store_n(&b_holding, 1, __ATOMIC_SEQ_CST);
  await(&b_let_go, "the main thread to let go of arena B");
}

static void *lock_holder(void *arg)
{
  (void)arg;
  mps_arena_formatted_objects_walk(lock_arena, hold_stepper, NULL, 0);
  return NULL;
}

/* ---- the collecting (main) thread --------------------------------------- */

/* Garbage, and survivors in keep[] that collections copy.  Leaf objects
 * only: this thread's stack is no root, so it must not pass references
 * into an allocation that may collect. */
static void churn(size_t bytes)
{
  size_t done = 0;
  while (done < bytes) {
    void *p = tf_make_str(main_ap, next_id++, 8 * (1 + rnd_below(32)));
    done += tf_block_size(p);
    if (rnd_chance(1, 16))
      keep[1 + rnd_below(NKEEP - 1)] = p;
  }
}

static unsigned long control_moves, cases_run;

static void run_case(int vec, int alt)
{
  pthread_t m, x;
  uintptr_t control;
  unsigned long i, rounds = test_scale(4);

  __atomic_store_n(&hold_flags[0], 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&hold_flags[1], 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&chained, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&segv_on_alt, 0, __ATOMIC_SEQ_CST);
  job_vec = vec;
  job_alt = alt;
  job_id = next_id++;

  if (alt) {
    CHECK(mprotect(fault_page, page_size, PROT_READ) == 0);
    __atomic_store_n(&b_holding, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&b_let_go, 0, __ATOMIC_SEQ_CST);
    CHECK(pthread_create(&x, NULL, lock_holder, NULL) == 0);
    await(&b_holding, "the helper to hold arena B's lock");
  }

  /* The control object: not the first in its segment (a stale word
   * equal to a segment's base, the header pointer of its first object,
   * is a common ambiguous reference). */
  churn(4096);
  keep[0] = tf_make_str(main_ap, CONTROL_ID, 32);
  control = (uintptr_t)keep[0] ^ KEY;
  CHECK(pthread_create(&m, NULL, mutator, NULL) == 0);
  await(&hold_flags[0], "the mutator to hold the reference");
  if (alt) {
    /* The mutator's next step is the store that faults; asleep, it is
     * waiting for arena B's lock in the MPS's fault handler. */
    double deadline = test_now() + TIMEOUT;
    while (thread_state(__atomic_load_n(&mutator_tid, __ATOMIC_SEQ_CST))
           != 'S') {
      if (test_now() > deadline)
        die("the mutator never waited in the fault handler: does the "
            "MPS's SIGSEGV handler still take arena B's lock first?");
      sleep_ms(1);
    }
  }

  for (i = 0; i < rounds; ++i) {
    churn(256 * 1024 + rnd_below(768 * 1024));
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
  }

  if (alt) {
    __atomic_store_n(&b_let_go, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(x, NULL) == 0);
    await(&chained, "the fault to reach the test's handler");
    if (!__atomic_load_n(&segv_on_alt, __ATOMIC_SEQ_CST))
      die("the fault handler did not run on the alternate stack");
  }
  mps_arena_park(arena);
  __atomic_store_n(&hold_flags[1], 1, __ATOMIC_SEQ_CST);
  CHECK(pthread_join(m, NULL) == 0);

  if (tf_id(keep[0]) != CONTROL_ID)
    die("exact-root control object lost its identity");
  if (((uintptr_t)keep[0] ^ KEY) != control)
    ++control_moves;
  ++cases_run;
  mps_arena_release(arena);
  printf("vregs: %s, %s stack: pinned\n", vec_name[vec],
         alt ? "alternate" : "own");
}

int main(void)
{
  mps_fmt_t fmt, fmt_b;
  mps_chain_t chain, chain_b;
  mps_pool_t amc_b;
  mps_ap_t ap_b;
  mps_root_t keep_root, keep_root_b;
  static void *keep_b[1];
  mps_gen_param_s gens[] = { { 256, 0.8 }, { 512, 0.4 } };
  struct sigaction sa;
  int have[NVEC], vec, alt;

  test_init("vregs");
  __builtin_cpu_init();
  have[V_XMM] = 1;
  have[V_YMM] = __builtin_cpu_supports("avx");
  have[V_ZMM] = have[V_X21] = __builtin_cpu_supports("avx512f");

  /* Before the arenas, so that the MPS's handler passes our faults on. */
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  fault_page = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
  CHECK(fault_page != MAP_FAILED);
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = test_segv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);

  /* B first: the fault handler visits arenas in the order of creation. */
  CHECK_RES(mps_arena_create_k(&lock_arena, mps_arena_class_vm(),
                               mps_args_none));
  tf_fmt_create(&fmt_b, lock_arena, 8);
  CHECK_RES(mps_chain_create(&chain_b, lock_arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt_b);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain_b);
    CHECK_RES(mps_pool_create_k(&amc_b, lock_arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&keep_root_b, lock_arena,
                                  mps_rank_exact(), 0, keep_b, 1));
  CHECK_RES(mps_ap_create_k(&ap_b, amc_b, mps_args_none));
  keep_b[0] = tf_make_str(ap_b, next_id++, 16);

  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 8);
  CHECK_RES(mps_chain_create(&chain, arena, 2, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&main_ap, amc, mps_args_none));
  CHECK_RES(mps_root_create_table(&keep_root, arena, mps_rank_exact(), 0,
                                  keep, NKEEP));

  for (vec = 0; vec < NVEC; ++vec) {
    if (!have[vec]) {
      printf("vregs: %s: skipped (the CPU lacks it)\n", vec_name[vec]);
      continue;
    }
    for (alt = 0; alt < 2; ++alt)
      run_case(vec, alt);
  }
  printf("vregs: %lu cases, %lu collections; the exact-root control object "
         "moved in %lu of them\n", cases_run,
         (unsigned long)mps_collections(arena), control_moves);
  if (control_moves == 0)
    die("object held only by an exact root never moved: test is vacuous");

  mps_arena_park(arena);
  mps_root_destroy(keep_root);
  mps_ap_destroy(main_ap);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  mps_arena_park(lock_arena);
  mps_ap_destroy(ap_b);
  mps_root_destroy(keep_root_b);
  mps_pool_destroy(amc_b);
  mps_chain_destroy(chain_b);
  mps_fmt_destroy(fmt_b);
  mps_arena_destroy(lock_arena);
  munmap(fault_page, page_size);
  printf("vregs: OK\n");
  return 0;
}

#else /* !__x86_64__ */

int main(void)
{
  test_init("vregs");
  printf("vregs: skipped: the vector-register holds are written for x86-64 "
         "(on AArch64 the copied context already has V0-V31)\n");
  return 0;
}

#endif
