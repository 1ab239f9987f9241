/* testcode.c -- a format of x86-64 code objects (testcode.h) */

#include "testcode.h"
#include "testlib.h"

#include "mpsx.h"

#include <stdint.h>
#include <string.h>

static mps_arena_t tc_arena;
static unsigned long installed;

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
        if (w[2] != 0) {
          /* Relink: call rel32 at TC_ENTRY, displacement from the end of
           * the call instruction, in the execute view. */
          intptr_t site = (intptr_t)p + delta + TC_ENTRY + 5;
          intptr_t target = (intptr_t)w[2] + delta + TC_ENTRY;
          int32_t rel = (int32_t)(target - site);
          memcpy(p + TC_ENTRY + 1, &rel, sizeof rel);
        }
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
                   void *target)
{
  size_t size = (TC_ENTRY + len + 7) & ~(size_t)7;
  mps_addr_t p;
  do {
    mps_word_t *w;
    CHECK_RES(mps_reserve(&p, ap, size));
    w = p;
    w[0] = TC_CODE;
    w[1] = size;
    w[2] = (mps_word_t)target;
    memcpy((char *)p + TC_ENTRY, code, len);
  } while (!mps_commit(ap, p, size));
  __atomic_fetch_add(&installed, 1, __ATOMIC_RELAXED);
  return p;
}

void *tc_make_leaf(mps_ap_t ap, int value)
{
  unsigned char code[6] = {0xB8, 0, 0, 0, 0, 0xC3}; /* mov eax, imm; ret */
  memcpy(code + 1, &value, 4);
  return tc_make_code(ap, code, sizeof code, NULL);
}

/* call rel32 (patched by the scan method); add eax, 1; ret */
void *tc_make_caller(mps_ap_t ap, void *target)
{
  static const unsigned char code[] = {0xE8, 0, 0, 0, 0, 0x83, 0xC0, 0x01,
                                       0xC3};
  return tc_make_code(ap, code, sizeof code, target);
}

int tc_call(mps_arena_t arena, void *obj)
{
  int (*fn)(void);
  void *exec = (char *)obj + mpsx_code_delta(arena) + TC_ENTRY;
  memcpy(&fn, &exec, sizeof fn);
  return fn();
}

unsigned long tc_installed(void)
{
  return __atomic_load_n(&installed, __ATOMIC_RELAXED);
}
