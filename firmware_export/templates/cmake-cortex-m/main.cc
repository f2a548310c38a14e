// ser-reparam on ${board_name}: microphone → ${loop}.
#include <cstdint>
#include <cstdio>

#if __has_include("tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h")
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#define SER_DEBUG_LOG_CALLBACK 1
#endif

#include "model_settings.h"
#include "${app_header}"

// Board hooks: implement them with your HAL (SAI / I2S / PDM driver, a microsecond timer).
// The weak defaults below let the project link; they feed silence and count nothing.
extern "C" __attribute__((weak)) void board_init(void) {}
// Fill `samples` with the next SER_HOP_SAMPLES 16 kHz mono samples (block until they exist).
extern "C" __attribute__((weak)) void board_microphone_read(int16_t* samples, int count) {
  for (int i = 0; i < count; ++i) samples[i] = 0;
}
extern "C" __attribute__((weak)) uint32_t board_micros(void) { return 0; }
// The int8 features the model reads (the whole window before Invoke, which may reuse the input's
// memory, or each streamed frame), then each label's int8 logits and index. Log, send or act on them here.
extern "C" __attribute__((weak)) void board_features(const int8_t* features, int count) {}
extern "C" __attribute__((weak)) void board_result(const int8_t* logits, int count, int label) {}
// TFLM's error messages (e.g. the arena size AllocateTensors needs) go here.
extern "C" __attribute__((weak)) void board_debug_log(const char* text) { printf("%s", text); }

namespace {
// Named sections: the board's linker script places each buffer in its RAM region (the budget's
// placement in bundle.json, e.g. the front end in CCM on an STM32F4); elsewhere they are .bss.
__attribute__((section(".bss.ser_arena"))) alignas(16) uint8_t g_arena[kTensorArenaSize];
__attribute__((section(".bss.ser_frontend"))) SerFrontendState g_frontend;
}  // namespace

int main() {
  board_init();
#ifdef SER_DEBUG_LOG_CALLBACK
  RegisterDebugLogCallback(board_debug_log);
#endif
  if (const char* error = SerAppBegin(g_arena, &g_frontend, {board_micros, board_features})) {
    printf("%s\n", error);
    return 1;
  }
  printf("tensor arena: %u of %u bytes used\n", static_cast<unsigned>(SerAppArenaUsedBytes()),
         static_cast<unsigned>(kTensorArenaSize));
  int16_t hop[SER_HOP_SAMPLES];
  SerResult result;
  while (true) {
    board_microphone_read(hop, SER_HOP_SAMPLES);
    if (!SerAppPushHop(hop)) continue;
    if (!SerAppClassify(&result)) {
      printf("Invoke failed\n");
      return 1;
    }
    board_result(result.logits, kSerNumClasses, result.label);
    char latency[96];
    SerLatencyText(result, latency, sizeof(latency));
    printf("%s  %s\n", kSerLabels[result.label], latency);
  }
}
