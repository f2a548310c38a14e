"""Ask a trained model about audio: files or arrays in, a label and class probabilities out.

    predictor = Predictor.from_run("runs/demo/convtransformer-…")          # or
    predictor = Predictor.from_tflite("int8.tflite", backend="tflm")
    clip = predictor.predict("speech.mp3")       # or predict(samples, sample_rate=44100)
    clip.label, clip.probabilities, clip.windows

Everything the model needs beside its weights — labels, front end, normalization statistics,
window — comes from the .tflite's metadata (tflite.metadata), so a deployed file alone is
enough. Audio goes the way training saw it: decoded and converted to 16 kHz mono 16-bit as
prepare converts it (a file block by block, so any length fits in memory), cut into windows of
the training length (hop = window by default, as stage 07 splits long utterances; the last
window is shorter and zero-filled after normalization, as in training), features normalized
with the training statistics. Audio of LONG_INPUT_S or more shows progress on stderr.

Backends: `tflm` runs the deployed int8 file on the TFLite Micro interpreter with the input
quantized by the model's own scale and zero point — the firmware's arithmetic; `litert` runs
it on LiteRT; `keras` runs the run's folded float Keras model (needs the run folder). The clip's
label is the argmax of its windows' mean logits (stage 07's per-utterance rule); its
probabilities are the softmax of that mean.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ser_reparam.data.normalization import normalize
from ser_reparam.errors import AudioError, InputError, MissingInputError

BACKENDS = ("tflm", "litert", "keras")
LONG_INPUT_S = 300.0  # audio this long shows progress (a few seconds of work per minute of audio)
PROGRESS_EVERY_S = 10.0
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".au",
                            ".caf", ".w64", ".m4a", ".aac", ".mp4", ".webm", ".wma"})


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@dataclasses.dataclass
class WindowPrediction:
    start_s: float
    end_s: float
    logits: np.ndarray
    probabilities: np.ndarray
    label: str


@dataclasses.dataclass
class Clip:
    source: str
    seconds: float
    label: str
    probabilities: np.ndarray
    windows: list[WindowPrediction]

    def as_dict(self, labels: list[str]) -> dict:
        def probs(p):
            return {name: round(float(v), 6) for name, v in zip(labels, p)}
        return {"source": self.source, "seconds": round(self.seconds, 3), "label": self.label,
                "probabilities": probs(self.probabilities),
                "windows": [{"start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3), "label": w.label,
                             "probabilities": probs(w.probabilities)} for w in self.windows]}


class _KerasRunner:
    def __init__(self, model):
        self.model = model

    def predict_one(self, features: np.ndarray) -> np.ndarray:
        return self.model(features[None], training=False).numpy()[0]


class Predictor:
    """A model plus the front end, statistics and window it was trained with."""

    def __init__(self, runner, metadata: dict, backend: str, hop_s: float | None = None):
        from ser_reparam.features import FrontendConfig

        self.runner, self.metadata, self.backend = runner, metadata, backend
        self.labels = list(metadata["labels"])
        self.frontend = FrontendConfig(**metadata["frontend"])
        self.window_seconds = float(metadata["window"]["seconds"])
        self.window_frames = int(metadata["window"]["frames"])
        self.hop_s = self.window_seconds if hop_s is None else float(hop_s)
        shortest = self.frontend.frame_step_ms / 1000
        if not shortest <= self.hop_s <= self.window_seconds:
            raise InputError(f"hop {hop_s} s: give {shortest:g} s (one feature frame) up to the window, "
                             f"{self.window_seconds:g} s (the default); a longer hop would skip audio")
        self.mean = np.asarray(metadata["normalization"]["mean"], np.float32)
        self.std = np.asarray(metadata["normalization"]["std"], np.float32)

    @classmethod
    def from_tflite(cls, path: str | os.PathLike, backend: str = "tflm",
                    hop_s: float | None = None) -> "Predictor":
        """A deployed .tflite on `tflm` or `litert`; its metadata supplies everything else."""
        from ser_reparam.tflite.interpreters import DEFAULT_TFLM_ARENA, LiteRTModel, TFLMModel
        from ser_reparam.tflite.metadata import read_metadata

        if backend not in ("tflm", "litert"):
            raise InputError(f"backend {backend!r} runs a .tflite as 'tflm' or 'litert'; the keras backend "
                             "needs the run folder (ser-reparam predict runs/<name>/<variant> …)")
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such model file; give a deployed .tflite or a run folder")
        blob = path.read_bytes()
        metadata = read_metadata(blob, str(path))
        runner = TFLMModel(blob, DEFAULT_TFLM_ARENA) if backend == "tflm" else LiteRTModel(blob)
        return cls(runner, metadata, backend, hop_s)

    @classmethod
    def from_run(cls, path: str | os.PathLike, backend: str = "tflm", model: str | None = None,
                 hop_s: float | None = None) -> "Predictor":
        """A run (variant) folder: its deployed file (`model`: int8, qat_int8, float …; default the
        one stage 06 exports), or with backend `keras` its folded float Keras model."""
        from ser_reparam.experiment import load_run
        from ser_reparam.layout import RunLayout
        from ser_reparam.quantize import deployed_model_name

        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        config = load_run(path)
        tflite = RunLayout(config).tflite(model or deployed_model_name(config))
        if not tflite.is_file():
            raise InputError(f"{tflite} does not exist: run stage 05 (ser-reparam quantize {path})")
        if backend != "keras":
            return cls.from_tflite(tflite, backend, hop_s)
        from ser_reparam.tflite.metadata import read_metadata

        metadata = read_metadata(tflite.read_bytes(), str(tflite))
        folded = RunLayout(config).folded_model()
        if not folded.is_file():
            raise MissingInputError(f"{folded} does not exist: the keras backend runs the folded model; run "
                                    f"stage 04 (ser-reparam fold {path}) or use --backend tflm")
        from ser_reparam.models import load_model

        return cls(_KerasRunner(load_model(folded)), metadata, backend, hop_s)

    @classmethod
    def load(cls, model: str | os.PathLike, backend: str = "tflm", variant_model: str | None = None,
             hop_s: float | None = None) -> "Predictor":
        """A .tflite file or a run folder."""
        if Path(model).suffix == ".tflite":
            return cls.from_tflite(model, backend, hop_s)
        return cls.from_run(model, backend, variant_model, hop_s)

    # ---- audio → windows → features ----

    def window_spans(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        """(start sample, samples as stored by prepare) per window of a stream of 16 kHz blocks: a
        window every hop while whole ones fit, then the shorter rest unless the last whole window
        reached the end. Memory holds one window and one block, whatever the length."""
        from ser_reparam.data.audio import as_stored

        size, hop = self._window_samples()
        pending, start, whole = np.zeros(0, np.float32), 0, False
        for block in blocks:
            pending = np.concatenate([pending, as_stored(block)])
            while len(pending) >= size:
                yield start, pending[:size]
                pending, start, whole = pending[hop:], start + hop, True
        if not whole or len(pending) > size - hop:
            yield start, pending

    def window_count(self, samples: int) -> int:
        """How many windows window_spans gives for `samples` samples."""
        size, hop = self._window_samples()
        return 1 if samples <= size else 1 + math.ceil((samples - size) / hop)

    def _window_samples(self) -> tuple[int, int]:
        rate = self.frontend.sample_rate
        return int(round(self.window_seconds * rate)), int(round(self.hop_s * rate))

    def window_features(self, piece: np.ndarray) -> np.ndarray:
        """Normalized (frames, features) of one window, zero-filled after a short one, as in training."""
        x = self._front_end(np.asarray(piece, np.float32)).numpy()[:self.window_frames]
        x = np.pad(normalize(x, self.mean, self.std), [(0, self.window_frames - len(x)), (0, 0)])
        return x.astype(np.float32)

    @functools.cached_property
    def _front_end(self):
        """compute_features traced once for windows of any length: a graph call per window is
        about 100 times faster than running the ops eagerly."""
        import tensorflow as tf

        from ser_reparam.features import compute_features

        return tf.function(functools.partial(compute_features, config=self.frontend), autograph=False,
                           input_signature=[tf.TensorSpec([None], tf.float32)])

    def predict(self, audio, sample_rate: float | None = None) -> Clip:
        """Label and probabilities of one clip: an audio file path (read block by block), or an
        array at `sample_rate` (required): (samples,), (samples, channels) or (channels, samples),
        float in [-1, 1] or integer PCM."""
        from ser_reparam.data.audio import SAMPLE_RATE, array_mono_16k, open_audio

        if self.frontend.sample_rate != SAMPLE_RATE:
            raise InputError(f"the model's front end runs at {self.frontend.sample_rate} Hz; prepare and "
                             f"predict convert audio to {SAMPLE_RATE} Hz")
        if isinstance(audio, (str, os.PathLike)):
            with open_audio(audio) as stream:
                return self._clip(str(audio), stream, stream.seconds)
        if sample_rate is None:
            raise InputError("predict(array): give sample_rate= (the array's samples per second)")
        signal = array_mono_16k(audio, sample_rate)
        return self._clip("<array>", [signal], len(signal) / SAMPLE_RATE)

    def _clip(self, source: str, blocks: Iterable[np.ndarray], seconds: float) -> Clip:
        """Each window classified as it arrives; the clip's vote is the softmax of their mean logits."""
        rate = self.frontend.sample_rate
        progress = self._progress(source, seconds)
        windows = []
        for start, piece in self.window_spans(blocks):
            logits = np.asarray(self.runner.predict_one(self.window_features(piece)), np.float64)
            p = softmax(logits)
            windows.append(WindowPrediction(start / rate, (start + len(piece)) / rate, logits, p,
                                            self.labels[int(p.argmax())]))
            if progress is not None:
                progress.advance()
        mean = softmax(np.mean([w.logits for w in windows], axis=0))
        end = windows[-1].end_s  # the last window ends where the audio does
        return Clip(source, end, self.labels[int(mean.argmax())], mean, windows)

    def _progress(self, source: str, seconds: float):
        """Progress lines on stderr for audio of LONG_INPUT_S or more (minutes of work); None below."""
        from ser_reparam.console import Progress

        if seconds < LONG_INPUT_S:
            return None
        total = self.window_count(round(seconds * self.frontend.sample_rate))
        return Progress(total, f"predict {source}", "windows", every=PROGRESS_EVERY_S)


