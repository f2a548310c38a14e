// See ser_kernels.h. Copied into every bundle by ser-reparam (firmware_export/bundle/ser_kernels.cc).
// Do not edit.
//
// SOFTMAX, int8 -> int8. TFLM's kernels (reference and CMSIS-NN's arm_softmax_s8) evaluate the
// fixed-point exp(x - max) twice per element, 200+ instructions each on a Cortex-M4. Its input
// x - max is an int8 difference, one of 256 values, and the rescaling before exp() is the node's
// constant: so exp() is a function of the difference alone. The bundle's op_resolver.h holds the
// 256 values for each node's parameters, computed at export (op_resolver.py softmax_exp_tables),
// as const arrays in program flash; Prepare checks every entry against the function below and only
// then uses the table. Without one, exp() is computed the first time a difference appears in an
// Invoke and looked up after. The fixed-point steps are the reference's, written as CMSIS-NN
// writes them.
//
// ADD, SUB, MUL, int8, the second operand broadcast (LayerNorm's mean, scale and shift): TFLM's
// reference BroadcastAdd / Sub / Mul walk a generic 6-D index and rescale both operands at every
// element (over 130 instructions per element on a Cortex-M4). Here the broadcast operand is read
// by a plain [outer, count, step] loop and rescaled once per value; the arithmetic is the
// reference's, with the doubling multiply as CMSIS-NN's arm_nn_requantize writes it.
//
// BATCH_MATMUL, int8, depth <= 16 (attention's scores: a head's width). TFLM's CMSIS-NN kernel
// transposes the right operand at every Invoke and runs arm_nn_vec_mat_mult_t_s8 per left row,
// whose fixed costs dominate at a depth of 4: over 50 instructions per output. Here the right
// operand's columns and each left row, minus their zero points, are packed once as int16 pairs,
// each output is a few SMLADs, and a row's sums are rescaled together as the reference does.
//
// MEAN, int8. TFLM's integer mean walks the input with a generic multi-axis index (over 150
// instructions per element on a Cortex-M4). Integer sums do not depend on the order they are
// taken in, so a loop over [outer, reduced, inner] gives the same sums; the rescaling to the
// output is copied from the reference.
//
// CONV_2D, int8, one input channel, 3 x 3 filter (a spectrogram's first layer). CMSIS-NN's
// arm_convolve_s8 builds an im2col column of 9 values per pixel and runs its matrix product over
// it: about 10 instructions per MAC. Here the 9 taps (plus the input offset; 0 outside the image,
// where the reference adds nothing) of a pixel are packed once into five int16 pairs, kept in
// registers while every output channel runs over them: one LDM of the channel's weights and bias,
// five SMLADs, one LDM of its rescaling constants, the rescaling as one 64-bit sum (SMLAL; the
// reference's double rounding and zero point folded into a constant, see FastChannel), SSAT: 16
// instructions per output, plus the pixel's packing shared by its channels (was about 43 in all).
// Integer sums do not depend on their order, so the accumulators equal the reference's, and the
// rescaled values are the reference's, bit for bit. Nodes with an
// activation clamp or shifts outside 1..24 to the right take the older path: up to 64 pixels of a row
// packed, each channel over them, rescaled as CMSIS-NN's arm_nn_requantize writes it. The node's data
// is the tree's own (its Init / Prepare): OpDataConv is the first member of the node data in TFLM's
// reference and CMSIS-NN kernels.
#include "ser_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cstddef>
#include <cstring>
#include <limits>
#include <new>

#include "tensorflow/lite/kernels/internal/common.h"
#include "tensorflow/lite/kernels/internal/types.h"
#include "tensorflow/lite/micro/kernels/add.h"
#include "tensorflow/lite/micro/kernels/batch_matmul.h"
#include "tensorflow/lite/micro/kernels/conv.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/kernels/micro_ops.h"
#include "tensorflow/lite/micro/kernels/mul.h"
#include "tensorflow/lite/micro/kernels/reduce.h"
#include "tensorflow/lite/micro/kernels/softmax.h"
#include "tensorflow/lite/micro/kernels/sub.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_utils.h"

namespace {

constexpr int kScaledDiffIntegerBits = 5;     // as reference_ops::Softmax
constexpr int kAccumulationIntegerBits = 12;
using FixedPoint0 = gemmlowp::FixedPoint<int32_t, 0>;

constexpr int kMaxSoftmaxRow = 256;  // a row's exps on the stack, 1 KB (op_resolver.py routes only such rows here)

// gemmlowp::SaturatingRoundingDoublingHighMul without its saturation, which needs both operands
// INT32_MIN: (a * b + 2^30) >> 31 equals its nudged truncating division for either sign (as
// CMSIS-NN's arm_nn_doubling_high_mult_no_sat computes it). SOFTMAX's operands are >= 0.
inline int32_t DoublingHighMul(int32_t a, int32_t b) {
  return static_cast<int32_t>((static_cast<int64_t>(a) * b + (int64_t{1} << 30)) >> 31);
}

// gemmlowp::RoundingDivideByPOT (to nearest, ties away from zero; exponent 0..31) with the
// remainder compared, not added: x + 2^(exponent-1) would overflow near INT32_MAX.
inline int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((uint32_t{1} << exponent) - 1u);
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + ((x & mask) > threshold ? 1 : 0);
}

// gemmlowp::exp_on_negative_values for an input with 5 integer bits (kScaledDiffIntegerBits), step
// by step, with the fast DoublingHighMul: every product here has an operand in [-2^28, 2^28] or a
// positive constant, never the INT32_MIN x INT32_MIN gemmlowp saturates; its selects as branches.
int32_t ExpOnNegativeValues(int32_t a) {
  if (a == 0) return std::numeric_limits<int32_t>::max();            // ResultF::One()
  constexpr int kFractionalBits = 31 - kScaledDiffIntegerBits;        // 26
  constexpr int32_t kOneQuarter = int32_t{1} << (kFractionalBits - 2);
  const int32_t a_mod_quarter_minus_one_quarter = (a & (kOneQuarter - 1)) - kOneQuarter;
  // exp_on_interval_between_negative_one_quarter_and_0_excl(Rescale<0>(...)), a Taylor expansion at -1/8
  const int32_t x = a_mod_quarter_minus_one_quarter * (1 << kScaledDiffIntegerBits) + (int32_t{1} << 28);
  const int32_t x2 = DoublingHighMul(x, x), x3 = DoublingHighMul(x2, x), x4 = DoublingHighMul(x2, x2);
  const int32_t x4_over_4 = RoundingDivideByPOT(x4, 2);
  const int32_t poly = RoundingDivideByPOT(DoublingHighMul(x4_over_4 + x3, 715827883) + x2, 1);
  constexpr int32_t kExpMinusOneEighth = 1895147668;
  int32_t result = kExpMinusOneEighth + DoublingHighMul(kExpMinusOneEighth, x + poly);
  // the barrel shifter: exp(-2^e) for each bit e = -2..4 of the remainder
  constexpr int32_t kMultipliers[] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
#pragma GCC unroll 7
  for (int e = -2; e <= 4; ++e) {
    if (remainder & (int32_t{1} << (kFractionalBits + e))) result = DoublingHighMul(result, kMultipliers[e + 2]);
  }
  return result;
}

