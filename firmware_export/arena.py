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
from firmware_export.tflm_build import TARGETS, find_tree
from ser_reparam.errors import BuildError
from ser_reparam.tflite.interpreters import tflm_arena_bytes

MARGIN_FRACTION = 0.02
MARGIN_BYTES = 4096


def arena_with_margin(measured: int) -> int:
    return int(math.ceil((measured * (1 + MARGIN_FRACTION) + MARGIN_BYTES) / 16) * 16)


def _tree_missing(target) -> str:
    """Why the kernel library's tree is not there and which variable to set ("" when it is): the
    first clause of find_tree's message (what is missing), then the fix once."""
    try:
        find_tree(target)
        return ""
    except BuildError as missing:
        return f"{str(missing).split(';')[0]}: set {target.env} to that tree"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _board_kernels(board) -> tuple[kernel_libs.Kernels, str]:
    """The board's kernel library and why its tree is not there ("" when it is)."""
    if board.kernels not in kernel_libs.KERNELS:
        raise ValueError(f"boards.yaml: board {board.key!r}: unknown kernels {board.kernels!r}; "
                         f"choose one of {', '.join(kernel_libs.KERNELS)}")
    libs = kernel_libs.KERNELS[board.kernels]
    return libs, _tree_missing(TARGETS[libs.target])


def _arena_block(board, libs: kernel_libs.Kernels, arena: dict, **extra) -> dict:
    """The manifest's arena block around a measurement: kernels, the note on what the measurement
    cannot show, the margin and kTensorArenaSize (whole window and streaming alike)."""
    note = libs.note
    if board.kernels == "cmsis-nn" and board.core != "cortex-m4":
        note = f"measured with the Cortex-M4F build; the {board.core} may take other CMSIS-NN code paths"
    return {"kernels": board.kernels, "kernels_label": libs.label, **arena, **extra,
            **({"note": note} if note else {}),
            "margin": f"{MARGIN_FRACTION:.0%} + {MARGIN_BYTES} B",
            "kTensorArenaSize": arena_with_margin(arena["measured_bytes"])}


def measure_arena(model_bytes: bytes, board, log=None) -> dict:
    """The arena block of the manifest for `board`: measured with its kernels when their tree is
    there (`measured_bytes`), else the labelled estimate; the reference-kernel arena beside it."""
    libs, missing = _board_kernels(board)
    if not missing:  # the first time per tree and flags, this compiles the library (minutes): say so
        result = kernel_libs.measure_with(board.kernels, model_bytes, log=log or _stderr)
        arena = {"fidelity": "measured", "measured_bytes": result["arena_min_bytes"],
                 "arena_used_bytes": result["arena_used_bytes"], "word_bytes": result["word_bytes"],
                 "versions": result["versions"], "reference_bytes": tflm_arena_bytes(model_bytes),
                 "method": f"arena_probe built with {libs.label} ({libs.target}), bisected"}
    else:
        result = kernel_libs.estimate(board.kernels, model_bytes, missing)
        arena = {"fidelity": "estimate", "measured_bytes": result["arena_min_bytes"],
                 "word_bytes": result["word_bytes"], "reference_bytes": result["reference_bytes"],
                 "known_scratch_bytes": result["known_scratch_bytes"], "method": result["method"],
                 "missing": missing}
    return _arena_block(board, libs, arena)


def measure_stream_arena(blobs: dict[str, bytes], board, log=None) -> dict:
    """The arena block of a streaming bundle's manifest: every piece's own arena and the ONE arena
    the three share (ser_stream_app.cc: one tflite::MicroAllocator, persistent data per piece at
    the tail, the head shared) measured with the board's kernels when their tree is there; else the
    labelled estimate — each piece on the Python TFLM interpreter, and as the shared arena their
    sum (an upper bound: the pieces' heads are not shared in it)."""
    libs, missing = _board_kernels(board)
    reference = {name: tflm_arena_bytes(blob) for name, blob in blobs.items()}
    if not missing:
        result = kernel_libs.measure_pieces_with(board.kernels, blobs, log=log or _stderr)
        arena = {"fidelity": "measured", "measured_bytes": result["shared_arena_min_bytes"],
                 "arena_used_bytes": result["shared_arena_used_bytes"], "pieces_bytes": result["pieces"],
                 "word_bytes": result["word_bytes"], "versions": result["versions"],
                 "method": f"arena_probe built with {libs.label} ({libs.target}): each piece alone and the "
                           "three in one arena (one MicroAllocator), bisected"}
    else:
        arena = {"fidelity": "estimate", "measured_bytes": sum(reference.values()), "pieces_bytes": reference,
                 "word_bytes": 8, "method": "Python TFLM interpreter (reference kernels, 64-bit "
                                            "host): the sum of the pieces' own arenas (an upper bound for "
                                            "the shared one)",
                 "missing": missing}
    return _arena_block(board, libs, arena, reference_bytes=reference,
                        shared="one arena for the three pieces (one tflite::MicroAllocator)")
