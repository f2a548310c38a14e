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

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from ser_reparam.errors import InputError
from ser_reparam.tflite_schedule import pack_shared

NAME = "ser_reparam"
FORMAT = 1  # bump when a key changes meaning


def _model(model_bytes: bytes):
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))


def _pack(model) -> bytes:
    """Packed as slim_tflite packs: a slim model stays slim (and byte for byte what slimming gives)."""
    return pack_shared(model)


def embed_metadata(model_bytes: bytes, values: dict) -> bytes:
    """The model with `values` (JSON-serializable) as its `ser_reparam` metadata, replacing an
    older entry of that name; other metadata entries are kept."""
    model = _model(model_bytes)
    entries = [m for m in (model.metadata or []) if (m.name or b"").decode() != NAME]
    buffer = schema.BufferT()
    buffer.data = list(json.dumps({"format": FORMAT, **values}, sort_keys=True).encode())
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = NAME.encode(), len(model.buffers) - 1
    model.metadata = [*entries, entry]
    return _pack(model)


def read_metadata(model_bytes: bytes, where: str = "the model") -> dict:
    """The `ser_reparam` metadata of a .tflite; InputError naming `where` when it has none."""
    model = schema.Model.GetRootAsModel(model_bytes, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if (entry.Name() or b"").decode() == NAME:
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            return json.loads(bytes(data).decode())
    raise InputError(f"{where} carries no '{NAME}' metadata (labels, front end, statistics): it was not "
                     "written by ser-reparam stage 05 of this version; re-run stage 05 "
                     "(ser-reparam quantize <run folder>) or pass the run folder instead")


def strip_metadata(model_bytes: bytes) -> bytes:
    """The model without the `ser_reparam` entry and its buffer: the graph and weights alone."""
    model = _model(model_bytes)
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
    model = schema.Model.GetRootAsModel(model_bytes, 0)
    return any((model.Metadata(i).Name() or b"").decode() == NAME for i in range(model.MetadataLength()))


def run_metadata(config, model_bytes: bytes, model_name: str) -> dict:
    """The metadata of one deployed file of a run: every value read from the run, none retyped."""
    from ser_reparam import __version__
    from ser_reparam.config import config_hash
    from ser_reparam.experiment import feature_store, labels_for
    from ser_reparam.interpreters import quantization
    from ser_reparam.layout import RunLayout

    store, layout = feature_store(config), RunLayout(config)
    stats = store.norm_stats()
    return {"generator": f"ser-reparam {__version__}", "experiment": config.name, "variant": layout.variant,
            "model": model_name, "seed": layout.deployed_seed(), "config_hash": config_hash(config),
            "labels": list(labels_for(config)), "frontend": config.frontend.to_dict(),
            "normalization": {"mean": stats["mean"], "std": stats["std"], "frames": stats["frames"]},
            "window": {"seconds": config.data.window_s, "hop_seconds": config.data.window_s,
                       "split_long": config.data.split_long,
                       "frames": store.window.num_frames(config.frontend)},
            "quantization": quantization(model_bytes)}
