"""Streaming inference of a one-block ConvTransformer: the whole-window model's logits from
three small graphs and a little application state, instead of one graph over the window.

The whole-window model's subsampled step j depends only on feature frames 4·j … 4·j + 6
(two 3×3 stride-2 convolutions; layers.subsampling_length), and attention is the only place
where steps meet. So, from the SAME trained weights:

  A  every STEP_FRAMES feature frames: the STEP_CONTEXT frames ending there → x_j (the step's
     subsampled vector) and its attention key k_j and value v_j;
  B  at the end of the window, for a chunk of Q query steps: attention of their queries
     (computed from x) over all keys and values, residual, LayerNorm, FFN, residual,
     LayerNorm, averaged over the chunk's steps;
  C  the average of the chunk means (the classifier's pooling) → cls1 → cls2 → logits.

The application holds X, K, V (steps × dim each) between A and B. Every value is the one the
whole-window graph computes, in another order: float logits agree to rounding. A deeper
model does not stream this way (block 2 needs every step's block-1 output, which depends on
every key), nor do the Conformer (positions added after subsampling, a k=31 depthwise
convolution over time between attention and pooling) and the SpeechFormer (no subsampling;
see README): they keep the whole-window export (models.lean).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras as keras

from ser_reparam.models.lean import has_subsampling
from ser_reparam.models.layers import subsampling_length

STEP_FRAMES, STEP_CONTEXT = 4, 7  # feature frames per subsampled step, frames one step reads
MAX_CHUNK = 4  # query steps per B invocation: B's scores are chunk × steps per head


class NotStreamable(ValueError):
    """The model's function cannot be computed exactly by the A / B / C split."""


def steps_for(frames: int) -> int:
    """Subsampled steps of a `frames`-frame window (as the whole-window convolutions make)."""
    return ((subsampling_length(frames) - 3) // 2 + 1 - 3) // 2 + 1


def chunk_for(steps: int) -> int:
    """The largest divisor of `steps` not above MAX_CHUNK: equal chunks, so the mean of chunk
    means is the mean over all steps."""
    return max(q for q in range(1, MAX_CHUNK + 1) if steps % q == 0)


def check_streamable(model) -> None:
    names = {layer.name for layer in model.layers}
    why = None
    if not has_subsampling(model) or "positions" in names:
        why = "it has no convolutional subsampling without positions (ConvTransformer only)"
    elif "block1_mhsa" not in names or "block2_mhsa" in names:
        why = "only a one-block ConvTransformer streams exactly (block 2 needs every step's block-1 output)"
    elif model.get_layer("block1_mhsa").window is not None:
        why = "its attention is local"
    if why:
        raise NotStreamable(f"model '{model.name}' cannot stream exactly: {why}; "
                            "deploy the whole-window export instead")


@dataclasses.dataclass
class StreamingPieces:
    """The three Keras graphs (sharing the trained model's layers) and their sizes."""
    step: keras.Model     # A: (STEP_CONTEXT, features) → x, k, v  (dim each)
    attend: keras.Model   # B: x chunk (Q, dim), K (T, dim), V (T, dim) → chunk mean (dim)
    classify: keras.Model  # C: pooled (dim) → logits
    steps: int
    chunk: int


def split_model(model) -> StreamingPieces:
    """A, B and C of a trained (folded) one-block ConvTransformer; raises NotStreamable otherwise."""
    from ser_reparam.models.lean import banded_subsampling

    check_streamable(model)
    frames, features = (int(d) for d in model.inputs[0].shape[1:])
    steps = steps_for(frames)
    chunk = chunk_for(steps)
    mhsa = model.get_layer("block1_mhsa")
    dim, heads = mhsa.dim, mhsa.heads
    kernel, bias = mhsa.qkv.kernel, mhsa.qkv.bias
    scale = (dim // heads) ** -0.5

    frames_in = keras.Input((STEP_CONTEXT, features), name="frames")
    x = tf.reshape(banded_subsampling(model, frames_in, bands=1), [-1, dim])
    kv = tf.matmul(x, kernel[:, dim:]) + bias[dim:]
    step = keras.Model(frames_in, [x, kv[:, :dim], kv[:, dim:]], name="stream_step")

    xq, keys, values = (keras.Input(shape, name=name) for shape, name in
                        (((chunk, dim), "queries"), ((steps, dim), "keys"), ((steps, dim), "values")))
    q = (tf.matmul(xq, kernel[:, :dim]) + bias[:dim]) * scale
    head_dim = dim // heads
    context = []
    for h in range(heads):
        part = slice(h * head_dim, (h + 1) * head_dim)
        weights = tf.nn.softmax(tf.matmul(q[:, :, part], keys[:, :, part], transpose_b=True), axis=-1)
        context.append(tf.matmul(weights, values[:, :, part]))
    y = model.get_layer("block1_mhsa_norm")(xq + mhsa.proj(tf.concat(context, axis=-1)))
    y = model.get_layer("block1_ffn_norm")(y + model.get_layer("block1_ffn")(y))
    attend = keras.Model([xq, keys, values], tf.reduce_mean(y, axis=1), name="stream_attend")

    pooled = keras.Input((dim,), name="pooled")
    logits = model.get_layer("logits")(model.get_layer("cls2")(model.get_layer("cls1")(pooled)))
    classify = keras.Model(pooled, logits, name="stream_classify")
    return StreamingPieces(step, attend, classify, steps, chunk)


class KerasPieces:
    """The pieces in float (Keras), each called on a batch of its inputs."""

    def __init__(self, pieces: StreamingPieces):
        self.pieces = pieces

    def step(self, windows):
        return [np.asarray(t) for t in self.pieces.step(windows, training=False)]

    def attend(self, queries, keys, values):
        return np.asarray(self.pieces.attend([queries, keys, values], training=False))

    def classify(self, pooled):
        return np.asarray(self.pieces.classify(pooled, training=False))


def step_windows(features: np.ndarray, steps: int) -> np.ndarray:
    """The (steps, STEP_CONTEXT, features) frame windows A reads, one per subsampled step."""
    return np.stack([features[STEP_FRAMES * j:STEP_FRAMES * j + STEP_CONTEXT] for j in range(steps)])


def stream_window(runner, pieces: StreamingPieces, features: np.ndarray, trace: dict | None = None) -> np.ndarray:
    """Logits of one window (frames, features) the way the device computes them: A per step
    (a step is computed as soon as its frames arrived), then B per query chunk, then C.
    `trace` collects each piece's inputs (calibration data)."""
    windows = step_windows(features, pieces.steps)
    X, K, V = runner.step(windows)
    chunks = X.reshape(-1, pieces.chunk, X.shape[-1])
    keys, values = (np.repeat(t[None], len(chunks), axis=0) for t in (K, V))
    pooled = runner.attend(chunks, keys, values).mean(axis=0, keepdims=True)
    if trace is not None:
        trace.setdefault("step", []).append(windows)
        trace.setdefault("attend", []).append((chunks, keys, values))
        trace.setdefault("classify", []).append(pooled)
    return runner.classify(pooled)[0]
