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
    """'FULLY_CONNECTED' → 'AddFullyConnected', 'CONV_2D' → 'AddConv2D', 'BATCH_TO_SPACE_ND' → 'AddBatchToSpaceNd'."""
    if op in IRREGULAR:
        return IRREGULAR[op]
    return "Add" + "".join(part if part[0].isdigit() else part.capitalize() for part in op.split("_"))


# op -> (ser_kernels.h registration, which nodes it runs: a test of a tflite.ops.OpUse)
SER_KERNELS = {"SOFTMAX": ("SerRegisterSoftmaxInt8", lambda use: use.output_type == "INT8"),
               "MEAN": ("SerRegisterMean", lambda use: True)}  # its own fallback: TFLM's kernel


def ser_kernel_ops(uses) -> list[str]:
    """The operators of a model (its tflite.ops.model_ops) whose every node a SER_KERNELS kernel runs."""
    return sorted(op for op, (_, runs) in SER_KERNELS.items()
                  if any(u.op == op for u in uses) and all(runs(u) for u in uses if u.op == op))


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
