/* Streaming mode of the device front end: one normalized feature frame per 10 ms hop, for
 * models that consume frames as they come (ser_reparam/models/streaming.py), with no whole-window
 * buffer. The frames are exactly those of ser_frontend.h / ser_reparam/features.py for the
 * audio pushed since ser_stream_reset: the same framing, FFT, Mel, deltas, normalization and
 * int8 rounding (the code is shared with ser_frontend.c, which must be compiled too).
 *
 * A frame's delta-delta needs the log-Mel of the SER_STREAM_DELAY_FRAMES frames after it, so
 * frame t is returned by push number SER_STREAM_FIRST_PUSH + t (counting from 1 after reset);
 * the pushes before the first return 0. At the end of a clip, ser_stream_flush_* returns the
 * frames still held back (the zero-padded tail frame and the delayed ones, deltas repeating the
 * last frame), one per call. Use:
 *
 *   static ser_stream_t stream;
 *   ser_stream_reset(&stream);
 *   for (;;) {
 *     read SER_HOP_SAMPLES samples of 16 kHz mono int16 audio into hop;
 *     int ready = ser_stream_push_int8(&stream, hop, frame, input_scale, input_zero_point);
 *     if (ready < 0) error: the FFT library failed (see ser_frontend.h, SER_FRONTEND_FFT_ERROR);
 *     if (ready == 1) feed frame (SER_NUM_FEATURES int8 values) to the model;
 *   }
 *   at the end of a clip: while (ser_stream_flush_int8(&stream, frame, ...) == 1) feed frame;
 *
 * A stream may run for ever without flushing: the state holds only counters bounded by the ring
 * sizes. Frame t's features are those of the clip from reset: the first frames repeat frame 0
 * in their deltas, as at the start of a clip.
 */
#ifndef SER_FRONTEND_STREAM_H_
#define SER_FRONTEND_STREAM_H_

#include <stdint.h>

#include "ser_frontend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Frames computed after frame t before it is returned (its delta-delta's +-2N frames of log-Mel). */
#define SER_STREAM_DELAY_FRAMES (2 * SER_DELTA_WINDOW)
/* The push (1-based, after reset) that returns frame 0; push SER_STREAM_FIRST_PUSH + t returns
 * frame t. Frame t's last sample arrives with push ceil((t * hop + frame) / hop). */
#define SER_STREAM_FIRST_PUSH (SER_HISTORY_SAMPLES / SER_HOP_SAMPLES + SER_STREAM_DELAY_FRAMES)
/* Frames of log-Mel and of deltas kept: a delta needs +-SER_DELTA_WINDOW frames. */
#define SER_STREAM_RING (2 * SER_DELTA_WINDOW + 1)

/* Return values besides 0 and 1. */
#define SER_STREAM_FFT_ERROR (-1) /* the FFT library rejected SER_NFFT (see ser_frontend.h) */
#define SER_STREAM_FLUSHED (-2)   /* push after flush: call ser_stream_reset first */

/* One stream's state (ser-reparam's firmware_export/frontend/README.md lists its size: about
 * 4 KB, 6 KB with CMSIS-DSP's out-of-place FFT). Declare it static or global. */
typedef struct {
  int16_t history[SER_HISTORY_SAMPLES + 1]; /* as in ser_frontend_t */
  int next_back;    /* samples from the start of the next log-Mel frame to the end of history */
  int mel_newest;   /* ring slot of the newest log-Mel frame */
  int mel_count;    /* log-Mel frames since reset, at most SER_STREAM_RING */
  int mel_pending;  /* newest log-Mel frames whose delta is not computed yet */
  int delta_newest; /* ring slot of the newest delta */
  int delta_count;  /* deltas since reset, at most SER_STREAM_RING */
  int delta_pending; /* newest deltas whose frame is not returned yet */
  int flushing;     /* 1 once ser_stream_flush_* has added the tail frame */
  float log_mel[SER_STREAM_RING][SER_NUM_FILTERS];
  float delta[SER_STREAM_RING][SER_NUM_FILTERS];
  ser_fft_work_t fft;
} ser_stream_t;

/* Starts a stream (a clip): no samples before it, edge frames repeated in the first deltas. */
void ser_stream_reset(ser_stream_t *s);

/* Pushes SER_HOP_SAMPLES samples. Returns 1 when it wrote the next frame's SER_NUM_FEATURES
 * normalized features to out (dims log-Mel, delta, delta-delta), 0 when no frame is ready yet,
 * SER_STREAM_FFT_ERROR or SER_STREAM_FLUSHED. */
int ser_stream_push_float(ser_stream_t *s, const int16_t *hop, float *out);

/* The same, quantized as ser_frontend_finish_int8 does: clamp(round(x / scale) + zero_point). */
int ser_stream_push_int8(ser_stream_t *s, const int16_t *hop, int8_t *out, float scale, int zero_point);

/* Ends the stream (clip): writes the next frame still held back and returns 1, returns 0 when
 * all of the clip's frames have been returned (then reset before pushing again), or
 * SER_STREAM_FFT_ERROR. The clip has psf's 1 + ceil((samples - frame) / hop) frames (at least 1). */
int ser_stream_flush_float(ser_stream_t *s, float *out);
int ser_stream_flush_int8(ser_stream_t *s, int8_t *out, float scale, int zero_point);

#ifdef __cplusplus
}
#endif

#endif /* SER_FRONTEND_STREAM_H_ */
