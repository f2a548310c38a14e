"""Extra copies of the training clips, changed in the waveform: speed perturbation and additive noise.

Stage 02 computes each copy's features once, next to the training split's (data.speeds,
data.noise_snr_db); stage 03 trains on the clips and their copies. Test clips, the int8
calibration set and the normalization statistics stay the original clips, so the deployed
model and its front end do not change.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class Copy:
    """One changed copy of every training clip: played at `speed` (tempo and pitch together, as a
    resampled recording: Kaldi's and sox's `speed`), or with white noise at an SNR drawn per clip
    uniformly from `snr_db` = (low, high) dB."""

    speed: float = 1.0
    snr_db: tuple[float, float] | None = None

    @property
    def tag(self) -> str:
        if self.snr_db is not None:
            return f"noise{self.snr_db[0]:g}to{self.snr_db[1]:g}dB"
        return f"speed{self.speed:g}"

    def apply(self, samples: tf.Tensor, utt_id: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
        """The changed float32 samples of one example; the same example gets the same noise in every run."""
        if self.snr_db is not None:
            return _with_noise(samples, self.snr_db, utt_id, index)
        ratio = Fraction(self.speed).limit_denominator(50)
        resampled = tf.numpy_function(lambda x: _resampled(x, ratio.denominator, ratio.numerator),
                                      [samples], tf.float32, stateful=False)
        return tf.ensure_shape(resampled, [None])


def copies_of(speeds, noise_snr_db) -> tuple[Copy, ...]:
    """The copies a data config asks for: one per speed factor, one noisy copy."""
    noisy = (Copy(snr_db=(float(noise_snr_db[0]), float(noise_snr_db[1]))),) if noise_snr_db else ()
    return (*(Copy(speed=float(speed)) for speed in speeds), *noisy)


def _resampled(samples: np.ndarray, up: int, down: int) -> np.ndarray:
    from scipy.signal import resample_poly  # anti-aliased polyphase resampling

    return resample_poly(samples, up, down).astype(np.float32)


def _with_noise(samples, snr_db, utt_id, index):
    seed = tf.stack([tf.strings.to_hash_bucket_fast(utt_id, 2 ** 31 - 1), tf.cast(index, tf.int64)])
    low, high = snr_db
    snr = tf.random.stateless_uniform([], seed, low, high, tf.float32) if high > low else tf.constant(low)
    noise = tf.random.stateless_normal(tf.shape(samples), seed + 1, dtype=tf.float32)
    power = tf.reduce_mean(tf.square(samples))
    return samples + noise * tf.sqrt(power / 10.0 ** (snr / 10.0))
