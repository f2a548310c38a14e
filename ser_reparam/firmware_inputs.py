"""A run translated for verify-firmware and profile-firmware: its bundle folder, the .tflite bytes
the firmware runs, test clips with the features the training pipeline makes of them, and (for the
profile) each node's Keras layer. firmware_export then checks and profiles from these plain inputs
alone, as bundles.py does for the export: it never reads a run."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from firmware_export.bundle_record import has_record, read_record
from firmware_export.verify import FirmwareInputs, streams
from ser_reparam.data.dataset import Window, audio_file, utterance_segments
from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.normalization import normalize
from ser_reparam.errors import StageError
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.layout import RunLayout
from ser_reparam.models.stream_geometry import PIECES


def bundle_dir(config, board_key: str) -> Path:
    """The run's bundle for `board_key`; StageError naming the export when there is none."""
    bundle = RunLayout(config).firmware_dir(board_key)
    if not has_record(bundle):
        raise StageError(f"no firmware bundle for {board_key} in {bundle.parent}: run stage 06 "
                         f"(ser-reparam export RUN --board {board_key})")
    return bundle


def split_clips(config, count: int) -> list[dict]:
    """The first `count` clips of the test split at least one window long, as int16 PCM windows."""
    store = feature_store(config)
    frontend, window = store.frontend, Window(config.data.window_seconds)
    size = window.num_samples(frontend)
    clips = []
    for utt in read_manifest(store.manifest, labels_for(config)):
        if utt.split != "test" or len(clips) >= count:
            continue
        path = audio_file(utt, store.root, store.manifest.parent)
        with wave.open(path, "rb") as wav:
            total = wav.getnframes()
            first, last = utterance_segments(utt, window, frontend, total)[0]
            if last - first < size:
                continue
            wav.setpos(first)
            pcm = np.frombuffer(wav.readframes(size), "<i2")
        clips.append({"utt_id": utt.utt_id, "label": utt.label, "file": path, "pcm": pcm})
    if not clips:
        raise StageError(f"{store.manifest}: no test-split clip is at least one window "
                         f"({window.seconds:g} s) long")
    return clips


def stream_audio(config, count: int) -> dict:
    """The first `count` test clips, whole, one after another as int16 PCM cut to whole hops (the
    microphone of a streaming firmware never stops between them)."""
    store = feature_store(config)
    clips = []
    for utt in read_manifest(store.manifest, labels_for(config)):
        if utt.split == "test" and len(clips) < count:
            path = audio_file(utt, store.root, store.manifest.parent)
            with wave.open(path, "rb") as wav:
                first, last = utterance_segments(utt, Window(10 ** 6), store.frontend, wav.getnframes())[0]
                wav.setpos(first)
                clips.append({"utt_id": utt.utt_id, "label": utt.label,
                              "pcm": np.frombuffer(wav.readframes(last - first), "<i2")})
    if not clips:
        raise StageError(f"{store.manifest}: no test-split clip")
    pcm = np.concatenate([c["pcm"] for c in clips])
    pcm = pcm[:len(pcm) // store.frontend.frame_step * store.frontend.frame_step]
    return {"clips": [{k: c[k] for k in ("utt_id", "label")} | {"samples": len(c["pcm"])} for c in clips],
            "pcm": pcm}


def model_features(config, pcm: np.ndarray) -> np.ndarray:
    """The float model input the training pipeline makes of `pcm`: the TensorFlow front end and the
    stored normalization statistics (verify quantizes it with the bundle's input quantization)."""
    from ser_reparam.features import compute_features

    stats = feature_store(config).norm_stats()
    features = compute_features(pcm.astype(np.float32) / 32768.0, config.frontend).numpy()
    return normalize(features, np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32))


def model_blobs(config, record: dict) -> dict[str, bytes]:
    """The .tflite of each interpreter the firmware runs, in the order the app numbers them."""
    layout = RunLayout(config)
    if streams(record):
        return {name: layout.stream_piece(name).read_bytes() for name in PIECES}
    return {"model": (layout.quantized_dir / record["model"]["file"]).read_bytes()}


def firmware_inputs(config, board_key: str, count: int) -> tuple[Path, FirmwareInputs]:
    """The bundle of `board_key` and what its firmware is checked against: `count` test clips (a
    window each, or one stream of them when the bundle streams) with their model features."""
    bundle = bundle_dir(config, board_key)
    record = read_record(bundle)
    blobs = model_blobs(config, record)
    if streams(record):
        audio = stream_audio(config, count)
        features = model_features(config, audio["pcm"])
        return bundle, FirmwareInputs(blobs, stream={**audio, "features": features})
    clips = [{**clip, "features": model_features(config, clip["pcm"])}
             for clip in split_clips(config, count)]
    return bundle, FirmwareInputs(blobs, clips=clips)


def keras_layer(tensor_name: str) -> str:
    """The top-level Keras layer of a converted tensor name ('block1_ffn/ffn2;…' → 'block1_ffn');
    ops the converter made between layers (a bare 'strided_slice') → '(between layers)'."""
    parts = [p for p in tensor_name.split(";")[0].split("/") if p]
    if parts and parts[0] == "model":
        parts = parts[1:]
    return parts[0] if len(parts) > 1 else "(between layers)"


def layer_names(config, blobs: dict[str, bytes]) -> dict[str, list[str]]:
    """Each node's Keras layer. The deployed int8 files carry no tensor names (tflite.convert.slim_tflite),
    so the folded model (or its streaming pieces) is converted once more to float with names; a
    piece whose float graph has another op sequence than its int8 file gets "" for every node."""
    import tf_keras as keras

    from ser_reparam.models.streaming import GRAPH_NAMES, split_model
    from ser_reparam.tflite.convert import convert_piece, to_tflite
    from ser_reparam.tflite.ops import model_ops

    folded = keras.models.load_model(RunLayout(config).folded_model())
    if list(blobs) == ["model"]:
        floats = {"model": to_tflite(folded, "float")}
    else:
        pieces = split_model(folded)
        floats = {name: convert_piece(getattr(pieces, name), "float") for name in blobs}
    by_graph = {graph: piece for piece, graph in GRAPH_NAMES.items()}  # a piece's own graph: its name
    names = {}
    for name, blob in blobs.items():
        ops, named = [u.op for u in model_ops(blob)], model_ops(floats[name])
        layers = [by_graph.get(layer, layer) for layer in map(keras_layer, (u.output for u in named))]
        names[name] = layers if [u.op for u in named] == ops else [""] * len(ops)
    return names
