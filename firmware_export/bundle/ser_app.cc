// The application loop shared by every template (see ser_app.h). Copied into every bundle by
// ser-reparam (firmware_export/bundle/ser_app.cc). Do not edit.
#include "ser_app.h"

#include "model_data.h"
#include "model_settings.h"
#include "op_resolver.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {
tflite::MicroInterpreter* g_interpreter = nullptr;
ser_frontend_t* g_frontend = nullptr;
SerBoard g_board = {};
int g_hops = 0;  // hops pushed into the current window
}  // namespace

const char* SerAppBegin(uint8_t* arena, SerFrontendState* frontend, const SerBoard& board) {
  static SerOpResolver resolver;
  if (!RegisterSerOps(resolver)) return "could not register the model's operators";
  static tflite::MicroInterpreter interpreter(tflite::GetModel(g_ser_model_data), resolver, arena,
                                              kTensorArenaSize, nullptr, SER_PROFILER(0));
  if (interpreter.AllocateTensors() != kTfLiteOk) return "AllocateTensors failed: raise kTensorArenaSize";
  g_interpreter = &interpreter;
  g_frontend = frontend;
  g_board = board;
  g_hops = 0;
  ser_frontend_reset(g_frontend);
  return nullptr;
}

size_t SerAppArenaUsedBytes() { return g_interpreter->arena_used_bytes(); }

bool SerAppPushHop(const int16_t* hop) {
  ser_frontend_push(g_frontend, hop);
  return ++g_hops == SER_WINDOW_HOPS;
}

bool SerAppClassify(SerResult* result) {
  TfLiteTensor* input = g_interpreter->input(0);
  const uint32_t start = g_board.micros();
  ser_frontend_finish_int8(g_frontend, input->data.int8, kSerInputScale, kSerInputZeroPoint);
  const uint32_t features_done = g_board.micros();
  if (g_board.features != nullptr) g_board.features(input->data.int8, static_cast<int>(input->bytes));
  const bool invoked = g_interpreter->Invoke() == kTfLiteOk;
  const uint32_t model_done = g_board.micros();
  ser_frontend_reset(g_frontend);
  g_hops = 0;
  if (!invoked) return false;
  const int8_t* logits = g_interpreter->output(0)->data.int8;
  SerSetLabel(result, logits, kSerNumClasses, kSerOutputScale, kSerOutputZeroPoint);
  result->streaming = false;
  result->frontend_us = features_done - start;
  result->step_us = 0;
  result->steps = 0;
  result->model_us = model_done - features_done;
  return true;
}
