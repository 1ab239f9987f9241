/* mps.h: public C interface of the memory manager
 *
 * This header declares the interface of the Memory Pool System (MPS) as
 * described in the project's mps-interface.md: the same type, function,
 * macro and keyword names, result codes and structure layouts, so that a
 * C program written for the MPS compiles against it unchanged and a
 * binding generated from it links against either this implementation or
 * an installed MPS.  It is this project's own text, written from that
 * specification.
 *
 * Layout of this file:
 *   1. basic types and opaque handles
 *   2. result codes and other constants
 *   3. keyword arguments (mps_arg_s, the keys, MPS_ARGS_*)
 *   4. transparent structures whose layout is ABI
 *   5. function declarations, grouped by topic
 *   6. inline fast paths: allocation points, scanning, caches
 *
 * Identifiers beginning "_mps_" are private to the implementation, but
 * some must exist under exactly these names because the public macros
 * expand to them.
 */

#ifndef mps_h
#define mps_h

#include <stddef.h>   /* size_t */
#include <stdarg.h>   /* va_list, for the deprecated _v creators */
#include <limits.h>   /* CHAR_BIT, for the zone arithmetic of MPS_FIX1 */

/* Compiler (and, where needed, processor) fences used by mps_commit;
 * see section 6.1 below.  Defined outside the extern "C" block because
 * one variant includes a system header. */
#if defined(__GNUC__) || defined(__clang__)
#if defined(__x86_64__) || defined(__i386__)
#define _mps_commit_fence_before() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#else
#define _mps_commit_fence_before() \
  (__atomic_signal_fence(__ATOMIC_SEQ_CST), \
   __atomic_thread_fence(__ATOMIC_RELEASE))
#endif
#define _mps_commit_fence_after() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#elif defined(_MSC_VER)
#include <intrin.h>
#define _mps_commit_fence_before() _ReadWriteBarrier()
#define _mps_commit_fence_after() _ReadWriteBarrier()
#else
#error "mps.h: no compiler barrier known for this compiler (see mps_commit)"
#endif


