"""op_resolver.h: a MicroMutableOpResolver<N> that registers exactly the model's operators.

TFLM's resolver method for an operator is "Add" + the CamelCase of its builtin name, with the
irregular names of micro_mutable_op_resolver.h listed in IRREGULAR. The header keeps the
registration in a template over the resolver type, so the same code registers into the
real TFLM class on the device and into a recording class in the host tests. On the device,
SerOpResolver routes the operators SER_KERNELS lists (where every node of the model qualifies) to
ser-reparam's own bit-identical kernels (bundle/ser_kernels.h) by hiding TFLM's Add method.
"""
from __future__ import annotations

import math

from firmware_export.render import c_string, render

IRREGULAR = {  # builtin name -> method, where TFLM does not follow the CamelCase rule
    "BATCH_MATMUL": "AddBatchMatMul",
    "CUMSUM": "AddCumSum",
    "PADV2": "AddPadV2",
    "ADD_N": "AddAddN",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "DETECTION_POSTPROCESS": "AddDetectionPostprocess",
}


def resolver_method(op: str) -> str:
    """'FULLY_CONNECTED' → 'AddFullyConnected', 'CONV_2D' → 'AddConv2D',
    'BATCH_TO_SPACE_ND' → 'AddBatchToSpaceNd'."""
    if op in IRREGULAR:
        return IRREGULAR[op]
    return "Add" + "".join(part if part[0].isdigit() else part.capitalize() for part in op.split("_"))


def conv_3x3_one_channel(use) -> bool:
    """The CONV_2D nodes ser_kernels.cc's EvalConv runs (its test in C, on the tensors): int8, one
    input channel, a 3 x 3 filter, at most 32 output channels."""
    filter_shape = tuple(use.input_shapes[1]) if len(use.input_shapes) > 1 else ()
    return (use.output_type == "INT8" and tuple(use.input_shapes[0][-1:]) == (1,) and len(filter_shape) == 4
            and filter_shape[1:] == (3, 3, 1) and filter_shape[0] <= 32)


def softmax_int8_rows(use) -> bool:
    """The SOFTMAX nodes ser_kernels.cc runs: int8 out, rows of at most kMaxSoftmaxRow (256) values."""
    rows = [shape[-1] for shape in use.output_shapes if len(shape)]
    return use.output_type == "INT8" and all(n <= 256 for n in rows)


