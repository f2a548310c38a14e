/* LMFB front end: see ser_frontend.h for the API, ser-reparam's firmware_export/frontend/README.md
 * for memory, code size and backends. */
#include "ser_frontend.h"

#include <math.h>
#include <string.h>

#if defined(SER_FFT_CMSIS) && defined(SER_FFT_ESPDSP)
#error "define at most one of SER_FFT_CMSIS and SER_FFT_ESPDSP"
#endif
#if (SER_NFFT & (SER_NFFT - 1)) != 0 || SER_NFFT < 4
#error "SER_NFFT must be a power of two >= 4"
#endif
#if SER_FRAME_LENGTH > SER_NFFT
#error "a frame must fit SER_NFFT"
#endif

#if defined(SER_FFT_CMSIS)
#include "arm_math.h"
#elif defined(SER_FFT_ESPDSP)
#include "dsps_fft2r.h"
#endif

#define SER_HALF_NFFT (SER_NFFT / 2)

/* ---- real FFT: every backend leaves the packed spectrum of CMSIS: [0] = DC, [1] = Nyquist,
 * [2k], [2k+1] = re, im of bin k (0 < k < NFFT/2). ---- */

#if !defined(SER_FFT_CMSIS)
/* The spectrum X of a real x[0..N) from the complex FFT Z of z[m] = x[2m] + j x[2m+1]
 * (N/2 points, natural order, in place): with E = (Z[k] + conj Z[N/2-k]) / 2 and
 * O = (Z[k] - conj Z[N/2-k]) / 2j, X[k] = E + W^k O and X[N/2-k] = conj(E - W^k O). */
static void split_real_spectrum(float *buf) {
  const float z0_re = buf[0], z0_im = buf[1];
  buf[0] = z0_re + z0_im;
  buf[1] = z0_re - z0_im;
  for (int k = 1; k <= SER_HALF_NFFT / 2; ++k) {
    float *a = buf + 2 * k, *b = buf + 2 * (SER_HALF_NFFT - k);
    const float e_re = 0.5f * (a[0] + b[0]), e_im = 0.5f * (a[1] - b[1]);
    const float o_re = 0.5f * (a[1] + b[1]), o_im = -0.5f * (a[0] - b[0]);
    const float c = g_ser_fft_twiddles[k][0], s = g_ser_fft_twiddles[k][1];
    const float wo_re = c * o_re + s * o_im, wo_im = c * o_im - s * o_re; /* (c - js) O */
    a[0] = e_re + wo_re;
    a[1] = e_im + wo_im;
    b[0] = e_re - wo_re;
    b[1] = wo_im - e_im;
  }
}
#endif

#if defined(SER_FFT_CMSIS)
/* arm_rfft_fast_init_512_f32 (CMSIS-DSP >= 1.10) links only the tables of that size; the generic
 * arm_rfft_fast_init_f32 would pull in every size's (~60 KB of flash). */
#define SER_RFFT_INIT_(n) arm_rfft_fast_init_##n##_f32
#define SER_RFFT_INIT(n) SER_RFFT_INIT_(n)

static const float *real_fft(ser_fft_work_t *fft) {
  arm_rfft_fast_instance_f32 rfft; /* initializing sets a few pointers: cheaper than keeping it */
  if (SER_RFFT_INIT(SER_NFFT)(&rfft) != ARM_MATH_SUCCESS) return NULL;
  arm_rfft_fast_f32(&rfft, fft->buffer, fft->output, 0);
  return fft->output;
}

#elif defined(SER_FFT_ESPDSP)
/* ESP-DSP keeps a pointer to its twiddle table: a static one avoids its heap allocation. If the
 * application initialized ESP-DSP first, its table is used when it is large enough. */
static float s_espdsp_twiddles[SER_HALF_NFFT];

static const float *real_fft(ser_fft_work_t *fft) {
  if (dsps_fft2r_init_fc32(s_espdsp_twiddles, SER_HALF_NFFT) != ESP_OK ||
      dsps_fft_w_table_size < SER_HALF_NFFT) {
    return NULL;
  }
  if (dsps_fft2r_fc32(fft->buffer, SER_HALF_NFFT) != ESP_OK ||
      dsps_bit_rev_fc32(fft->buffer, SER_HALF_NFFT) != ESP_OK) {
    return NULL;
  }
  split_real_spectrum(fft->buffer);
  return fft->buffer;
}

