"""From manifest to batches: cached features, train-only statistics, windows and errors."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ser_reparam.data.dataset import FeatureStore, Window, batches, build_dataset, read_features
from ser_reparam.data.manifest import Utterance, read_manifest, write_manifest
from ser_reparam.data.synthetic import LABELS, make_demo_corpus, make_speakers, synthesize, wav_bytes
from ser_reparam.errors import DataError, MissingInputError
from ser_reparam.features import FrontendConfig, compute_features

FRONTEND = FrontendConfig()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    manifest = make_demo_corpus(root, seed=1, speakers=6, per_class=2, min_seconds=1.0, max_seconds=3.0)
    return root, manifest


def store_for(root, manifest, cache, seconds=2.0, split_long=False):
    return FeatureStore(manifest, root, cache, FRONTEND, Window(seconds, split_long))


def stage_02(store, *splits):
    """What stage 02 does: extract the splits' features, then the training statistics."""
    for split in ("train", *splits):
        store.extract(split, LABELS)
    return store.write_norm_stats()


def test_batches_are_normalized_padded_windows(corpus, tmp_path):
    root, manifest = corpus
    stage_02(store_for(root, manifest, tmp_path), "test")
    data = build_dataset(manifest, "test", FRONTEND, 2.0, root=root, cache_dir=tmp_path, labels=LABELS,
                         batch_size=4, with_ids=True)
    xs, ys, ids = zip(*[(x.numpy(), y.numpy(), i.numpy()) for x, y, i in data])
    x, y = np.concatenate(xs), np.concatenate(ys)
    rows = {u.utt_id: u for u in read_manifest(manifest) if u.split == "test"}
    assert x.shape == (len(rows), 199, 78)  # 2 s → 199 frames
    assert [LABELS[k] for k in y] == [rows[i.decode()].label for i in np.concatenate(ids)]
    stats = json.loads(next(tmp_path.rglob("norm_stats-*.json")).read_text())
    # one utterance, recomputed by hand: truncated to 2 s, normalized with train statistics, zero-filled
    utt = rows[np.concatenate(ids)[0].decode()]
    samples, _ = tf.audio.decode_wav(tf.io.read_file(str(root / utt.path)), desired_channels=1)
    expected = (compute_features(samples[:32000, 0]).numpy() - stats["mean"]) / stats["std"]
    np.testing.assert_allclose(x[0, :len(expected)], expected, rtol=1e-5, atol=1e-5)
    assert np.all(x[0, len(expected):] == 0.0)


