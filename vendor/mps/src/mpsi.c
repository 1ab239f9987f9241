/* mpsi.c: the entry layer of the public interface
 *
 * Every public function that touches an arena's state comes through
 * here: it checks the client's arguments (assertions in the checking
 * build, result codes where the interface has them), takes the arena
 * lock, and calls the internal module.  The lock-free exceptions are the
 * allocation point fast paths (macros in mps.h) and the location
 * dependency calls (ld.c).  See DESIGN.md#entry.
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mpm.h"
#include "telemetry.h"
#include "args.h"
#include "mpsavm.h"
#include "mpsacl.h"
#include "mpscamc.h"

/* Arena classes ---------------------------------------------------------- */

struct mps_arena_class_s {
  const char *name;
};

static struct mps_arena_class_s arenaClassVM = {"VM"};
static struct mps_arena_class_s arenaClassCL = {"CL"};

mps_arena_class_t mps_arena_class_vm(void)
{
  return &arenaClassVM;
}

mps_arena_class_t mps_arena_class_cl(void)
{
  return &arenaClassCL;
}

mps_res_t mps_arena_create_k(mps_arena_t *arena_o,
                             mps_arena_class_t arena_class, mps_arg_s args[])
{
  AVER(arena_o != NULL);
  AVER(args != NULL);
  if (arena_class != &arenaClassVM && arena_class != &arenaClassCL)
    return MPS_RES_PARAM;
  return ArenaCreate(arena_o, args, arena_class == &arenaClassCL);
}

mps_res_t mps_arena_create_v(mps_arena_t *arena_o,
                             mps_arena_class_t arena_class, va_list varargs)
{
  /* The VM class's positional argument is the reservation size; the
   * client class's are the block's size, then its base. */
  mps_res_t res;
  if (arena_class == &arenaClassCL) {
    size_t size = va_arg(varargs, size_t);
    mps_addr_t base = va_arg(varargs, mps_addr_t);
    MPS_ARGS_BEGIN(args) {
      MPS_ARGS_ADD(args, MPS_KEY_ARENA_CL_BASE, base);
      MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, size);
      res = mps_arena_create_k(arena_o, arena_class, args);
    } MPS_ARGS_END(args);
    return res;
  }
  if (arena_class != &arenaClassVM)
    return mps_arena_create_k(arena_o, arena_class, mps_args_none);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_ARENA_SIZE, va_arg(varargs, size_t));
    res = mps_arena_create_k(arena_o, arena_class, args);
  } MPS_ARGS_END(args);
  return res;
}

mps_res_t mps_arena_create(mps_arena_t *arena_o,
                           mps_arena_class_t arena_class, ...)
{
  mps_res_t res;
  va_list varargs;
  va_start(varargs, arena_class);
  res = mps_arena_create_v(arena_o, arena_class, varargs);
  va_end(varargs);
  return res;
}

void mps_arena_destroy(mps_arena_t arena)
{
  ArenaEnter(arena);
  LockRelease(&arena->lock);
  ArenaDestroy(arena);
}

void mps_arena_clamp(mps_arena_t arena)
{
  ArenaEnter(arena);
  arena->clamped = TRUE;
  ArenaLeave(arena);
}

/* Parked: clamped, with no trace in progress (DESIGN.md#incremental). */
void mps_arena_park(mps_arena_t arena)
{
  ArenaEnter(arena);
  TraceFinish(arena);
  arena->clamped = TRUE;
  ArenaLeave(arena);
}

void mps_arena_release(mps_arena_t arena)
{
  ArenaEnter(arena);
  arena->clamped = FALSE;
  /* What frees left spare while the arena was clamped or parked, when it
   * returns no memory (DESIGN.md#arena). */
  ArenaTrimSpare(arena, TRUE);
  ArenaLeave(arena);
}

mps_res_t mps_arena_collect(mps_arena_t arena)
{
  Res res;
  ArenaEnter(arena);
  res = ArenaCollect(arena, "Client requested a collection "
                            "(mps_arena_collect)");
  arena->clamped = TRUE; /* leaves the arena parked */
  ArenaLeave(arena);
  return res;
}

mps_res_t mps_arena_start_collect(mps_arena_t arena)
{
  ArenaEnter(arena);
  /* Runs at the next allocation slow path or step. */
  arena->pending_full = TRUE;
  arena->clamped = FALSE;
  ArenaLeave(arena);
  return MPS_RES_OK;
}

mps_bool_t mps_arena_step(mps_arena_t arena, double interval,
                          double multiplier)
{
  Bool work;
  AVER(interval >= 0.0);
  AVER(multiplier >= 0.0);
  ArenaEnter(arena);
  work = ArenaStep(arena, interval, multiplier);
  ArenaLeave(arena);
  return work != 0;
}

void mps_arena_postmortem(mps_arena_t arena)
{
  arena->postmortem = TRUE;
  arena->clamped = TRUE;
  ArenaUnprotectAll(arena);
  if (LockIsHeldByMe(&arena->lock))
    LockRelease(&arena->lock);
}

mps_bool_t mps_arena_busy(mps_arena_t arena)
{
  return arena->lock.held != 0;
}

mps_res_t mps_arena_extend(mps_arena_t arena, mps_addr_t base, size_t size)
{
  Res res;
  ArenaEnter(arena);
  res = ArenaExtend(arena, base, size);
  ArenaLeave(arena);
  return res;
}

mps_res_t mps_arena_vm_growth(mps_arena_t arena, size_t desired,
                              size_t minimum)
{
  if (desired < minimum)
    return MPS_RES_PARAM;
  ArenaEnter(arena);
  if (desired > 0)
    arena->chunk_size = SizeAlignUp(desired, arena->grain);
  ArenaLeave(arena);
  return MPS_RES_OK;
}

/* Arena introspection ----------------------------------------------------- */

size_t mps_arena_committed(mps_arena_t arena)
{
  Size size;
  ArenaEnter(arena);
  size = arena->committed;
  ArenaLeave(arena);
  return size;
}

