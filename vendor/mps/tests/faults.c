/* faults.c -- exhausted commit limits and misuse through the C interface
 *
 * 1. A workload (a growing list plus garbage, with collections) is run
 *    under commit limits swept downward from what it needs to almost
 *    nothing.  At every limit the workload either completes or stops with
 *    MPS_RES_COMMIT_LIMIT at some allocation (never another code, never a
 *    crash); what it built so far verifies; raising the limit lets it
 *    finish; the arena is destroyed cleanly.  Every allocation site of the
 *    workload is reached by some limit (counted).
 * 2. In the checking build, misuse is caught by an assertion with a
 *    message, in a child process: destroying a pool with a live
 *    allocation point; committing a block that was never reserved;
 *    reserving a size that is not a multiple of the alignment; creating a
 *    thread root with a rank other than ambiguous; a format method that
 *    calls back into the collector; an MFS block of another size than the
 *    pool's unit.
 * 3. Absurd arena sizes and grains are refused with MPS_RES_PARAM (every
 *    build).
 */

#define _GNU_SOURCE
#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"
#include "mpscmfs.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCELLS 20000

/* How long a misuse child may run (far more than it needs to fail). */
#define CHILD_SECONDS 60u

static void *roots[2];

/* Build the list; returns the allocation count at which it stopped with
 * MPS_RES_COMMIT_LIMIT, or 0 if it completed. */
static unsigned long workload(mps_arena_t arena, mps_ap_t ap, mps_ap_t zap,
                              unsigned long *allocs_o)
{
  unsigned long allocs = 0;
  size_t i;
  for (i = roots[1] == NULL ? 0 : tf_id(roots[1]); i < NCELLS; ++i) {
    mps_addr_t p;
    mps_res_t res;
    size_t nbytes = 8 * (1 + i % 8);
    size_t size = tf_str_size(nbytes);
    /* A string (AMCZ) then a pair holding it (AMC): two sites. */
    ++allocs;
    res = mps_reserve(&p, zap, size);
    if (res != MPS_RES_OK) {
      if (res != MPS_RES_COMMIT_LIMIT)
        die("reserve failed with %s, not MPS_RES_COMMIT_LIMIT",
            res_name(res));
      *allocs_o = allocs;
      return allocs;
    }
    tf_init_str(p, i + 1, nbytes);
    (void)mps_commit(zap, p, size); /* AMCZ commits never fail */
    roots[0] = p;
    ++allocs;
    res = mps_reserve(&p, ap, tf_pair_size());
    if (res != MPS_RES_OK) {
      if (res != MPS_RES_COMMIT_LIMIT)
        die("reserve failed with %s", res_name(res));
      *allocs_o = allocs;
      return allocs;
    }
    tf_init_pair(p, i + 1);
    tf_set_ref(p, 0, roots[0]);
    tf_set_ref(p, 1, roots[1]);
    if (!mps_commit(ap, p, tf_pair_size())) {
      --i; /* flipped: redo this cell */
      continue;
    }
    roots[1] = p;
    roots[0] = NULL;
    if (i % 5000 == 4999) {
      CHECK_RES(mps_arena_collect(arena));
      mps_arena_release(arena);
    }
  }
  *allocs_o = allocs;
  return 0;
}

static void verify(size_t expect)
{
  void *p = roots[1];
  size_t n = 0;
  while (p != NULL) {
    tf_check_obj(p, "faults: list cell");
    if (tf_id(p) != expect - n)
      die("faults: cell %zu has id %lu", n, tf_id(p));
    tf_check_obj(tf_ref(p, 0), "faults: string");
    p = tf_ref(p, 1);
    ++n;
  }
  if (n != expect)
    die("faults: list has %zu cells, expected %zu", n, expect);
}

