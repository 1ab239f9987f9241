/* testfmt.c -- test object format and shadow model (see testfmt.h) */

#include "testfmt.h"
#include "testlib.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uintptr_t word;

#define WORD ((size_t)sizeof(word))
#define LOWBITS ((word)7)
#define LOW_FWD1 ((word)1)
#define LOW_PAD1 ((word)2)
#define LOW_OBJ  ((word)3)
#define LOW_ATOM ((word)4)

#define MKTAG(kind, size) (((word)(size) << 16) | ((word)(kind) << 8) | LOW_OBJ)
#define TAG_KIND(t) ((int)(((t) >> 8) & 0xff))
#define TAG_SIZE(t) ((size_t)((t) >> 16))

static size_t hdr = 0;      /* header size H; format methods read it */
static int hdr_set = 0;

unsigned long tf_fwd_count, tf_pad_count, tf_pad1_count, tf_fwd1_count;
unsigned long tf_scan_id_limit;
size_t tf_scanned_below_limit;

static word *base_of(void *p)
{
  return (word *)((char *)p - hdr);
}

size_t tf_header(void)
{
  return hdr;
}

/* Size of the block whose base is b (any valid tag). */
static size_t block_size_at(word *b)
{
  word t = b[0];
  switch (t & LOWBITS) {
  case LOW_FWD1:
  case LOW_PAD1:
  case LOW_ATOM:
    return WORD;
  case LOW_OBJ:
    return TAG_SIZE(t);
  default:
    return 0;
  }
}

mps_res_t tf_scan(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  MPS_SCAN_BEGIN(ss) {
    char *p = base;
    while (p < (char *)limit) {
      word *b = (word *)(p - hdr);
      word t = b[0];
      size_t size;
      if ((t & LOWBITS) == LOW_OBJ) {
        int kind = TAG_KIND(t);
        size = TAG_SIZE(t);
        if (kind == TF_PAIR || kind == TF_VEC) {
          size_t n = (size - 2 * WORD) / WORD;
          mps_addr_t *slot = (mps_addr_t *)&b[2];
          size_t i;
          if (b[1] < tf_scan_id_limit)
            tf_scanned_below_limit += size;
          for (i = 0; i < n; ++i) {
            mps_addr_t r = slot[i];
            mps_res_t res = MPS_FIX12(ss, &r);
            if (res != MPS_RES_OK)
              return res;
            slot[i] = r;
          }
        }
      } else {
        size = WORD;
      }
      p += size;
    }
  } MPS_SCAN_END(ss);
  return MPS_RES_OK;
}

static mps_addr_t tf_skip(mps_addr_t p)
{
  return (char *)p + block_size_at(base_of(p));
}

static void tf_fwd(mps_addr_t old, mps_addr_t new)
{
  word *b = base_of(old);
  size_t size = block_size_at(b);
  ++tf_fwd_count;
  if (size == WORD) {
    ++tf_fwd1_count;
    b[0] = (word)new | LOW_FWD1;
  } else {
    b[0] = MKTAG(TF_FWDN, size);
    b[1] = (word)new;
  }
}

static mps_addr_t tf_isfwd(mps_addr_t p)
{
  word *b = base_of(p);
  word t = b[0];
  if ((t & LOWBITS) == LOW_FWD1)
    return (mps_addr_t)(t & ~LOWBITS);
  if ((t & LOWBITS) == LOW_OBJ && TAG_KIND(t) == TF_FWDN)
    return (mps_addr_t)b[1];
  return NULL;
}

static void tf_pad(mps_addr_t addr, size_t size)
{
  word *b = addr;
  ++tf_pad_count;
  if (size == WORD) {
    ++tf_pad1_count;
    b[0] = LOW_PAD1;
  } else {
    b[0] = MKTAG(TF_PADN, size);
  }
}

