"""Seconds per training epoch, lightweight vs HRF (ffn2, r=8, depth 1), IEMOCAP-sized.

To run:  python benchmarks/epoch_time.py [--clips 4290] [--arch convtransformer] [--epochs 2] [--docs]

The set has IEMOCAP's training size (4,290 clips × 5 s = 499 frames × 78) and is read from a
feature cache on disk, as training reads it (random features: the time does not depend on
their values). Each model trains for one warm-up epoch, then the two take turns for
`--epochs` timed epochs in the same process; the best epoch of each counts. --docs writes the
result into its `epoch-time` block (docs/results-performance.md).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from readme import docs_option, publish  # noqa: E402

from ser_reparam.models import build_model  # noqa: E402

FRAMES, FEATURES = 499, 78


def cached_set(folder: str, clips: int, batch: int) -> tf.data.Dataset:
    """Random features and labels saved with tf.data (like the pipeline's cache), then batched."""
    def example(i):
        seed = tf.stack([tf.cast(i, tf.int32), 7])
        return (tf.random.stateless_normal([FRAMES, FEATURES], seed),
                tf.random.stateless_uniform([], seed, 0, 4, dtype=tf.int32))

    tf.data.Dataset.range(clips).map(example).save(folder)
    return tf.data.Dataset.load(folder).shuffle(1024, seed=0).batch(batch).prefetch(tf.data.AUTOTUNE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4290)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per model (default 2)")
    parser.add_argument("--arch", default="convtransformer")
    docs_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = cached_set(os.path.join(tmp, "features"), args.clips, args.batch)
        models = {}
        for name, hrf in (("lightweight", None), ("HRF ffn2@8x1", "ffn2@8x1")):
            keras.utils.set_random_seed(0)
            model = build_model(args.arch, "lightweight", 4, FRAMES, hrf=hrf)
            model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-6),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(data, epochs=1, verbose=0)  # warm-up: tracing, caches
            models[name] = model
        seconds = {name: [] for name in models}
        for _ in range(args.epochs):
            for name, model in models.items():
                start = time.perf_counter()
                model.fit(data, epochs=1, verbose=0)
                seconds[name].append(time.perf_counter() - start)
        best = {name: min(values) for name, values in seconds.items()}
    light, hrf = best["lightweight"], best["HRF ffn2@8x1"]
    every = {name: ", ".join(f"{v:.1f}" for v in values) for name, values in seconds.items()}
    text = (f"One training epoch of {args.clips:,} clips × {FRAMES} frames × {FEATURES} (cached "
            f"features, batch {args.batch}), {args.arch} lightweight vs HRF ffn2@8x1, taking turns in one "
            f"process after a warm-up epoch each, best of {args.epochs}: lightweight {light:.1f} s (epochs: "
            f"{every['lightweight']} s), HRF {hrf:.1f} s ({every['HRF ffn2@8x1']} s) — "
            f"**{hrf / light:.2f}×** (target ≤ 1.5×).")
    command = "python benchmarks/epoch_time.py" + (f" --clips {args.clips}" if args.clips != 4290 else "") + \
        (f" --epochs {args.epochs}" if args.epochs != 2 else "") + " --docs"
    publish("epoch-time", text, sys.argv, command)


if __name__ == "__main__":
    main()
