/* testcode.c -- a format of x86-64 code objects (testcode.h) */

#include "testcode.h"
#include "testlib.h"

#include "mpsx.h"

#include <stdint.h>
#include <string.h>

static mps_arena_t tc_arena;
static unsigned long installed, retried;
static unsigned link_delay;

/* Encode the call of the caller at w (write view) to the object in w[2]:
 * the rel32 after the 0xE8 at TC_ENTRY, measured from the end of the
 * 5-byte instruction, both ends in the execute view (write view + delta),
 * where the code runs.  All code of an arena is in its one code chunk (at
 * most 2 GiB), so the displacement fits.  The one encoder, for
 * installation and for the scan method. */
static void tc_link(mps_word_t *w, intptr_t delta)
{
  intptr_t site = (intptr_t)w + delta + TC_ENTRY + 5;
  intptr_t target = (intptr_t)w[2] + delta + TC_ENTRY;
  int32_t rel = (int32_t)(target - site);
  memcpy((char *)w + TC_ENTRY + 1, &rel, sizeof rel);
}

static mps_res_t tc_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  intptr_t delta = mpsx_code_delta(tc_arena);
  MPS_SCAN_BEGIN(ss) {
    char *p = base;
    while (p < (char *)limit) {
      mps_word_t *w = (mps_word_t *)p;
      if (w[0] == TC_CODE) {
        mps_res_t res = MPS_FIX12(ss, (mps_addr_t *)&w[2]);
        if (res != MPS_RES_OK)
          return res;
        /* Relink from the current addresses of both objects: either may
         * have moved. */
        if (w[2] != 0)
          tc_link(w, delta);
        p += w[1];
      } else if (w[0] == TC_PAD1) {
        p += 8;
      } else if (w[0] == TC_FWD || w[0] == TC_PAD) {
        p += w[1];
      } else {
        die("tc_scan: bad tag %#lx at %p", (unsigned long)w[0], (void *)p);
      }
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static mps_addr_t tc_skip(mps_addr_t addr)
{
  mps_word_t *w = addr;
  return (char *)addr + (w[0] == TC_PAD1 ? 8 : w[1]);
}

static void tc_fwd(mps_addr_t old, mps_addr_t new_)
{
  mps_word_t *w = old;
  w[0] = TC_FWD;
  w[2] = (mps_word_t)new_;
}

static mps_addr_t tc_isfwd(mps_addr_t addr)
{
  mps_word_t *w = addr;
  return w[0] == TC_FWD ? (mps_addr_t)w[2] : NULL;
}

static void tc_pad(mps_addr_t addr, size_t size)
{
  mps_word_t *w = addr;
  if (size == 8) {
    w[0] = TC_PAD1;
  } else {
    w[0] = TC_PAD;
    w[1] = size;
  }
}

void tc_fmt_create(mps_fmt_t *fmt_o, mps_arena_t arena)
{
  tc_arena = arena;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SCAN, tc_scan);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SKIP, tc_skip);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_FWD, tc_fwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ISFWD, tc_isfwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_PAD, tc_pad);
    CHECK_RES(mps_fmt_create_k(fmt_o, arena, args));
  } MPS_ARGS_END(args);
}

void *tc_make_code(mps_ap_t ap, const unsigned char *code, size_t len,
                   void **target_root)
{
  size_t size = (TC_ENTRY + len + 7) & ~(size_t)7;
  /* Constant once the arena has code memory, which the pool made. */
  intptr_t delta = mpsx_code_delta(tc_arena);
  mps_addr_t p;
  if (target_root != NULL && (len < 5 || code[0] != 0xE8))
    die("tc_make_code: a caller's code must start with a rel32 call");
  for (;;) {
    mps_word_t *w;
    CHECK_RES(mps_reserve(&p, ap, size));
    w = p;
    w[0] = TC_CODE;
    w[1] = size;
    memcpy((char *)p + TC_ENTRY, code, len);
    w[2] = 0;
    if (target_root != NULL) {
      /* Link at installation.  The target's address is read here, after
       * the reserve.  A collection moves the target only after its flip,
       * which fixes the exact root *target_root (so a read after a flip
       * gets the current address, even while the collection goes on)
       * and traps the allocation point (so if a flip comes between this
       * read and the commit, the commit fails and the loop reads the
       * root again).  One relaxed atomic load: the compiler may not read
       * the root twice and link to one value while storing the other.
       * The block's own address is final: the commit puts the object
       * there, and a collection that moves it later relinks it by
       * scanning. */
      w[2] = (mps_word_t)__atomic_load_n(target_root, __ATOMIC_RELAXED);
      if (w[2] == 0)
        die("tc_make_code: the target root is NULL");
      tc_link(w, delta);
      if (link_delay > 0) {
        volatile unsigned i;
        for (i = 0; i < link_delay; ++i)
          ;
      }
    }
    if (mps_commit(ap, p, size))
      break;
    __atomic_fetch_add(&retried, 1, __ATOMIC_RELAXED);
  }
  /* The code was written through the write view; it runs in the other. */
  mpsx_flush_icache((char *)p + delta, size);
  __atomic_fetch_add(&installed, 1, __ATOMIC_RELAXED);
  return p;
}

