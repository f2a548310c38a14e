// Measures a model's tensor arena with the kernels this program is linked with, and prints its
// int8 logits: built by firmware_export/kernels.py against a TFLM tree (reference, CMSIS-NN,
// ESP-NN, ESP-NN with the ESP32-S3 scratch rules) for the board's word size.
//   arena_probe MODEL.tflite [INPUTS.bin]
//   arena_probe [INPUTS.bin]      built with -DSER_PROBE_BUNDLE: a bundle's own model_data.cc,
//                                 op_resolver.h and model_settings.h (also prints kTensorArenaSize)
//   arena_probe --shared M1.tflite M2.tflite ...   the streaming pieces in ONE arena: one
//                                 tflite::MicroAllocator, an interpreter per model, all allocated,
//                                 then each invoked in turn (inputs zero) — prints
//                                 "shared_arena_used_bytes N" and "shared_arena_min_bytes N"
//   arena_probe --arena N MODEL.tflite | --arena N --shared M1 M2 ...   one trial with an N-byte
//                                 arena: prints "runs 1" or "runs 0" and the bytes it used. Some kernels crash instead of
//                                 failing on a too small arena (e.g. the pieces' FULLY_CONNECTED), so
//                                 the pieces are bisected one process per trial (kernels.py).
// INPUTS.bin: int8 inputs back to back (a whole number of input tensors).
// Prints "arena_used_bytes N" (the allocator's count after AllocateTensors and Invoke with a large
// arena), "arena_min_bytes N" (the smallest 16-byte multiple with which AllocateTensors and
// Invoke succeed: what kTensorArenaSize must cover), "sizeof_pointer N", and one
// "logits i: v0 v1 ..." line per input (and, in the ESP32-S3 emulation, how many bytes the softmax
// wrote past its scratch request). Exit 1 with a one-line reason on failure.
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "op_resolver.h"
#ifdef SER_PROBE_BUNDLE
#include "model_data.h"
#include "model_settings.h"
#endif
#include "tensorflow/lite/micro/micro_allocator.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

#ifndef SER_PROBE_MAX_ARENA
#define SER_PROBE_MAX_ARENA (1024 * 1024)
#endif

#ifdef SER_PROBE_S3EMU
extern "C" int emu_last_softmax_over;
#endif