size_t mps_arena_reserved(mps_arena_t arena)
{
  Size size;
  ArenaEnter(arena);
  size = arena->reserved;
  ArenaLeave(arena);
  return size;
}

size_t mps_arena_spare_committed(mps_arena_t arena)
{
  Size size;
  ArenaEnter(arena);
  size = arena->spare_committed;
  ArenaLeave(arena);
  return size;
}

size_t mps_arena_commit_limit(mps_arena_t arena)
{
  Size size;
  ArenaEnter(arena);
  size = arena->commit_limit;
  ArenaLeave(arena);
  return size;
}

mps_res_t mps_arena_commit_limit_set(mps_arena_t arena, size_t limit)
{
  Res res;
  ArenaEnter(arena);
  res = ArenaSetCommitLimit(arena, limit);
  ArenaLeave(arena);
  return res;
}

double mps_arena_spare(mps_arena_t arena)
{
  double spare;
  ArenaEnter(arena);
  spare = arena->spare;
  ArenaLeave(arena);
  return spare;
}

void mps_arena_spare_set(mps_arena_t arena, double spare)
{
  AVER(spare >= 0.0 && spare <= 1.0);
  ArenaEnter(arena);
  ArenaSetSpare(arena, spare < 0.0 ? 0.0 : spare > 1.0 ? 1.0 : spare);
  ArenaLeave(arena);
}

size_t mps_arena_spare_commit_limit(mps_arena_t arena)
{
  Size size;
  ArenaEnter(arena);
  size = (Size)(arena->spare * (double)arena->committed);
  ArenaLeave(arena);
  return size;
}

void mps_arena_spare_commit_limit_set(mps_arena_t arena, size_t limit)
{
  double spare;
  ArenaEnter(arena);
  spare = arena->committed == 0 ? 1.0
                                : (double)limit / (double)arena->committed;
  ArenaSetSpare(arena, spare > 1.0 ? 1.0 : spare);
  ArenaLeave(arena);
}

#if EXTENSIONS /* DESIGN.md#strict */
void mpsx_arena_pause_log(mps_arena_t arena, mpsx_pause_log_s *log)
{
  ArenaEnter(arena);
  arena->pause_log = log;
  ArenaLeave(arena);
}

mps_bool_t mpsx_arena_tracing(mps_arena_t arena)
{
  Bool tracing;
  ArenaEnter(arena);
  tracing = arena->trace != NULL;
  ArenaLeave(arena);
  return tracing;
}
#endif /* EXTENSIONS */

double mps_arena_pause_time(mps_arena_t arena)
{
  double pause;
  ArenaEnter(arena);
  pause = arena->pause_time;
  ArenaLeave(arena);
  return pause;
}

void mps_arena_pause_time_set(mps_arena_t arena, double pause_time)
{
  AVER(pause_time >= 0.0);
  ArenaEnter(arena);
  arena->pause_time = pause_time;
  ArenaLeave(arena);
}

mps_bool_t mps_arena_has_addr(mps_arena_t arena, mps_addr_t addr)
{
  Bool has;
  ArenaEnter(arena);
  has = ArenaChunkOfAddr(arena, addr) != NULL;
  ArenaLeave(arena);
  return has;
}

mps_bool_t mps_addr_pool(mps_pool_t *pool_o, mps_arena_t arena,
                         mps_addr_t addr)
{
  Seg seg;
  ArenaEnter(arena);
  seg = SegOfAddr(arena, addr);
  if (seg != NULL)
    *pool_o = seg->pool;
  ArenaLeave(arena);
  return seg != NULL;
}

mps_bool_t mps_addr_fmt(mps_fmt_t *fmt_o, mps_arena_t arena, mps_addr_t addr)
{
  Seg seg;
  Bool found = FALSE;
  ArenaEnter(arena);
  seg = SegOfAddr(arena, addr);
  if (seg != NULL && seg->pool->format != NULL) {
    *fmt_o = seg->pool->format;
    found = TRUE;
  }
  ArenaLeave(arena);
  return found;
}

/* The base of the object that contains addr, in a formatted pool. */
mps_res_t mps_addr_object(mps_addr_t *p_o, mps_arena_t arena,
                          mps_addr_t addr)
{
  Seg seg;
  Res res = MPS_RES_FAIL;
  ArenaEnter(arena);
  seg = SegOfAddr(arena, addr);
  if (seg != NULL && seg->pool->format != NULL) {
    Format format = seg->pool->format;
    Addr limit = SegWalkLimit(seg);
    Addr p = AddrAdd(seg->base, format->header);
    while (p - format->header < limit) {
      Addr next = FormatSkip(format, p);
      if ((Addr)addr < next - format->header) {
        if ((Addr)addr >= p - format->header && format->isfwd(p) == NULL) {
          *p_o = p - format->header;
          res = MPS_RES_OK;
        }
        break;
      }
      p = next;
    }
  } else if (seg != NULL) {
    res = MPS_RES_UNIMPL;
  }
  ArenaLeave(arena);
  return res;
}

mps_word_t mps_collections(mps_arena_t arena)
{
  return __atomic_load_n(&arena->epoch, __ATOMIC_ACQUIRE);
}

/* Walking ---------------------------------------------------------------- */


typedef struct {
  mps_formatted_objects_stepper_t f;
  void *p;
  size_t s;
} ObjectsWalkStruct;

static void objectsWalkVisit(Addr client, Seg seg, void *closure)
{
  ObjectsWalkStruct *w = closure;
  w->f(client, seg->pool->format, seg->pool, w->p, w->s);
}

static void objectsWalkSeg(Seg seg, void *closure)
{
  SegWalkObjects(seg, objectsWalkVisit, closure);
}

void mps_arena_formatted_objects_walk(mps_arena_t arena,
                                      mps_formatted_objects_stepper_t f,
                                      void *p, size_t s)
{
  ObjectsWalkStruct w;
  w.f = f;
  w.p = p;
  w.s = s;
  ArenaEnter(arena);
  /* Grey objects may still hold references to white ones, and the read
   * barrier hides them: end the trace first. */
  TraceFinish(arena);
  ArenaEachSeg(arena, NULL, objectsWalkSeg, &w);
  ArenaLeave(arena);
}

