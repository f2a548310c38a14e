"""TFLite conversion from a batch-1, fixed-length inference graph: float32, int8 and int16x8, and
the rewrites every converted file gets (2-D FULLY_CONNECTED, depth-first order, shared constants)
and slimming to what TFLite Micro reads.

TFLite Micro needs static shapes: a Keras model traced with a dynamic batch converts to
SHAPE / REDUCE_PROD / GATHER ops, and TFLM has no REDUCE_PROD kernel, so every conversion
goes through `inference_function`, which fixes the batch at 1 and the length at the model's.

int8: full-integer post-training quantization, int8 input and output, per-channel weights.
int16x8: int16 activations, int8 weights, int16 input and output; an op without an int16
kernel falls back to float (reported by `tflite.ops.float_ops`).
"""
from __future__ import annotations

import copy
import warnings
from typing import Callable, Iterable

import numpy as np
import tensorflow as tf
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from ser_reparam.console import held_native_stderr
from ser_reparam.models.lean import lean_forward
from ser_reparam.tflite.flatbuffer import pack, pack_shared, unpack
from ser_reparam.tflite.metadata import NAME as METADATA_NAME
from ser_reparam.tflite.schedule import depth_first, share_constants

MODES = ("float", "int8", "int16x8")


def inference_function(model) -> tf.types.experimental.ConcreteFunction:
    """model(x, training=False) traced at batch 1 for the model's own (static) input shape, in its
    memory-lean form (models.lean: the same function, a lower arena)."""
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"model '{model.name}' has input shape {shape} with an unknown size; "
                         "TFLite Micro needs fixed-length inputs: build it with window_frames set")
    forward = tf.function(lean_forward(model), autograph=False)
    return forward.get_concrete_function(tf.TensorSpec((1, *shape), tf.float32, name="features"))


def to_tflite(model, mode: str = "float", representative: Callable[[], Iterable[np.ndarray]] | None = None,
              per_channel_dense: bool = True) -> bytes:
    """Convert a Keras model; the quantized modes calibrate on `representative()`, an iterable of
    single examples (frames, features) from the training split. Convolution weights are always
    quantized per channel; dense (FULLY_CONNECTED) weights per channel unless per_channel_dense
    is False (one scale per tensor: ~12 bytes less per output channel of flatbuffer)."""
    if mode not in MODES:
        raise ValueError(f"unknown conversion mode {mode!r}; choose one of {MODES}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([inference_function(model)], model)
    if mode != "float":
        if representative is None:
            raise ValueError(f"{mode} conversion needs a representative dataset of training examples")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
        converter.representative_dataset = lambda: ([np.asarray(x, np.float32)[None]]
                                                    for x in representative())
        if mode == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
        else:
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                tf.lite.OpsSet.TFLITE_BUILTINS]
            converter.inference_input_type = converter.inference_output_type = tf.int16
    return depth_first(share_constants(fully_connected_2d(converted(converter))))


