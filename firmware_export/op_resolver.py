"""op_resolver.h: a MicroMutableOpResolver<N> that registers exactly the model's operators.

TFLM's resolver method for an operator is "Add" + the CamelCase of its builtin name, with the
irregular names of micro_mutable_op_resolver.h listed in IRREGULAR. The header keeps the
registration in a template over the resolver type, so the same code registers into the
real TFLM class on the device and into a recording class in the host tests.
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


def op_resolver_header(ops: list[str], provenance: str) -> str:
    """The header for a model whose (distinct, builtin) operators are `ops`."""
    ops = sorted(set(ops))
    calls = "\n".join(f"         resolver.{resolver_method(op)}() == 0 &&  // {op}" for op in ops)
    return render("bundle/op_resolver.h.in", provenance=c_string(provenance), op_count=len(ops),
                  calls=calls.strip())
