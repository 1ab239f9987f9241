/* format.c: object formats
 *
 * A format is the client's description of its objects: how to scan,
 * skip, forward and pad them.  The legacy creation structures (A, B,
 * auto_header, fixed) are translated to the keyword form in mpsi.c.
 */

#include <stdlib.h>

#include "mpm.h"
#include "args.h"

Bool FormatCheck(Format format)
{
  return format != NULL && format->sig == FormatSig &&
         format->arena != NULL && IsPow2(format->align) &&
         format->align <= 4096;
}

/* Defaults for methods a pool class may not need: calling one of these
 * means the format lacked a method its pool requires. */
static mps_res_t scanMissing(mps_ss_t ss, mps_addr_t base, mps_addr_t limit)
{
  (void)ss;
  (void)base;
  (void)limit;
  AssertFail(__FILE__, __LINE__, "format has no scan method");
}

static mps_addr_t skipMissing(mps_addr_t addr)
{
  (void)addr;
  AssertFail(__FILE__, __LINE__, "format has no skip method");
}

static void fwdMissing(mps_addr_t old, mps_addr_t new_)
{
  (void)old;
  (void)new_;
  AssertFail(__FILE__, __LINE__, "format has no forward method");
}

static mps_addr_t isfwdNone(mps_addr_t addr)
{
  (void)addr;
  return NULL;
}

static void padMissing(mps_addr_t addr, size_t size)
{
  (void)addr;
  (void)size;
  AssertFail(__FILE__, __LINE__, "format has no pad method");
}

static mps_addr_t classNone(mps_addr_t addr)
{
  (void)addr;
  return NULL;
}

Res FormatCreate(Format *format_o, Arena arena, mps_arg_s args[])
{
  Format format;
  mps_arg_s arg;
  format = calloc(1, sizeof *format);
  if (format == NULL)
    return MPS_RES_MEMORY;
  format->arena = arena;
  format->align = sizeof(Word); /* MPS_PF_ALIGN on LP64 */
  format->header = 0;
  format->scan = scanMissing;
  format->skip = skipMissing;
  format->fwd = fwdMissing;
  format->isfwd = isfwdNone;
  format->pad = padMissing;
  format->klass = classNone;
  format->scan_given = format->skip_given = FALSE;
  format->fwd_given = format->pad_given = FALSE;
  if (ArgPick(&arg, args, MPS_KEY_FMT_ALIGN))
    format->align = arg.val.align;
  if (ArgPick(&arg, args, MPS_KEY_FMT_HEADER_SIZE))
    format->header = arg.val.size;
  if (ArgPick(&arg, args, MPS_KEY_FMT_SCAN) && arg.val.fmt_scan != NULL) {
    format->scan = arg.val.fmt_scan;
    format->scan_given = TRUE;
  }
  if (ArgPick(&arg, args, MPS_KEY_FMT_SKIP) && arg.val.fmt_skip != NULL) {
    format->skip = arg.val.fmt_skip;
    format->skip_given = TRUE;
  }
  if (ArgPick(&arg, args, MPS_KEY_FMT_FWD) && arg.val.fmt_fwd != NULL) {
    format->fwd = arg.val.fmt_fwd;
    format->fwd_given = TRUE;
  }
  if (ArgPick(&arg, args, MPS_KEY_FMT_ISFWD) && arg.val.fmt_isfwd != NULL)
    format->isfwd = arg.val.fmt_isfwd;
  if (ArgPick(&arg, args, MPS_KEY_FMT_PAD) && arg.val.fmt_pad != NULL) {
    format->pad = arg.val.fmt_pad;
    format->pad_given = TRUE;
  }
  if (ArgPick(&arg, args, MPS_KEY_FMT_CLASS) && arg.val.fmt_class != NULL)
    format->klass = arg.val.fmt_class;
  if (!IsPow2(format->align) || format->align > arena->grain ||
      !SizeIsAligned(format->header, sizeof(Word))) {
    free(format);
    return MPS_RES_PARAM;
  }
  if (format->align < sizeof(Word))
    format->align = sizeof(Word);
  RingInit(&format->arena_ring);
  RingAppend(&arena->formats, &format->arena_ring);
  format->sig = FormatSig;
  *format_o = format;
  return MPS_RES_OK;
}

Bool FormatBindFixed(Format format, mps_arg_s args[])
{
  mps_arg_s arg;
  Size size;
  if (!format->fixed)
    return TRUE;
  if (!ArgPick(&arg, args, MPS_KEY_MFS_UNIT_SIZE))
    return FALSE;
  size = arg.val.size;
  /* A power of two, so that it divides every segment and every gap a
   * pool pads is a whole number of objects. */
  if (size < format->align || !IsPow2(size) ||
      size > format->arena->grain ||
      (format->fixed_size != 0 && format->fixed_size != size))
    return FALSE;
  format->fixed_size = size;
  format->skip_given = TRUE;
  return TRUE;
}

void FormatDestroy(Format format)
{
  AVERT(Format, format);
  AVER(format->pools == 0);
  RingRemove(&format->arena_ring);
  format->sig = SigInvalid;
  free(format);
}
