/* The device twin of ser_reparam/features.py: 26 log-Mel energies + delta + delta-delta per
 * 10 ms frame (python_speech_features conventions), normalized with the training statistics
 * and quantized into the model's int8 input tensor.
 *
 * Portable C99, float32 math, no dynamic allocation; depends on libm and, when selected, the
 * FFT library. The numbers (frame length, hop, NFFT, filters, frames per window, ...) come from
 * the generated ser_frontend_config.h, the Mel filterbank, FFT twiddles and normalization
 * statistics from the generated ser_frontend_tables.c (firmware_export/frontend_tables.py).
 *
 * Use, once per non-overlapping window:
 *
 *   ser_frontend_reset(&fe);
 *   for (int i = 0; i < SER_WINDOW_HOPS; ++i) {
 *     read SER_HOP_SAMPLES samples of 16 kHz mono int16 audio into hop;
 *     ser_frontend_push(&fe, hop);           // computes each frame as soon as it is complete
 *   }
 *   ser_frontend_finish_int8(&fe, input->data.int8, input_scale, input_zero_point);
 *
 * For models that take one frame per hop, ser_frontend_stream.h is the streaming mode of the same
 * code (~4 KB of state instead of the window's log-Mel frames).
 *
 * A window of fewer hops is allowed: its frames are computed as the training front end does for
 * a short clip, and the frames after them are set to the training mean (0 once normalized), as
 * the training pipeline pads short utterances.
 *
 * FFT backend, chosen at compile time (define at most one, for every file of the front end):
 *   (none)          portable radix-2 FFT of NFFT/2 complex points + real-FFT split, in
 *                   ser_frontend.c; compiled and tested on the host by tests/test_frontend_c.py
 *   SER_FFT_CMSIS   CMSIS-DSP arm_rfft_fast_f32 (Cortex-M); add CMSIS-DSP's Include/ and the
 *                   rfft/cfft sources (ser-reparam's firmware_export/frontend/README.md lists
 *                   them). Tested on the host against the CMSIS-DSP
 *                   sources and cross-compiled for Cortex-M4 by the tests.
 *   SER_FFT_ESPDSP  ESP-DSP dsps_fft2r_fc32 + dsps_bit_rev_fc32 of NFFT/2 complex points, then
 *                   the same real-FFT split as the portable backend (ESP32 family; needs the
 *                   espressif/esp-dsp component). NOT compiled by ser-reparam's tests: ESP-DSP
 *                   needs ESP-IDF; the tests only build this path against a stand-in that
 *                   implements ESP-DSP's documented contract.
 */
#ifndef SER_FRONTEND_H_
#define SER_FRONTEND_H_

#include <stdint.h>

#include "ser_frontend_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Samples kept for framing: whole hops covering one frame (480 for 400-sample frames, 160 hop). */
#define SER_HISTORY_SAMPLES \
  (((SER_FRAME_LENGTH + SER_HOP_SAMPLES - 1) / SER_HOP_SAMPLES) * SER_HOP_SAMPLES)

typedef enum {
  SER_FRONTEND_OK = 0,
  SER_FRONTEND_WINDOW_FULL = 1, /* push after SER_WINDOW_HOPS hops: call ser_frontend_reset */
  SER_FRONTEND_FFT_ERROR = 2    /* the FFT library rejected SER_NFFT (CMSIS tables left out,
                                   ESP-DSP initialized for a smaller size) */
} ser_frontend_status_t;

/* The FFT's working memory: one frame, then (except CMSIS) its packed spectrum. */
typedef struct {
  float buffer[SER_NFFT];
#if defined(SER_FFT_CMSIS)
  float output[SER_NFFT]; /* arm_rfft_fast_f32 works out of place */
#endif
} ser_fft_work_t;

/* One window's state. Declare it static or global (it is ~ SER_NUM_FRAMES * 104 + 3 KB bytes,
 * too big for most task stacks); ser-reparam's firmware_export/frontend/README.md lists sizes. */