typedef struct {
  mps_amc_apply_stepper_t f;
  void *p;
  size_t s;
} AMCApplyStruct;

static void amcApplyVisit(Addr client, Seg seg, void *closure)
{
  AMCApplyStruct *w = closure;
  (void)seg;
  w->f(client, w->p, w->s);
}

static void amcApplySeg(Seg seg, void *closure)
{
  SegWalkObjects(seg, amcApplyVisit, closure);
}

void mps_amc_apply(mps_pool_t pool, mps_amc_apply_stepper_t f, void *p,
                   size_t s)
{
  Arena arena = pool->arena;
  AMCApplyStruct w;
  w.f = f;
  w.p = p;
  w.s = s;
  ArenaEnter(arena);
  AVER(arena->clamped && arena->trace == NULL); /* parked only */
  ArenaEachSeg(arena, pool, amcApplySeg, &w);
  ArenaLeave(arena);
}

typedef struct {
  struct TraceStruct trace;
  mps_area_scan_t scan_area;
  void *closure;
  Res res;
} PoolWalkStruct;

static void poolWalkArea(PoolWalkStruct *w, Seg seg, Addr base, Addr limit)
{
  Size header = seg->pool->format->header;
  if (w->res != MPS_RES_OK || limit <= base)
    return;
  /* The callback may store references back (DESIGN.md#barrier). */
  SegUnprotect(seg);
  seg->summary = ZoneSetUNIV;
  w->trace.ss._ufs = 0;
  w->res = w->scan_area(&w->trace.ss, AddrAdd(base, header),
                        AddrAdd(limit, header), w->closure);
}

static void poolWalkAreaOf(Seg seg, Addr base, Addr limit, void *closure)
{
  poolWalkArea(closure, seg, base, limit);
}

/* Disjoint areas covering every formatted object of the segment. */
static void poolWalkSeg(Seg seg, void *closure)
{
  SegAreas(seg, poolWalkAreaOf, closure);
}

mps_res_t mps_pool_walk(mps_pool_t pool, mps_area_scan_t scan_area,
                        void *closure)
{
  Arena arena = pool->arena;
  PoolWalkStruct w;
  ArenaEnter(arena);
  if (!pool->klass->automatic || !arena->clamped || arena->trace != NULL) {
    ArenaLeave(arena);
    return MPS_RES_PARAM;
  }
  /* An empty white set: every fix is filtered out by MPS_FIX1. */
  memset(&w.trace, 0, sizeof w.trace);
  w.trace.ss._zs = arena->zone_shift;
  w.trace.ss._w = ZoneSetEMPTY;
  w.trace.arena = arena;
  w.trace.rank = RankEXACT;
  w.trace.sig = TraceSig;
  w.scan_area = scan_area;
  w.closure = closure;
  w.res = MPS_RES_OK;
  ArenaEachSeg(arena, pool, poolWalkSeg, &w);
  ArenaLeave(arena);
  return w.res;
}

void mps_arena_roots_walk(mps_arena_t arena, mps_roots_stepper_t f, void *p,
                          size_t s)
{
  ArenaEnter(arena);
  AVER(arena->clamped && arena->trace == NULL); /* parked only */
  TraceWalkRoots(arena, f, p, s);
  ArenaLeave(arena);
}

/* Formats ---------------------------------------------------------------- */

mps_res_t mps_fmt_create_k(mps_fmt_t *fmt_o, mps_arena_t arena,
                           mps_arg_s args[])
{
  Res res;
  AVER(fmt_o != NULL);
  AVER(args != NULL);
  ArenaEnter(arena);
  res = FormatCreate(fmt_o, arena, args);
  ArenaLeave(arena);
  return res;
}

static mps_res_t fmtCreate(mps_fmt_t *fmt_o, mps_arena_t arena,
                           mps_align_t align, mps_fmt_scan_t scan,
                           mps_fmt_skip_t skip, mps_fmt_fwd_t fwd,
                           mps_fmt_isfwd_t isfwd, mps_fmt_pad_t pad,
                           mps_fmt_class_t klass, size_t header)
{
  mps_res_t res;
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ALIGN, align);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_HEADER_SIZE, header);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SCAN, scan);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_SKIP, skip);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_FWD, fwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_ISFWD, isfwd);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_PAD, pad);
    MPS_ARGS_ADD(args, MPS_KEY_FMT_CLASS, klass);
    res = mps_fmt_create_k(fmt_o, arena, args);
  } MPS_ARGS_END(args);
  return res;
}

mps_res_t mps_fmt_create_A(mps_fmt_t *fmt_o, mps_arena_t arena,
                           mps_fmt_A_s *s)
{
  return fmtCreate(fmt_o, arena, s->align, s->scan, s->skip, s->fwd,
                   s->isfwd, s->pad, NULL, 0);
}

mps_res_t mps_fmt_create_B(mps_fmt_t *fmt_o, mps_arena_t arena,
                           mps_fmt_B_s *s)
{
  return fmtCreate(fmt_o, arena, s->align, s->scan, s->skip, s->fwd,
                   s->isfwd, s->pad, s->mps_class, 0);
}

mps_res_t mps_fmt_create_auto_header(mps_fmt_t *fmt_o, mps_arena_t arena,
                                     mps_fmt_auto_header_s *s)
{
  return fmtCreate(fmt_o, arena, s->align, s->scan, s->skip, s->fwd,
                   s->isfwd, s->pad, NULL, s->mps_headerSize);
}

mps_res_t mps_fmt_create_fixed(mps_fmt_t *fmt_o, mps_arena_t arena,
                               mps_fmt_fixed_s *s)
{
  /* Fixed-size objects have no skip method: each pool given the format
   * learns their size (DESIGN.md#fixed-format). */
  mps_res_t res = fmtCreate(fmt_o, arena, s->align, s->scan, NULL, s->fwd,
                            s->isfwd, s->pad, NULL, 0);
  if (res == MPS_RES_OK) {
    ArenaEnter(arena);
    (*fmt_o)->fixed = TRUE;
    ArenaLeave(arena);
  }
  return res;
}

