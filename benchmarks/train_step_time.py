"""Training step time of each lightweight architecture with and without HRF (ffn2 / all, r=8, depth 1).

To run:  python benchmarks/train_step_time.py [--batch 32] [--steps 10] [--hrf ffn2@8x1 all@8x1] [--docs]

The models of an architecture are timed side by side in one process on the same random
batch of 5 s clips (499 frames × 78 features); the ratios HRF / lightweight are what matter.
Prints a Markdown table; --docs also writes it into its `train-step-time` block (docs/results-performance.md).
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from readme import docs_option, publish  # noqa: E402
from timing import seconds_per_call  # noqa: E402

from ser_reparam.models import build_model  # noqa: E402

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
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the best counts (default 5)")
    docs_option(parser)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((args.batch, FRAMES, FEATURES)), tf.float32)
    y = tf.constant(rng.integers(0, 4, args.batch))
    lines = [f"One AdamW training step on {args.batch} clips × {FRAMES} frames × {FEATURES}; an "
             f"architecture's models take turns in one process, {args.steps} steps per turn, best of "
             f"{args.repeats} turns:", "",
             "| architecture | lightweight | " + " | ".join(args.hrf) + " |",
             "|---|---|" + "---|" * len(args.hrf)]
    for arch in ("convtransformer", "conformer", "speechformer"):
        keras.utils.set_random_seed(0)
        steps = {spec: train_step(build_model(arch, "lightweight", 4, FRAMES, hrf=spec), x, y)
                 for spec in ["none", *args.hrf]}
        seconds = seconds_per_call(steps, args.steps, args.repeats)
        light = seconds["none"]
        lines.append(f"| {arch} | {light * 1e3:.1f} ms | " +
                     " | ".join(f"{seconds[spec] / light:.2f}×" for spec in args.hrf) + " |")
    command = "python benchmarks/train_step_time.py" + (f" --steps {args.steps}"
                                                        if args.steps != 10 else "") + \
        (f" --repeats {args.repeats}" if args.repeats != 5 else "") + " --docs"
    publish("train-step-time", "\n".join(lines), sys.argv, command)


if __name__ == "__main__":
    main()
