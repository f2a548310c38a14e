// ser-reparam on ${board_name}: microphone → front end per 10 ms hop → model once per window.
#include <cstdio>

#include "driver/i2s_std.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_data.h"
#include "model_settings.h"
#include "op_resolver.h"
#include "ser_frontend.h"

namespace {
// Your I2S MEMS microphone (e.g. INMP441: SCK, WS, SD; L/R to GND) on ${board_name}: free GPIOs of
// a DevKit board (boards.yaml `microphone`); change them to your wiring. 16 kHz mono.
constexpr gpio_num_t kMicBclk = GPIO_NUM_${mic_bclk};
constexpr gpio_num_t kMicWs = GPIO_NUM_${mic_ws};
constexpr gpio_num_t kMicData = GPIO_NUM_${mic_din};

i2s_chan_handle_t g_mic = nullptr;
alignas(16) uint8_t g_arena[kTensorArenaSize];
ser_frontend_t g_frontend;

void MicrophoneStart() {
  i2s_chan_config_t channel = I2S_CHANNEL_DEFAULT_CONFIG(I2S_NUM_0, I2S_ROLE_MASTER);
  ESP_ERROR_CHECK(i2s_new_channel(&channel, nullptr, &g_mic));
  i2s_std_config_t config = {
      .clk_cfg = I2S_STD_CLK_DEFAULT_CONFIG(SER_SAMPLE_RATE),
      .slot_cfg = I2S_STD_PHILIPS_SLOT_DEFAULT_CONFIG(I2S_DATA_BIT_WIDTH_16BIT, I2S_SLOT_MODE_MONO),
      .gpio_cfg = {.mclk = I2S_GPIO_UNUSED, .bclk = kMicBclk, .ws = kMicWs, .dout = I2S_GPIO_UNUSED,
                   .din = kMicData, .invert_flags = {}},
  };
  ESP_ERROR_CHECK(i2s_channel_init_std_mode(g_mic, &config));
  ESP_ERROR_CHECK(i2s_channel_enable(g_mic));
}

// Blocks until one hop (SER_HOP_SAMPLES samples) has been read.
void MicrophoneReadHop(int16_t* hop) {
  size_t bytes = 0;
  ESP_ERROR_CHECK(i2s_channel_read(g_mic, hop, sizeof(int16_t) * SER_HOP_SAMPLES, &bytes, portMAX_DELAY));
}
}  // namespace

extern "C" void app_main(void) {
  const tflite::Model* model = tflite::GetModel(g_ser_model_data);
  static SerOpResolver resolver;
  if (!RegisterSerOps(resolver)) {
    printf("could not register the model's operators\n");
    return;
  }
  static tflite::MicroInterpreter interpreter(model, resolver, g_arena, kTensorArenaSize);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("AllocateTensors failed: raise kTensorArenaSize\n");
    return;
  }
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  MicrophoneStart();
  int16_t hop[SER_HOP_SAMPLES];
  while (true) {
    ser_frontend_reset(&g_frontend);
    for (int i = 0; i < SER_WINDOW_HOPS; ++i) {
      MicrophoneReadHop(hop);
      ser_frontend_push(&g_frontend, hop);
    }
    const int64_t start = esp_timer_get_time();
    ser_frontend_finish_int8(&g_frontend, input->data.int8, kSerInputScale, kSerInputZeroPoint);
    const int64_t features_done = esp_timer_get_time();
    if (interpreter.Invoke() != kTfLiteOk) {
      printf("Invoke failed\n");
      continue;
    }
    const int64_t model_done = esp_timer_get_time();
    int best = 0;
    for (int c = 1; c < kSerNumClasses; ++c) {
      if (output->data.int8[c] > output->data.int8[best]) best = c;
    }
    const float score = kSerOutputScale * (output->data.int8[best] - kSerOutputZeroPoint);
    printf("%s (logit %.2f)  front end %lld us, model %lld us\n", kSerLabels[best], score,
           static_cast<long long>(features_done - start), static_cast<long long>(model_done - features_done));
  }
}
