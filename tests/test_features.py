"""The TensorFlow front end against python_speech_features, the reference SER tooling."""
import numpy as np
import pytest
import python_speech_features as psf
import soxr
import tensorflow as tf

from ser_reparam.data.synthetic import LABELS, make_speakers, synthesize
from ser_reparam.features import FrontendConfig, compute_features

TOLERANCE = 1e-3  # max |ours − psf| over all 78 features (log domain)


def reference(signal, config=FrontendConfig()):
    logfbank = psf.logfbank(signal, samplerate=config.sample_rate, winlen=config.frame_length_ms / 1000,
                            winstep=config.frame_step_ms / 1000, nfilt=config.num_filters, nfft=config.nfft,
                            lowfreq=config.low_hz, highfreq=config.high_hz, preemph=config.preemphasis)
    first = psf.delta(logfbank, config.delta_window)
    return np.hstack([logfbank, first, psf.delta(first, config.delta_window)])


def signals():
    rng = np.random.default_rng(7)
    speaker = make_speakers(5, seed=3)[1]
    for label in LABELS:
        yield f"speech-{label}", synthesize(label, speaker, 5.0,
                                            np.random.default_rng([3, LABELS.index(label)]))
    yield "white-noise", 0.1 * rng.standard_normal(48_000 + 77)
    band_limited = soxr.resample(soxr.resample(0.2 * rng.standard_normal(40_000), 16000, 8000), 8000, 16000)
    yield "band-limited-to-4kHz", band_limited  # upper bands ~100 dB down: float32 FFT stress
    yield "quiet-noise", 1e-4 * rng.standard_normal(16_000)
    yield "digital-silence", np.zeros(8_000)
    yield "shorter-than-a-frame", 0.1 * rng.standard_normal(300)


@pytest.mark.parametrize("name,signal", list(signals()), ids=[n for n, _ in signals()])
def test_matches_python_speech_features(name, signal):
    ours = compute_features(tf.constant(signal, tf.float32)).numpy()
    expected = reference(signal.astype(np.float32).astype(np.float64))
    assert ours.shape == expected.shape == (FrontendConfig().num_frames(len(signal)), 78)
    worst = float(np.max(np.abs(ours - expected)))
    print(f"{name}: {ours.shape[0]} frames, max |ours − psf| = {worst:.2e}")
    assert worst <= TOLERANCE


def test_other_settings_match_too():
    config = FrontendConfig(num_filters=40, nfft=1024, low_hz=100.0, high_hz=7000.0, preemphasis=0.9)
    signal = 0.05 * np.random.default_rng(1).standard_normal(20_000)
    ours = compute_features(tf.constant(signal, tf.float32), config).numpy()
    assert ours.shape == (config.num_frames(20_000), 120)
    assert np.max(np.abs(ours - reference(signal.astype(np.float32).astype(np.float64), config))) <= TOLERANCE


def test_mel_filterbank_is_psf_filterbank():
    config = FrontendConfig()
    np.testing.assert_array_equal(config.mel_filterbank(), psf.get_filterbanks(26, 512, 16000, 0, 8000))


def test_frame_counts_and_sizes():
    config = FrontendConfig()
    assert (config.frame_length, config.frame_step, config.num_features) == (400, 160, 78)
    assert config.num_frames(80_000) == 499  # 5 s
    assert config.num_frames(400) == config.num_frames(1) == 1
    assert config.num_frames(401) == 2


def test_runs_in_a_graph_with_unknown_length():
    graph = tf.function(lambda s: compute_features(s), input_signature=[tf.TensorSpec([None], tf.float32)])
    assert graph(tf.zeros([16_000])).shape == (99, 78)
    assert graph(tf.zeros([8_000])).shape == (49, 78)


def test_config_hash_tracks_every_parameter():
    assert FrontendConfig().hash() == FrontendConfig().hash()
    assert FrontendConfig().hash() != FrontendConfig(preemphasis=0.95).hash()


@pytest.mark.parametrize("kwargs,message", [
    ({"nfft": 500}, "must be a power of two"),
    ({"nfft": 256}, "does not fit nfft=256"),
    ({"high_hz": 9000.0}, "high_hz <= sample_rate/2"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrontendConfig(**kwargs)
