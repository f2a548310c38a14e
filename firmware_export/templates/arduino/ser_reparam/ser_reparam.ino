// ser-reparam on ${board_name} (Arduino): ${mic_api} microphone → front end per 10 ms hop → model per window.
// Library: Chirale_TensorFlowLite (Arduino Library Manager), a TFLite Micro port.
#include <Chirale_TensorFlowLite.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_data.h"
#include "model_settings.h"
#include "op_resolver.h"
#include "ser_frontend.h"

// The microphone of ${board_name}: the API of its board family (boards.yaml `microphone`).
#define SER_MIC_${mic_api_macro} 1

namespace {
alignas(16) uint8_t g_arena[kTensorArenaSize];
ser_frontend_t g_frontend;
tflite::MicroInterpreter* g_interpreter = nullptr;
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

namespace {
int g_hops_in_window = 0;
}  // namespace

void setup() {
  Serial.begin(115200);
  while (!Serial) {}
  static SerOpResolver resolver;
  if (!RegisterSerOps(resolver)) {
    Serial.println("could not register the model's operators");
    while (true) {}
  }
  static tflite::MicroInterpreter interpreter(tflite::GetModel(g_ser_model_data), resolver, g_arena,
                                              kTensorArenaSize);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    Serial.println("AllocateTensors failed: raise kTensorArenaSize");
    while (true) {}
  }
  g_interpreter = &interpreter;
  ser_frontend_reset(&g_frontend);
  if (!MicrophoneBegin()) {
    Serial.println("${mic_api} microphone did not start");
    while (true) {}
  }
}

void loop() {
  if (!MicrophoneReadHop(g_hop)) return;
  ser_frontend_push(&g_frontend, g_hop);
  if (++g_hops_in_window < SER_WINDOW_HOPS) return;
  g_hops_in_window = 0;

  const unsigned long start = micros();
  TfLiteTensor* input = g_interpreter->input(0);
  ser_frontend_finish_int8(&g_frontend, input->data.int8, kSerInputScale, kSerInputZeroPoint);
  const unsigned long features_done = micros();
  g_interpreter->Invoke();
  const unsigned long model_done = micros();
  ser_frontend_reset(&g_frontend);

  const TfLiteTensor* output = g_interpreter->output(0);
  int best = 0;
  for (int c = 1; c < kSerNumClasses; ++c) {
    if (output->data.int8[c] > output->data.int8[best]) best = c;
  }
  Serial.print(kSerLabels[best]);
  Serial.print("  front end us: ");
  Serial.print(features_done - start);
  Serial.print("  model us: ");
  Serial.println(model_done - features_done);
}