// exp() of each difference -255..0 (index 255 + diff), filled as the differences appear.
class ExpTable {
 public:
  ExpTable(const tflite::SoftmaxParams& params) : params_(params) { memset(known_, 0, sizeof(known_)); }

  FixedPoint0 At(int32_t diff) {
    const int index = 255 + diff;
    if (!known_[index]) {
      exp_[index] = Exp(params_, diff);
      known_[index] = 1;
    }
    return FixedPoint0::FromRaw(exp_[index]);
  }

  static int32_t Exp(const tflite::SoftmaxParams& params, int32_t diff) {
    const int32_t rescaled = tflite::MultiplyByQuantizedMultiplierGreaterThanOne(
        diff, params.input_multiplier, params.input_left_shift);
    return ExpOnNegativeValues(rescaled);
  }

 private:
  const tflite::SoftmaxParams& params_;
  int32_t exp_[256];
  uint8_t known_[256];
};

const SerSoftmaxExpTable* g_exp_tables = nullptr;  // SerRegisterSoftmaxInt8's list (program flash)

// The node's exp() table in flash, kept in SoftmaxParams::uint8_table1 (unused by int8 SOFTMAX): the
// listed table with the node's parameters whose every entry is the one EvalInt8 would compute.
TfLiteStatus PrepareSoftmax(TfLiteContext* context, TfLiteNode* node) {
  TF_LITE_ENSURE_STATUS(tflite::SoftmaxPrepare(context, node));
  auto& params = *static_cast<tflite::SoftmaxParams*>(node->user_data);
  params.uint8_table1 = nullptr;
  for (const SerSoftmaxExpTable* t = g_exp_tables; t != nullptr && t->exp != nullptr; ++t) {
    if (t->input_multiplier != params.input_multiplier || t->input_left_shift != params.input_left_shift ||
        t->diff_min != params.diff_min) {
      continue;
    }
    bool same = true;
    for (int32_t diff = -255; diff <= 0 && same; ++diff) {
      same = t->exp[255 + diff] == (diff >= params.diff_min ? ExpTable::Exp(params, diff) : 0);
    }
    if (same) {
      params.uint8_table1 = reinterpret_cast<uint8_t*>(const_cast<int32_t*>(t->exp));
      break;
    }
  }
  return kTfLiteOk;
}

// The largest value of a row: four at a time on a DSP core (SSUB8 sets the GE flag of each byte
// where the new value is >= the best so far, SEL keeps those bytes).
int32_t RowMax(const int8_t* in, int depth) {
  int32_t best = std::numeric_limits<int8_t>::min();
  int c = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  uint32_t best4 = 0x80808080u;
  for (; c + 4 <= depth; c += 4) {
    uint32_t x4, result;
    memcpy(&x4, in + c, 4);
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(result) : "r"(x4), "r"(best4) : "cc");
    best4 = result;
  }
  for (int b = 0; b < 4; ++b) {
    best = std::max(best, static_cast<int32_t>(static_cast<int8_t>(best4 >> (8 * b))));
  }
#endif
  for (; c < depth; ++c) best = std::max(best, static_cast<int32_t>(in[c]));
  return best;
}

// The rows with exp() from a flash table (0 below diff_min): the arithmetic of the loop in EvalInt8,
// for its non-negative operands. RoundingDivideByPOT of x >= 0 is (x + 2^(e - 1)) >> e, and the
// output's DoublingHighMul then rounding division by 2^exponent (>= 23: the row's max alone adds 2^19
// to the sum) are one 64-bit sum, floor((s * x + 2^30 + 2^(exponent - 1) * 2^31) / 2^(31 + exponent))
// (floor(floor(a / m) + h) / n) = floor((a + h * m) / (m * n))): its high word shifted by exponent - 1.
void SoftmaxRowsFromTable(const int8_t* in, int8_t* out, int outer_size, int depth, const int32_t* table) {
  const int32_t* exp_of_diff = table + 255;
  for (int i = 0; i < outer_size; ++i, in += depth, out += depth) {
    const int32_t* exps = exp_of_diff - RowMax(in, depth);  // exps[x] = exp(x - max)
    uint32_t sum_of_exps = 0;  // each term < 2^19: no overflow for 256 values
    constexpr uint32_t kHalf = 1u << (kAccumulationIntegerBits - 1);
    int c = 0;
    for (; c + 2 <= depth; c += 2) {
      sum_of_exps += (static_cast<uint32_t>(exps[in[c]]) + kHalf) >> kAccumulationIntegerBits;
      sum_of_exps += (static_cast<uint32_t>(exps[in[c + 1]]) + kHalf) >> kAccumulationIntegerBits;
    }
    if (c < depth) sum_of_exps += (static_cast<uint32_t>(exps[in[c]]) + kHalf) >> kAccumulationIntegerBits;
    int num_bits_over_unit;
    const int32_t shifted_scale = tflite::GetReciprocal(static_cast<int32_t>(sum_of_exps),
                                                        kAccumulationIntegerBits, &num_bits_over_unit);
    const int exponent = num_bits_over_unit + 31 - 8;
    TFLITE_CHECK(1 <= exponent && exponent <= 31);
    const uint64_t rounding = (uint64_t{1} << 30) + (uint64_t{1} << (exponent - 1 + 31));
    const uint32_t scale = static_cast<uint32_t>(shifted_scale);
    const int high_shift = exponent - 1;
    for (int c = 0; c < depth; ++c) {
      const uint64_t product = static_cast<uint64_t>(scale) * static_cast<uint32_t>(exps[in[c]]) + rounding;
      const int32_t unsat = static_cast<int32_t>(static_cast<uint32_t>(product >> 32) >> high_shift);
      out[c] = static_cast<int8_t>(std::min(unsat + std::numeric_limits<int8_t>::min(), int32_t{127}));
    }
  }
}

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
  if (depth > kMaxSoftmaxRow) {
    MicroPrintf("SerRegisterSoftmaxInt8: rows of at most %d values (got %d)", kMaxSoftmaxRow, depth);
    return kTfLiteError;
  }
  if (params.uint8_table1 != nullptr) {
    SoftmaxRowsFromTable(in, out, outer_size, depth, reinterpret_cast<const int32_t*>(params.uint8_table1));
    return kTfLiteOk;
  }
  ExpTable table(params);
  int32_t exps[kMaxSoftmaxRow];  // the row's exp(x - max), 0 where the reference writes -128 directly

  for (int i = 0; i < outer_size; ++i, in += depth, out += depth) {
    int8_t max_in_row = std::numeric_limits<int8_t>::min();
    for (int c = 0; c < depth; ++c) max_in_row = std::max(max_in_row, in[c]);

    int32_t sum_of_exps = 0;  // FixedPointAccum's raw value: exp() rescaled to 12 integer bits
    for (int c = 0; c < depth; ++c) {
      const int32_t diff = static_cast<int32_t>(in[c]) - max_in_row;
      exps[c] = diff >= diff_min ? table.At(diff).raw() : 0;
      sum_of_exps += RoundingDivideByPOT(exps[c], kAccumulationIntegerBits);
    }
    int num_bits_over_unit;
    const int32_t shifted_scale = tflite::GetReciprocal(sum_of_exps, kAccumulationIntegerBits, &num_bits_over_unit);
    const int exponent = num_bits_over_unit + 31 - 8;
    TFLITE_CHECK(0 <= exponent && exponent <= 31);

    // an exp of 0 gives 0 + -128: the reference's output below diff_min
    for (int c = 0; c < depth; ++c) {
      const int32_t unsat = RoundingDivideByPOT(DoublingHighMul(shifted_scale, exps[c]), exponent);
      const int32_t shifted = unsat + std::numeric_limits<int8_t>::min();
      out[c] = static_cast<int8_t>(std::max(std::min(shifted, int32_t{127}), int32_t{-128}));
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

#if TFLITE_SINGLE_ROUNDING
constexpr bool kSingleRounding = true;  // the kernels below rescale with double rounding only
#else
constexpr bool kSingleRounding = false;
#endif
constexpr int kBlock = 64;  // outputs summed before they are rescaled together

// low(a) * low(b) + high(a) * high(b): one SMUAD on a core with the DSP extension.
inline int32_t DualMul(uint32_t a, uint32_t b) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  int32_t result;
  __asm__("smuad %0, %1, %2" : "=r"(result) : "r"(a), "r"(b));
  return result;
#else
  return static_cast<int16_t>(a & 0xFFFFu) * static_cast<int16_t>(b & 0xFFFFu) +
         static_cast<int16_t>(a >> 16) * static_cast<int16_t>(b >> 16);
#endif
}

// Two int16 in one word (low half first), as SMLAD reads them.
inline uint32_t Pack(int32_t low, int32_t high) {
  return (static_cast<uint32_t>(low) & 0xFFFFu) | (static_cast<uint32_t>(high) << 16);
}

// acc + low(a) * low(b) + high(a) * high(b): one SMLAD on a core with the DSP extension.
inline int32_t DualMac(uint32_t a, uint32_t b, int32_t acc) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  int32_t result;
  __asm__("smlad %0, %1, %2, %3" : "=r"(result) : "r"(a), "r"(b), "r"(acc));
  return result;
#else
  return acc + static_cast<int16_t>(a & 0xFFFFu) * static_cast<int16_t>(b & 0xFFFFu) +
         static_cast<int16_t>(a >> 16) * static_cast<int16_t>(b >> 16);
#endif
}

