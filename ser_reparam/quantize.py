"""TFLite conversion from a batch-1, fixed-length inference graph: float32, int8 and int16x8.

TFLite Micro needs static shapes: a Keras model traced with a dynamic batch converts to
SHAPE / REDUCE_PROD / GATHER ops, and TFLM has no REDUCE_PROD kernel, so every conversion
goes through `inference_function`, which fixes the batch at 1 and the length at the model's.

int8: full-integer post-training quantization, int8 input and output, per-channel weights.
int16x8: int16 activations, int8 weights, int16 input and output; an op without an int16
kernel falls back to float (reported by `tflite.ops.float_ops`).
"""
from __future__ import annotations

import copy
import itertools
import json
import warnings
from typing import Callable, Iterable

import numpy as np
import tensorflow as tf
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from ser_reparam.config import ExperimentConfig
from ser_reparam.console import held_native_stderr
from ser_reparam.data.scoring import score, split_arrays
from ser_reparam.errors import NotStreamable
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.files import atomic_write_bytes
from ser_reparam.layout import RunLayout
from ser_reparam.models import load_model
from ser_reparam.models.lean import lean_forward
from ser_reparam.streaming import (PIECES, STEP_CONTEXT, STEP_FRAMES, KerasPieces, calibration_examples,
                                   split_model, pieces_state_bytes, stream_window)
from ser_reparam.tflite.metadata import NAME as METADATA_NAME, embed_metadata, run_metadata
from ser_reparam.tflite.ops import audit_ops, float_ops
from ser_reparam.tflite.scales import quantized_like_twins, read_in_scales_of
from ser_reparam.tflite.flatbuffer import pack, pack_shared, unpack
from ser_reparam.tflite.schedule import depth_first, share_constants

MODES = ("float", "int8", "int16x8")


def inference_function(model) -> tf.types.experimental.ConcreteFunction:
    """model(x, training=False) traced at batch 1 for the model's own (static) input shape, in its
    memory-lean form (models.lean: the same function, a lower arena)."""
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"model '{model.name}' has input shape {shape} with an unknown size; "
                         "TFLite Micro needs fixed-length inputs: build it with num_frames set")
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
        converter.representative_dataset = lambda: ([np.asarray(x, np.float32)[None]] for x in representative())
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
            reshape.opcodeIndex, reshape.inputs, reshape.outputs = reshape_index, [len(graph.tensors) - 1], [op.outputs[0]]
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


def representative_examples(x: np.ndarray, y: np.ndarray, count: int, num_classes: int) -> np.ndarray:
    """`count` training examples taken from each class in turn (balanced while the classes last),
    in a fixed-seed order."""
    order = np.random.default_rng(0).permutation(len(x))
    per_class = [order[y[order] == c].tolist() for c in range(num_classes)]
    turns = [i for group in itertools.zip_longest(*per_class) for i in group if i is not None]
    return x[np.array(turns[:count])]


# the streaming pieces (ser_reparam.streaming): converted like the whole-window model

