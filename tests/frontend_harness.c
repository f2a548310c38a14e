/* Host driver for the C front end, run by tests/test_frontend_c.py and
 * tests/test_frontend_stream_c.py. It includes the front end's sources itself to reach the
 * static power_spectrum.
 *
 *   frontend_harness features PCM FLOAT_OUT INT8_OUT SCALE ZERO_POINT
 *       push the int16 PCM file hop by hop, write finish_float and finish_int8 outputs
 *   frontend_harness push PCM
 *       push only (the streaming cost, for instruction counts)
 *   frontend_harness spectrum FRAMES POWER_OUT
 *       float32 frames of SER_NFFT samples -> SER_NFFT/2 + 1 power values each
 *   frontend_harness stream PCM FLOAT_OUT INT8_OUT SCALE ZERO_POINT
 *       stream the int16 PCM file (any length, whole hops) from reset to flush through
 *       ser_stream_push/flush_float and, on a second stream, _int8; write every frame, then
 *       print the 1-based push that returned the first frame and the frames that flush returned
 *   frontend_harness stream-push PCM
 *       stream pushes only, int8 frames (the streaming cost, for instruction counts)
 *   frontend_harness stream-fft-error PCM
 *       (ESP-DSP build) with ESP-DSP initialized for a smaller FFT by "the application", stream
 *       the file and print how many pushes returned a frame, 0 and SER_STREAM_FFT_ERROR, and
 *       what flush then returns
 *   frontend_harness sizes
 *       print sizeof(ser_frontend_t) and sizeof(ser_stream_t)
 */
#include "ser_frontend.c"
#include "ser_frontend_stream.c"

#include <stdio.h>
#include <stdlib.h>

static ser_frontend_t g_fe;
static int16_t g_pcm[SER_WINDOW_HOPS * SER_HOP_SAMPLES];
static float g_features[SER_NUM_FRAMES * SER_NUM_FEATURES];
static int8_t g_quantized[SER_NUM_FRAMES * SER_NUM_FEATURES];

static int fail(const char *what, const char *path) {
  fprintf(stderr, "frontend_harness: %s %s\n", what, path);
  return 1;
}

/* Items read, or -1 when the file cannot be opened or holds more than `capacity` items. */
static long read_items(const char *path, void *items, size_t size, size_t capacity) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) return -1;
  size_t count = fread(items, size, capacity, file);
  const int longer = fgetc(file) != EOF;
  fclose(file);
  return longer ? -1 : (long)count;
}

static int write_items(const char *path, const void *items, size_t size, size_t count) {
  FILE *file = fopen(path, "wb");
  if (file == NULL) return fail("cannot write", path);
  const size_t written = fwrite(items, size, count, file);
  return (fclose(file) != 0 || written != count) ? fail("cannot write", path) : 0;
}

static int push_file(const char *path) {
  const long samples = read_items(path, g_pcm, sizeof(int16_t), sizeof(g_pcm) / sizeof(int16_t));
  if (samples < 0 || samples % SER_HOP_SAMPLES != 0) return fail("need whole hops of at most a window in", path);
  ser_frontend_reset(&g_fe);
  for (long hop = 0; hop < samples / SER_HOP_SAMPLES; ++hop) {
    if (ser_frontend_push(&g_fe, g_pcm + hop * SER_HOP_SAMPLES) != SER_FRONTEND_OK) return fail("push failed on", path);
  }
  return 0;
}

static int features(char **argv) {
  if (push_file(argv[2]) != 0) return 1;
  if (ser_frontend_finish_float(&g_fe, g_features) != SER_FRONTEND_OK ||
      ser_frontend_finish_int8(&g_fe, g_quantized, (float)atof(argv[5]), atoi(argv[6])) != SER_FRONTEND_OK) {
    return fail("finish failed on", argv[2]);
  }
  const size_t count = SER_NUM_FRAMES * SER_NUM_FEATURES;
  return write_items(argv[3], g_features, sizeof(float), count) || write_items(argv[4], g_quantized, 1, count);
}

static ser_stream_t g_stream;

/* One push of `hop` (a flush when NULL) through the float (int8 = 0) or int8 API; the frame it
 * returns, if any, is appended to `out`. What the call returned, or -3 when writing failed. */
static int stream_hop(const int16_t *hop, FILE *out, int int8, float scale, int zero_point) {
  float features[SER_NUM_FEATURES];
  int8_t quantized[SER_NUM_FEATURES];
  int ready;
  if (int8) {
    ready = hop != NULL ? ser_stream_push_int8(&g_stream, hop, quantized, scale, zero_point)
                        : ser_stream_flush_int8(&g_stream, quantized, scale, zero_point);
  } else {
    ready = hop != NULL ? ser_stream_push_float(&g_stream, hop, features) : ser_stream_flush_float(&g_stream, features);
  }
  if (ready == 1 && (int8 ? fwrite(quantized, 1, SER_NUM_FEATURES, out)
                          : fwrite(features, sizeof(float), SER_NUM_FEATURES, out)) != SER_NUM_FEATURES) {
    return -3;
  }
  return ready;
}