// sums[j] = 2^left * (bias + the products of `row`'s kPairs int16 pairs with column j's), unrolled
// for the depth with the row's pairs in registers. 2^left before the rescaling:
// tflite::MultiplyByQuantizedMultiplier's x * (1 << left_shift).
template <int kPairs>
void SumColumns(const uint32_t* row, const uint32_t* columns, int count, int32_t bias, int left, int32_t* sums) {
  uint32_t words[kPairs];
  for (int p = 0; p < kPairs; ++p) words[p] = row[p];
  for (int j = 0; j < count; ++j, columns += kPairs) {
    int32_t acc = bias;
#pragma GCC unroll 8
    for (int p = 0; p < kPairs; ++p) acc = DualMac(words[p], columns[p], acc);
    sums[j] = acc * (1 << left);
  }
}
using SumColumnsFunction = void (*)(const uint32_t*, const uint32_t*, int, int32_t, int, int32_t*);
constexpr SumColumnsFunction kSumColumns[] = {SumColumns<1>, SumColumns<2>, SumColumns<3>, SumColumns<4>,
                                              SumColumns<5>, SumColumns<6>, SumColumns<7>, SumColumns<8>};

// DoublingHighMul in five instructions on a core with the DSP extension (SMULL, the rounding bit
// added to the 64-bit product, its bits 31..62), with no register held for the constants.
inline int32_t DoublingHighMulDsp(int32_t a, int32_t b) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  int32_t low, high;
  __asm__("smull %0, %1, %2, %3\n\t"
          "adds %0, %0, #0x40000000\n\t"
          "adc %1, %1, #0\n\t"
          "lsr %0, %0, #31\n\t"
          "orr %0, %0, %1, lsl #1"
          : "=&r"(low), "=&r"(high)
          : "r"(a), "r"(b)
          : "cc");
  return low;
#else
  return DoublingHighMul(a, b);
#endif
}

// min(max(x, -128), 127): one SSAT on a core with the DSP extension.
inline int32_t SaturateInt8(int32_t x) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  int32_t result;
  __asm__("ssat %0, #8, %1" : "=r"(result) : "r"(x));
  return result;
#else
  return std::min(std::max(x, int32_t{-128}), int32_t{127});
#endif
}

// The rest of tflite::MultiplyByQuantizedMultiplier (double rounding, as CMSIS-NN's
// arm_nn_requantize writes it; TFLM never makes a multiplier of INT32_MIN), the zero point and the
// clamp, for `count` sums to out[0], out[stride], ...: a function of its own, so its constants stay
// in registers; kInt8Range: the clamp is int8's own range (no activation), one SSAT.
template <bool kInt8Range>
__attribute__((noinline)) void RescaleSums(const int32_t* sums, int count, int32_t multiplier, int right,
                                           int32_t zero_point, int32_t low, int32_t high, int8_t* out,
                                           int stride) {
  const int32_t mask = static_cast<int32_t>((uint32_t{1} << right) - 1u), half = mask >> 1;
  for (const int32_t* end = sums + count; sums != end; ++sums, out += stride) {
    const int32_t x = DoublingHighMulDsp(*sums, multiplier);
    // RoundingDivideByPOT: the remainder against half the divisor, one more for a negative x
    const int32_t threshold = half + static_cast<int32_t>(static_cast<uint32_t>(x) >> 31);
    const int32_t value = (x >> right) + ((x & mask) > threshold ? 1 : 0) + zero_point;
    *out = static_cast<int8_t>(kInt8Range ? SaturateInt8(value) : std::min(std::max(value, low), high));
  }
}

inline void RescaleRow(const int32_t* sums, int count, int32_t multiplier, int right, int32_t zero_point,
                       int32_t low, int32_t high, int8_t* out, int stride) {
  if (low == -128 && high == 127) {
    RescaleSums<true>(sums, count, multiplier, right, zero_point, low, high, out, stride);
  } else {
    RescaleSums<false>(sums, count, multiplier, right, zero_point, low, high, out, stride);
  }
}

TFLMRegistration g_tree_conv;  // the tree's CONV_2D (init, prepare, and the invoke of other shapes)
constexpr int kMaxDepth = 32;  // output channels of the fast path (their words on the stack)

// One output channel of a 3 x 3 filter: its taps as int16 pairs (the ninth with a 0), its bias,
// its rescaling's constants.
struct Channel3x3 {
  uint32_t weights[5];
  int32_t bias, multiplier, left, right;
};

