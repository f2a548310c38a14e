// The streaming application loop (see ser_stream_app.h). Copied into streaming bundles by
// ser-reparam (firmware_export/bundle/ser_stream_app.cc). Do not edit.
//
// Between pieces the application requantizes int8 values exactly as the Python reference does
// (ser_reparam.models.stream_geometry.InterpreterPieces: dequantize to float32, quantize with the next
// piece's input scale, round half to even), so the firmware's logits are bit-identical to it.
#include "ser_stream_app.h"

#include <cmath>
#include <cstring>
#include <new>

#include "model_data_attend.h"
#include "model_data_classify.h"
#include "model_data_step.h"
#include "model_settings.h"
#include "op_resolver.h"
#include "tensorflow/lite/micro/micro_allocator.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {
constexpr int kHeadDim = kSerDim / kSerHeads;
constexpr int kChunks = kSerSteps / kSerChunk;

// The application's state between pieces (kSerStateBytes in model_settings.h: the budget).
struct SerStreamState {
  int8_t frames[kSerStepContext][kSerNumFeatures];  // ring: the last kSerStepContext frames
  int8_t x[kSerSteps][kSerDim];  // ring: each step's x in attend's query scale, k and v in its key and
  int8_t k[kSerSteps][kSerDim];  // value scales, the last kSerSteps steps
  int8_t v[kSerSteps][kSerDim];
  int8_t encoded[kSerSteps][kSerDim];  // attend's outputs of the window's steps (oldest first), classify's input
  int32_t next_frame;            // the frame ring's slot for the next frame (= the oldest when full)
  int32_t next_step;             // the step ring's slot for the next step (= the oldest when full)
  int32_t until_step;            // frames until step runs next
  int32_t until_label;           // frames until the next label
  int32_t steps_since_label;
  int32_t failed;                // the front end or an Invoke of step failed since the last label
  uint32_t step_us;              // step's time since the last label
  uint32_t frontend_us;          // the front end's time since the last label
};
static_assert(sizeof(SerStreamState) == kSerStateBytes, "model_settings.h's kSerStateBytes is stale");

__attribute__((section(".bss.ser_arena"))) SerStreamState g_state;
tflite::MicroInterpreter* g_step = nullptr;
tflite::MicroInterpreter* g_attend = nullptr;
tflite::MicroInterpreter* g_classify = nullptr;
tflite::MicroAllocator* g_allocator = nullptr;
SerFrontendState* g_frontend = nullptr;
SerBoard g_board = {};

int8_t Quantize(float real, float scale, int zero_point) {
  const float q = rintf(real / scale) + static_cast<float>(zero_point);  // numpy: round half to even
  return static_cast<int8_t>(q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q));
}

float Dequantize(int8_t q, float scale, int zero_point) {
  return static_cast<float>(q - zero_point) * scale;
}

int8_t Requantize(int8_t q, float from_scale, int from_zero, float to_scale, int to_zero) {
  return Quantize(Dequantize(q, from_scale, from_zero), to_scale, to_zero);
}

// Requantize between equal scales and zero points gives each value back ((q - z) * s / s is within an
// ulp of the integer q - z): a copy
constexpr bool SameQuantization(float from_scale, int from_zero, float to_scale, int to_zero) {
  return from_scale == to_scale && from_zero == to_zero;
}

bool Bytes(const TfLiteTensor* t, int count) {
  return t != nullptr && t->type == kTfLiteInt8 && static_cast<int>(t->bytes) == count;
}

// A piece's interpreter on the shared allocator, its tensors allocated; nullptr when they do not fit.
tflite::MicroInterpreter* Build(const unsigned char* model, const tflite::MicroOpResolver& resolver, void* storage,
                                int piece) {
  auto* interpreter = new (storage) tflite::MicroInterpreter(tflite::GetModel(model), resolver, g_allocator, nullptr,
                                                             SER_PROFILER(piece));
  return interpreter->AllocateTensors() == kTfLiteOk ? interpreter : nullptr;
}

