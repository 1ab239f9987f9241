/* roots.c -- every kind of root
 *
 * Each sub-test registers one root (created empty, registered, then
 * filled), runs collections with churn in between, and checks that the
 * referents are alive and intact and that the root's words were updated
 * the way its kind promises:
 *
 *   area + mps_scan_area               exact refs updated on move
 *   area + mps_scan_area_masked        low tag bits kept, pointer updated
 *   area + mps_scan_area_tagged        refs with the pattern updated and
 *                                      keep their tag; other words untouched
 *   area + mps_scan_area_tagged_or_zero  tagged and untagged refs updated
 *   mps_root_create_area_tagged        as tagged
 *   mps_root_create_table              exact refs updated (mode MPS_RM_PROT
 *                                      accepted and ignored)
 *   mps_root_create_table_masked       untagged refs updated, tagged
 *                                      integers untouched
 *   mps_root_create (scan function)    refs in a C linked list updated
 *   mps_root_create_fmt                formatted objects outside the arena
 *   weak area root                     updated on move, NULL once dead
 *   thread root, _scanned/mps_scan_area  a misaligned interior pointer on
 *                                      the stack keeps and pins its object
 *   thread root, _tagged (mask 7, pattern 1)  a tagged stack word keeps
 *                                      and pins its object
 *
 * Apart from the two thread-root sub-tests, the stack is not a root, so
 * referents held only by the root under test are free to move.
 */

#include "testlib.h"
#include "testfmt.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscamc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uintptr_t word;

#define N 24
#define MASK ((word)7)

static mps_arena_t arena;
static mps_ap_t amc_ap, amcz_ap;
static mps_thr_t thr;
static void *cold;
static void *junk[8];              /* exact table root for churn */
static unsigned long next_id = 1;

/* words[] of the root under test, ids expected, addresses at fill time */
static word words[N];
static unsigned long wid[N];
static word waddr[N];

static void churn(size_t bytes)
{
  size_t done = 0;
  while (done < bytes) {
    void *p = tf_make_vec(amc_ap, next_id++, rnd_below(16));
    done += tf_block_size(p);
    junk[rnd_below(8)] = p;
  }
}

/* Collections with churn between; leaves the arena released. */
static void shake(void)
{
  int i;
  for (i = 0; i < 3; ++i) {
    churn(128 << 10);
    CHECK_RES(mps_arena_collect(arena));
    mps_arena_release(arena);
  }
}

static void check_obj_id(void *p, unsigned long id, const char *what,
                         size_t i)
{
  char buf[120];
  snprintf(buf, sizeof buf, "%s[%zu]", what, i);
  tf_check_obj(p, buf);
  if (tf_id(p) != id)
    die("%s: object has id %lu, expected %lu", buf, tf_id(p), id);
}

/* A new pair (or, every third, an AMCZ string), stored at words[i] with
 * the given tag.  (Nothing else refers to it.) */
static void fill(size_t i, word tag)
{
  void *p;
  wid[i] = next_id++;
  if (i % 3 == 2)
    p = tf_make_str(amcz_ap, wid[i], 32);
  else
    p = tf_make_pair(amc_ap, wid[i], NULL, NULL);
  words[i] = (word)p | tag;
  waddr[i] = (word)p;
}

/* Words at positions with ref[i] set must be refs with tag tag[i]; the
 * rest must still equal their original value. */
static size_t check_words(const char *what, const int *is_ref,
                          const word *tag, const word *orig)
{
  size_t i, moved = 0;
  for (i = 0; i < N; ++i) {
    if (is_ref[i]) {
      if ((words[i] & MASK) != tag[i])
        die("%s[%zu]: tag %lu became %lu", what, i, (unsigned long)tag[i],
            (unsigned long)(words[i] & MASK));
      check_obj_id((void *)(words[i] & ~MASK), wid[i], what, i);
      if ((words[i] & ~MASK) != waddr[i])
        ++moved;
    } else if (words[i] != orig[i]) {
      die("%s[%zu]: non-reference word %#lx changed to %#lx", what, i,
          (unsigned long)orig[i], (unsigned long)words[i]);
    }
  }
  return moved;
}

static void need_moves(const char *what, size_t moved)
{
  printf("roots: %-28s ok, %zu referents moved\n", what, moved);
  if (moved == 0)
    die("%s: no referent moved in 3 collections; the test is vacuous", what);
}