// The 9 taps of the 3 x 3 patch at (y0, x0) plus the input offset, as 5 SMLAD pairs; 0 outside the
// image, where the reference adds nothing.
inline void PackPatch(const int8_t* x, int in_h, int in_w, int y0, int x0, int32_t offset, uint32_t patch[5]) {
  int32_t tap[10];
  if (y0 >= 0 && x0 >= 0 && y0 + 3 <= in_h && x0 + 3 <= in_w) {
    const int8_t* row = x + y0 * in_w + x0;
    for (int ky = 0; ky < 3; ++ky, row += in_w) {
      tap[3 * ky] = row[0] + offset;
      tap[3 * ky + 1] = row[1] + offset;
      tap[3 * ky + 2] = row[2] + offset;
    }
  } else {
    for (int ky = 0, t = 0; ky < 3; ++ky) {
      for (int kx = 0; kx < 3; ++kx, ++t) {
        const int y = y0 + ky, xx = x0 + kx;
        tap[t] = y >= 0 && y < in_h && xx >= 0 && xx < in_w ? x[y * in_w + xx] + offset : 0;
      }
    }
  }
  tap[9] = 0;
  for (int p = 0; p < 5; ++p) patch[p] = Pack(tap[2 * p], tap[2 * p + 1]);
}

// One output channel for ConvPixelsFast, as ldrd pairs: its five weight pairs and bias, then its
// rescaling as one 64-bit sum. The reference's RoundingDivideByPOT(DoublingHighMul(acc, m), r) + zp
// (m > 0, 1 <= r <= 24) is floor((acc * m + 2^30 + h * 2^31 + zp * 2^(31 + r)) / 2^(31 + r)) with
// h = 2^(r - 1), less 1 for a negative DoublingHighMul (floor((floor(a / 2^31) + h) / 2^r) =
// floor((a + h * 2^31) / 2^(31 + r))). The DoublingHighMul is < 0 only for acc < 0, and where it is 0
// both h give 0: so acc < 0 decides. The constant is sum_hi:sum_lo, acc < 0 subtracts 2^31, SMLAL adds
// acc * m, and the high word shifted right by r - 1 is the value.
struct alignas(8) FastChannel {
  uint32_t weights[5];
  int32_t bias, multiplier, shift;  // shift: r - 1
  uint32_t sum_lo;
  int32_t sum_hi;
};

inline uint64_t LoadPair(const void* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
inline uint32_t Low(uint64_t v) { return static_cast<uint32_t>(v); }
inline uint32_t High(uint64_t v) { return static_cast<uint32_t>(v >> 32); }

// hi:lo + (acc < 0 ? -2^31 : 0) + acc * m, then its high word shifted right by `shift`.
inline int32_t RescaleWide(int32_t acc, int32_t m, uint32_t lo, int32_t hi, int32_t shift) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  uint32_t t;
  __asm__("and %[t], %[acc], #0x80000000\n\t"
          "adds %[lo], %[lo], %[t]\n\t"
          "adc %[hi], %[hi], %[acc], asr #31\n\t"
          "smlal %[lo], %[hi], %[acc], %[m]"
          : [t] "=&r"(t), [lo] "+&r"(lo), [hi] "+&r"(hi)
          : [acc] "r"(acc), [m] "r"(m)
          : "cc");
  return hi >> shift;
#else
  const int64_t sum = static_cast<int64_t>(hi) * (int64_t{1} << 32) + lo +
                      (acc < 0 ? -(int64_t{1} << 31) : 0) + static_cast<int64_t>(acc) * m;
  return static_cast<int32_t>(sum >> 32) >> shift;
#endif
}

// The channels' outputs of one pixel from its patch's five pairs p[0..4]: per channel one LDM of its
// weights and bias, five SMLADs, one LDM of its rescaling, the 64-bit sum, SSAT (int8's own clamp).
inline int8_t* ConvChannels(const uint32_t p[5], const FastChannel* channels, const FastChannel* end,
                            int8_t* out) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  register uint32_t p0 asm("r6") = p[0];
  register uint32_t p1 asm("r7") = p[1];
  register uint32_t p2 asm("r8") = p[2];
  register uint32_t p3 asm("r9") = p[3];
  register uint32_t p4 asm("r10") = p[4];
  register const FastChannel* ch asm("r11") = channels;
  register const FastChannel* stop asm("r12") = end;
  register int8_t* o asm("lr") = out;
  __asm__ volatile(
      "1:\n\t"
      "ldmia %[ch]!, {r0, r1, r2, r3, r4, r5}\n\t"
      "smlad r5, r0, %[p0], r5\n\t"
      "smlad r5, r1, %[p1], r5\n\t"
      "smlad r5, r2, %[p2], r5\n\t"
      "smlad r5, r3, %[p3], r5\n\t"
      "smlad r5, r4, %[p4], r5\n\t"
      "ldmia %[ch]!, {r0, r1, r2, r3}\n\t"
      "and r4, r5, #0x80000000\n\t"
      "adds r2, r2, r4\n\t"
      "adc r3, r3, r5, asr #31\n\t"
      "smlal r2, r3, r5, r0\n\t"
      "asr r3, r3, r1\n\t"
      "ssat r3, #8, r3\n\t"
      "strb r3, [%[o]], #1\n\t"
      "cmp %[ch], %[stop]\n\t"
      "bne 1b"
      : [ch] "+r"(ch), [o] "+r"(o)
      : [p0] "r"(p0), [p1] "r"(p1), [p2] "r"(p2), [p3] "r"(p3), [p4] "r"(p4), [stop] "r"(stop)
      : "r0", "r1", "r2", "r3", "r4", "r5", "cc", "memory");
  return o;
#else
  for (const FastChannel* ch = channels; ch != end; ++ch, ++out) {
    int32_t acc = ch->bias;
    for (int k = 0; k < 5; ++k) acc = DualMac(ch->weights[k], p[k], acc);
    const int32_t value = RescaleWide(acc, ch->multiplier, ch->sum_lo, ch->sum_hi, ch->shift);
    *out = static_cast<int8_t>(SaturateInt8(value));
  }
  return out;
#endif
}

// `count` pixels of one output row from (y0, x0), stride_w apart, each over all its channels (a
// channel's ten words as FastChannel lays them out): the patch's pairs packed once per pixel.
__attribute__((noinline)) void ConvPixelsFast(const int8_t* x, int in_h, int in_w, int y0, int x0,
                                              int stride_w, int count, int32_t offset,
                                              const FastChannel* channels, int depth, int8_t* out) {
  static_assert(sizeof(FastChannel) == 40, "ConvChannels reads a channel as ten words");
  const FastChannel* end = channels + depth;
  uint32_t patch[5];
  for (int i = 0; i < count; ++i, x0 += stride_w) {
    if (y0 >= 0 && x0 >= 0 && y0 + 3 <= in_h && x0 + 3 <= in_w) {
      const int8_t* r0 = x + y0 * in_w + x0;
      const int8_t* r1 = r0 + in_w;
      const int8_t* r2 = r1 + in_w;
      patch[0] = Pack(r0[0] + offset, r0[1] + offset);
      patch[1] = Pack(r0[2] + offset, r1[0] + offset);
      patch[2] = Pack(r1[1] + offset, r1[2] + offset);
      patch[3] = Pack(r2[0] + offset, r2[1] + offset);
      patch[4] = Pack(r2[2] + offset, 0);
    } else {
      PackPatch(x, in_h, in_w, y0, x0, offset, patch);
    }
    out = ConvChannels(patch, channels, end, out);
  }
}

