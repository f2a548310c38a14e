"""Tensor arena per board, measured with the board's own kernels, beside the reference kernels.

To run:  TFLM_DIR=… ESP_TFLM_DIR=… python benchmarks/board_arenas.py [--model int8.tflite]
             [--without-padding] [--docs]

Prints the board-arena table (--docs: rewrites its `board-arenas` block in docs/firmware-and-boards.md).
The model is the demo config's int8 ConvTransformer
(3 s window, 299 × 78 features), calibrated on random features: the arena depends on the graph's
shapes, not its weights' values (or --model: any int8 .tflite, e.g. a run's
quantized/int8.tflite). --without-padding builds the graph without the subsampling padding
(layers.subsampling_length), as the project built it before: the ESP32-S3 "before" column.
Each kernel library is built once by firmware_export.tflm_build (cached) and the smallest arena
bisected by firmware_export/arena_probe.cc; kTensorArenaSize is that + the export's margin.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from readme import docs_option, publish, shown_path, without_docs  # noqa: E402

from firmware_export.arena import arena_with_margin  # noqa: E402
from firmware_export.boards import load_boards  # noqa: E402
from firmware_export.kernels import KERNELS, measure_with  # noqa: E402
from ser_reparam.errors import BuildError  # noqa: E402
from ser_reparam.tflite.interpreters import tflm_arena_bytes  # noqa: E402

FRAMES, FEATURES, CLASSES = 299, 78, 4


def demo_model(padding: bool) -> bytes:
    from ser_reparam.models import build_model, layers
    from ser_reparam.tflite.convert import slim_tflite, to_tflite
    if not padding:
        layers.subsampling_length = lambda n: n
    model = build_model("convtransformer", "lightweight", CLASSES, FRAMES, FEATURES, deploy=True)
    calibration = np.random.default_rng(0).standard_normal((8, FRAMES, FEATURES)).astype(np.float32)
    return slim_tflite(to_tflite(model, "int8", lambda: iter(calibration)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an int8 .tflite (default: the demo's graph)")
    parser.add_argument("--without-padding", action="store_true",
                        help="the demo graph without the subsampling padding")
    docs_option(parser)
    parser.add_argument("--kernels", nargs="*", help="only these kernel libraries (default: every board's; "
                        "add `reference` for TFLM's reference kernels in a 32-bit host build)")
    args = parser.parse_args()
    blob = open(args.model, "rb").read() if args.model else demo_model(not args.without_padding)
    measured = {}
    for key in args.kernels or sorted({b.kernels for b in load_boards().values()}):
        try:
            measured[key] = measure_with(key, blob, log=print)
        except BuildError as error:
            measured[key] = {"error": str(error).splitlines()[0]}
    python = tflm_arena_bytes(blob)
    gcc = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    out = ["```",
           f"model: {args.model or 'demo ConvTransformer int8' + (' without padding' if args.without_padding else '')}"  # noqa: E501
           f" ({len(blob):,} B); machine: {platform.machine()}, {platform.python_version()}, {gcc}"]
    for key, result in measured.items():
        if "error" not in result:
            versions = {**result["versions"], "tree": shown_path(result["versions"]["tree"], "$TFLM_DIR")}
            out.append(f"{key}: {KERNELS[key].label}; {result['word_bytes'] * 8}-bit; {versions}")
    reference = measured.get("reference", {}).get("arena_min_bytes")
    if reference:
        out.append(f"reference kernels, 32-bit host build: {reference:,} B")
    s3 = measured.get("esp-nn-s3", {})
    if "softmax_scratch_overrun_bytes" in s3:
        out.append(f"ESP32-S3 softmax: {s3['softmax_scratch_overrun_bytes']} B written past the scratch "
                   "it asked for")
    out += ["```", "", "| board | kernels | arena with its kernels | arena with the reference kernels "
            "(Python TFLM, 64-bit) | difference | kTensorArenaSize |", "|---|---|---|---|---|---|"]
    for board in load_boards().values():
        result = measured.get(board.kernels, {"error": "not requested (--kernels)"})
        arena = result.get("arena_min_bytes")
        if arena is None:
            out.append(f"| {board.name} | {board.kernels} | not measured: {result['error']} | "
                       f"{python:,} B | | |")
            continue
        out.append(f"| {board.name} | {board.kernels} | {arena:,} B ({result['word_bytes'] * 8}-bit) | "
                   f"{python:,} B | {arena - python:+,} B | {arena_with_margin(arena):,} B |")
    flags = " ".join(without_docs(sys.argv[1:]))
    publish("board-arenas", "\n".join(out), sys.argv[1:],
            f"TFLM_DIR=… ESP_TFLM_DIR=… python benchmarks/board_arenas.py {flags}".rstrip())


if __name__ == "__main__":
    main()
