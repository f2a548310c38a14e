"""The six IEMOCAP presets against the paper: parameters, MACs, and int8 TFLite bytes.

To run:  python benchmarks/model_sizes.py

Prints the README's model table. MACs are counted with and without the attention
score/context products (the paper's counts look like a layer-level counter that misses
them). The int8 size is that of the deployed file (ser_reparam.quantize.slim_tflite),
calibrated on random features: the size does not depend on the weights' values.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from ser_reparam.models import build_model  # noqa: E402
from ser_reparam.profile import count_flops, count_params  # noqa: E402
from ser_reparam.quantize import slim_tflite, to_tflite  # noqa: E402

FRAMES, FEATURES = 499, 78
PAPER = {  # IEMOCAP, 4 classes, 5 s: (params, FLOPs)
    ("convtransformer", "original"): (801e3, 226e6), ("convtransformer", "lightweight"): (9e3, 7e6),
    ("conformer", "original"): (809e3, 227e6), ("conformer", "lightweight"): (10e3, 7e6),
    ("speechformer", "original"): (323e3, 50e6), ("speechformer", "lightweight"): (3e3, 1e6),
}


def main() -> None:
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((8, FRAMES, FEATURES)).astype(np.float32)
    print("| model | preset | params (paper) | params (ours) | MACs (paper) | MACs (ours) "
          "| MACs w/o attention products | int8 .tflite |")
    print("|---|---|---|---|---|---|---|---|")
    for (arch, preset), (paper_params, paper_flops) in PAPER.items():
        model = build_model(arch, preset, 4, FRAMES)
        params = count_params(model)
        macs = count_flops(model, (FRAMES, FEATURES))
        macs_layers = count_flops(model, (FRAMES, FEATURES), attention=False)
        size = "—"
        if preset == "lightweight":
            size = f"{len(slim_tflite(to_tflite(model, 'int8', lambda: iter(calibration)))):,} B"
        print(f"| {arch} | {preset} | {paper_params / 1e3:.0f}K | {params / 1e3:.1f}K ({params / paper_params - 1:+.1%}) "
              f"| {paper_flops / 1e6:.0f}M | {macs / 1e6:.1f}M | {macs_layers / 1e6:.1f}M | {size} |")


if __name__ == "__main__":
    main()
