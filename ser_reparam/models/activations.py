"""FFN activations of the paper's ablation, each written with ops TFLite Micro has.

TFLM has no GELU kernel, so GELU is the tanh approximation (MUL / ADD / TANH) in training and
deployment alike: the model that is trained is the model that runs on the board. Its largest
deviation from the exact erf GELU is measured by `gelu_deviation()` (docs/models-and-hrf.md). Swish is
x·sigmoid(x) (LOGISTIC, MUL); squared ReLU is relu(x)·relu(x) (RELU, MUL), not SQUARE, which
TFLM quantizes through float.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
import tf_keras as keras

_GELU_C = math.sqrt(2.0 / math.pi)


@keras.saving.register_keras_serializable(package="ser_reparam")
def relu(x):
    return tf.nn.relu(x)


@keras.saving.register_keras_serializable(package="ser_reparam")
def swish(x):
    return x * tf.sigmoid(x)


@keras.saving.register_keras_serializable(package="ser_reparam")
def squared_relu(x):
    r = tf.nn.relu(x)
    return r * r


@keras.saving.register_keras_serializable(package="ser_reparam")
def gelu(x):
    return 0.5 * x * (1.0 + tf.tanh(_GELU_C * (x + 0.044715 * x * x * x)))


ACTIVATIONS = {"relu": relu, "gelu": gelu, "swish": swish, "squared_relu": squared_relu}


def get_activation(name: str):
    """The activation function for a name in ACTIVATIONS; ValueError names the choices."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def gelu_deviation(lo: float = -8.0, hi: float = 8.0, points: int = 160_001) -> float:
    """Max |tanh-approximated GELU − exact erf GELU| on a grid over [lo, hi]."""
    x = np.linspace(lo, hi, points)
    exact = 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    approx = gelu(tf.constant(x, tf.float64)).numpy()
    return float(np.max(np.abs(approx - exact)))
