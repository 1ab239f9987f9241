/* telemetry.h: the telemetry filter and event stream, inside the library
 *
 * See DESIGN.md#telemetry.  Events are lines of text in a buffer,
 * written to the telemetry file (MPS_TELEMETRY_FILENAME, default
 * mpsio.log) when the buffer fills, at mps_telemetry_flush, at
 * mps_arena_destroy and on an assertion failure.
 */

#ifndef telemetry_h
#define telemetry_h

#include <stdint.h>

#include "mps.h"

/* An address as an event argument: printed with "0x%lx". */
#define TelAddr(p) ((unsigned long)(uintptr_t)(p))

/* Event categories: bit numbers in the filter, as the manual numbers
 * them. */
enum {
  TelArena = 0,  /* arenas and their chunks */
  TelPool = 1,   /* pools */
  TelTrace = 2,  /* collections */
  TelSeg = 3,    /* segments (page runs) */
  TelRef = 4,    /* per reference: no event is emitted (DESIGN.md#telemetry) */
  TelObject = 5, /* mps_alloc and mps_free */
  TelUser = 6,   /* mps_telemetry_intern and mps_telemetry_label */
  TelCategories = 7
};

/* The filter (read from MPS_TELEMETRY_CONTROL on first use). */
mps_word_t TelemetryFilter(void);
#define TelemetryOn(cat) ((TelemetryFilter() >> (cat)) & 1)

/* Record an event of category `cat` if the filter has it: `name`, then
 * the printf-style `fmt` (key=value pairs, no floating point: it may be
 * called while the world is stopped, and must not allocate). */
void TelemetryEvent(unsigned cat, const char *name, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

/* Write the buffer out; with `abandon` (an assertion failure), skip it
 * if another thread holds the buffer's lock. */
void TelemetryFlush(int abandon);

#endif /* telemetry_h */