void tf_fmt_create(mps_fmt_t *fmt_o, mps_arena_t arena, size_t header)
{
  if (header != 0 && header != WORD)
    die("tf_fmt_create: header size %zu not supported", header);
  if (hdr_set && hdr != header)
    die("tf_fmt_create: header size changed within one process");
  hdr = header;
  hdr_set = 1;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ALIGN, TF_ALIGN);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_HEADER_SIZE, header);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SCAN, tf_scan);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SKIP, tf_skip);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_FWD, tf_fwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ISFWD, tf_isfwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_PAD, tf_pad);
    CHECK_RES(mps_fmt_create_k(fmt_o, arena, args));
  } MPS_ARGS_END(args);
}

size_t tf_pair_size(void) { return 4 * WORD; }
size_t tf_vec_size(size_t n) { return (2 + n) * WORD; }
size_t tf_str_size(size_t nbytes)
{
  if (nbytes % WORD != 0)
    die("tf_str_size: %zu not a multiple of the word size", nbytes);
  return 2 * WORD + nbytes;
}

static unsigned char str_byte(unsigned long id, size_t i)
{
  return (unsigned char)((id * 0x9e37u) + i * 13u + (i >> 8) * 7u + 1u);
}

/* Reserve `size` bytes, let init() build the object, commit; retry if
 * the commit fails (a flip happened while the block was reserved).
 * Returns the reserve's result code if it fails. */
#define ALLOC_LOOP(ap, size, p, init)                           \
  do {                                                          \
    mps_addr_t p_;                                              \
    unsigned long tries_ = 0;                                   \
    do {                                                        \
      mps_res_t res_;                                           \
      if (++tries_ > MAX_COMMIT_TRIES)                          \
        die("mps_commit failed %lu times in a row (livelock)",  \
            MAX_COMMIT_TRIES);                                  \
      res_ = mps_reserve(&p_, (ap), (size));                    \
      if (res_ != MPS_RES_OK)                                   \
        return res_;                                            \
      (p) = (word *)p_;                                         \
      init;                                                     \
    } while (!mps_commit((ap), p_, (size)));                    \
  } while (0)

/* A commit fails only if a flip happened while the block was reserved;
 * the refill that follows should not keep flipping. */
#define MAX_COMMIT_TRIES 1000UL

mps_res_t tf_try_make_pair(void **p_o, mps_ap_t ap, unsigned long id,
                           void *car, void *cdr)
{
  word *b;
  size_t size = tf_pair_size();
  ALLOC_LOOP(ap, size, b, {
      b[0] = MKTAG(TF_PAIR, size);
      b[1] = id;
      b[2] = (word)car;
      b[3] = (word)cdr;
    });
  *p_o = (char *)b + hdr;
  return MPS_RES_OK;
}

mps_res_t tf_try_make_vec(void **p_o, mps_ap_t ap, unsigned long id, size_t n)
{
  word *b;
  size_t size = tf_vec_size(n);
  ALLOC_LOOP(ap, size, b, {
      b[0] = MKTAG(TF_VEC, size);
      b[1] = id;
      memset(&b[2], 0, n * WORD);
    });
  *p_o = (char *)b + hdr;
  return MPS_RES_OK;
}

mps_res_t tf_try_make_str(void **p_o, mps_ap_t ap, unsigned long id,
                          size_t nbytes)
{
  word *b;
  size_t size = tf_str_size(nbytes);
  ALLOC_LOOP(ap, size, b, {
      unsigned char *s = (unsigned char *)&b[2];
      size_t i;
      b[0] = MKTAG(TF_STR, size);
      b[1] = id;
      for (i = 0; i < nbytes; ++i)
        s[i] = str_byte(id, i);
    });
  *p_o = (char *)b + hdr;
  return MPS_RES_OK;
}

mps_res_t tf_try_make_atom(void **p_o, mps_ap_t ap, unsigned long id)
{
  word *b;
  if (hdr != 0)
    die("atoms need header size 0");
  ALLOC_LOOP(ap, WORD, b, { b[0] = ((word)id << 3) | LOW_ATOM; });
  *p_o = b;
  return MPS_RES_OK;
}

