"""ESP-NN's known memory rules, read from its sources (esp-nn v1.2.3, esp-tflite-micro v1.4.0).

Used where the real kernels cannot run: the export's estimate without the ESP tree
(kernels.estimate) and the audit that keeps the models clear of esp-tflite-micro's softmax
scratch bug. The measured arena (kernels.measure_with) does not depend on them.
"""
from __future__ import annotations

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from ser_reparam.tflite.flatbuffer import unpack


def _model(model_bytes: bytes):
    return unpack(model_bytes)


def _is(model, op, builtin) -> bool:
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode) == builtin


def s3_conv_scratch_bytes(model_bytes: bytes) -> list[int]:
    """ESP-NN's ESP32-S3 CONV_2D scratch request per convolution of the model."""
    model = _model(model_bytes)
    graph, sizes = model.subgraphs[0], []
    for op in graph.operators:
        if not _is(model, op, schema.BuiltinOperator.CONV_2D):
            continue
        _, in_h, in_w, in_ch = map(int, graph.tensors[op.inputs[0]].shape)
        out_ch, k_h, k_w, _ = map(int, graph.tensors[op.inputs[1]].shape)
        _, out_h, out_w, _ = map(int, graph.tensors[op.outputs[0]].shape)
        options = op.builtinOptions
        same = options.padding == schema.Padding.SAME
        pad_h = max(0, ((out_h - 1) * options.strideH + k_h - in_h) // 2) if same else 0
        pad_w = max(0, ((out_w - 1) * options.strideW + k_w - in_w) // 2) if same else 0
        sizes.append(s3_conv_scratch(in_h, in_w, in_ch, k_h, k_w, out_h, out_w, out_ch,
                                     options.strideH, options.strideW, pad_h, pad_w))
    return sizes


def s3_conv_scratch(in_h, in_w, in_ch, k_h, k_w, out_h, out_w, out_ch, stride_h, stride_w, pad_h,
                    pad_w) -> int:
    """esp_nn_get_conv_scratch_size_esp32s3 (esp-nn v1.2.3), line by line."""
    align = 64
    if (k_w, k_h, pad_w, pad_h, stride_w, stride_h) == (1, 1, 0, 0, 1, 1):
        channels = (in_ch + 7) & ~7
        transpose = 0 if in_w * in_h < 8 else 2 * 8 * channels
        return (in_w * in_h * channels if in_ch % 8 else 0) + channels * out_ch + transpose + align
    row, window = k_w * in_ch, k_w * k_h * in_ch
    if row < 16 and window >= 16:
        aligned = (window + 15) & ~15
        return out_ch * 4 + 16 + out_ch * aligned + 16 + aligned + align
    channels = (in_ch + 15) & ~15
    input_scratch = 0 if pad_w == 0 and pad_h == 0 else (in_w + 2 * pad_w) * (in_h + 2 * pad_h) * in_ch
    filter_scratch = k_w * k_h * channels * out_ch
    alignment = (row + 15) // 16 * 16 * k_h * out_ch
    pad_right = max(0, out_w * stride_w + k_w - 1 - in_w)
    pad_bottom = max(0, out_h * stride_h + k_h - 1 - in_h)
    boundary = (in_w + pad_right) * (in_h + pad_bottom) * in_ch if pad_right or pad_bottom else 0
    return input_scratch + filter_scratch + alignment + boundary + align + out_ch * 4


def esp_nn_softmax_problems(model_bytes: bytes) -> list[str]:
    """int8 SOFTMAX ops whose ESP-NN scratch request does not cover what the kernel writes.

    esp-tflite-micro (kernels/esp_nn/softmax.cc, v1.4.0) asks for esp_nn_get_softmax_scratch_size
    (dims[1]) = 4·dims[1] bytes, but ESP-NN's generic-optimized and ESP32-S3 softmax write 4·(last
    dimension) bytes into it: a [1, heads, T, T] attention softmax overruns it (rank 1 reads past
    the dims). The project's models avoid it (layers.MultiHeadSelfAttention._head); this check keeps it so."""
    model = _model(model_bytes)
    problems = []
    for graph in model.subgraphs:
        for op in graph.operators:
            tensor = graph.tensors[op.inputs[0]]
            if not _is(model, op, schema.BuiltinOperator.SOFTMAX) or tensor.type != schema.TensorType.INT8:
                continue
            shape = [int(d) for d in tensor.shape]
            if len(shape) < 2 or shape[1] < shape[-1]:
                asked = 4 * shape[1] if len(shape) > 1 else "an undefined number of"
                problems.append(f"SOFTMAX on {tensor.name.decode()} {shape}: esp-tflite-micro asks for "
                                f"{asked} B of scratch, ESP-NN writes {4 * shape[-1]} B")
    return problems
