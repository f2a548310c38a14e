"""The model input's normalization: the one function training (dataset), predict and the firmware
check (verify-firmware) apply to front-end features, so the three cannot drift apart."""
from __future__ import annotations

NORMS = ("global", "window", "causal")
PRIOR_FRAMES = 50.0  # causal: the running statistics start as this many frames at the training statistics


def normalize(features, mean, std, norm: str = "global"):
    """Model input of a window's frames (frames, features): the training split's statistics,
    then for "window" each feature's mean and variance over the window's frames (utterance CMVN),
    for "causal" its running mean and variance over the frames so far (frame t sees 1 … t, with
    PRIOR_FRAMES frames at the training statistics before the first). "global" is plain arithmetic,
    so NumPy arrays stay NumPy; the other two are TensorFlow ops (training only)."""
    x = (features - mean) / std
    if norm == "global":
        return x
    import tensorflow as tf  # only training normalizes per window; predict and verify stay light

    if norm == "window":
        centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
        return centred * tf.math.rsqrt(tf.reduce_mean(tf.square(centred), axis=0, keepdims=True) + 1e-2)
    count = PRIOR_FRAMES + tf.range(1, tf.shape(x)[0] + 1, dtype=x.dtype)[:, None]
    running = tf.cumsum(x, axis=0) / count
    second = (PRIOR_FRAMES + tf.cumsum(tf.square(x), axis=0)) / count
    return (x - running) * tf.math.rsqrt(tf.maximum(second - tf.square(running), 0.0) + 1e-2)