static void sweep(void)
{
  size_t limit, needed = 0;
  unsigned long failures = 0, step = 0, sites[2] = {0, 0};
  for (limit = 16 << 20; limit >= 256 << 10; limit -= limit / 8, ++step) {
    mps_arena_t arena;
    mps_fmt_t fmt;
    mps_pool_t amc, amcz;
    mps_ap_t ap, zap;
    mps_root_t root;
    unsigned long stopped, allocs = 0;
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_COMMIT_LIMIT, limit);
      MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, (size_t)64 << 20);
      CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), args));
      test_arena_setup(arena);
    } MPS_ARGS_END(args);
    tf_fmt_create(&fmt, arena, 0);
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
      if (mps_pool_create_k(&amc, arena, mps_class_amc(), args) !=
          MPS_RES_OK)
        die("pool creation failed at limit %zu", limit);
    } MPS_ARGS_END(args);
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
      CHECK_RES(mps_pool_create_k(&amcz, arena, mps_class_amcz(), args));
    } MPS_ARGS_END(args);
    CHECK_RES(mps_ap_create_k(&ap, amc, mps_args_none));
    CHECK_RES(mps_ap_create_k(&zap, amcz, mps_args_none));
    roots[0] = roots[1] = NULL;
    CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(), 0,
                                    roots, 2));
    stopped = workload(arena, ap, zap, &allocs);
    if (stopped == 0) {
      if (needed == 0)
        needed = mps_arena_committed(arena);
      verify(NCELLS);
    } else {
      size_t built = roots[1] == NULL ? 0 : tf_id(roots[1]);
      ++failures;
      ++sites[stopped % 2]; /* odd: string site, even: pair site */
      verify(built);
      /* The arena works again once the limit is lifted. */
      CHECK_RES(mps_arena_commit_limit_set(arena, (size_t)1 << 30));
      if (workload(arena, ap, zap, &allocs) != 0)
        die("workload failed after lifting the limit");
      verify(NCELLS);
    }
    mps_arena_park(arena);
    mps_root_destroy(root);
    mps_ap_destroy(zap);
    mps_ap_destroy(ap);
    mps_pool_destroy(amcz);
    mps_pool_destroy(amc);
    mps_fmt_destroy(fmt);
    mps_arena_destroy(arena);
  }
  printf("faults: %lu limits swept, %lu stopped with MPS_RES_COMMIT_LIMIT "
         "(%lu at the string site, %lu at the pair site) and recovered\n",
         step, failures, sites[1], sites[0]);
  if (failures == 0 || sites[0] == 0 || sites[1] == 0)
    die("the sweep never exhausted the limit at both sites");
}

/* Absurd sizes are refused with an error, in every build: an arena size
 * of 2^48 bytes or more (MPS_RES_RESOURCE: the address space cannot be
 * reserved), a grain of 2^42 or more or not a power of two
 * (MPS_RES_PARAM) (log2Size used to shift by 64 and loop forever on
 * SIZE_MAX). */
static void absurd_sizes(void)
{
  static const size_t sizes[] = {SIZE_MAX, SIZE_MAX / 2 + 2, SIZE_MAX / 2 + 1,
                                 (size_t)1 << 48};
  static const size_t grains[] = {SIZE_MAX / 2 + 1, (size_t)1 << 42,
                                  (size_t)3 << 12, 0};
  size_t i;
  for (i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    mps_arena_t a;
    mps_res_t res;
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, sizes[i]);
      res = mps_arena_create_k(&a, mps_arena_class_vm(), args);
    } MPS_ARGS_END(args);
    if (res != MPS_RES_RESOURCE)
      die("an arena of %#zx bytes: result %d, not MPS_RES_RESOURCE",
          sizes[i], (int)res);
  }
  for (i = 0; i < sizeof grains / sizeof grains[0]; ++i) {
    mps_arena_t a;
    mps_res_t res;
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_ARENA_GRAIN_SIZE, grains[i]);
      res = mps_arena_create_k(&a, mps_arena_class_vm(), args);
    } MPS_ARGS_END(args);
    if (res != MPS_RES_PARAM)
      die("an arena grain of %#zx bytes: result %d, not MPS_RES_PARAM",
          grains[i], (int)res);
  }
  printf("faults: absurd arena sizes refused with MPS_RES_RESOURCE, "
         "grains with MPS_RES_PARAM\n");
}

#if defined(MPS_CHECK) && MPS_CHECK

typedef void (*misuse_fn)(void);

static mps_arena_t m_arena;
static mps_pool_t m_pool;
static mps_ap_t m_ap;
static mps_fmt_t m_fmt;

static void setup(void)
{
  CHECK_RES(mps_arena_create_k(&m_arena, mps_arena_class_vm(),
                               mps_args_none));
  test_arena_setup(m_arena);
  tf_fmt_create(&m_fmt, m_arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, m_fmt);
    CHECK_RES(mps_pool_create_k(&m_pool, m_arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&m_ap, m_pool, mps_args_none));
}

