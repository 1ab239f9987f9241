/* args.h: keyword arguments, internal interface
 *
 * The public side (mps_arg_s, MPS_KEY_*, MPS_ARGS_*) is in mps.h.  This
 * header gives the private definition of a key and the helpers entry
 * points use to consume a caller's argument list.
 *
 * Lists are consumed in place: a callee removes every argument it
 * recognises (ArgPick) and leaves the rest, so that whatever remains
 * afterwards is what nobody understood.  The shared empty list
 * mps_args_none contains only its terminator, and since ArgPick never
 * matches the terminator it never writes to it.
 */

#ifndef args_h
#define args_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Signature of a genuine key object, so a check can tell a key from an
 * arbitrary pointer (an arbitrary constant starting 519, "SIG"). */
#define KeySig ((unsigned long)0x519B3EA5UL)

/* A keyword.  Clients see only its address (mps_key_t). */
struct mps_key_s {
  unsigned long sig;   /* KeySig */
  const char *name;    /* the public macro name, e.g. "MPS_KEY_ARENA_SIZE" */
  const char *field;   /* the mps_arg_s union member carrying its value,
                        * e.g. "size"; "" for MPS_KEY_ARGS_END */
};

/* True if key points at one of the key objects defined in args.c. */
extern int KeyCheck(mps_key_t key);

/* True if args is a list of valid keys ending with MPS_KEY_ARGS_END. */
extern int ArgListCheck(mps_arg_s args[]);

/* If key occurs in the list args (ended by MPS_KEY_ARGS_END), copy its
 * first occurrence to *arg_o, remove it from the list by moving the
 * following entries (terminator included) down one slot, and return 1.
 * Otherwise return 0 and write nothing.  key must not be
 * MPS_KEY_ARGS_END. */
extern int ArgPick(mps_arg_s *arg_o, mps_arg_s args[], mps_key_t key);

/* The name of a key, for messages: "MPS_KEY_ARENA_SIZE" and so on. */
extern const char *ArgKeyName(mps_key_t key);

#ifdef __cplusplus
}
#endif

#endif /* args_h */