void mps_fmt_destroy(mps_fmt_t fmt)
{
  Arena arena = fmt->arena;
  ArenaEnter(arena);
  FormatDestroy(fmt);
  ArenaLeave(arena);
}

/* Pools ------------------------------------------------------------------ */

mps_res_t mps_pool_create_k(mps_pool_t *pool_o, mps_arena_t arena,
                            mps_pool_class_t pool_class, mps_arg_s args[])
{
  Res res;
  AVER(pool_o != NULL);
  AVER(args != NULL);
  if (pool_class == NULL ||
      ((PoolClass)pool_class)->sig != PoolClassSig)
    return MPS_RES_PARAM;
  ArenaEnter(arena);
  res = PoolCreate(pool_o, arena, (PoolClass)pool_class, args);
  ArenaLeave(arena);
  return res;
}

mps_res_t mps_pool_create_v(mps_pool_t *pool_o, mps_arena_t arena,
                            mps_pool_class_t pool_class, va_list varargs)
{
  /* Each class decodes its own positional arguments (DESIGN.md#varargs). */
  PoolClass klass = (PoolClass)pool_class;
  mps_arg_s args[MPS_ARGS_MAX];
  if (klass == NULL || klass->sig != PoolClassSig)
    return MPS_RES_PARAM;
  args[0].key = MPS_KEY_ARGS_END;
  if (klass->varargs != NULL)
    klass->varargs(args, varargs);
  AVER(ArgListCheck(args));
  return mps_pool_create_k(pool_o, arena, pool_class, args);
}

mps_res_t mps_pool_create(mps_pool_t *pool_o, mps_arena_t arena,
                          mps_pool_class_t pool_class, ...)
{
  mps_res_t res;
  va_list varargs;
  va_start(varargs, pool_class);
  res = mps_pool_create_v(pool_o, arena, pool_class, varargs);
  va_end(varargs);
  return res;
}

void mps_pool_destroy(mps_pool_t pool)
{
  Arena arena = pool->arena;
  ArenaEnter(arena);
  TraceFinish(arena); /* the trace may hold its segments */
  PoolDestroy(pool);
  ArenaLeave(arena);
}

size_t mps_pool_total_size(mps_pool_t pool)
{
  Arena arena = pool->arena;
  Size size;
  ArenaEnter(arena);
  size = pool->total_size;
  ArenaLeave(arena);
  return size;
}

size_t mps_pool_free_size(mps_pool_t pool)
{
  Arena arena = pool->arena;
  Size size = 0;
  ArenaEnter(arena);
  if (pool->klass->free_size != NULL)
    size = pool->klass->free_size(pool);
  ArenaLeave(arena);
  return size;
}

/* The debug classes check their blocks' fenceposts and free memory
 * (DESIGN.md#debug); other classes have nothing to check. */
void mps_pool_check_fenceposts(mps_pool_t pool)
{
  Arena arena = pool->arena;
  ArenaEnter(arena);
  AVERT(Pool, pool);
  if (pool->klass->check_fenceposts != NULL)
    pool->klass->check_fenceposts(pool);
  ArenaLeave(arena);
}

void mps_pool_check_free_space(mps_pool_t pool)
{
  Arena arena = pool->arena;
  ArenaEnter(arena);
  AVERT(Pool, pool);
  if (pool->klass->check_free_space != NULL)
    pool->klass->check_free_space(pool);
  ArenaLeave(arena);
}

mps_res_t mps_alloc(mps_addr_t *p_o, mps_pool_t pool, size_t size)
{
  Arena arena = pool->arena;
  Res res;
  Addr p;
  AVER(size > 0);
  if (pool->klass->alloc == NULL) {
    AVER(!"pool class does not support mps_alloc");
    return MPS_RES_UNIMPL;
  }
  ArenaEnter(arena);
  res = pool->klass->alloc(&p, pool, SizeAlignUp(size, pool->align));
  ArenaLeave(arena);
  if (res == MPS_RES_OK) {
    TelemetryEvent(TelObject, "Alloc", "pool=0x%lx address=0x%lx size=%zu",
                   TelAddr(pool), TelAddr(p), size);
    *p_o = p;
  }
  return res;
}

void mps_free(mps_pool_t pool, mps_addr_t p, size_t size)
{
  Arena arena = pool->arena;
  if (pool->klass->free == NULL)
    AssertFail(__FILE__, __LINE__, "pool class does not support mps_free");
  ArenaEnter(arena);
  pool->klass->free(pool, p, SizeAlignUp(size, pool->align));
  ArenaLeave(arena);
  TelemetryEvent(TelObject, "Free", "pool=0x%lx address=0x%lx size=%zu",
                 TelAddr(pool), TelAddr(p), size);
}

/* Allocation points ------------------------------------------------------- */

mps_res_t mps_ap_create_k(mps_ap_t *ap_o, mps_pool_t pool, mps_arg_s args[])
{
  Arena arena = pool->arena;
  Buffer buffer;
  Res res;
  AVER(ap_o != NULL);
  ArenaEnter(arena);
  AVERT(Pool, pool);
  res = BufferCreate(&buffer, pool, args);
  ArenaLeave(arena);
  if (res == MPS_RES_OK)
    *ap_o = &buffer->ap;
  return res;
}

mps_res_t mps_ap_create_v(mps_ap_t *ap_o, mps_pool_t pool, va_list varargs)
{
  /* AMS, AMS debug, AWL and SNC take the rank of the point positionally;
   * the other classes take nothing (DESIGN.md#varargs). */
  mps_res_t res;
  AVERT(Pool, pool);
  if (!pool->klass->ap_rank_vararg)
    return mps_ap_create_k(ap_o, pool, mps_args_none);
  MPS_ARGS_BEGIN(args) {
    MPS_ARGS_ADD(args, MPS_KEY_RANK, va_arg(varargs, mps_rank_t));
    res = mps_ap_create_k(ap_o, pool, args);
  } MPS_ARGS_END(args);
  return res;
}

