// ser-reparam on ${board_name} (Arduino): PDM microphone → front end per 10 ms hop → model per window.
// Library: Chirale_TensorFlowLite (Arduino Library Manager), a TFLite Micro port.
#include <Chirale_TensorFlowLite.h>
#include <PDM.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_data.h"
#include "model_settings.h"
#include "op_resolver.h"
#include "ser_frontend.h"

namespace {
alignas(16) uint8_t g_arena[kTensorArenaSize];
ser_frontend_t g_frontend;
tflite::MicroInterpreter* g_interpreter = nullptr;

// The PDM callback fills a ring of hops; loop() consumes them.
constexpr int kRingHops = 8;
int16_t g_ring[kRingHops][SER_HOP_SAMPLES];
volatile int g_written = 0;  // samples written in total, modulo the ring
volatile int g_hops_ready = 0;
int g_read_hop = 0;
int g_hops_in_window = 0;

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
  PDM.onReceive(OnPdmData);
  if (!PDM.begin(1, SER_SAMPLE_RATE)) {
    Serial.println("PDM microphone did not start");
    while (true) {}
  }
}

void loop() {
  if (g_hops_ready == 0) return;
  noInterrupts();
  g_hops_ready = g_hops_ready - 1;
  interrupts();
  ser_frontend_push(&g_frontend, g_ring[g_read_hop]);
  g_read_hop = (g_read_hop + 1) % kRingHops;
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