// step on the ring's frames (oldest first): its x, k, v requantized into the step ring.
bool RunStep() {
  int8_t* input = g_step->input(0)->data.int8;
  for (int r = 0; r < kSerStepContext; ++r) {
    memcpy(input + r * kSerNumFeatures, g_state.frames[(g_state.next_frame + r) % kSerStepContext], kSerNumFeatures);
  }
  if (g_step->Invoke() != kTfLiteOk) return false;
  const int slot = g_state.next_step;
  int8_t* rows[3] = {g_state.x[slot], g_state.k[slot], g_state.v[slot]};
  for (int o = 0; o < 3; ++o) {
    const int8_t* y = g_step->output(o)->data.int8;
    if (SameQuantization(kSerStepOutputScale[o], kSerStepOutputZeroPoint[o], kSerAttendInputScale[o],
                         kSerAttendInputZeroPoint[o])) {
      memcpy(rows[o], y, kSerDim);
      continue;
    }
    for (int i = 0; i < kSerDim; ++i) {
      rows[o][i] = Requantize(y[i], kSerStepOutputScale[o], kSerStepOutputZeroPoint[o], kSerAttendInputScale[o],
                              kSerAttendInputZeroPoint[o]);
    }
  }
  g_state.next_step = (slot + 1) % kSerSteps;
  return true;
}
}  // namespace

const char* SerAppBegin(uint8_t* arena, SerFrontendState* frontend, const SerBoard& board) {
  static SerOpResolver resolver;
  if (!RegisterSerOps(resolver)) return "could not register the pieces' operators";
  alignas(tflite::MicroInterpreter) static uint8_t storage[3][sizeof(tflite::MicroInterpreter)];
  g_allocator = tflite::MicroAllocator::Create(arena, kTensorArenaSize);
  if (g_allocator == nullptr) return "MicroAllocator::Create failed: raise kTensorArenaSize";
  if ((g_step = Build(g_ser_step_model_data, resolver, storage[0], 0)) == nullptr) {
    return "AllocateTensors failed for step: raise kTensorArenaSize";
  }
  if ((g_attend = Build(g_ser_attend_model_data, resolver, storage[1], 1)) == nullptr) {
    return "AllocateTensors failed for attend: raise kTensorArenaSize";
  }
  if ((g_classify = Build(g_ser_classify_model_data, resolver, storage[2], 2)) == nullptr) {
    return "AllocateTensors failed for classify: raise kTensorArenaSize";
  }
  const bool shapes =
      Bytes(g_step->input(0), kSerStepContext * kSerNumFeatures) && Bytes(g_step->output(0), kSerDim) &&
      Bytes(g_step->output(1), kSerDim) && Bytes(g_step->output(2), kSerDim) &&
      Bytes(g_attend->input(0), kSerChunk * kSerDim) && Bytes(g_attend->output(0), kSerChunk * kSerDim) &&
      Bytes(g_classify->input(0), kSerSteps * kSerDim) && Bytes(g_classify->output(0), kSerNumClasses);
  bool heads = static_cast<int>(g_attend->inputs_size()) == 1 + 2 * kSerHeads;
  for (int h = 0; heads && h < 2 * kSerHeads; ++h) heads = Bytes(g_attend->input(1 + h), kSerSteps * kHeadDim);
  if (!shapes || !heads) return "the pieces' tensors do not match model_settings.h: re-export the bundle";
  memset(&g_state, 0, sizeof(g_state));
  g_state.until_step = kSerStepContext;
  g_state.until_label = kSerNumFrames;
  g_frontend = frontend;
  g_board = board;
  ser_stream_reset(g_frontend);
  return nullptr;
}

size_t SerAppArenaUsedBytes() { return g_allocator->used_bytes(); }

