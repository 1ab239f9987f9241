/* vm.c: address space and commitment from the operating system
 *
 * Reserving maps inaccessible, unbacked pages; committing makes them
 * readable and writable (the kernel supplies zero pages on first touch);
 * decommitting replaces them with fresh inaccessible pages, which
 * returns the memory to the system.  See DESIGN.md#arena.
 */

#define _GNU_SOURCE
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include "mpm.h"

Size VMPageSize(void)
{
  long size = sysconf(_SC_PAGESIZE);
  return size > 0 ? (Size)size : 4096;
}

Res VMReserve(Addr *base_o, Size size, Size align)
{
  /* Over-reserve so that an aligned range of `size` fits, then trim. */
  Size total = size + align;
  Addr p, base;
  if (total < size)
    return MPS_RES_RESOURCE;
  p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
           -1, 0);
  if (p == MAP_FAILED)
    return MPS_RES_RESOURCE;
  base = AddrAlignUp(p, align);
  if (base > p)
    (void)munmap(p, AddrOffset(p, base));
  if (AddrAdd(base, size) < AddrAdd(p, total))
    (void)munmap(AddrAdd(base, size),
                 AddrOffset(AddrAdd(base, size), AddrAdd(p, total)));
  *base_o = base;
  return MPS_RES_OK;
}

void VMUnreserve(Addr base, Size size)
{
  (void)munmap(base, size);
}

Res VMCommit(Addr base, Size size)
{
  if (mprotect(base, size, PROT_READ | PROT_WRITE) != 0)
    return MPS_RES_MEMORY;
  return MPS_RES_OK;
}

void VMDecommit(Addr base, Size size)
{
  void *p = mmap(base, size, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                 -1, 0);
  ASSERT_ALWAYS(p == base);
}

/* A mapping registered with the userfaultfd (softbar.c) loses its
 * registration if replaced: drop the pages instead (a private anonymous
 * mapping then reads as zeros), and make the range inaccessible. */
void VMDecommitInPlace(Addr base, Size size)
{
  ASSERT_ALWAYS(madvise(base, size, MADV_DONTNEED) == 0);
  ASSERT_ALWAYS(mprotect(base, size, PROT_NONE) == 0);
}

/* Code memory (DESIGN.md#code) -------------------------------------------
 *
 * One memfd backs two views: read-write for the loader and the collector,
 * read-execute for running.  No page is ever writable and executable in
 * the same view, and installing or moving code never changes the
 * protection of pages other code is running in.
 */

static Res mapFixedShared(Addr at, Size size, int fd, Size offset)
{
  void *p = mmap(at, size, PROT_NONE, MAP_SHARED | MAP_FIXED, fd,
                 (off_t)offset);
  return p == at ? MPS_RES_OK : MPS_RES_RESOURCE;
}

Res VMReserveCode(Addr *rw_o, Addr *rx_o, int *fd_o, Size size, Size align)
{
  Addr rw, rx;
  Res res;
  int fd = memfd_create("mps-code", MFD_CLOEXEC);
  if (fd < 0)
    return MPS_RES_RESOURCE;
  if (ftruncate(fd, (off_t)size) != 0)
    goto fail;
  /* Reserve aligned address ranges, then map the file over them. */
  res = VMReserve(&rw, size, align);
  if (res != MPS_RES_OK)
    goto fail;
  res = VMReserve(&rx, size, align);
  if (res != MPS_RES_OK) {
    VMUnreserve(rw, size);
    goto fail;
  }
  if (mapFixedShared(rw, size, fd, 0) != MPS_RES_OK ||
      mapFixedShared(rx, size, fd, 0) != MPS_RES_OK) {
    VMUnreserve(rw, size);
    VMUnreserve(rx, size);
    goto fail;
  }
  *rw_o = rw;
  *rx_o = rx;
  *fd_o = fd;
  return MPS_RES_OK;
fail:
  (void)close(fd);
  return MPS_RES_RESOURCE;
}

void VMUnreserveCode(Addr rw, Addr rx, int fd, Size size)
{
  VMUnreserve(rw, size);
  VMUnreserve(rx, size);
  (void)close(fd);
}

Res VMCommitCode(Addr rw, Addr rx, Size size)
{
  if (mprotect(rw, size, PROT_READ | PROT_WRITE) != 0)
    return MPS_RES_MEMORY;
  if (mprotect(rx, size, PROT_READ | PROT_EXEC) != 0) {
    (void)mprotect(rw, size, PROT_NONE);
    return MPS_RES_MEMORY;
  }
  return MPS_RES_OK;
}

void VMDecommitCode(Addr rw, Addr rx, int fd, Size offset, Size size)
{
  ASSERT_ALWAYS(mprotect(rx, size, PROT_NONE) == 0);
  ASSERT_ALWAYS(mprotect(rw, size, PROT_NONE) == 0);
  /* Give the pages back: the file keeps its size, the range reads as
   * zeros if committed again. */
  ASSERT_ALWAYS(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                          (off_t)offset, (off_t)size) == 0);
}
