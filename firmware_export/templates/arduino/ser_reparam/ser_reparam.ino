// ser-reparam on ${board_name} (Arduino): ${mic_api} microphone → ${loop}.
// Library: Chirale_TensorFlowLite (Arduino Library Manager), a TFLite Micro port.
#include <Chirale_TensorFlowLite.h>

#include "model_settings.h"
#include "${app_header}"

// The microphone of ${board_name}: the API of its board family (boards.yaml `microphone`).
#define SER_MIC_${mic_api_macro} 1

namespace {
alignas(16) uint8_t g_arena[kTensorArenaSize];
SerFrontendState g_frontend;
int16_t g_hop[SER_HOP_SAMPLES];
}  // namespace

#if defined(SER_MIC_I2S)
// ESP32 / ESP32-S3 (Arduino-ESP32 core >= 3.0): an I2S MEMS microphone (e.g. INMP441, L/R to
// GND) on GPIO ${mic_bclk} (SCK), ${mic_ws} (WS), ${mic_din} (SD); change them to your wiring.
#include <ESP_I2S.h>
namespace {
I2SClass g_i2s;

bool MicrophoneBegin() {
  g_i2s.setPins(${mic_bclk}, ${mic_ws}, -1, ${mic_din});
  return g_i2s.begin(I2S_MODE_STD, SER_SAMPLE_RATE, I2S_DATA_BIT_WIDTH_16BIT, I2S_SLOT_MODE_MONO);
}

// Blocks until one hop has been read (the I2S driver buffers by DMA meanwhile).
bool MicrophoneReadHop(int16_t* hop) {
  return g_i2s.readBytes(reinterpret_cast<char*>(hop), sizeof(int16_t) * SER_HOP_SAMPLES) ==
         sizeof(int16_t) * SER_HOP_SAMPLES;
}
}  // namespace

#elif defined(SER_MIC_PDM)
// Arduino Mbed OS Nano boards (Nano 33 BLE Sense): the on-board PDM microphone. The PDM callback
// fills a ring of hops; MicrophoneReadHop hands them out in order.
#include <PDM.h>
namespace {
constexpr int kRingHops = 8;
int16_t g_ring[kRingHops][SER_HOP_SAMPLES];
volatile int g_written = 0;  // samples written in total, modulo the ring
volatile int g_hops_ready = 0;
int g_read_hop = 0;

void OnPdmData() {
  int16_t* ring = &g_ring[0][0];
  int available = PDM.available() / 2;
  while (available-- > 0) {
    short sample;
    PDM.read(&sample, 2);
    ring[g_written] = sample;
    g_written = (g_written + 1) % (kRingHops * SER_HOP_SAMPLES);
    if (g_written % SER_HOP_SAMPLES == 0) g_hops_ready = g_hops_ready + 1;
  }
}

bool MicrophoneBegin() {
  PDM.onReceive(OnPdmData);
  return PDM.begin(1, SER_SAMPLE_RATE);
}

// false while no new hop is there (loop() returns and comes back).
bool MicrophoneReadHop(int16_t* hop) {
  if (g_hops_ready == 0) return false;
  noInterrupts();
  g_hops_ready = g_hops_ready - 1;
  interrupts();
  memcpy(hop, g_ring[g_read_hop], sizeof(g_ring[0]));
  g_read_hop = (g_read_hop + 1) % kRingHops;
  return true;
}
}  // namespace

#else
#error "no microphone API for this board: implement MicrophoneBegin() and MicrophoneReadHop()"
#endif

uint32_t Micros() { return static_cast<uint32_t>(micros()); }

void setup() {
  Serial.begin(115200);
  while (!Serial) {}
  if (const char* error = SerAppBegin(g_arena, &g_frontend, {Micros, nullptr})) {
    Serial.println(error);
    while (true) {}
  }
  if (!MicrophoneBegin()) {
    Serial.println("${mic_api} microphone did not start");
    while (true) {}
  }
}

void loop() {
  if (!MicrophoneReadHop(g_hop) || !SerAppPushHop(g_hop)) return;
  SerResult result;
  if (!SerAppClassify(&result)) {
    Serial.println("Invoke failed");
    return;
  }
  Serial.print(kSerLabels[result.label]);
  Serial.print("  logit ");
  Serial.print(result.logit);
  char latency[96];
  SerLatencyText(result, latency, sizeof(latency));
  Serial.print("  ");
  Serial.println(latency);
}