mps_res_t mps_ap_create(mps_ap_t *ap_o, mps_pool_t pool, ...)
{
  mps_res_t res;
  va_list varargs;
  va_start(varargs, pool);
  res = mps_ap_create_v(ap_o, pool, varargs);
  va_end(varargs);
  return res;
}

void mps_ap_destroy(mps_ap_t ap)
{
  Buffer buffer = BufferOfAP(ap);
  Arena arena = buffer->arena;
  ArenaEnter(arena);
  BufferDestroy(buffer);
  ArenaLeave(arena);
}

mps_res_t (mps_reserve)(mps_addr_t *p_o, mps_ap_t ap, size_t size)
{
  return mps_reserve(p_o, ap, size);
}

mps_bool_t (mps_commit)(mps_ap_t ap, mps_addr_t p, size_t size)
{
  return mps_commit(ap, p, size);
}

mps_res_t mps_ap_fill(mps_addr_t *p_o, mps_ap_t ap, size_t size)
{
  Buffer buffer = BufferOfAP(ap);
  Arena arena = buffer->arena;
  Addr p;
  Res res;
  ArenaEnter(arena);
  AVERT(Buffer, buffer);
  AVER(size > 0 && SizeIsAligned(size, buffer->pool->align));
  res = BufferFill(&p, buffer, size);
  ArenaLeave(arena);
  if (res == MPS_RES_OK)
    *p_o = p;
  return res;
}

mps_bool_t mps_ap_trip(mps_ap_t ap, mps_addr_t p, size_t size)
{
  Buffer buffer = BufferOfAP(ap);
  Arena arena = buffer->arena;
  Bool keep;
  ArenaEnter(arena);
  AVERT(Buffer, buffer);
  keep = BufferTrip(buffer, p, size);
  ArenaLeave(arena);
  return keep != 0;
}

/* Allocation frames mean something only in pools whose class has frame
 * methods (SNC, DESIGN.md#snc); elsewhere they are accepted and ignored,
 * as the interface allows.  Neither may come between a reserve and its
 * commit. */
mps_res_t (mps_ap_frame_push)(mps_frame_t *frame_o, mps_ap_t ap)
{
  Buffer buffer = BufferOfAP(ap);
  Pool pool = buffer->pool;
  Res res;
  AVER(frame_o != NULL);
  if (ap->init != ap->alloc)
    return MPS_RES_FAIL;
  if (pool->klass->frame_push == NULL) {
    *frame_o = (mps_frame_t)ap->init;
    return MPS_RES_OK;
  }
  ArenaEnter(buffer->arena);
  AVERT(Buffer, buffer);
  res = pool->klass->frame_push(frame_o, pool, buffer);
  ArenaLeave(buffer->arena);
  return res;
}

mps_res_t (mps_ap_frame_pop)(mps_ap_t ap, mps_frame_t frame)
{
  Buffer buffer = BufferOfAP(ap);
  Pool pool = buffer->pool;
  Res res;
  if (ap->init != ap->alloc)
    return MPS_RES_FAIL;
  if (pool->klass->frame_pop == NULL)
    return MPS_RES_OK;
  ArenaEnter(buffer->arena);
  AVERT(Buffer, buffer);
  res = pool->klass->frame_pop(pool, buffer, frame);
  ArenaLeave(buffer->arena);
  return res;
}

/* Allocation patterns (DESIGN.md#ramps): a ramp keeps an AMC point's
 * allocation from counting toward its nursery's collection; the end of a
 * ramp_collect_all asks for a full collection once the ramps are over. */
struct mps_alloc_pattern_s {
  Sig sig;
  Bool collect_all;
};
#define AllocPatternSig ((Sig)0x519A77E4UL)
#define RAMP_DEPTH_MAX ((unsigned)WORD_BITS)
static const struct mps_alloc_pattern_s patternRamp = {AllocPatternSig,
                                                       FALSE};
static const struct mps_alloc_pattern_s patternRampCollectAll = {
    AllocPatternSig, TRUE};

CHECK_FUNCTION static Bool AllocPatternCheck(mps_alloc_pattern_t pattern)
{
  return pattern == &patternRamp || pattern == &patternRampCollectAll;
}

mps_alloc_pattern_t mps_alloc_pattern_ramp(void)
{
  return (mps_alloc_pattern_t)&patternRamp;
}

mps_alloc_pattern_t mps_alloc_pattern_ramp_collect_all(void)
{
  return (mps_alloc_pattern_t)&patternRampCollectAll;
}

mps_res_t mps_ap_alloc_pattern_begin(mps_ap_t ap, mps_alloc_pattern_t pattern)
{
  Buffer buffer = BufferOfAP(ap);
  Arena arena = buffer->arena;
  Res res = MPS_RES_OK;
  ArenaEnter(arena);
  AVERT(Buffer, buffer);
  AVERT(AllocPattern, pattern);
  if (buffer->ramp_depth >= RAMP_DEPTH_MAX) {
    res = MPS_RES_LIMIT;
  } else {
    Word bit = (Word)1 << buffer->ramp_depth;
    if (pattern->collect_all)
      buffer->ramp_stack |= bit;
    else
      buffer->ramp_stack &= ~bit;
    ++buffer->ramp_depth;
  }
  ArenaLeave(arena);
  return res;
}

mps_res_t mps_ap_alloc_pattern_end(mps_ap_t ap, mps_alloc_pattern_t pattern)
{
  Buffer buffer = BufferOfAP(ap);
  Arena arena = buffer->arena;
  Res res = MPS_RES_OK;
  ArenaEnter(arena);
  AVERT(Buffer, buffer);
  AVERT(AllocPattern, pattern);
  if (buffer->ramp_depth == 0) {
    res = MPS_RES_FAIL;
  } else {
    unsigned top = buffer->ramp_depth - 1;
    Bool top_all = (buffer->ramp_stack >> top) & 1;
    if (top_all != pattern->collect_all) {
      res = MPS_RES_FAIL; /* not the pattern begun last */
    } else {
      buffer->ramp_depth = top;
      if (top_all)
        buffer->ramp_collect_all = TRUE;
      if (top == 0 && buffer->ramp_collect_all) {
        buffer->ramp_collect_all = FALSE;
        arena->pending_full = TRUE; /* runs at the next poll */
      }
    }
  }
  ArenaLeave(arena);
  return res;
}

