"""Streaming inference of a one-block ConvTransformer: the whole-window model's logits from
three small graphs and a little application state, instead of one graph over the window.

The whole-window model's subsampled step j depends only on feature frames 4·j … 4·j + 6
(two 3×3 stride-2 convolutions; layers.subsampling_length), and attention is the only place
where steps meet. So, from the SAME trained weights:

  step      every STEP_FRAMES feature frames: the STEP_CONTEXT frames ending there → x_j (the
            step's subsampled vector) and its attention key k_j and value v_j;
  attend    at the end of the window, for a chunk of Q query steps: attention of their queries
            (computed from x) over all keys and values, residual, LayerNorm, FFN, residual,
            LayerNorm: the chunk's encoded steps;
  classify  the window's encoded steps → the classifier's pooling → cls1 → cls2 → logits.

The application holds X, K, V (steps × dim each) between step and attend, and the encoded
steps between attend and classify. Every value is the one the whole-window graph computes, in another order:
float logits agree to rounding. In int8 too, when the pieces are quantized as the
whole-window graph (quantize.quantize_pieces): each piece's ops are the whole-window ops
restricted to some rows, with the same scales. A deeper
model does not stream this way (block 2 needs every step's block-1 output, which depends on
every key), nor do the Conformer (positions added after subsampling, a k=31 depthwise
convolution over time between attention and pooling) and the SpeechFormer (no subsampling;
see docs/streaming.md): they keep the whole-window export (models.lean). Converting and quantizing the
pieces: tflite.convert.convert_piece, quantize.quantize_pieces / write_pieces (stage 05).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras as keras

from ser_reparam.errors import NotStreamable
from ser_reparam.models.layers import subsampling_length
from ser_reparam.models.lean import has_subsampling
from ser_reparam.models.stream_geometry import MAX_CHUNK, STEP_CONTEXT, StreamGeometry
from ser_reparam.profile import _op_macs

# The Keras graphs' names: part of the converted bytes (the converter orders attend's operators by
# tensor name), so they keep the names the deployed pieces were made with; reports show the piece.
GRAPH_NAMES = {"step": "stream_step", "attend": "stream_attend", "classify": "stream_classify"}


def steps_for(frames: int) -> int:
    """Subsampled steps of a `frames`-frame window (as the whole-window convolutions make)."""
    return ((subsampling_length(frames) - 3) // 2 + 1 - 3) // 2 + 1


def chunk_for(steps: int) -> int:
    """The largest divisor of `steps` not above MAX_CHUNK: equal chunks fill attend's fixed-size input."""
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
    step: keras.Model     # (STEP_CONTEXT, features) → x, k, v  (dim each)
    attend: keras.Model   # x chunk (Q, dim), each head's keys (head_dim, T), each head's values
                          # (T, head_dim) → encoded chunk (Q, dim)
    classify: keras.Model  # the window's encoded steps (T, dim) → logits
    geometry: StreamGeometry


