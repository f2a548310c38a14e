"""Whole-window vs streaming deployment, 3 s and 5 s windows, the three lightweight models:
arena, total device RAM, flash and MACs per second of audio, measured on the int8 files.

To run:  python benchmarks/streaming_memory.py [--docs]   (--docs: rewrite its block in docs/streaming.md)

Each model is built at the window's length with randomized weights (distinct values, as after
training: the converter shares identical constants) and converted the way stage 05 converts
(ser_reparam.quantize: the lean whole-window graph) or split into the streaming pieces A / B /
C (ser_reparam.models.streaming), int8 calibrated on random features. Arenas are measured with
TFLite Micro + CMSIS-NN for the Cortex-M4F under QEMU (firmware_export.kernels, `TFLM_DIR`);
without that tree, with the Python TFLM interpreter (64-bit host, reference kernels), and the
table says which. The streaming arena is the ONE arena the three pieces share in the firmware
(ser_stream_app.cc: one MicroAllocator), each piece's own in parentheses; without the tree, the
sum of the pieces' own (an upper bound). Total RAM = arena (as measured, before the export's
+2 % + 4 KB margin) + the application state (streaming: frame ring, X / K / V, attend's outputs,
ser_reparam.models.stream_geometry.state_bytes) + the C front end with the CMSIS-DSP FFT
(frontend_tables: whole window ser_frontend_t, streaming ser_stream_t). MACs per second: one label
per second over the last window (sliding), i.e.
the whole-window model once per second, or A for each of the second's 25 steps plus B for
every query chunk and C once.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from readme import publish  # noqa: E402

from firmware_export.frontend_tables import frontend_state_bytes, stream_state_bytes  # noqa: E402
from ser_reparam.config import QuantizeConfig  # noqa: E402
from ser_reparam.errors import NotStreamable  # noqa: E402
from ser_reparam.features import FrontendConfig  # noqa: E402
from ser_reparam.models import build_model  # noqa: E402
from ser_reparam.models.stream_geometry import PIECES, STEP_FRAMES  # noqa: E402
from ser_reparam.models.streaming import piece_macs, split_model  # noqa: E402
from ser_reparam.profile import count_flops  # noqa: E402
from ser_reparam.quantize import quantize_pieces  # noqa: E402
from ser_reparam.tflite.convert import slim_tflite, to_tflite  # noqa: E402

# (row name, architecture, classifier head): the paper's head, and the real-speech configs' head
# (configs/emodb- and ravdess-convtransformer.yaml: mean and mean-square pooling, 16 → 16 units)
MODELS = (("convtransformer", "convtransformer", {}),
          ("convtransformer, recipe head", "convtransformer", {"pooling": "mean_sq", "cls_units": (16, 16)}),
          ("conformer", "conformer", {}), ("speechformer", "speechformer", {}))
WINDOWS = {3: 299, 5: 499}  # seconds → feature frames at a 10 ms hop
LABEL_HOP_S = 1.0
STEPS_PER_S = 100 // STEP_FRAMES


def arena(blob: bytes) -> tuple[int, str]:
    from firmware_export.kernels import measure_with
    from ser_reparam.errors import BuildError
    from ser_reparam.tflite.interpreters import tflm_arena_bytes

    try:
        return measure_with("cmsis-nn", blob)["arena_min_bytes"], "TFLM + CMSIS-NN, Cortex-M4F (QEMU)"
    except BuildError:
        return tflm_arena_bytes(blob), "Python TFLM interpreter (64-bit host, reference kernels)"


def shared_arena(blobs: dict[str, bytes]) -> tuple[int, dict[str, int]]:
    """The one arena the pieces share and each piece's own (the sum when only Python can measure)."""
    from firmware_export.kernels import measure_pieces_with
    from ser_reparam.errors import BuildError

    try:
        measured = measure_pieces_with("cmsis-nn", blobs)
        return measured["shared_arena_min_bytes"], measured["pieces"]
    except BuildError:
        own = {name: arena(blob)[0] for name, blob in blobs.items()}
        return sum(own.values()), own


def randomized(arch: str, frames: int, rng, **head) -> object:
    model = build_model(arch, "lightweight", 4, frames, 78, deploy=True, **head)
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.1, tuple(weight.shape)).astype(np.float32)
                      + 0.5 * (len(weight.shape) < 2))
    return model


def rows() -> tuple[list[str], set[str]]:
    rng = np.random.default_rng(0)
    per_channel = QuantizeConfig().per_channel_dense
    frontend = FrontendConfig()
    lines, methods = [], set()
    for row, arch, head in MODELS:
        for seconds, frames in WINDOWS.items():
            model = randomized(arch, frames, rng, **head)
            calibration = rng.standard_normal((8, frames, 78)).astype(np.float32)
            blob = slim_tflite(to_tflite(model, "int8", lambda: iter(calibration),
                                         per_channel_dense=per_channel))
            size, method = arena(blob)
            methods.add(method)
            macs = count_flops(model, (frames, 78)) / LABEL_HOP_S
            front = frontend_state_bytes(frontend, frames, cmsis=True)
            lines.append(f"| {row} | {seconds} s | whole window | {size:,} | — | {front:,} | "
                         f"{size + front:,} | {len(blob):,} | {macs / 1e6:.2f}M |")
            try:
                pieces = split_model(model)
            except NotStreamable:
                lines.append(f"| {row} | {seconds} s | streaming | does not stream exactly "
                             "(docs/streaming.md) | | | | | |")
                continue
            blobs = {name: slim_tflite(b)
                     for name, b in quantize_pieces(pieces, calibration, per_channel)[0].items()}
            shared, own = shared_arena(blobs)
            chunks = pieces.geometry.chunks
            macs = (STEPS_PER_S * piece_macs(pieces.step) + (chunks * piece_macs(pieces.attend)
                                                             + piece_macs(pieces.classify)) / LABEL_HOP_S)
            state = pieces.geometry.state_bytes
            front = stream_state_bytes(frontend, cmsis=True)
            lines.append(f"| {row} | {seconds} s | streaming | {shared:,} (step / attend / classify alone: "
                         f"{' / '.join(f'{own[n]:,}' for n in PIECES)}) | {state:,} | {front:,} | "
                         f"{shared + state + front:,} | {sum(map(len, blobs.values())):,} | "
                         f"{macs / 1e6:.2f}M |")
    return lines, methods


def table() -> str:
    lines, methods = rows()
    header = ["| model (lightweight, int8) | window | deployment | arena bytes | application state bytes "
              "| C front end bytes | total RAM bytes | flash bytes (.tflite) | MACs per second of audio |",
              "|---|---|---|---|---|---|---|---|---|"]
    return ("\n".join(header + lines)
            + f"\n\nArenas measured with {' and '.join(sorted(methods))}, before the export's margin "
              "(+2 % + 4 KB in kTensorArenaSize); the C front end with the CMSIS-DSP FFT.")


def main(argv: list[str]) -> None:
    publish("streaming-memory", table(), argv, "python benchmarks/streaming_memory.py --docs")


if __name__ == "__main__":
    main(sys.argv[1:])
