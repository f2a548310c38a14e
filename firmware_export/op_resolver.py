"""op_resolver.h: a MicroMutableOpResolver<N> that registers exactly the model's operators.

TFLM's resolver method for an operator is "Add" + the CamelCase of its builtin name, with the
irregular names of micro_mutable_op_resolver.h listed in IRREGULAR. The header keeps the
registration in a template over the resolver type, so the same code registers into the
real TFLM class on the device and into a recording class in the host tests. On the device,
SerOpResolver routes the operators SER_KERNELS lists (where every node of the model qualifies) to
ser-reparam's own bit-identical kernels (bundle/ser_kernels.h) by hiding TFLM's Add method.
"""
from __future__ import annotations

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
    columns, and columns x depth / 2 <= 512 (its stack buffers). adj_x is not in an OpUse: the kernel
    hands such a node (the converter does not make them) to the tree's kernel itself."""
    if use.output_type != "INT8" or len(use.input_shapes) < 2 or min(map(len, use.input_shapes[:2])) < 2:
        return False
    lhs, rhs = use.input_shapes[:2]
    depth = lhs[-1]
    cols = rhs[-1] if rhs[-2] == depth else rhs[-2]
    return depth <= 16 and 16 <= cols and cols * ((depth + 1) // 2) <= 512


# op -> (ser_kernels.h registration, which nodes its own code runs: a test of a tflite.ops.OpUse,
# whether it hands the other nodes to the tree's kernel)
SER_KERNELS = {"SOFTMAX": ("SerRegisterSoftmaxInt8", softmax_int8_rows, False),
               "MEAN": ("SerRegisterMean", lambda use: use.output_type == "INT8", True),
               "CONV_2D": ("SerRegisterConv2D", conv_3x3_one_channel, True),
               "BATCH_MATMUL": ("SerRegisterBatchMatmul", batch_matmul_small, True)}


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


def op_resolver_header(ops: list[str], provenance: str, replaced: list[str] = ()) -> str:
    """The header for a model whose (distinct, builtin) operators are `ops`; those in `replaced`
    (ser_kernel_ops) get ser-reparam's kernel on the device."""
    ops = sorted(set(ops))
    calls = "\n".join(f"         resolver.{resolver_method(op)}() == 0 &&  // {op}" for op in ops)
    if replaced:
        methods = "\n".join(f"  TfLiteStatus {resolver_method(op)}() {{ return Base::{resolver_method(op)}"
                            f"({SER_KERNELS[op][0]}()); }}" for op in sorted(replaced))
        resolver = ('#include "ser_kernels.h"\n'
                    "// TFLM's resolver with ser_kernels.h's kernels for the operators below\n"
                    "class SerOpResolver : public tflite::MicroMutableOpResolver<kSerOpCount> {\n"
                    " public:\n  using Base = tflite::MicroMutableOpResolver<kSerOpCount>;\n"
                    f"{methods}\n}};")
    else:
        resolver = "using SerOpResolver = tflite::MicroMutableOpResolver<kSerOpCount>;"
    return render("bundle/op_resolver.h.in", provenance=c_string(provenance), op_count=len(ops),
                  calls=calls.strip(), resolver=resolver)
