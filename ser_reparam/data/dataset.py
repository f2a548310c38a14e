"""From a manifest to batches: audio → cached features → normalized, padded windows.

Features are computed once per (manifest, split, front end, window) and cached on disk (a
tf.data snapshot, written from C++) keyed by the front-end config hash; per-feature mean / std
come from the training split only and are stored next to the cache (`norm_stats.json`), never
recomputed at test time.

Windows: each utterance is cut to `window_seconds` seconds (the paper's truncation: 5 s IEMOCAP,
4 s M3ED, 10 s DAIC-WOZ clips) or, with `split_long=True`, split into consecutive windows
whose predictions are averaged per utterance at evaluation. Shorter audio is zero-filled in
the normalized feature domain, i.e. padded frames sit at the training mean.
"""
from __future__ import annotations

import json
import os
import shutil
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import tensorflow as tf

from ser_reparam.console import Progress
from ser_reparam.data.augment import Copy
from ser_reparam.data.manifest import Utterance, read_manifest
from ser_reparam.data.normalization import normalize
from ser_reparam.errors import DataError, MissingInputError
from ser_reparam.features import FrontendConfig, compute_features
from ser_reparam.files import atomic_write_text, file_sha256, refusals_named, remove_stale_temps, temp_name


@dataclass(frozen=True)
class Window:
    """How utterances become model inputs: `seconds` per example, truncated or split."""

    seconds: float
    split_long: bool = False
    norm: str = "global"     # "global" (training statistics), "window" or "causal" (see normalize)

    def num_samples(self, frontend: FrontendConfig) -> int:
        return int(round(self.seconds * frontend.sample_rate))

    def num_frames(self, frontend: FrontendConfig) -> int:
        return frontend.num_frames(self.num_samples(frontend))

    def tag(self) -> str:
        return f"{self.seconds:g}s-{'split' if self.split_long else 'trunc'}"


def audio_file(utt: Utterance, root: str | os.PathLike, manifest_dir: str | os.PathLike,
               extra_roots: tuple[tuple[str, Path], ...] = ()) -> str:
    """The 16 kHz mono WAV to read: the converted copy when prepare made one, else root/path (the root
    of the row's corpus: data.root, or data.extra_corpus's in `extra_roots` as (dataset, root) pairs)."""
    if utt.audio:
        return str(Path(manifest_dir) / utt.audio)
    if utt.corpus:
        roots = dict(extra_roots)
        if utt.corpus not in roots:
            raise DataError(f"manifest row {utt.utt_id} is from corpus {utt.corpus!r}, which this run does "
                            "not name: set data.extra_corpus (dataset and root), or run stage 01 again")
        root = roots[utt.corpus]
    return str(Path(root) / utt.path)


def utterance_segments(utt: Utterance, window: Window, frontend: FrontendConfig,
                       total: int) -> list[tuple[int, int]]:
    """(first, last) sample of each example of one utterance."""
    first = int(round((utt.start or 0.0) * frontend.sample_rate))
    last = total if utt.end is None else min(total, int(round(utt.end * frontend.sample_rate)))
    size = window.num_samples(frontend)
    if not window.split_long:
        return [(first, min(last, first + size))]
    return [(s, min(last, s + size)) for s in range(first, max(last, first + 1), size)]


def check_audio(paths, frontend: FrontendConfig) -> dict[str, int]:
    """Read each WAV header once, before any work: missing files, other formats and other rates
    fail here with the file named, instead of deep inside a tf.data iterator.
    Returns the number of samples per file."""
    lengths = {}
    for path in dict.fromkeys(paths):
        try:
            with wave.open(path, "rb") as header:
                rate, channels, width = header.getframerate(), header.getnchannels(), header.getsampwidth()
                lengths[path] = header.getnframes()
        except (OSError, EOFError, wave.Error) as err:
            raise DataError(f"cannot read {path} as a PCM WAV file ({err}); "
                            "re-run `ser-reparam prepare`, which converts other formats") from None
        if (rate, channels, width) != (frontend.sample_rate, 1, 2):
            raise DataError(f"{path} is {rate} Hz, {channels} channel(s), {8 * width}-bit; the front end "
                            f"expects {frontend.sample_rate} Hz mono 16-bit: re-run `ser-reparam prepare`, "
                            "which converts other rates and formats")
        present = wav_frames_present(path)
        if present < lengths[path]:
            raise DataError(f"{path} is cut short: its WAV header promises {lengths[path]} samples, the file "
                            f"holds {present}; copy it again, or re-run `ser-reparam prepare`, which "
                            "excludes such files")
    return lengths


def wav_frames_present(path: str | os.PathLike) -> int:
    """Frames a WAV file really holds (libsndfile counts the bytes present, not the header's claim)."""
    try:
        return sf.info(str(path)).frames
    except sf.SoundFileError as err:
        raise DataError(f"cannot read {path} as a PCM WAV file ({err}); re-run `ser-reparam "
                        "prepare`") from None


