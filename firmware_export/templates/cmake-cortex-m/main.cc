// ser-reparam on ${board_name}: microphone → front end per 10 ms hop → model once per window.
#include <cstdint>
#include <cstdio>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"
#if __has_include("tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h")
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#define SER_DEBUG_LOG_CALLBACK 1
#endif

#include "model_data.h"
#include "model_settings.h"
#include "op_resolver.h"
#include "ser_frontend.h"

// Board hooks: implement them with your HAL (SAI / I2S / PDM driver, a microsecond timer).
// The weak defaults below let the project link; they feed silence and count nothing.
extern "C" __attribute__((weak)) void board_init(void) {}
// Fill `samples` with the next SER_HOP_SAMPLES 16 kHz mono samples (block until they exist).
extern "C" __attribute__((weak)) void board_microphone_read(int16_t* samples, int count) {
  for (int i = 0; i < count; ++i) samples[i] = 0;
}
extern "C" __attribute__((weak)) uint32_t board_micros(void) { return 0; }
// Each window's int8 model input (the front end's features; called before Invoke, which may reuse
// the input's memory), then its int8 logits and label index. Log, send or act on them here.
extern "C" __attribute__((weak)) void board_features(const int8_t* features, int count) {}
extern "C" __attribute__((weak)) void board_result(const int8_t* logits, int count, int label) {}
// TFLM's error messages (e.g. the arena size AllocateTensors needs) go here.
extern "C" __attribute__((weak)) void board_debug_log(const char* text) { printf("%s", text); }

namespace {
// Named sections: the board's linker script places each buffer in its RAM region (the budget's
// placement in manifest.json, e.g. the front end in CCM on an STM32F4); elsewhere they are .bss.
__attribute__((section(".bss.ser_arena"))) alignas(16) uint8_t g_arena[kTensorArenaSize];
__attribute__((section(".bss.ser_frontend"))) ser_frontend_t g_frontend;
}  // namespace

int main() {
  board_init();
#ifdef SER_DEBUG_LOG_CALLBACK
  RegisterDebugLogCallback(board_debug_log);
#endif
  static SerOpResolver resolver;
  if (!RegisterSerOps(resolver)) {
    printf("could not register the model's operators\n");
    return 1;
  }
  static tflite::MicroInterpreter interpreter(tflite::GetModel(g_ser_model_data), resolver, g_arena,
                                              kTensorArenaSize);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("AllocateTensors failed: raise kTensorArenaSize\n");
    return 1;
  }
  printf("tensor arena: %u of %u bytes used\n", static_cast<unsigned>(interpreter.arena_used_bytes()),
         static_cast<unsigned>(kTensorArenaSize));
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  int16_t hop[SER_HOP_SAMPLES];
  while (true) {
    ser_frontend_reset(&g_frontend);
    for (int i = 0; i < SER_WINDOW_HOPS; ++i) {
      board_microphone_read(hop, SER_HOP_SAMPLES);
      ser_frontend_push(&g_frontend, hop);
    }
    const uint32_t start = board_micros();
    ser_frontend_finish_int8(&g_frontend, input->data.int8, kSerInputScale, kSerInputZeroPoint);
    const uint32_t features_done = board_micros();
    board_features(input->data.int8, static_cast<int>(input->bytes));
    if (interpreter.Invoke() != kTfLiteOk) {
      printf("Invoke failed\n");
      return 1;
    }
    const uint32_t model_done = board_micros();
    int best = 0;
    for (int c = 1; c < kSerNumClasses; ++c) {
      if (output->data.int8[c] > output->data.int8[best]) best = c;
    }
    board_result(output->data.int8, kSerNumClasses, best);
    printf("%s  front end %lu us, model %lu us\n", kSerLabels[best],
           static_cast<unsigned long>(features_done - start), static_cast<unsigned long>(model_done - features_done));
  }
}