def converted(converter) -> bytes:
    """converter.convert() without its chatter: the calibrator's `fully_quantize: …` lines on
    descriptor 2 (shown only when it fails) and TensorFlow's own tf.lite.Interpreter deprecation
    warning (the project runs models on ai_edge_litert)."""
    with held_native_stderr(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated")
        return converter.convert()


def fully_connected_2d(model_bytes: bytes) -> bytes:
    """The same model with every FULLY_CONNECTED writing a 2-D [rows, units] tensor, reshaped after
    it to the shape the graph uses.

    The models apply their Dense layers to 2-D rows (models.layers.dense_rows), but the converter
    fuses such reshapes back into a FULLY_CONNECTED with keep_num_dims and a 3-D output, which
    CMSIS-NN runs as a 1×1 convolution that halts on the board (tflite.ops.KERNEL_LIMITS). The
    arithmetic is unchanged: the reshape only renames the same bytes.
    """
    model = unpack(model_bytes)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    fully_connected = {i for i, c in enumerate(codes) if c == schema.BuiltinOperator.FULLY_CONNECTED}
    reshape_index = None
    for graph in model.subgraphs:
        operators = []
        for op in graph.operators:
            operators.append(op)
            output = graph.tensors[op.outputs[0]] if op.opcodeIndex in fully_connected else None
            if output is None or output.shape is None or len(output.shape) <= 2:
                continue
            if reshape_index is None:
                reshape_index = _opcode_index(model, schema.BuiltinOperator.RESHAPE)
            shape = [int(d) for d in output.shape]
            rows = copy.deepcopy(output)
            rows.shape = rows.shapeSignature = [int(np.prod(shape[:-1])), shape[-1]]
            rows.name = (output.name or b"") + b"/rows"
            graph.tensors.append(rows)
            op.builtinOptions.keepNumDims = False
            options = schema.ReshapeOptionsT()
            options.newShape = shape
            reshape = schema.OperatorT()
            reshape.opcodeIndex, reshape.inputs, reshape.outputs = (reshape_index, [len(graph.tensors) - 1],
                                                                    [op.outputs[0]])
            reshape.builtinOptionsType, reshape.builtinOptions = schema.BuiltinOptions.ReshapeOptions, options
            op.outputs = [len(graph.tensors) - 1, *list(op.outputs)[1:]]
            operators.append(reshape)
        graph.operators = operators
    if reshape_index is None:
        return model_bytes
    return pack(model)


def _opcode_index(model, builtin: int) -> int:
    """The index of `builtin` in the model's operator codes, added (version 1) if missing."""
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def slim_tflite(model_bytes: bytes) -> bytes:
    """The same model without what TFLite Micro never reads: tensor names, signature defs,
    the converter's metadata, the description, shape signatures, and the empty buffers of
    non-constant tensors (they point at the empty buffer 0 instead); equal shapes and
    quantization tables stored once (tflite.schedule.pack_shared). The project's own metadata entry
    (tflite.metadata.NAME: labels, front end, statistics) is kept.

    Run the op audit (tflite.ops.audit_ops) before this: it names layers from tensor names.
    """
    model = unpack(model_bytes)
    ours = [entry for entry in model.metadata or [] if (entry.name or b"").decode() == METADATA_NAME]
    metadata_buffers = {entry.buffer for entry in model.metadata or []} - {entry.buffer for entry in ours}
    keep = [0] + [i for i, b in enumerate(model.buffers)
                  if i and b.data is not None and len(b.data) and i not in metadata_buffers]
    renumber = {old: new for new, old in enumerate(keep)}
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.name = b""
            tensor.buffer = renumber.get(tensor.buffer, 0)
    for entry in ours:
        entry.buffer = renumber[entry.buffer]
    model.buffers = [model.buffers[i] for i in keep]
    model.signatureDefs = model.description = None
    model.metadata = ours or None
    return pack_shared(model)


def convert_piece(model, mode: str, representative=None, per_channel_dense: bool = True) -> bytes:
    """A piece as .tflite (float or int8 with int8 inputs and outputs), batch 1, inputs in the
    Keras model's order, post-processed like the whole-window model (to_tflite)."""
    specs = [tf.TensorSpec((1, *t.shape[1:]), tf.float32, name=t.name.split(":")[0]) for t in model.inputs]
    forward = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
                          autograph=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([forward.get_concrete_function(*specs)],
                                                                model)
    if mode == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
        # by input name: the calibrator's own input order is not the Keras model's
        converter.representative_dataset = lambda: ({spec.name: np.asarray(x, np.float32)[None]
                                                     for spec, x in zip(specs, example)}
                                                    for example in representative())
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    blob = converted(converter)
    blob = _in_keras_order(blob, [spec.name for spec in specs])
    return depth_first(share_constants(fully_connected_2d(blob)))


def _in_keras_order(blob: bytes, input_names: list[str]) -> bytes:
    """The model with its graph inputs and outputs in the Keras model's order (the converter
    stores them in its own order; the signature def names them: inputs by spec name, outputs
    output_0, output_1, …), so that firmware and runners can address them by position."""
    model = unpack(blob)
    signature, graph = model.signatureDefs[0], model.subgraphs[0]
    inputs = {entry.name.decode(): entry.tensorIndex for entry in signature.inputs}
    outputs = {entry.name.decode(): entry.tensorIndex for entry in signature.outputs}
    graph.inputs = [inputs[name] for name in input_names]
    graph.outputs = [outputs[f"output_{i}"] for i in range(len(outputs))]
    return pack(model)