/* Streams the PCM file from reset to the end of flush, writing every frame to `out`. */
static int stream_file(const char *path, FILE *out, int int8, float scale, int zero_point,
                       long *first_push, long *flushed) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) return fail("cannot read", path);
  int16_t hop[SER_HOP_SAMPLES];
  long pushes = 0;
  int ready = 0;
  size_t got = 0;
  *first_push = 0;
  *flushed = 0;
  ser_stream_reset(&g_stream);
  while (ready >= 0 && (got = fread(hop, sizeof(int16_t), SER_HOP_SAMPLES, file)) == SER_HOP_SAMPLES) {
    ready = stream_hop(hop, out, int8, scale, zero_point);
    pushes++;
    if (ready == 1 && *first_push == 0) *first_push = pushes;
  }
  fclose(file);
  if (ready < 0) return fail("push failed on", path);
  if (got != 0) return fail("need whole hops in", path);
  while ((ready = stream_hop(NULL, out, int8, scale, zero_point)) == 1) (*flushed)++;
  if (ready < 0) return fail("flush failed on", path);
  if (stream_hop(hop, out, int8, scale, zero_point) != SER_STREAM_FLUSHED) {
    return fail("push after flush was accepted for", path);
  }
  return 0;
}

static int stream(char **argv) {
  long first_push[2], flushed[2];
  for (int int8 = 0; int8 < 2; ++int8) {
    FILE *out = fopen(argv[3 + int8], "wb");
    if (out == NULL) return fail("cannot write", argv[3 + int8]);
    const int status = stream_file(argv[2], out, int8, (float)atof(argv[5]), atoi(argv[6]), &first_push[int8],
                                   &flushed[int8]);
    if (fclose(out) != 0 || status != 0) return 1;
  }
  if (first_push[0] != first_push[1] || flushed[0] != flushed[1]) {
    return fail("float and int8 streams differ on", argv[2]);
  }
  printf("first_push %ld flushed %ld\n", first_push[0], flushed[0]);
  return 0;
}

#if defined(SER_FFT_ESPDSP)
static int stream_fft_error(const char *path) {
  dsps_fft_w_table_size = SER_HALF_NFFT / 2; /* the application's smaller FFT came first */
  FILE *file = fopen(path, "rb");
  if (file == NULL) return fail("cannot read", path);
  int16_t hop[SER_HOP_SAMPLES];
  float features[SER_NUM_FEATURES];
  long frames = 0, none = 0, errors = 0;
  while (fread(hop, sizeof(int16_t), SER_HOP_SAMPLES, file) == SER_HOP_SAMPLES) {
    const int ready = ser_stream_push_float(&g_stream, hop, features);
    frames += ready == 1;
    none += ready == 0;
    errors += ready == SER_STREAM_FFT_ERROR;
  }
  fclose(file);
  const int flush = ser_stream_flush_float(&g_stream, features);
  printf("frames %ld none %ld errors %ld flush %d\n", frames, none, errors, flush);
  return 0;
}
#endif

/* Pushes only, int8 frames as the firmware makes them, none kept. */
static int stream_push(const char *path) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) return fail("cannot read", path);
  int16_t hop[SER_HOP_SAMPLES];
  int8_t frame[SER_NUM_FEATURES];
  ser_stream_reset(&g_stream);
  int status = 0;
  long checksum = 0; /* printed, so the compiler keeps the frames' computation */
  while (status == 0 && fread(hop, sizeof(int16_t), SER_HOP_SAMPLES, file) == SER_HOP_SAMPLES) {
    const int ready = ser_stream_push_int8(&g_stream, hop, frame, 0.05f, 0);
    if (ready < 0) status = fail("push failed on", path);
    for (int i = 0; ready == 1 && i < SER_NUM_FEATURES; ++i) checksum += frame[i];
  }
  fclose(file);
  printf("checksum %ld\n", checksum);
  return status;
}

static int spectrum(char **argv) {
  static float frames[64 * SER_NFFT], power[64 * (SER_HALF_NFFT + 1)];
  const long values = read_items(argv[2], frames, sizeof(float), sizeof(frames) / sizeof(float));
  if (values <= 0 || values % SER_NFFT != 0) return fail("need 1 to 64 frames of SER_NFFT floats in", argv[2]);
  for (long f = 0; f < values / SER_NFFT; ++f) {
    memcpy(g_fe.fft.buffer, frames + f * SER_NFFT, sizeof(float) * SER_NFFT);
    if (power_spectrum(&g_fe.fft) != SER_FRONTEND_OK) return fail("FFT failed on", argv[2]);
    memcpy(power + f * (SER_HALF_NFFT + 1), g_fe.fft.buffer, sizeof(float) * (SER_HALF_NFFT + 1));
  }
  return write_items(argv[3], power, sizeof(float), (size_t)(values / SER_NFFT) * (SER_HALF_NFFT + 1));
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "features") == 0) return features(argv);
  if (argc == 3 && strcmp(argv[1], "push") == 0) return push_file(argv[2]);
  if (argc == 4 && strcmp(argv[1], "spectrum") == 0) return spectrum(argv);
  if (argc == 7 && strcmp(argv[1], "stream") == 0) return stream(argv);
  if (argc == 3 && strcmp(argv[1], "stream-push") == 0) return stream_push(argv[2]);
#if defined(SER_FFT_ESPDSP)
  if (argc == 3 && strcmp(argv[1], "stream-fft-error") == 0) return stream_fft_error(argv[2]);
#endif
  if (argc == 2 && strcmp(argv[1], "sizes") == 0) {
    printf("ser_frontend_t %zu ser_stream_t %zu\n", sizeof(ser_frontend_t), sizeof(ser_stream_t));
    return 0;
  }
  fprintf(stderr, "usage: see the comment at the top of frontend_harness.c\n");
  return 2;
}