#ifdef __cplusplus
extern "C" {
#endif


/* 1. BASIC TYPES AND OPAQUE HANDLES */

/* A machine word: wide enough to hold any address as an integer. */
typedef unsigned long mps_word_t;

typedef int mps_bool_t;            /* 0 is false, anything else true */
typedef int mps_res_t;             /* result code, see MPS_RES_* */
typedef void *mps_addr_t;          /* an address managed (or not) by the MPS */
typedef size_t mps_align_t;        /* an alignment: a positive power of two */
typedef unsigned mps_rm_t;         /* root mode: OR of MPS_RM_* */
typedef unsigned mps_rank_t;       /* reference rank, see mps_rank_*() */
typedef unsigned mps_message_type_t;
typedef mps_word_t mps_clock_t;    /* processor time, see mpslib.h */
typedef mps_word_t mps_label_t;    /* telemetry label */
typedef void (*mps_fun_t)(void);   /* a function of unspecified type */

/* Handles to objects whose contents are private to the implementation. */
typedef struct mps_arena_s *mps_arena_t;
typedef struct mps_arena_class_s *mps_arena_class_t;
typedef struct mps_pool_s *mps_pool_t;
typedef struct mps_pool_class_s *mps_pool_class_t;
typedef mps_pool_class_t mps_class_t;      /* deprecated alias */
typedef struct mps_chain_s *mps_chain_t;
typedef struct mps_fmt_s *mps_fmt_t;
typedef struct mps_root_s *mps_root_t;
typedef struct mps_thr_s *mps_thr_t;
typedef struct mps_message_s *mps_message_t;
typedef struct mps_alloc_pattern_s *mps_alloc_pattern_t;
typedef struct mps_frame_s *mps_frame_t;
typedef struct mps_transform_s *mps_transform_t;

/* A keyword.  The structure is private (defined by the implementation);
 * clients only ever use the addresses named by the MPS_KEY_* macros. */
typedef const struct mps_key_s *mps_key_t;

/* Handles to structures whose first fields are public (section 4). */
typedef struct mps_ap_s *mps_ap_t;
typedef struct mps_ss_s *mps_ss_t;
typedef struct mps_ld_s *mps_ld_t;
typedef struct _mps_sac_s *mps_sac_t;


/* 2. RESULT CODES AND OTHER CONSTANTS */

/* Result codes, in their fixed order; MPS_RES_OK is zero.
 *
 * _mps_RES_ENUM(R, X) expands to R(X, IDENT, "description") once per code,
 * in order, where MPS_RES_IDENT is the code's name: client code passes
 * its own R to build tables of names or messages, e.g.
 *
 *   #define NAME_ROW(prefix, ident, doc) case prefix##ident: return #ident;
 *   switch (res) { _mps_RES_ENUM(NAME_ROW, MPS_RES_) }
 */
#define _mps_RES_ENUM(R, X)                                               \
  R(X, OK, "success")                                                     \
  R(X, FAIL, "failure not covered by another code")                       \
  R(X, RESOURCE, "a resource (such as address space) ran out")            \
  R(X, MEMORY, "memory could not be obtained")                            \
  R(X, LIMIT, "an internal limit was reached")                            \
  R(X, UNIMPL, "the operation is not implemented")                        \
  R(X, IO, "input/output error")                                          \
  R(X, COMMIT_LIMIT, "the arena's commit limit would be exceeded")        \
  R(X, PARAM, "an invalid parameter was passed")

#define _mps_ENUM_DEF_ROW(prefix, ident, doc) prefix##ident,
enum {
  _mps_RES_ENUM(_mps_ENUM_DEF_ROW, MPS_RES_)
  _mps_MPS_RES_LIMIT      /* private: one more than the last code */
};

/* Message types.  The public names are macros so that they are integer
 * constant expressions, usable as case labels. */
enum {
  _mps_MESSAGE_TYPE_FINALIZATION,   /* 0: a registered block may die */
  _mps_MESSAGE_TYPE_GC,             /* 1: a collection finished */
  _mps_MESSAGE_TYPE_GC_START        /* 2: a collection started */
};

#define mps_message_type_finalization() \
  ((mps_message_type_t)_mps_MESSAGE_TYPE_FINALIZATION)
#define mps_message_type_gc() \
  ((mps_message_type_t)_mps_MESSAGE_TYPE_GC)
#define mps_message_type_gc_start() \
  ((mps_message_type_t)_mps_MESSAGE_TYPE_GC_START)

/* Root modes.  They have no effect but are accepted.  PROT_INNER has the
 * same value as PROT on purpose (see the specification, section 7.4). */
#define MPS_RM_CONST      (((mps_rm_t)1) << 0)   /* deprecated */
#define MPS_RM_PROT       (((mps_rm_t)1) << 1)
#define MPS_RM_PROT_INNER (((mps_rm_t)1) << 1)

/* Statement brackets for multi-statement macros. */
#define MPS_BEGIN do {
#define MPS_END } while(0)

/* Number of size classes mps_sac_create is guaranteed to accept. */
#define MPS_SAC_CLASS_LIMIT 8


/* 3. KEYWORD ARGUMENTS */

/* Methods of an object format (see mps_fmt_create_k). */
typedef mps_res_t (*mps_fmt_scan_t)(mps_ss_t ss, mps_addr_t base,
                                    mps_addr_t limit);
typedef mps_addr_t (*mps_fmt_skip_t)(mps_addr_t addr);
typedef void (*mps_fmt_copy_t)(mps_addr_t old, mps_addr_t new_);  /* unused */
typedef void (*mps_fmt_fwd_t)(mps_addr_t old, mps_addr_t new_);
typedef mps_addr_t (*mps_fmt_isfwd_t)(mps_addr_t addr);
typedef void (*mps_fmt_pad_t)(mps_addr_t addr, size_t size);
typedef mps_addr_t (*mps_fmt_class_t)(mps_addr_t addr);

struct mps_pool_debug_option_s;

/* One keyword argument.  The union member names are part of the
 * interface: MPS_ARGS_ADD selects them through MPS_KEY_xxx_FIELD. */
typedef struct mps_arg_s {
  mps_key_t key;
  union {
    mps_bool_t b;
    char c;
    const char *string;
    int i;
    unsigned u;
    long l;
    unsigned long ul;
    float f;
    double d;
    size_t size;
    mps_fun_t fun;
    mps_addr_t addr;
    mps_fmt_t format;
    mps_chain_t chain;
    struct mps_pool_debug_option_s *pool_debug_options;
    mps_addr_t (*addr_method)(mps_addr_t);
    mps_align_t align;
    mps_word_t count;
    void *p;
    mps_rank_t rank;
    mps_fmt_scan_t fmt_scan;
    mps_fmt_skip_t fmt_skip;
    mps_fmt_fwd_t fmt_fwd;
    mps_fmt_isfwd_t fmt_isfwd;
    mps_fmt_pad_t fmt_pad;
    mps_fmt_class_t fmt_class;
    mps_pool_t pool;
  } val;
} mps_arg_s;

/* Capacity of a list built by MPS_ARGS_BEGIN, terminator included. */
#define MPS_ARGS_MAX 32

/* An empty argument list.  Shared by everyone: nothing ever writes it. */
extern mps_arg_s mps_args_none[];

/* Store a key into slot i of a list built by MPS_ARGS_BEGIN; checks that
 * i is within MPS_ARGS_MAX. */
extern void _mps_args_set_key(mps_arg_s args[MPS_ARGS_MAX], unsigned i,
                              mps_key_t key);

/* The keys.  Each is the address of a private constant object; its
 * companion _FIELD macro names the union member that carries the value. */

extern const struct mps_key_s _mps_key_ARGS_END;
#define MPS_KEY_ARGS_END (&_mps_key_ARGS_END)

/* Arenas */
extern const struct mps_key_s _mps_key_ARENA_SIZE;
#define MPS_KEY_ARENA_SIZE (&_mps_key_ARENA_SIZE)
#define MPS_KEY_ARENA_SIZE_FIELD size
extern const struct mps_key_s _mps_key_ARENA_GRAIN_SIZE;
#define MPS_KEY_ARENA_GRAIN_SIZE (&_mps_key_ARENA_GRAIN_SIZE)
#define MPS_KEY_ARENA_GRAIN_SIZE_FIELD size
extern const struct mps_key_s _mps_key_ARENA_ZONED;
#define MPS_KEY_ARENA_ZONED (&_mps_key_ARENA_ZONED)
#define MPS_KEY_ARENA_ZONED_FIELD b
extern const struct mps_key_s _mps_key_arena_extended;
#define MPS_KEY_ARENA_EXTENDED (&_mps_key_arena_extended)
#define MPS_KEY_ARENA_EXTENDED_FIELD fun
extern const struct mps_key_s _mps_key_arena_contracted;
#define MPS_KEY_ARENA_CONTRACTED (&_mps_key_arena_contracted)
#define MPS_KEY_ARENA_CONTRACTED_FIELD fun
extern const struct mps_key_s _mps_key_ARENA_CL_BASE;   /* mpsacl.h */
#define MPS_KEY_ARENA_CL_BASE (&_mps_key_ARENA_CL_BASE)
#define MPS_KEY_ARENA_CL_BASE_FIELD addr
extern const struct mps_key_s _mps_key_COMMIT_LIMIT;
#define MPS_KEY_COMMIT_LIMIT (&_mps_key_COMMIT_LIMIT)
#define MPS_KEY_COMMIT_LIMIT_FIELD size
extern const struct mps_key_s _mps_key_SPARE_COMMIT_LIMIT;  /* deprecated */
#define MPS_KEY_SPARE_COMMIT_LIMIT (&_mps_key_SPARE_COMMIT_LIMIT)
#define MPS_KEY_SPARE_COMMIT_LIMIT_FIELD size
extern const struct mps_key_s _mps_key_SPARE;
#define MPS_KEY_SPARE (&_mps_key_SPARE)
#define MPS_KEY_SPARE_FIELD d
extern const struct mps_key_s _mps_key_PAUSE_TIME;
#define MPS_KEY_PAUSE_TIME (&_mps_key_PAUSE_TIME)
#define MPS_KEY_PAUSE_TIME_FIELD d
extern const struct mps_key_s _mps_key_VMW3_TOP_DOWN;   /* Windows only */
#define MPS_KEY_VMW3_TOP_DOWN (&_mps_key_VMW3_TOP_DOWN)
#define MPS_KEY_VMW3_TOP_DOWN_FIELD b

/* Pools (generic and class-specific) */
extern const struct mps_key_s _mps_key_FORMAT;
#define MPS_KEY_FORMAT (&_mps_key_FORMAT)
#define MPS_KEY_FORMAT_FIELD format
extern const struct mps_key_s _mps_key_CHAIN;
#define MPS_KEY_CHAIN (&_mps_key_CHAIN)
#define MPS_KEY_CHAIN_FIELD chain
extern const struct mps_key_s _mps_key_GEN;
#define MPS_KEY_GEN (&_mps_key_GEN)
#define MPS_KEY_GEN_FIELD u
extern const struct mps_key_s _mps_key_RANK;
#define MPS_KEY_RANK (&_mps_key_RANK)
#define MPS_KEY_RANK_FIELD rank
extern const struct mps_key_s _mps_key_INTERIOR;
#define MPS_KEY_INTERIOR (&_mps_key_INTERIOR)
#define MPS_KEY_INTERIOR_FIELD b
/* Accepted by mps_arena_create_k and mps_ap_create_k and ignored: the
 * allocations of an allocation point are not logged (DESIGN.md#telemetry). */
extern const struct mps_key_s _mps_key_AP_LOGGED;
#define MPS_KEY_AP_LOGGED (&_mps_key_AP_LOGGED)
#define MPS_KEY_AP_LOGGED_FIELD b
extern const struct mps_key_s _mps_key_EXTEND_BY;
#define MPS_KEY_EXTEND_BY (&_mps_key_EXTEND_BY)
#define MPS_KEY_EXTEND_BY_FIELD size
extern const struct mps_key_s _mps_key_LARGE_SIZE;
#define MPS_KEY_LARGE_SIZE (&_mps_key_LARGE_SIZE)
#define MPS_KEY_LARGE_SIZE_FIELD size
extern const struct mps_key_s _mps_key_MIN_SIZE;
#define MPS_KEY_MIN_SIZE (&_mps_key_MIN_SIZE)
#define MPS_KEY_MIN_SIZE_FIELD size
extern const struct mps_key_s _mps_key_MEAN_SIZE;
#define MPS_KEY_MEAN_SIZE (&_mps_key_MEAN_SIZE)
#define MPS_KEY_MEAN_SIZE_FIELD size
extern const struct mps_key_s _mps_key_MAX_SIZE;
#define MPS_KEY_MAX_SIZE (&_mps_key_MAX_SIZE)
#define MPS_KEY_MAX_SIZE_FIELD size
extern const struct mps_key_s _mps_key_ALIGN;
#define MPS_KEY_ALIGN (&_mps_key_ALIGN)
#define MPS_KEY_ALIGN_FIELD align
extern const struct mps_key_s _mps_key_ap_hash_arrays;
#define MPS_KEY_AP_HASH_ARRAYS (&_mps_key_ap_hash_arrays)
#define MPS_KEY_AP_HASH_ARRAYS_FIELD b
extern const struct mps_key_s _mps_key_POOL_DEBUG_OPTIONS;
#define MPS_KEY_POOL_DEBUG_OPTIONS (&_mps_key_POOL_DEBUG_OPTIONS)
#define MPS_KEY_POOL_DEBUG_OPTIONS_FIELD pool_debug_options
extern const struct mps_key_s _mps_key_AMS_SUPPORT_AMBIGUOUS;  /* mpscams.h */
#define MPS_KEY_AMS_SUPPORT_AMBIGUOUS (&_mps_key_AMS_SUPPORT_AMBIGUOUS)
#define MPS_KEY_AMS_SUPPORT_AMBIGUOUS_FIELD b
extern const struct mps_key_s _mps_key_AWL_FIND_DEPENDENT;    /* mpscawl.h */
#define MPS_KEY_AWL_FIND_DEPENDENT (&_mps_key_AWL_FIND_DEPENDENT)
#define MPS_KEY_AWL_FIND_DEPENDENT_FIELD addr_method
extern const struct mps_key_s _mps_key_MVFF_SLOT_HIGH;        /* mpscmvff.h */
#define MPS_KEY_MVFF_SLOT_HIGH (&_mps_key_MVFF_SLOT_HIGH)
#define MPS_KEY_MVFF_SLOT_HIGH_FIELD b
extern const struct mps_key_s _mps_key_MVFF_ARENA_HIGH;
#define MPS_KEY_MVFF_ARENA_HIGH (&_mps_key_MVFF_ARENA_HIGH)
#define MPS_KEY_MVFF_ARENA_HIGH_FIELD b
extern const struct mps_key_s _mps_key_MVFF_FIRST_FIT;
#define MPS_KEY_MVFF_FIRST_FIT (&_mps_key_MVFF_FIRST_FIT)
#define MPS_KEY_MVFF_FIRST_FIT_FIELD b
extern const struct mps_key_s _mps_key_MFS_UNIT_SIZE;         /* mpscmfs.h */
#define MPS_KEY_MFS_UNIT_SIZE (&_mps_key_MFS_UNIT_SIZE)
#define MPS_KEY_MFS_UNIT_SIZE_FIELD size
extern const struct mps_key_s _mps_key_MVT_RESERVE_DEPTH;     /* mpscmvt.h */
#define MPS_KEY_MVT_RESERVE_DEPTH (&_mps_key_MVT_RESERVE_DEPTH)
#define MPS_KEY_MVT_RESERVE_DEPTH_FIELD count
extern const struct mps_key_s _mps_key_MVT_FRAG_LIMIT;
#define MPS_KEY_MVT_FRAG_LIMIT (&_mps_key_MVT_FRAG_LIMIT)
#define MPS_KEY_MVT_FRAG_LIMIT_FIELD d

/* Formats */
extern const struct mps_key_s _mps_key_FMT_ALIGN;
#define MPS_KEY_FMT_ALIGN (&_mps_key_FMT_ALIGN)
#define MPS_KEY_FMT_ALIGN_FIELD align
extern const struct mps_key_s _mps_key_FMT_HEADER_SIZE;
#define MPS_KEY_FMT_HEADER_SIZE (&_mps_key_FMT_HEADER_SIZE)
#define MPS_KEY_FMT_HEADER_SIZE_FIELD size
extern const struct mps_key_s _mps_key_FMT_SCAN;
#define MPS_KEY_FMT_SCAN (&_mps_key_FMT_SCAN)
#define MPS_KEY_FMT_SCAN_FIELD fmt_scan
extern const struct mps_key_s _mps_key_FMT_SKIP;
#define MPS_KEY_FMT_SKIP (&_mps_key_FMT_SKIP)
#define MPS_KEY_FMT_SKIP_FIELD fmt_skip
extern const struct mps_key_s _mps_key_FMT_FWD;
#define MPS_KEY_FMT_FWD (&_mps_key_FMT_FWD)
#define MPS_KEY_FMT_FWD_FIELD fmt_fwd
extern const struct mps_key_s _mps_key_FMT_ISFWD;
#define MPS_KEY_FMT_ISFWD (&_mps_key_FMT_ISFWD)
#define MPS_KEY_FMT_ISFWD_FIELD fmt_isfwd
extern const struct mps_key_s _mps_key_FMT_PAD;
#define MPS_KEY_FMT_PAD (&_mps_key_FMT_PAD)
#define MPS_KEY_FMT_PAD_FIELD fmt_pad
extern const struct mps_key_s _mps_key_FMT_CLASS;
#define MPS_KEY_FMT_CLASS (&_mps_key_FMT_CLASS)
#define MPS_KEY_FMT_CLASS_FIELD fmt_class

/* Building a list on the stack:
 *
 *   MPS_ARGS_BEGIN(args) {
 *     MPS_ARGS_ADD(args, MPS_KEY_FORMAT, fmt);
 *     res = mps_pool_create_k(&pool, arena, mps_class_amc(), args);
 *   } MPS_ARGS_END(args);
 *
 * BEGIN declares the array "args" and its fill counter "args_i" and
 * terminates the empty list; each ADD fills the next slot and moves the
 * terminator after it.  The blocks nest, given distinct names. */

#define MPS_ARGS_BEGIN(_var)                                              \
  MPS_BEGIN                                                               \
    mps_arg_s _var[MPS_ARGS_MAX];                                         \
    unsigned _var##_i = 0;                                                \
    _mps_args_set_key(_var, _var##_i, MPS_KEY_ARGS_END);                  \
    MPS_BEGIN

#define MPS_ARGS_ADD_FIELD(_var, _key, _field, _val)                      \
  MPS_BEGIN                                                               \
    _mps_args_set_key(_var, _var##_i, _key);                              \
    _var[_var##_i].val._field = (_val);                                   \
    ++_var##_i;                                                           \
    _mps_args_set_key(_var, _var##_i, MPS_KEY_ARGS_END);                  \
  MPS_END

#define MPS_ARGS_ADD(_var, _key, _val)                                    \
  MPS_ARGS_ADD_FIELD(_var, _key, _key##_FIELD, _val)

/* Deprecated and no longer needed: re-terminates the list and fills the
 * counter so that any further MPS_ARGS_ADD fails its bound check. */
#define MPS_ARGS_DONE(_var)                                               \
  MPS_BEGIN                                                               \
    _mps_args_set_key(_var, _var##_i, MPS_KEY_ARGS_END);                  \
    _var##_i = MPS_ARGS_MAX;                                              \
  MPS_END

#define MPS_ARGS_END(_var)                                                \
    MPS_END;                                                              \
  MPS_END


/* 4. TRANSPARENT STRUCTURES (layouts are ABI; sizes for LP64) */

/* Allocation point: the inline reserve/commit protocol reads and writes
 * these three fields (24 bytes).  Invariant while attached:
 * base <= init <= alloc <= limit; limit == 0 means "trapped". */
typedef struct mps_ap_s {
  mps_addr_t init;    /* end of the committed (initialised) objects */
  mps_addr_t alloc;   /* end of the reserved space */
  mps_addr_t limit;   /* end of the buffer, or 0 when trapped */
} mps_ap_s;

/* Scan state: the public prefix of the collector's scanning context,
 * read and written by the MPS_SCAN_* and MPS_FIX* macros (24 bytes). */
typedef struct mps_ss_s {
  mps_word_t _zs;     /* zone shift */
  mps_word_t _w;      /* white set: zones that hold condemned memory */
  mps_word_t _ufs;    /* union of the zones of all references seen */
} mps_ss_s;

/* Location dependency (16 bytes); contents private to the MPS. */
typedef struct mps_ld_s {
  mps_word_t _epoch;
  mps_word_t _rs;
} mps_ld_s;

/* One generation of a chain (16 bytes). */
typedef struct mps_gen_param_s {
  size_t mps_capacity;     /* in kilobytes */
  double mps_mortality;    /* initial estimate, 0.0 .. 1.0 */
} mps_gen_param_s;

/* Closure of the tagged area scanners (16 bytes). */
typedef struct mps_scan_tag_s {
  mps_word_t mask;
  mps_word_t pattern;
} mps_scan_tag_s, *mps_scan_tag_t;

/* Deprecated format descriptions; field order is ABI. */
typedef struct mps_fmt_A_s {          /* 56 bytes */
  mps_align_t align;
  mps_fmt_scan_t scan;
  mps_fmt_skip_t skip;
  mps_fmt_copy_t copy;
  mps_fmt_fwd_t fwd;
  mps_fmt_isfwd_t isfwd;
  mps_fmt_pad_t pad;
} mps_fmt_A_s;

typedef struct mps_fmt_B_s {          /* 64 bytes */
  mps_align_t align;
  mps_fmt_scan_t scan;
  mps_fmt_skip_t skip;
  mps_fmt_copy_t copy;
  mps_fmt_fwd_t fwd;
  mps_fmt_isfwd_t isfwd;
  mps_fmt_pad_t pad;
  mps_fmt_class_t mps_class;
} mps_fmt_B_s;

typedef struct mps_fmt_auto_header_s {  /* 56 bytes, mps_headerSize @48 */
  mps_align_t align;
  mps_fmt_scan_t scan;
  mps_fmt_skip_t skip;
  mps_fmt_fwd_t fwd;
  mps_fmt_isfwd_t isfwd;
  mps_fmt_pad_t pad;
  size_t mps_headerSize;
} mps_fmt_auto_header_s;

typedef struct mps_fmt_fixed_s {      /* 40 bytes */
  mps_align_t align;
  mps_fmt_scan_t scan;
  mps_fmt_fwd_t fwd;
  mps_fmt_isfwd_t isfwd;
  mps_fmt_pad_t pad;
} mps_fmt_fixed_s;

/* Options of the debugging pool classes (32 bytes). */
typedef struct mps_pool_debug_option_s {
  const void *fence_template;
  size_t fence_size;
  const void *free_template;
  size_t free_size;
} mps_pool_debug_option_s;

/* One size class of a segregated allocation cache (24 bytes). */
typedef struct mps_sac_class_s {
  size_t mps_block_size;
  size_t mps_cached_count;
  unsigned mps_frequency;
} mps_sac_class_s;

#define mps_sac_classes_s mps_sac_class_s   /* old name */

/* Segregated allocation cache (528 bytes).  The MPS_SAC_*_FAST macros
 * work on these fields directly; the implementation (mps_sac_create,
 * mps_sac_fill, mps_sac_empty) must keep them in this form:
 *
 *   _freelists[0 .. n-1] describe the n size classes in increasing order
 *     of _size (the largest block size of the class).  _blocks heads a
 *     singly linked list of _count free blocks, linked through their
 *     first word; the fast free path adds to it only while
 *     _count < _count_max.  Unused entries may hold anything.
 *   _middle is the _size of the largest class, n-1.  A request larger
 *     than that is "overlarge" and always goes to the library.
 *   _trapped, when true, sends every request to the library.
 *
 * So the fast paths look for the first class with _size >= size, which
 * exists whenever size <= _middle. */
typedef struct _mps_sac_freelist_block_s {
  size_t _size;        /* largest block size in this class */
  size_t _count;       /* number of blocks on the list */
  size_t _count_max;   /* the fast path caches at most this many */
  mps_addr_t _blocks;  /* first free block, or NULL */
} _mps_sac_freelist_block_s;

typedef struct _mps_sac_s {
  size_t _middle;
  mps_bool_t _trapped;
  _mps_sac_freelist_block_s _freelists[2 * MPS_SAC_CLASS_LIMIT];
} _mps_sac_s;


/* 5. FUNCTIONS */

/* Callback types used below. */
typedef mps_res_t (*mps_area_scan_t)(mps_ss_t ss, void *base, void *limit,
                                     void *closure);
typedef mps_res_t (*mps_root_scan_t)(mps_ss_t ss, void *p, size_t s);
typedef mps_res_t (*mps_reg_scan_t)(mps_ss_t ss, mps_thr_t thr, void *p,
                                    size_t s);                /* deprecated */
typedef void (*mps_arena_extended_t)(mps_arena_t arena, void *base,
                                     size_t size);
typedef void (*mps_arena_contracted_t)(mps_arena_t arena, void *base,
                                       size_t size);
typedef void (*mps_formatted_objects_stepper_t)(mps_addr_t addr,
                                                mps_fmt_t fmt,
                                                mps_pool_t pool,
                                                void *p, size_t s);
typedef void (*mps_roots_stepper_t)(mps_addr_t *ref, mps_root_t root,
                                    void *p, size_t s);

/* Arenas: creation and collector control */
extern mps_res_t mps_arena_create_k(mps_arena_t *arena_o,
                                    mps_arena_class_t arena_class,
                                    mps_arg_s args[]);
extern mps_res_t mps_arena_create(mps_arena_t *arena_o,
                                  mps_arena_class_t arena_class, ...);
extern mps_res_t mps_arena_create_v(mps_arena_t *arena_o,
                                    mps_arena_class_t arena_class,
                                    va_list args);
extern void mps_arena_destroy(mps_arena_t arena);
extern void mps_arena_clamp(mps_arena_t arena);
extern void mps_arena_park(mps_arena_t arena);
extern void mps_arena_release(mps_arena_t arena);
extern mps_res_t mps_arena_collect(mps_arena_t arena);
extern mps_res_t mps_arena_start_collect(mps_arena_t arena);
extern mps_bool_t mps_arena_step(mps_arena_t arena, double interval,
                                 double multiplier);
extern void mps_arena_postmortem(mps_arena_t arena);
extern mps_bool_t mps_arena_busy(mps_arena_t arena);
extern mps_res_t mps_arena_extend(mps_arena_t arena, mps_addr_t base,
                                  size_t size);
#if 0
/* Declared by the MPS but never implemented. */
extern mps_res_t mps_arena_retract(mps_arena_t arena, mps_addr_t base,
                                   size_t size);
#endif

/* Arenas: introspection and tuning */
extern size_t mps_arena_committed(mps_arena_t arena);
extern size_t mps_arena_reserved(mps_arena_t arena);
extern size_t mps_arena_spare_committed(mps_arena_t arena);
extern size_t mps_arena_commit_limit(mps_arena_t arena);
extern mps_res_t mps_arena_commit_limit_set(mps_arena_t arena, size_t limit);
extern double mps_arena_spare(mps_arena_t arena);
extern void mps_arena_spare_set(mps_arena_t arena, double spare);
extern size_t mps_arena_spare_commit_limit(mps_arena_t arena);  /* deprecated */
extern void mps_arena_spare_commit_limit_set(mps_arena_t arena,
                                             size_t limit);     /* deprecated */
extern double mps_arena_pause_time(mps_arena_t arena);
extern void mps_arena_pause_time_set(mps_arena_t arena, double pause_time);
extern mps_bool_t mps_arena_has_addr(mps_arena_t arena, mps_addr_t addr);
extern mps_bool_t mps_addr_pool(mps_pool_t *pool_o, mps_arena_t arena,
                                mps_addr_t addr);
extern mps_bool_t mps_addr_fmt(mps_fmt_t *fmt_o, mps_arena_t arena,
                               mps_addr_t addr);
extern mps_res_t mps_addr_object(mps_addr_t *p_o, mps_arena_t arena,
                                 mps_addr_t addr);
extern mps_word_t mps_collections(mps_arena_t arena);

/* Walking */
extern void mps_arena_formatted_objects_walk(mps_arena_t arena,
                                             mps_formatted_objects_stepper_t f,
                                             void *p, size_t s);
extern void mps_arena_roots_walk(mps_arena_t arena, mps_roots_stepper_t f,
                                 void *p, size_t s);
extern mps_res_t mps_pool_walk(mps_pool_t pool, mps_area_scan_t scan_area,
                               void *closure);

/* Object formats */
extern mps_res_t mps_fmt_create_k(mps_fmt_t *fmt_o, mps_arena_t arena,
                                  mps_arg_s args[]);
extern mps_res_t mps_fmt_create_A(mps_fmt_t *fmt_o, mps_arena_t arena,
                                  mps_fmt_A_s *fmt_A);
extern mps_res_t mps_fmt_create_B(mps_fmt_t *fmt_o, mps_arena_t arena,
                                  mps_fmt_B_s *fmt_B);
extern mps_res_t mps_fmt_create_auto_header(mps_fmt_t *fmt_o,
                                            mps_arena_t arena,
                                            mps_fmt_auto_header_s *fmt_ah);
extern mps_res_t mps_fmt_create_fixed(mps_fmt_t *fmt_o, mps_arena_t arena,
                                      mps_fmt_fixed_s *fmt_fixed);
extern void mps_fmt_destroy(mps_fmt_t fmt);

/* Pools */
extern mps_res_t mps_pool_create_k(mps_pool_t *pool_o, mps_arena_t arena,
                                   mps_pool_class_t pool_class,
                                   mps_arg_s args[]);
extern mps_res_t mps_pool_create(mps_pool_t *pool_o, mps_arena_t arena,
                                 mps_pool_class_t pool_class, ...);
extern mps_res_t mps_pool_create_v(mps_pool_t *pool_o, mps_arena_t arena,
                                   mps_pool_class_t pool_class,
                                   va_list args);
extern void mps_pool_destroy(mps_pool_t pool);
extern size_t mps_pool_total_size(mps_pool_t pool);
extern size_t mps_pool_free_size(mps_pool_t pool);
extern void mps_pool_check_fenceposts(mps_pool_t pool);
extern void mps_pool_check_free_space(mps_pool_t pool);

/* Manual allocation */
extern mps_res_t mps_alloc(mps_addr_t *p_o, mps_pool_t pool, size_t size);
extern void mps_free(mps_pool_t pool, mps_addr_t p, size_t size);

/* Allocation points.  mps_reserve, mps_commit, mps_ap_frame_push and
 * mps_ap_frame_pop are also macros (section 6); the parentheses stop the
 * macros from expanding here, and the library exports real functions. */
extern mps_res_t mps_ap_create_k(mps_ap_t *ap_o, mps_pool_t pool,
                                 mps_arg_s args[]);
extern mps_res_t mps_ap_create(mps_ap_t *ap_o, mps_pool_t pool, ...);
extern mps_res_t mps_ap_create_v(mps_ap_t *ap_o, mps_pool_t pool,
                                 va_list args);
extern void mps_ap_destroy(mps_ap_t ap);
extern mps_res_t (mps_reserve)(mps_addr_t *p_o, mps_ap_t ap, size_t size);
extern mps_bool_t (mps_commit)(mps_ap_t ap, mps_addr_t p, size_t size);
extern mps_res_t mps_ap_fill(mps_addr_t *p_o, mps_ap_t ap, size_t size);
extern mps_bool_t mps_ap_trip(mps_ap_t ap, mps_addr_t p, size_t size);

/* Allocation frames (meaningful in SNC only) */
extern mps_res_t (mps_ap_frame_push)(mps_frame_t *frame_o, mps_ap_t ap);
extern mps_res_t (mps_ap_frame_pop)(mps_ap_t ap, mps_frame_t frame);

/* Allocation patterns */
extern mps_alloc_pattern_t mps_alloc_pattern_ramp(void);
extern mps_alloc_pattern_t mps_alloc_pattern_ramp_collect_all(void);
extern mps_res_t mps_ap_alloc_pattern_begin(mps_ap_t ap,
                                            mps_alloc_pattern_t pattern);
extern mps_res_t mps_ap_alloc_pattern_end(mps_ap_t ap,
                                          mps_alloc_pattern_t pattern);
extern mps_res_t mps_ap_alloc_pattern_reset(mps_ap_t ap);

/* Segregated allocation caches (fast paths in section 6) */
extern mps_res_t mps_sac_create(mps_sac_t *sac_o, mps_pool_t pool,
                                size_t classes_count,
                                mps_sac_class_s *classes);
extern void mps_sac_destroy(mps_sac_t sac);
extern mps_res_t mps_sac_alloc(mps_addr_t *p_o, mps_sac_t sac, size_t size,
                               mps_bool_t unused);
extern void mps_sac_free(mps_sac_t sac, mps_addr_t p, size_t size);
extern void mps_sac_flush(mps_sac_t sac);
/* Slow paths of MPS_SAC_ALLOC_FAST and MPS_SAC_FREE_FAST. */
extern mps_res_t mps_sac_fill(mps_addr_t *p_o, mps_sac_t sac, size_t size,
                              mps_bool_t unused);
extern void mps_sac_empty(mps_sac_t sac, mps_addr_t p, size_t size);

/* Generation chains */
extern mps_res_t mps_chain_create(mps_chain_t *chain_o, mps_arena_t arena,
                                  size_t gen_count,
                                  mps_gen_param_s *gen_params);
extern void mps_chain_destroy(mps_chain_t chain);

/* Ranks (0, 1 and 3; 2 is the private "final" rank) */
extern mps_rank_t mps_rank_ambig(void);
extern mps_rank_t mps_rank_exact(void);
extern mps_rank_t mps_rank_weak(void);

/* Roots */
extern mps_res_t mps_root_create(mps_root_t *root_o, mps_arena_t arena,
                                 mps_rank_t rank, mps_rm_t mode,
                                 mps_root_scan_t root_scan,
                                 void *p, size_t s);
extern mps_res_t mps_root_create_area(mps_root_t *root_o, mps_arena_t arena,
                                      mps_rank_t rank, mps_rm_t mode,
                                      void *base, void *limit,
                                      mps_area_scan_t scan_area,
                                      void *closure);
extern mps_res_t mps_root_create_area_tagged(mps_root_t *root_o,
                                             mps_arena_t arena,
                                             mps_rank_t rank, mps_rm_t mode,
                                             void *base, void *limit,
                                             mps_area_scan_t scan_area,
                                             mps_word_t mask,
                                             mps_word_t pattern);
extern mps_res_t mps_root_create_table(mps_root_t *root_o, mps_arena_t arena,
                                       mps_rank_t rank, mps_rm_t mode,
                                       mps_addr_t *base, size_t count);
extern mps_res_t mps_root_create_table_masked(mps_root_t *root_o,
                                              mps_arena_t arena,
                                              mps_rank_t rank, mps_rm_t mode,
                                              mps_addr_t *base, size_t count,
                                              mps_word_t mask);
extern mps_res_t mps_root_create_table_tagged(mps_root_t *root_o,
                                              mps_arena_t arena,
                                              mps_rank_t rank, mps_rm_t mode,
                                              mps_addr_t *base, size_t count,
                                              mps_area_scan_t scan_area,
                                              mps_word_t mask,
                                              mps_word_t pattern);
extern mps_res_t mps_root_create_fmt(mps_root_t *root_o, mps_arena_t arena,
                                     mps_rank_t rank, mps_rm_t mode,
                                     mps_fmt_scan_t fmt_scan,
                                     mps_addr_t base, mps_addr_t limit);
extern mps_res_t mps_root_create_thread(mps_root_t *root_o, mps_arena_t arena,
                                        mps_thr_t thr, void *cold);
extern mps_res_t mps_root_create_thread_tagged(mps_root_t *root_o,
                                               mps_arena_t arena,
                                               mps_rank_t rank, mps_rm_t mode,
                                               mps_thr_t thr,
                                               mps_area_scan_t scan_area,
                                               mps_word_t mask,
                                               mps_word_t pattern,
                                               void *cold);
extern mps_res_t mps_root_create_thread_scanned(mps_root_t *root_o,
                                                mps_arena_t arena,
                                                mps_rank_t rank,
                                                mps_rm_t mode,
                                                mps_thr_t thr,
                                                mps_area_scan_t scan_area,
                                                void *closure,
                                                void *cold);
extern mps_res_t mps_root_create_reg(mps_root_t *root_o, mps_arena_t arena,
                                     mps_rank_t rank, mps_rm_t mode,
                                     mps_thr_t thr, mps_reg_scan_t reg_scan,
                                     void *p, size_t s);      /* deprecated */
extern mps_res_t mps_stack_scan_ambig(mps_ss_t ss, mps_thr_t thr,
                                      void *p, size_t s);     /* deprecated */
extern void mps_root_destroy(mps_root_t root);

/* Area scanners, usable as format or root scanning helpers */
extern mps_res_t mps_scan_area(mps_ss_t ss, void *base, void *limit,
                               void *closure);
extern mps_res_t mps_scan_area_masked(mps_ss_t ss, void *base, void *limit,
                                      void *closure);
extern mps_res_t mps_scan_area_tagged(mps_ss_t ss, void *base, void *limit,
                                      void *closure);
extern mps_res_t mps_scan_area_tagged_or_zero(mps_ss_t ss, void *base,
                                              void *limit, void *closure);

/* The out-of-line half of MPS_FIX2 / MPS_FIX12. */
extern mps_res_t _mps_fix2(mps_ss_t ss, mps_addr_t *ref_io);

/* Threads */
extern mps_res_t mps_thread_reg(mps_thr_t *thr_o, mps_arena_t arena);
extern void mps_thread_dereg(mps_thr_t thr);

/* Messages */
extern void mps_message_type_enable(mps_arena_t arena,
                                    mps_message_type_t message_type);
extern void mps_message_type_disable(mps_arena_t arena,
                                     mps_message_type_t message_type);
extern mps_bool_t mps_message_poll(mps_arena_t arena);
extern mps_bool_t mps_message_queue_type(mps_message_type_t *type_o,
                                         mps_arena_t arena);
extern mps_bool_t mps_message_get(mps_message_t *message_o,
                                  mps_arena_t arena,
                                  mps_message_type_t message_type);
extern void mps_message_discard(mps_arena_t arena, mps_message_t message);
extern mps_message_type_t mps_message_type(mps_arena_t arena,
                                           mps_message_t message);
extern mps_clock_t mps_message_clock(mps_arena_t arena,
                                     mps_message_t message);
extern void mps_message_finalization_ref(mps_addr_t *ref_o,
                                         mps_arena_t arena,
                                         mps_message_t message);
extern size_t mps_message_gc_live_size(mps_arena_t arena,
                                       mps_message_t message);
extern size_t mps_message_gc_condemned_size(mps_arena_t arena,
                                            mps_message_t message);
extern size_t mps_message_gc_not_condemned_size(mps_arena_t arena,
                                                mps_message_t message);
extern const char *mps_message_gc_start_why(mps_arena_t arena,
                                            mps_message_t message);

/* Finalization */
extern mps_res_t mps_finalize(mps_arena_t arena, mps_addr_t *ref_p);
extern mps_res_t mps_definalize(mps_arena_t arena, mps_addr_t *ref_p);

/* Location dependencies */
extern void mps_ld_reset(mps_ld_t ld, mps_arena_t arena);
extern void mps_ld_add(mps_ld_t ld, mps_arena_t arena, mps_addr_t addr);
extern void mps_ld_merge(mps_ld_t dest, mps_arena_t arena, mps_ld_t src);
extern mps_bool_t mps_ld_isstale(mps_ld_t ld, mps_arena_t arena,
                                 mps_addr_t addr);
extern mps_bool_t mps_ld_isstale_any(mps_ld_t ld, mps_arena_t arena);

/* Transforms */
extern mps_res_t mps_transform_create(mps_transform_t *transform_o,
                                      mps_arena_t arena);
extern mps_res_t mps_transform_add_oldnew(mps_transform_t transform,
                                          mps_addr_t *old_array,
                                          mps_addr_t *new_array,
                                          size_t count);
extern mps_res_t mps_transform_apply(mps_bool_t *applied_o,
                                     mps_transform_t transform);
extern void mps_transform_destroy(mps_transform_t transform);

/* Telemetry */
extern void mps_telemetry_set(mps_word_t set_mask);
extern void mps_telemetry_reset(mps_word_t reset_mask);
extern mps_word_t mps_telemetry_get(void);
extern mps_label_t mps_telemetry_intern(const char *label);
extern void mps_telemetry_label(mps_addr_t addr, mps_label_t label);
extern void mps_telemetry_flush(void);
/* Deprecated (removed from the manual in 1.118): clear reset_mask, toggle
 * flip_mask, return the filter as it was. */
extern mps_word_t mps_telemetry_control(mps_word_t reset_mask,
                                        mps_word_t flip_mask);


/* 6. INLINE FAST PATHS */

/* 6.1 Allocation points.
 *
 * mps_reserve takes the next size bytes of the buffer if they fit (the
 * first test catches size 0 and wrap-around; a trapped AP has limit 0
 * and so never fits) and otherwise calls mps_ap_fill.
 *
 * mps_commit publishes the block by storing init, then asks whether the
 * collector trapped the AP meanwhile.  The fences keep the compiler (and
 * on weakly ordered processors the hardware) from moving the client's
 * initialising stores below the init store, and from reading limit
 * before init is stored; the client writes the block through its own
 * types, so strict aliasing would otherwise allow both reorderings. */

/* (_mps_commit_fence_before/_after are defined at the top of the file.) */

#define mps_reserve(p_o, ap, size)                                        \
  (((char *)(ap)->alloc + (size) > (char *)(ap)->alloc &&                 \
    (char *)(ap)->alloc + (size) <= (char *)(ap)->limit)                  \
   ? ((ap)->alloc = (mps_addr_t)((char *)(ap)->alloc + (size)),           \
      *(p_o) = (ap)->init,                                                \
      (mps_res_t)MPS_RES_OK)                                              \
   : mps_ap_fill((p_o), (ap), (size)))

#define mps_commit(ap, p, size)                                           \
  (_mps_commit_fence_before(),                                            \
   (ap)->init = (ap)->alloc,                                              \
   _mps_commit_fence_after(),                                             \
   (ap)->limit != 0 || mps_ap_trip((ap), (p), (size)))

/* Statement form of mps_reserve; res_v and p_v are lvalues. */
#define MPS_RESERVE_BLOCK(res_v, p_v, ap, size)                           \
  MPS_BEGIN                                                               \
    char *_mps_alloc = (char *)(ap)->alloc;                               \
    char *_mps_next = _mps_alloc + (size);                                \
    if (_mps_next > _mps_alloc && _mps_next <= (char *)(ap)->limit) {     \
      (ap)->alloc = (mps_addr_t)_mps_next;                                \
      (p_v) = (ap)->init;                                                 \
      (res_v) = MPS_RES_OK;                                               \
    } else {                                                              \
      (res_v) = mps_ap_fill(&(p_v), (ap), (size));                        \
    }                                                                     \
  MPS_END

/* Frames have no inline fast path; the macros call the functions. */
#define mps_ap_frame_push(frame_o, ap) (mps_ap_frame_push)((frame_o), (ap))
#define mps_ap_frame_pop(ap, frame) (mps_ap_frame_pop)((ap), (frame))

/* 6.2 Scanning.
 *
 *   MPS_SCAN_BEGIN(ss) {
 *     ... res = MPS_FIX12(ss, &ref); if (res != MPS_RES_OK) return res; ...
 *   } MPS_SCAN_END(ss);
 *
 * BEGIN copies the scan state's three public words into locals; FIX1
 * tests a word against the white set and records its zone in the local
 * summary; END stores the summary back.  A scan that fails may return
 * from inside the block without reaching END. */

#define MPS_SCAN_BEGIN(ss)                                                \
  MPS_BEGIN                                                               \
    mps_word_t _mps_zs = (ss)->_zs;                                       \
    mps_word_t _mps_w = (ss)->_w;                                         \
    mps_word_t _mps_ufs = (ss)->_ufs;                                     \
    mps_word_t _mps_wt = 0;                                               \
    (void)_mps_zs; (void)_mps_w; (void)_mps_wt;                           \
    MPS_BEGIN

#define MPS_SCAN_END(ss)                                                  \
    MPS_END;                                                              \
    (ss)->_ufs = _mps_ufs;                                                \
  MPS_END

/* True if ref may point into condemned memory: its zone (the bits of
 * the word from _zs up, modulo the word width) is in the white set. */
#define MPS_FIX1(ss, ref)                                                 \
  (_mps_wt = (mps_word_t)1 << (((mps_word_t)(ref) >> _mps_zs)             \
                               & (sizeof(mps_word_t) * CHAR_BIT - 1)),    \
   _mps_ufs |= _mps_wt,                                                   \
   (_mps_w & _mps_wt) != 0)

#define MPS_FIX2(ss, ref_io) _mps_fix2((ss), (ref_io))

#define MPS_FIX12(ss, ref_io)                                             \
  (MPS_FIX1(ss, *(ref_io))                                                \
   ? MPS_FIX2(ss, ref_io)                                                 \
   : (mps_res_t)MPS_RES_OK)

#define MPS_FIX(ss, ref_io) MPS_FIX12(ss, ref_io)   /* deprecated */

/* Call a helper that scans with ss itself (using its own BEGIN/END),
 * then fold the summary it stored back into ours. */
#define MPS_FIX_CALL(ss, call)                                            \
  MPS_BEGIN                                                               \
    (call);                                                               \
    _mps_ufs |= (ss)->_ufs;                                               \
  MPS_END

/* 6.3 Segregated allocation caches (layout rules at _mps_sac_s).
 * Both macros may evaluate their arguments more than once, except that
 * the last argument of ALLOC is evaluated only on the slow path. */

#define MPS_SAC_ALLOC_FAST(res_v, p_v, sac, size, unused)                 \
  MPS_BEGIN                                                               \
    if ((size) <= (sac)->_middle && !(sac)->_trapped) {                   \
      size_t _mps_i = 0;                                                  \
      while ((sac)->_freelists[_mps_i]._size < (size))                    \
        ++_mps_i;                                                         \
      if ((sac)->_freelists[_mps_i]._count > 0) {                         \
        (p_v) = (sac)->_freelists[_mps_i]._blocks;                        \
        (sac)->_freelists[_mps_i]._blocks = *(mps_addr_t *)(p_v);         \
        --(sac)->_freelists[_mps_i]._count;                               \
        (res_v) = MPS_RES_OK;                                             \
      } else {                                                            \
        (res_v) = mps_sac_fill(&(p_v), (sac), (size), (unused));          \
      }                                                                   \
    } else {                                                              \
      (res_v) = mps_sac_fill(&(p_v), (sac), (size), (unused));            \
    }                                                                     \
  MPS_END

#define MPS_SAC_FREE_FAST(sac, p, size)                                   \
  MPS_BEGIN                                                               \
    if ((size) <= (sac)->_middle && !(sac)->_trapped) {                   \
      size_t _mps_i = 0;                                                  \
      while ((sac)->_freelists[_mps_i]._size < (size))                    \
        ++_mps_i;                                                         \
      if ((sac)->_freelists[_mps_i]._count                                \
          < (sac)->_freelists[_mps_i]._count_max) {                       \
        *(mps_addr_t *)(p) = (sac)->_freelists[_mps_i]._blocks;           \
        (sac)->_freelists[_mps_i]._blocks = (p);                          \
        ++(sac)->_freelists[_mps_i]._count;                               \
      } else {                                                            \
        mps_sac_empty((sac), (p), (size));                                \
      }                                                                   \
    } else {                                                              \
      mps_sac_empty((sac), (p), (size));                                  \
    }                                                                     \
  MPS_END

/* Old names of the cache macros. */
#define MPS_SAC_ALLOC(res_v, p_v, sac, size, unused) \
  MPS_SAC_ALLOC_FAST(res_v, p_v, sac, size, unused)
#define MPS_SAC_FREE(sac, p, size) MPS_SAC_FREE_FAST(sac, p, size)

/* Interfaces removed in MPS 1.118, kept for programs written for earlier
 * versions (src/compat.c; DESIGN.md#compat).  New programs should not use
 * them; the MV pool class is in mpscmv.h.
 *
 * mps_tramp calls f(p, s) and stores its result in *r_o: no trampoline
 * is needed.  mps_fix is MPS_FIX12 as a function (it may be called
 * inside or outside MPS_SCAN_BEGIN/MPS_SCAN_END).  mps_arena_expose parks
 * the arena and lifts every barrier, forgetting what the write barrier
 * knew (the next collection scans everything again);
 * mps_arena_unsafe_expose_remember_protection does the same but keeps
 * that knowledge, and mps_arena_unsafe_restore_protection puts the
 * barriers back: between the two the client must not change any
 * reference in the heap.  The reservoir is always empty: its limit is
 * 0, setting it does nothing, and the permit variants allocate as
 * without it. */
typedef void *(*mps_tramp_t)(void *p, size_t s);
extern mps_res_t mps_tramp(void **r_o, mps_tramp_t f, void *p, size_t s);
extern mps_res_t mps_fix(mps_ss_t ss, mps_addr_t *ref_io);
extern void mps_arena_expose(mps_arena_t arena);
extern void mps_arena_unsafe_expose_remember_protection(mps_arena_t arena);
extern void mps_arena_unsafe_restore_protection(mps_arena_t arena);
extern void mps_reservoir_limit_set(mps_arena_t arena, size_t size);
extern size_t mps_reservoir_limit(mps_arena_t arena);
extern size_t mps_reservoir_available(mps_arena_t arena);
extern mps_res_t mps_reserve_with_reservoir_permit(mps_addr_t *p_o,
                                                   mps_ap_t ap, size_t size);
extern mps_res_t mps_ap_fill_with_reservoir_permit(mps_addr_t *p_o,
                                                   mps_ap_t ap, size_t size);
#define MPS_RESERVE_WITH_RESERVOIR_PERMIT_BLOCK(res_v, p_v, ap, size) \
  MPS_RESERVE_BLOCK(res_v, p_v, ap, size)


#ifdef __cplusplus
}
#endif

#endif /* mps_h */
