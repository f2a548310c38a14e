/* A stand-in for ESP-DSP's dsps_fft2r.h, written for tests/test_frontend_c.py: ESP-DSP itself
 * needs ESP-IDF and cannot be built here. It implements the documented contract the front end
 * relies on, not ESP-DSP's code:
 *   dsps_fft2r_init_fc32(table, size)  keeps `table` (size floats) unless already initialized;
 *                                      sets dsps_fft_w_table_size
 *   dsps_fft2r_fc32(data, n)           in-place forward complex FFT (e^-j), n interleaved re/im
 *                                      points, output in bit-reversed order
 *   dsps_bit_rev_fc32(data, n)         bit-reversal permutation back to natural order
 * Single translation unit only (the state is static). */
#ifndef SER_TEST_DSPS_FFT2R_H_
#define SER_TEST_DSPS_FFT2R_H_

#include <math.h>

typedef int esp_err_t;
#define ESP_OK 0
#define ESP_ERR_DSP_UNINITIALIZED 0x70004

static int dsps_fft_w_table_size;

static esp_err_t dsps_fft2r_init_fc32(float *table, int size) {
  (void)table;
  if (dsps_fft_w_table_size == 0) dsps_fft_w_table_size = size;
  return ESP_OK;
}

static esp_err_t dsps_bit_rev_fc32(float *data, int n) {
  for (int i = 0; i < n; ++i) {
    int j = 0;
    for (int bit = 1, rest = i; bit < n; bit <<= 1, rest >>= 1) j = (j << 1) | (rest & 1);
    if (i < j) {
      const float re = data[2 * i], im = data[2 * i + 1];
      data[2 * i] = data[2 * j];
      data[2 * i + 1] = data[2 * j + 1];
      data[2 * j] = re;
      data[2 * j + 1] = im;
    }
  }
  return ESP_OK;
}

/* Direct DFT in double (n <= 4096), then scrambled into bit-reversed order. */
static esp_err_t dsps_fft2r_fc32(float *data, int n) {
  static double out[2 * 4096];
  if (dsps_fft_w_table_size < n) return ESP_ERR_DSP_UNINITIALIZED;
  for (int k = 0; k < n; ++k) {
    double re = 0.0, im = 0.0;
    for (int m = 0; m < n; ++m) {
      const double angle = -2.0 * 3.14159265358979323846 * (double)((long)k * m % n) / n;
      re += data[2 * m] * cos(angle) - data[2 * m + 1] * sin(angle);
      im += data[2 * m] * sin(angle) + data[2 * m + 1] * cos(angle);
    }
    out[2 * k] = re;
    out[2 * k + 1] = im;
  }
  for (int k = 0; k < 2 * n; ++k) data[k] = (float)out[k];
  return dsps_bit_rev_fc32(data, n); /* the permutation is its own inverse */
}

#endif /* SER_TEST_DSPS_FFT2R_H_ */
