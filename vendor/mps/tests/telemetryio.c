/* telemetryio.c -- a client's own I/O module (mpsio.h) replaces the
 * default one at link time (DESIGN.md#telemetry)
 *
 * Checked: this program's mps_io_create / write / flush receive the
 * telemetry stream (no file is written): created once, the format line
 * first, each interned string (User on, set by mps_telemetry_set with no
 * MPS_TELEMETRY_CONTROL), a flush per mps_telemetry_flush, and the
 * events of an arena's life (Arena, Pool) by mps_arena_destroy.
 */

#define _GNU_SOURCE
#include "testlib.h"

#include "mps.h"
#include "mpsavm.h"
#include "mpscmvff.h"
#include "mpsio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mps_io_s {
  char text[1 << 16];
  size_t used;
  unsigned creates, flushes;
};

static struct mps_io_s capture;

mps_res_t mps_io_create(mps_io_t *io_o)
{
  ++capture.creates;
  *io_o = &capture;
  return MPS_RES_OK;
}

void mps_io_destroy(mps_io_t io)
{
  (void)io;
}

mps_res_t mps_io_write(mps_io_t io, void *buf, size_t size)
{
  if (size > sizeof io->text - 1 - io->used)
    return MPS_RES_IO;
  memcpy(io->text + io->used, buf, size);
  io->used += size;
  io->text[io->used] = '\0';
  return MPS_RES_OK;
}

mps_res_t mps_io_flush(mps_io_t io)
{
  ++io->flushes;
  return MPS_RES_OK;
}

int main(void)
{
  mps_arena_t arena;
  mps_pool_t pool;
  char s[64], needle[128];
  mps_label_t label;
  unsigned i, n;

  test_init("telemetryio");
  unsetenv("MPS_TELEMETRY_CONTROL");
  CHECK(mps_telemetry_get() == 0);
  mps_telemetry_intern("not recorded: User is off");
  mps_telemetry_flush();
  CHECKF(capture.creates == 0 && capture.used == 0,
         "the stream was opened with nothing to write");

  mps_telemetry_set(1 << 6); /* User */
  n = 1 + (unsigned)rnd_below(20);
  for (i = 0; i < n; ++i) {
    snprintf(s, sizeof s, "string %u of %u", i, n);
    label = mps_telemetry_intern(s);
    mps_telemetry_flush();
    snprintf(needle, sizeof needle, "User Intern label=%lu string=\"%s\"\n",
             (unsigned long)label, s);
    CHECKF(strstr(capture.text, needle) != NULL, "not captured: %s", needle);
    CHECK(capture.flushes == i + 1);
  }
  CHECK(capture.creates == 1);
  CHECK(strncmp(capture.text, "mps-rs telemetry 1\n", 19) == 0);

  mps_telemetry_set(3); /* Arena, Pool */
  CHECK_RES(mps_arena_create_k(&arena, mps_arena_class_vm(), mps_args_none));
  CHECK_RES(mps_pool_create_k(&pool, arena, mps_class_mvff(), mps_args_none));
  mps_pool_destroy(pool);
  mps_arena_destroy(arena);
  snprintf(needle, sizeof needle, "Arena ArenaCreate arena=%p class=VM",
           (void *)arena);
  CHECKF(strstr(capture.text, needle) != NULL, "not captured: %s", needle);
  snprintf(needle, sizeof needle, "Arena ArenaDestroy arena=%p\n",
           (void *)arena);
  CHECKF(strstr(capture.text, needle) != NULL, "not captured: %s", needle);
  snprintf(needle, sizeof needle, "Pool PoolInit pool=%p arena=%p class=MVFF",
           (void *)pool, (void *)arena);
  CHECKF(strstr(capture.text, needle) != NULL, "not captured: %s", needle);
  CHECK(capture.creates == 1);
  printf("telemetryio: %zu bytes captured, %u flushes\n", capture.used,
         capture.flushes);
  return 0;
}
