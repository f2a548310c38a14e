"""kTensorArenaSize: the arena measured with the board's own kernels, plus a stated margin.

firmware_export.kernels measures the smallest arena with which TFLM allocates and invokes the
model, built with the board's kernel library (CMSIS-NN, ESP-NN, ESP-NN with the ESP32-S3 scratch
rules) at its word size. Without that library's source tree the number is a labelled estimate
(see kernels.py). MARGIN_BYTES + MARGIN_FRACTION on top cover what the host build cannot show
(the ESP32-S3 assembly itself, a newer kernel version), rounded up to 16 bytes.
"""
from __future__ import annotations

import math
import sys

from firmware_export import kernels as kernel_libs
from firmware_export.tflm_build import BuildError, TARGETS, find_tree
from ser_reparam.interpreters import tflm_arena_bytes

MARGIN_FRACTION = 0.02
MARGIN_BYTES = 4096


def arena_with_margin(measured: int) -> int:
    return int(math.ceil((measured * (1 + MARGIN_FRACTION) + MARGIN_BYTES) / 16) * 16)


def measure_arena(model_bytes: bytes, board, log=None) -> dict:
    """The arena block of the manifest for `board`: measured with its kernels when their tree is
    there (`measured_bytes`), else the labelled estimate; the reference-kernel arena beside it."""
    if board.kernels not in kernel_libs.KERNELS:
        raise ValueError(f"boards.yaml: board {board.key!r}: unknown kernels {board.kernels!r}; "
                         f"choose one of {', '.join(kernel_libs.KERNELS)}")
    libs = kernel_libs.KERNELS[board.kernels]
    target = TARGETS[libs.target]
    try:
        find_tree(target)
        available, why = True, ""
    except BuildError as missing:
        available, why = False, str(missing).split(";")[0]
    if available:  # the first time per tree and flags, this compiles the library (minutes): say so
        result = kernel_libs.measure_with(board.kernels, model_bytes,
                                          log=log or (lambda line: print(line, file=sys.stderr, flush=True)))
        arena = {"fidelity": "measured", "measured_bytes": result["arena_min_bytes"],
                 "arena_used_bytes": result["arena_used_bytes"], "word_bytes": result["word_bytes"],
                 "versions": result["versions"], "reference_bytes": tflm_arena_bytes(model_bytes),
                 "method": f"arena_probe built with {libs.label} ({libs.target}), bisected"}
    else:
        result = kernel_libs.estimate(board.kernels, model_bytes, why)
        arena = {"fidelity": "estimate", "measured_bytes": result["arena_min_bytes"],
                 "word_bytes": result["word_bytes"], "reference_bytes": result["reference_bytes"],
                 "known_scratch_bytes": result["known_scratch_bytes"], "method": result["method"],
                 "missing": f"{why}: set {target.env} to measure with {libs.label}"}
    note = libs.note
    if board.kernels == "cmsis-nn" and board.core != "cortex-m4":
        note = f"measured with the Cortex-M4F build; the {board.core} may take other CMSIS-NN code paths"
    return {"kernels": board.kernels, "kernels_label": libs.label, **arena, **({"note": note} if note else {}),
            "margin": f"{MARGIN_FRACTION:.0%} + {MARGIN_BYTES} B",
            "kTensorArenaSize": arena_with_margin(arena["measured_bytes"])}