typedef struct {
  /* [0] is the sample before the oldest one (pre-emphasis needs it), then the last
   * SER_HISTORY_SAMPLES samples, oldest first; zeros at reset, so y[0] = x[0]. */
  int16_t history[SER_HISTORY_SAMPLES + 1];
  int hops;   /* hops pushed since reset */
  int frames; /* frames computed from complete samples (the zero-padded tail is left to finish) */
  float log_mel[SER_NUM_FRAMES][SER_NUM_FILTERS];
  ser_fft_work_t fft;
} ser_frontend_t;

/* Starts a new window. */
void ser_frontend_reset(ser_frontend_t *fe);

/* Appends SER_HOP_SAMPLES samples and computes the log-Mel energies of every frame whose samples
 * are now all present. SER_FRONTEND_WINDOW_FULL (nothing done) after SER_WINDOW_HOPS hops. */
ser_frontend_status_t ser_frontend_push(ser_frontend_t *fe, const int16_t *samples);

/* Writes the window's [SER_NUM_FRAMES][SER_NUM_FEATURES] normalized features, frame-major, dims
 * log-Mel (SER_NUM_FILTERS), delta, delta-delta: the zero-padded tail frames are computed as
 * python_speech_features does, deltas repeat the edge frames. The state is left as it was
 * (finish may be called again, or more hops pushed). */
ser_frontend_status_t ser_frontend_finish_float(ser_frontend_t *fe, float *out);

/* The same, quantized for the model: clamp(round(x / scale) + zero_point, -128, 127), rounding
 * half away from zero as TFLite does. */
ser_frontend_status_t ser_frontend_finish_int8(ser_frontend_t *fe, int8_t *out, float scale, int zero_point);

/* ---- Shared with the streaming front end (ser_frontend_stream.c); not for applications. ---- */

/* Shifts SER_HOP_SAMPLES samples into a history laid out as ser_frontend_t's. */
void ser_fe_push_history(int16_t history[SER_HISTORY_SAMPLES + 1], const int16_t *samples);

/* Log-Mel energies of the frame that starts `back` samples before the end of `history`
 * (back <= SER_HISTORY_SAMPLES); its samples past the end are zero (psf pads the pre-emphasized
 * signal). SER_FRONTEND_FFT_ERROR when the FFT library fails. */
ser_frontend_status_t ser_fe_log_mel(const int16_t history[SER_HISTORY_SAMPLES + 1], int back,
                                     ser_fft_work_t *fft, float log_mel[SER_NUM_FILTERS]);

/* Regression delta over +-SER_DELTA_WINDOW frames: rows[SER_DELTA_WINDOW + n] is frame t + n
 * (edge frames already repeated by the caller). */
void ser_fe_delta(const float *const rows[2 * SER_DELTA_WINDOW + 1], float out[SER_NUM_FILTERS]);

/* One frame's SER_NUM_FEATURES normalized features from its log-Mel, delta and delta-delta. */
void ser_fe_normalize(const float *log_mel, const float *delta, const float *delta_delta, float *out);

/* clamp(round(x / scale) + zero_point, -128, 127) of SER_NUM_FEATURES values, rounding half
 * away from zero as TFLite does. */
void ser_fe_quantize(const float *features, int8_t *out, float scale, int zero_point);

/* Generated tables (ser_frontend_tables.c). */
typedef struct {
  uint16_t first_bin; /* first FFT bin with a non-zero weight */
  uint16_t num_bins;  /* its weights follow the previous band's in g_ser_mel_weights */
} ser_mel_band_t;

extern const ser_mel_band_t g_ser_mel_bands[SER_NUM_FILTERS];
extern const float g_ser_mel_weights[SER_MEL_WEIGHT_COUNT];
extern const float g_ser_feature_mean[SER_NUM_FEATURES];
extern const float g_ser_feature_std[SER_NUM_FEATURES];
#if !defined(SER_FFT_CMSIS)
/* cos and sin of 2*pi*k/SER_NFFT, k < SER_NFFT/2: W^k = cos - j sin */
extern const float g_ser_fft_twiddles[SER_NFFT / 2][2];
#endif

#ifdef __cplusplus
}
#endif

#endif /* SER_FRONTEND_H_ */