bool SerAppPushFrame(const int8_t* frame) {
  if (g_board.features != nullptr) g_board.features(frame, kSerNumFeatures);
  memcpy(g_state.frames[g_state.next_frame], frame, kSerNumFeatures);
  g_state.next_frame = (g_state.next_frame + 1) % kSerStepContext;
  if (--g_state.until_step == 0) {
    // every frame up to here belongs to a step whose 7 frames are in the ring (oldest first)
    const uint32_t start = g_board.micros();
    if (!RunStep()) g_state.failed = 1;
    g_state.step_us += g_board.micros() - start;
    ++g_state.steps_since_label;
    g_state.until_step = kSerStepFrames;
  }
  if (--g_state.until_label == 0) {
    g_state.until_label = kSerLabelHopFrames;
    return true;
  }
  return false;
}

bool SerAppPushHop(const int16_t* hop) {
  int8_t frame[kSerNumFeatures];
  const uint32_t start = g_board.micros();
  const int made = ser_stream_push_int8(g_frontend, hop, frame, kSerStepInputScale[0], kSerStepInputZeroPoint[0]);
  g_state.frontend_us += g_board.micros() - start;
  if (made < 0) {  // the FFT failed: SerAppClassify reports it
    g_state.failed = 1;
    return true;
  }
  return made == 1 && SerAppPushFrame(frame);
}

bool SerAppClassify(SerResult* result) {
  if (g_state.failed) {
    g_state.failed = 0;
    return false;
  }
  const uint32_t start = g_board.micros();
  int8_t* queries = g_attend->input(0)->data.int8;
  const int oldest = g_state.next_step;  // the window's steps, oldest first
  for (int c = 0; c < kChunks; ++c) {
    // the inputs again before every Invoke: TFLM may reuse their memory inside the graph
    for (int q = 0; q < kSerChunk; ++q) {
      memcpy(queries + q * kSerDim, g_state.x[(oldest + c * kSerChunk + q) % kSerSteps], kSerDim);
    }
    for (int h = 0; h < kSerHeads; ++h) {  // each head's keys [head_dim][steps] (transposed), values [steps][head_dim]
      int8_t* keys = g_attend->input(1 + h)->data.int8;
      int8_t* values = g_attend->input(1 + kSerHeads + h)->data.int8;
      for (int t = 0, slot = oldest; t < kSerSteps; ++t, slot = slot + 1 == kSerSteps ? 0 : slot + 1) {
        const int8_t* k = &g_state.k[slot][h * kHeadDim];
        memcpy(values + t * kHeadDim, &g_state.v[slot][h * kHeadDim], kHeadDim);
        for (int d = 0; d < kHeadDim; ++d) keys[d * kSerSteps + t] = k[d];
      }
    }
    if (g_attend->Invoke() != kTfLiteOk) return false;
    const int8_t* rows = g_attend->output(0)->data.int8;
    if (SameQuantization(kSerAttendOutputScale, kSerAttendOutputZeroPoint, kSerClassifyInputScale,
                         kSerClassifyInputZeroPoint)) {  // stage 05 makes them so
      memcpy(g_state.encoded[c * kSerChunk], rows, kSerChunk * kSerDim);
      continue;
    }
    for (int i = 0; i < kSerChunk * kSerDim; ++i) {
      g_state.encoded[c * kSerChunk + i / kSerDim][i % kSerDim] =
          Requantize(rows[i], kSerAttendOutputScale, kSerAttendOutputZeroPoint, kSerClassifyInputScale,
                     kSerClassifyInputZeroPoint);
    }
  }
  memcpy(g_classify->input(0)->data.int8, g_state.encoded, sizeof(g_state.encoded));  // classify pools them itself
  if (g_classify->Invoke() != kTfLiteOk) return false;
  const uint32_t done = g_board.micros();
  const int8_t* logits = g_classify->output(0)->data.int8;
  SerSetLabel(result, logits, kSerNumClasses, kSerOutputScale, kSerOutputZeroPoint);
  result->streaming = true;
  result->frontend_us = g_state.frontend_us;
  result->steps = g_state.steps_since_label;
  result->step_us = g_state.steps_since_label ? g_state.step_us / g_state.steps_since_label : 0;
  result->model_us = done - start;
  g_state.frontend_us = g_state.step_us = 0;
  g_state.steps_since_label = 0;
  return true;
}