void *tf_init_pair(void *base, unsigned long id)
{
  word *b = base;
  b[0] = MKTAG(TF_PAIR, tf_pair_size());
  b[1] = id;
  b[2] = 0;
  b[3] = 0;
  return (char *)b + hdr;
}

void *tf_init_str(void *base, unsigned long id, size_t nbytes)
{
  word *b = base;
  unsigned char *s = (unsigned char *)&b[2];
  size_t i;
  b[0] = MKTAG(TF_STR, tf_str_size(nbytes));
  b[1] = id;
  for (i = 0; i < nbytes; ++i)
    s[i] = str_byte(id, i);
  return (char *)b + hdr;
}

void *tf_make_pair(mps_ap_t ap, unsigned long id, void *car, void *cdr)
{
  void *p;
  CHECK_RES(tf_try_make_pair(&p, ap, id, car, cdr));
  return p;
}

void *tf_make_vec(mps_ap_t ap, unsigned long id, size_t n)
{
  void *p;
  CHECK_RES(tf_try_make_vec(&p, ap, id, n));
  return p;
}

void *tf_make_str(mps_ap_t ap, unsigned long id, size_t nbytes)
{
  void *p;
  CHECK_RES(tf_try_make_str(&p, ap, id, nbytes));
  return p;
}

void *tf_make_atom(mps_ap_t ap, unsigned long id)
{
  void *p;
  CHECK_RES(tf_try_make_atom(&p, ap, id));
  return p;
}

int tf_kind(void *p)
{
  word t = base_of(p)[0];
  switch (t & LOWBITS) {
  case LOW_ATOM: return TF_ATOM;
  case LOW_PAD1: return TF_PAD1;
  case LOW_FWD1: return TF_FWD1;
  case LOW_OBJ: {
    int k = TAG_KIND(t);
    if (k >= TF_PAIR && k <= TF_FWDN && TAG_SIZE(t) >= 2 * WORD)
      return k;
    return -1;
  }
  default: return -1;
  }
}

unsigned long tf_id(void *p)
{
  word *b = base_of(p);
  if ((b[0] & LOWBITS) == LOW_ATOM)
    return (unsigned long)(b[0] >> 3);
  return (unsigned long)b[1];
}

size_t tf_block_size(void *p)
{
  return block_size_at(base_of(p));
}

size_t tf_nrefs(void *p)
{
  int k = tf_kind(p);
  if (k == TF_PAIR || k == TF_VEC)
    return (tf_block_size(p) - 2 * WORD) / WORD;
  return 0;
}

size_t tf_str_bytes(void *p)
{
  return tf_kind(p) == TF_STR ? tf_block_size(p) - 2 * WORD : 0;
}

void *tf_ref(void *p, size_t i)
{
  return (void *)base_of(p)[2 + i];
}

void tf_set_ref(void *p, size_t i, void *q)
{
  base_of(p)[2 + i] = (word)q;
}

void tf_check_obj(void *p, const char *what)
{
  int k;
  if (p == NULL)
    die("%s: NULL object", what);
  if (((word)p & (TF_ALIGN - 1)) != 0)
    die("%s: misaligned object %p", what, p);
  k = tf_kind(p);
  switch (k) {
  case TF_PAIR:
    if (tf_block_size(p) != tf_pair_size())
      die("%s: pair %p has size %zu", what, p, tf_block_size(p));
    break;
  case TF_VEC:
  case TF_ATOM:
    break;
  case TF_STR: {
    unsigned long id = tf_id(p);
    size_t n = tf_str_bytes(p), i;
    unsigned char *s = (unsigned char *)&base_of(p)[2];
    for (i = 0; i < n; ++i)
      if (s[i] != str_byte(id, i))
        die("%s: string %p id %lu byte %zu is %u, expected %u", what, p, id,
            i, s[i], str_byte(id, i));
    break;
  }
  case TF_FWD1:
  case TF_FWDN:
    die("%s: mutator sees forwarding marker at %p (tag %#lx)", what, p,
        (unsigned long)base_of(p)[0]);
  case TF_PAD1:
  case TF_PADN:
    die("%s: mutator sees pad at %p (tag %#lx)", what, p,
        (unsigned long)base_of(p)[0]);
  default:
    die("%s: bad tag %#lx at %p", what, (unsigned long)base_of(p)[0], p);
  }
}

