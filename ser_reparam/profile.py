"""Parameter and FLOP counts, in the conventions of the paper's tables.

Params: every weight a PyTorch model would list in `parameters()`, i.e. all variables except
the BatchNormalization moving mean / variance (buffers, not parameters).

FLOPs: multiply-accumulates (MACs) of one example (batch 1) through the inference graph, one
per multiply-add of the matrix products: MatMul, BatchMatMul, Einsum, Conv2D (Conv1D lowers to
it) and DepthwiseConv2D. Element-wise work (bias adds, activations, softmax, normalization) is
not counted, as in the usual MAC counters (thop, ptflops) that papers like this one report
as "FLOPs".
"""
from __future__ import annotations

import math
from collections import Counter

import tensorflow as tf
import tf_keras as keras


def count_params(model) -> int:
    """Number of parameters, excluding BatchNormalization moving statistics."""
    buffers = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            buffers.update(id(v) for v in (layer.moving_mean, layer.moving_variance))
    return int(sum(math.prod(v.shape) for v in model.weights if id(v) not in buffers))


def _dims(tensor) -> list[int]:
    shape = tensor.shape.as_list()
    if any(d is None for d in shape):
        raise ValueError(f"count_flops: op input '{tensor.name}' has an unknown size {shape}; "
                         "pass a fully specified input_shape")
    return shape


def _einsum_macs(op) -> int:
    equation = op.get_attr("equation").decode()
    inputs = equation.split("->")[0].split(",")
    sizes = {}
    for spec, tensor in zip(inputs, op.inputs):
        sizes.update(zip(spec.replace("...", ""), _dims(tensor)[-len(spec.replace("...", "")):]))
    return math.prod(sizes.values())


def _op_macs(op) -> int:
    kind = op.type
    if kind == "MatMul":
        a = _dims(op.inputs[0])
        inner = a[0] if op.get_attr("transpose_a") else a[1]
        return math.prod(_dims(op.outputs[0])) * inner
    if kind.startswith("BatchMatMul"):
        a = _dims(op.inputs[0])
        inner = a[-2] if op.get_attr("adj_x") else a[-1]
        return math.prod(_dims(op.outputs[0])) * inner
    if kind == "Einsum":
        return _einsum_macs(op)
    if kind == "Conv2D":
        kh, kw, cin, _ = _dims(op.inputs[1])
        return math.prod(_dims(op.outputs[0])) * kh * kw * cin
    if kind == "DepthwiseConv2dNative":
        kh, kw, _, _ = _dims(op.inputs[1])
        return math.prod(_dims(op.outputs[0])) * kh * kw
    return 0


def flops_by_layer(model, input_shape, attention: bool = True) -> dict[str, int]:
    """MACs of one example of shape `input_shape` (no batch axis), per top-level layer name.

    An HRFDense layer is counted as the graph runs it: the factor product plus one matmul.
    attention=False leaves out BatchMatMul, i.e. the attention score and context products,
    which counters that see only layers (thop, as the paper's numbers suggest) also miss.
    """
    spec = tf.TensorSpec((1, *input_shape), tf.float32)
    forward = tf.function(lambda x: model(x, training=False), autograph=False)
    totals: Counter = Counter()
    for op in forward.get_concrete_function(spec).graph.get_operations():
        macs = _op_macs(op) if attention or not op.type.startswith("BatchMatMul") else 0
        if macs:
            scopes = op.name.split("/")
            totals[scopes[1] if scopes[0] == model.name and len(scopes) > 2 else scopes[0]] += macs
    return dict(totals)


def count_flops(model, input_shape, attention: bool = True) -> int:
    """Total MACs of one example of shape `input_shape` (no batch axis), batch 1."""
    return int(sum(flops_by_layer(model, input_shape, attention).values()))
