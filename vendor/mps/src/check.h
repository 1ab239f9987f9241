/* check.h: assertions and structure checks
 *
 * Two build varieties (see DESIGN.md#varieties):
 *   - the checking build (MPS_CHECK defined non-zero): AVER and AVERT are
 *     live, every public entry point checks the structures it is handed;
 *   - the fast build: AVER and AVERT compile to nothing.  NOTREACHED and
 *     AVER_CRITICAL_ALWAYS stay live in both, for conditions whose failure
 *     would otherwise corrupt memory silently.
 *
 * Every structure type T has a function `Bool TCheck(T)` (declared in
 * mpm.h) that validates its fields; AVERT(T, p) asserts it.
 */

#ifndef MPS_CHECK_H
#define MPS_CHECK_H

#ifdef __cplusplus
extern "C" {
#endif

/* Reports a failed assertion through the plinth (lib.c) and never returns. */
extern void AssertFail(const char *file, unsigned line, const char *cond)
    __attribute__((noreturn));

#define ASSERT_ALWAYS(cond)                                                  \
  do {                                                                       \
    if (!(cond))                                                             \
      AssertFail(__FILE__, __LINE__, #cond);                                 \
  } while (0)

#if defined(MPS_CHECK) && MPS_CHECK
#define CHECKING 1
#define AVER(cond) ASSERT_ALWAYS(cond)
#define AVERT(type, p) ASSERT_ALWAYS(type##Check(p))
#else
#define CHECKING 0
#define AVER(cond) ((void)0)
#define AVERT(type, p) ((void)0)
#endif

#define NOTREACHED AssertFail(__FILE__, __LINE__, "unreachable code reached")

/* Check functions of file-local structures are used only by AVERT. */
#define CHECK_FUNCTION __attribute__((unused))

/* Signatures: every structure starts with one so that a check can tell a
 * live structure from garbage or a destroyed one. */
#define SigInvalid ((Sig)0x51915BADUL)

#ifdef __cplusplus
}
#endif

#endif /* MPS_CHECK_H */
