/* telemetry.c -- the telemetry interface (DESIGN.md#telemetry)
 *
 * Checked:
 *  - MPS_TELEMETRY_CONTROL as the plinth reads it: a number, or words
 *    naming categories ("all" for every one), unknown words ignored;
 *  - the filter starts as the environment says ("pool trace user"), and
 *    mps_telemetry_set / reset / get / control change and report it as
 *    documented (random masks);
 *  - mps_telemetry_intern returns distinct labels; interned strings and
 *    labels reach the stream (MPS_TELEMETRY_FILENAME) with the string
 *    escaped; mps_telemetry_flush writes what is buffered at once;
 *  - with Pool and Trace on: a PoolInit event names each pool created
 *    (address, class) and a PoolFinish each destroyed; every collection
 *    has a TraceStart and a TraceEnd (at least one each per
 *    mps_arena_collect); with Object on, every mps_alloc and mps_free
 *    has an Alloc / Free event with its address and size, and none while
 *    Object is off; categories off (Arena, Seg) have no events;
 *  - labels are recorded only while User is on;
 *  - MPS_KEY_AP_LOGGED is accepted by mps_arena_create_k and
 *    mps_ap_create_k;
 *  - the file starts with the format line, every line has the
 *    "<ns> <Category> <Name>" shape, and time never goes backwards
 *    (one thread).
 */

#define _GNU_SOURCE
#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscmvff.h"
#include "mpslib.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CAT(n) ((mps_word_t)1 << (n))
enum { ARENA, POOL, TRACE, SEG, REF, OBJECT, USER };

static char path[256];

static void check_control_parsing(void)
{
  static const struct {
    const char *text;
    unsigned long bits;
  } cases[] = {
      {"6", 6},
      {"0x41", 0x41},
      {"arena pool trace", 7},
      {"  Seg   user ", CAT(SEG) | CAT(USER)},
      {"object nonsense ref", CAT(OBJECT) | CAT(REF)},
      {"all", ~0UL},
      {"", 0},
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    setenv("MPS_TELEMETRY_CONTROL", cases[i].text, 1);
    CHECKF(mps_lib_telemetry_control() == cases[i].bits,
           "MPS_TELEMETRY_CONTROL='%s' read as %#lx, expected %#lx",
           cases[i].text, mps_lib_telemetry_control(), cases[i].bits);
  }
}

static void check_filter_calls(void)
{
  mps_word_t start = mps_telemetry_get(), f = start;
  int i;
  for (i = 0; i < 200; ++i) {
    mps_word_t a = (mps_word_t)rnd(), b = (mps_word_t)rnd(), old;
    switch (rnd_below(3)) {
    case 0:
      mps_telemetry_set(a);
      f |= a;
      break;
    case 1:
      mps_telemetry_reset(a);
      f &= ~a;
      break;
    default:
      old = mps_telemetry_control(a, b);
      CHECKF(old == f, "control returned %#lx, filter was %#lx",
             (unsigned long)old, (unsigned long)f);
      f = (f & ~a) ^ b;
    }
    CHECKF(mps_telemetry_get() == f, "filter %#lx, expected %#lx",
           (unsigned long)mps_telemetry_get(), (unsigned long)f);
  }
  mps_telemetry_reset(~(mps_word_t)0);
  mps_telemetry_set(start);
  CHECK(mps_telemetry_get() == start);
}

