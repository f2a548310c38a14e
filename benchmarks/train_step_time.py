"""Training step time of each lightweight architecture with and without HRF (ffn2 / all, r=8, depth 1).

To run:  python benchmarks/train_step_time.py [--batch 32] [--steps 10] [--hrf ffn2@8x1 all@8x1]

The models of an architecture are timed side by side in one process on the same random
batch of 5 s clips (499 frames × 78 features); the ratios HRF / lightweight are what matter.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from ser_reparam.models import build_model  # noqa: E402
from timing import seconds_per_call  # noqa: E402

FRAMES, FEATURES = 499, 78


def train_step(model, x, y):
    """A compiled AdamW step (the paper's optimizer) of `model` on one batch."""
    optimizer = keras.optimizers.AdamW(1e-3, weight_decay=1e-6)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--hrf", nargs="+", default=["ffn2@8x1", "all@8x1"],
                        help="placements of the HRF models (default ffn2@8x1 all@8x1)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((args.batch, FRAMES, FEATURES)), tf.float32)
    y = tf.constant(rng.integers(0, 4, args.batch))
    print(f"batch {args.batch} × {FRAMES} frames × {FEATURES}: ms per training step, ratio to lightweight")
    print(f"{'architecture':<16}{'lightweight':>12}" + "".join(f"{spec:>22}" for spec in args.hrf))
    for arch in ("convtransformer", "conformer", "speechformer"):
        keras.utils.set_random_seed(0)
        steps = {spec: train_step(build_model(arch, "lightweight", 4, FRAMES, hrf=spec), x, y)
                 for spec in ["none", *args.hrf]}
        seconds = seconds_per_call(steps, args.steps)
        light = seconds["none"]
        print(f"{arch:<16}{light * 1e3:>10.1f}ms" + "".join(
            f"{seconds[spec] * 1e3:>13.1f}ms ({seconds[spec] / light:.2f}x)" for spec in args.hrf))

if __name__ == "__main__":
    main()
