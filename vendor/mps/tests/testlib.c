/* testlib.c -- shared helpers for the C tests (see testlib.h) */

#define _POSIX_C_SOURCE 200809L

#include "testlib.h"
#include "mpsx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *test_name = "test";
static unsigned long seed;
static uint64_t rng_state;
static int verbose;

static uint64_t mix64(uint64_t z)
{
  /* splitmix64 finaliser: spreads a small seed over all bits */
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void test_init(const char *name)
{
  const char *s = getenv("MPS_TEST_SEED");
  const char *v = getenv("MPS_TEST_VERBOSE");
  test_name = name;
  if (s != NULL && *s != '\0') {
    char *end;
    seed = strtoul(s, &end, 0);
    if (*end != '\0') {
      fprintf(stderr, "%s: bad MPS_TEST_SEED '%s'\n", name, s);
      exit(2);
    }
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (unsigned long)(mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20)
                                 ^ ((uint64_t)getpid() << 40)) % 4000000000UL);
  }
  rng_state = mix64(seed);
  if (rng_state == 0)
    rng_state = 1;
  verbose = v != NULL && *v != '\0' && strcmp(v, "0") != 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("%s: seed=%lu\n", name, seed);
}

unsigned long test_seed(void)
{
  return seed;
}

uint64_t rnd(void)
{
  /* xorshift64* */
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545f4914f6cdd1dULL;
}

size_t rnd_below(size_t n)
{
  if (n == 0)
    die("rnd_below(0)");
  return (size_t)(rnd() % n);
}

int rnd_chance(unsigned num, unsigned den)
{
  return rnd_below(den) < num;
}

unsigned long test_scale(unsigned long n)
{
  const char *s = getenv("STRESS");
  double k = 1.0;
  if (s != NULL && *s != '\0') {
    k = strtod(s, NULL);
    if (!(k > 0.0))
      k = 1.0;
  }
  double r = (double)n * k;
  return r < 1.0 ? 1 : (unsigned long)r;
}

void test_fail_prefix(const char *file, int line, const char *cond)
{
  fflush(stdout);
  fprintf(stderr, "%s:%d: check failed: %s\n", file, line, cond);
}

void die(const char *fmt, ...)
{
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s: FAILED: ", test_name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n%s: reproduce with MPS_TEST_SEED=%lu\n", test_name, seed);
  fflush(stderr);
  abort();
}

void test_verbose_set(int on)
{
  verbose = on;
}

int test_verbose(void)
{
  return verbose;
}

void vlog(const char *fmt, ...)
{
  va_list ap;
  if (!verbose)
    return;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
}

const char *res_name(mps_res_t res)
{
  switch (res) {
  case MPS_RES_OK: return "MPS_RES_OK";
  case MPS_RES_FAIL: return "MPS_RES_FAIL";
  case MPS_RES_RESOURCE: return "MPS_RES_RESOURCE";
  case MPS_RES_MEMORY: return "MPS_RES_MEMORY";
  case MPS_RES_LIMIT: return "MPS_RES_LIMIT";
  case MPS_RES_UNIMPL: return "MPS_RES_UNIMPL";
  case MPS_RES_IO: return "MPS_RES_IO";
  case MPS_RES_COMMIT_LIMIT: return "MPS_RES_COMMIT_LIMIT";
  case MPS_RES_PARAM: return "MPS_RES_PARAM";
  default: return "unknown result code";
  }
}

__attribute__((noinline)) void stack_scrub(void)
{
  volatile char buf[32 * 1024];
  memset((char *)buf, 0, sizeof buf);
  __asm__ __volatile__("" : : "r"(buf) : "memory");
}

double test_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void test_arena_setup(mps_arena_t arena)
{
  const char *s = getenv("MPS_TEST_PAUSE_TIME");
  if (s != NULL && *s != '\0') {
    char *end;
    double t = strtod(s, &end);
    if (*end != '\0' || t < 0) {
      fprintf(stderr, "%s: bad MPS_TEST_PAUSE_TIME '%s'\n", test_name, s);
      exit(2);
    }
    mps_arena_pause_time_set(arena, t);
  }
}

static mpsx_pause_log_s pause_log;

void test_pauses_start(mps_arena_t arena)
{
  memset(&pause_log, 0, sizeof pause_log);
  mpsx_arena_pause_log(arena, &pause_log);
}

void test_pauses_report(mps_arena_t arena)
{
  const char *s = getenv("MPS_TEST_PAUSE_TIME");
  mpsx_arena_pause_log(arena, NULL);
  printf("%s: pauses: %zu (atomic %zu, flips %zu, steps %zu, barrier "
         "faults %zu), longest %.2f ms, total %.3f s\n",
         test_name, pause_log.count, pause_log.kinds[MPSX_PAUSE_ATOMIC],
         pause_log.kinds[MPSX_PAUSE_FLIP], pause_log.kinds[MPSX_PAUSE_STEP],
         pause_log.kinds[MPSX_PAUSE_FAULT], pause_log.max * 1e3,
         pause_log.total);
  /* Unset or empty: the default pause time, as in test_arena_setup. */
  if (s != NULL && *s != '\0' && strtod(s, NULL) == 0.0 &&
      (pause_log.kinds[MPSX_PAUSE_FLIP] == 0 ||
       pause_log.kinds[MPSX_PAUSE_STEP] == 0))
    die("pause time 0, but no collection was incremental");
}

/* Run f in a child; if `want` is NULL the child must exit 0, otherwise
 * abort with a message containing `want`. */
void test_in_child(const char *name, void (*f)(void), const char *want)
{
  int fds[2], status;
  char buf[2048];
  size_t len = 0;
  ssize_t got;
  pid_t pid;
  CHECK(pipe(fds) == 0);
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    alarm(60);
    close(fds[0]);
    dup2(fds[1], 2);
    f();
    _exit(0);
  }
  close(fds[1]);
  while (len < sizeof buf - 1 &&
         (got = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)got;
  buf[len] = '\0';
  close(fds[0]);
  CHECK(waitpid(pid, &status, 0) == pid);
  if (want == NULL) {
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "%s: the child failed (status %#x): %s", name, status, buf);
    return;
  }
  CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
             strstr(buf, want) != NULL,
         "%s was not caught (status %#x, wanted \"%s\"): %s", name, status,
         want, buf);
  printf("%s: caught %s: %.*s\n", test_name, name, (int)strcspn(buf, "\n"), buf);
}
