"""Training dynamics of dense layers, HRF chains folded: what the deployed kernel does while it trains.

`WeightDynamics(names, probe)` is a Keras callback. For each named layer (an HRFDense is read
through its fold, a Dense as it is, so an HRF layer and its plain twin in the Lightweight model
are compared on the same m×n kernel) it records after every epoch: the Frobenius norm and the
singular values of the kernel, the mean size of one optimizer step of the kernel over the
epoch's batches (relative to its norm), the norm of the loss gradient with respect to the
kernel on a fixed probe batch, and, when given, a test UA. The records are what
benchmarks/hrf_dynamics.py plots.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from ser_reparam.hrf import HRFDense


def find_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """A dense sublayer by its path 'block1_ffn/ffn2' or a top-level layer name ('cls1')."""
    outer, _, inner = name.partition("/")
    layer = model.get_layer(outer)
    if not inner:
        return layer
    found = [sub for sub in layer._flatten_layers(include_self=False) if sub.name == inner]
    if not found:
        raise ValueError(f"{outer} has no sublayer {inner!r}")
    return found[0]


def kernel_of(layer) -> np.ndarray:
    return layer.folded_weights()[0] if isinstance(layer, HRFDense) else layer.kernel.numpy()


def kernel_gradient(model: keras.Model, layer, x, y) -> np.ndarray:
    """dLoss/dKernel at the (folded) kernel on the batch (x, y). For a chain W = W1·R (R the
    product of the later factors, rn×n of full column rank) the first factor's gradient is
    G·Rᵀ, so G = ∂W1 · R (RᵀR)⁻¹: the same matrix a plain kernel in its place would get."""
    first = layer.kernels[0] if isinstance(layer, HRFDense) else layer.kernel
    with tf.GradientTape() as tape:
        logits = model(x, training=False)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
    grad = tape.gradient(loss, first).numpy().astype(np.float64)
    if not isinstance(layer, HRFDense) or len(layer.kernels) == 1:
        return grad / (layer.step if isinstance(layer, HRFDense) else 1.0)
    rest = np.linalg.multi_dot([np.eye(layer.kernels[1].shape[0])]
                               + [k.numpy().astype(np.float64) * layer.step for k in layer.kernels[1:]])
    return (grad / layer.step) @ rest @ np.linalg.inv(rest.T @ rest)


class WeightDynamics(keras.callbacks.Callback):
    """Per epoch and layer: kernel norm, singular values, mean relative step, gradient norm."""

    def __init__(self, names: list[str], probe: tuple, test: tuple | None = None, score=None):
        super().__init__()
        self.names, self.probe, self.test, self.score = names, probe, test, score
        self.records: dict[str, list[dict]] = {name: [] for name in names}
        self.test_ua: list[float] = []

    def on_train_begin(self, logs=None):
        self.layers = {name: find_layer(self.model, name) for name in self.names}
        self.last = {name: kernel_of(layer) for name, layer in self.layers.items()}
        self.steps = {name: [] for name in self.names}

    def on_train_batch_end(self, batch, logs=None):
        for name, layer in self.layers.items():
            kernel = kernel_of(layer)
            self.steps[name].append(float(np.linalg.norm(kernel - self.last[name])
                                          / np.linalg.norm(self.last[name])))
            self.last[name] = kernel

    def on_epoch_end(self, epoch, logs=None):
        x, y = self.probe
        for name, layer in self.layers.items():
            kernel = self.last[name]
            self.records[name].append({
                "epoch": epoch + 1, "norm": float(np.linalg.norm(kernel)),
                "singular_values": np.linalg.svd(kernel, compute_uv=False).tolist(),
                "step": float(np.mean(self.steps[name])) if self.steps[name] else 0.0,
                "grad_norm": float(np.linalg.norm(kernel_gradient(self.model, layer, x, y)))})
            self.steps[name] = []
        if self.test is not None and self.score is not None:
            self.test_ua.append(float(self.score(self.model.predict(self.test[0], batch_size=256,
                                                                    verbose=0))))