// ConvPixelsFast's conditions: a channel at least, int8's own clamp, every channel's multiplier > 0
// with 1 <= r <= 24 and no left shift.
bool FastConv(const tflite::OpDataConv& data, int depth) {
  if (depth < 1 || data.output_activation_min != -128 || data.output_activation_max != 127) return false;
  for (int c = 0; c < depth; ++c) {
    const int shift = data.per_channel_output_shift[c];
    if (data.per_channel_output_multiplier[c] <= 0 || shift > -1 || shift < -24) return false;
  }
  return true;
}

void FillFastChannels(const tflite::OpDataConv& data, const TfLiteEvalTensor* bias, const int8_t* w,
                      int depth, FastChannel* fast) {
  for (int c = 0; c < depth; ++c) {
    const int8_t* wc = w + c * 9;
    FastChannel& ch = fast[c];
    for (int p = 0; p < 4; ++p) ch.weights[p] = Pack(wc[2 * p], wc[2 * p + 1]);
    ch.weights[4] = Pack(wc[8], 0);
    ch.bias = bias != nullptr ? tflite::micro::GetTensorData<int32_t>(bias)[c] : 0;
    const int right = -data.per_channel_output_shift[c];
    ch.multiplier = data.per_channel_output_multiplier[c];
    ch.shift = right - 1;
    const int64_t sum = (int64_t{1} << 30) + (int64_t{1} << (right + 30)) +
                        static_cast<int64_t>(data.output_zero_point) * (int64_t{1} << (31 + right));
    ch.sum_lo = static_cast<uint32_t>(static_cast<uint64_t>(sum));
    ch.sum_hi = static_cast<int32_t>(sum >> 32);
  }
}

TfLiteStatus EvalConv(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteEvalTensor* input = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* filter = tflite::micro::GetEvalInput(context, node, 1);
  const TfLiteEvalTensor* bias = node->inputs->size == 3 ? tflite::micro::GetEvalInput(context, node, 2) : nullptr;
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  const auto& params = *static_cast<const TfLiteConvParams*>(node->builtin_data);
  const int* in_dims = input->dims->data;
  const int* f_dims = filter->dims->data;
  if (input->type != kTfLiteInt8 || filter->type != kTfLiteInt8 || output->type != kTfLiteInt8 ||
      input->dims->size != 4 || filter->dims->size != 4 || in_dims[0] != 1 || in_dims[3] != 1 || f_dims[1] != 3 ||
      f_dims[2] != 3 || f_dims[3] != 1 || f_dims[0] > kMaxDepth || kSingleRounding ||
      params.dilation_width_factor != 1 || params.dilation_height_factor != 1 ||
      (bias != nullptr && bias->type != kTfLiteInt32)) {
    return g_tree_conv.invoke(context, node);
  }
  const auto& data = *static_cast<const tflite::OpDataConv*>(node->user_data);
  const int in_h = in_dims[1], in_w = in_dims[2], depth = f_dims[0];
  const int out_h = output->dims->data[1], out_w = output->dims->data[2];
  const int32_t offset = -data.input_zero_point;
  const int8_t* x = tflite::micro::GetTensorData<int8_t>(input);
  const int8_t* w = tflite::micro::GetTensorData<int8_t>(filter);
  int8_t* out = tflite::micro::GetTensorData<int8_t>(output);
  if (FastConv(data, depth)) {
    FastChannel fast[kMaxDepth];
    FillFastChannels(data, bias, w, depth, fast);
    for (int oy = 0; oy < out_h; ++oy) {
      ConvPixelsFast(x, in_h, in_w, oy * params.stride_height - data.padding.height, -data.padding.width,
                     params.stride_width, out_w, offset, fast, depth, out + oy * out_w * depth);
    }
    return kTfLiteOk;
  }
  Channel3x3 channels[kMaxDepth];
  for (int c = 0; c < depth; ++c) {
    const int8_t* wc = w + c * 9;
    Channel3x3& ch = channels[c];
    for (int p = 0; p < 4; ++p) ch.weights[p] = Pack(wc[2 * p], wc[2 * p + 1]);
    ch.weights[4] = Pack(wc[8], 0);
    ch.bias = bias != nullptr ? tflite::micro::GetTensorData<int32_t>(bias)[c] : 0;
    const int shift = data.per_channel_output_shift[c];
    ch.multiplier = data.per_channel_output_multiplier[c];
    ch.left = shift > 0 ? shift : 0;
    ch.right = shift > 0 ? 0 : -shift;
  }
  uint32_t patches[kBlock * 5];  // up to kBlock pixels of one output row
  int32_t sums[kBlock];
  for (int oy = 0; oy < out_h; ++oy) {
    const int y0 = oy * params.stride_height - data.padding.height;
    for (int ox0 = 0; ox0 < out_w; ox0 += kBlock) {
      const int count = std::min(kBlock, out_w - ox0);
      for (int i = 0; i < count; ++i) {
        PackPatch(x, in_h, in_w, y0, (ox0 + i) * params.stride_width - data.padding.width, offset, patches + 5 * i);
      }
      int8_t* block_out = out + (oy * out_w + ox0) * depth;
      for (int c = 0; c < depth; ++c) {  // a channel over the block's pixels: its constants stay in registers
        const Channel3x3& ch = channels[c];
        SumColumns<5>(ch.weights, patches, count, ch.bias, ch.left, sums);
        RescaleRow(sums, count, ch.multiplier, ch.right, data.output_zero_point, data.output_activation_min,
                   data.output_activation_max, block_out + c, depth);
      }
    }
  }
  return kTfLiteOk;
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
constexpr bool kDsp = true;
inline uint32_t Sxtb16(uint32_t x) {  // bytes 0 and 2, sign-extended to two int16
  uint32_t result;
  __asm__("sxtb16 %0, %1" : "=r"(result) : "r"(x));
  return result;
}
inline uint32_t Sxtb16Ror8(uint32_t x) {  // bytes 1 and 3
  uint32_t result;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(result) : "r"(x));
  return result;
}
inline uint32_t PackLowHalves(uint32_t low, uint32_t high) {  // (low's low half, high's low half)
  uint32_t result;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(result) : "r"(low), "r"(high));
  return result;
}
inline uint32_t PackHighHalves(uint32_t low, uint32_t high) {  // (low's high half, high's high half)
  uint32_t result;
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(result) : "r"(high), "r"(low));
  return result;
}
inline uint32_t Sub16(uint32_t a, uint32_t b) {  // both halves: a - b
  uint32_t result;
  __asm__("ssub16 %0, %1, %2" : "=r"(result) : "r"(a), "r"(b));
  return result;
}

