// ser-reparam on ${board_name}: microphone → front end per 10 ms hop → model once per window.
#include <cstdint>
#include <cstdio>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

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

namespace {
alignas(16) uint8_t g_arena[kTensorArenaSize];
ser_frontend_t g_frontend;
}  // namespace

int main() {
  board_init();
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
    interpreter.Invoke();
    const uint32_t model_done = board_micros();
    int best = 0;
    for (int c = 1; c < kSerNumClasses; ++c) {
      if (output->data.int8[c] > output->data.int8[best]) best = c;
    }
    printf("%s  front end %lu us, model %lu us\n", kSerLabels[best],
           static_cast<unsigned long>(features_done - start), static_cast<unsigned long>(model_done - features_done));
  }
}