def _jobs(rows: list[Utterance], root, manifest_dir, frontend: FrontendConfig, window: Window,
          suffix: str = "", extra_roots: tuple = ()) -> list:
    """(path, utt_id + suffix, index, label, first, last) per example, all checked before any decoding."""
    paths = [audio_file(utt, root, manifest_dir, extra_roots) for utt in rows]
    lengths = check_audio(paths, frontend)
    jobs = []
    for utt, path in zip(rows, paths):
        for index, (first, last) in enumerate(utterance_segments(utt, window, frontend, lengths[path])):
            if last <= first:
                raise DataError(f"{path}: utterance {utt.utt_id} has no samples between {utt.start} s and "
                                f"{utt.end} s (file length {lengths[path] / frontend.sample_rate:.2f} s); "
                                "fix its start/end in the manifest")
            jobs.append((path, utt.utt_id + suffix, index, utt.label, first, last))
    return jobs


def extract_features(rows: list[Utterance], root, manifest_dir, frontend: FrontendConfig, window: Window,
                     out_path: str | os.PathLike, copy: Copy | None = None, extra_roots: tuple = ()) -> int:
    """Compute features of every example of `rows` (of its `copy`: utterance ids end in ~<tag>) and save
    them (tf.data snapshot) atomically.

    Reading, decoding and the front end run in a parallel, order-preserving tf.data map that
    writes straight to disk from C++; the cache keeps manifest order (one shard).
    Returns the number of examples written.
    """
    jobs = _jobs(rows, root, manifest_dir, frontend, window, f"~{copy.tag}" if copy else "", extra_roots)
    paths, utt_ids, indices, labels, firsts, lasts = (list(column) for column in zip(*jobs))

    def example(path, utt_id, index, label, first, last):
        audio, _ = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=1)
        samples = audio[first:last, 0] if copy is None else copy.apply(audio[first:last, 0], utt_id, index)
        return {"utt_id": utt_id, "index": index, "label": label,
                "features": compute_features(samples, frontend)}

    examples = tf.data.Dataset.from_tensor_slices((paths, utt_ids, indices, labels, firsts, lasts))
    # An error inside Dataset.save deadlocks its writer (a stage that never ends): failed examples
    # are dropped here instead, counted afterwards, and named.
    examples = examples.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    examples = examples.map(_counted(Progress(len(jobs), "features, split "
                                                         f"{Path(out_path).name.split('-')[0]}",
                                              "examples", every=10.0)))
    out_path = Path(out_path)
    tmp = temp_name(out_path)
    remove_stale_temps(out_path)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with refusals_named(out_path.parent):  # a full or read-only disk: named, not a TensorFlow trace
            examples.save(str(tmp), shard_func=lambda _: tf.constant(0, tf.int64))
        _require_all(tmp, jobs)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out_path, ignore_errors=True)
    os.replace(tmp, out_path)
    return len(jobs)


def _counted(progress):
    """A map function that advances `progress` once per example (a progress line every few seconds)."""
    def tick():
        progress.advance()
        return tf.constant(0)

    def count(example):
        with tf.control_dependencies([tf.py_function(tick, [], tf.int32)]):
            return {key: tf.identity(value) for key, value in example.items()}
    return count


def _require_all(saved: Path, jobs: list) -> None:
    """DataError naming the first file whose examples are missing from `saved` (with its decode error)."""
    written = {(u.decode(), int(i)) for u, i in
               read_features(saved).map(lambda e: (e["utt_id"], e["index"])).as_numpy_iterator()}
    missing = [job for job in jobs if (job[1], job[2]) not in written]
    if not missing:
        return
    path = missing[0][0]
    try:
        tf.audio.decode_wav(tf.io.read_file(path), desired_channels=1)
        reason = "its features could not be computed"
    except (tf.errors.OpError, ValueError) as err:
        reason = " ".join(str(getattr(err, "message", err)).split())
    raise DataError(f"cannot read {path} ({reason}); {len(missing)} example(s) of "
                    f"{len({j[0] for j in missing})} "
                    "file(s) failed; check the file or re-run `ser-reparam prepare`, which excludes "
                    "unreadable audio")


def read_features(path: str | os.PathLike) -> tf.data.Dataset:
    """The cached examples as dicts: utt_id, index, label, features (frames, num_features)."""
    return tf.data.Dataset.load(str(path))


def compute_norm_stats(path: str | os.PathLike, num_features: int) -> dict:
    """Per-feature mean and std over every frame of a (training) feature cache, in float64."""
    count, total, squares = 0, np.zeros(num_features), np.zeros(num_features)
    for example in read_features(path).as_numpy_iterator():
        values = example["features"].astype(np.float64)
        count += values.shape[0]
        total += values.sum(axis=0)
        squares += np.square(values).sum(axis=0)
    if count == 0:
        raise DataError(f"{path} holds no frames: cannot compute normalization statistics")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    return {"frames": count, "mean": mean.tolist(), "std": np.maximum(std, 1e-8).tolist()}


def _file_hash(path: Path) -> str:
    return file_sha256(path)[:12]


