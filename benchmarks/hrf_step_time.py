"""Training step time of one HRF layer: plain Dense vs HRFDense vs the naive factor chain.

To run:  python benchmarks/hrf_step_time.py [--rows 16000] [--steps 50] [--depth 1 3] [--docs]

HRFDense multiplies its factors first and applies one matmul; the naive alternative applies
the factors to the activations one after another, as a stack of Dense layers would. Both
compute the same function with the same gradients; this script times a training step of each
against a plain Dense layer of the folded size, side by side in one process, and prints the
ratios. Default sizes are the lightweight FFN2 of the paper (16 → 4, ratio 8, depth 1) on a
batch of 32 clips × 500 frames, at depths 1 and 3. Prints a Markdown table; --docs also
writes it into its `hrf-step-time` block (docs/results-performance.md).
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

from ser_reparam.hrf import HRFDense  # noqa: E402


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


NAMES = {"Dense (folded size)": "Dense of the folded size",
         "HRFDense (factors first)": "HRFDense (factors multiplied first)",
         "factor chain on activations": "factor chain applied to the activations"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32 * 500, help="frames per batch (default 16000)")
    parser.add_argument("--in-dim", type=int, default=16)
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--ratio", type=int, default=8)
    parser.add_argument("--depth", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the best counts (default 5)")
    docs_option(parser)
    args = parser.parse_args()

    x = tf.constant(np.random.default_rng(0).standard_normal((args.rows, args.in_dim)), tf.float32)
    columns = {}
    for depth in args.depth:
        layers = {
            "Dense (folded size)": keras.layers.Dense(args.units),
            "HRFDense (factors first)": HRFDense(args.units, ratio=args.ratio, depth=depth),
            "factor chain on activations": naive_chain(args.units, args.ratio, depth),
        }
        columns[depth] = seconds_per_call({name: train_step(layer, x) for name, layer in layers.items()},
                                          args.steps, args.repeats)
    lines = [f"One SGD training step of a {args.in_dim} → {args.units} layer on {args.rows:,} rows, ratio "
             f"{args.ratio}; the three implementations take turns in one process, {args.steps} "
             f"steps per turn, best of {args.repeats} turns:", "",
             "| implementation | " + " | ".join(f"depth {d}" for d in args.depth) + " |",
             "|---|" + "---|" * len(args.depth)]
    for name, label in NAMES.items():
        cells = []
        for depth, seconds in columns.items():
            ratio = seconds[name] / seconds["Dense (folded size)"]
            cells.append(f"{ratio:.2f}× ({seconds[name] * 1e3:.2f} ms)")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    command = "python benchmarks/hrf_step_time.py" + (f" --steps {args.steps}"
                                                      if args.steps != 50 else "") + \
        (f" --repeats {args.repeats}" if args.repeats != 5 else "") + " --docs"
    publish("hrf-step-time", "\n".join(lines), sys.argv, command)


if __name__ == "__main__":
    main()
