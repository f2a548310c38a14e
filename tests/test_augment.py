"""Training copies changed in the waveform (data.speeds, data.noise_snr_db): what each copy holds,
that stage 03 trains on them, and that nothing else (test clips, statistics, hashes) moves."""
import numpy as np
import pytest
import tensorflow as tf

from ser_reparam.config import config_hash, parse_config
from ser_reparam.data.augment import Copy, copies_of
from ser_reparam.data.dataset import FeatureStore, Window, batches, read_features
from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.synthetic import LABELS, make_demo_corpus
from ser_reparam.errors import ConfigError, MissingInputError
from ser_reparam.features import FrontendConfig, compute_features
from tests.conftest import tiny_raw

FRONTEND = FrontendConfig()


def tone(seconds=1.0, hz=440.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return tf.constant(0.3 * np.sin(2 * np.pi * hz * t), tf.float32)


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_a_speed_copy_plays_the_clip_faster_or_slower(speed):
    """A 440 Hz tone at speed 1.1 is 1/1.1 as long and sounds at 484 Hz (pitch moves with tempo)."""
    out = Copy(speed=speed).apply(tone(), tf.constant("a"), tf.constant(0)).numpy()
    assert abs(len(out) - 16000 / speed) <= 1
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak_hz = np.argmax(spectrum) * 16000 / len(out)
    assert peak_hz == pytest.approx(440 * speed, abs=2)


def test_a_noise_copy_has_its_snr_and_is_the_same_in_every_run():
    clean = tone()
    noisy = Copy(snr_db=(20.0, 20.0)).apply(clean, tf.constant("utt-1"), tf.constant(0)).numpy()
    noise = noisy - clean.numpy()
    snr = 10 * np.log10(np.mean(clean.numpy() ** 2) / np.mean(noise ** 2))
    assert snr == pytest.approx(20.0, abs=0.2)
    again = Copy(snr_db=(20.0, 20.0)).apply(clean, tf.constant("utt-1"), tf.constant(0)).numpy()
    other = Copy(snr_db=(20.0, 20.0)).apply(clean, tf.constant("utt-2"), tf.constant(0)).numpy()
    np.testing.assert_array_equal(noisy, again)
    assert not np.allclose(noisy, other)
    drawn = [Copy(snr_db=(10.0, 30.0)).apply(clean, tf.constant(f"u{k}"), tf.constant(0)).numpy()
             - clean.numpy() for k in range(40)]
    snrs = [10 * np.log10(np.mean(clean.numpy() ** 2) / np.mean(n ** 2)) for n in drawn]
    assert 10 - 0.2 <= min(snrs) < 15 and 25 < max(snrs) <= 30 + 0.2


def test_copies_of_a_config():
    assert copies_of((), None) == ()
    assert [c.tag for c in copies_of((0.9, 1.1), (10, 30))] == ["speed0.9", "speed1.1", "noise10to30dB"]


def test_stage_02_writes_the_copies_and_training_batches_hold_them(tmp_path):
    root = tmp_path / "corpus"
    manifest = make_demo_corpus(root, seed=1, speakers=5, per_class=1, min_seconds=1.0, max_seconds=1.5)
    copies = copies_of((0.9,), (10, 30))
    store = FeatureStore(manifest, root, tmp_path / "cache", FRONTEND, Window(1.0), copies)
    plain = FeatureStore(manifest, root, tmp_path / "cache", FRONTEND, Window(1.0))
    store.extract("train", LABELS)
    with pytest.raises(MissingInputError, match="speed0.9 copy features"):
        store.copy_features()
    store.extract_copies(LABELS)
    assert store.write_norm_stats() == plain.norm_stats()  # the statistics are the original clips'
    train = [u for u in read_manifest(manifest) if u.split == "train"]
    slow = {e["utt_id"].decode(): e["features"]
            for e in read_features(store.copy_records(copies[0])).as_numpy_iterator()}
    assert sorted(slow) == sorted(f"{u.utt_id}~speed0.9" for u in train)
    one = train[0]
    samples, _ = tf.audio.decode_wav(tf.io.read_file(str(root / one.path)), desired_channels=1)
    expected = compute_features(Copy(speed=0.9).apply(samples[:16000, 0], tf.constant(one.utt_id), 0))
    np.testing.assert_allclose(slow[f"{one.utt_id}~speed0.9"], expected.numpy(), rtol=1e-5, atol=1e-5)
    count = lambda data: sum(int(y.shape[0]) for _, y in data)  # noqa: E731
    assert count(batches(store, "train", LABELS, 4)) == len(train)
    assert count(batches(store, "train", LABELS, 4, with_copies=True)) == 3 * len(train)
    store.extract("test", LABELS)
    assert count(batches(store, "test", LABELS, 4, with_copies=True)) == sum(
        u.split == "test" for u in read_manifest(manifest))


def test_config_keys_checked_and_runs_made_before_them_stay_up_to_date(tmp_path):
    plain = parse_config(tiny_raw(tmp_path))
    assert "speeds" not in str(config_hash(plain, "data"))
    same = parse_config(tiny_raw(tmp_path, **{"data.speeds": [], "data.noise_snr_db": None}))
    assert config_hash(same, "data") == config_hash(plain, "data")
    changed = parse_config(tiny_raw(tmp_path, **{"data.speeds": [0.9, 1.1]}))
    assert changed.data.speeds == (0.9, 1.1)
    assert config_hash(changed, "data") != config_hash(plain, "data")
    for key, value, message in [("data.speeds", [0.2], "data.speeds must be a list of numbers from 0.5 to 2"),
                                ("data.speeds", 0.9, "data.speeds must be a list of numbers"),
                                ("data.noise_snr_db", [30, 10], r"must be \[low, high\] in dB"),
                                ("data.noise_snr_db", [10], r"must be \[low, high\] in dB")]:
        with pytest.raises(ConfigError, match=message):
            parse_config(tiny_raw(tmp_path, **{key: value}))
