"""What a deployed .tflite needs to stand alone, stored inside it.

TFLite's own mechanism (the schema's `metadata` list, as Silicon Labs MLTK uses it): an entry
named `ser_reparam` pointing at a buffer that holds UTF-8 JSON — labels, the front-end config,
the training-split normalization statistics, window and hop, the input / output quantization,
experiment, variant, seed and config hash. TFLite and TFLite Micro interpreters skip metadata,
so the model runs unchanged; `predict` and the firmware export read it back, so a .tflite file
alone is enough to classify audio or regenerate a firmware bundle.
"""
from __future__ import annotations

import json
import math
import struct
import unicodedata

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from ser_reparam.errors import InputError
from ser_reparam.tflite.flatbuffer import pack_shared, read, unpack

NAME = "ser_reparam"
FORMAT = 1  # bump when a key changes meaning
KEYS = ("labels", "frontend", "normalization", "window", "experiment", "variant", "seed", "quantization")
IDENTIFIER = b"TFL3"  # the flatbuffer file identifier of every .tflite
MIN_RATE, MAX_RATE = 4000, 384000  # Hz: the rates audio is sampled at
MAX_NFFT = 1 << 16
REWRITE = "re-run stage 05 (ser-reparam quantize <run folder> --force) to write it again"


def _pack(model) -> bytes:
    """Packed as slim_tflite packs: a slim model stays slim (and byte for byte what slimming gives)."""
    return pack_shared(model)


def embed_metadata(model_bytes: bytes, values: dict) -> bytes:
    """The model with `values` (JSON-serializable) as its `ser_reparam` metadata, replacing an
    older entry of that name; other metadata entries are kept."""
    model = unpack(model_bytes)
    entries = [m for m in (model.metadata or []) if (m.name or b"").decode() != NAME]
    buffer = schema.BufferT()
    buffer.data = list(json.dumps({"format": FORMAT, **values}, sort_keys=True).encode())
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = NAME.encode(), len(model.buffers) - 1
    model.metadata = [*entries, entry]
    return _pack(model)


def parse_tflite(model_bytes: bytes, where: str = "the model"):
    """The .tflite as the schema's object tree; InputError naming `where` for an empty, text,
    truncated or corrupt file (unpacking reads every table, so a damaged one cannot pass on to
    an interpreter)."""
    if len(model_bytes) < 8 or bytes(model_bytes[4:8]) != IDENTIFIER:
        raise InputError(f"{where} is not a TFLite model ({len(model_bytes):,} bytes without the "
                         f"{IDENTIFIER.decode()} mark): give the .tflite stage 05 wrote "
                         "(<run folder>/quantized/)")
    try:
        model = unpack(bytes(model_bytes))
    except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError) as error:
        raise InputError(f"{where} is a damaged TFLite model (truncated or corrupt: {error}): copy it "
                         f"again or {REWRITE}") from None
    graph = model.subgraphs[0] if model.subgraphs else None
    if graph is None or not len(graph.inputs if graph.inputs is not None else []) \
            or not len(graph.outputs if graph.outputs is not None else []):
        raise InputError(f"{where} is a TFLite model without a graph input and output: give the .tflite "
                         "stage 05 wrote")
    return model


def _stored_text(model, where: str) -> str | None:
    """The text of the `ser_reparam` entry, None when there is none."""
    for entry in model.metadata or []:
        if (entry.name or b"").decode(errors="replace") == NAME:
            data = model.buffers[entry.buffer].data if entry.buffer < len(model.buffers) else None
            try:
                return bytes(bytearray(data if data is not None else [])).decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{where}: its '{NAME}' metadata is not UTF-8 text: {REWRITE}") from None
    return None


def read_metadata(model_bytes: bytes, where: str = "the model") -> dict:
    """The `ser_reparam` metadata of a .tflite, checked against the model (check_metadata);
    InputError naming `where` when the file is damaged or the metadata missing or wrong."""
    model = parse_tflite(model_bytes, where)
    text = _stored_text(model, where)
    if text is None:
        raise InputError(f"{where} carries no '{NAME}' metadata (labels, front end, statistics): it was not "
                         "written by ser-reparam stage 05 of this version; re-run stage 05 "
                         "(ser-reparam quantize <run folder>) or pass the run folder instead")
    try:
        metadata = json.loads(text)
    except ValueError as error:
        raise InputError(f"{where}: its '{NAME}' metadata is not valid JSON ({error}): {REWRITE}") from None
    graph = model.subgraphs[0]
    shapes = [[int(d) for d in graph.tensors[i].shape] for i in (graph.inputs[0], graph.outputs[0])]
    check_metadata(metadata, *shapes, where=where)
    return metadata


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value) -> bool:
    return _number(value) and value > 0


def label_problem(label) -> str | None:
    """Why `label` cannot name a class (it becomes a C string, a CSV column), or None."""
    if not isinstance(label, str) or not label.strip():
        return f"label {label!r} is not a non-empty string"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in label):
        return f"label {label!r} holds control characters"
    return None


def _label_problems(labels, outputs: int) -> list[str]:
    if not isinstance(labels, list) or len(labels) != outputs:
        count = len(labels) if isinstance(labels, list) else type(labels).__name__
        return [f"labels: {count} for the model's {outputs} outputs"]
    problems = [p for p in map(label_problem, labels) if p]
    return problems + (["labels repeat"] if len(set(map(str, labels))) != len(labels) else [])


