// ser-reparam on ${board_name}: microphone → ${loop}.
#include <cstdio>

#include "driver/i2s_std.h"
#include "esp_log.h"
#include "esp_timer.h"

#include "model_settings.h"
#include "${app_header}"

namespace {
// Your I2S MEMS microphone (e.g. INMP441: SCK, WS, SD; L/R to GND) on ${board_name}: free GPIOs of
// a DevKit board (boards.yaml `microphone`); change them to your wiring. 16 kHz mono.
constexpr gpio_num_t kMicBclk = GPIO_NUM_${mic_bclk};
constexpr gpio_num_t kMicWs = GPIO_NUM_${mic_ws};
constexpr gpio_num_t kMicData = GPIO_NUM_${mic_din};

i2s_chan_handle_t g_mic = nullptr;
alignas(16) uint8_t g_arena[kTensorArenaSize];
SerFrontendState g_frontend;

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

uint32_t Micros() { return static_cast<uint32_t>(esp_timer_get_time()); }
}  // namespace

extern "C" void app_main(void) {
  if (const char* error = SerAppBegin(g_arena, &g_frontend, {Micros, nullptr})) {
    printf("%s\n", error);
    return;
  }
  MicrophoneStart();
  int16_t hop[SER_HOP_SAMPLES];
  SerResult result;
  while (true) {
    MicrophoneReadHop(hop);
    if (!SerAppPushHop(hop)) continue;
    if (!SerAppClassify(&result)) {
      printf("Invoke failed\n");
      continue;
    }
    char latency[96];
    SerLatencyText(result, latency, sizeof(latency));
    printf("%s (logit %.2f)  %s\n", kSerLabels[result.label], result.logit, latency);
  }
}
