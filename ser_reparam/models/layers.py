"""Building blocks shared by the three architectures, written for TFLite Micro.

Every tensor shape except the batch is static, reshapes use -1 only for the batch, and the ops
are ones TFLM runs (FULLY_CONNECTED, BATCH_MATMUL, SOFTMAX, TRANSPOSE ≤ 4-D, RESHAPE, SPLIT, PAD,
STRIDED_SLICE, PACK, MEAN, …). Dense sublayers that the paper re-parameterizes are built with
`make_dense(units, hrf.get(place))` and the placement is kept in the config key `hrf`, so that
`fold_model` can rebuild each block without HRF.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
import tf_keras as keras

from ser_reparam.hrf import HRF_CONFIG_KEY, make_dense
from ser_reparam.models.activations import get_activation

register = keras.saving.register_keras_serializable(package="ser_reparam")


def sinusoid_table(length: int, dim: int) -> np.ndarray:
    """The Transformer's sinusoidal position table, length × dim, float32."""
    position = np.arange(length)[:, None]
    rate = np.power(10000.0, -2.0 * (np.arange(dim) // 2) / dim)[None, :]
    angle = position * rate
    return np.where(np.arange(dim) % 2 == 0, np.sin(angle), np.cos(angle)).astype(np.float32)


@register
class PositionalEncoding(keras.layers.Layer):
    """x · scale + sinusoid table: a constant of the graph, not a parameter."""

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def build(self, input_shape):
        self.table = tf.constant(sinusoid_table(int(input_shape[1]), int(input_shape[2])))
        super().build(input_shape)

    def call(self, x):
        return (x * self.scale if self.scale != 1.0 else x) + self.table

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@register
class LayerNorm(keras.layers.Layer):
    """LayerNorm over the last axis as (x − mean) · rsqrt(var + ε) · γ + β.

    Written out so that it converts to 9 TFLite ops with 4 constants; Keras' own layer
    converts to 10 ops with 5, which costs ~0.5 KB of flatbuffer per norm in an int8 model.
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(dim,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(dim,), initializer="zeros")
        super().build(input_shape)

    def call(self, x):
        centered = x - tf.reduce_mean(x, axis=-1, keepdims=True)
        variance = tf.reduce_mean(centered * centered, axis=-1, keepdims=True)
        return centered * tf.math.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def layer_norm(name: str) -> LayerNorm:
    return LayerNorm(epsilon=1e-5, name=name)


def residual(x, h, name: str, dropout: float, weight: float = 1.0):
    """x + weight · dropout(h), as named layers `<name>_dropout` (`<name>_scale`) and `<name>_residual`."""
    h = keras.layers.Dropout(dropout, name=f"{name}_dropout")(h)
    if weight != 1.0:
        h = keras.layers.Rescaling(weight, name=f"{name}_scale")(h)
    return keras.layers.Add(name=f"{name}_residual")([x, h])


@register
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention with one fused QKV projection and an output projection.

    window=None attends over the whole sequence; an odd window w attends over the w frames
    centred on each frame (zero-padded at the edges, like SpeechFormer's Speech-MSA), built
    from w shifted slices so that memory grows with T·w, not T².
    HRF places: `qkv`, `proj`.
    """

    def __init__(self, dim: int, heads: int = 4, window: int | None = None, dropout: float = 0.0,
                 hrf: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(f"attention dim {dim} must be divisible by the number of heads {heads}")
        if window is not None and (window < 1 or window % 2 == 0):
            raise ValueError(f"local attention window must be a positive odd number, got {window}")
        self.dim, self.heads, self.window, self.dropout = dim, heads, window, dropout
        self.hrf = dict(hrf or {})
        self.qkv = make_dense(3 * dim, self.hrf.get("qkv"), name="qkv")
        self.proj = make_dense(dim, self.hrf.get("proj"), name="proj")
        self.attention_dropout = keras.layers.Dropout(dropout, name="attention_dropout")

    def build(self, input_shape):
        self.qkv.build(input_shape)
        self.proj.build(tf.TensorShape(input_shape)[:-1].concatenate([self.dim]))
        super().build(input_shape)

    def call(self, x, training=None):
        frames, head_dim = int(x.shape[1]), self.dim // self.heads
        # the query scale as a per-channel factor right after the projection: the converter folds
        # it into the QKV weights, so the deployed graph has no extra MUL
        scale = tf.constant([head_dim ** -0.5] * self.dim + [1.0] * (2 * self.dim), dtype=x.dtype)
        qkv = self.qkv(x) * scale
        if self.window is None and not training:  # inference and export: one head at a time
            return self.proj(tf.concat([self._head(qkv, h) for h in range(self.heads)], axis=-1))
        # (batch, T, 3·heads, head_dim) → (batch, 3·heads, T, head_dim): a 4-D transpose (CMSIS-NN's limit)
        qkv = tf.reshape(qkv, [-1, frames, 3 * self.heads, head_dim])
        q, k, v = tf.split(tf.transpose(qkv, [0, 2, 1, 3]), 3, axis=1)  # each (batch, heads, T, head_dim)
        if self.window is None:  # training: all heads in one batched product (faster on a CPU)
            weights = tf.nn.softmax(tf.matmul(q, k, transpose_b=True), axis=-1)
            context = tf.matmul(self.attention_dropout(weights, training=training), v)
        else:
            context = self._local(q, k, v, frames, training)
        context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [-1, frames, self.dim])
        return self.proj(context)

    def _head(self, qkv, h: int):
        """Head h's context (batch, T, head_dim), one head at a time: the deployed graph then holds
        one head's T×T scores (and their softmax) at a time instead of all heads' (÷ heads of the
        attention's arena peak). The softmax input is (batch, T, T): esp-tflite-micro sizes the
        ESP-NN softmax scratch from dims[1] while the kernel indexes it by the last dimension, and
        with T in dims[1] both agree (firmware_export.esp_nn_rules)."""
        head_dim = self.dim // self.heads
        q, k, v = (qkv[:, :, part * self.dim + h * head_dim:part * self.dim + (h + 1) * head_dim]
                   for part in range(3))
        return tf.matmul(tf.nn.softmax(tf.matmul(q, k, transpose_b=True), axis=-1), v)

    def _local(self, q, k, v, frames, training):
        head_dim, pad = self.dim // self.heads, (self.window - 1) // 2
        q = tf.reshape(q, [-1, frames, 1, head_dim])

        def windows(t):
            t = tf.pad(tf.reshape(t, [-1, frames, head_dim]), [[0, 0], [pad, pad], [0, 0]])
            return tf.stack([t[:, j:j + frames, :] for j in range(self.window)], axis=2)

        weights = tf.nn.softmax(tf.matmul(q, windows(k), transpose_b=True), axis=-1)
        context = tf.matmul(self.attention_dropout(weights, training=training), windows(v))
        return tf.reshape(context, [-1, self.heads, frames, head_dim])

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads, "window": self.window,
                "dropout": self.dropout, HRF_CONFIG_KEY: self.hrf}


@register
class FeedForward(keras.layers.Layer):
    """Position-wise FFN: dense(inner) → activation → dropout → dense(dim).

    HRF places `<role>1` and `<role>2`: role "ffn" gives ffn1 / ffn2, role "ffn_m" the
    Conformer's macaron ffn_m1 / ffn_m2.
    """

    def __init__(self, dim: int, inner: int, activation: str = "relu", dropout: float = 0.0,
                 role: str = "ffn", hrf: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.inner, self.activation, self.dropout, self.role = dim, inner, activation, dropout, role
        self.hrf = dict(hrf or {})
        self.act = get_activation(activation)
        self.fc1 = make_dense(inner, self.hrf.get(f"{role}1"), name=f"{role}1")
        self.fc2 = make_dense(dim, self.hrf.get(f"{role}2"), name=f"{role}2")
        self.inner_dropout = keras.layers.Dropout(dropout, name="inner_dropout")

    def build(self, input_shape):
        self.fc1.build(input_shape)
        self.fc2.build(tf.TensorShape(input_shape)[:-1].concatenate([self.inner]))
        super().build(input_shape)

    def call(self, x, training=None):
        return self.fc2(self.inner_dropout(self.act(self.fc1(x)), training=training))

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "inner": self.inner, "activation": self.activation,
                "dropout": self.dropout, "role": self.role, HRF_CONFIG_KEY: self.hrf}


@register
class ConvModule(keras.layers.Layer):
    """Conformer convolution module: pointwise (2·dim) → GLU → depthwise → BatchNorm → Swish → pointwise."""

    def __init__(self, dim: int, kernel_size: int = 31, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.kernel_size, self.dropout = dim, kernel_size, dropout
        self.pointwise_in = keras.layers.Dense(2 * dim, name="pointwise_in")
        self.depthwise = keras.layers.DepthwiseConv1D(kernel_size, padding="same", name="depthwise")
        self.norm = keras.layers.BatchNormalization(name="batch_norm")
        self.pointwise_out = keras.layers.Dense(dim, name="pointwise_out")
        self.out_dropout = keras.layers.Dropout(dropout, name="out_dropout")

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        self.pointwise_in.build(shape)
        self.depthwise.build(shape)
        self.norm.build(shape)
        self.pointwise_out.build(shape)
        super().build(input_shape)

    def call(self, x, training=None):
        value, gate = tf.split(self.pointwise_in(x), 2, axis=-1)
        x = self.norm(self.depthwise(value * tf.sigmoid(gate)), training=training)
        x = x * tf.sigmoid(x)
        return self.out_dropout(self.pointwise_out(x), training=training)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "kernel_size": self.kernel_size,
                "dropout": self.dropout}


@register
class MergeBlock(keras.layers.Layer):
    """SpeechFormer merge: average every `scale` frames (zero-padding the tail), then dense + LayerNorm."""

    def __init__(self, dim: int, scale: int, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.scale = dim, scale
        self.dense = keras.layers.Dense(dim, name="dense")
        self.norm = LayerNorm(epsilon=1e-5, name="norm")

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        self.dense.build(shape)
        self.norm.build(shape[:-1].concatenate([self.dim]))
        super().build(input_shape)

    def call(self, x):
        frames, channels = int(x.shape[1]), int(x.shape[2])
        merged = math.ceil(frames / self.scale)
        if merged * self.scale != frames:
            x = tf.pad(x, [[0, 0], [0, merged * self.scale - frames], [0, 0]])
        x = tf.reduce_mean(tf.reshape(x, [-1, merged, self.scale, channels]), axis=2)
        return self.norm(self.dense(x))

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "scale": self.scale}


def subsampling_length(n: int) -> int:
    """The smallest length >= n that is 2 mod 4: the two 3×3 stride-2 convolutions then see even
    lengths (n, then (n − 1) / 2), so ESP-NN's ESP32-S3 convolution makes no padded copy of its
    input (its check `out·stride + k − 1 > in` is true for every odd length), while the output
    length is that of n and depends on the same n inputs: the zeros appended at the end only
    reach convolution-1 rows that convolution 2 never reads."""
    return n + (2 - n) % 4


def conv_subsampling(x, dim: int, dropout: float, positions: bool):
    """Two 3×3 stride-2 Conv2D + ReLU over (time, feature), then dense to `dim` (+ positions).

    The VGG-style front end of speech Transformers (ESPnet's Conv2dSubsampling): time and
    feature axes shrink about 4×, so attention runs on ~T/4 frames. With `positions`, the
    output is scaled by √dim and a sinusoid table is added, as in ESPnet.
    """
    frames, features = int(x.shape[1]), int(x.shape[2])
    x = keras.layers.Reshape((frames, features, 1), name="subsample_expand")(x)
    padding = (subsampling_length(frames) - frames, subsampling_length(features) - features)
    if any(padding):  # rows and columns no output depends on: see subsampling_length
        x = keras.layers.ZeroPadding2D(((0, padding[0]), (0, padding[1])), name="subsample_pad")(x)
    x = keras.layers.Conv2D(dim, 3, strides=2, activation="relu", name="subsample_conv1")(x)
    x = keras.layers.Conv2D(dim, 3, strides=2, activation="relu", name="subsample_conv2")(x)
    x = keras.layers.Reshape((int(x.shape[1]), int(x.shape[2]) * dim), name="subsample_flatten")(x)
    x = keras.layers.Dense(dim, name="subsample_proj")(x)
    if positions:
        x = PositionalEncoding(scale=math.sqrt(dim), name="positions")(x)
    return keras.layers.Dropout(dropout, name="subsample_dropout")(x)


def classifier_head(x, dim: int, num_classes: int, hrf: dict, dropout: float, bias: float,
                    pool_norm: bool = False, pooling: str = "mean", units: tuple[int, int] | None = None):
    """Average over time, then dense dim/2 → dim/4 → classes (ReLU, dropout); HRF place `cls`.

    The two ReLU layers start with bias `bias` (> 0): the time-averaged sequence varies little
    between utterances beside its common offset, so with zero biases all 8 (4) units of the
    lightweight head went dead for every input in the first epochs of some seeds on real speech,
    and the run predicted one class for good (docs/notes/real-speech-recipe.md). `pool_norm` batch-normalizes
    the time average inside cls1 (NormedHRFDense): it removes that offset and scales up the
    differences between utterances in training, and folds into cls1's kernel and bias at deHRF.
    `pooling="mean_sq"` concatenates the time average of the squared sequence (second-order
    statistics: with pool_norm, a linear map of it carries the variance over time) — MUL and MEAN
    on the device. `units`: the two hidden widths instead of dim/2, dim/4.
    """
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    if pooling == "mean_sq":
        squares = keras.layers.Multiply(name="pool_square")([x, x])
        pooled = keras.layers.Concatenate(name="pool_stats")(
            [pooled, keras.layers.GlobalAveragePooling1D(name="pool_sq")(squares)])
    x = pooled
    for i, units in enumerate(units or (max(dim // 2, 1), max(dim // 4, 1)), start=1):
        x = make_dense(units, hrf.get("cls"), normalize_input=pool_norm and i == 1, activation="relu",
                       name=f"cls{i}", bias_initializer=keras.initializers.Constant(bias))(x)
        x = keras.layers.Dropout(dropout, name=f"cls{i}_dropout")(x)
    return make_dense(num_classes, hrf.get("cls"), name="logits")(x)
