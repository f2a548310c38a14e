"""The one reader and writer of the .tflite flatbuffer: `read` (the schema's read-only view),
`unpack` (its mutable object tree) and `pack` / `pack_shared` (the tree back to bytes). Every
rewrite of a model goes through these, so the file identifier and the packing live in one place.
"""
from __future__ import annotations

import flatbuffers
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema


def read(model_bytes: bytes):
    """A .tflite as the schema's read-only view (no copy of the bytes)."""
    return schema.Model.GetRootAsModel(bytes(model_bytes), 0)


def unpack(model_bytes: bytes):
    """A .tflite as the schema's mutable object tree."""
    return schema.ModelT.InitFromObj(read(model_bytes))


def pack(model) -> bytes:
    """The object tree back to .tflite bytes."""
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def pack_shared(model) -> bytes:
    """pack(), each tensor's shape vector and quantization table written once for all tensors
    that have equal ones (a flatbuffer may point at a table or vector from several places;
    TFLite Micro only reads them), and without the shape signatures TFLite Micro never reads:
    ~40 bytes less per repeated table, e.g. the heads' slices of one tensor."""
    builder, shapes, tables = flatbuffers.Builder(1 << 16), {}, {}

    def shape_vector(shape):
        key = tuple(int(d) for d in shape)
        if key not in shapes:
            schema.TensorStartShapeVector(builder, len(key))
            for d in reversed(key):
                builder.PrependInt32(d)
            shapes[key] = builder.EndVector()
        return shapes[key]

    def table(quantization):
        key = (tuple(quantization.scale if quantization.scale is not None else ()),
               tuple(quantization.zeroPoint if quantization.zeroPoint is not None else ()),
               quantization.quantizedDimension, quantization.min is None and quantization.max is None,
               quantization.details is None)
        if not key[3] or not key[4]:  # min / max or custom details: written as they are
            return quantization.Pack(builder)
        if key not in tables:
            tables[key] = quantization.Pack(builder)
        return tables[key]

    def pack_tensor(tensor):
        shape = shape_vector(tensor.shape) if tensor.shape is not None else None
        name = builder.CreateString(tensor.name) if tensor.name is not None else None
        quantization = table(tensor.quantization) if tensor.quantization is not None else None
        schema.TensorStart(builder)
        if shape is not None:
            schema.TensorAddShape(builder, shape)
        schema.TensorAddType(builder, tensor.type)
        schema.TensorAddBuffer(builder, tensor.buffer)
        if name is not None:
            schema.TensorAddName(builder, name)
        if quantization is not None:
            schema.TensorAddQuantization(builder, quantization)
        schema.TensorAddIsVariable(builder, tensor.isVariable)
        schema.TensorAddHasRank(builder, tensor.hasRank)
        return schema.TensorEnd(builder)

    for graph in model.subgraphs:
        for tensor in graph.tensors:
            if tensor.sparsity is not None or tensor.variantTensors is not None:
                raise ValueError("pack_shared: sparse or variant tensors are not handled")
            tensor.Pack = lambda _builder, tensor=tensor: pack_tensor(tensor)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