def audio_files(items: list[str]) -> tuple[list[Path], list[Path]]:
    """(files to classify, files skipped): files as given, folders walked for audio suffixes
    (AUDIO_SUFFIXES); the other files found in folders are returned so they can be reported."""
    found, skipped = [], []
    for item in items:
        path = Path(item)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                (found if child.suffix.lower() in AUDIO_SUFFIXES else skipped).append(child)
        else:
            found.append(path)
    return found, skipped


def refuse_overwriting(out: str | os.PathLike, inputs: list[str | os.PathLike]) -> None:
    """InputError when the results file `out` is one of the files read (audio, the other files found
    in the folders given, the model): writing the results would replace it."""
    target = Path(out).resolve()
    for path in inputs:
        if Path(path).resolve() == target:
            raise InputError(f"--out {out} is one of the inputs ({path}): the results would replace it; "
                             "give another file name")


def predict_files(predictor: Predictor, paths: list[Path]):
    """(path, Clip or None, error message or None) per file; a file that cannot be read or decoded
    is reported and the others go on."""

    for path in paths:
        try:
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            yield path, predictor.predict(path), None
        except (AudioError, InputError) as err:
            yield path, None, str(err)


def rows(clip: Clip, labels: list[str]) -> list[dict]:
    """Flat rows: one per window, then the clip's vote (window = 'clip')."""
    def row(window, start, end, label, probabilities):
        return {"file": clip.source, "window": window, "start_s": f"{start:.2f}", "end_s": f"{end:.2f}",
                "label": label, **{f"p_{name}": f"{v:.4f}" for name, v in zip(labels, probabilities)}}
    out = [row(i, w.start_s, w.end_s, w.label, w.probabilities) for i, w in enumerate(clip.windows)]
    return out + [row("clip", 0.0, clip.seconds, clip.label, clip.probabilities)]


def format_results(clips: list[Clip], labels: list[str], style: str) -> str:
    """`table` (aligned columns), `csv` or `json`."""
    import csv
    import io
    import json

    if style == "json":
        return json.dumps([clip.as_dict(labels) for clip in clips], indent=1) + "\n"
    table = [r for clip in clips for r in rows(clip, labels)]
    header = ["file", "window", "start_s", "end_s", "label", *(f"p_{name}" for name in labels)]
    if style == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
        return buffer.getvalue()
    if style != "table":
        raise InputError(f"output format {style!r}: choose table, csv or json")
    cells = [header] + [[str(r[key]) for key in header] for r in table]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells) + "\n"