def batch_matmul_small(use) -> bool:
    """The BATCH_MATMUL nodes ser_kernels.cc's EvalBatchMatmul runs: int8, depth <= 16, at least 16
    columns, and columns x depth / 2 <= 512 (its stack buffers); or four columns over a depth of 20 to
    256 in steps of 4 (attention's weights . values; not adj_y, which the C code checks). adj_x is not
    in an OpUse: the kernel hands such a node (the converter does not make them) to the tree's kernel
    itself."""
    if use.output_type != "INT8" or len(use.input_shapes) < 2 or min(map(len, use.input_shapes[:2])) < 2:
        return False
    lhs, rhs = use.input_shapes[:2]
    depth = lhs[-1]
    if 16 < depth <= 256 and depth % 4 == 0 and tuple(rhs[-2:]) == (depth, 4):
        return True  # EvalWeightedValues: attention's weights . values, four columns (a head's width)
    cols = rhs[-1] if rhs[-2] == depth else rhs[-2]
    return depth <= 16 and 16 <= cols and cols * ((depth + 1) // 2) <= 512


def broadcast_int8(use) -> bool:
    """The ADD / SUB / MUL nodes ser_kernels.cc's EvalAddSub / EvalMul run: int8, the first input of
    the output's shape, the second broadcast over it (the C code checks the axes)."""
    if use.output_type != "INT8" or len(use.input_shapes) < 2 or not use.output_shapes:
        return False
    first, second = (tuple(s) for s in use.input_shapes[:2])
    out = tuple(use.output_shapes[0])
    count = 1
    for n in second:
        count *= n
    size = 1
    for n in out:
        size *= n
    return first == out and len(second) <= len(out) and count < size


# op -> (ser_kernels.h registration, which nodes its own code runs: a test of a tflite.ops.OpUse,
# whether it hands the other nodes to the tree's kernel)
SER_KERNELS = {"SOFTMAX": ("SerRegisterSoftmaxInt8", softmax_int8_rows, False),
               "MEAN": ("SerRegisterMean", lambda use: use.output_type == "INT8", True),
               "CONV_2D": ("SerRegisterConv2D", conv_3x3_one_channel, True),
               "BATCH_MATMUL": ("SerRegisterBatchMatmul", batch_matmul_small, True),
               "ADD": ("SerRegisterAdd", broadcast_int8, True),
               "SUB": ("SerRegisterSub", broadcast_int8, True),
               "MUL": ("SerRegisterMul", broadcast_int8, True)}


def ser_kernel_ops(uses) -> list[str]:
    """The operators of a model (its tflite.ops.model_ops) to route to ser_kernels.cc: those whose
    kernel runs some node and hands the rest to TFLM's, or runs every node."""
    chosen = []
    for op, (_, runs, falls_back) in SER_KERNELS.items():
        nodes = [u for u in uses if u.op == op]
        if nodes and (any(map(runs, nodes)) if falls_back else all(map(runs, nodes))):
            chosen.append(op)
    return sorted(chosen)


def ser_kernel_runs(use) -> bool:
    """Whether ser_kernels.cc's own code runs this node (once its op is routed there)."""
    return use.op in SER_KERNELS and SER_KERNELS[use.op][1](use)


# --- SOFTMAX's exp() table in program flash ------------------------------------------------------------
# ser_kernels.cc's SOFTMAX looks exp() of an int8 input difference up in a table. Computed per Invoke
# it costs ~200 instructions per distinct difference; the table is a function of the node's
# input_multiplier / input_left_shift alone, so it is computed here, emitted as a const array (flash),
# and found by those parameters in the kernel's Prepare, which checks every entry against its own
# arithmetic before it uses the table (any difference: the kernel computes exp() as before).
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
SCALED_DIFF_INTEGER_BITS = 5  # reference_ops::Softmax's kScaledDiffIntegerBits


def _int32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def _srdhm(a: int, b: int) -> int:
    """gemmlowp::SaturatingRoundingDoublingHighMul (int32; C's division truncates toward zero)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudged = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    return _int32(abs(nudged) // (1 << 31) * (1 if nudged >= 0 else -1))


def _rdbpot(x: int, exponent: int) -> int:
    """gemmlowp::RoundingDivideByPOT (to nearest, ties away from zero)."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def _exp_on_negative_values(a: int) -> int:
    """gemmlowp::exp_on_negative_values for 5 integer bits (the raw int32 of a Q0.31 result)."""
    if a == 0:
        return INT32_MAX
    fractional_bits = 31 - SCALED_DIFF_INTEGER_BITS
    one_quarter = 1 << (fractional_bits - 2)
    a_mod = (a & (one_quarter - 1)) - one_quarter
    x = _int32(a_mod * (1 << SCALED_DIFF_INTEGER_BITS)) + (1 << 28)  # Rescale<0>, then x + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    poly = _rdbpot(_srdhm(_rdbpot(x4, 2) + x3, 715827883) + x2, 1)
    exp_minus_one_eighth = 1895147668
    result = exp_minus_one_eighth + _srdhm(exp_minus_one_eighth, x + poly)
    remainder = a_mod - a
    multipliers = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)
    for e, multiplier in zip(range(-2, 5), multipliers):
        if remainder & (1 << (fractional_bits + e)):
            result = _srdhm(result, multiplier)
    return result


def softmax_parameters(input_scale: float, beta: float) -> tuple[int, int, int]:
    """TFLM's int8 SOFTMAX Prepare (PreprocessSoftmaxScaling, CalculateInputRadius; double rounding
    builds): (input_multiplier, input_left_shift, diff_min)."""
    real = min(beta * input_scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    q, shift = math.frexp(real)
    q_fixed = int(math.floor(q * (1 << 31) + 0.5))  # std::round of a positive value
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    radius = math.floor(1.0 * ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS))
                        / (1 << shift))
    return q_fixed, shift, -radius