def test_statistics_come_from_the_training_split_only(corpus, tmp_path):
    root, manifest = corpus
    store = store_for(root, manifest, tmp_path)
    stats = stage_02(store)
    train = np.concatenate([e["features"] for e in read_features(store.records("train")).as_numpy_iterator()])
    np.testing.assert_allclose(stats["mean"], train.mean(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats["std"], train.std(axis=0), rtol=1e-4, atol=1e-4)
    assert stats["frames"] == train.shape[0]
    assert not store.records("test").exists()  # statistics never touched the test split
    store.extract("test", LABELS)
    list(batches(store, "test", LABELS))       # the test split reuses the stored statistics
    assert store.norm_stats() == stats


def test_asking_for_features_never_computes_them(corpus, tmp_path):
    root, manifest = corpus
    store = store_for(root, manifest, tmp_path)
    for ask in (lambda: store.features("train"), store.norm_stats, lambda: batches(store, "train", LABELS)):
        with pytest.raises(MissingInputError, match=r"\(.*norm_stats-|\(.*train-.*run stage 02"):
            ask()
    with pytest.raises(MissingInputError, match=r"no train features .*run stage 02"):
        store.write_norm_stats()  # statistics need the extracted training split first
    assert not store.folder.exists()


def test_cache_is_reused_and_keyed_by_the_front_end(corpus, tmp_path):
    root, manifest = corpus
    store = store_for(root, manifest, tmp_path)
    path = store.extract("val", LABELS)
    stamp = path.stat().st_mtime_ns
    assert store.extract("val", LABELS).stat().st_mtime_ns == stamp
    other = FeatureStore(manifest, root, tmp_path, FrontendConfig(preemphasis=0.95), Window(2.0))
    assert other.records("val") != path and other.folder != store.folder


def test_long_utterances_split_into_windows(tmp_path):
    speaker = make_speakers(5, 0)[0]
    (tmp_path / "a.wav").write_bytes(wav_bytes(synthesize("sad", speaker, 5.0, np.random.default_rng(0))))
    rows = [Utterance("long", "a.wav", "sad", "train", "s1"),
            Utterance("clip", "a.wav", "sad", "test", "s1", 1.0, 2.0)]
    write_manifest(rows, tmp_path / "m.csv", LABELS)
    split = store_for(tmp_path, tmp_path / "m.csv", tmp_path / "cache", seconds=2.0, split_long=True)
    examples = list(read_features(split.extract("train")).as_numpy_iterator())
    assert [(e["index"], e["features"].shape[0]) for e in examples] == [(0, 199), (1, 199), (2, 99)]
    clip = list(read_features(split.extract("test")).as_numpy_iterator())
    assert [e["features"].shape[0] for e in clip] == [99]  # start/end cut 1 s


def test_shuffle_is_seeded(corpus, tmp_path):
    root, manifest = corpus
    store = store_for(root, manifest, tmp_path)
    stage_02(store)

    def order(seed):
        return [i.decode() for _, _, ids in batches(store, "train", LABELS, 8, shuffle=True, seed=seed,
                                                    with_ids=True)
                for i in ids.numpy()]

    assert order(3) == order(3)
    assert order(3) != order(4)


def test_wrong_sample_rate_and_missing_file_are_named(tmp_path):
    import soundfile as sf
    sf.write(tmp_path / "slow.wav", np.zeros(8000), 8000, subtype="PCM_16")
    write_manifest([Utterance("u1", "slow.wav", "sad", "train", "s")], tmp_path / "m.csv")
    with pytest.raises(DataError, match=r"slow.wav is 8000 Hz, 1 channel\(s\), 16-bit.*re-run "
                                        r"`ser-reparam prepare`"):
        store_for(tmp_path, tmp_path / "m.csv", tmp_path / "c").extract("train")
    write_manifest([Utterance("u1", "gone.wav", "sad", "train", "s")], tmp_path / "m2.csv")
    with pytest.raises(DataError, match=r"cannot read .*gone.wav"):
        store_for(tmp_path, tmp_path / "m2.csv", tmp_path / "c").extract("train")
    write_manifest([Utterance("u1", "slow.wav", "sad", "train", "s", 3.0, 4.0)], tmp_path / "m3.csv")
    sf.write(tmp_path / "slow.wav", np.zeros(16000), 16000, subtype="PCM_16")
    with pytest.raises(DataError, match=r"u1 has no samples between 3.0 s and 4.0 s \(file length 1.00 s\)"):
        store_for(tmp_path, tmp_path / "m3.csv", tmp_path / "c").extract("train")
    with pytest.raises(DataError, match="no rows in split 'test'"):
        store_for(tmp_path, tmp_path / "m2.csv", tmp_path / "c").extract("test")


def test_a_killed_extraction_leaves_no_temporary_folder(corpus, tmp_path):
    """The temporary cache of a killed stage 02 (its process gone) is removed by the next run; that of a
    running process stays."""
    import subprocess
    import sys

    from ser_reparam.files import temp_name

    root, manifest = corpus
    store = store_for(root, manifest, tmp_path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    own = temp_name(store.records("train"))
    killed, running = (own.with_name(own.name.replace(f".{os.getpid()}.", f".{pid}."))
                       for pid in (gone, os.getppid()))
    for leftover in (killed, running):
        (leftover / "snapshot").mkdir(parents=True)
    store.extract("train", LABELS)
    assert not killed.exists() and running.exists()


def test_a_full_disk_in_stage_02_names_the_cache_folder(corpus, tmp_path, monkeypatch):
    """TensorFlow's own error (no errno, the system's text in its message) becomes a one-line refusal;
    the half-written cache is removed."""
    from ser_reparam.errors import FileSystemError

    def full(dataset, path, **kwargs):
        (Path(path) / "00000000.shard").mkdir(parents=True)
        message = f"{path}/00000000.snapshot; No space left on device"
        raise tf.errors.ResourceExhaustedError(None, None, message)

    root, manifest = corpus
    store = store_for(root, manifest, tmp_path)
    monkeypatch.setattr(tf.data.Dataset, "save", full)
    with pytest.raises(FileSystemError, match=f"^{store.folder}: No space left on device; free some space"):
        store.extract("train", LABELS)
    assert list(store.folder.iterdir()) == []
