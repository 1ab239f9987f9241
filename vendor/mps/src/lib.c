/* lib.c: the plinth: assertion reporting, clock, raw control memory
 *
 * Everything the collector needs from the C library and the OS that is
 * not virtual memory for the heap (vm.c) or threads (thread.c).
 */

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/mman.h>

#include "mpm.h"
#include "telemetry.h"
#include "mpslib.h"

/* Assertions ---------------------------------------------------------- */

static void defaultAssertFail(const char *file, unsigned line,
                              const char *condition)
{
  fprintf(stderr, "MPS assertion failed: %s:%u: %s\n", file, line,
          condition);
  fflush(stderr);
  TelemetryFlush(1);
  abort();
}

static mps_lib_assert_fail_t assertHandler = defaultAssertFail;

void mps_lib_assert_fail(const char *file, unsigned line,
                         const char *condition)
{
  assertHandler(file, line, condition);
  /* A handler that returns leaves the collector in an unknown state. */
  abort();
}

mps_lib_assert_fail_t mps_lib_assert_fail_install(mps_lib_assert_fail_t h)
{
  mps_lib_assert_fail_t old = assertHandler;
  assertHandler = h != NULL ? h : defaultAssertFail;
  return old;
}

void AssertFail(const char *file, unsigned line, const char *cond)
{
  mps_lib_assert_fail(file, line, cond);
  abort();
}

/* Clock --------------------------------------------------------------- */

double ClockSeconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ClockNap(long nanoseconds)
{
  struct timespec ts = {0, nanoseconds};
  (void)nanosleep(&ts, NULL);
}

mps_clock_t mps_clock(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (mps_clock_t)ts.tv_sec * 1000000u + (mps_clock_t)ts.tv_nsec / 1000u;
}

mps_clock_t mps_clocks_per_sec(void)
{
  return 1000000u;
}

/* Control memory ------------------------------------------------------
 *
 * Memory for collector structures that may be needed while other threads
 * are stopped (segment descriptors, page tables) comes straight from
 * mmap, never from malloc: a stopped thread may hold malloc's lock.
 * See DESIGN.md#stopped-world.
 */

void *ControlAllocRaw(Size size)
{
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void ControlFreeRaw(void *p, Size size)
{
  if (p != NULL)
    (void)munmap(p, size);
}

/* Rings --------------------------------------------------------------- */

void RingInit(Ring ring)
{
  ring->next = ring;
  ring->prev = ring;
}

Bool RingCheck(Ring ring)
{
  return ring != NULL && ring->next != NULL && ring->prev != NULL &&
         ring->next->prev == ring && ring->prev->next == ring;
}

void RingAppend(Ring ring, Ring node)
{
  AVER(RingCheck(ring));
  AVER(RingIsSingle(node));
  node->prev = ring->prev;
  node->next = ring;
  ring->prev->next = node;
  ring->prev = node;
}

void RingRemove(Ring node)
{
  AVER(RingCheck(node));
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->next = node;
  node->prev = node;
}

Bool RingIsSingle(Ring ring)
{
  return ring->next == ring;
}

/* Plinth wrappers over the C library --------------------------------- */

int mps_lib_get_EOF(void)
{
  return EOF;
}

mps_lib_FILE *mps_lib_get_stderr(void)
{
  return (mps_lib_FILE *)(void *)stderr;
}

mps_lib_FILE *mps_lib_get_stdout(void)
{
  return (mps_lib_FILE *)(void *)stdout;
}

int mps_lib_fputc(int c, mps_lib_FILE *stream)
{
  return fputc(c, (FILE *)(void *)stream);
}

int mps_lib_fputs(const char *s, mps_lib_FILE *stream)
{
  return fputs(s, (FILE *)(void *)stream);
}

int mps_lib_memcmp(const void *s1, const void *s2, size_t n)
{
  return memcmp(s1, s2, n);
}

void *mps_lib_memcpy(void *dest, const void *source, size_t n)
{
  return memcpy(dest, source, n);
}

void *mps_lib_memset(void *s, int c, size_t n)
{
  return memset(s, c, n);
}

/* MPS_TELEMETRY_CONTROL: a number (the filter's bits), or words
 * separated by spaces naming categories (DESIGN.md#telemetry), "all" for
 * every one; case does not matter, unknown words are ignored. */
unsigned long mps_lib_telemetry_control(void)
{
  static const char *const names[] = {"arena", "pool", "trace", "seg",
                                      "ref", "object", "user"};
  const char *s = getenv("MPS_TELEMETRY_CONTROL");
  unsigned long bits = 0;
  char *end;
  if (s == NULL)
    return 0;
  bits = strtoul(s, &end, 0);
  if (end != s && *end == '\0')
    return bits;
  bits = 0;
  while (*s != '\0') {
    size_t n, i;
    while (*s == ' ')
      ++s;
    n = strcspn(s, " ");
    if (n == 3 && strncasecmp(s, "all", 3) == 0)
      bits = ~0UL;
    for (i = 0; i < sizeof names / sizeof names[0]; ++i)
      if (n == strlen(names[i]) && strncasecmp(s, names[i], n) == 0)
        bits |= 1UL << i;
    s += n;
  }
  return bits;
}
