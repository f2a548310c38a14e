"""Feature extraction throughput: the tf.data pipeline vs a per-clip python_speech_features loop.

To run:  python benchmarks/feature_throughput.py [--clips 480] [--docs]

Both extract the same 78-dim features (26 log-Mel + deltas) from the same clips of the
built-in demo corpus (generated first into a temporary folder); the pipeline also writes its
feature cache to disk, the loop only computes. Both run once on 8 clips first (warm-up: the
pipeline traces its graph once per process). Prints seconds of audio per second for each and the
ratio (target: pipeline >= 3x the loop) as Markdown; --docs also writes it into the
`feature-throughput` block.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import python_speech_features as psf  # noqa: E402
import soundfile as sf  # noqa: E402
from readme import docs_option, publish  # noqa: E402

from ser_reparam.data.dataset import Window, extract_features  # noqa: E402
from ser_reparam.data.manifest import read_manifest  # noqa: E402
from ser_reparam.data.synthetic import make_demo_corpus  # noqa: E402
from ser_reparam.features import FrontendConfig  # noqa: E402


def psf_features(signal: np.ndarray, config: FrontendConfig) -> np.ndarray:
    logfbank = psf.logfbank(signal, config.sample_rate, config.frame_length_ms / 1000,
                            config.frame_step_ms / 1000, config.num_filters, config.nfft,
                            preemph=config.preemphasis)
    first = psf.delta(logfbank, config.delta_window)
    return np.hstack([logfbank, first, psf.delta(first, config.delta_window)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=480, help="clips to extract (default 480)")
    docs_option(parser)
    args = parser.parse_args()
    config = FrontendConfig()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = make_demo_corpus(Path(tmp) / "corpus", seed=0)
        corpus_seconds = time.perf_counter() - start
        rows = read_manifest(manifest)[:args.clips]
        paths = [str(Path(tmp) / "corpus" / u.path) for u in rows]
        audio_seconds = sum(sf.info(p).duration for p in paths)

        def loop_over(clips):
            for path in clips:
                psf_features(sf.read(path)[0], config)

        def pipeline_over(clips):
            extract_features(clips, Path(tmp) / "corpus", Path(tmp) / "corpus", config, Window(10.0),
                             Path(tmp) / "features")

        loop_over(paths[:8])          # warm-up: imports, caches, and the pipeline's graph tracing
        pipeline_over(rows[:8])
        start = time.perf_counter()
        loop_over(paths)
        loop = time.perf_counter() - start
        start = time.perf_counter()
        pipeline_over(rows)
        pipeline = time.perf_counter() - start

    lines = [f"The 78-dim features of {len(rows)} demo clips ({audio_seconds:,.0f} s of audio), after "
             "a warm-up on 8 clips: the tf.data pipeline (parallel map, writes the cache) vs a per-clip "
             "python_speech_features loop, same process:", "",
             "| extractor | seconds | audio s / s |", "|---|---|---|",
             f"| python_speech_features, per clip | {loop:.2f} | {audio_seconds / loop:,.0f} |",
             f"| tf.data pipeline (+ disk cache) | {pipeline:.2f} | {audio_seconds / pipeline:,.0f} |",
             f"| **ratio** | | **{loop / pipeline:.2f}×** |", "",
             f"The demo corpus (480 clips) was generated in {corpus_seconds:.1f} s."]
    command = "python benchmarks/feature_throughput.py" + (f" --clips {args.clips}"
                                                           if args.clips != 480 else "")
    publish("feature-throughput", "\n".join(lines), sys.argv, command + " --docs")


if __name__ == "__main__":
    main()