def split_model(model) -> StreamingPieces:
    """step, attend and classify of a trained (folded) one-block ConvTransformer; raises
    NotStreamable otherwise."""
    check_streamable(model)
    frames, features = (int(d) for d in model.inputs[0].shape[1:])
    steps = steps_for(frames)
    chunk = chunk_for(steps)
    mhsa = model.get_layer("block1_mhsa")
    dim, heads = mhsa.dim, mhsa.heads
    head_dim = dim // heads
    # the whole-window graph's QKV projection, the query scale folded in (layers.MultiHeadSelfAttention):
    # step and attend compute all of it and slice, so that its int8 output gets the whole-window scale
    qkv_scale = tf.constant([head_dim ** -0.5] * dim + [1.0] * (2 * dim))

    frames_in = keras.Input((STEP_CONTEXT, features), name="frames")
    x = tf.reshape(frames_in, [-1, STEP_CONTEXT, features, 1])
    feature_pad = subsampling_length(features) - features
    if feature_pad:
        x = tf.pad(x, [[0, 0], [0, 0], [0, feature_pad], [0, 0]])
    x = model.get_layer("subsample_conv2")(model.get_layer("subsample_conv1")(x))  # 7 rows → 3 → 1
    x = model.get_layer("subsample_proj")(tf.reshape(x, [-1, int(x.shape[2]) * int(x.shape[3])]))
    # x reaches the projection through a reshape, as the whole-window graph's does through the
    # bands' concatenation: straight after proj's bias add, the converter moves that bias into the
    # next FULLY_CONNECTED's and feeds it x without bias — another arithmetic than the whole window's
    qkv = tf.reshape(mhsa.qkv(tf.reshape(x, [-1, 1, dim])) * qkv_scale, [-1, 3 * dim])
    step = keras.Model(frames_in, [x, qkv[:, dim:2 * dim], qkv[:, 2 * dim:]], name=GRAPH_NAMES["step"])

    # every head's keys and values a graph input of their own, filled by the application:
    # attend copies none of them (a split inside would hold a second copy of K and V in the arena).
    # Keys are stored transposed: the matmul needs no adjoint (with adj_y, the Python TFLM
    # interpreter crashed while bisecting this piece's arena). Batch 1 (the device's), rank 2
    # inside: the softmax sees (chunk, steps), whose dims[1] is the keys axis (the ESP-NN scratch
    # rule, firmware_export.esp_nn_rules).
    xq = keras.Input((chunk, dim), name="queries")
    k_heads = [keras.Input((head_dim, steps), name=f"keys_{h}") for h in range(heads)]
    v_heads = [keras.Input((steps, head_dim), name=f"values_{h}") for h in range(heads)]
    rows = tf.reshape(xq, [chunk, dim])
    q_heads = tf.split((mhsa.qkv(rows) * qkv_scale)[:, :dim], heads, axis=1)
    k_rows = [tf.reshape(k, [head_dim, steps]) for k in k_heads]
    v_rows = [tf.reshape(v, [steps, head_dim]) for v in v_heads]
    # one head at a time, as the whole-window graph (MultiHeadSelfAttention._head)
    context = tf.concat([tf.matmul(tf.nn.softmax(tf.matmul(q, k), axis=-1), v)
                         for q, k, v in zip(q_heads, k_rows, v_rows)], axis=1)
    y = model.get_layer("block1_mhsa_norm")(rows + mhsa.proj(context))
    y = model.get_layer("block1_ffn_norm")(y + model.get_layer("block1_ffn")(y))
    y = tf.reshape(y, [1, chunk, dim])
    attend = keras.Model([xq, *k_heads, *v_heads], y, name=GRAPH_NAMES["attend"])

    # classify pools the window's encoder outputs itself: the int8 mean is then TFLM's MEAN, as in the
    # whole-window graph, not a mean of chunk means rounded twice
    encoded = keras.Input((steps, dim), name="encoded")
    logits = model.get_layer("logits")(
        model.get_layer("cls2")(model.get_layer("cls1")(_pooled(model, encoded))))
    classify = keras.Model(encoded, logits, name=GRAPH_NAMES["classify"])
    return StreamingPieces(step, attend, classify, StreamGeometry.of(steps, chunk, heads, dim, features))


def _pooled(model, encoded):
    """The classifier head's pooling (layers.classifier_head) applied to `encoded`: the mean over
    time, and with `pooling: mean_sq` the mean of the squares beside it."""
    pooled = model.get_layer("pool")(encoded)
    if "pool_stats" not in {layer.name for layer in model.layers}:
        return pooled
    squares = model.get_layer("pool_sq")(model.get_layer("pool_square")([encoded, encoded]))
    return model.get_layer("pool_stats")([pooled, squares])


class KerasPieces:
    """The pieces in float (Keras), each called on a batch of its inputs (attend, built for batch 1 as
    the device runs it, one chunk at a time)."""

    def __init__(self, pieces: StreamingPieces):
        self.pieces = pieces
        specs = [tf.TensorSpec((1, *t.shape[1:]), tf.float32) for t in pieces.attend.inputs]
        self._attend = tf.function(lambda *inputs: pieces.attend(list(inputs), training=False),
                                   input_signature=specs)

    def step(self, windows):
        return [np.asarray(t) for t in self.pieces.step(windows, training=False)]

    def attend(self, queries, *heads):
        return np.concatenate([np.asarray(self._attend(*(np.asarray(t, np.float32)[None] for t in inputs)))
                               for inputs in zip(queries, *heads)])

    def classify(self, encoded):
        return np.asarray(self.pieces.classify(encoded, training=False))


def piece_macs(model: keras.Model) -> int:
    """MACs of one invocation of a piece (batch 1), counted as profile.count_flops counts them."""
    specs = [tf.TensorSpec((1, *t.shape[1:]), tf.float32) for t in model.inputs]
    forward = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
                          autograph=False)
    return int(sum(_op_macs(op) for op in forward.get_concrete_function(*specs).graph.get_operations()))