// The int16 pairs of the right operand [depth, cols] (no adj_y; depth even, cols a multiple of 4),
// minus its zero point, as the general loop in EvalBatchMatmul packs them (column j's pair k / 2 at
// words[j * depth / 2 + k / 2]): rows k and k + 1 four columns at a time.
void PackRowPairs(const int8_t* r, int depth, int cols, int32_t zero_point, uint32_t* words) {
  const int pairs = depth / 2;
  const uint32_t zero_points = Pack(zero_point, zero_point);
  for (int k = 0; k < depth; k += 2) {
    const int8_t* a = r + k * cols;
    const int8_t* b = a + cols;
    uint32_t* w = words + k / 2;
    for (int j = 0; j < cols; j += 4, w += 4 * pairs) {
      uint32_t a4, b4;
      memcpy(&a4, a + j, 4);
      memcpy(&b4, b + j, 4);
      const uint32_t a02 = Sxtb16(a4), a13 = Sxtb16Ror8(a4), b02 = Sxtb16(b4), b13 = Sxtb16Ror8(b4);
      w[0] = Sub16(PackLowHalves(a02, b02), zero_points);
      w[pairs] = Sub16(PackLowHalves(a13, b13), zero_points);
      w[2 * pairs] = Sub16(PackHighHalves(a02, b02), zero_points);
      w[3 * pairs] = Sub16(PackHighHalves(a13, b13), zero_points);
    }
  }
}
#else
constexpr bool kDsp = false;
void PackRowPairs(const int8_t*, int, int, int32_t, uint32_t*) {}
#endif

TFLMRegistration g_tree_batch_matmul;  // the tree's BATCH_MATMUL (init, prepare, other shapes)
constexpr int kMaxMatmulDepth = 16;          // short products only: longer ones run well in CMSIS-NN
constexpr int kMaxMatmulRightWords = 512;    // the right operand's columns as int16 pairs (2 KB of stack)
constexpr int kMinMatmulColumns = 16;        // fewer outputs per packed row (windowed attention's 1 x 5
                                             // products): the packing costs more than CMSIS-NN's loop

// SumColumns<2> and RescaleRow in one loop (a depth of 3 or 4: attention heads of 4; no left shift,
// int8's own clamp): each output straight from its two SMLADs, no sums stored and read back.
__attribute__((noinline)) void SumRescaleTwoPairs(const uint32_t* row, const uint32_t* columns, int count,
                                                  int32_t multiplier, int right, int32_t zero_point,
                                                  int8_t* out) {
  const uint32_t word0 = row[0], word1 = row[1];
  const int32_t mask = static_cast<int32_t>((uint32_t{1} << right) - 1u), half = mask >> 1;
  for (const int8_t* end = out + count; out != end; ++out, columns += 2) {
    const int32_t x = DoublingHighMulDsp(DualMac(word1, columns[1], DualMul(word0, columns[0])), multiplier);
    const int32_t threshold = half + static_cast<int32_t>(static_cast<uint32_t>(x) >> 31);
    *out = static_cast<int8_t>(SaturateInt8((x >> right) + ((x & mask) > threshold ? 1 : 0) + zero_point));
  }
}

constexpr int kMaxWeightedDepth = 256;  // EvalWeightedValues: the right operand as 2 KB of int16 pairs

// Attention's weights . values: [rows, depth] x [depth, 4] (no adj_y, depth a multiple of 4, one
// batch after another), the right operand packed once as int16 pairs (k, k + 1) per column, each left
// row read four values at a time (SXTB16), four accumulators; the reference's rescaling.
__attribute__((noinline)) void EvalWeightedValues(const int8_t* l, const int8_t* r, int8_t* out, int batches,
                                                  int rows, int depth,
                                                  const tflite::QuantizationOpDataBatchMatmul& q) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  const int left = q.output_shift > 0 ? q.output_shift : 0, right = q.output_shift > 0 ? 0 : -q.output_shift;
  const uint32_t right_zero = Pack(q.rhs_zero_point, q.rhs_zero_point);
  const uint32_t left_zero = Pack(q.lhs_zero_point, q.lhs_zero_point);
  uint32_t words[kMaxWeightedDepth * 2];  // pair k / 2's four columns at [2 * k .. 2 * k + 3]
  int32_t sums[4];
  for (int b = 0; b < batches; ++b, r += depth * 4) {
    uint32_t* w = words;
    for (int k = 0; k < depth; k += 2, w += 4) {
      uint32_t a4, b4;
      memcpy(&a4, r + k * 4, 4);
      memcpy(&b4, r + k * 4 + 4, 4);
      const uint32_t a02 = Sxtb16(a4), a13 = Sxtb16Ror8(a4), b02 = Sxtb16(b4), b13 = Sxtb16Ror8(b4);
      w[0] = Sub16(PackLowHalves(a02, b02), right_zero);
      w[1] = Sub16(PackLowHalves(a13, b13), right_zero);
      w[2] = Sub16(PackHighHalves(a02, b02), right_zero);
      w[3] = Sub16(PackHighHalves(a13, b13), right_zero);
    }
    for (int i = 0; i < rows; ++i, l += depth, out += 4) {
      int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
      w = words;
      for (int k = 0; k < depth; k += 4, w += 8) {
        uint32_t x4;
        memcpy(&x4, l + k, 4);
        const uint32_t x02 = Sxtb16(x4), x13 = Sxtb16Ror8(x4);
        const uint32_t x01 = Sub16(PackLowHalves(x02, x13), left_zero);
        const uint32_t x23 = Sub16(PackHighHalves(x02, x13), left_zero);
        acc0 = DualMac(x01, w[0], acc0);
        acc1 = DualMac(x01, w[1], acc1);
        acc2 = DualMac(x01, w[2], acc2);
        acc3 = DualMac(x01, w[3], acc3);
        acc0 = DualMac(x23, w[4], acc0);
        acc1 = DualMac(x23, w[5], acc1);
        acc2 = DualMac(x23, w[6], acc2);
        acc3 = DualMac(x23, w[7], acc3);
      }
      sums[0] = acc0 * (1 << left);
      sums[1] = acc1 * (1 << left);
      sums[2] = acc2 * (1 << left);
      sums[3] = acc3 * (1 << left);
      RescaleRow(sums, 4, q.output_multiplier, right, q.output_zero_point, q.output_activation_min,
                 q.output_activation_max, out, 1);
    }
  }
#endif
}

