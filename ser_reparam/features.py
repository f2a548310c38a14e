"""The 78-dim LMFB front end: 26 log-Mel filterbank energies + delta + delta-delta per 10 ms frame.

It follows python_speech_features (`logfbank` + `delta`), the de-facto SER tooling, number for
number: pre-emphasis, frames zero-padded at the end so that every sample is covered, a
rectangular window (psf's default), |rfft|²/NFFT, triangular Mel filters on integer FFT bins,
exact zeros replaced by float64 eps before the natural log, and deltas by regression over ±N
frames with edge frames repeated. Written in TensorFlow ops so that it runs inside tf.data and
in a graph; every parameter lives in one frozen `FrontendConfig`, which later stages copy into
the firmware headers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class FrontendConfig:
    sample_rate: int = 16000
    frame_length_ms: float = 25.0
    frame_step_ms: float = 10.0
    nfft: int = 512
    preemphasis: float = 0.97
    num_filters: int = 26
    low_hz: float = 0.0
    high_hz: float | None = None      # None = sample_rate / 2
    delta_window: int = 2             # regression over ±N frames
    log_floor: float = float(np.finfo(np.float64).eps)  # replaces exact zeros before the log

    def __post_init__(self):
        if self.frame_length > self.nfft:
            raise ValueError(f"FrontendConfig: a frame of {self.frame_length} samples does not fit "
                             f"nfft={self.nfft}; raise nfft to a power of two >= the frame length")
        if self.nfft & (self.nfft - 1):
            raise ValueError(f"FrontendConfig: nfft={self.nfft} must be a power of two (device FFTs need it)")
        if not 0 <= self.low_hz < self.top_hz <= self.sample_rate / 2:
            raise ValueError(f"FrontendConfig: need 0 <= low_hz < high_hz <= sample_rate/2, "
                             f"got {self.low_hz}, {self.top_hz}")

    @property
    def frame_length(self) -> int:
        """Samples per frame (psf rounds half up)."""
        return int(math.floor(self.frame_length_ms * self.sample_rate / 1000 + 0.5))

    @property
    def frame_step(self) -> int:
        return int(math.floor(self.frame_step_ms * self.sample_rate / 1000 + 0.5))

    @property
    def top_hz(self) -> float:
        return self.sample_rate / 2 if self.high_hz is None else self.high_hz

    @property
    def num_features(self) -> int:
        return 3 * self.num_filters

    def num_frames(self, num_samples: int) -> int:
        """Frames for a signal of `num_samples` samples: 1 + ceil((n − frame) / step), at least 1."""
        if num_samples <= self.frame_length:
            return 1
        return 1 + math.ceil((num_samples - self.frame_length) / self.frame_step)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Short content hash: cached features are keyed by it."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def mel_filterbank(self) -> np.ndarray:
        """(num_filters, nfft/2 + 1) triangular filters on integer FFT bins, as psf builds them."""
        def hz_to_mel(hz):
            return 2595.0 * np.log10(1.0 + hz / 700.0)

        def mel_to_hz(mel):
            return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

        mels = np.linspace(hz_to_mel(self.low_hz), hz_to_mel(self.top_hz), self.num_filters + 2)
        bins = np.floor((self.nfft + 1) * mel_to_hz(mels) / self.sample_rate).astype(int)
        bank = np.zeros((self.num_filters, self.nfft // 2 + 1))
        for j in range(self.num_filters):
            left, centre, right = bins[j], bins[j + 1], bins[j + 2]
            for i in range(left, centre):
                bank[j, i] = (i - left) / (centre - left)
            for i in range(centre, right):
                bank[j, i] = (right - i) / (right - centre)
        return bank


def _frames(signal: tf.Tensor, config: FrontendConfig) -> tf.Tensor:
    """Pre-emphasized signal cut into frames, the last one zero-padded (psf framesig)."""
    signal = tf.concat([signal[:1], signal[1:] - config.preemphasis * signal[:-1]], axis=0)
    length = tf.shape(signal)[0]
    steps = tf.maximum(0, -(-(length - config.frame_length) // config.frame_step))
    padded_length = steps * config.frame_step + config.frame_length
    signal = tf.pad(signal, [[0, padded_length - length]])
    return tf.signal.frame(signal, config.frame_length, config.frame_step)


def log_mel_filterbank(signal: tf.Tensor, config: FrontendConfig) -> tf.Tensor:
    """(frames, num_filters) natural-log Mel energies of a float signal (psf `logfbank`).

    The FFT runs in float32, as on the device (TF's float64 FFT is 2× slower); power, filterbank
    and log run in float64. The float32 FFT's error floor sits ~140 dB below a frame's energy,
    so only bands weaker than that would drift from psf (tests/test_features.py bounds it).
    """
    spectrum = tf.signal.rfft(_frames(tf.cast(signal, tf.float32), config), [config.nfft])
    power = tf.cast(tf.square(tf.math.real(spectrum)) + tf.square(tf.math.imag(spectrum)), tf.float64)
    energies = tf.matmul(power / config.nfft, tf.constant(config.mel_filterbank().T, tf.float64))
    energies = tf.where(energies == 0.0, tf.constant(config.log_floor, tf.float64), energies)
    return tf.math.log(energies)


def delta(features: tf.Tensor, window: int) -> tf.Tensor:
    """Regression deltas over ±window frames, edge frames repeated (psf `delta`)."""
    denominator = 2.0 * sum(n * n for n in range(1, window + 1))
    frames = tf.shape(features)[0]
    padded = tf.concat([tf.repeat(features[:1], window, axis=0), features,
                        tf.repeat(features[-1:], window, axis=0)], axis=0)
    total = tf.zeros_like(features)
    for n in range(1, window + 1):
        total += n * (padded[window + n:window + n + frames] - padded[window - n:window - n + frames])
    return total / denominator


def compute_features(signal: tf.Tensor, config: FrontendConfig = FrontendConfig()) -> tf.Tensor:
    """(frames, 3·num_filters) float32: log-Mel energies, their deltas and delta-deltas."""
    logfbank = log_mel_filterbank(signal, config)
    first = delta(logfbank, config.delta_window)
    second = delta(first, config.delta_window)
    return tf.cast(tf.concat([logfbank, first, second], axis=-1), tf.float32)
