/* mpsio.c: the default I/O module of the plinth (mpsio.h)
 *
 * One stream, the file named by MPS_TELEMETRY_FILENAME (default
 * mpsio.log), created or truncated when opened.  Written with write(2)
 * and nothing that allocates: telemetry is written while the world may
 * be stopped (DESIGN.md#telemetry).  Kept in a file of its own so that a
 * client's definitions of these functions replace it at link time.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "mpsio.h"

struct mps_io_s {
  int fd;
};

static struct mps_io_s theStream = {-1};

mps_res_t mps_io_create(mps_io_t *io_o)
{
  const char *name = getenv("MPS_TELEMETRY_FILENAME");
  if (name == NULL || name[0] == '\0')
    name = "mpsio.log";
  if (theStream.fd < 0) {
    theStream.fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (theStream.fd < 0)
      return MPS_RES_IO;
  }
  *io_o = &theStream;
  return MPS_RES_OK;
}

void mps_io_destroy(mps_io_t io)
{
  if (io->fd >= 0)
    (void)close(io->fd);
  io->fd = -1;
}

mps_res_t mps_io_write(mps_io_t io, void *buf, size_t size)
{
  const char *p = buf;
  while (size > 0) {
    ssize_t w = write(io->fd, p, size);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return MPS_RES_IO;
    p += w;
    size -= (size_t)w;
  }
  return MPS_RES_OK;
}

mps_res_t mps_io_flush(mps_io_t io)
{
  (void)io; /* write(2) leaves nothing buffered here */
  return MPS_RES_OK;
}
