"""The memory-lean inference graph of a model: the same function, a lower TFLite Micro arena.

The whole-window arena peaks at the first subsampling convolution, whose output (T/2 × F/2 ×
dim) is ~4× the input. `lean_forward` computes the two convolutions and the projection after
them in BANDS bands of output steps, straight from the (batch, T, F) input — no copying
reshape of the whole input to 4-D — so that only one band's convolution outputs are live;
the projected bands are concatenated. Each output step depends only on its own 4·j … 4·j + 6
input rows (see layers.subsampling_length), so every value is the one the whole-window
convolution computes: the float logits are unchanged. Cost: each band recomputes two rows of
the first convolution (its band is 4·b + 6 rows long, 2 mod 4, so that ESP-NN makes no padded
copy of it either).
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from ser_reparam.models.layers import subsampling_length

# bands of the subsampling: the first convolution's live output is then about a quarter; each
# band adds ~2.5 KB of int8 flatbuffer (its tensors, per-channel bias and scales)
BANDS = 4
SUBSAMPLING = ("subsample_conv1", "subsample_conv2", "subsample_proj")


def has_subsampling(model) -> bool:
    names = {layer.name for layer in model.layers}
    return all(name in names for name in SUBSAMPLING)


def banded_subsampling(model, x, bands: int = BANDS):
    """subsample_proj's output for input x (batch, T, F), computed band by band."""
    conv1, conv2, proj = (model.get_layer(name) for name in SUBSAMPLING)
    frames, features = int(x.shape[1]), int(x.shape[2])
    steps = ((subsampling_length(frames) - 3) // 2 + 1 - 3) // 2 + 1
    feature_pad = subsampling_length(features) - features
    band_rows = -(-steps // bands)
    outputs = []
    for first in range(0, steps, band_rows):
        count = min(band_rows, steps - first)
        start, length = 4 * first, 4 * count + 6
        band = x[:, start:min(start + length, frames), :]
        band = tf.reshape(band, [-1, int(band.shape[1]), features, 1])
        if int(band.shape[1]) < length or feature_pad:
            band = tf.pad(band, [[0, 0], [0, length - int(band.shape[1])], [0, feature_pad], [0, 0]])
        h = conv2(conv1(band))
        outputs.append(proj(tf.reshape(h, [-1, count, int(h.shape[2]) * int(h.shape[3])])))
    return tf.concat(outputs, axis=1) if len(outputs) > 1 else outputs[0]


def lean_forward(model):
    """x → model(x, training=False), with the subsampling banded when the model has it."""
    if not has_subsampling(model):
        return lambda x: model(x, training=False)
    tail = keras.Model(model.get_layer("subsample_proj").output, model.outputs)
    return lambda x: tail(banded_subsampling(model, x), training=False)