mps_res_t mps_ap_alloc_pattern_reset(mps_ap_t ap)
{
  Buffer buffer = BufferOfAP(ap);
  Arena arena = buffer->arena;
  ArenaEnter(arena);
  AVERT(Buffer, buffer);
  buffer->ramp_depth = 0;
  buffer->ramp_stack = 0;
  buffer->ramp_collect_all = FALSE;
  ArenaLeave(arena);
  return MPS_RES_OK;
}

/* Segregated allocation caches are in sac.c. */

/* Chains ------------------------------------------------------------------ */

mps_res_t mps_chain_create(mps_chain_t *chain_o, mps_arena_t arena,
                           size_t gen_count, mps_gen_param_s *gen_params)
{
  Res res;
  AVER(chain_o != NULL);
  AVER(gen_count > 0);
  ArenaEnter(arena);
  res = ChainCreate(chain_o, arena, gen_count, gen_params);
  ArenaLeave(arena);
  return res;
}

void mps_chain_destroy(mps_chain_t chain)
{
  Arena arena = chain->arena;
  ArenaEnter(arena);
  ChainDestroy(chain);
  ArenaLeave(arena);
}

/* Ranks ------------------------------------------------------------------- */

mps_rank_t mps_rank_ambig(void)
{
  return RankAMBIG;
}

mps_rank_t mps_rank_exact(void)
{
  return RankEXACT;
}

mps_rank_t mps_rank_weak(void)
{
  return RankWEAK;
}

/* Roots ------------------------------------------------------------------- */

static mps_res_t rootFinish(mps_root_t *root_o, Arena arena, Root root)
{
  root->sig = RootSig;
  if (!RootCheck(root)) {
    free(root);
    ArenaLeave(arena);
    return MPS_RES_PARAM;
  }
  RingAppend(&arena->roots, &root->arena_ring);
  ArenaLeave(arena);
  *root_o = root;
  return MPS_RES_OK;
}

mps_res_t mps_root_create(mps_root_t *root_o, mps_arena_t arena,
                          mps_rank_t rank, mps_rm_t mode,
                          mps_root_scan_t root_scan, void *p, size_t s)
{
  Root root;
  Res res;
  (void)mode; /* root modes have no effect */
  ArenaEnter(arena);
  res = RootCreate(&root, arena, rank, RootFUN);
  if (res != MPS_RES_OK) {
    ArenaLeave(arena);
    return res;
  }
  root->the.fun.scan = root_scan;
  root->the.fun.p = p;
  root->the.fun.s = s;
  return rootFinish(root_o, arena, root);
}

static mps_res_t rootCreateArea(mps_root_t *root_o, Arena arena,
                                mps_rank_t rank, void *base, void *limit,
                                mps_area_scan_t scan_area, void *closure,
                                Bool own_tag, mps_word_t mask,
                                mps_word_t pattern)
{
  Root root;
  Res res;
  AVER(AddrIsAligned(base, sizeof(Word)));
  AVER(AddrIsAligned(limit, sizeof(Word)));
  ArenaEnter(arena);
  res = RootCreate(&root, arena, rank, RootAREA);
  if (res != MPS_RES_OK) {
    ArenaLeave(arena);
    return res;
  }
  root->the.area.base = base;
  root->the.area.limit = limit;
  root->the.area.scan_area = scan_area;
  root->the.area.closure = closure;
  if (own_tag) {
    root->tag.mask = mask;
    root->tag.pattern = pattern;
    root->the.area.closure = &root->tag;
  }
  return rootFinish(root_o, arena, root);
}

mps_res_t mps_root_create_area(mps_root_t *root_o, mps_arena_t arena,
                               mps_rank_t rank, mps_rm_t mode, void *base,
                               void *limit, mps_area_scan_t scan_area,
                               void *closure)
{
  (void)mode;
  return rootCreateArea(root_o, arena, rank, base, limit, scan_area, closure,
                        FALSE, 0, 0);
}

mps_res_t mps_root_create_area_tagged(mps_root_t *root_o, mps_arena_t arena,
                                      mps_rank_t rank, mps_rm_t mode,
                                      void *base, void *limit,
                                      mps_area_scan_t scan_area,
                                      mps_word_t mask, mps_word_t pattern)
{
  (void)mode;
  return rootCreateArea(root_o, arena, rank, base, limit, scan_area, NULL,
                        TRUE, mask, pattern);
}

mps_res_t mps_root_create_table(mps_root_t *root_o, mps_arena_t arena,
                                mps_rank_t rank, mps_rm_t mode,
                                mps_addr_t *base, size_t count)
{
  (void)mode;
  return rootCreateArea(root_o, arena, rank, base, base + count,
                        mps_scan_area, NULL, FALSE, 0, 0);
}

mps_res_t mps_root_create_table_masked(mps_root_t *root_o, mps_arena_t arena,
                                       mps_rank_t rank, mps_rm_t mode,
                                       mps_addr_t *base, size_t count,
                                       mps_word_t mask)
{
  (void)mode;
  return rootCreateArea(root_o, arena, rank, base, base + count,
                        mps_scan_area_tagged, NULL, TRUE, mask, 0);
}

mps_res_t mps_root_create_table_tagged(mps_root_t *root_o, mps_arena_t arena,
                                       mps_rank_t rank, mps_rm_t mode,
                                       mps_addr_t *base, size_t count,
                                       mps_area_scan_t scan_area,
                                       mps_word_t mask, mps_word_t pattern)
{
  (void)mode;
  return rootCreateArea(root_o, arena, rank, base, base + count, scan_area,
                        NULL, TRUE, mask, pattern);
}