/* ---- shadow model ---- */

void tfm_init(tf_model *m, unsigned long first_id, unsigned long stride)
{
  memset(m, 0, sizeof *m);
  m->next_id = first_id;
  m->id_stride = stride == 0 ? 1 : stride;
  m->epoch = 1;
}

static void node_free(tf_node *s)
{
  free(s->kids);
  free(s);
}

void tfm_finish(tf_model *m)
{
  size_t i;
  for (i = 0; i < m->count; ++i)
    node_free(m->nodes[i]);
  free(m->nodes);
  free(m->stack);
  free(m->hstack);
  memset(m, 0, sizeof *m);
}

tf_node *tfm_new(tf_model *m, int kind, size_t n)
{
  tf_node *s = calloc(1, sizeof *s);
  if (s == NULL)
    die("out of memory (shadow node)");
  s->id = m->next_id;
  m->next_id += m->id_stride;
  s->kind = kind;
  s->n = n;
  if ((kind == TF_PAIR || kind == TF_VEC) && n > 0) {
    s->kids = calloc(n, sizeof *s->kids);
    if (s->kids == NULL)
      die("out of memory (shadow kids)");
  }
  if (m->count == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 1024;
    m->nodes = realloc(m->nodes, m->cap * sizeof *m->nodes);
    if (m->nodes == NULL)
      die("out of memory (shadow table)");
  }
  m->nodes[m->count++] = s;
  return s;
}

void *tfm_alloc(tf_model *m, mps_ap_t ap, int kind, size_t n, tf_node **s_o)
{
  tf_node *s = tfm_new(m, kind, kind == TF_PAIR ? 2 : n);
  void *p;
  switch (kind) {
  case TF_PAIR: p = tf_make_pair(ap, s->id, NULL, NULL); break;
  case TF_VEC: p = tf_make_vec(ap, s->id, n); break;
  case TF_STR: p = tf_make_str(ap, s->id, n); break;
  case TF_ATOM: p = tf_make_atom(ap, s->id); break;
  default: die("tfm_alloc: bad kind %d", kind);
  }
  *s_o = s;
  return p;
}

void tfm_link(void *p, tf_node *s, size_t i, void *q, tf_node *t)
{
  if (i >= s->n || (s->kind != TF_PAIR && s->kind != TF_VEC))
    die("tfm_link: bad slot %zu of node %lu", i, s->id);
  tf_set_ref(p, i, q);
  s->kids[i] = t;
}

void tfm_verify_begin(tf_model *m)
{
  ++m->epoch;
  m->seen = 0;
}

static void push(tf_model *m, void *p, tf_node *s)
{
  if (m->sp == m->scap) {
    m->scap = m->scap ? 2 * m->scap : 4096;
    m->stack = realloc(m->stack, m->scap * sizeof *m->stack);
    m->hstack = realloc(m->hstack, m->scap * sizeof *m->hstack);
    if (m->stack == NULL || m->hstack == NULL)
      die("out of memory (walk stack)");
  }
  m->stack[m->sp] = s;
  m->hstack[m->sp] = p;
  ++m->sp;
}