// int8 BATCH_MATMUL without adj_x and without broadcasting: out[b, i, j] = the reference's rescaling
// of sum_k (lhs[b, i, k] - lhs_zp) * (rhs[b, k, j] - rhs_zp) (rhs read as [b, j, k] with adj_y).
__attribute__((noinline)) TfLiteStatus EvalBatchMatmulPacked(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteEvalTensor* lhs = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* rhs = tflite::micro::GetEvalInput(context, node, 1);
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  const auto& params = *static_cast<const TfLiteBatchMatMulParams*>(node->builtin_data);
  const int l_rank = lhs->dims->size, r_rank = rhs->dims->size;
  if (lhs->type != kTfLiteInt8 || rhs->type != kTfLiteInt8 || output->type != kTfLiteInt8 || params.adj_x ||
      l_rank < 2 || r_rank < 2 || kSingleRounding) {
    return g_tree_batch_matmul.invoke(context, node);
  }
  const int rows = lhs->dims->data[l_rank - 2], depth = lhs->dims->data[l_rank - 1];
  const int cols = rhs->dims->data[params.adj_y ? r_rank - 2 : r_rank - 1];
  const int right_depth = rhs->dims->data[params.adj_y ? r_rank - 1 : r_rank - 2];
  const int pairs = (depth + 1) / 2;  // 1..8 with kMaxMatmulDepth 16: kSumColumns
  const int batches = rows * depth > 0 ? tflite::ElementCount(*lhs->dims) / (rows * depth) : 0;
  if (right_depth != depth || depth > kMaxMatmulDepth || cols < kMinMatmulColumns ||
      cols * pairs > kMaxMatmulRightWords || batches == 0 ||
      tflite::ElementCount(*rhs->dims) != batches * cols * depth ||
      tflite::ElementCount(*output->dims) != batches * rows * cols) {
    return g_tree_batch_matmul.invoke(context, node);
  }
  const auto& q = *static_cast<const tflite::OpDataBatchMatmul*>(node->user_data)->quantization;
  const int left = q.output_shift > 0 ? q.output_shift : 0, right = q.output_shift > 0 ? 0 : -q.output_shift;
  const int8_t* l = tflite::micro::GetTensorData<int8_t>(lhs);
  const int8_t* r = tflite::micro::GetTensorData<int8_t>(rhs);
  int8_t* out = tflite::micro::GetTensorData<int8_t>(output);
  uint32_t right_words[kMaxMatmulRightWords];  // column j's pairs at [j * pairs]
  uint32_t row[kMaxMatmulDepth / 2];
  int32_t sums[kBlock];
  const int column_step = params.adj_y ? depth : 1, depth_step = params.adj_y ? 1 : cols;  // rhs[j, k]
  for (int b = 0; b < batches; ++b, l += rows * depth, r += cols * depth) {
    if (kDsp && !params.adj_y && depth % 2 == 0 && cols % 4 == 0) {
      PackRowPairs(r, depth, cols, q.rhs_zero_point, right_words);
    } else {
      uint32_t* word = right_words;
      for (int j = 0; j < cols; ++j) {
        const int8_t* column = r + j * column_step;
        for (int k = 0; k < depth; k += 2, column += 2 * depth_step) {
          const int32_t v1 = k + 1 < depth ? column[depth_step] - q.rhs_zero_point : 0;
          *word++ = Pack(column[0] - q.rhs_zero_point, v1);
        }
      }
    }
    for (int i = 0; i < rows; ++i, out += cols) {
      const int8_t* li = l + i * depth;
      for (int k = 0; k < depth; k += 2) {
        row[k / 2] = Pack(li[k] - q.lhs_zero_point, k + 1 < depth ? li[k + 1] - q.lhs_zero_point : 0);
      }
      if (pairs == 2 && left == 0 && q.output_activation_min == -128 && q.output_activation_max == 127) {
        SumRescaleTwoPairs(row, right_words, cols, q.output_multiplier, right, q.output_zero_point, out);
        continue;
      }
      for (int j0 = 0; j0 < cols; j0 += kBlock) {
        const int count = std::min(kBlock, cols - j0);
        kSumColumns[pairs - 1](row, right_words + j0 * pairs, count, 0, left, sums);
        RescaleRow(sums, count, q.output_multiplier, right, q.output_zero_point, q.output_activation_min,
                   q.output_activation_max, out + j0, 1);
      }
    }
  }
  return kTfLiteOk;
}


// --- ADD, SUB, MUL with a broadcast operand ---------------------------------------------------------
// the tree's kernels' invoke (their init and prepare make the node data), for other shapes
TfLiteStatus (*g_tree_add)(TfLiteContext*, TfLiteNode*) = nullptr;
TfLiteStatus (*g_tree_sub)(TfLiteContext*, TfLiteNode*) = nullptr;
TfLiteStatus (*g_tree_mul)(TfLiteContext*, TfLiteNode*) = nullptr;
constexpr int kMaxBroadcast = 64;  // broadcast values rescaled once, on the stack (more: at each use)

// The node data of TFLM's SUB (OpDataSub) and ADD (OpDataAdd; CMSIS-NN's ADD declares its OpData with
// the same members in the same order): the members the int8 arithmetic reads.
struct AddSubData {
  bool requires_broadcast;
  int input1_shift;
  int input2_shift;
  int32_t output_activation_min;
  int32_t output_activation_max;
  int32_t input1_multiplier;
  int32_t input2_multiplier;
  int32_t output_multiplier;
  int output_shift;
  int left_shift;
  int32_t input1_offset;
  int32_t input2_offset;
  int32_t output_offset;
};
static_assert(offsetof(AddSubData, output_offset) == offsetof(tflite::OpDataSub, output_offset) &&
                  offsetof(AddSubData, left_shift) == offsetof(tflite::OpDataSub, left_shift) &&
                  offsetof(AddSubData, input1_shift) == offsetof(tflite::OpDataSub, input1_shift),
              "OpDataSub's layout");
static_assert(offsetof(AddSubData, output_offset) == offsetof(tflite::OpDataAdd, output_offset) &&
                  offsetof(AddSubData, left_shift) == offsetof(tflite::OpDataAdd, left_shift) &&
                  offsetof(AddSubData, input1_shift) == offsetof(tflite::OpDataAdd, input1_shift),
              "OpDataAdd's layout");

// int8 input1 of the output's shape, int8 input2 broadcast over it: input2's shape (right-aligned)
// is the output's on one block of axes [first, last] and 1 elsewhere, so output element o reads
// input2[(o / *step) % *count]; *size the output's elements. false for other shapes (and equal ones).
// (The int32 index products are those of the tensors' own element counts.)
bool BroadcastOperand(const TfLiteEvalTensor* input1, const TfLiteEvalTensor* input2,
                      const TfLiteEvalTensor* output, int* step, int* count, int* size) {
  const int rank = output->dims->size, rank1 = input1->dims->size, rank2 = input2->dims->size;
  if (input1->type != kTfLiteInt8 || input2->type != kTfLiteInt8 || output->type != kTfLiteInt8 ||
      rank > 6 || rank1 > rank || rank2 > rank) {
    return false;
  }
  int dims2[6];
  for (int d = 0; d < rank; ++d) {
    const int d1 = d - (rank - rank1), d2 = d - (rank - rank2);
    if ((d1 < 0 ? 1 : input1->dims->data[d1]) != output->dims->data[d]) return false;
    dims2[d] = d2 < 0 ? 1 : input2->dims->data[d2];
  }
  int first = 0, last = rank - 1;
  while (first < rank && dims2[first] == 1) ++first;
  while (last >= 0 && dims2[last] == 1) --last;
  *step = *count = *size = 1;
  for (int d = 0; d < rank; ++d) {
    if (d >= first && d <= last && dims2[d] != output->dims->data[d]) return false;
    *size *= output->dims->data[d];
    if (d > last) *step *= output->dims->data[d];
    if (d >= first && d <= last) *count *= output->dims->data[d];
  }
  return *count < *size;
}

// tflite::MultiplyByQuantizedMultiplier (double rounding) of x by `multiplier` (never INT32_MIN) and
// 2^shift, with the shift split in advance: 2^left before, a rounding division by 2^right after.
struct Rescale {
  explicit Rescale(int32_t m, int shift)
      : multiplier(m), left(shift > 0 ? shift : 0), right(shift > 0 ? 0 : -shift) {}
  int32_t operator()(int32_t x) const {
    return RoundingDivideByPOT(DoublingHighMulDsp(x * (1 << left), multiplier), right);
  }
  int32_t multiplier;
  int left, right;
};

