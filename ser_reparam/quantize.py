"""Stage 05's library: the deployed seed's folded model converted (tflite/convert.py) to float32,
int8 (+ int16x8, + QAT int8), audited against TFLite Micro, slimmed, with the run's metadata, and
its int8 streaming pieces calibrated to compute the whole-window model's int8 values.
"""
from __future__ import annotations

import itertools
import json

import numpy as np

from ser_reparam.config import ExperimentConfig
from ser_reparam.data.scoring import score, split_arrays
from ser_reparam.errors import NotStreamable
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.files import atomic_write_bytes
from ser_reparam.layout import RunLayout
from ser_reparam.models import load_model
from ser_reparam.models.stream_geometry import PIECES, calibration_examples, stream_window
from ser_reparam.models.streaming import KerasPieces, split_model
from ser_reparam.tflite.convert import convert_piece, slim_tflite, to_tflite
from ser_reparam.tflite.metadata import embed_metadata, run_metadata
from ser_reparam.tflite.ops import audit_ops, float_ops
from ser_reparam.tflite.scales import quantized_like_twins, read_in_scales_of


def representative_examples(x: np.ndarray, y: np.ndarray, count: int, num_classes: int) -> np.ndarray:
    """`count` training examples taken from each class in turn (balanced while the classes last),
    in a fixed-seed order."""
    order = np.random.default_rng(0).permutation(len(x))
    per_class = [order[y[order] == c].tolist() for c in range(num_classes)]
    turns = [i for group in itertools.zip_longest(*per_class) for i in group if i is not None]
    return x[np.array(turns[:count])]


def quantize_pieces(pieces, examples: np.ndarray, per_channel_dense: bool = True,
                    whole: bytes | None = None) -> tuple[dict[str, bytes], bytes | None]:
    """int8 step, attend and classify calibrated on what they see when the float pieces stream
    `examples` (training windows): step on every step window, attend on every chunk, classify on
    every window's encoded steps — the values the whole-window model is calibrated on. With
    `whole` (the whole-window int8 file, calibrated on the same examples), the pieces and it are
    made to compute the same int8 values: the whole-window subsampling takes step's scales
    (quantized_like_twins), attend and classify take the whole-window scales of their weighted
    ops, and each piece reads its inputs in the scale the previous one writes them
    (read_in_scales_of). Returns the pieces and `whole` as changed (None without it)."""
    trace: dict = {}
    runner = KerasPieces(pieces)
    for features in examples:
        stream_window(runner, pieces.geometry, features, trace)
    data = calibration_examples(trace)
    blobs = {name: convert_piece(getattr(pieces, name), "int8", lambda name=name: iter(data[name]),
                                 per_channel_dense)
             for name in PIECES}
    if whole is not None:
        whole = quantized_like_twins(whole, blobs["step"])
        for name in ("attend", "classify"):
            blobs[name] = quantized_like_twins(blobs[name], whole, inputs=True)
    heads = pieces.geometry.heads  # attend's inputs: queries, each head's keys, each head's values
    blobs["attend"] = read_in_scales_of(blobs["attend"],
                                        {1 + i: (blobs["step"], 1 + i // heads) for i in range(2 * heads)})
    blobs["classify"] = read_in_scales_of(blobs["classify"], {0: (blobs["attend"], 0)})
    return blobs, whole


def write_pieces(pieces, blobs: dict[str, bytes], layout: RunLayout) -> dict:
    """Stage 05's streaming artifacts: quantized/stream_{step,attend,classify}.tflite (int8,
    slimmed) with their sizes. Stage 07 measures their arenas (evaluate.compare_deployments),
    benchmarks/streaming_memory.py with the board's kernels."""
    record = {"streams": True, **pieces.geometry.to_dict(), "pieces": {}}
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
        # the pieces and the int8 file computing the same int8 values
        if name == "int8" and pieces is not None:
            piece_blobs, blob = quantize_pieces(pieces, calibration, config.quantize.per_channel_dense,
                                                whole=blob)
            streaming = write_pieces(pieces, piece_blobs, layout)
        ops = audit_ops(blob, where=f"stage 05 (quantize): the {name} model of {layout.variant}")
        slim = slim_tflite(blob)
        slim = embed_metadata(slim, run_metadata(config, slim, name))
        atomic_write_bytes(layout.tflite(name), slim)
        record["models"][name] = {"file": layout.tflite(name).name, "bytes": len(slim), "mode": mode,
                                  "ops": ops,
                                  "float_ops": float_ops(blob) if mode != "float" else []}
        if name == "qat_int8":
            record["models"][name]["qat"] = {**qat, "select": f"validation {config.training.select}",
                                             "wrapped_layers": sum("QuantizeWrapper" in type(layer).__name__
                                                                   for layer in model.layers)}
    record["streaming"] = streaming
    atomic_write_bytes(layout.quantize_record, (json.dumps(record, indent=1) + "\n").encode())
    return record
