/* mpsio.h: the plinth's I/O module (the telemetry stream's output)
 *
 * The library writes the telemetry stream through these four functions.
 * Its default versions (src/mpsio.c, an object file of its own in the
 * static library) write the file named by MPS_TELEMETRY_FILENAME
 * (default mpsio.log); a client that defines all four in its own program
 * replaces them, and can send the stream anywhere.  They are called with
 * signals blocked, possibly while the collector has the other threads
 * stopped: a replacement must not allocate with malloc or take a lock a
 * mutator thread may hold.
 */

#ifndef mpsio_h
#define mpsio_h

#include "mps.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mps_io_s *mps_io_t;

/* Open the stream; called once, when the first events are written. */
extern mps_res_t mps_io_create(mps_io_t *io_o);
/* Close it (never called by this library: the stream lives as long as
 * the process). */
extern void mps_io_destroy(mps_io_t io);
/* Write size bytes at buf; MPS_RES_IO if they could not be written. */
extern mps_res_t mps_io_write(mps_io_t io, void *buf, size_t size);
/* Push written bytes on to their destination (mps_telemetry_flush). */
extern mps_res_t mps_io_flush(mps_io_t io);

#ifdef __cplusplus
}
#endif

#endif /* mpsio_h */
