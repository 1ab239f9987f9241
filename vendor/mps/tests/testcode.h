/* testcode.h -- a format of x86-64 code objects for the executable pool
 *
 * Shared by the tests of mpsx.h's executable pool (amcx.c, soak.c).  A
 * code object, as a JIT would make one:
 *
 *   word 0   tag: TC_CODE, TC_FWD (forwarding marker), TC_PAD1 / TC_PAD
 *   word 1   size of the object in bytes (also kept by markers and pads)
 *   word 2   exact reference to the code object this one calls, or NULL
 *            (in a marker: the new address)
 *   word 3.. machine code, entry at TC_ENTRY
 *
 * A leaf returns a constant (mov eax, imm32; ret).  A caller calls its
 * target with a rel32 call, then adds 1.  The scan method fixes word 2 and
 * re-encodes the call's displacement from the current execute addresses
 * of both objects: that is the relinking.  A caller runs correctly only
 * once a collection has scanned it.
 */

#ifndef TESTCODE_H
#define TESTCODE_H

#include "mps.h"

#include <stddef.h>

enum { TC_CODE = 0x11, TC_FWD = 0x22, TC_PAD1 = 0x33, TC_PAD = 0x44 };
#define TC_ENTRY 24

/* The format; its scan method needs the arena (for mpsx_code_delta). */
void tc_fmt_create(mps_fmt_t *fmt_o, mps_arena_t arena);

/* Install a code object whose code is `code`, calling `target`. */
void *tc_make_code(mps_ap_t ap, const unsigned char *code, size_t len,
                   void *target);
void *tc_make_leaf(mps_ap_t ap, int value);
void *tc_make_caller(mps_ap_t ap, void *target);

/* Call the object's code through the execute view. */
int tc_call(mps_arena_t arena, void *obj);

/* Code objects installed so far (all threads). */
unsigned long tc_installed(void);

#endif /* TESTCODE_H */