namespace {
alignas(16) uint8_t g_arena[SER_PROBE_MAX_ARENA];
alignas(tflite::MicroInterpreter) uint8_t g_interpreter_storage[sizeof(tflite::MicroInterpreter)];

uint8_t* ReadFile(const char* path, size_t* size) {
  FILE* file = fopen(path, "rb");
  if (file == nullptr) return nullptr;
  fseek(file, 0, SEEK_END);
  *size = static_cast<size_t>(ftell(file));
  fseek(file, 0, SEEK_SET);
  // 16-byte aligned copy: the flatbuffer's int8 weights are read in place
  uint8_t* raw = static_cast<uint8_t*>(malloc(*size + 16));
  uint8_t* data = raw == nullptr ? nullptr : raw + (16 - reinterpret_cast<uintptr_t>(raw) % 16) % 16;
  if (data != nullptr && fread(data, 1, *size, file) != *size) data = nullptr;
  fclose(file);
  return data;
}

// A fresh interpreter on the first `arena_size` bytes of g_arena; nullptr when it cannot
// allocate the tensors or invoke the model (input all zeros) in that arena.
tflite::MicroInterpreter* Fresh(const tflite::Model* model, const SerOpResolver& resolver, size_t arena_size) {
  memset(g_arena, 0, sizeof(g_arena));
  auto* interpreter = new (g_interpreter_storage) tflite::MicroInterpreter(model, resolver, g_arena, arena_size);
  if (interpreter->AllocateTensors() == kTfLiteOk) {
    memset(interpreter->input(0)->data.int8, 0, interpreter->input(0)->bytes);
    if (interpreter->Invoke() == kTfLiteOk) return interpreter;
  }
  interpreter->~MicroInterpreter();
  return nullptr;
}
constexpr int kMaxShared = 4;
alignas(tflite::MicroInterpreter) uint8_t g_shared_storage[kMaxShared][sizeof(tflite::MicroInterpreter)];

// Every model on one allocator over the first `arena_size` bytes of g_arena, allocated first and
// then invoked in turn (inputs zero), and the first again after the others (its persistent data
// and plan must survive theirs). The bytes the allocator used, or 0 when anything failed.
size_t Shared(const tflite::Model* const* models, int count, const SerOpResolver& resolver, size_t arena_size) {
  memset(g_arena, 0, sizeof(g_arena));
  tflite::MicroAllocator* allocator = tflite::MicroAllocator::Create(g_arena, arena_size);
  if (allocator == nullptr) return 0;
  tflite::MicroInterpreter* interpreters[kMaxShared] = {};
  bool ok = true;
  for (int i = 0; i < count; ++i) {
    interpreters[i] = new (g_shared_storage[i]) tflite::MicroInterpreter(models[i], resolver, allocator);
    ok = ok && interpreters[i]->AllocateTensors() == kTfLiteOk;
  }
  for (int i = 0; ok && i <= count; ++i) {
    tflite::MicroInterpreter* interpreter = interpreters[i % count];
    for (size_t t = 0; t < interpreter->inputs_size(); ++t) {
      memset(interpreter->input(t)->data.int8, 0, interpreter->input(t)->bytes);
    }
    ok = interpreter->Invoke() == kTfLiteOk;
  }
  const size_t used = ok ? allocator->used_bytes() : 0;
  for (int i = 0; i < count; ++i) interpreters[i]->~MicroInterpreter();
  return used;
}

size_t g_trial_arena = 0;  // --arena N: one trial with N bytes

int SharedMain(int argc, char** argv, const SerOpResolver& resolver) {
  const tflite::Model* models[kMaxShared];
  const int count = argc - 2;
  if (count < 1 || count > kMaxShared) {
    printf("error: --shared takes 1 to %d models\n", kMaxShared);
    return 1;
  }
  for (int i = 0; i < count; ++i) {
    size_t size = 0;
    const uint8_t* data = ReadFile(argv[i + 2], &size);
    if (data == nullptr) {
      printf("error: cannot read %s\n", argv[i + 2]);
      return 1;
    }
    models[i] = tflite::GetModel(data);
  }
  if (g_trial_arena != 0) {
    const size_t used = Shared(models, count, resolver, g_trial_arena);
    printf("runs %d\narena_used_bytes %u\n", used != 0 ? 1 : 0, static_cast<unsigned>(used));
    return 0;
  }
  const size_t used = Shared(models, count, resolver, sizeof(g_arena));
  if (used == 0) {
    printf("error: the models do not run in one %u-byte arena\n", static_cast<unsigned>(sizeof(g_arena)));
    return 1;
  }
  size_t low = 0, high = sizeof(g_arena);
  while (high - low > 16) {
    const size_t middle = (low + high) / 2 / 16 * 16;
    if (Shared(models, count, resolver, middle) != 0) {
      high = middle;
    } else {
      low = middle;
    }
  }
  printf("shared_arena_used_bytes %u\nshared_arena_min_bytes %u\nsizeof_pointer %u\n",
         static_cast<unsigned>(used), static_cast<unsigned>(high), static_cast<unsigned>(sizeof(void*)));
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
#ifndef SER_PROBE_BUNDLE
  if (argc > 2 && strcmp(argv[1], "--arena") == 0) {
    g_trial_arena = static_cast<size_t>(strtoul(argv[2], nullptr, 10));
    if (g_trial_arena == 0 || g_trial_arena > sizeof(g_arena)) {
      printf("error: --arena takes 1 to %u bytes\n", static_cast<unsigned>(sizeof(g_arena)));
      return 1;
    }
    argc -= 2;
    argv += 2;
  }
  if (argc > 1 && strcmp(argv[1], "--shared") == 0) {
    static SerOpResolver shared_resolver;
    if (!RegisterSerOps(shared_resolver)) {
      printf("error: could not register the models' operators\n");
      return 1;
    }
    return SharedMain(argc, argv, shared_resolver);
  }
#endif
#ifdef SER_PROBE_BUNDLE
  const uint8_t* model_data = g_ser_model_data;
  const char* inputs_path = argc > 1 ? argv[1] : nullptr;
  printf("kTensorArenaSize %u\n", static_cast<unsigned>(kTensorArenaSize));
#else
  if (argc < 2) {
    printf("usage: arena_probe MODEL.tflite [INPUTS.bin]\n");
    return 1;
  }
  size_t model_size = 0;
  const uint8_t* model_data = ReadFile(argv[1], &model_size);
  if (model_data == nullptr) {
    printf("error: cannot read %s\n", argv[1]);
    return 1;
  }
  const char* inputs_path = argc > 2 ? argv[2] : nullptr;
#endif
  const tflite::Model* model = tflite::GetModel(model_data);
  static SerOpResolver resolver;
  if (!RegisterSerOps(resolver)) {
    printf("error: could not register the model's operators\n");
    return 1;
  }
  if (g_trial_arena != 0) {
    tflite::MicroInterpreter* trial = Fresh(model, resolver, g_trial_arena);
    printf("runs %d\narena_used_bytes %u\n", trial != nullptr ? 1 : 0,
           static_cast<unsigned>(trial != nullptr ? trial->arena_used_bytes() : 0));
    return 0;
  }
  tflite::MicroInterpreter* interpreter = Fresh(model, resolver, sizeof(g_arena));
  if (interpreter == nullptr) {
    printf("error: the model does not run in a %u-byte arena\n", static_cast<unsigned>(sizeof(g_arena)));
    return 1;
  }
  const size_t used = interpreter->arena_used_bytes();
  interpreter->~MicroInterpreter();
  size_t low = 0, high = (used + 15) / 16 * 16 + 4096;  // the smallest arena is near `used`
  while (Fresh(model, resolver, high) == nullptr) {
    low = high;
    high *= 2;
    if (high > sizeof(g_arena)) high = sizeof(g_arena);
  }
  reinterpret_cast<tflite::MicroInterpreter*>(g_interpreter_storage)->~MicroInterpreter();
  while (high - low > 16) {
    const size_t middle = (low + high) / 2 / 16 * 16;
    tflite::MicroInterpreter* trial = Fresh(model, resolver, middle);
    if (trial != nullptr) {
      trial->~MicroInterpreter();
      high = middle;
    } else {
      low = middle;
    }
  }
  printf("arena_used_bytes %u\narena_min_bytes %u\nsizeof_pointer %u\n", static_cast<unsigned>(used),
         static_cast<unsigned>(high), static_cast<unsigned>(sizeof(void*)));

  interpreter = Fresh(model, resolver, sizeof(g_arena));
  TfLiteTensor* input = interpreter->input(0);
  TfLiteTensor* output = interpreter->output(0);
  size_t inputs_size = 0;
  const uint8_t* inputs = inputs_path != nullptr ? ReadFile(inputs_path, &inputs_size) : nullptr;
  if (inputs_path != nullptr && (inputs == nullptr || inputs_size % input->bytes != 0)) {
    printf("error: %s is not a whole number of %u-byte inputs\n", inputs_path, static_cast<unsigned>(input->bytes));
    return 1;
  }
  for (size_t i = 0; inputs != nullptr && i < inputs_size / input->bytes; ++i) {
    memcpy(input->data.int8, inputs + i * input->bytes, input->bytes);
    if (interpreter->Invoke() != kTfLiteOk) {
      printf("error: Invoke failed on input %u\n", static_cast<unsigned>(i));
      return 1;
    }
    printf("logits %u:", static_cast<unsigned>(i));
    for (size_t c = 0; c < output->bytes; ++c) printf(" %d", output->data.int8[c]);
    printf("\n");
  }
#ifdef SER_PROBE_S3EMU
  // the S3 emulation's softmax shim: bytes the kernel wrote past its scratch request (0 = covered)
  printf("softmax_scratch_overrun_bytes %d\n", emu_last_softmax_over);
#endif
  return 0;
}
