/* vm.c: address space and commitment from the operating system
 *
 * Reserving maps inaccessible, unbacked pages; committing makes them
 * readable and writable (the kernel supplies zero pages on first touch);
 * decommitting replaces them with fresh inaccessible pages, which
 * returns the memory to the system.  See DESIGN.md#arena.
 */

#define _GNU_SOURCE
#include <sys/mman.h>
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
