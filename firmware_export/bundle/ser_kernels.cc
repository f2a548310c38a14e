// See ser_kernels.h. Copied into every bundle by ser-reparam (firmware_export/bundle/ser_kernels.cc).
// Do not edit.
//
// SOFTMAX, int8 -> int8. TFLM's kernels (reference and CMSIS-NN's arm_softmax_s8) evaluate the
// fixed-point exp(x - max) twice per element, 200+ instructions each on a Cortex-M4. Its input
// x - max is an int8 difference, one of 256 values, and the rescaling before exp() is the node's
// constant: so exp() is a function of the difference alone. It is computed the first time a
// difference appears in an Invoke and looked up after; every other step is the reference code.
#include "ser_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "tensorflow/lite/kernels/internal/common.h"
#include "tensorflow/lite/kernels/internal/types.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/kernels/softmax.h"
#include "tensorflow/lite/micro/micro_log.h"

namespace {

constexpr int kScaledDiffIntegerBits = 5;     // as reference_ops::Softmax
constexpr int kAccumulationIntegerBits = 12;
using FixedPointScaledDiff = gemmlowp::FixedPoint<int32_t, kScaledDiffIntegerBits>;
using FixedPointAccum = gemmlowp::FixedPoint<int32_t, kAccumulationIntegerBits>;
using FixedPoint0 = gemmlowp::FixedPoint<int32_t, 0>;

// exp() of each difference -255..0 (index 255 + diff), filled as the differences appear.
class ExpTable {
 public:
  ExpTable(const tflite::SoftmaxParams& params) : params_(params) { memset(known_, 0, sizeof(known_)); }

  FixedPoint0 At(int32_t diff) {
    const int index = 255 + diff;
    if (!known_[index]) {
      const int32_t rescaled = tflite::MultiplyByQuantizedMultiplierGreaterThanOne(
          diff, params_.input_multiplier, params_.input_left_shift);
      exp_[index] = gemmlowp::exp_on_negative_values(FixedPointScaledDiff::FromRaw(rescaled)).raw();
      known_[index] = 1;
    }
    return FixedPoint0::FromRaw(exp_[index]);
  }

 private:
  const tflite::SoftmaxParams& params_;
  int32_t exp_[256];
  uint8_t known_[256];
};

TfLiteStatus EvalInt8(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteEvalTensor* input = tflite::micro::GetEvalInput(context, node, 0);
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  if (input->type != kTfLiteInt8 || output->type != kTfLiteInt8) {
    MicroPrintf("SerRegisterSoftmaxInt8: int8 input and output only (got %s -> %s)",
                TfLiteTypeGetName(input->type), TfLiteTypeGetName(output->type));
    return kTfLiteError;
  }
  const auto& params = *static_cast<const tflite::SoftmaxParams*>(node->user_data);
  const tflite::RuntimeShape input_shape = tflite::micro::GetTensorShape(input);
  const tflite::RuntimeShape output_shape = tflite::micro::GetTensorShape(output);
  const int8_t* in = tflite::micro::GetTensorData<int8_t>(input);
  int8_t* out = tflite::micro::GetTensorData<int8_t>(output);
  const int trailing_dim = input_shape.DimensionsCount() - 1;
  const int outer_size = tflite::MatchingFlatSizeSkipDim(input_shape, trailing_dim, output_shape);
  const int depth = tflite::MatchingDim(input_shape, trailing_dim, output_shape, trailing_dim);
  const int diff_min = params.diff_min;
  ExpTable table(params);

  for (int i = 0; i < outer_size; ++i, in += depth, out += depth) {
    int8_t max_in_row = std::numeric_limits<int8_t>::min();
    for (int c = 0; c < depth; ++c) max_in_row = std::max(max_in_row, in[c]);

    FixedPointAccum sum_of_exps = FixedPointAccum::Zero();
    for (int c = 0; c < depth; ++c) {
      const int32_t diff = static_cast<int32_t>(in[c]) - max_in_row;
      if (diff >= diff_min) sum_of_exps = sum_of_exps + gemmlowp::Rescale<kAccumulationIntegerBits>(table.At(diff));
    }
    int num_bits_over_unit;
    const FixedPoint0 shifted_scale = FixedPoint0::FromRaw(
        tflite::GetReciprocal(sum_of_exps.raw(), kAccumulationIntegerBits, &num_bits_over_unit));
    const int exponent = num_bits_over_unit + 31 - 8;
    TFLITE_CHECK(0 <= exponent && exponent <= 31);

    for (int c = 0; c < depth; ++c) {
      const int32_t diff = static_cast<int32_t>(in[c]) - max_in_row;
      if (diff >= diff_min) {
        const int32_t unsat = gemmlowp::RoundingDivideByPOT((shifted_scale * table.At(diff)).raw(), exponent);
        const int32_t shifted = unsat + std::numeric_limits<int8_t>::min();
        out[c] = static_cast<int8_t>(std::max(std::min(shifted, int32_t{127}), int32_t{-128}));
      } else {
        out[c] = std::numeric_limits<int8_t>::min();
      }
    }
  }
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration SerRegisterSoftmaxInt8() {
  return tflite::micro::RegisterOp(tflite::SoftmaxInit, tflite::SoftmaxPrepare, EvalInt8);
}
