// See ser_kernels.h. Copied into every bundle by ser-reparam (firmware_export/bundle/ser_kernels.cc).
// Do not edit.
//
// SOFTMAX, int8 -> int8. TFLM's kernels (reference and CMSIS-NN's arm_softmax_s8) evaluate the
// fixed-point exp(x - max) twice per element, 200+ instructions each on a Cortex-M4. Its input
// x - max is an int8 difference, one of 256 values, and the rescaling before exp() is the node's
// constant: so exp() is a function of the difference alone. It is computed the first time a
// difference appears in an Invoke and looked up after; every other step is the reference code.
//
// MEAN, int8. TFLM's integer mean walks the input with a generic multi-axis index (over 150
// instructions per element on a Cortex-M4). Integer sums do not depend on the order they are
// taken in, so a loop over [outer, reduced, inner] gives the same sums; the rescaling to the
// output is copied from the reference.
#include "ser_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>

#include "tensorflow/lite/kernels/internal/common.h"
#include "tensorflow/lite/kernels/internal/types.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/kernels/reduce.h"
#include "tensorflow/lite/micro/kernels/softmax.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_utils.h"

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

void* InitMean(TfLiteContext* context, const char* buffer, size_t length) {
  return new (context->AllocatePersistentBuffer(context, sizeof(tflite::OpDataReduce))) tflite::OpDataReduce();
}

TfLiteStatus PrepareMean(TfLiteContext* context, TfLiteNode* node) {
  return tflite::PrepareMeanOrSumHelper(context, node, static_cast<tflite::OpDataReduce*>(node->user_data));
}

// The input as [outer, reduced, inner] when the reduced axes are adjacent; false otherwise.
bool AdjacentAxes(const TfLiteEvalTensor* input, const TfLiteEvalTensor* axis, int* outer, int* reduced,
                  int* inner) {
  const int dims = input->dims->size;
  const int count = tflite::ElementCount(*axis->dims);
  const int32_t* axes = tflite::micro::GetTensorData<int32_t>(axis);
  bool reduce[8] = {};
  if (dims > 8 || count < 1) return false;
  for (int i = 0; i < count; ++i) {
    const int a = axes[i] < 0 ? axes[i] + dims : axes[i];
    if (a < 0 || a >= dims) return false;
    reduce[a] = true;
  }
  int first = 0;
  while (!reduce[first]) ++first;
  int last = first;
  while (last + 1 < dims && reduce[last + 1]) ++last;
  for (int d = last + 1; d < dims; ++d) {
    if (reduce[d]) return false;
  }
  *outer = *reduced = *inner = 1;
  for (int d = 0; d < dims; ++d) {
    (d < first ? *outer : d <= last ? *reduced : *inner) *= input->dims->data[d];
  }
  return true;
}

TfLiteStatus EvalMean(TfLiteContext* context, TfLiteNode* node) {
  auto* op_data = static_cast<tflite::OpDataReduce*>(node->user_data);
  const TfLiteEvalTensor* input = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* axis = tflite::micro::GetEvalInput(context, node, 1);
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  int outer, reduced, inner;
  if (input->type != kTfLiteInt8 || !AdjacentAxes(input, axis, &outer, &reduced, &inner) || reduced == 0) {
    return tflite::EvalMeanHelper(context, node, op_data);
  }
  // the reference's rescaling by 1 / reduced, as QuantizedMeanOrSum computes it
  int32_t multiplier = op_data->multiplier;
  int shift = op_data->shift;
  int sum_shift = 63 - tflite::CountLeadingZeros(static_cast<uint64_t>(reduced));
  sum_shift = std::min(sum_shift, 32);
  sum_shift = std::min(sum_shift, 31 + shift);
  multiplier = static_cast<int32_t>((static_cast<int64_t>(multiplier) << sum_shift) / reduced);
  shift -= sum_shift;
  const int32_t offset = op_data->input_zp * reduced;
  const int8_t* in = tflite::micro::GetTensorData<int8_t>(input);
  int8_t* out = tflite::micro::GetTensorData<int8_t>(output);
  for (int o = 0; o < outer; ++o) {
    for (int i = 0; i < inner; ++i) {
      const int8_t* x = in + o * reduced * inner + i;
      int32_t sum = 0;
      for (int r = 0; r < reduced; ++r) sum += x[r * inner];
      const int32_t value =
          tflite::MultiplyByQuantizedMultiplier(sum - offset, multiplier, shift) + op_data->output_zp;
      out[o * inner + i] = static_cast<int8_t>(std::min(std::max(value, int32_t{-128}), int32_t{127}));
    }
  }
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration SerRegisterMean() { return tflite::micro::RegisterOp(InitMean, PrepareMean, EvalMean); }

TFLMRegistration SerRegisterSoftmaxInt8() {
  return tflite::micro::RegisterOp(tflite::SoftmaxInit, tflite::SoftmaxPrepare, EvalInt8);
}