def softmax_exp_table(multiplier: int, left_shift: int, diff_min: int) -> list[int]:
    """exp() of each input difference -255..0 (index 255 + difference) as ser_kernels.cc computes it,
    0 below diff_min (where the reference writes -128 directly)."""
    return [0 if diff < diff_min else
            _exp_on_negative_values(_srdhm(_int32(diff * (1 << left_shift)), multiplier))
            for diff in range(-255, 1)]


def softmax_exp_tables(blobs) -> list[tuple[int, int, int, list[int]]]:
    """One (input_multiplier, input_left_shift, diff_min, table) per distinct parameters of the int8
    SOFTMAX nodes of the models `blobs` (.tflite bytes)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    from ser_reparam.tflite.flatbuffer import read

    found = {}
    for blob in blobs:
        model = read(blob)
        for g in range(model.SubgraphsLength()):
            graph = model.Subgraphs(g)
            for i in range(graph.OperatorsLength()):
                op = graph.Operators(i)
                code = model.OperatorCodes(op.OpcodeIndex())
                if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != schema.BuiltinOperator.SOFTMAX:
                    continue
                tensor = graph.Tensors(op.Inputs(0))
                out = graph.Tensors(op.Outputs(0))
                if tensor.Type() != schema.TensorType.INT8 or out.Type() != schema.TensorType.INT8:
                    continue
                options = schema.SoftmaxOptions()
                table = op.BuiltinOptions()
                options.Init(table.Bytes, table.Pos)
                scale = float(tensor.Quantization().ScaleAsNumpy()[0])
                params = softmax_parameters(scale, float(options.Beta()))
                if params[0] > 0 and params[1] >= 0 and params not in found:
                    found[params] = softmax_exp_table(*params)
    return [(*params, table) for params, table in found.items()]


def _exp_tables_source(tables) -> str:
    """The C arrays of softmax_exp_tables() and the list SerRegisterSoftmaxInt8 takes."""
    lines = ["// exp() of each input difference -255..0 of the model's SOFTMAX nodes (flash; ser_kernels.h)"]
    for n, (_, _, _, table) in enumerate(tables):
        lines.append(f"static const int32_t kSerSoftmaxExp{n}[256] = {{")
        for row in range(0, 256, 8):
            lines.append("    " + ", ".join(str(v) for v in table[row:row + 8]) + ",")
        lines.append("};")
    entries = "".join(f"    {{{m}, {s}, {d}, kSerSoftmaxExp{n}}},\n" for n, (m, s, d, _) in enumerate(tables))
    lines.append("static const SerSoftmaxExpTable kSerSoftmaxExpTables[] = {\n"
                 f"{entries}    {{0, 0, 0, nullptr}}}};")
    return "\n".join(lines)


def op_resolver_header(ops: list[str], provenance: str, replaced: list[str] = (), exp_tables=()) -> str:
    """The header for a model whose (distinct, builtin) operators are `ops`; those in `replaced`
    (ser_kernel_ops) get ser-reparam's kernel on the device, SOFTMAX with `exp_tables`
    (softmax_exp_tables) in flash."""
    ops = sorted(set(ops))
    calls = "\n".join(f"         resolver.{resolver_method(op)}() == 0 &&  // {op}" for op in ops)
    if replaced:
        tables = exp_tables if "SOFTMAX" in replaced else ()
        argument = {"SOFTMAX": "kSerSoftmaxExpTables"} if tables else {}
        methods = "\n".join(f"  TfLiteStatus {resolver_method(op)}() {{ return Base::{resolver_method(op)}"
                            f"({SER_KERNELS[op][0]}({argument.get(op, '')})); }}" for op in sorted(replaced))
        resolver = ('#include "ser_kernels.h"\n'
                    + (_exp_tables_source(tables) + "\n" if tables else "")
                    + "// TFLM's resolver with ser_kernels.h's kernels for the operators below\n"
                    "class SerOpResolver : public tflite::MicroMutableOpResolver<kSerOpCount> {\n"
                    " public:\n  using Base = tflite::MicroMutableOpResolver<kSerOpCount>;\n"
                    f"{methods}\n}};")
    else:
        resolver = "using SerOpResolver = tflite::MicroMutableOpResolver<kSerOpCount>;"
    return render("bundle/op_resolver.h.in", provenance=c_string(provenance), op_count=len(ops),
                  calls=calls.strip(), resolver=resolver)
