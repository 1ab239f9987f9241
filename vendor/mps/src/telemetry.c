/* telemetry.c: the telemetry filter and event stream
 *
 * See DESIGN.md#telemetry.  The stream is a text file of our own format:
 * a first line "mps-rs telemetry 1", then one event per line,
 *
 *   <nanoseconds> <Category> <Name> key=value key=value ...
 *
 * with a monotonic clock's nanoseconds, addresses in hexadecimal (0x...)
 * and strings in double quotes with ", \ and bytes outside printable
 * ASCII escaped as \xHH.  Events wait in one buffer and are written
 * through the plinth's I/O module (mpsio.h, default src/mpsio.c): events are also recorded while the world is stopped, when a
 * stopped thread may hold malloc's or stdio's lock, so nothing here
 * allocates or uses a FILE.  A thread holds the buffer's lock with every
 * signal blocked, so no thread is ever stopped while holding it.
 */

#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpsio.h"
#include "mpslib.h"
#include "telemetry.h"

#define BUFFER_SIZE ((size_t)1 << 16)
#define LINE_MAX_BYTES 1536
#define INTERN_MAX 256 /* the manual's limit, terminating NUL included */

static const char *const categoryNames[TelCategories] = {
    "Arena", "Pool", "Trace", "Seg", "Ref", "Object", "User"};

static pthread_once_t filterOnce = PTHREAD_ONCE_INIT;
static mps_word_t filter;
static mps_label_t nextLabel = 1;

static pthread_mutex_t bufferLock = PTHREAD_MUTEX_INITIALIZER;
static char buffer[BUFFER_SIZE];
static size_t bufferUsed;
static mps_io_t stream;
static int streamFailed;

/* In a forked child only the forking thread exists: a lock another
 * thread held at the fork would never be released.  (No handler holds
 * it across the fork: a thread blocking signals while it waits for the
 * collector's locks in thread.c's fork handler would keep the collector
 * from stopping it.)  Events buffered are kept; the stream's file
 * description is shared with the parent. */
static void childAfterFork(void)
{
  (void)pthread_mutex_init(&bufferLock, NULL);
}

static void filterInit(void)
{
  (void)pthread_atfork(NULL, NULL, childAfterFork);
  __atomic_store_n(&filter, (mps_word_t)mps_lib_telemetry_control(),
                   __ATOMIC_RELAXED);
}

mps_word_t TelemetryFilter(void)
{
  (void)pthread_once(&filterOnce, filterInit);
  return __atomic_load_n(&filter, __ATOMIC_RELAXED);
}

static void lockBuffer(sigset_t *old)
{
  sigset_t all;
  sigfillset(&all);
  (void)pthread_sigmask(SIG_BLOCK, &all, old);
  (void)pthread_mutex_lock(&bufferLock);
}

static void unlockBuffer(const sigset_t *old)
{
  (void)pthread_mutex_unlock(&bufferLock);
  (void)pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* With the buffer locked: open the stream if need be (mpsio.h), write
 * the buffer.  A stream that fails is dropped; the program goes on. */
static void flushLocked(int push)
{
  static char header[] = "mps-rs telemetry 1\n";
  if (streamFailed)
    return;
  if (stream == NULL) {
    if (bufferUsed == 0)
      return;
    if (mps_io_create(&stream) != MPS_RES_OK ||
        mps_io_write(stream, header, sizeof header - 1) != MPS_RES_OK) {
      streamFailed = 1;
      return;
    }
  }
  if (bufferUsed > 0 && mps_io_write(stream, buffer, bufferUsed) != MPS_RES_OK)
    streamFailed = 1;
  bufferUsed = 0;
  if (push && !streamFailed && mps_io_flush(stream) != MPS_RES_OK)
    streamFailed = 1;
}

static void appendLine(const char *line, size_t n)
{
  sigset_t old;
  lockBuffer(&old);
  if (bufferUsed + n > BUFFER_SIZE)
    flushLocked(0);
  if (n <= BUFFER_SIZE - bufferUsed) {
    memcpy(buffer + bufferUsed, line, n);
    bufferUsed += n;
  }
  unlockBuffer(&old);
}

void TelemetryEvent(unsigned cat, const char *name, const char *fmt, ...)
{
  char line[LINE_MAX_BYTES];
  struct timespec ts;
  unsigned long long ns;
  int n, m;
  va_list args;
  if (cat >= TelCategories || !TelemetryOn(cat))
    return;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ns = (unsigned long long)ts.tv_sec * 1000000000ULL +
       (unsigned long long)ts.tv_nsec;
  n = snprintf(line, sizeof line, "%llu %s %s ", ns, categoryNames[cat],
               name);
  if (n < 0 || (size_t)n >= sizeof line)
    return;
  va_start(args, fmt);
  m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, args);
  va_end(args);
  if (m < 0)
    return;
  if ((size_t)(n + m) >= sizeof line - 1)
    m = (int)(sizeof line - 2) - n; /* truncated */
  line[n + m] = '\n';
  appendLine(line, (size_t)(n + m) + 1);
}

