// The board of `ser-reparam verify-firmware`: the template's main.cc runs on it unchanged.
// Microphone: 16 kHz int16 audio from the file ser_clips.pcm in the working directory (the host's
// file system; under QEMU through Arm semihosting), one window after another; the program ends
// when the file does. After each window it prints the model's int8 input (the front end's
// features) and int8 logits as hex, and — on mps2-an386 — the SysTick ticks spent in the front
// end's pushes (summed over the window's hops), its int8 finish step and Invoke.
// Built with SER_VERIFY_STREAMING (a streaming bundle): the clips are one stream; each feature frame
// is printed as the front end makes it (VERIFY-FRAME), each label's logits as it comes, and the
// program ends when the file does (the app's own times are in main.cc's label lines).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "model_settings.h"
#ifdef SER_PROFILE
#include "ser_profile.h"
#endif

#ifdef SER_VERIFY_MPS2
extern "C" void mps2_counter_start(void);
extern "C" uint64_t mps2_counter_ticks(void);
static uint64_t ticks() { return mps2_counter_ticks(); }
#else
static uint64_t ticks() { return 0; }  // the host has no instruction counter here
#endif

namespace {
FILE* g_audio;
int g_hops;                   // hops read in the current window
uint64_t g_returned_at;       // when the last microphone read returned (the front end starts)
uint64_t g_push_ticks;        // front-end push time of the window so far
uint64_t g_marks[3];          // the template's board_micros() calls: start, features done, model done
int g_mark;
uint64_t g_print_ticks;       // spent printing the features (taken out of the model's time)

void print_hex(const char* tag, const int8_t* data, int count) {
  static const char digits[] = "0123456789abcdef";
  char line[2 * 64 + 1];
  printf("%s ", tag);
  for (int i = 0; i < count; i += 64) {
    int n = count - i < 64 ? count - i : 64;
    for (int j = 0; j < n; ++j) {
      const uint8_t byte = static_cast<uint8_t>(data[i + j]);
      line[2 * j] = digits[byte >> 4];
      line[2 * j + 1] = digits[byte & 15];
    }
    fwrite(line, 1, 2 * n, stdout);
  }
  printf("\n");
}
}  // namespace

extern "C" void board_init(void) {
  g_audio = fopen("ser_clips.pcm", "rb");
  if (g_audio == nullptr) {
    printf("VERIFY-ERROR cannot open ser_clips.pcm\n");
    exit(2);
  }
#ifdef SER_VERIFY_MPS2
  mps2_counter_start();
#endif
}

extern "C" void board_microphone_read(int16_t* samples, int count) {
  const uint64_t now = ticks();
  if (g_hops > 0) g_push_ticks += now - g_returned_at;
  const size_t got = fread(samples, sizeof(int16_t), static_cast<size_t>(count), g_audio);
#ifdef SER_VERIFY_STREAMING
  const bool at_end = got == 0;
#else
  const bool at_end = got == 0 && g_hops == 0;
#endif
  if (at_end) {
#ifdef SER_PROFILE
    SerProfileReport();
#endif
    printf("VERIFY-END\n");
    fflush(stdout);
    exit(0);
  }
  if (got != static_cast<size_t>(count)) {
    printf("VERIFY-ERROR ser_clips.pcm ends inside a window\n");
    exit(2);
  }
  ++g_hops;
  g_returned_at = ticks();
}

extern "C" uint32_t board_micros(void) {
  const uint64_t now = ticks();
  if (g_mark == 0) g_push_ticks += now - g_returned_at;  // the window's last hop
  if (g_mark < 3) g_marks[g_mark++] = now;
  return static_cast<uint32_t>(now);
}

// Printing between the template's "features done" and "model start" readings: not counted.
extern "C" void board_features(const int8_t* features, int count) {
#ifdef SER_VERIFY_STREAMING
  print_hex("VERIFY-FRAME", features, count);
  return;
#endif
  const uint64_t begin = ticks();
  print_hex("VERIFY-FEATURES", features, count);
  fflush(stdout);
  g_print_ticks = ticks() - begin;
}

extern "C" void board_result(const int8_t* logits, int count, int label) {
  print_hex("VERIFY-LOGITS", logits, count);
  printf("VERIFY-LABEL %d\n", label);
#ifdef SER_VERIFY_STREAMING
  fflush(stdout);
  return;
#endif
  // (newlib-nano's printf has no %llu; 2^32 ticks would be 171 G instructions)
  printf("VERIFY-TICKS %d %lu %lu %lu\n", g_hops, static_cast<unsigned long>(g_push_ticks),
         static_cast<unsigned long>(g_marks[1] - g_marks[0]), static_cast<unsigned long>(g_marks[2] - g_marks[1] - g_print_ticks));
  fflush(stdout);
  g_hops = 0;
  g_push_ticks = 0;
  g_mark = 0;
}
