"""The six IEMOCAP presets against the paper: parameters, MACs, and int8 TFLite bytes.

To run:  python benchmarks/model_sizes.py [--docs]
         (--docs: rewrite its block in docs/results-performance.md)

Prints the model table. MACs are counted with and without the attention
score/context products (the paper's counts look like a layer-level counter that misses
them). The int8 size is that of a file made the way stage 05 makes it (the deploy graph,
quantize defaults — per-tensor dense —, ser_reparam.tflite.convert.slim_tflite), calibrated on
random features, with every weight randomized first: the converter shares identical constant
buffers, so an untrained model (zero biases, unit norm scales) gives a smaller file than a
trained one.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from readme import publish  # noqa: E402

from ser_reparam.config import QuantizeConfig  # noqa: E402
from ser_reparam.models import build_model  # noqa: E402
from ser_reparam.profile import count_flops, count_params  # noqa: E402
from ser_reparam.tflite.convert import slim_tflite, to_tflite  # noqa: E402

FRAMES, FEATURES = 499, 78
PAPER = {  # IEMOCAP, 4 classes, 5 s: (params, FLOPs)
    ("convtransformer", "original"): (801e3, 226e6), ("convtransformer", "lightweight"): (9e3, 7e6),
    ("conformer", "original"): (809e3, 227e6), ("conformer", "lightweight"): (10e3, 7e6),
    ("speechformer", "original"): (323e3, 50e6), ("speechformer", "lightweight"): (3e3, 1e6),
}


def table() -> str:
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((8, FRAMES, FEATURES)).astype(np.float32)
    per_channel = QuantizeConfig().per_channel_dense  # what stage 05 deploys by default
    lines = ["| model | preset | params (paper) | params (ours) | MACs (paper) | MACs (ours) "
             "| MACs w/o attention products | int8 .tflite (5 s) |", "|---|---|---|---|---|---|---|---|"]
    for (arch, preset), (paper_params, paper_flops) in PAPER.items():
        model = build_model(arch, preset, 4, FRAMES, deploy=True)
        params = count_params(model)
        macs = count_flops(model, (FRAMES, FEATURES))
        macs_layers = count_flops(model, (FRAMES, FEATURES), attention=False)
        size = "—"
        if preset == "lightweight":
            for weight in model.weights:  # distinct values everywhere, as after training
                weight.assign(rng.normal(0.0, 0.1, tuple(weight.shape)).astype(np.float32)
                              + 0.5 * (len(weight.shape) < 2))
            blob = to_tflite(model, "int8", lambda: iter(calibration), per_channel_dense=per_channel)
            size = f"{len(slim_tflite(blob)):,} B"
        lines.append(f"| {arch} | {preset} | {paper_params / 1e3:.0f}K | {params / 1e3:.1f}K "
                     f"({params / paper_params - 1:+.1%}) | {paper_flops / 1e6:.0f}M | {macs / 1e6:.1f}M "
                     f"| {macs_layers / 1e6:.1f}M | {size} |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    publish("model-sizes", table(), argv, "python benchmarks/model_sizes.py --docs")


if __name__ == "__main__":
    main(sys.argv[1:])