// reference_integer_ops::AddFunc / reference_ops::BroadcastQuantSubSlow's function, with input2's
// rescaled values computed once per value rather than once per output element.
template <bool kSub>
TfLiteStatus EvalAddSub(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteEvalTensor* input1 = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* input2 = tflite::micro::GetEvalInput(context, node, 1);
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  int step, count, size;
  if (kSingleRounding || !BroadcastOperand(input1, input2, output, &step, &count, &size)) {
    return (kSub ? g_tree_sub : g_tree_add)(context, node);
  }
  const auto& d = *static_cast<const AddSubData*>(node->user_data);
  const int8_t* x1 = tflite::micro::GetTensorData<int8_t>(input1);
  const int8_t* x2 = tflite::micro::GetTensorData<int8_t>(input2);
  int8_t* out = tflite::micro::GetTensorData<int8_t>(output);
  const Rescale rescale1(d.input1_multiplier, d.input1_shift), rescale2(d.input2_multiplier, d.input2_shift);
  const Rescale rescale(d.output_multiplier, d.output_shift);
  const int32_t low = d.output_activation_min, high = d.output_activation_max;
  int32_t scaled2[kMaxBroadcast];
  const bool kept = count <= kMaxBroadcast;
  for (int k = 0; kept && k < count; ++k) {
    scaled2[k] = rescale2((d.input2_offset + x2[k]) * (1 << d.left_shift));
  }
  for (int o = 0; o < size;) {
    for (int k = 0; k < count; ++k) {
      const int32_t value2 = kept ? scaled2[k] : rescale2((d.input2_offset + x2[k]) * (1 << d.left_shift));
      for (const int end = o + step; o < end; ++o) {
        const int32_t scaled1 = rescale1((d.input1_offset + x1[o]) * (1 << d.left_shift));
        const int32_t value = rescale(kSub ? scaled1 - value2 : scaled1 + value2) + d.output_offset;
        out[o] = static_cast<int8_t>(std::min(high, std::max(low, value)));
      }
    }
  }
  return kTfLiteOk;
}

// reference_integer_ops::BroadcastMul6DSlow's function (OpDataMul: TFLM's and CMSIS-NN's MUL).
TfLiteStatus EvalMul(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteEvalTensor* input1 = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* input2 = tflite::micro::GetEvalInput(context, node, 1);
  TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  int step, count, size;
  if (kSingleRounding || !BroadcastOperand(input1, input2, output, &step, &count, &size)) {
    return g_tree_mul(context, node);
  }
  const auto& d = *static_cast<const tflite::OpDataMul*>(node->user_data);
  const int8_t* x1 = tflite::micro::GetTensorData<int8_t>(input1);
  const int8_t* x2 = tflite::micro::GetTensorData<int8_t>(input2);
  int8_t* out = tflite::micro::GetTensorData<int8_t>(output);
  const Rescale rescale(d.output_multiplier, d.output_shift);
  const int32_t low = d.output_activation_min, high = d.output_activation_max;
  for (int o = 0; o < size;) {
    for (int k = 0; k < count; ++k) {
      const int32_t value2 = x2[k] - d.input2_zero_point;
      for (const int end = o + step; o < end; ++o) {
        const int32_t value = d.output_zero_point + rescale((x1[o] - d.input1_zero_point) * value2);
        out[o] = static_cast<int8_t>(std::min(high, std::max(low, value)));
      }
    }
  }
  return kTfLiteOk;
}

// EvalWeightedValues for its shapes, else EvalBatchMatmulPacked: each with its own stack buffers.
TfLiteStatus EvalBatchMatmul(TfLiteContext* context, TfLiteNode* node) {
  const TfLiteEvalTensor* lhs = tflite::micro::GetEvalInput(context, node, 0);
  const TfLiteEvalTensor* rhs = tflite::micro::GetEvalInput(context, node, 1);
  const TfLiteEvalTensor* output = tflite::micro::GetEvalOutput(context, node, 0);
  const auto& params = *static_cast<const TfLiteBatchMatMulParams*>(node->builtin_data);
  const int l_rank = lhs->dims->size, r_rank = rhs->dims->size;
  if (kDsp && !kSingleRounding && lhs->type == kTfLiteInt8 && rhs->type == kTfLiteInt8 &&
      output->type == kTfLiteInt8 && !params.adj_x && !params.adj_y && l_rank >= 2 && r_rank >= 2 &&
      rhs->dims->data[r_rank - 1] == 4) {
    const int rows = lhs->dims->data[l_rank - 2], depth = lhs->dims->data[l_rank - 1];
    const int batches = rows * depth > 0 ? tflite::ElementCount(*lhs->dims) / (rows * depth) : 0;
    if (depth > kMaxMatmulDepth && depth <= kMaxWeightedDepth && depth % 4 == 0 &&
        rhs->dims->data[r_rank - 2] == depth && batches > 0 &&
        tflite::ElementCount(*rhs->dims) == batches * depth * 4 &&
        tflite::ElementCount(*output->dims) == batches * rows * 4) {
      const auto& data = *static_cast<const tflite::OpDataBatchMatmul*>(node->user_data);
      EvalWeightedValues(tflite::micro::GetTensorData<int8_t>(lhs), tflite::micro::GetTensorData<int8_t>(rhs),
                         tflite::micro::GetTensorData<int8_t>(const_cast<TfLiteEvalTensor*>(output)), batches,
                         rows, depth, *data.quantization);
      return kTfLiteOk;
    }
  }
  return EvalBatchMatmulPacked(context, node);
}

}  // namespace

TFLMRegistration SerRegisterConv2D() {
  g_tree_conv = tflite::Register_CONV_2D();
  TFLMRegistration registration = g_tree_conv;
  registration.invoke = EvalConv;
  return registration;
}

TFLMRegistration SerRegisterBatchMatmul() {
  g_tree_batch_matmul = tflite::Register_BATCH_MATMUL();
  TFLMRegistration registration = g_tree_batch_matmul;
  registration.invoke = EvalBatchMatmul;
  return registration;
}

TFLMRegistration SerRegisterMean() { return tflite::micro::RegisterOp(InitMean, PrepareMean, EvalMean); }

TFLMRegistration SerRegisterSoftmaxInt8(const SerSoftmaxExpTable* tables) {
  g_exp_tables = tables;
  return tflite::micro::RegisterOp(tflite::SoftmaxInit, PrepareSoftmax, EvalInt8);
}

TFLMRegistration SerRegisterAdd() {
  TFLMRegistration registration = tflite::Register_ADD();
  g_tree_add = registration.invoke;
  registration.invoke = EvalAddSub<false>;
  return registration;
}

TFLMRegistration SerRegisterSub() {
  TFLMRegistration registration = tflite::Register_SUB();
  g_tree_sub = registration.invoke;
  registration.invoke = EvalAddSub<true>;
  return registration;
}

TFLMRegistration SerRegisterMul() {
  TFLMRegistration registration = tflite::Register_MUL();
  g_tree_mul = registration.invoke;
  registration.invoke = EvalMul;
  return registration;
}
