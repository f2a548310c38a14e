"""What a .tflite model asks of TFLite Micro: its operators, which of them TFLM lacks, and the
shapes the boards' optimized kernels cannot run.

The set of builtin operators TFLM registers is read from the installed `tflite_micro` runtime
itself (its `Register_<OP>()` kernel symbols, intersected with the schema's builtin names), so
the audit follows the kernels that actually run, not a list typed in by hand. The shape limits
(KERNEL_LIMITS) are those the real CMSIS-NN build showed (tflite-micro 90b983c under QEMU,
`ser-reparam verify-firmware`): the reference kernels accept these shapes, the board does not.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from ser_reparam.errors import UnsupportedOpError
from ser_reparam.tflite.flatbuffer import read

BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items()
                 if not name.startswith("_")}

# How to replace an op TFLM has no kernel for, by op name.
FIXES = {
    "GELU": "build the model with the TFLM-ready GELU (ser_reparam.models.activations.gelu, "
            "tanh approximation from MUL/ADD/TANH) instead of tf.nn.gelu / keras 'gelu'",
    "REDUCE_PROD": "convert from a batch-1, fixed-length graph (tflite.convert.inference_function): a "
                   "dynamic shape turns into SHAPE/REDUCE_PROD/GATHER",
    "SHAPE": "convert from a batch-1, fixed-length graph (tflite.convert.inference_function)",
    "GATHER": "convert from a batch-1, fixed-length graph, and index with static slices",
    "SQUARE": "write x·x (MUL); TFLM quantizes SQUARE through float",
}


TYPE_NAMES = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}


@dataclass(frozen=True)
class OpUse:
    op: str
    output: str       # name of the op's first output tensor: the TF/Keras scope it came from
    output_type: str  # its element type: FLOAT32, INT8, INT16, …
    input_shapes: tuple = ()
    output_shapes: tuple = ()


def _fully_connected_limit(use: OpUse) -> str | None:
    rank = len(use.output_shapes[0]) if use.output_shapes else 2
    if rank > 2:
        return (f"FULLY_CONNECTED with a {rank}-D output {list(use.output_shapes[0])}: CMSIS-NN runs it as a "
                "1x1 convolution that halts (TFLITE_DCHECK buffer_conv_1x1_idx >= 4) when its scratch buffer "
                "is one of the first four the model requests; fix: convert with "
                "ser_reparam.tflite.convert.to_tflite, whose fully_connected_2d pass writes 2-D outputs")
    return None


def _transpose_limit(use: OpUse) -> str | None:
    rank = len(use.input_shapes[0]) if use.input_shapes else 0
    if rank > 4:
        return (f"TRANSPOSE of a {rank}-D tensor {list(use.input_shapes[0])}: CMSIS-NN's transpose handles "
                "at most 4-D and the firmware computes wrong logits; fix: reshape so that at most 4 axes are "
                "permuted (see MultiHeadSelfAttention's Q/K/V split)")
    return None


# Shape limits of the optimized kernels of the boards, by op (a check returns the problem or None).
KERNEL_LIMITS = {"FULLY_CONNECTED": _fully_connected_limit, "TRANSPOSE": _transpose_limit}


def model_ops(model_bytes: bytes) -> list[OpUse]:
    """Every operator of every subgraph, in execution order."""
    model = read(model_bytes)
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

            def shapes(indices):
                return tuple(tuple(int(d) for d in graph.Tensors(i).ShapeAsNumpy())
                             if graph.Tensors(i).ShapeLength()
                             else () for i in indices if i >= 0)
            uses.append(OpUse(name, tensor.Name().decode() if tensor else "",
                              TYPE_NAMES.get(tensor.Type(), "?") if tensor else "",
                              shapes(op.InputsAsNumpy()) if op.InputsLength() else (),
                              shapes(op.OutputsAsNumpy()) if op.OutputsLength() else ()))
    return uses


def op_set(model_bytes: bytes) -> list[str]:
    """Sorted distinct operator names of a model."""
    return sorted({use.op for use in model_ops(model_bytes)})


def float_ops(model_bytes: bytes) -> list[str]:
    """Ops of a quantized model that compute in float (fell back from the integer kernels)."""
    return sorted({u.op for u in model_ops(model_bytes)
                   if u.output_type == "FLOAT32" and u.op != "DEQUANTIZE"})


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
    """The model's op set; UnsupportedOpError naming each op TFLM lacks or whose shape an optimized
    kernel (KERNEL_LIMITS) cannot run, with its layer and the fix."""
    supported = tflm_builtin_ops()
    missing, limits = [], []
    for use in model_ops(model_bytes):
        if use.op not in supported:
            fix = FIXES.get(use.op, "replace the layer with ops TFLM has (see tflite.ops.tflm_builtin_ops())")
            missing.append(f"{use.op} (from layer '{layer_of(use.output)}'): {fix}")
        problem = KERNEL_LIMITS[use.op](use) if use.op in KERNEL_LIMITS else None
        if problem:
            limits.append(f"{use.op} (from layer '{layer_of(use.output)}'): {problem}")
    parts = []
    if missing:
        parts.append("TFLite Micro has no kernel for:\n  " + "\n  ".join(dict.fromkeys(missing)))
    if limits:
        parts.append("the boards' optimized kernels (CMSIS-NN) cannot run:\n  "
                     + "\n  ".join(dict.fromkeys(limits)))
    if parts:
        raise UnsupportedOpError(f"{where}: " + "\n".join(parts))
    return op_set(model_bytes)
