"""Rewrites of an int8 .tflite file's scales that make two graphs compute the same int8 values.

Stage 05 quantizes the streaming pieces and the whole-window model apart (quantize.quantize_pieces):
the converter calibrates each graph's tensors on its own, and the same layer can end up with
slightly different scales in each — enough to change labels on real speech. These rewrites copy
scales from one graph into another where that keeps every kernel's arithmetic valid: a bias is
copied with the scales it was quantized for, and only tensors whose kernels read their scales
when the interpreter prepares them change otherwise.
"""
from __future__ import annotations

import copy

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from ser_reparam.tflite.flatbuffer import pack, unpack


def read_in_scales_of(blob: bytes, inputs: dict[int, tuple[bytes, int]]) -> bytes:
    """The model with graph input i quantized like output j of another model ({i: (other, j)}):
    the application then hands the int8 values over as they are, without a second rounding.
    Only for inputs that reach nothing but BATCH_MATMUL, MEAN or MUL, through slices, splits and reshapes
    (which keep the scale; they get the new one too): those kernels take their scales from the
    tensors when the interpreter prepares them, so no constant was quantized with the old scale."""
    model = unpack(blob)
    graph, ops = model.subgraphs[0], schema.BuiltinOperator
    sources = {id(other): unpack(other).subgraphs[0] for other, _ in inputs.values()}  # each read once
    for i, (other, j) in inputs.items():
        source = sources[id(other)]
        quantization = source.tensors[source.outputs[j]].quantization
        pending = [graph.inputs[i]]
        while pending:
            tensor = pending.pop()
            graph.tensors[tensor].quantization = copy.deepcopy(quantization)
            for op in (op for op in graph.operators if tensor in op.inputs):
                code = model.operatorCodes[op.opcodeIndex].builtinCode
                passed = _passes_scale_on(model, op, tensor)
                if passed:
                    pending += passed
                elif code not in (ops.BATCH_MATMUL, ops.MEAN, ops.MUL):
                    raise ValueError(f"input {i} reaches op {code}, not only BATCH_MATMUL / MEAN / MUL: "
                                     "its scale cannot change")
    return pack(model)


def quantized_like_twins(blob: bytes, other: bytes, inputs: bool = False) -> bytes:
    """The model with every CONV_2D / FULLY_CONNECTED that has a twin in `other` (an op of the same
    kind with the same int8 weights) quantized as that twin: its output's scale, and its bias
    (quantized with the input's scale, which the twin's input already shares). Tensors that only
    pass the output on keep its scale with it (RESHAPE, STRIDED_SLICE, CONCATENATION's inputs and
    output). With `inputs`, the op's input takes the twin's input scale too, and every activation
    named as one of `other`'s (the same layer's op: LayerNorm's statistics …) its scale.

    The whole-window graph computes the subsampling band by band (models.lean), and the converter
    calibrates each band's convolutions on its own rows: a scale per band, while the streaming
    piece step has one for every step. With step's scales in every band, step computes each step's
    x, k and v bit for bit as the whole-window model does; attend and classify, given the
    whole-window scales of their layers, compute their rows as it does."""
    model, source = unpack(blob), unpack(other)
    graph, twin_graph, ops = model.subgraphs[0], source.subgraphs[0], schema.BuiltinOperator

    def weights(m, g, op):
        return bytes(np.asarray(m.buffers[g.tensors[op.inputs[1]].buffer].data, np.uint8))

    def code(m, op):
        return m.operatorCodes[op.opcodeIndex].builtinCode

    twins = {(code(source, op), weights(source, twin_graph, op)): op for op in twin_graph.operators
             if code(source, op) in (ops.CONV_2D, ops.FULLY_CONNECTED)}
    for op in graph.operators:
        twin = (twins.get((code(model, op), weights(model, graph, op)))
                if code(model, op) in (ops.CONV_2D, ops.FULLY_CONNECTED) else None)
        if twin is None:
            continue
        bias = graph.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if twin.inputs[2:] and twin.inputs[2] >= 0:
            twin_bias = twin_graph.tensors[twin.inputs[2]]
            model.buffers[bias.buffer].data = np.array(source.buffers[twin_bias.buffer].data, np.uint8)
            bias.quantization = copy.deepcopy(twin_bias.quantization)
        elif bias is not None and np.any(np.asarray(model.buffers[bias.buffer].data)):
            # the converter drops zero biases only
            raise ValueError("an op's twin has no bias where the op has a non-zero one")
        _set_quantization(model, op.outputs[0], twin_graph.tensors[twin.outputs[0]].quantization)
        if inputs:
            _set_quantization(model, op.inputs[0], twin_graph.tensors[twin.inputs[0]].quantization)
    if inputs:
        named = {_layer_path(t.name): t for t in twin_graph.tensors
                 if t.type == schema.TensorType.INT8 and not _constant(source, t)}
        named.pop(None, None)
        for index, tensor in enumerate(graph.tensors):
            twin_tensor = named.get(_layer_path(tensor.name))
            if (twin_tensor is not None and tensor.type == schema.TensorType.INT8
                    and not _constant(model, tensor)):
                _set_quantization(model, index, twin_tensor.quantization)
    return pack(model)


def _layer_path(name: bytes) -> str | None:
    """A tensor's name without its model's name: 'block1_ffn_norm/Mean' in both 'ser_model/…'
    and 'stream_attend/…' (models.streaming.GRAPH_NAMES; fused names join several with ';'); None
    for the tensors of functional ops ('tf.concat/…': numbered per graph, the same name for
    different ops)."""
    parts = [part.split("/", 1)[-1] for part in name.decode().split(";")]
    return None if any(part.startswith("tf.") or "/" not in part for part in parts) else ";".join(parts)


def _constant(model, tensor) -> bool:
    data = model.buffers[tensor.buffer].data
    return data is not None and len(data) > 0


def _set_quantization(model, tensor: int, quantization) -> None:
    """`tensor` and every tensor that shares its scale with it get `quantization`: a RESHAPE's
    input and output, what slices and splits of it give (_passes_scale_on), a CONCATENATION's
    inputs and output."""
    graph, ops = model.subgraphs[0], schema.BuiltinOperator
    pending, seen = [tensor], set()
    while pending:
        t = pending.pop()
        if t in seen:
            continue
        seen.add(t)
        graph.tensors[t].quantization = copy.deepcopy(quantization)
        for op in graph.operators:
            kind = model.operatorCodes[op.opcodeIndex].builtinCode
            pending += _passes_scale_on(model, op, t)
            if kind == ops.RESHAPE and op.outputs[0] == t:
                pending.append(op.inputs[0])
            elif kind == ops.CONCATENATION and (t in op.inputs or t in op.outputs):
                pending += [*op.inputs, *op.outputs]


def _passes_scale_on(model, op, tensor: int) -> list[int]:
    """The outputs that carry `tensor`'s values in its scale when `op` reads it: a RESHAPE, SLICE
    or STRIDED_SLICE of it, an UNPACK or SPLIT of it (their kernels copy int8 values)."""
    ops = schema.BuiltinOperator
    kind = model.operatorCodes[op.opcodeIndex].builtinCode
    data_input = {ops.RESHAPE: 0, ops.SLICE: 0, ops.STRIDED_SLICE: 0, ops.UNPACK: 0, ops.SPLIT: 1}.get(kind)
    return list(op.outputs) if data_input is not None and op.inputs[data_input] == tensor else []
