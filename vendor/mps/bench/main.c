/* main.c: driver of the benchmark suite, and helpers shared by workloads.
 *
 *   bench                      run every workload and variant, print the table
 *   bench run WORKLOAD VARIANT run one (what the driver execs); prints
 *                              key=value lines on stdout
 *
 * Environment: BENCH_SCALE (default 1) scales the work and the heap sizes;
 * BENCH_REPEAT (default 3) runs every variant that many times and keeps
 * the run with the median wall time; BENCH_BT_DEPTH overrides the maximum
 * depth of the binary trees.
 */

#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void *bench_stack_cold;

/* ---- helpers -------------------------------------------------------------- */

double bench_scale(void)
{
  const char *e = getenv("BENCH_SCALE");
  double s = e != NULL && *e != '\0' ? atof(e) : 1.0;
  return s > 0 ? s : 1.0;
}

double now_wall(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double now_cpu(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

long peak_rss_kib(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

long cur_rss_kib(void)
{
  long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void emit(const char *key, const char *fmt, ...)
{
  va_list ap;
  printf("%s=", key);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

void emit_d(const char *key, double v)
{
  emit(key, "%.9g", v);
}

/* Every mprotect of the process comes here: the collector library is
 * linked statically into this executable, so its calls resolve to this
 * definition rather than libc's, and a shared library's (Boehm GC's) calls
 * are interposed by the executable's dynamic symbol.  A relaxed atomic add
 * is safe in the collector's SIGSEGV handler. */
static unsigned long mprotect_calls;

int mprotect(void *addr, size_t len, int prot)
{
  __atomic_add_fetch(&mprotect_calls, 1, __ATOMIC_RELAXED);
  return (int)syscall(SYS_mprotect, addr, len, prot);
}

unsigned long bench_mprotect_calls(void)
{
  return __atomic_load_n(&mprotect_calls, __ATOMIC_RELAXED);
}

/* ---- runs ----------------------------------------------------------------- */

#define MAX_KV 64

typedef struct run_s {
  const char *wl, *var, *label;
  int ok;
  int status;
  double elapsed;  /* whole process, wall */
  long wait_maxrss_kib;
  int nkv;
  char key[MAX_KV][32];
  char val[MAX_KV][64];
} run_s;

typedef struct variant_s {
  const char *wl, *var, *label, *env;  /* env: "NAME=value" or NULL */
} variant_s;

static const variant_s variants[] = {
  {"bintrees", "amc", "AMC (this project)", NULL},
  {"bintrees", "boehm", "Boehm GC default", NULL},
  {"bintrees", "boehm-incr", "Boehm GC incremental", NULL},
  {"bintrees", "malloc", "malloc/free (Box stand-in)", NULL},
  {"alloc", "amc", "AMC reserve/commit", NULL},
  {"alloc", "boehm", "Boehm GC_malloc", NULL},
  {"alloc", "malloc", "malloc, no free", NULL},
  {"alloc", "malloc-free", "malloc+free", NULL},
  {"pause", "amc", "AMC (this project)", NULL},
  {"pause", "amc-5ms", "AMC, pause time 5 ms", NULL},
  {"pause", "boehm", "Boehm GC default", NULL},
  {"scripts", "amc", "AMC, small arena, 2-gen chain", NULL},
  {"scripts", "boehm", "Boehm GC default", NULL},
};
#define NVARIANTS (sizeof variants / sizeof variants[0])

static run_s runs[NVARIANTS];
static int bench_repeat;

static void parse(run_s *r, char *buf)
{
  char *line, *save = NULL;
  for (line = strtok_r(buf, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(line, '=');
    if (eq == NULL || r->nkv >= MAX_KV)
      continue;
    *eq = '\0';
    snprintf(r->key[r->nkv], sizeof r->key[0], "%s", line);
    snprintf(r->val[r->nkv], sizeof r->val[0], "%s", eq + 1);
    ++r->nkv;
  }
}

static void run_one(run_s *r, const variant_s *v, const char *self)
{
  int fd[2];
  pid_t pid;
  char *buf;
  size_t len = 0, cap = 1 << 16;
  struct rusage ru;
  int status;
  double t0;

  memset(r, 0, sizeof *r);
  r->wl = v->wl;
  r->var = v->var;
  r->label = v->label;
  if (pipe(fd) != 0) {
    perror("pipe");
    exit(2);
  }
  fflush(stdout);
  fflush(stderr);
  t0 = now_wall();
  pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(2);
  }
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], 1);
    close(fd[1]);
    if (v->env != NULL)
      putenv((char *)v->env);
    execl(self, self, "run", v->wl, v->var, (char *)NULL);
    perror("exec");
    _exit(127);
  }
  close(fd[1]);
  buf = malloc(cap);
  for (;;) {
    ssize_t n;
    if (len + 1 >= cap)
      buf = realloc(buf, cap *= 2);
    n = read(fd[0], buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  close(fd[0]);
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
    ;
  r->elapsed = now_wall() - t0;
  r->status = status;
  r->ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  r->wait_maxrss_kib = ru.ru_maxrss;
  parse(r, buf);
  free(buf);
}

static double getv(const run_s *r, const char *key)
{
  int i;
  if (r == NULL || !r->ok)
    return NAN;
  for (i = 0; i < r->nkv; ++i)
    if (strcmp(r->key[i], key) == 0)
      return atof(r->val[i]);
  return NAN;
}

static const char *gets_(const run_s *r, const char *key)
{
  int i;
  if (r == NULL)
    return "?";
  for (i = 0; i < r->nkv; ++i)
    if (strcmp(r->key[i], key) == 0)
      return r->val[i];
  return "?";
}

static const run_s *find(const char *wl, const char *var)
{
  size_t i;
  for (i = 0; i < NVARIANTS; ++i)
    if (strcmp(runs[i].wl, wl) == 0 && strcmp(runs[i].var, var) == 0)
      return &runs[i];
  return NULL;
}

/* ---- table ---------------------------------------------------------------- */

#define MIB (1024.0 * 1024.0)

/* Value formatters; kind: 's' seconds, 'm' milliseconds (value in s),
 * 'M' MiB (value in bytes), 'r' rate (objects/s, shown in M/s), 'n' count,
 * 'x' plain ratio. */
static void fmtval(char *out, size_t n, double v, char kind)
{
  if (isnan(v)) {
    snprintf(out, n, "n/a");
    return;
  }
  switch (kind) {
  case 's': snprintf(out, n, "%.3f s", v); break;
  case 'm': snprintf(out, n, "%.2f ms", v * 1e3); break;
  case 'M': snprintf(out, n, "%.1f MiB", v / MIB); break;
  case 'r': snprintf(out, n, "%.1f M/s", v / 1e6); break;
  case 'n': snprintf(out, n, "%.0f", v); break;
  default: snprintf(out, n, "%.2f", v); break;
  }
}

static const char *cur_section;

/* One row: the figure of `r`, its peer (named, measured in the same run),
 * the ratio value/peer, and, if given, a target on that ratio or value. */
static void row(const run_s *r, const char *figure, double v, char kind,
                const char *peer_name, double peer, const char *target,
                int meets /* -1: no target */)
{
  char vs[64], ps[160], rs[32];
  fmtval(vs, sizeof vs, v, kind);
  if (peer_name == NULL) {
    snprintf(ps, sizeof ps, "—");
    snprintf(rs, sizeof rs, "—");
  } else {
    char pv[64];
    fmtval(pv, sizeof pv, peer, kind);
    snprintf(ps, sizeof ps, "%s: %s", peer_name, pv);
    if (isnan(v) || isnan(peer) || peer == 0)
      snprintf(rs, sizeof rs, "n/a");
    else
      snprintf(rs, sizeof rs, "%.2f×", v / peer);
  }
  printf("| %s | %s%s | %s | %s | %s | %s | %s | %s |\n", cur_section,
         r->label, r->ok ? "" : " (FAILED)", figure, vs, ps, rs,
         target != NULL ? target : "",
         meets < 0 ? "" : meets ? "yes" : "**no**");
}

static void print_table(void)
{
  const run_s *bt_amc = find("bintrees", "amc");
  const run_s *bt_gc = find("bintrees", "boehm");
  const run_s *al_gc = find("alloc", "boehm");
  const run_s *pa_amc = find("pause", "amc");
  const run_s *pa_gc = find("pause", "boehm");
  static char sec[128];
  double live = getv(bt_amc, "live_bytes");
  double reach = getv(bt_amc, "maxreach_bytes");
  size_t i;

  printf("| # | variant | figure | value | peer (same run) | ratio | target | meets |\n");
  printf("|---|---|---|---|---|---|---|---|\n");

  /* 1. binary trees */
  snprintf(sec, sizeof sec, "1 binary trees %s", gets_(bt_amc, "depths"));
  cur_section = sec;
  for (i = 0; i < NVARIANTS; ++i) {
    const run_s *r = &runs[i];
    int is_amc = strcmp(r->var, "amc") == 0;
    double wall, cpu, rss;
    if (strcmp(r->wl, "bintrees") != 0)
      continue;
    wall = getv(r, "wall");
    cpu = getv(r, "cpu");
    rss = getv(r, "peak_rss_kib") * 1024.0;
    row(r, "wall time", wall, 's', "Boehm default", getv(bt_gc, "wall"),
        is_amc ? "≤ 0.50× (2× faster)" : NULL,
        is_amc ? wall / getv(bt_gc, "wall") <= 0.5 : -1);
    row(r, "CPU time", cpu, 's', "Boehm default", getv(bt_gc, "cpu"), NULL, -1);
    row(r, "peak RSS", rss, 'M', "Boehm default",
        getv(bt_gc, "peak_rss_kib") * 1024.0, NULL, -1);
    row(r, "peak RSS / live", rss, 'M', "live (long-lived tree)", live,
        is_amc ? "≤ 2.00×" : NULL, is_amc ? rss / live <= 2.0 : -1);
    row(r, "peak RSS / max reachable", rss, 'M', "max reachable", reach,
        NULL, -1);
  }

  /* 2. allocation throughput */
  snprintf(sec, sizeof sec, "2 alloc 16–64 B, %.0fM objects",
           getv(al_gc, "objects") / 1e6);
  for (i = 0; i < NVARIANTS; ++i) {
    const run_s *r = &runs[i];
    if (strcmp(r->wl, "alloc") != 0)
      continue;
    row(r, "objects/s", getv(r, "objs_per_s"), 'r', "Boehm GC_malloc",
        getv(al_gc, "objs_per_s"), NULL, -1);
    row(r, "peak RSS", getv(r, "peak_rss_kib") * 1024.0, 'M',
        "Boehm GC_malloc", getv(al_gc, "peak_rss_kib") * 1024.0, NULL, -1);
  }

  /* 3. pauses */
  snprintf(sec, sizeof sec, "3 pauses, %.0f MiB live, %.0fM ops",
           getv(pa_amc, "live_bytes") / MIB, getv(pa_amc, "ops") / 1e6);
  for (i = 0; i < NVARIANTS; ++i) {
    const run_s *r = &runs[i];
    int is_amc;
    double p99;
    if (strcmp(r->wl, "pause") != 0)
      continue;
    is_amc = strncmp(r->var, "amc", 3) == 0;
    p99 = getv(r, "p99");
    row(r, "collections (steady phase)", getv(r, "gcs"), 'n',
        "Boehm default", getv(pa_gc, "gcs"), NULL, -1);
    row(r, "pauses (steady phase)", getv(r, "pauses"), 'n',
        "Boehm default", getv(pa_gc, "pauses"), NULL, -1);
    row(r, "pause p50", getv(r, "p50"), 'm', "Boehm default",
        getv(pa_gc, "p50"), NULL, -1);
    row(r, "pause p99", p99, 'm', "Boehm default", getv(pa_gc, "p99"),
        is_amc ? "≤ 10 ms" : NULL, is_amc ? p99 <= 0.010 : -1);
    row(r, "pause max", getv(r, "max"), 'm', "Boehm default",
        getv(pa_gc, "max"), NULL, -1);
    row(r, "total pause time", getv(r, "gc_total"), 's', "Boehm default",
        getv(pa_gc, "gc_total"), NULL, -1);
    row(r, "longest operation (mutator view)", getv(r, "max_op"), 'm',
        "Boehm default", getv(pa_gc, "max_op"), NULL, -1);
    row(r, "steady phase wall time", getv(r, "wall"), 's', "Boehm default",
        getv(pa_gc, "wall"), NULL, -1);
  }

  /* 4. memory after a full collection */
  cur_section = "4 memory after full GC";
  for (i = 0; i < NVARIANTS; ++i) {
    const run_s *r = &runs[i];
    int is_amc = strncmp(r->var, "amc", 3) == 0;
    const char *wlname;
    double l, c;
    char fig[96];
    if (strcmp(r->wl, "bintrees") == 0 &&
        (is_amc || strcmp(r->var, "boehm") == 0))
      wlname = "binary trees";
    else if (strcmp(r->wl, "pause") == 0)
      wlname = "pause heap";
    else
      continue;
    l = getv(r, "live_bytes");
    c = getv(r, "after_full_committed");
    snprintf(fig, sizeof fig, "%s: %s / live", wlname,
             is_amc ? "mps_arena_committed" : "GC_get_heap_size");
    row(r, fig, c, 'M', "live", l, NULL, -1);
    if (is_amc) {
      snprintf(fig, sizeof fig, "%s: committed − spare / live", wlname);
      row(r, fig, c - getv(r, "after_full_spare"), 'M', "live", l, NULL, -1);
    }
    snprintf(fig, sizeof fig, "%s: RSS / live", wlname);
    row(r, fig, getv(r, "after_full_rss_kib") * 1024.0, 'M', "live", l,
        NULL, -1);
    if (strcmp(r->wl, "pause") == 0) {
      snprintf(fig, sizeof fig, "%s: peak RSS (whole run) / live", wlname);
      row(r, fig, getv(r, "peak_rss_kib") * 1024.0, 'M', "live", l, NULL, -1);
    }
  }

  /* 5. many collections in a small arena (scripts.c) */
  {
    const run_s *sc_gc = find("scripts", "boehm");
    snprintf(sec, sizeof sec, "5 scripts, 8 MiB arena, %.0fk objects",
             getv(sc_gc, "objects") / 1e3);
    cur_section = sec;
    for (i = 0; i < NVARIANTS; ++i) {
      const run_s *r = &runs[i];
      if (strcmp(r->wl, "scripts") != 0)
        continue;
      row(r, "wall time", getv(r, "wall"), 's', "Boehm default",
          getv(sc_gc, "wall"), NULL, -1);
      row(r, "CPU time", getv(r, "cpu"), 's', "Boehm default",
          getv(sc_gc, "cpu"), NULL, -1);
      row(r, "peak RSS", getv(r, "peak_rss_kib") * 1024.0, 'M',
          "Boehm default", getv(sc_gc, "peak_rss_kib") * 1024.0, NULL, -1);
      row(r, "collections", getv(r, "collections"), 'n', "Boehm default",
          getv(sc_gc, "collections"), NULL, -1);
      row(r, "mprotect calls", getv(r, "mprotect"), 'n', "Boehm default",
          getv(sc_gc, "mprotect"), NULL, -1);
      row(r, "mprotect calls per collection", getv(r, "mprotect_per_gc"),
          'x', NULL, NAN, NULL, -1);
    }
  }
}

static char loadavg_before[64];

static void read_loadavg(char *out, size_t n)
{
  FILE *f = fopen("/proc/loadavg", "r");
  out[0] = '\0';
  if (f != NULL) {
    if (fgets(out, (int)n, f) == NULL)
      out[0] = '\0';
    fclose(f);
  }
  out[strcspn(out, "\n")] = '\0';
}

static void print_notes(void)
{
  char loadavg_after[64];
  const run_s *bt_amc = find("bintrees", "amc");
  const run_s *pa_amc = find("pause", "amc");
  const run_s *pa_gc = find("pause", "boehm");
  size_t i;

  printf("\nNotes (same run):\n");
  read_loadavg(loadavg_after, sizeof loadavg_after);
  printf("- BENCH_SCALE=%g, BENCH_REPEAT=%d (figures from the run with the "
         "median wall time). Every variant ran in its own process; peak RSS "
         "is ru_maxrss read by the child at the end of the timed part. "
         "/proc/loadavg before: %s; after: %s.\n",
         bench_scale(), bench_repeat, loadavg_before, loadavg_after);
  for (i = 0; i < NVARIANTS; ++i) {
    const run_s *r = &runs[i];
    if (!r->ok)
      printf("- %s / %s FAILED (wait status %#x)\n", r->wl, r->var, r->status);
  }
  printf("- binary trees: %s nodes of 16 B allocated; live (long-lived tree) "
         "%.1f MiB; max reachable at once %.1f MiB; collections: AMC %s",
         gets_(bt_amc, "nodes"), getv(bt_amc, "live_bytes") / MIB,
         getv(bt_amc, "maxreach_bytes") / MIB, gets_(bt_amc, "collections"));
  for (i = 0; i < NVARIANTS; ++i) {
    const run_s *r = &runs[i];
    if (strcmp(r->wl, "bintrees") == 0 && strncmp(r->var, "boehm", 5) == 0)
      printf(", %s %s (incremental=%s, marker threads=%s)", r->label,
             gets_(r, "collections"), gets_(r, "incremental"),
             gets_(r, "markers"));
  }
  printf(".\n");
  printf("- alloc: collections: AMC %s, Boehm %s.\n",
         gets_(find("alloc", "amc"), "collections"),
         gets_(find("alloc", "boehm"), "collections"));
  for (i = 0; i < NVARIANTS; ++i) {
    const run_s *r = &runs[i];
    if (strcmp(r->wl, "pause") != 0 || strncmp(r->var, "amc", 3) != 0)
      continue;
    printf("- pauses, %s: steady phase: %s collections (%s full), pauses: "
           "%s whole collections, %s flips, %s steps, %s barrier faults; "
           "build phase (%.2f s): %s collections, longest pause %.1f ms.\n",
           r->label, gets_(r, "gcs"), gets_(r, "full_gcs"),
           gets_(r, "pauses_atomic"), gets_(r, "pauses_flip"),
           gets_(r, "pauses_step"), gets_(r, "pauses_fault"),
           getv(r, "build_wall"), gets_(r, "build_gcs"),
           getv(r, "build_max_pause") * 1e3);
  }
  printf("- pauses, Boehm: build phase (%.2f s): %s collections, longest "
         "%.1f ms. AMC pause = every interval the collector stops the "
         "mutator (mpsx_arena_pause_log: whole collections, or flips, steps "
         "and barrier faults of incremental ones); Boehm pause = "
         "GC_EVENT_START..END (non-incremental, lazy sweep not included).\n",
         getv(pa_gc, "build_wall"), gets_(pa_gc, "build_gcs"),
         getv(pa_gc, "build_max_pause") * 1e3);
  printf("- memory: collector-measured live after the full collection: "
         "binary trees AMC %.1f MiB, pause AMC %.1f MiB.\n",
         getv(bt_amc, "after_full_gclive") / MIB,
         getv(pa_amc, "after_full_gclive") / MIB);
}

static int cmp_wall(const void *a, const void *b)
{
  double x = getv(a, "wall"), y = getv(b, "wall");
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
  void *marker = &marker;
  int repeat, k;
  const char *e;
  size_t i;
  run_s *tries;
  double t0;

  bench_stack_cold = marker;
  if (argc == 4 && strcmp(argv[1], "run") == 0) {
    int rc;
    if (strcmp(argv[2], "bintrees") == 0)
      rc = wl_bintrees(argv[3]);
    else if (strcmp(argv[2], "alloc") == 0)
      rc = wl_alloc(argv[3]);
    else if (strcmp(argv[2], "pause") == 0)
      rc = wl_pause(argv[3]);
    else if (strcmp(argv[2], "scripts") == 0)
      rc = wl_scripts(argv[3]);
    else
      rc = 1;
    if (rc == 1)
      fprintf(stderr, "bench: unknown workload or variant %s %s\n", argv[2],
              argv[3]);
    else
      emit("mprotect_process", "%lu", bench_mprotect_calls());
    return rc;
  }
  if (argc != 1) {
    fprintf(stderr, "usage: %s  |  %s run WORKLOAD VARIANT\n", argv[0],
            argv[0]);
    return 2;
  }

  e = getenv("BENCH_REPEAT");
  repeat = e != NULL && atoi(e) > 0 ? atoi(e) : 3;
  if (repeat > 15)
    repeat = 15;
  bench_repeat = repeat;
  read_loadavg(loadavg_before, sizeof loadavg_before);
  t0 = now_wall();
  /* Rounds: every variant once per round, so that a change in the
   * machine's load during the suite affects all variants alike. */
  tries = calloc((size_t)repeat * NVARIANTS, sizeof *tries);
  if (tries == NULL)
    return 2;
  for (k = 0; k < repeat; ++k) {
    for (i = 0; i < NVARIANTS; ++i) {
      run_s *t = &tries[i * (size_t)repeat + (size_t)k];
      run_one(t, &variants[i], "/proc/self/exe");
      fprintf(stderr, "bench: round %d/%d %-8s %-12s %s wall %.3f s "
              "(process %.1f s)\n", k + 1, repeat, variants[i].wl,
              variants[i].var, t->ok ? "ok    " : "FAILED", getv(t, "wall"),
              t->elapsed);
    }
  }
  for (i = 0; i < NVARIANTS; ++i) {
    run_s *t = &tries[i * (size_t)repeat];
    qsort(t, (size_t)repeat, sizeof *t, cmp_wall);
    runs[i] = t[repeat / 2];
  }
  free(tries);
  fprintf(stderr, "bench: suite took %.1f s\n", now_wall() - t0);
  print_table();
  print_notes();
  for (i = 0; i < NVARIANTS; ++i)
    if (!runs[i].ok)
      return 1;
  return 0;
}