def convert_piece(model, mode: str, representative=None, per_channel_dense: bool = True) -> bytes:
    """A piece as .tflite (float or int8 with int8 inputs and outputs), batch 1, inputs in the
    Keras model's order, post-processed like the whole-window model (quantize.to_tflite)."""
    specs = [tf.TensorSpec((1, *t.shape[1:]), tf.float32, name=t.name.split(":")[0]) for t in model.inputs]
    forward = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False), autograph=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([forward.get_concrete_function(*specs)], model)
    if mode == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
        # by input name: the calibrator's own input order is not the Keras model's
        converter.representative_dataset = lambda: ({spec.name: np.asarray(x, np.float32)[None] for spec, x in zip(specs, example)}
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


def quantize_pieces(pieces, examples: np.ndarray, per_channel_dense: bool = True,
                    whole: bytes | None = None) -> tuple[dict[str, bytes], bytes | None]:
    """int8 A, B, C calibrated on what they see when the float pieces stream `examples`
    (training windows): A on every step window, B on every chunk, C on every window's encoded
    steps — the values the whole-window model is calibrated on. With `whole` (the whole-window
    int8 file, calibrated on the same examples), the pieces and it are made to compute the same
    int8 values: the whole-window subsampling takes A's scales (quantized_like_twins), B and C
    take the whole-window scales of their weighted ops, and each piece reads its inputs in the
    scale the previous one writes them (read_in_scales_of). Returns the pieces and `whole` as
    changed (None without it)."""
    trace: dict = {}
    runner = KerasPieces(pieces)
    for features in examples:
        stream_window(runner, pieces, features, trace)
    data = calibration_examples(trace)
    blobs = {name: convert_piece(getattr(pieces, name), "int8", lambda name=name: iter(data[name]), per_channel_dense)
             for name in PIECES}
    if whole is not None:
        whole = quantized_like_twins(whole, blobs["step"])
        for name in ("attend", "classify"):
            blobs[name] = quantized_like_twins(blobs[name], whole, inputs=True)
    heads = pieces.heads  # B's inputs: queries, each head's keys, each head's values
    blobs["attend"] = read_in_scales_of(blobs["attend"], {1 + i: (blobs["step"], 1 + i // heads) for i in range(2 * heads)})
    blobs["classify"] = read_in_scales_of(blobs["classify"], {0: (blobs["attend"], 0)})
    return blobs, whole


def write_pieces(pieces, blobs: dict[str, bytes], layout: RunLayout) -> dict:
    """Stage 05's streaming artifacts: quantized/stream_{step,attend,classify}.tflite (int8,
    slimmed) with their sizes. Stage 07 measures their arenas (evaluate.compare_deployments),
    benchmarks/streaming_memory.py with the board's kernels."""
    record = {"streams": True, "steps": pieces.steps, "chunk": pieces.chunk, "step_frames": STEP_FRAMES,
              "step_context_frames": STEP_CONTEXT, "state_bytes": pieces_state_bytes(pieces), "pieces": {}}
    for name, blob in blobs.items():
        slim = slim_tflite(blob)
        path = layout.stream_piece(name)
        atomic_write_bytes(path, slim)
        record["pieces"][name] = {"file": path.name, "bytes": len(slim)}
    return record


def deployed_model_name(config) -> str:
    """The stage 05 file a config deploys: the QAT model when it asks for QAT, else the PTQ one."""
    return "qat_int8" if config.quantize.qat_epochs > 0 else "int8"


def _qat_model(config, folded, store, labels):
    """Fine-tune the folded model with fake quantization for config.quantize.qat_epochs at a tenth
    of the training learning rate, keeping the weights (the start included) with the best
    validation metric: fine-tuning must not walk away from the checkpoint training chose."""
    import tf_keras as keras

    from ser_reparam.data.dataset import batches
    from ser_reparam.qat import quantize_aware

    keras.utils.set_random_seed(0)
    model = quantize_aware(folded)
    model.compile(optimizer=keras.optimizers.AdamW(config.learning_rate * 0.1,
                                                   weight_decay=config.training.weight_decay),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    val = split_arrays(store, "val", labels) if "val" in store.splits() else None

    def val_metric():
        if val is None:
            return 0.0
        x, y, ids = val
        return score(model.predict(x, batch_size=256, verbose=0), y, ids, len(labels))[config.training.select]

    train = batches(store, "train", labels, config.training.batch_size, shuffle=True, seed=0)
    best, best_weights = val_metric(), model.get_weights()
    history = {"val": [best], "kept_epoch": 0}  # epoch 0 = the folded weights, before fine-tuning
    for epoch in range(1, config.quantize.qat_epochs + 1):
        model.fit(train, epochs=1, verbose=0)
        metric = val_metric()
        history["val"].append(metric)
        if val is None or metric > best:
            best, best_weights, history["kept_epoch"] = metric, model.get_weights(), epoch
    model.set_weights(best_weights)
    return model, history


def quantize_run(config: ExperimentConfig) -> dict:
    """Stage 05: float32 and int8 (+ int16x8, + QAT int8 when configured) TFLite files of the
    deployed seed's folded model, each audited against TFLite Micro's kernels, slimmed and
    written to quantized/<name>.tflite, and the int8 streaming pieces when the model streams
    (quantize_pieces, write_pieces); quantized/quantize.json records bytes and ops."""
    layout = RunLayout(config)
    store, labels = feature_store(config), labels_for(config)
    folded = load_model(layout.folded_model())
    x, y, _ = split_arrays(store, "train", labels)
    calibration = representative_examples(x, y, config.quantize.representative, len(labels))
    plan = [("float", folded, "float"), ("int8", folded, "int8")]
    if config.quantize.int16x8:
        plan.append(("int16x8", folded, "int16x8"))
    qat = None
    if config.quantize.qat_epochs > 0:
        qat_model, qat = _qat_model(config, folded, store, labels)
        plan.append(("qat_int8", qat_model, "int8"))
    out = layout.quantized_dir
    out.mkdir(parents=True, exist_ok=True)
    record = {"seed": layout.deployed_seed(), "representative_examples": int(len(calibration)),
              "per_channel_dense": config.quantize.per_channel_dense, "models": {}}
    try:
        pieces, streaming = split_model(folded), None
    except NotStreamable as why:
        pieces, streaming = None, {"streams": False, "why": str(why)}
    for name, model, mode in plan:
        blob = to_tflite(model, mode, lambda: iter(calibration), config.quantize.per_channel_dense)
        if name == "int8" and pieces is not None:  # the pieces and the int8 file computing the same int8 values
            piece_blobs, blob = quantize_pieces(pieces, calibration, config.quantize.per_channel_dense, whole=blob)
            streaming = write_pieces(pieces, piece_blobs, layout)
        ops = audit_ops(blob, where=f"stage 05 (quantize): the {name} model of {layout.variant}")
        slim = slim_tflite(blob)
        slim = embed_metadata(slim, run_metadata(config, slim, name))
        atomic_write_bytes(layout.tflite(name), slim)
        record["models"][name] = {"file": layout.tflite(name).name, "bytes": len(slim), "mode": mode, "ops": ops,
                                  "float_ops": float_ops(blob) if mode != "float" else []}
        if name == "qat_int8":
            record["models"][name]["qat"] = {**qat, "select": f"validation {config.training.select}",
                                             "wrapped_layers": sum("QuantizeWrapper" in type(layer).__name__
                                                                   for layer in model.layers)}
    record["streaming"] = streaming
    atomic_write_bytes(layout.quantize_record, (json.dumps(record, indent=1) + "\n").encode())
    return record