mps_res_t mps_root_create_fmt(mps_root_t *root_o, mps_arena_t arena,
                              mps_rank_t rank, mps_rm_t mode,
                              mps_fmt_scan_t fmt_scan, mps_addr_t base,
                              mps_addr_t limit)
{
  Root root;
  Res res;
  (void)mode;
  ArenaEnter(arena);
  res = RootCreate(&root, arena, rank, RootFMT);
  if (res != MPS_RES_OK) {
    ArenaLeave(arena);
    return res;
  }
  root->the.fmt.scan = fmt_scan;
  root->the.fmt.base = base;
  root->the.fmt.limit = limit;
  return rootFinish(root_o, arena, root);
}

static mps_res_t rootCreateThread(mps_root_t *root_o, Arena arena,
                                  mps_rank_t rank, Thread thread,
                                  mps_area_scan_t scan_area, void *closure,
                                  Bool own_tag, mps_word_t mask,
                                  mps_word_t pattern, void *cold)
{
  Root root;
  Res res;
  AVER(rank == RankAMBIG);
  /* The manual asks for a pointer to the cold end of the stack, such as
   * the address of a local of the outermost frame to scan, any type of
   * local: it is aligned down here. */
  if (rank != RankAMBIG)
    return MPS_RES_PARAM;
  ArenaEnter(arena);
  AVERT(Thread, thread);
  res = RootCreate(&root, arena, rank, RootTHREAD);
  if (res != MPS_RES_OK) {
    ArenaLeave(arena);
    return res;
  }
  root->the.thread.thread = thread;
  root->the.thread.scan_area = scan_area;
  root->the.thread.closure = closure;
  root->the.thread.cold = AddrAlignDown(cold, sizeof(Word));
  if (own_tag) {
    root->tag.mask = mask;
    root->tag.pattern = pattern;
    root->the.thread.closure = &root->tag;
  }
  return rootFinish(root_o, arena, root);
}

mps_res_t mps_root_create_thread(mps_root_t *root_o, mps_arena_t arena,
                                 mps_thr_t thr, void *cold)
{
  return rootCreateThread(root_o, arena, RankAMBIG, thr,
                          mps_scan_area_tagged, NULL, TRUE,
                          sizeof(mps_word_t) - 1, 0, cold);
}

mps_res_t mps_root_create_thread_tagged(mps_root_t *root_o, mps_arena_t arena,
                                        mps_rank_t rank, mps_rm_t mode,
                                        mps_thr_t thr,
                                        mps_area_scan_t scan_area,
                                        mps_word_t mask, mps_word_t pattern,
                                        void *cold)
{
  (void)mode;
  return rootCreateThread(root_o, arena, rank, thr, scan_area, NULL, TRUE,
                          mask, pattern, cold);
}

mps_res_t mps_root_create_thread_scanned(mps_root_t *root_o,
                                         mps_arena_t arena, mps_rank_t rank,
                                         mps_rm_t mode, mps_thr_t thr,
                                         mps_area_scan_t scan_area,
                                         void *closure, void *cold)
{
  (void)mode;
  return rootCreateThread(root_o, arena, rank, thr, scan_area, closure,
                          FALSE, 0, 0, cold);
}

mps_res_t mps_stack_scan_ambig(mps_ss_t ss, mps_thr_t thr, void *p, size_t s)
{
  (void)s;
  return ThreadScan(ss, thr, p, mps_scan_area, NULL);
}

mps_res_t mps_root_create_reg(mps_root_t *root_o, mps_arena_t arena,
                              mps_rank_t rank, mps_rm_t mode, mps_thr_t thr,
                              mps_reg_scan_t reg_scan, void *p, size_t s)
{
  (void)mode;
  (void)s;
  if (reg_scan != mps_stack_scan_ambig)
    return MPS_RES_PARAM;
  return rootCreateThread(root_o, arena, rank, thr, mps_scan_area, NULL,
                          FALSE, 0, 0, p);
}

void mps_root_destroy(mps_root_t root)
{
  Arena arena = root->arena;
  ArenaEnter(arena);
  RootDestroy(root);
  ArenaLeave(arena);
}

/* Threads ----------------------------------------------------------------- */

mps_res_t mps_thread_reg(mps_thr_t *thr_o, mps_arena_t arena)
{
  Res res;
  Thread thread;
  AVER(thr_o != NULL);
  ArenaEnter(arena);
  res = ThreadRegister(&thread, arena);
  ArenaLeave(arena);
  if (res == MPS_RES_OK)
    *thr_o = thread;
  return res;
}

void mps_thread_dereg(mps_thr_t thr)
{
  Arena arena = thr->arena;
  ArenaEnter(arena);
  ThreadDeregister(thr);
  ArenaLeave(arena);
}

#if EXTENSIONS /* DESIGN.md#strict */

/* Other stacks of a thread (mpsx.h; DESIGN.md#stacks).  No arena lock: the
 * list belongs to the calling thread, and collectors read it only while
 * that thread is stopped. */

mps_res_t mpsx_thread_stack_add(mps_thr_t thr, void *low, void *high)
{
  AVERT(Thread, thr);
  if (!ThreadIsCurrent(thr))
    return MPS_RES_PARAM;
  return ThreadStackAdd(thr, low, high);
}

mps_bool_t mpsx_thread_stack_remove(mps_thr_t thr, void *low, void *high)
{
  AVERT(Thread, thr);
  AVER(ThreadIsCurrent(thr));
  return ThreadStackRemove(thr, low, high);
}

void mpsx_thread_stack_switch(mps_thr_t thr, void (*fn)(void *),
                              void *closure)
{
  AVERT(Thread, thr);
  AVER(ThreadIsCurrent(thr));
  ThreadStackSwitch(thr, fn, closure);
}

mps_bool_t mpsx_thread_stack_known(mps_thr_t thr, void *sp)
{
  AVERT(Thread, thr);
  return ThreadStackKnown(thr, sp);
}

mps_bool_t mpsx_thread_stack_own(mps_thr_t thr, void **low_o, void **high_o)
{
  AVERT(Thread, thr);
  AVER(low_o != NULL && high_o != NULL);
  *low_o = thr->stack_low;
  *high_o = thr->stack_high;
  return thr->stack_high != NULL;
}

