// Operator kernels of ser-reparam that replace a TFLM kernel with the same arithmetic, faster
// (registered by op_resolver.h where the model's tensors allow it). Each gives output bit-identical
// to TFLM's reference kernel: `ser-reparam verify-firmware` checks the firmware's logits against
// the Python TFLM interpreter.
// Copied into every bundle by ser-reparam (firmware_export/bundle/ser_kernels.h). Do not edit.
#ifndef SER_KERNELS_H_
#define SER_KERNELS_H_

#include <cstdint>

#include "tensorflow/lite/micro/micro_common.h"

// exp() of each int8 input difference -255..0 (exp[255 + difference]; 0 below diff_min) for a SOFTMAX
// node with these parameters (tflite::SoftmaxParams), computed when the bundle is exported
// (op_resolver.py softmax_exp_tables) and kept in program flash. A list ends with exp == nullptr.
struct SerSoftmaxExpTable {
  int32_t input_multiplier;
  int32_t input_left_shift;
  int32_t diff_min;
  const int32_t* exp;
};

// SOFTMAX with int8 input and int8 output: TFLM's reference arithmetic (kernels/internal/reference/
// softmax.h), with exp() of each input difference looked up: in `tables` when one has the node's
// parameters and every entry equals the kernel's own exp() (checked once, in Prepare), else computed
// once per Invoke and looked up after; rows of at most 256 values.
TFLMRegistration SerRegisterSoftmaxInt8(const SerSoftmaxExpTable* tables = nullptr);

// MEAN: int8 over one block of adjacent axes summed in a plain loop, then TFLM's reference
// rescaling (kernels/internal/reference/reduce.h QuantizedMeanOrSum); other cases run TFLM's kernel.
TFLMRegistration SerRegisterMean();

// CONV_2D: int8 with one input channel and a 3 x 3 filter (a spectrogram's first layer), with
// the taps of each output pixel packed once for SMLAD, TFLM's reference arithmetic (kernels/
// internal/reference/integer_ops/conv.h); every other convolution runs the tree's kernel (CMSIS-NN).
TFLMRegistration SerRegisterConv2D();

// BATCH_MATMUL: int8, no adj_x, no broadcasting, depth <= 16, 16 to 512 / (depth / 2) columns, as
// int16 pairs for SMLAD, TFLM's reference arithmetic (kernels/internal/reference/batch_matmul.h);
// other nodes run the tree's kernel.
TFLMRegistration SerRegisterBatchMatmul();

// ADD, SUB, MUL: int8 with the second operand broadcast over one block of the output's axes
// (LayerNorm's mean, scale and shift), TFLM's reference arithmetic (kernels/internal/reference/
// integer_ops/add.h, mul.h, reference/sub.h) in plain loops, the broadcast operand rescaled once per
// value (up to 64 values); every other node runs the tree's kernel (CMSIS-NN's for equal shapes).
TFLMRegistration SerRegisterAdd();
TFLMRegistration SerRegisterSub();
TFLMRegistration SerRegisterMul();

#endif  // SER_KERNELS_H_
