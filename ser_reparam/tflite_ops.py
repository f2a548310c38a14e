"""What a .tflite model asks of TFLite Micro: its operators, and which of them TFLM lacks.

The set of builtin operators TFLM registers is read from the installed `tflite_micro` runtime
itself (its `Register_<OP>()` kernel symbols, intersected with the schema's builtin names), so
the audit follows the kernels that actually run, not a list typed in by hand.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
from ser_reparam.errors import UnsupportedOpError  # noqa: F401  (re-exported: its old home)

BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}

# How to replace an op TFLM has no kernel for, by op name.
FIXES = {
    "GELU": "build the model with the TFLM-ready GELU (ser_reparam.models.activations.gelu, "
            "tanh approximation from MUL/ADD/TANH) instead of tf.nn.gelu / keras 'gelu'",
    "REDUCE_PROD": "convert from a batch-1, fixed-length graph (quantize.inference_function): a "
                   "dynamic shape turns into SHAPE/REDUCE_PROD/GATHER",
    "SHAPE": "convert from a batch-1, fixed-length graph (quantize.inference_function)",
    "GATHER": "convert from a batch-1, fixed-length graph, and index with static slices",
    "SQUARE": "write x·x (MUL); TFLM quantizes SQUARE through float",
}


TYPE_NAMES = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}


@dataclass(frozen=True)
class OpUse:
    op: str
    output: str       # name of the op's first output tensor: the TF/Keras scope it came from
    output_type: str  # its element type: FLOAT32, INT8, INT16, …


def model_ops(model_bytes: bytes) -> list[OpUse]:
    """Every operator of every subgraph, in execution order."""
    model = schema.Model.GetRootAsModel(model_bytes, 0)
    uses = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
            if name == "CUSTOM":
                name = f"CUSTOM:{code.CustomCode().decode()}"
            tensor = graph.Tensors(op.Outputs(0)) if op.OutputsLength() else None
            uses.append(OpUse(name, tensor.Name().decode() if tensor else "",
                              TYPE_NAMES.get(tensor.Type(), "?") if tensor else ""))
    return uses


def op_set(model_bytes: bytes) -> list[str]:
    """Sorted distinct operator names of a model."""
    return sorted({use.op for use in model_ops(model_bytes)})


def float_ops(model_bytes: bytes) -> list[str]:
    """Ops of a quantized model that compute in float (fell back from the integer kernels)."""
    return sorted({u.op for u in model_ops(model_bytes) if u.output_type == "FLOAT32" and u.op != "DEQUANTIZE"})


@functools.lru_cache(maxsize=1)
def tflm_builtin_ops() -> frozenset[str]:
    """Builtin operators with a kernel in the installed TFLite Micro runtime."""
    from tflite_micro.python.tflite_micro import _runtime

    binary = Path(_runtime.__file__).read_bytes()
    registered = {m.decode() for m in re.findall(rb"Register_([A-Z0-9_]+)Ev", binary)}
    found = registered & set(BUILTIN_NAMES.values())
    if not found:
        raise RuntimeError(f"no TFLM kernel registrations found in {_runtime.__file__}; "
                           "reinstall the tflite-micro package")
    return frozenset(found)


def layer_of(tensor_name: str) -> str:
    """The Keras layer path inside a converted tensor name ('model/block1_ffn/ffn1/…' → 'block1_ffn/ffn1')."""
    parts = [p for p in re.split(r"[/;]", tensor_name.split(";")[0]) if p]
    return "/".join(parts[1:3]) if len(parts) > 2 else tensor_name


def audit_ops(model_bytes: bytes, where: str = "model") -> list[str]:
    """The model's op set; UnsupportedOpError naming each op TFLM lacks, its layer and the fix."""
    supported = tflm_builtin_ops()
    problems = []
    for use in model_ops(model_bytes):
        if use.op not in supported:
            fix = FIXES.get(use.op, "replace the layer with ops TFLM has (see tflite_ops.tflm_builtin_ops())")
            problems.append(f"{use.op} (from layer '{layer_of(use.output)}'): {fix}")
    if problems:
        unique = list(dict.fromkeys(problems))
        raise UnsupportedOpError(f"{where}: TFLite Micro has no kernel for:\n  " + "\n  ".join(unique))
    return op_set(model_bytes)