/* Layout kinds for an area of words. */
enum { ALL_REFS, TAGGED_AND_INTS, TAGGED_UNTAGGED_INTS, UNTAGGED_AND_INTS,
       LOW_BITS_ANY };

/* Fill words[] per layout; is_ref/tag/orig describe it. */
static void layout(int kind, int *is_ref, word *tag, word *orig)
{
  size_t i;
  for (i = 0; i < N; ++i) {
    is_ref[i] = 0;
    tag[i] = 0;
    words[i] = 0;
  }
  for (i = 0; i < N; ++i) {
    switch (kind) {
    case ALL_REFS:
      if (i % 7 == 6) {
        words[i] = 0;                    /* NULL */
      } else {
        is_ref[i] = 1;
      }
      break;
    case LOW_BITS_ANY:                   /* every word a ref, any low bits */
      is_ref[i] = 1;
      tag[i] = (word)(i & MASK);
      break;
    case TAGGED_AND_INTS:                /* p|1, and integers tagged 2..7 or 0 */
      if (i == 1) {
        words[i] = 1;                    /* a tagged NULL: must stay 1 */
      } else if (i % 2 == 0) {
        is_ref[i] = 1;
        tag[i] = 1;
      } else {
        words[i] = ((word)(i * 1000) << 3) | (word)(i % 4 == 1 ? 2 : 6);
      }
      break;
    case TAGGED_UNTAGGED_INTS:           /* p|1, p, integers tagged 2..7 */
      if (i % 3 != 2) {
        is_ref[i] = 1;
        tag[i] = i % 3 == 0 ? 1 : 0;
      } else {
        words[i] = ((word)(i * 77) << 3) | (word)(2 + i % 6);
      }
      break;
    case UNTAGGED_AND_INTS:              /* p, and integers with low bits */
      if (i % 2 == 0) {
        is_ref[i] = 1;
      } else {
        words[i] = ((word)(i * 5) << 3) | (word)(1 + i % 7);
      }
      break;
    }
  }
  for (i = 0; i < N; ++i)
    if (is_ref[i])
      fill(i, tag[i]);
  memcpy(orig, words, sizeof words);
}

static void area_test(const char *what, int kind, mps_area_scan_t scan,
                      void *closure, int use_area_tagged, word mask,
                      word pattern)
{
  int is_ref[N];
  word tag[N], orig[N];
  mps_root_t root;
  memset(words, 0, sizeof words);
  if (use_area_tagged)
    CHECK_RES(mps_root_create_area_tagged(&root, arena, mps_rank_exact(), 0,
                                          words, words + N, scan, mask,
                                          pattern));
  else
    CHECK_RES(mps_root_create_area(&root, arena, mps_rank_exact(), 0, words,
                                   words + N, scan, closure));
  layout(kind, is_ref, tag, orig);
  shake();
  need_moves(what, check_words(what, is_ref, tag, orig));
  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_arena_release(arena);
}

static void test_tables(void)
{
  int is_ref[N];
  word tag[N], orig[N];
  mps_root_t root;

  memset(words, 0, sizeof words);
  CHECK_RES(mps_root_create_table(&root, arena, mps_rank_exact(),
                                  MPS_RM_PROT, (mps_addr_t *)words, N));
  layout(ALL_REFS, is_ref, tag, orig);
  shake();
  need_moves("table", check_words("table", is_ref, tag, orig));
  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_arena_release(arena);

  memset(words, 0, sizeof words);
  CHECK_RES(mps_root_create_table_masked(&root, arena, mps_rank_exact(), 0,
                                         (mps_addr_t *)words, N, MASK));
  layout(UNTAGGED_AND_INTS, is_ref, tag, orig);
  shake();
  need_moves("table_masked", check_words("table_masked", is_ref, tag, orig));
  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_arena_release(arena);
}

/* mps_root_create: a C linked list of cells holding references. */
typedef struct cell {
  struct cell *next;
  void *ref;
  unsigned long id;
  word addr;
} cell;