@dataclass(frozen=True)
class FeatureStore:
    """Where a manifest's cached features live: <cache_dir>/<front-end hash>/."""

    manifest: Path
    root: Path
    cache_dir: Path
    frontend: FrontendConfig
    window: Window
    copies: tuple[Copy, ...] = ()   # changed copies of the training clips (data.speeds, data.noise_snr_db)
    extra_roots: tuple[tuple[str, Path], ...] = ()  # (dataset, root) of data.extra_corpus

    @property
    def folder(self) -> Path:
        return self.cache_dir / self.frontend.hash()

    def records(self, split: str) -> Path:
        return self.folder / f"{split}-{self.window.tag()}-{_file_hash(self.manifest)}.features"

    def copy_records(self, copy: Copy) -> Path:
        return self.records(f"train~{copy.tag}")

    @property
    def stats_path(self) -> Path:
        return self.folder / f"norm_stats-{self.window.tag()}-{_file_hash(self.manifest)}.json"

    def splits(self) -> set[str]:
        """The splits the manifest has rows in."""
        return {u.split for u in read_manifest(self.manifest)}

    def extract(self, split: str, labels: tuple[str, ...] | None = None, copy: Copy | None = None) -> Path:
        """Stage 02's work: extract the split's features (the rows with `labels`; of a training `copy`)
        unless cached."""
        path = self.records(split) if copy is None else self.copy_records(copy)
        if not path.exists():
            rows = [u for u in read_manifest(self.manifest, labels) if u.split == split]
            if not rows:
                raise DataError(f"{self.manifest} has no rows in split '{split}'")
            extract_features(rows, self.root, self.manifest.parent, self.frontend, self.window, path, copy,
                             self.extra_roots)
        return path

    def extract_copies(self, labels: tuple[str, ...] | None = None) -> list[Path]:
        """Stage 02's work: the features of each copy of the training split, unless cached."""
        return [self.extract("train", labels, copy) for copy in self.copies]

    def write_norm_stats(self) -> dict:
        """Stage 02's work: the training split's statistics, from its extracted features, stored as
        JSON unless already there."""
        if not self.stats_path.exists():
            stats = compute_norm_stats(self.features("train"), self.frontend.num_features)
            atomic_write_text(self.stats_path, json.dumps({**stats, "frontend": self.frontend.to_dict(),
                                                           "window": self.window.tag()}) + "\n")
        return self.norm_stats()

    def features(self, split: str) -> Path:
        """The split's extracted features; stage 02 computes them, asking never does."""
        return self._made_by_stage_02(self.records(split), f"{split} features")

    def copy_features(self) -> list[Path]:
        """The features of the training split's copies (computed by stage 02)."""
        return [self._made_by_stage_02(self.copy_records(copy), f"{copy.tag} copy features")
                for copy in self.copies]

    def norm_stats(self) -> dict:
        """The training split's normalization statistics (computed by stage 02)."""
        return json.loads(self._made_by_stage_02(self.stats_path, "normalization statistics").read_text())

    def _made_by_stage_02(self, path: Path, what: str) -> Path:
        if not path.exists():
            raise MissingInputError(f"no {what} for {self.manifest} ({path} is missing): run stage 02 "
                                    "(ser-reparam run --config … --to 2)")
        return path


def build_dataset(manifest, split: str, frontend: FrontendConfig, window_seconds: float, *, root, cache_dir,
                  labels: tuple[str, ...], split_long: bool = False, batch_size: int = 32,
                  shuffle: bool = False, seed: int = 0, with_ids: bool = False) -> tf.data.Dataset:
    """Batches of (features (frames, 78) normalized and zero-filled to the window, label index).

    with_ids=True adds the utterance id as a third element (for per-utterance averaging).
    """
    store = FeatureStore(Path(manifest), Path(root), Path(cache_dir), frontend,
                         Window(window_seconds, split_long))
    return batches(store, split, labels, batch_size, shuffle, seed, with_ids)


def batches(store: FeatureStore, split: str, labels: tuple[str, ...], batch_size: int = 32,
            shuffle: bool = False, seed: int = 0, with_ids: bool = False,
            with_copies: bool = False) -> tf.data.Dataset:
    """build_dataset for an existing FeatureStore; with_copies adds the training split's changed copies."""
    stats = store.norm_stats()
    mean = tf.constant(stats["mean"], tf.float32)
    std = tf.constant(stats["std"], tf.float32)
    frames = store.window.num_frames(store.frontend)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(labels), tf.range(len(labels), dtype=tf.int64)), -1)

    def to_input(example):
        x = normalize(example["features"][:frames], mean, std, store.window.norm)
        x = tf.pad(x, [[0, frames - tf.shape(x)[0]], [0, 0]])
        x = tf.ensure_shape(x, [frames, store.frontend.num_features])
        label = table.lookup(example["label"])
        return (x, label, example["utt_id"]) if with_ids else (x, label)

    data = read_features(store.features(split))
    for path in store.copy_features() if with_copies and split == "train" else ():
        data = data.concatenate(read_features(path))
    if shuffle:
        data = data.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    data = data.map(to_input, num_parallel_calls=tf.data.AUTOTUNE)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