void tfm_verify_roots(tf_model *m, void **roots, tf_node **sroots, size_t n,
                      const char *what)
{
  size_t r;
  for (r = 0; r < n; ++r) {
    m->sp = 0;
    push(m, roots[r], sroots[r]);
    while (m->sp > 0) {
      void *p;
      tf_node *s;
      size_t i;
      --m->sp;
      p = m->hstack[m->sp];
      s = m->stack[m->sp];
      if (s == NULL) {
        if (p != NULL)
          die("%s[%zu]: model says NULL, heap has %p (tag %#lx)", what, r, p,
              (unsigned long)base_of(p)[0]);
        continue;
      }
      if (p == NULL)
        die("%s[%zu]: heap reference to object %lu is NULL", what, r, s->id);
      if (s->mark == m->epoch) {
        if (s->addr != p)
          die("%s[%zu]: object %lu reached at %p and at %p", what, r, s->id,
              s->addr, p);
        continue;
      }
      tf_check_obj(p, what);
      if (tf_kind(p) != s->kind)
        die("%s[%zu]: object %lu at %p has kind %d, expected %d", what, r,
            s->id, p, tf_kind(p), s->kind);
      if (tf_id(p) != s->id)
        die("%s[%zu]: object at %p has id %lu, expected %lu (kind %d)", what,
            r, p, tf_id(p), s->id, s->kind);
      if (s->kind == TF_PAIR || s->kind == TF_VEC) {
        if (tf_nrefs(p) != s->n)
          die("%s[%zu]: object %lu has %zu slots, expected %zu", what, r,
              s->id, tf_nrefs(p), s->n);
      } else if (s->kind == TF_STR && tf_str_bytes(p) != s->n) {
        die("%s[%zu]: string %lu has %zu bytes, expected %zu", what, r, s->id,
            tf_str_bytes(p), s->n);
      }
      s->mark = m->epoch;
      s->addr = p;
      ++m->seen;
      if (s->kind == TF_PAIR || s->kind == TF_VEC)
        for (i = 0; i < s->n; ++i)
          push(m, tf_ref(p, i), s->kids[i]);
    }
  }
}

size_t tfm_verify_end(tf_model *m)
{
  size_t i, j = 0;
  for (i = 0; i < m->count; ++i) {
    tf_node *s = m->nodes[i];
    if (s->mark == m->epoch)
      m->nodes[j++] = s;
    else
      node_free(s);
  }
  m->count = j;
  return m->seen;
}

/* ---- additions for the Tier 2 pool tests ---- */

void tf_fmt_create_methods(mps_fmt_t *fmt_o, mps_arena_t arena, size_t header,
                           unsigned methods)
{
  if (header != 0 && header != WORD)
    die("tf_fmt_create_methods: header size %zu not supported", header);
  if (hdr_set && hdr != header)
    die("tf_fmt_create_methods: header size changed within one process");
  hdr = header;
  hdr_set = 1;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ALIGN, TF_ALIGN);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_HEADER_SIZE, header);
    if (methods & TF_M_SCAN)
      MPS_ARGS_ADD(args, MPS_KEY_FMT_SCAN, tf_scan);
    if (methods & TF_M_SKIP)
      MPS_ARGS_ADD(args, MPS_KEY_FMT_SKIP, tf_skip);
    if (methods & TF_M_FWD)
      MPS_ARGS_ADD(args, MPS_KEY_FMT_FWD, tf_fwd);
    if (methods & TF_M_ISFWD)
      MPS_ARGS_ADD(args, MPS_KEY_FMT_ISFWD, tf_isfwd);
    if (methods & TF_M_PAD)
      MPS_ARGS_ADD(args, MPS_KEY_FMT_PAD, tf_pad);
    CHECK_RES(mps_fmt_create_k(fmt_o, arena, args));
  } MPS_ARGS_END(args);
}

mps_addr_t tf_skip_method(mps_addr_t p)
{
  return tf_skip(p);
}

size_t tfm_check_homes(tf_model *m, const char *what)
{
  size_t i, n = 0;
  for (i = 0; i < m->count; ++i) {
    tf_node *s = m->nodes[i];
    if (s->home == 0 || s->mark != m->epoch)
      continue;
    if ((uintptr_t)s->addr != s->home)
      die("%s: object %lu (kind %d) in a non-moving pool moved from %p to %p",
          what, s->id, s->kind, (void *)s->home, s->addr);
    ++n;
  }
  return n;
}