void TelemetryFlush(int abandon)
{
  sigset_t old, all;
  if (!abandon) {
    lockBuffer(&old);
    flushLocked(1);
    unlockBuffer(&old);
    return;
  }
  sigfillset(&all);
  (void)pthread_sigmask(SIG_BLOCK, &all, &old);
  if (pthread_mutex_trylock(&bufferLock) == 0) {
    flushLocked(1);
    (void)pthread_mutex_unlock(&bufferLock);
  }
  (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The public interface ------------------------------------------------- */

void mps_telemetry_set(mps_word_t set_mask)
{
  (void)TelemetryFilter();
  __atomic_fetch_or(&filter, set_mask, __ATOMIC_RELAXED);
}

void mps_telemetry_reset(mps_word_t reset_mask)
{
  (void)TelemetryFilter();
  __atomic_fetch_and(&filter, ~reset_mask, __ATOMIC_RELAXED);
}

mps_word_t mps_telemetry_get(void)
{
  return TelemetryFilter();
}

/* Deprecated (the manual of 1.118 removed it): clear reset_mask, then
 * toggle flip_mask; returns the filter before. */
mps_word_t mps_telemetry_control(mps_word_t reset_mask, mps_word_t flip_mask)
{
  mps_word_t old = TelemetryFilter(), new_;
  do
    new_ = (old & ~reset_mask) ^ flip_mask;
  while (!__atomic_compare_exchange_n(&filter, &old, new_, 0,
                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return old;
}

/* The string, quoted and escaped, into out (size at least 4 * INTERN_MAX
 * + 3); at most INTERN_MAX - 1 bytes of it. */
static void quote(char *out, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  size_t i;
  *out++ = '"';
  for (i = 0; s[i] != '\0' && i < INTERN_MAX - 1; ++i) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      *out++ = '\\';
      *out++ = 'x';
      *out++ = hex[c >> 4];
      *out++ = hex[c & 15];
    } else {
      *out++ = (char)c;
    }
  }
  *out++ = '"';
  *out = '\0';
}

mps_label_t mps_telemetry_intern(const char *label)
{
  mps_label_t id = __atomic_fetch_add(&nextLabel, 1, __ATOMIC_RELAXED);
  if (label != NULL && TelemetryOn(TelUser)) {
    char quoted[4 * INTERN_MAX + 3];
    quote(quoted, label);
    TelemetryEvent(TelUser, "Intern", "label=%lu string=%s",
                   (unsigned long)id, quoted);
  }
  return id;
}

void mps_telemetry_label(mps_addr_t addr, mps_label_t label)
{
  TelemetryEvent(TelUser, "Label", "address=0x%lx label=%lu", TelAddr(addr),
                 (unsigned long)label);
}

void mps_telemetry_flush(void)
{
  TelemetryFlush(0);
}
