"""kTensorArenaSize: the arena measured with the TFLite Micro interpreter, plus a stated margin.

The measurement (ser_reparam.interpreters.tflm_arena_bytes) bisects the smallest arena with
which the real TFLM runtime allocates and invokes the model, on the 64-bit host with the
reference kernels. On a 32-bit MCU the interpreter's per-tensor and per-node structs are
smaller (pointers of 4 bytes: about 1–2 KB less for these ~80-tensor models), while optimized
kernels (CMSIS-NN, ESP-NN) may request scratch buffers the reference kernels do not (for
these models' 3×3 convolutions, fully connected and batch-matmul layers, well under 2 KB).
MARGIN_BYTES + MARGIN_FRACTION on top covers that, rounded up to 16 bytes.
"""
from __future__ import annotations

import math

from ser_reparam.interpreters import tflm_arena_bytes

MARGIN_FRACTION = 0.02
MARGIN_BYTES = 4096


def arena_with_margin(measured: int) -> int:
    return int(math.ceil((measured * (1 + MARGIN_FRACTION) + MARGIN_BYTES) / 16) * 16)


def measure_arena(model_bytes: bytes) -> dict:
    measured = tflm_arena_bytes(model_bytes)
    return {"measured_bytes": measured, "margin": f"{MARGIN_FRACTION:.0%} + {MARGIN_BYTES} B",
            "kTensorArenaSize": arena_with_margin(measured)}