static void destroy_pool_with_ap(void)
{
  setup();
  mps_pool_destroy(m_pool);
}

static void commit_unreserved(void)
{
  mps_addr_t p;
  setup();
  CHECK_RES(mps_reserve(&p, m_ap, tf_pair_size()));
  tf_init_pair(p, 1);
  (void)mps_commit(m_ap, p, tf_pair_size());
  /* Never reserved: the AP is trapped by a collection first, so the
   * commit goes to the out-of-line check. */
  CHECK_RES(mps_arena_collect(m_arena));
  (void)mps_commit(m_ap, (char *)p + 64, tf_pair_size());
}

static void unaligned_reserve(void)
{
  mps_addr_t p;
  setup();
  (void)mps_reserve(&p, m_ap, 13);
}

static void thread_root_exact(void)
{
  mps_thr_t thr;
  mps_root_t root;
  void *marker = &marker;
  setup();
  CHECK_RES(mps_thread_reg(&thr, m_arena));
  (void)mps_root_create_thread_tagged(&root, m_arena, mps_rank_exact(), 0,
                                      thr, mps_scan_area_tagged, 7, 0,
                                      marker);
}

/* A scanner that calls back into the collector, as a format method must
 * not. */
static mps_res_t reentrant_scan(mps_ss_t ss, void *p, size_t s)
{
  (void)ss;
  (void)p;
  (void)s;
  (void)mps_arena_committed(m_arena);
  return MPS_RES_OK;
}

static void reenter(void)
{
  mps_root_t root;
  setup();
  (void)tf_make_pair(m_ap, 1, NULL, NULL); /* something to collect */
  CHECK_RES(mps_root_create(&root, m_arena, mps_rank_exact(), 0,
                            reentrant_scan, NULL, 0));
  (void)mps_arena_collect(m_arena);
}

static void mfs_other_size(void)
{
  mps_pool_t mfs;
  mps_addr_t p;
  setup();
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_MFS_UNIT_SIZE, (size_t)64);
    CHECK_RES(mps_pool_create_k(&mfs, m_arena, mps_class_mfs(), args));
  } MPS_ARGS_END(args);
  (void)mps_alloc(&p, mfs, 8);
}

static void expect_assertion(const char *name, misuse_fn f)
{
  int fds[2], status;
  char buf[2048];
  ssize_t got;
  size_t len = 0;
  pid_t pid;
  if (pipe(fds) != 0)
    die("pipe failed");
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid == 0) {
    /* A misuse that hangs (on a re-entered lock, say) instead of failing
     * its assertion ends too, by SIGALRM: the parent reads the pipe to its
     * end, which comes only when the child does. */
    alarm(CHILD_SECONDS);
    close(fds[0]);
    dup2(fds[1], 2);
    f();
    _exit(0); /* not caught */
  }
  close(fds[1]);
  while (len < sizeof buf - 1 &&
         (got = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)got;
  buf[len] = '\0';
  close(fds[0]);
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
    die("misuse '%s' hung instead of failing an assertion (killed after "
        "%u s): %s", name, CHILD_SECONDS, buf);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT ||
      strstr(buf, "MPS assertion failed") == NULL)
    die("misuse '%s' was not caught with a message (status %#x): %s", name,
        status, buf);
  printf("faults: misuse caught: %s: %.*s\n", name,
         (int)strcspn(buf, "\n"), buf);
}

#endif

int main(void)
{
  test_init("faults");
  absurd_sizes();
  sweep();
#if defined(MPS_CHECK) && MPS_CHECK
  expect_assertion("destroying a pool with a live allocation point",
                   destroy_pool_with_ap);
  expect_assertion("committing a block never reserved", commit_unreserved);
  expect_assertion("reserving an unaligned size", unaligned_reserve);
  expect_assertion("a thread root of rank exact", thread_root_exact);
  expect_assertion("re-entering the collector from a scan", reenter);
  expect_assertion("an MFS block of another size than the unit",
                   mfs_other_size);
#else
  printf("faults: misuse checks need the checking build: skipped\n");
#endif
  printf("faults: OK\n");
  return 0;
}