#else
/* In place, radix 2, decimation in time on N/2 complex points. */
static void complex_fft(float *z) {
  for (int i = 1, j = 0; i < SER_HALF_NFFT; ++i) { /* bit-reversal permutation */
    int bit = SER_HALF_NFFT >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j |= bit;
    if (i < j) {
      const float re = z[2 * i], im = z[2 * i + 1];
      z[2 * i] = z[2 * j];
      z[2 * i + 1] = z[2 * j + 1];
      z[2 * j] = re;
      z[2 * j + 1] = im;
    }
  }
  for (int size = 2; size <= SER_HALF_NFFT; size <<= 1) {
    const int half = size >> 1, stride = SER_NFFT / size; /* W_{size}^k = W_{NFFT}^{k stride} */
    for (int k = 0; k < half; ++k) {
      const float c = g_ser_fft_twiddles[k * stride][0], s = g_ser_fft_twiddles[k * stride][1];
      for (int start = k; start < SER_HALF_NFFT; start += size) {
        float *a = z + 2 * start, *b = z + 2 * (start + half);
        const float t_re = c * b[0] + s * b[1], t_im = c * b[1] - s * b[0];
        b[0] = a[0] - t_re;
        b[1] = a[1] - t_im;
        a[0] += t_re;
        a[1] += t_im;
      }
    }
  }
}

static const float *real_fft(ser_fft_work_t *fft) {
  complex_fft(fft->buffer);
  split_real_spectrum(fft->buffer);
  return fft->buffer;
}
#endif

/* ---- shared by both front ends ---- */

/* |X[k]|^2 / NFFT of the SER_NFFT samples in fft->buffer, written over them for
 * k = 0..NFFT/2 (in place is safe: bin k is read from [2k], [2k + 1]). */
static ser_frontend_status_t power_spectrum(ser_fft_work_t *fft) {
  const float *spectrum = real_fft(fft);
  if (spectrum == NULL) return SER_FRONTEND_FFT_ERROR;
  float *power = fft->buffer;
  const float dc = spectrum[0], nyquist = spectrum[1], inv_nfft = 1.0f / SER_NFFT;
  for (int k = 1; k < SER_HALF_NFFT; ++k) {
    power[k] = (spectrum[2 * k] * spectrum[2 * k] + spectrum[2 * k + 1] * spectrum[2 * k + 1]) * inv_nfft;
  }
  power[0] = dc * dc * inv_nfft;
  power[SER_HALF_NFFT] = nyquist * nyquist * inv_nfft;
  return SER_FRONTEND_OK;
}

ser_frontend_status_t ser_fe_log_mel(const int16_t history[SER_HISTORY_SAMPLES + 1], int back,
                                     ser_fft_work_t *fft, float log_mel[SER_NUM_FILTERS]) {
  const int16_t *x = history + 1 + SER_HISTORY_SAMPLES - back; /* x[-1] is still in history */
  const float scale = 1.0f / 32768.0f;
  float *buf = fft->buffer;
  /* the samples there are, pre-emphasized (each scaled sample computed once), then zeros */
  const int count = back < 0 ? 0 : (back < SER_FRAME_LENGTH ? back : SER_FRAME_LENGTH);
  float previous = count > 0 ? x[-1] * scale : 0.0f;
  for (int j = 0; j < count; ++j) {
    const float current = x[j] * scale;
    buf[j] = current - SER_PREEMPHASIS * previous;
    previous = current;
  }
  memset(buf + count, 0, sizeof(float) * (SER_NFFT - count));
  const ser_frontend_status_t status = power_spectrum(fft);
  if (status != SER_FRONTEND_OK) return status;

  const float *power = fft->buffer;
  const float *weight = g_ser_mel_weights;
  for (int band = 0; band < SER_NUM_FILTERS; ++band) {
    const float *bins = power + g_ser_mel_bands[band].first_bin;
    float energy = 0.0f;
    for (int i = 0; i < g_ser_mel_bands[band].num_bins; ++i) energy += *weight++ * bins[i];
    log_mel[band] = logf(energy == 0.0f ? SER_LOG_FLOOR : energy);
  }
  return SER_FRONTEND_OK;
}

void ser_fe_push_history(int16_t history[SER_HISTORY_SAMPLES + 1], const int16_t *samples) {
  memmove(history, history + SER_HOP_SAMPLES, sizeof(int16_t) * (SER_HISTORY_SAMPLES - SER_HOP_SAMPLES + 1));
  memcpy(history + 1 + SER_HISTORY_SAMPLES - SER_HOP_SAMPLES, samples, sizeof(int16_t) * SER_HOP_SAMPLES);
}

void ser_fe_delta(const float *const rows[2 * SER_DELTA_WINDOW + 1], float out[SER_NUM_FILTERS]) {
  for (int band = 0; band < SER_NUM_FILTERS; ++band) {
    float total = 0.0f;
    for (int n = 1; n <= SER_DELTA_WINDOW; ++n) {
      total += n * (rows[SER_DELTA_WINDOW + n][band] - rows[SER_DELTA_WINDOW - n][band]);
    }
    out[band] = total * (1.0f / SER_DELTA_DENOMINATOR);
  }
}

void ser_fe_normalize(const float *log_mel, const float *delta, const float *delta_delta, float *out) {
  const float *raw[3] = {log_mel, delta, delta_delta};
  for (int kind = 0; kind < 3; ++kind) {
    for (int band = 0; band < SER_NUM_FILTERS; ++band) {
      const int dim = kind * SER_NUM_FILTERS + band;
      out[dim] = (raw[kind][band] - g_ser_feature_mean[dim]) / g_ser_feature_std[dim];
    }
  }
}