/* The whole stream, NUL-terminated (malloc'd). */
static char *read_stream(void)
{
  FILE *f = fopen(path, "r");
  char *text;
  long n;
  CHECKF(f != NULL, "no telemetry file %s", path);
  CHECK(fseek(f, 0, SEEK_END) == 0);
  n = ftell(f);
  CHECK(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
  text = malloc((size_t)n + 1);
  CHECK(text != NULL);
  CHECK(fread(text, 1, (size_t)n, f) == (size_t)n);
  text[n] = '\0';
  fclose(f);
  return text;
}

static size_t count(const char *text, const char *needle)
{
  size_t n = 0;
  const char *p = text;
  while ((p = strstr(p, needle)) != NULL) {
    ++n;
    p += strlen(needle);
  }
  return n;
}

int main(void)
{
  mps_arena_t arena;
  mps_fmt_t fmt;
  mps_pool_t amc, mvff;
  mps_chain_t chain;
  mps_ap_t ap;
  mps_thr_t thr;
  mps_root_t root;
  mps_label_t labels[8];
  void *r[1] = {NULL};
  void *blocks[64];
  size_t sizes[64];
  char needle[512], *text, *line;
  size_t i, j, collections, allocs_on;
  unsigned long long last = 0;
  mps_gen_param_s gens[] = {{256, 0.8}};

  test_init("telemetry");
  check_control_parsing();
  snprintf(path, sizeof path, "/tmp/mps-telemetry-%ld-%lu.log",
           (long)getpid(), test_seed());
  setenv("MPS_TELEMETRY_FILENAME", path, 1);
  setenv("MPS_TELEMETRY_CONTROL", "pool trace user", 1);
  CHECKF(mps_telemetry_get() == (CAT(POOL) | CAT(TRACE) | CAT(USER)),
         "initial filter %#lx", (unsigned long)mps_telemetry_get());
  check_filter_calls();

  /* Interned strings: distinct labels, escaped in the stream. */
  for (i = 0; i < 8; ++i) {
    char s[64];
    snprintf(s, sizeof s, "label %zu \"quoted\"\n", i);
    labels[i] = mps_telemetry_intern(s);
    for (j = 0; j < i; ++j)
      CHECK(labels[j] != labels[i]);
  }
  mps_telemetry_flush();
  text = read_stream();
  CHECKF(strncmp(text, "mps-rs telemetry 1\n", 19) == 0,
         "stream starts with '%.20s'", text);
  for (i = 0; i < 8; ++i) {
    snprintf(needle, sizeof needle,
             "User Intern label=%lu string=\"label %zu \\x22quoted\\x22\\x0a\"\n",
             (unsigned long)labels[i], i);
    CHECKF(strstr(text, needle) != NULL, "flushed stream lacks: %s", needle);
  }
  free(text);

  MPS_ARGS_BEGIN(args) { /* accepted and ignored */
    MPS_ARGS_ADD(args, MPS_KEY_AP_LOGGED, 1);
    CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
  } MPS_ARGS_END(args);
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  CHECK_RES(mps_chain_create(&chain, arena, 1, gens));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    MPS_ARGS_ADD(args, MPS_KEY_CHAIN, chain);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_pool_create_k(&mvff, arena, mps_class_mvff(), mps_args_none));
  mps_telemetry_label(amc, labels[0]);
  mps_telemetry_reset(CAT(USER));
  mps_telemetry_label(mvff, labels[1]); /* User off: not recorded */
  mps_telemetry_set(CAT(USER));
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_AP_LOGGED, 1);
    CHECK_RES(mps_ap_create_k(&ap, amc, args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0, r, 1));
  CHECK_RES(mps_thread_reg(&thr, arena));

  for (i = 0; i < 20000; ++i) {
    void *p = tf_make_pair(ap, i, NULL, NULL);
    tf_set_ref(p, 1, r[0]);
    r[0] = rnd_chance(1, 2) ? p : NULL;
  }
  for (i = 0; i < 3; ++i)
    CHECK_RES(mps_arena_collect(arena));
  mps_arena_release(arena);

  /* Object events only while Object is on. */
  allocs_on = 32 + rnd_below(32);
  mps_telemetry_set(CAT(OBJECT));
  for (i = 0; i < 64; ++i) {
    if (i == allocs_on)
      mps_telemetry_reset(CAT(OBJECT));
    sizes[i] = 8 + 8 * rnd_below(64);
    CHECK_RES(mps_alloc(&blocks[i], mvff, sizes[i]));
  }
  mps_telemetry_set(CAT(OBJECT));
  for (i = 0; i < allocs_on; ++i)
    mps_free(mvff, blocks[i], sizes[i]);
  mps_telemetry_reset(CAT(OBJECT));
  for (; i < 64; ++i)
    mps_free(mvff, blocks[i], sizes[i]);

  collections = mps_collections(arena);
  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(root);
  mps_ap_destroy(ap);
  mps_pool_destroy(mvff);
  mps_pool_destroy(amc);
  mps_chain_destroy(chain);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena); /* flushes */

  text = read_stream();
  snprintf(needle, sizeof needle, "Pool PoolInit pool=%p arena=%p class=AMC",
           (void *)amc, (void *)arena);
  CHECKF(strstr(text, needle) != NULL, "stream lacks: %s", needle);
  snprintf(needle, sizeof needle, "Pool PoolInit pool=%p arena=%p class=MVFF",
           (void *)mvff, (void *)arena);
  CHECKF(strstr(text, needle) != NULL, "stream lacks: %s", needle);
  snprintf(needle, sizeof needle, "Pool PoolFinish pool=%p\n", (void *)amc);
  CHECKF(strstr(text, needle) != NULL, "stream lacks: %s", needle);
  snprintf(needle, sizeof needle, "User Label address=%p label=%lu\n",
           (void *)amc, (unsigned long)labels[0]);
  CHECKF(strstr(text, needle) != NULL, "stream lacks: %s", needle);
  snprintf(needle, sizeof needle, "User Label address=%p", (void *)mvff);
  CHECKF(strstr(text, needle) == NULL, "label recorded with User off");
  CHECKF(count(text, " Trace TraceStart ") >= 3 &&
             count(text, " Trace TraceStart ") == count(text, " Trace TraceEnd "),
         "%zu TraceStart, %zu TraceEnd events (%zu moving collections)",
         count(text, " Trace TraceStart "), count(text, " Trace TraceEnd "),
         collections);
  CHECK(strstr(text, "why=\"Client requested a collection") != NULL);
  CHECKF(count(text, " Object Alloc ") == allocs_on &&
             count(text, " Object Free ") == allocs_on,
         "%zu Alloc and %zu Free events, expected %zu each",
         count(text, " Object Alloc "), count(text, " Object Free "),
         allocs_on);
  for (i = 0; i < 64; ++i) {
    snprintf(needle, sizeof needle,
             "Object Alloc pool=%p address=%p size=%zu\n", (void *)mvff,
             blocks[i], sizes[i]);
    CHECKF((strstr(text, needle) != NULL) == (i < allocs_on),
           "block %zu (Object %s): %s", i, i < allocs_on ? "on" : "off",
           needle);
  }
  CHECK(count(text, " Arena ") == 0 && count(text, " Seg ") == 0);

  /* Every line: "<ns> <Category> <Name> ...", time not going back. */
  line = strchr(text, '\n') + 1;
  j = 0;
  while (*line != '\0') {
    char *end = strchr(line, '\n');
    char *after;
    unsigned long long t = strtoull(line, &after, 10);
    CHECKF(end != NULL && after != line && *after == ' ',
           "malformed line: %.60s", line);
    CHECKF(t >= last, "time goes back at line %zu", j);
    last = t;
    line = end + 1;
    ++j;
  }
  printf("telemetry: %zu events, %zu collections\n", j, collections);
  free(text);
  unlink(path);
  return 0;
}
