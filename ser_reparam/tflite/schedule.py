"""Rewrites of a converted .tflite model that lower TFLite Micro's memory, never its arithmetic.

`depth_first` reorders the operators: the converter emits independent branches breadth-first
(every band's convolution, then every band's projection; see models.lean), so all their
outputs are live together in the arena. TFLM runs the operators in the order stored, and any
topological order computes the same values; the depth-first one (each operator right before
its first consumer needs it) keeps one branch live at a time.
`share_constants` keeps one tensor and one buffer per constant: the quantizer gives each
operator its own copy of a weight that several operators use.
"""
from __future__ import annotations

from ser_reparam.tflite.flatbuffer import pack, unpack


def depth_first_order(operators, outputs) -> list[int]:
    """Operator indices in post-order of a depth-first walk from the graph outputs: an operator's
    producers (inputs in order) come right before it."""
    producer = {t: i for i, op in enumerate(operators) for t in op.outputs}
    order, done = [], set()
    for root in [producer[t] for t in outputs if t in producer] + list(range(len(operators))):
        stack = [(root, False)]
        while stack:
            index, expanded = stack.pop()
            if index in done:
                continue
            if expanded:
                done.add(index)
                order.append(index)
                continue
            stack.append((index, True))
            inputs = [producer[t] for t in operators[index].inputs if t in producer]
            stack.extend((i, False) for i in reversed(inputs) if i not in done)
    return order


def depth_first(model_bytes: bytes) -> bytes:
    model = unpack(model_bytes)
    changed = False
    for graph in model.subgraphs:
        order = depth_first_order(graph.operators, graph.outputs)
        changed |= order != list(range(len(order)))
        graph.operators = [graph.operators[i] for i in order]
    return pack(model) if changed else model_bytes


def _quantization_key(q):
    if q is None:
        return None
    return tuple(tuple(map(float, x)) if x is not None else None
                 for x in (q.scale, q.zeroPoint, q.min, q.max)) + (q.quantizedDimension,)


def share_constants(model_bytes: bytes) -> bytes:
    """One tensor for each constant (same bytes, type, shape, quantization) that several operators
    read, one buffer for byte-identical constant data; unreferenced tensors and buffers dropped."""
    model = unpack(model_bytes)
    first_buffer = {}
    for index, buffer in enumerate(model.buffers):
        if buffer.data is not None and len(buffer.data):
            first_buffer.setdefault(bytes(buffer.data), index)
    changed = False
    for graph in model.subgraphs:
        first_tensor, remap = {}, {}
        for index, tensor in enumerate(graph.tensors):
            data = model.buffers[tensor.buffer].data
            if data is None or not len(data):
                continue
            tensor.buffer = first_buffer[bytes(data)]
            shape = () if tensor.shape is None else tuple(map(int, tensor.shape))  # None: a scalar
            key = (tensor.buffer, tensor.type, shape, _quantization_key(tensor.quantization))
            remap[index] = first_tensor.setdefault(key, index)
        used = sorted({remap.get(t, t) for op in graph.operators for t in [*op.inputs, *op.outputs] if t >= 0}
                      | set(graph.inputs) | set(graph.outputs))
        if len(used) == len(graph.tensors):
            continue
        changed = True
        number = {old: new for new, old in enumerate(used)}
        renumber = lambda t: number[remap.get(t, t)] if t >= 0 else t  # noqa: E731
        for op in graph.operators:
            op.inputs = [renumber(t) for t in op.inputs]
            op.outputs = [renumber(t) for t in op.outputs]
        graph.inputs = [renumber(t) for t in graph.inputs]
        graph.outputs = [renumber(t) for t in graph.outputs]
        graph.tensors = [graph.tensors[i] for i in used]
    if not changed:
        return model_bytes
    for index, buffer in enumerate(model.buffers):  # unreferenced data now; slim_tflite drops the entries
        if buffer.data is not None and len(buffer.data) and first_buffer.get(bytes(buffer.data)) != index:
            buffer.data = None
    return pack(model)
