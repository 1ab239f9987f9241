/* testfmt.h -- a test object format and a shadow model of the heap
 *
 * OBJECTS.  Every block starts (at its base) with one tag word.  The
 * low three bits of the tag say how to read it:
 *
 *   ...001  one-word forwarding marker; the new client pointer is
 *           tag & ~7 (client pointers are 8-aligned)
 *   ...010  one-word pad
 *   ...100  atom: a one-word leaf object whose id is tag >> 3
 *           (only with header size 0: objects must be longer than H)
 *   ...011  anything else: tag = size << 16 | kind << 8 | 3, where
 *           size is the block size in bytes and kind one of TF_PAIR,
 *           TF_VEC, TF_STR (objects), TF_PADN (pad), TF_FWDN (marker,
 *           new client pointer in the second word)
 *
 * Objects: pair = [tag][id][ref][ref], vector = [tag][id][n refs],
 * string = [tag][id][bytes derived from the id], atom = [id<<3|4].
 * With header size H (0 or 8) the client pointer is base + H, so with
 * H = 8 the tag is an in-band header and the client sees [id]...
 *
 * Exact references in objects are client pointers or NULL.
 *
 * MODEL.  A tf_model keeps, in malloc'd memory outside the MPS, a
 * shadow node per object (id, kind, expected children as shadow
 * nodes).  The test mutates heap and shadow together; tfm_verify()
 * walks the heap from the given roots alongside the shadow roots and
 * dies at the first disagreement (bad tag, wrong id, wrong child,
 * string contents changed, one shadow node seen at two addresses).
 * The walk must run while nothing can move objects: park the arena or
 * make sure no MPS call happens during it.
 */

#ifndef TESTFMT_H
#define TESTFMT_H

#include <stddef.h>
#include <stdint.h>

#include "mps.h"

enum { TF_PAIR = 1, TF_VEC = 2, TF_STR = 3, TF_PADN = 4, TF_FWDN = 5,
       TF_ATOM = 16, TF_PAD1 = 17, TF_FWD1 = 18 };

#define TF_ALIGN ((size_t)8)

/* Format with header size 0 or 8.  All formats of one process must use
 * the same header size (it is a global of the format code). */
void tf_fmt_create(mps_fmt_t *fmt_o, mps_arena_t arena, size_t header);
size_t tf_header(void);

/* The format's scan method (also usable with mps_root_create_fmt). */
mps_res_t tf_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit);

/* Counts of format method calls (not thread-safe counters; for
 * plausibility only). */
extern unsigned long tf_fwd_count, tf_pad_count, tf_pad1_count,
  tf_fwd1_count;

/* Bytes of pairs and vectors with ids below tf_scan_id_limit that the
 * scan method has scanned (0 by default: nothing counted).  The
 * collector's look-ahead pass calls the scan method too (objects up to
 * 16 KiB, DESIGN.md#prefetch), so such objects may count twice. */
extern unsigned long tf_scan_id_limit;
extern size_t tf_scanned_below_limit;

/* Block sizes. */
size_t tf_pair_size(void);
size_t tf_vec_size(size_t n);
size_t tf_str_size(size_t nbytes);   /* nbytes a multiple of 8 */

/* Allocate with the reserve/commit loop.  Children of a pair are
 * stored during initialisation (the caller must keep them alive, e.g.
 * on a scanned stack or in a root).  Vector slots start NULL. */
void *tf_make_pair(mps_ap_t ap, unsigned long id, void *car, void *cdr);
void *tf_make_vec(mps_ap_t ap, unsigned long id, size_t n);
void *tf_make_str(mps_ap_t ap, unsigned long id, size_t nbytes);
void *tf_make_atom(mps_ap_t ap, unsigned long id);

/* The same, returning the reserve's result code instead of dying; *p_o
 * is written only on success. */
mps_res_t tf_try_make_pair(void **p_o, mps_ap_t ap, unsigned long id,
                           void *car, void *cdr);
mps_res_t tf_try_make_vec(void **p_o, mps_ap_t ap, unsigned long id,
                          size_t n);
mps_res_t tf_try_make_str(void **p_o, mps_ap_t ap, unsigned long id,
                          size_t nbytes);