static mps_res_t scan_cells(mps_ss_t ss, void *p, size_t s)
{
  cell *c;
  if (s != 1000)                  /* the (p, s) given at creation */
    return MPS_RES_FAIL;
  MPS_SCAN_BEGIN(ss) {
    for (c = *(cell **)p; c != NULL; c = c->next) {
      mps_res_t res = MPS_FIX12(ss, &c->ref);
      if (res != MPS_RES_OK)
        return res;
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static void test_scan_fn(void)
{
  cell *head = NULL, *c;
  mps_root_t root;
  size_t i, moved = 0;
  CHECK_RES(mps_root_create(&root, arena, mps_rank_exact(), 0, scan_cells,
                            &head, 1000));
  for (i = 0; i < N; ++i) {
    c = calloc(1, sizeof *c);
    if (c == NULL)
      die("out of memory");
    c->next = head;
    head = c;                       /* linked (ref NULL) before filling */
    c->id = next_id++;
    c->ref = tf_make_pair(amc_ap, c->id, NULL, NULL);
    c->addr = (word)c->ref;
  }
  shake();
  for (c = head, i = 0; c != NULL; c = c->next, ++i) {
    check_obj_id(c->ref, c->id, "scan-function root", i);
    moved += (word)c->ref != c->addr;
  }
  need_moves("mps_root_create", moved);
  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_arena_release(arena);
  while (head != NULL) {
    c = head->next;
    free(head);
    head = c;
  }
}

/* mps_root_create_fmt: formatted objects in malloc'd memory. */
static void test_fmt(void)
{
  enum { NP = 6 };
  size_t psize = tf_pair_size(), ssize = tf_str_size(16);
  size_t total = NP * psize + ssize;
  char *block = aligned_alloc(16, total);
  void *pairs[NP];
  unsigned long ids[NP][2];
  word addrs[NP];
  mps_root_t root;
  size_t i, moved = 0;

  if (block == NULL)
    die("out of memory");
  for (i = 0; i < NP; ++i)
    pairs[i] = tf_init_pair(block + i * psize, 500000 + i);
  (void)tf_init_str(block + NP * psize, 600000, 16);
  CHECK_RES(mps_root_create_fmt(&root, arena, mps_rank_exact(), 0, tf_scan,
                                block, block + total));
  for (i = 0; i < NP; ++i) {
    ids[i][0] = next_id++;
    tf_set_ref(pairs[i], 0, tf_make_pair(amc_ap, ids[i][0], NULL, NULL));
    addrs[i] = (word)tf_ref(pairs[i], 0);
    ids[i][1] = next_id++;
    tf_set_ref(pairs[i], 1, tf_make_str(amcz_ap, ids[i][1], 24));
  }
  shake();
  for (i = 0; i < NP; ++i) {
    check_obj_id(pairs[i], 500000 + i, "fmt root object", i);
    check_obj_id(tf_ref(pairs[i], 0), ids[i][0], "fmt root car", i);
    check_obj_id(tf_ref(pairs[i], 1), ids[i][1], "fmt root cdr", i);
    moved += (word)tf_ref(pairs[i], 0) != addrs[i];
  }
  tf_check_obj(block + NP * psize, "fmt root string");
  need_moves("mps_root_create_fmt", moved);
  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_arena_release(arena);
  free(block);
}

/* Weak area root: follows moves, splatted when the target dies. */
static void test_weak(void)
{
  static void *weak[N];
  static void *strong[N];
  mps_root_t wroot, sroot;
  unsigned long ids[N];
  size_t i, moved = 0, cleared = 0;
  int k;

  CHECK_RES(mps_root_create_area(&wroot, arena, mps_rank_weak(), 0, weak,
                                 weak + N, mps_scan_area, NULL));
  CHECK_RES(mps_root_create_table(&sroot, arena, mps_rank_exact(), 0,
                                  strong, N));
  for (i = 0; i < N; ++i) {
    ids[i] = next_id++;
    strong[i] = tf_make_pair(amc_ap, ids[i], NULL, NULL);
    weak[i] = strong[i];
    waddr[i] = (word)strong[i];
  }
  shake();
  for (i = 0; i < N; ++i) {
    if (weak[i] != strong[i])
      die("weak root[%zu] = %p, but the object is at %p", i, weak[i],
          strong[i]);
    check_obj_id(strong[i], ids[i], "weakly referenced object", i);
    moved += (word)strong[i] != waddr[i];
  }
  need_moves("weak area (alive)", moved);
  /* drop the strong references to the odd ones */
  for (i = 1; i < N; i += 2)
    strong[i] = NULL;
  for (k = 0; k < 3; ++k) {
    churn(64 << 10);
    CHECK_RES(mps_arena_collect(arena));
  }
  for (i = 0; i < N; ++i) {
    if (i % 2 == 0) {
      if (weak[i] != strong[i])
        die("weak root[%zu] lost a live object", i);
    } else {
      if (weak[i] != NULL)
        die("weak root[%zu] not cleared after its object died (%p)", i,
            weak[i]);
      ++cleared;
    }
  }
  printf("roots: %-28s ok, %zu cleared\n", "weak area (dead)", cleared);
  mps_root_destroy(sroot);
  mps_root_destroy(wroot);
  mps_arena_release(arena);
}

/* Thread roots.  The objects are referenced only from held[], in this
 * frame, in the form the root recognises. */
static __attribute__((noinline)) void test_thread(int tagged)
{
  volatile word one = 1;      /* an integer that looks like a tagged NULL */
  volatile word held[4];
  unsigned long ids[4];
  word addr[4];
  mps_root_t root;
  const char *what = tagged ? "thread root (tagged)" : "thread root (scanned)";
  size_t i;

  for (i = 0; i < 4; ++i)
    held[i] = 0;
  if (tagged)
    CHECK_RES(mps_root_create_thread_tagged(&root, arena, mps_rank_ambig(), 0,
                                            thr, mps_scan_area_tagged, MASK,
                                            1, cold));
  else
    CHECK_RES(mps_root_create_thread_scanned(&root, arena, mps_rank_ambig(),
                                             0, thr, mps_scan_area, NULL,
                                             cold));
  for (i = 0; i < 4; ++i) {
    void *p;
    ids[i] = next_id++;
    p = tf_make_vec(amc_ap, ids[i], 4);
    addr[i] = (word)p;
    /* tagged: p|1; scanned: an interior pointer with odd low bits */
    held[i] = tagged ? (word)p | 1 : (word)p + 8 + 3;
  }
  stack_scrub();
  shake();
  for (i = 0; i < 4; ++i) {
    word w = held[i];
    void *p = (void *)(tagged ? w & ~MASK : w - 8 - 3);
    if ((word)p != addr[i])
      die("%s: held word changed", what);
    check_obj_id(p, ids[i], what, i);
  }
  if (one != 1)
    die("%s: the stack word 1 (tag 1, i.e. a tagged NULL) was rewritten to "
        "%lu by the ambiguous thread scan", what, (unsigned long)one);
  printf("roots: %-28s ok, objects kept in place\n", what);
  mps_arena_park(arena);
  mps_root_destroy(root);
  mps_arena_release(arena);
}

int main(void)
{
  mps_fmt_t fmt;
  mps_pool_t amc, amcz;
  mps_root_t junk_root;
  void *marker = &marker;
  mps_scan_tag_s tag_masked = { MASK, 0 };
  mps_scan_tag_s tag_1 = { MASK, 1 };

  test_init("roots");
  cold = marker;
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  test_arena_setup(arena);
  tf_fmt_create(&fmt, arena, 0);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amc, arena, mps_class_amc(), args));
  } MPS_ARGS_END(args);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
    CHECK_RES(mps_pool_create_k(&amcz, arena, mps_class_amcz(), args));
  } MPS_ARGS_END(args);
  CHECK_RES(mps_ap_create_k(&amc_ap, amc, mps_args_none));
  CHECK_RES(mps_ap_create_k(&amcz_ap, amcz, mps_args_none));
  CHECK_RES(mps_root_create_table(&junk_root, arena, mps_rank_exact(), 0,
                                  junk, 8));
  CHECK_RES(mps_thread_reg(&thr, arena));

  area_test("area scan_area", ALL_REFS, mps_scan_area, NULL, 0, 0, 0);
  area_test("area scan_area_masked", LOW_BITS_ANY, mps_scan_area_masked,
            &tag_masked, 0, 0, 0);
  area_test("area scan_area_tagged", TAGGED_AND_INTS, mps_scan_area_tagged,
            &tag_1, 0, 0, 0);
  area_test("area scan_area_tagged_or_zero", TAGGED_UNTAGGED_INTS,
            mps_scan_area_tagged_or_zero, &tag_1, 0, 0, 0);
  area_test("root_create_area_tagged", TAGGED_AND_INTS, mps_scan_area_tagged,
            NULL, 1, MASK, 1);
  test_tables();
  test_scan_fn();
  test_fmt();
  test_weak();
  test_thread(0);
  test_thread(1);

  mps_arena_park(arena);
  mps_thread_dereg(thr);
  mps_root_destroy(junk_root);
  mps_ap_destroy(amcz_ap);
  mps_ap_destroy(amc_ap);
  mps_pool_destroy(amcz);
  mps_pool_destroy(amc);
  mps_fmt_destroy(fmt);
  mps_arena_destroy(arena);
  printf("roots: OK\n");
  return 0;
}
