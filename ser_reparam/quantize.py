"""TFLite conversion from a batch-1, fixed-length inference graph: float32 and full-integer int8.

TFLite Micro needs static shapes: a Keras model traced with a dynamic batch converts to
SHAPE / REDUCE_PROD / GATHER ops, and TFLM has no REDUCE_PROD kernel, so every conversion
goes through `inference_function`, which fixes the batch at 1 and the length at the model's.
"""
from __future__ import annotations

from typing import Callable, Iterable

import flatbuffers
import numpy as np
import tensorflow as tf
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

MODES = ("float", "int8")


def inference_function(model) -> tf.types.experimental.ConcreteFunction:
    """model(x, training=False) traced at batch 1 for the model's own (static) input shape."""
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"model '{model.name}' has input shape {shape} with an unknown size; "
                         "TFLite Micro needs fixed-length inputs: build it with num_frames set")
    forward = tf.function(lambda x: model(x, training=False), autograph=False)
    return forward.get_concrete_function(tf.TensorSpec((1, *shape), tf.float32, name="features"))


def to_tflite(model, mode: str = "float",
              representative: Callable[[], Iterable[np.ndarray]] | None = None) -> bytes:
    """Convert a Keras model. mode "int8": int8 weights (per channel), activations, input and
    output, calibrated on `representative()`, an iterable of single examples (frames, features)."""
    if mode not in MODES:
        raise ValueError(f"unknown conversion mode {mode!r}; choose one of {MODES}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([inference_function(model)], model)
    if mode == "int8":
        if representative is None:
            raise ValueError("int8 conversion needs a representative dataset of training examples")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([np.asarray(x, np.float32)[None]] for x in representative())
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def slim_tflite(model_bytes: bytes) -> bytes:
    """The same model without what TFLite Micro never reads: tensor names, signature defs and
    the empty buffers of non-constant tensors (they point at the empty buffer 0 instead).

    Run the op audit (tflite_ops.audit_ops) before this: it names layers from tensor names.
    """
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    keep = [0] + [i for i, b in enumerate(model.buffers) if i and b.data is not None and len(b.data)]
    renumber = {old: new for new, old in enumerate(keep)}
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.name = b""
            tensor.buffer = renumber.get(tensor.buffer, 0)
    for entry in model.metadata or []:
        entry.buffer = renumber[entry.buffer]
    model.buffers = [model.buffers[i] for i in keep]
    model.signatureDefs = None
    builder = flatbuffers.Builder(len(model_bytes))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