mps_res_t tf_try_make_atom(void **p_o, mps_ap_t ap, unsigned long id);

/* Build an object in a block reserved by the caller (base pointer);
 * return its client pointer.  For hand-written reserve/commit loops. */
void *tf_init_pair(void *base, unsigned long id);   /* fields NULL */
void *tf_init_str(void *base, unsigned long id, size_t nbytes);

/* Accessors on client pointers. */
int tf_kind(void *p);                     /* TF_PAIR .. TF_ATOM, or -1 */
unsigned long tf_id(void *p);
size_t tf_nrefs(void *p);                 /* 2 for pairs, n for vectors */
void *tf_ref(void *p, size_t i);
void tf_set_ref(void *p, size_t i, void *q);
size_t tf_block_size(void *p);
size_t tf_str_bytes(void *p);

/* Check the tag is that of a live object and, for strings, that the
 * contents are what tf_make_str wrote.  Dies with `what` otherwise. */
void tf_check_obj(void *p, const char *what);

/* ---- shadow model ---- */

typedef struct tf_node tf_node;
struct tf_node {
  unsigned long id;
  int kind;
  size_t n;                 /* refs (pair 2, vec n) or string bytes */
  tf_node **kids;           /* n entries for pairs and vectors */
  unsigned long mark;       /* walk epoch in which it was last seen */
  void *addr;               /* heap address in that walk */
  uintptr_t home;           /* 0, or the address the object must keep
                               (non-moving pools; see tfm_check_homes) */
};

typedef struct tf_model {
  tf_node **nodes;
  size_t count, cap;
  unsigned long epoch;
  unsigned long next_id;    /* ids handed out: next_id, next_id+stride.. */
  unsigned long id_stride;
  size_t seen;              /* objects visited in the current walk */
  tf_node **stack;          /* explicit walk stack (shadow side) */
  void **hstack;            /* explicit walk stack (heap side) */
  size_t sp, scap;
} tf_model;

/* first_id distinguishes models whose ids must not collide. */
void tfm_init(tf_model *m, unsigned long first_id, unsigned long stride);
void tfm_finish(tf_model *m);

/* Make a shadow node for a new object (children NULL). */
tf_node *tfm_new(tf_model *m, int kind, size_t n);

/* Allocate heap object + shadow node together; returns heap pointer and
 * sets *s_o.  Pairs and vectors start with all slots NULL. */
void *tfm_alloc(tf_model *m, mps_ap_t ap, int kind, size_t n, tf_node **s_o);

/* Link slot i of (p, s) to (q, t) in heap and model. */
void tfm_link(void *p, tf_node *s, size_t i, void *q, tf_node *t);

/* Verification: begin, walk one or more root sets, end (which frees the
 * shadow nodes not seen: they are unreachable in the model). */
void tfm_verify_begin(tf_model *m);
void tfm_verify_roots(tf_model *m, void **roots, tf_node **sroots,
                      size_t n, const char *what);
size_t tfm_verify_end(tf_model *m);

/* ---- additions for the Tier 2 pool tests (ams, awl, lo, walk, mixed) ---- */

/* Which format methods tf_fmt_create_methods passes (the others are
 * left out of the keyword list, so the format lacks them). */
enum { TF_M_SCAN = 1, TF_M_SKIP = 2, TF_M_FWD = 4, TF_M_ISFWD = 8,
       TF_M_PAD = 16, TF_M_ALL = 31 };

/* Like tf_fmt_create, with only the chosen methods (e.g. TF_M_SCAN |
 * TF_M_SKIP for AMS and AWL, TF_M_SKIP for LO).  Same header rule. */
void tf_fmt_create_methods(mps_fmt_t *fmt_o, mps_arena_t arena, size_t header,
                           unsigned methods);

/* The format's skip method (client pointer in, next client pointer out),
 * for tests that walk areas themselves. */
mps_addr_t tf_skip_method(mps_addr_t p);

/* After tfm_verify_end: die if a node with a non-zero home was seen in
 * the last walk at another address.  Returns the number of homed nodes
 * checked. */
size_t tfm_check_homes(tf_model *m, const char *what);

#endif /* TESTFMT_H */