#endif /* EXTENSIONS */

/* Messages ---------------------------------------------------------------- */

void mps_message_type_enable(mps_arena_t arena, mps_message_type_t type)
{
  AVER(type <= mps_message_type_gc_start());
  ArenaEnter(arena);
  if (type <= mps_message_type_gc_start())
    arena->enabled_types |= 1u << type;
  ArenaLeave(arena);
}

void mps_message_type_disable(mps_arena_t arena, mps_message_type_t type)
{
  AVER(type <= mps_message_type_gc_start());
  ArenaEnter(arena);
  if (type <= mps_message_type_gc_start()) {
    arena->enabled_types &= ~(1u << type);
    MessageEmptyType(arena, type);
  }
  ArenaLeave(arena);
}

mps_bool_t mps_message_poll(mps_arena_t arena)
{
  Bool any;
  ArenaEnter(arena);
  any = !RingIsSingle(&arena->messages);
  ArenaLeave(arena);
  return any;
}

mps_bool_t mps_message_queue_type(mps_message_type_t *type_o,
                                  mps_arena_t arena)
{
  Bool any;
  ArenaEnter(arena);
  any = !RingIsSingle(&arena->messages);
  if (any)
    *type_o = RING_ELT(Message, queue_ring, arena->messages.next)->type;
  ArenaLeave(arena);
  return any;
}

mps_bool_t mps_message_get(mps_message_t *message_o, mps_arena_t arena,
                           mps_message_type_t type)
{
  Ring node, next;
  Bool found = FALSE;
  ArenaEnter(arena);
  RING_FOR(node, &arena->messages, next) {
    Message message = RING_ELT(Message, queue_ring, node);
    if (message->type == type) {
      RingRemove(&message->queue_ring);
      RingAppend(&arena->got_messages, &message->queue_ring);
      *message_o = message;
      found = TRUE;
      break;
    }
  }
  ArenaLeave(arena);
  return found;
}

void mps_message_discard(mps_arena_t arena, mps_message_t message)
{
  ArenaEnter(arena);
  AVERT(Message, message);
  MessageDestroy(message);
  ArenaLeave(arena);
}

mps_message_type_t mps_message_type(mps_arena_t arena, mps_message_t message)
{
  (void)arena;
  AVERT(Message, message);
  return message->type;
}

mps_clock_t mps_message_clock(mps_arena_t arena, mps_message_t message)
{
  (void)arena;
  AVERT(Message, message);
  return message->clock;
}

void mps_message_finalization_ref(mps_addr_t *ref_o, mps_arena_t arena,
                                  mps_message_t message)
{
  ArenaEnter(arena);
  AVERT(Message, message);
  AVER(message->type == mps_message_type_finalization());
  *ref_o = message->the.final.ref;
  ArenaLeave(arena);
}

size_t mps_message_gc_live_size(mps_arena_t arena, mps_message_t message)
{
  (void)arena;
  AVER(message->type == mps_message_type_gc());
  return message->the.gc.live;
}

size_t mps_message_gc_condemned_size(mps_arena_t arena,
                                     mps_message_t message)
{
  (void)arena;
  AVER(message->type == mps_message_type_gc());
  return message->the.gc.condemned;
}

size_t mps_message_gc_not_condemned_size(mps_arena_t arena,
                                         mps_message_t message)
{
  (void)arena;
  AVER(message->type == mps_message_type_gc());
  return message->the.gc.not_condemned;
}

const char *mps_message_gc_start_why(mps_arena_t arena,
                                     mps_message_t message)
{
  (void)arena;
  AVER(message->type == mps_message_type_gc_start());
  return message->the.gc_start.why;
}

/* Finalization ------------------------------------------------------------ */

mps_res_t mps_finalize(mps_arena_t arena, mps_addr_t *ref_p)
{
  Res res;
  Seg seg;
  AVER(ref_p != NULL);
  ArenaEnter(arena);
  seg = SegOfAddr(arena, *ref_p);
  if (seg == NULL || !seg->pool->klass->automatic ||
      seg->pool->klass->never_condemned) {
    ArenaLeave(arena);
    return MPS_RES_PARAM;
  }
  res = FinalRegister(arena, *ref_p);
  ArenaLeave(arena);
  return res;
}

mps_res_t mps_definalize(mps_arena_t arena, mps_addr_t *ref_p)
{
  Res res;
  AVER(ref_p != NULL);
  ArenaEnter(arena);
  res = FinalDeregister(arena, *ref_p);
  ArenaLeave(arena);
  return res;
}

/* Transforms (DESIGN.md#transforms). */

mps_res_t mps_transform_create(mps_transform_t *transform_o,
                               mps_arena_t arena)
{
  Res res;
  AVER(transform_o != NULL);
  ArenaEnter(arena);
  res = TransformCreate(transform_o, arena);
  ArenaLeave(arena);
  return res;
}

mps_res_t mps_transform_add_oldnew(mps_transform_t transform,
                                   mps_addr_t *old_array,
                                   mps_addr_t *new_array, size_t count)
{
  Arena arena = TransformArena(transform);
  Res res;
  AVER(count == 0 || (old_array != NULL && new_array != NULL));
  ArenaEnter(arena);
  res = TransformAddOldNew(transform, (Addr *)old_array, (Addr *)new_array,
                           count);
  ArenaLeave(arena);
  return res;
}

mps_res_t mps_transform_apply(mps_bool_t *applied_o,
                              mps_transform_t transform)
{
  Arena arena = TransformArena(transform);
  Bool applied = FALSE;
  Res res;
  AVER(applied_o != NULL);
  ArenaEnter(arena);
  res = TransformApply(&applied, transform);
  ArenaLeave(arena);
  if (res == MPS_RES_OK)
    *applied_o = applied;
  return res;
}

void mps_transform_destroy(mps_transform_t transform)
{
  Arena arena = TransformArena(transform);
  ArenaEnter(arena);
  TransformDestroy(transform);
  ArenaLeave(arena);
}

/* Telemetry: telemetry.c. */
