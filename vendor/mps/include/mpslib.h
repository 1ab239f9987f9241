/* mpslib.h: the library part of the plinth
 *
 * The plinth is what the MPS needs from its environment instead of the
 * C library: a clock, assertion reporting, and a few libc wrappers.  The
 * implementation supplies a default plinth built on the standard C
 * library; a client may replace it.  Everything here may be called from
 * a protection-fault handler, so it must not touch MPS-managed memory
 * or call back into the MPS.
 */

#ifndef mpslib_h
#define mpslib_h

#include <stddef.h>
#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Processor time since some epoch, in units of mps_clocks_per_sec(). */
extern mps_clock_t mps_clock(void);
extern mps_clock_t mps_clocks_per_sec(void);

/* Assertion reporting.  mps_lib_assert_fail is called by the MPS when an
 * assertion fails, with the source file, line and the failed condition;
 * it passes them to the installed handler.  The default handler prints a
 * message, flushes telemetry and aborts.  mps_lib_assert_fail_install
 * replaces the handler and returns the previous one; it may be called
 * before any arena exists. */
typedef void (*mps_lib_assert_fail_t)(const char *file, unsigned line,
                                      const char *condition);
extern void mps_lib_assert_fail(const char *file, unsigned line,
                                const char *condition);
extern mps_lib_assert_fail_t
mps_lib_assert_fail_install(mps_lib_assert_fail_t handler);

/* Output streams (in the default plinth, a FILE in disguise). */
typedef struct mps_lib_stream_s mps_lib_FILE;
extern int mps_lib_get_EOF(void);
extern mps_lib_FILE *mps_lib_get_stderr(void);
extern mps_lib_FILE *mps_lib_get_stdout(void);
extern int mps_lib_fputc(int c, mps_lib_FILE *stream);
extern int mps_lib_fputs(const char *s, mps_lib_FILE *stream);

/* Memory operations with the semantics of their C library namesakes. */
extern int mps_lib_memcmp(const void *s1, const void *s2, size_t n);
extern void *mps_lib_memcpy(void *dest, const void *source, size_t n);
extern void *mps_lib_memset(void *s, int c, size_t n);

/* Default telemetry filter taken from the environment
 * (MPS_TELEMETRY_CONTROL in the default plinth). */
extern unsigned long mps_lib_telemetry_control(void);

#ifdef __cplusplus
}
#endif

#endif /* mpslib_h */