void ser_fe_quantize(const float *features, int8_t *out, float scale, int zero_point) {
  for (int dim = 0; dim < SER_NUM_FEATURES; ++dim) {
    const float q = roundf(features[dim] / scale) + (float)zero_point; /* clamped before the cast */
    out[dim] = (int8_t)(q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q));
  }
}

/* ---- whole window ---- */

/* Log-Mel energies of frame `index` from the samples pushed so far, those past them zero. */
static ser_frontend_status_t compute_frame(ser_frontend_t *fe, int index) {
  return ser_fe_log_mel(fe->history, (fe->hops - index) * SER_HOP_SAMPLES, &fe->fft, fe->log_mel[index]);
}

void ser_frontend_reset(ser_frontend_t *fe) {
  memset(fe->history, 0, sizeof(fe->history));
  fe->hops = 0;
  fe->frames = 0;
}

ser_frontend_status_t ser_frontend_push(ser_frontend_t *fe, const int16_t *samples) {
  if (fe->hops >= SER_WINDOW_HOPS) return SER_FRONTEND_WINDOW_FULL;
  ser_fe_push_history(fe->history, samples);
  fe->hops++;
  while (fe->frames * SER_HOP_SAMPLES + SER_FRAME_LENGTH <= fe->hops * SER_HOP_SAMPLES) {
    const ser_frontend_status_t status = compute_frame(fe, fe->frames);
    if (status != SER_FRONTEND_OK) return status;
    fe->frames++;
  }
  return SER_FRONTEND_OK;
}

/* psf's frame count for the samples pushed: 1 + ceil((n - frame) / hop), at least 1. */
static int clip_frames(const ser_frontend_t *fe) {
  const int excess = fe->hops * SER_HOP_SAMPLES - SER_FRAME_LENGTH;
  return excess <= 0 ? 1 : 1 + (excess + SER_HOP_SAMPLES - 1) / SER_HOP_SAMPLES;
}

static ser_frontend_status_t compute_tail(ser_frontend_t *fe, int frames) {
  for (int index = fe->frames; index < frames; ++index) {
    const ser_frontend_status_t status = compute_frame(fe, index);
    if (status != SER_FRONTEND_OK) return status;
  }
  return SER_FRONTEND_OK;
}

static int clamp_frame(int index, int frames) {
  return index < 0 ? 0 : (index >= frames ? frames - 1 : index);
}

/* Delta of frame t (clamped into the clip), edge frames repeated. */
static void delta_at(const ser_frontend_t *fe, int frames, int t, float out[SER_NUM_FILTERS]) {
  const float *rows[2 * SER_DELTA_WINDOW + 1];
  for (int k = 0; k <= 2 * SER_DELTA_WINDOW; ++k) {
    rows[k] = fe->log_mel[clamp_frame(clamp_frame(t, frames) + k - SER_DELTA_WINDOW, frames)];
  }
  ser_fe_delta(rows, out);
}

/* Normalized features of frame t (0 past the clip's frames: the training mean). The
 * delta-delta is the delta of the delta sequence, whose edge frames are repeated in turn. */
static void frame_features(const ser_frontend_t *fe, int frames, int t, float *out) {
  if (t >= frames) {
    memset(out, 0, sizeof(float) * SER_NUM_FEATURES);
    return;
  }
  float deltas[2 * SER_DELTA_WINDOW + 1][SER_NUM_FILTERS], delta_delta[SER_NUM_FILTERS];
  const float *rows[2 * SER_DELTA_WINDOW + 1];
  for (int k = 0; k <= 2 * SER_DELTA_WINDOW; ++k) {
    delta_at(fe, frames, t + k - SER_DELTA_WINDOW, deltas[k]);
    rows[k] = deltas[k];
  }
  ser_fe_delta(rows, delta_delta);
  ser_fe_normalize(fe->log_mel[t], deltas[SER_DELTA_WINDOW], delta_delta, out);
}

ser_frontend_status_t ser_frontend_finish_float(ser_frontend_t *fe, float *out) {
  const int frames = clip_frames(fe);
  const ser_frontend_status_t status = compute_tail(fe, frames);
  if (status != SER_FRONTEND_OK) return status;
  for (int t = 0; t < SER_NUM_FRAMES; ++t) frame_features(fe, frames, t, out + t * SER_NUM_FEATURES);
  return SER_FRONTEND_OK;
}

ser_frontend_status_t ser_frontend_finish_int8(ser_frontend_t *fe, int8_t *out, float scale, int zero_point) {
  const int frames = clip_frames(fe);
  const ser_frontend_status_t status = compute_tail(fe, frames);
  if (status != SER_FRONTEND_OK) return status;
  float features[SER_NUM_FEATURES];
  for (int t = 0; t < SER_NUM_FRAMES; ++t) {
    frame_features(fe, frames, t, features);
    ser_fe_quantize(features, out + t * SER_NUM_FEATURES, scale, zero_point);
  }
  return SER_FRONTEND_OK;
}
