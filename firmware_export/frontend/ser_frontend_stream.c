/* Streaming front end: see ser_frontend_stream.h for the API. Framing, FFT, Mel, deltas,
 * normalization and quantization are ser_frontend.c's (ser_fe_*); this file only schedules them:
 * a log-Mel frame per push, its delta once SER_DELTA_WINDOW later frames exist, the frame's
 * delta-delta once SER_DELTA_WINDOW later deltas exist. Two rings of SER_STREAM_RING rows hold
 * what those need; edge frames are repeated by clamping the lag into what the ring holds. */
#include "ser_frontend_stream.h"

#include <string.h>

void ser_stream_reset(ser_stream_t *s) {
  memset(s, 0, sizeof(*s));
}

/* The row `lag` frames before the newest of a ring that has seen `count` frames: lags before
 * the first frame repeat it, negative lags (after the last frame, only at the end) the newest. */
static const float *ring_row(const float ring[SER_STREAM_RING][SER_NUM_FILTERS], int newest, int count, int lag) {
  if (lag >= count) lag = count - 1;
  if (lag < 0) lag = 0;
  return ring[(newest - lag + SER_STREAM_RING) % SER_STREAM_RING];
}

/* The rows of frames t - N .. t + N, t being `lag` frames before the newest. */
static void window_rows(const float ring[SER_STREAM_RING][SER_NUM_FILTERS], int newest, int count, int lag,
                        const float *rows[SER_STREAM_RING]) {
  for (int k = 0; k < SER_STREAM_RING; ++k) rows[k] = ring_row(ring, newest, count, lag + SER_DELTA_WINDOW - k);
}

/* Computes the log-Mel frame starting s->next_back samples before the newest sample. */
static int add_log_mel(ser_stream_t *s) {
  const int slot = (s->mel_newest + 1) % SER_STREAM_RING; /* its oldest row is no longer needed */
  if (ser_fe_log_mel(s->history, s->next_back, &s->fft, s->log_mel[slot]) != SER_FRONTEND_OK) {
    return SER_STREAM_FFT_ERROR;
  }
  s->mel_newest = slot;
  s->mel_count += s->mel_count < SER_STREAM_RING;
  s->mel_pending++;
  return 0;
}

/* The delta of the oldest log-Mel frame still without one. */
static void add_delta(ser_stream_t *s) {
  const float *rows[SER_STREAM_RING];
  window_rows(s->log_mel, s->mel_newest, s->mel_count, s->mel_pending - 1, rows);
  const int slot = (s->delta_newest + 1) % SER_STREAM_RING;
  ser_fe_delta(rows, s->delta[slot]);
  s->delta_newest = slot;
  s->delta_count += s->delta_count < SER_STREAM_RING;
  s->mel_pending--;
  s->delta_pending++;
}

/* Writes the next frame's normalized features and returns 1 once the frames after it that its
 * deltas need exist (or the stream ends), else 0. */
static int next_frame(ser_stream_t *s, float *out) {
  for (;;) {
    const int all_deltas = s->flushing && s->mel_pending == 0;
    if (s->delta_pending > SER_DELTA_WINDOW || (all_deltas && s->delta_pending > 0)) {
      const float *rows[SER_STREAM_RING];
      float delta_delta[SER_NUM_FILTERS];
      const int lag = s->delta_pending - 1;
      window_rows(s->delta, s->delta_newest, s->delta_count, lag, rows);
      ser_fe_delta(rows, delta_delta);
      ser_fe_normalize(ring_row(s->log_mel, s->mel_newest, s->mel_count, lag + s->mel_pending),
                       rows[SER_DELTA_WINDOW], delta_delta, out);
      s->delta_pending--;
      return 1;
    }
    if (s->mel_pending > SER_DELTA_WINDOW || (s->flushing && s->mel_pending > 0)) {
      add_delta(s);
      continue;
    }
    return 0;
  }
}

int ser_stream_push_float(ser_stream_t *s, const int16_t *hop, float *out) {
  if (s->flushing) return SER_STREAM_FLUSHED;
  ser_fe_push_history(s->history, hop);
  s->next_back += SER_HOP_SAMPLES;
  if (s->next_back >= SER_FRAME_LENGTH) { /* one frame completes per hop: frames start every hop */
    const int status = add_log_mel(s);
    s->next_back -= SER_HOP_SAMPLES; /* even on error: next_back stays within the history */
    if (status != 0) return status;
  }
  return next_frame(s, out);
}

int ser_stream_flush_float(ser_stream_t *s, float *out) {
  if (!s->flushing) {
    /* psf's last frame is zero-padded unless the last complete frame ends at the last sample;
     * a clip shorter than a frame has that one frame only */
    if (s->mel_count == 0 || s->next_back > SER_FRAME_LENGTH - SER_HOP_SAMPLES) {
      const int status = add_log_mel(s);
      if (status != 0) return status;
    }
    s->flushing = 1;
  }
  return next_frame(s, out);
}

int ser_stream_push_int8(ser_stream_t *s, const int16_t *hop, int8_t *out, float scale, int zero_point) {
  float features[SER_NUM_FEATURES];
  const int ready = ser_stream_push_float(s, hop, features);
  if (ready == 1) ser_fe_quantize(features, out, scale, zero_point);
  return ready;
}

int ser_stream_flush_int8(ser_stream_t *s, int8_t *out, float scale, int zero_point) {
  float features[SER_NUM_FEATURES];
  const int ready = ser_stream_flush_float(s, features);
  if (ready == 1) ser_fe_quantize(features, out, scale, zero_point);
  return ready;
}