void tc_set_link_delay(unsigned spins)
{
  link_delay = spins;
}

void *tc_make_leaf(mps_ap_t ap, int value)
{
  unsigned char code[6] = {0xB8, 0, 0, 0, 0, 0xC3}; /* mov eax, imm; ret */
  memcpy(code + 1, &value, 4);
  return tc_make_code(ap, code, sizeof code, NULL);
}

void *tc_make_slow_leaf(mps_ap_t ap, int value, unsigned spins)
{
  /* mov ecx, spins; 1: dec ecx; jnz 1b; mov eax, value; ret */
  unsigned char code[] = {0xB9, 0, 0, 0, 0, 0xFF, 0xC9, 0x75, 0xFC,
                          0xB8, 0, 0, 0, 0, 0xC3};
  if (spins == 0)
    die("tc_make_slow_leaf: spins must be positive");
  memcpy(code + 1, &spins, 4);
  memcpy(code + 10, &value, 4);
  return tc_make_code(ap, code, sizeof code, NULL);
}

/* call rel32 (linked by tc_link); add eax, 1; ret */
void *tc_make_caller(mps_ap_t ap, void **target_root)
{
  static const unsigned char code[] = {0xE8, 0, 0, 0, 0, 0x83, 0xC0, 0x01,
                                       0xC3};
  return tc_make_code(ap, code, sizeof code, target_root);
}

/* Why obj cannot move during the call, even while other threads collect.
 * The caller's thread is registered with its stack scanned ambiguously
 * by mpsx_scan_area_code: the registers of the context saved when the
 * thread is stopped, then the stack.  The caller loads obj from an exact
 * root into a general register and passes it here in one.  From then
 * until the asm statement after the call, some general register or stack
 * slot of this thread holds obj itself: the asm needs obj in a register
 * after the call, and across a call (mpsx_code_delta, then fn) the
 * x86-64 ABI preserves only the callee-saved general registers, which a
 * callee that uses them saves on the stack, and the stack (no vector
 * register survives a call, so nothing here relies on the collector
 * scanning those).  So the object's base, in the write view, is seen
 * ambiguously at every collection and pins the object
 * (DESIGN.md#pinning).
 *
 * Were the compiler to keep only a derived value instead, the candidates
 * are exec (the entry in the execute view) and obj + delta (the execute
 * view's base): mpsx_scan_area_code translates both to the write view,
 * where they fall inside the object's block (TC_ENTRY < its size), and
 * AMCX takes interior pointers (MPS_KEY_INTERIOR defaults to true), so
 * they pin it as well (amcx.c checks that one word of either kind does).
 *
 * While the code runs, the program counter (in the saved context) and
 * the return addresses (on the stack) are such execute-view words, and
 * pin the objects being run: a target that is not running yet may move,
 * and the scan of its pinned caller relinks the call before the thread
 * is resumed.  The pin lasts for the collections that stop this thread
 * while the call is in progress; after the return obj may move. */
int tc_call(mps_arena_t arena, void *obj)
{
  int (*fn)(void);
  int result;
  void *exec = (char *)obj + mpsx_code_delta(arena) + TC_ENTRY;
  memcpy(&fn, &exec, sizeof fn);
  result = fn();
  __asm__ __volatile__("" : : "r"(obj) : "memory");
  return result;
}

void *tc_linked_target(void *obj)
{
  unsigned char *code = (unsigned char *)obj + TC_ENTRY;
  int32_t rel;
  if (code[0] != 0xE8)
    return NULL;
  memcpy(&rel, code + 1, sizeof rel);
  /* Execute view: target entry = obj + delta + TC_ENTRY + 5 + rel; the
   * delta cancels out going back to the target's write-view base. */
  return (char *)obj + 5 + rel;
}

unsigned long tc_installed(void)
{
  return __atomic_load_n(&installed, __ATOMIC_RELAXED);
}

unsigned long tc_retried(void)
{
  return __atomic_load_n(&retried, __ATOMIC_RELAXED);
}