def _frontend_problems(values, frames: int, features: int) -> list[str]:
    """The front end must build, sample at an audio rate and make the model's features."""
    from ser_reparam.features import FrontendConfig

    try:
        frontend = FrontendConfig(**values)
        checks = [
            (isinstance(frontend.sample_rate, int) and MIN_RATE <= frontend.sample_rate <= MAX_RATE,
             f"frontend.sample_rate {frontend.sample_rate!r} is not {MIN_RATE}–{MAX_RATE} Hz"),
            (_positive(frontend.frame_step_ms) and frontend.frame_step >= 1,
             f"frontend.frame_step_ms {frontend.frame_step_ms!r} is not a positive step"),
            (isinstance(frontend.nfft, int) and frontend.nfft <= MAX_NFFT,
             f"frontend.nfft {frontend.nfft!r} is not a power of two up to {MAX_NFFT}"),
            (isinstance(frontend.delta_window, int) and 1 <= frontend.delta_window <= frames,
             f"frontend.delta_window {frontend.delta_window!r} is not 1 to the model's {frames} frames"),
            (isinstance(frontend.num_filters, int) and frontend.num_features == features,
             f"frontend: {frontend.num_features} features for the model's {features}")]
    except (TypeError, ValueError) as error:
        return [f"frontend: {error}"]
    return [problem for ok, problem in checks if not ok][:1]


def _window_problems(window, frames: int) -> list[str]:
    if isinstance(window, dict) and window.get("frames") == frames and _positive(window.get("seconds")) \
            and _positive(window.get("hop_seconds")):
        return []
    return [f"window {window!r} needs frames = the model's {frames}, positive seconds and hop_seconds"]


def _normalization_problems(norm, features: int) -> list[str]:
    """A finite mean and a positive std per feature: the front end divides by std."""
    problems = []
    for key in ("mean", "std"):
        values = norm.get(key) if isinstance(norm, dict) else None
        if not (isinstance(values, list) and len(values) == features and all(map(_number, values))):
            problems.append(f"normalization.{key} is not {features} finite numbers (one per model feature)")
        elif key == "std" and min(values) <= 0:
            problems.append("normalization.std has values <= 0")
    return problems


def _record_problems(meta: dict) -> list[str]:
    """The provenance strings and the quantization record."""
    problems = [f"{key} {meta[key]!r} is not a string" for key in ("experiment", "variant")
                if not isinstance(meta[key], str)]
    if not isinstance(meta["seed"], int) or isinstance(meta["seed"], bool):
        problems.append(f"seed {meta['seed']!r} is not an integer")
    if not isinstance(meta["quantization"], dict):
        problems.append(f"quantization {meta['quantization']!r} is not an object")
    return problems


def check_metadata(meta, input_shape: list[int], output_shape: list[int], where: str = "the model") -> None:
    """InputError naming `where` unless `meta` has every key, each value fitting the model with
    these input (1, frames, features) and output (1, classes) shapes: a label per output, the
    input's frames and features, positive std, an audio sample rate."""
    if not isinstance(meta, dict):
        raise InputError(f"{where}: its '{NAME}' metadata is a {type(meta).__name__}, not an object: "
                         f"{REWRITE}")
    if meta.get("format") != FORMAT:
        raise InputError(f"{where}: its '{NAME}' metadata has format {meta.get('format')!r}, this version "
                         f"reads {FORMAT}: {REWRITE}")
    missing = [key for key in KEYS if key not in meta]
    if missing:
        raise InputError(f"{where}: its '{NAME}' metadata lacks {', '.join(missing)}: {REWRITE}")
    frames, features = (list(input_shape) + [0, 0, 0])[1:3]
    problems = (_label_problems(meta["labels"], output_shape[-1] if output_shape else 0)
                + _frontend_problems(meta["frontend"], frames, features)
                + _window_problems(meta["window"], frames)
                + _normalization_problems(meta["normalization"], features) + _record_problems(meta))
    if problems:
        raise InputError(f"{where}: its '{NAME}' metadata does not fit the model: {'; '.join(problems)}: "
                         f"{REWRITE}")


def strip_metadata(model_bytes: bytes) -> bytes:
    """The model without the `ser_reparam` entry and its buffer: the graph and weights alone."""
    model = unpack(model_bytes)
    ours = [m for m in (model.metadata or []) if (m.name or b"").decode() == NAME]
    if not ours:
        return model_bytes
    dropped = {m.buffer for m in ours}
    keep = [i for i in range(len(model.buffers)) if i not in dropped]
    renumber = {old: new for new, old in enumerate(keep)}
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.buffer = renumber[tensor.buffer]
    model.buffers = [model.buffers[i] for i in keep]
    model.metadata = [m for m in model.metadata if m not in ours] or None
    for m in model.metadata or []:
        m.buffer = renumber[m.buffer]
    return _pack(model)


def has_metadata(model_bytes: bytes) -> bool:
    model = read(model_bytes)
    return any((model.Metadata(i).Name() or b"").decode() == NAME for i in range(model.MetadataLength()))


def run_metadata(config, model_bytes: bytes, model_name: str) -> dict:
    """The metadata of one deployed file of a run: every value read from the run, none retyped."""
    from ser_reparam import __version__
    from ser_reparam.config import config_hash
    from ser_reparam.experiment import feature_store, labels_for
    from ser_reparam.layout import RunLayout
    from ser_reparam.tflite.interpreters import quantization

    store, layout = feature_store(config), RunLayout(config)
    stats = store.norm_stats()
    return {"generator": f"ser-reparam {__version__}", "experiment": config.name, "variant": layout.variant,
            "model": model_name, "seed": layout.deployed_seed(), "config_hash": config_hash(config),
            "labels": list(labels_for(config)), "frontend": config.frontend.to_dict(),
            "normalization": {"mean": stats["mean"], "std": stats["std"], "frames": stats["frames"]},
            "window": {"seconds": config.data.window_seconds, "hop_seconds": config.data.window_seconds,
                       "split_long": config.data.split_long,
                       "frames": store.window.num_frames(config.frontend)},
            "quantization": quantization(model_bytes)}
