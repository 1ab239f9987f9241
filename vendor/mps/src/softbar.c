/* softbar.c: a write barrier without protection changes
 *
 * Where the kernel offers it (Linux 6.7 and later: userfaultfd's
 * asynchronous write protection and the PAGEMAP_SCAN ioctl), the write
 * barrier of a VM chunk (DESIGN.md#barrier-soft) write-protects pages
 * through a userfaultfd instead of mprotect.  A write to such a page does
 * not stop the thread: the kernel lifts the page's protection itself and
 * the page reads as "written" from then on.  The collector asks which
 * pages were written when a trace starts.  No system call splits or
 * merges mappings, no signal is delivered, and system calls may write
 * into such pages (a read(2) into a protected object works).
 *
 * This file holds the process-wide state: one userfaultfd for every
 * arena, the open /proc/self/pagemap, and the probe that decides at run
 * time whether the kernel can do it.  An arena asks for it with
 * MPSX_KEY_WRITE_BARRIER, or every arena with MPS_WRITE_BARRIER=userfaultfd
 * in the environment (arena.c).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "mpm.h"

/* What older kernel headers lack (the values are the kernel's ABI). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1ULL << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

typedef struct {
  unsigned long long start, end, categories;
} SoftRegion;

typedef struct {
  unsigned long long size, flags, start, end, walk_end, vec, vec_len,
      max_pages, category_inverted, category_mask, category_anyof_mask,
      return_mask;
} SoftScanArg;

#define SOFT_PAGEMAP_SCAN _IOWR('f', 16, SoftScanArg)
#define SOFT_PAGE_IS_WRITTEN (1ULL << 1)
#define SOFT_SCAN_CHECK_WPASYNC (1ULL << 1)

/* -1 until probed; then the userfaultfd and the pagemap, or -2 each if
 * the kernel cannot (or in a forked child). */
static int softUffd = -1;
static int softPagemap = -1;

static Bool softRegister(Addr base, Size size)
{
  struct uffdio_register reg;
  memset(&reg, 0, sizeof reg);
  reg.range.start = (unsigned long)base;
  reg.range.len = size;
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  return ioctl(softUffd, UFFDIO_REGISTER, &reg) == 0;
}

static int softWriteProtect(Addr base, Size size, Bool on)
{
  struct uffdio_writeprotect wp;
  memset(&wp, 0, sizeof wp);
  wp.range.start = (unsigned long)base;
  wp.range.len = size;
  wp.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
  return ioctl(softUffd, UFFDIO_WRITEPROTECT, &wp);
}

/* One scan of [base, limit): the written runs, at most n of them, into
 * vec; *next is where the kernel stopped.  -1 on failure. */
static long softScan(Addr base, Addr limit, SoftRegion *vec, Size n,
                     Addr *next)
{
  SoftScanArg arg;
  long found;
  memset(&arg, 0, sizeof arg);
  arg.size = sizeof arg;
  arg.flags = SOFT_SCAN_CHECK_WPASYNC;
  arg.start = (unsigned long)base;
  arg.end = (unsigned long)limit;
  arg.vec = (unsigned long)vec;
  arg.vec_len = n;
  arg.category_mask = SOFT_PAGE_IS_WRITTEN;
  arg.return_mask = SOFT_PAGE_IS_WRITTEN;
  do
    found = ioctl(softPagemap, SOFT_PAGEMAP_SCAN, &arg);
  while (found < 0 && errno == EINTR);
  *next = (Addr)(Word)arg.walk_end;
  return found;
}

/* Does the kernel do what the barrier needs?  Protect two pages of a
 * fresh mapping (one never touched), write both, and find exactly those
 * two written. */
static Bool softWorks(void)
{
  Size page = VMPageSize();
  Addr p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  Bool ok = FALSE;
  if (p == MAP_FAILED)
    return FALSE;
  ((volatile char *)p)[0] = 1;
  if (softRegister(p, 4 * page) && softWriteProtect(p, 4 * page, TRUE) == 0) {
    SoftRegion vec[4];
    Addr next;
    long n = softScan(p, AddrAdd(p, 4 * page), vec, 4, &next);
    if (n == 0) {
      ((volatile char *)p)[0] = 2;
      ((volatile char *)p)[2 * page] = 2;
      n = softScan(p, AddrAdd(p, 4 * page), vec, 4, &next);
      ok = n == 2 && vec[0].start == (Word)p &&
           vec[0].end == (Word)AddrAdd(p, page) &&
           vec[1].start == (Word)AddrAdd(p, 2 * page) &&
           vec[1].end == (Word)AddrAdd(p, 3 * page);
    }
  }
  (void)munmap(p, 4 * page);
  return ok;
}

static void softProbe(void)
{
  struct uffdio_api api;
  int uffd;
  softUffd = softPagemap = -2;
  /* User-mode faults only: allowed without privilege since Linux 5.11.
   * Asynchronous write protection resolves kernel-mode writes too. */
  uffd = (int)syscall(SYS_userfaultfd,
                      O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (uffd < 0)
    return;
  memset(&api, 0, sizeof api);
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
  if (ioctl(uffd, UFFDIO_API, &api) != 0) {
    (void)close(uffd);
    return;
  }
  softUffd = uffd;
  softPagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (softPagemap < 0 || !softWorks()) {
    if (softPagemap >= 0)
      (void)close(softPagemap);
    (void)close(uffd);
    softUffd = softPagemap = -2;
  }
}

/* With the global lock held: probe once. */
Bool SoftBarrierAvailable(void)
{
  if (softUffd == -1)
    softProbe();
  return softUffd >= 0;
}

Bool SoftBarrierRegister(Addr base, Size size)
{
  return softUffd >= 0 && softRegister(base, size);
}

void SoftBarrierProtect(Addr base, Addr limit, Bool on)
{
  ASSERT_ALWAYS(softWriteProtect(base, AddrOffset(base, limit), on) == 0);
}

/* Call found(closure, base, limit) for every run of pages in [base,
 * limit) written since they were last write-protected (pages never
 * write-protected count as written).  FALSE if the kernel would not say:
 * the caller must then assume everything was written. */
Bool SoftBarrierWritten(Addr base, Addr limit,
                        void (*found)(void *closure, Addr base, Addr limit),
                        void *closure)
{
  SoftRegion vec[64];
  while (base < limit) {
    Addr next;
    long n = softScan(base, limit, vec, sizeof vec / sizeof vec[0], &next), i;
    if (n < 0)
      return FALSE;
    for (i = 0; i < n; ++i)
      found(closure, (Addr)(Word)vec[i].start, (Addr)(Word)vec[i].end);
    if (next <= base)
      return FALSE; /* no progress: do not trust what was found */
    base = next;
  }
  return TRUE;
}

/* In a forked child: the userfaultfd and the pagemap are the parent's,
 * and the child's mappings are registered with neither.  The child
 * keeps the mprotect barrier from now on (protect.c turns what its
 * chunks had into no barrier). */
void SoftBarrierForkChild(void)
{
  if (softUffd >= 0) {
    (void)close(softUffd);
    (void)close(softPagemap);
  }
  softUffd = softPagemap = -2;
}
