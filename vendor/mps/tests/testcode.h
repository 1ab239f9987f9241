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
 * A leaf returns a constant (mov eax, imm32; ret), a slow leaf does so
 * after a loop.  A caller calls its target with a rel32 call, then adds
 * 1.  The call's displacement is encoded from the execute addresses of
 * both objects by one function, used twice: at installation
 * (tc_make_code, inside the reserve/commit loop) and by the scan method,
 * which fixes word 2 and re-encodes (the relinking).  So a caller runs as
 * soon as it is installed, and still runs after a collection moves it or
 * its target.
 */

#ifndef TESTCODE_H
#define TESTCODE_H

#include "mps.h"

#include <stddef.h>

enum { TC_CODE = 0x11, TC_FWD = 0x22, TC_PAD1 = 0x33, TC_PAD = 0x44 };
#define TC_ENTRY 24

/* The format; its scan method needs the arena (for mpsx_code_delta). */
void tc_fmt_create(mps_fmt_t *fmt_o, mps_arena_t arena);

/* Install a code object whose code is `code`.  If target_root is not
 * NULL, the object calls the object in *target_root, and the code must
 * start with a rel32 call (0xE8), which is linked here.  *target_root
 * must be an exact root (or otherwise fixed by every collection): it is
 * read inside the reserve/commit loop, so that if a collection moves the
 * target after the read, the commit fails and the loop reads it again. */
void *tc_make_code(mps_ap_t ap, const unsigned char *code, size_t len,
                   void **target_root);
/* Make every later installation of a caller loop `spins` times between
 * reading its target and the commit (default 0): flips then come in that
 * window far more often, and with them failed commits (tc_retried),
 * which must be retried, and buffers trapped with a block reserved. */
void tc_set_link_delay(unsigned spins);

void *tc_make_leaf(mps_ap_t ap, int value);
/* A leaf that counts down from spins (> 0) before it returns value: a
 * thread calling it spends its time in JIT code, where a collection that
 * stops it finds its program counter and return addresses. */
void *tc_make_slow_leaf(mps_ap_t ap, int value, unsigned spins);
void *tc_make_caller(mps_ap_t ap, void **target_root);

/* Call the object's code through the execute view.  The object stays
 * pinned during the call (see the comment in testcode.c). */
int tc_call(mps_arena_t arena, void *obj);

/* For diagnostics: the object (write view) that the caller obj's call
 * instruction reaches as it is encoded now, or NULL if obj is not a
 * caller. */
void *tc_linked_target(void *obj);

/* Code objects installed so far (all threads), and commits that failed
 * (a collection flipped while the object was reserved) and were retried,
 * reading the target again. */
unsigned long tc_installed(void);
unsigned long tc_retried(void);

#endif /* TESTCODE_H */
