"""Training step time of one HRF layer: plain Dense vs HRFDense vs the naive factor chain.

To run:  python benchmarks/hrf_step_time.py [--rows 16000] [--steps 50] [--depth 1]

HRFDense multiplies its factors first and applies one matmul; the naive alternative applies
the factors to the activations one after another, as a stack of Dense layers would. Both
compute the same function with the same gradients; this script times a training step of each
against a plain Dense layer of the folded size, side by side in one process, and prints the
ratios. Default sizes are the lightweight FFN2 of the paper (16 → 4, ratio 8, depth 1) on a
batch of 32 clips × 500 frames.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from ser_reparam.hrf import HRFDense  # noqa: E402
from timing import seconds_per_call  # noqa: E402


def naive_chain(units: int, ratio: int, depth: int) -> keras.Sequential:
    """The factor chain as a stack of Dense layers (the per-activation implementation)."""
    widths = [ratio * units] * depth + [units]
    return keras.Sequential([keras.layers.Dense(w) for w in widths])


def train_step(layer, x):
    """A compiled SGD step on mean(layer(x)²)."""
    layer(x)
    optimizer = keras.optimizers.SGD(1e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x)))
        grads = tape.gradient(loss, layer.trainable_weights)
        optimizer.apply_gradients(zip(grads, layer.trainable_weights))

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32 * 500, help="frames per batch (default 16000)")
    parser.add_argument("--in-dim", type=int, default=16)
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--ratio", type=int, default=8)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    x = tf.constant(np.random.default_rng(0).standard_normal((args.rows, args.in_dim)), tf.float32)
    layers = {
        "Dense (folded size)": keras.layers.Dense(args.units),
        "HRFDense (factors first)": HRFDense(args.units, ratio=args.ratio, depth=args.depth),
        "factor chain on activations": naive_chain(args.units, args.ratio, args.depth),
    }
    seconds = seconds_per_call({name: train_step(layer, x) for name, layer in layers.items()}, args.steps)
    plain = seconds["Dense (folded size)"]
    print(f"{args.rows} rows, {args.in_dim} -> {args.units}, ratio {args.ratio}, depth {args.depth}")
    print(f"{'implementation':<28}{'ms / step':>10}{'vs Dense':>10}")
    for name, value in seconds.items():
        print(f"{name:<28}{value * 1e3:>10.2f}{value / plain:>9.2f}x")

if __name__ == "__main__":
    main()
