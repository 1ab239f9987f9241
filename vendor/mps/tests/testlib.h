/* testlib.h -- shared helpers for the C tests of vendor/mps
 *
 * Every test program calls test_init() first.  It picks a random seed
 * (MPS_TEST_SEED from the environment, else one derived from the time
 * and pid), prints "seed=N" so that any failure can be reproduced with
 * MPS_TEST_SEED=N, and seeds the generator behind rnd().  die() and
 * the CHECK macros print the seed again before aborting.
 *
 * STRESS (environment, default 1) scales iteration counts: tests call
 * test_scale(n) to get n * STRESS.
 */

#ifndef TESTLIB_H
#define TESTLIB_H

#include <stddef.h>
#include <stdint.h>

#include "mps.h"

/* Set up seed, RNG and output buffering; print "<name>: seed=N". */
void test_init(const char *name);

/* The seed in use. */
unsigned long test_seed(void);

/* Uniform 64-bit random number (xorshift64*, deterministic per seed). */
uint64_t rnd(void);

/* Uniform in [0, n); n > 0. */
size_t rnd_below(size_t n);

/* True with probability num/den. */
int rnd_chance(unsigned num, unsigned den);

/* n scaled by the STRESS environment variable (a positive number). */
unsigned long test_scale(unsigned long n);

/* Print a message (printf format), the test name and seed; abort. */
void die(const char *fmt, ...)
  __attribute__((noreturn, format(printf, 1, 2)));

/* Printed progress for verbose output; silent unless MPS_TEST_VERBOSE
 * is set to a non-zero value, or the test calls test_verbose_set(1). */
void test_verbose_set(int on);
int test_verbose(void);
void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Name of a result code, for messages. */
const char *res_name(mps_res_t res);

/* Overwrite a chunk of the C stack below the caller with zeros, so that
 * stale copies of references left by earlier calls do not act as
 * ambiguous roots. */
void stack_scrub(void);

#define CHECK(cond) \
  do { if (!(cond)) die("%s:%d: check failed: %s", __FILE__, __LINE__, #cond); } while (0)

#define CHECKF(cond, ...) \
  do { if (!(cond)) { test_fail_prefix(__FILE__, __LINE__, #cond); die(__VA_ARGS__); } } while (0)

/* Evaluate an MPS call; die unless it returns MPS_RES_OK. */
#define CHECK_RES(expr) \
  do { \
    mps_res_t check_res_ = (expr); \
    if (check_res_ != MPS_RES_OK) \
      die("%s:%d: %s returned %s (%d)", __FILE__, __LINE__, #expr, \
          res_name(check_res_), (int)check_res_); \
  } while (0)

/* Evaluate an MPS call; die unless it returns the expected code. */
#define CHECK_RES_IS(expr, want) \
  do { \
    mps_res_t check_res_ = (expr); \
    if (check_res_ != (want)) \
      die("%s:%d: %s returned %s (%d), expected %s", __FILE__, __LINE__, \
          #expr, res_name(check_res_), (int)check_res_, res_name(want)); \
  } while (0)

void test_fail_prefix(const char *file, int line, const char *cond);

/* Seconds since some fixed point (monotonic). */
double test_now(void);

/* Apply the test environment's arena settings: MPS_TEST_PAUSE_TIME (a
 * number of seconds, 0 for collections as incremental as possible). */
void test_arena_setup(mps_arena_t arena);

/* Record the arena's pauses (mpsx_arena_pause_log) from now on. */
void test_pauses_start(mps_arena_t arena);
/* Print what was recorded; with MPS_TEST_PAUSE_TIME=0, fail unless some
 * collection was incremental (a flip and at least one step). */
void test_pauses_report(mps_arena_t arena);

/* Run f in a child process (stderr captured); if `want` is NULL the
 * child must exit 0, otherwise abort with a message containing `want`. */
void test_in_child(const char *name, void (*f)(void), const char *want);

#endif /* TESTLIB_H */
