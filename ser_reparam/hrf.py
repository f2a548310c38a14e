"""High-Rank Factorization (HRF): a dense layer that trains as a chain of linear factors.

`HRFDense(units, ratio=r, depth=d)` stands for one fully connected layer `y = f(x W + b)`
with W of shape m×n. It holds d+1 factors W1 (m×rn), W2…Wd (rn×rn), W_{d+1} (rn×n), each
with a bias, and no activation between them, so the chain folds exactly (deHRF) into one
m×n kernel and one bias: `fold()` returns that plain `Dense`.

Training multiplies the factors together first and then applies one matmul to the input.
This is the same function and, by the chain rule, the same gradient for every factor as
applying the factors one after another, but it costs m·n multiply-adds per input row
instead of m·rn + (d−1)·(rn)² + rn·n (see benchmarks/hrf_step_time.py).

Two training-only options change how the chain starts and moves, never what it folds to:
`init="matched"` scales every Glorot-initialized factor by one common factor so that the folded
kernel starts with the variance of a plain m×n Glorot kernel (independent Glorot factors start
the product at a fraction of it: ~0.27 for ffn2 at r=8); `step=α` stores each factor as α·v and
trains v, so an optimizer step of the same size on v moves the factor α times as far (with
AdamW, whose step size ignores the gradient's scale, the usual way to give one layer its own
learning rate), and decoupled weight decay still shrinks the factor by the same fraction.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

# A block that builds its dense sublayers from an HRF placement keeps that placement in its
# config under this key; fold_model() empties it to rebuild the block without HRF.
HRF_CONFIG_KEY = "hrf"


def _positive_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"HRFDense: `{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _fresh(initializer, index: int):
    """A new initializer per factor: a tf_keras initializer repeats its values when reused,
    so factors of equal shape would start equal; a seeded one gets seed + index."""
    config = keras.initializers.serialize(initializer)
    seed = config.get("config", {}).get("seed")
    if seed is not None:
        config = {**config, "config": {**config["config"], "seed": seed + index}}
    return keras.initializers.get(config)


@keras.saving.register_keras_serializable(package="ser_reparam")
class HRFDense(keras.layers.Layer):
    """Dense layer trained as `depth + 1` linear factors with expansion `ratio`.

    depth=0 is a plain dense layer (one m×n factor). The activation is applied only after
    the last factor. Inputs of any rank ≥ 2 are mapped on their last axis, like `Dense`.
    """

    def __init__(
        self,
        units: int,
        ratio: int = 8,
        depth: int = 1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        init: str = "factors",
        step: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if init not in ("factors", "matched"):
            raise ValueError(f"HRFDense: `init` must be 'factors' or 'matched', got {init!r}")
        if not isinstance(step, (int, float)) or isinstance(step, bool) or not 0 < step < 1e3:
            raise ValueError(f"HRFDense: `step` must be a number in (0, 1000), got {step!r}")
        self.init, self.step = init, float(step)
        self.units = _positive_int("units", units, 1)
        self.ratio = _positive_int("ratio", ratio, 1)
        self.depth = _positive_int("depth", depth, 0)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def factor_shapes(self, input_dim: int) -> list[tuple[int, int]]:
        """Shapes of W1 … W_{depth+1}: m×rn, rn×rn …, rn×n (just m×n when depth is 0)."""
        if self.depth == 0:
            return [(input_dim, self.units)]
        wide = self.ratio * self.units
        return [(input_dim, wide)] + [(wide, wide)] * (self.depth - 1) + [(wide, self.units)]

    def build(self, input_shape):
        input_dim = tf.TensorShape(input_shape)[-1]
        if input_dim is None:
            raise ValueError(f"HRFDense '{self.name}': the last input axis must be known, got {input_shape}")
        self.kernels, self.biases = [], []
        shapes = self.factor_shapes(int(input_dim))
        for i, shape in enumerate(shapes):
            self.kernels.append(self.add_weight(
                name=f"kernel_{i}", shape=shape, initializer=_fresh(self.kernel_initializer, i),
                regularizer=self.kernel_regularizer, trainable=True))
            # inner biases start at 0, so the folded bias starts as bias_initializer gives it
            if self.use_bias:
                self.biases.append(self.add_weight(
                    name=f"bias_{i}", shape=(shape[1],),
                    initializer=_fresh(self.bias_initializer, i) if i == len(shapes) - 1 else "zeros",
                    regularizer=self.bias_regularizer, trainable=True))
        self._start(shapes)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: int(input_dim)})
        super().build(input_shape)

    def _start(self, shapes: list[tuple[int, int]]) -> None:
        """Rescale the initial factors for `init` and `step` (the stored variable is factor / step)."""
        scale = 1.0
        if self.init == "matched" and len(shapes) > 1:
            product = np.prod([2.0 / sum(shape) for shape in shapes]) * np.prod([s[1] for s in shapes[:-1]])
            scale = (2.0 / (shapes[0][0] + shapes[-1][1]) / product) ** (1.0 / (2 * len(shapes)))
        for variable in [*self.kernels, *self.biases]:
            if scale != 1.0 or self.step != 1.0:
                factor = scale if variable.name.split("/")[-1].startswith("kernel") else 1.0
                variable.assign(variable * (factor / self.step))

    def factors(self) -> list[tuple]:
        """The (kernel, bias) factors as the chain uses them (step × the stored variables)."""
        if self.step == 1.0:
            return list(zip(self.kernels, self.biases or [None] * len(self.kernels)))
        return [(k * self.step, b * self.step if b is not None else None)
                for k, b in zip(self.kernels, self.biases or [None] * len(self.kernels))]

    def _product(self):
        """The folded kernel and bias as tensors, differentiable w.r.t. every factor."""
        factors = self.factors()
        kernel, bias = factors[0]
        for next_kernel, next_bias in factors[1:]:
            kernel = tf.matmul(kernel, next_kernel)
            if self.use_bias:
                bias = tf.linalg.matvec(next_kernel, bias, transpose_a=True) + next_bias
        return kernel, bias

    def call(self, inputs):
        kernel, bias = self._product()
        inputs = tf.cast(inputs, self.compute_dtype)
        if inputs.shape.rank == 2:
            outputs = tf.matmul(inputs, kernel)
        else:
            outputs = tf.tensordot(inputs, kernel, [[inputs.shape.rank - 1], [0]])
            outputs.set_shape(inputs.shape[:-1].concatenate([self.units]))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, bias)
        return self.activation(outputs) if self.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def folded_weights(self) -> tuple[np.ndarray, np.ndarray | None]:
        """deHRF: W' = W1 W2 … WN and b' = (…(b1 W2 + b2) W3 …) WN + bN, in float64, as float32."""
        if not self.built:
            raise ValueError(f"HRFDense '{self.name}' is not built yet: call it on an input first")
        kernels = [k.numpy().astype(np.float64) * self.step for k in self.kernels]
        biases = [b.numpy().astype(np.float64) * self.step for b in self.biases] if self.use_bias else []
        kernel = kernels[0]
        bias = biases[0] if self.use_bias else None
        for i in range(1, len(kernels)):
            kernel = kernel @ kernels[i]
            if self.use_bias:
                bias = bias @ kernels[i] + biases[i]
        return kernel.astype(np.float32), (bias.astype(np.float32) if self.use_bias else None)

    def fold(self) -> keras.layers.Dense:
        """A new, built `Dense` carrying the folded weights; this layer is left untouched."""
        kernel, bias = self.folded_weights()
        dense = keras.layers.Dense.from_config(dense_config(self.get_config()))
        dense.build((None, kernel.shape[0]))
        dense.set_weights([kernel, bias] if self.use_bias else [kernel])
        return dense

    def get_config(self):
        config = {
            "units": self.units,
            "ratio": self.ratio,
            "depth": self.depth,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "init": self.init,
            "step": self.step,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="ser_reparam")
class NormedHRFDense(HRFDense):
    """An HRFDense whose input is first batch-normalized (per input channel, statistics of the
    batch in training, moving averages in inference).

    In inference the normalization is the affine map x·s + t (s = γ/√(moving var + ε),
    t = β − moving mean·s), so it folds into the kernel and bias with the HRF chain: deHRF gives
    one plain Dense, W' = diag(s)·W and b' = t·W + b, and the deployed graph has no extra op.
    """

    def __init__(self, units: int, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(units, **kwargs)
        if not self.use_bias:
            raise ValueError(f"NormedHRFDense '{self.name}': use_bias must be True (the folded normalization "
                             "needs a bias)")
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def build(self, input_shape):
        channels = (int(tf.TensorShape(input_shape)[-1]),)
        self.gamma = self.add_weight(name="norm_gamma", shape=channels, initializer="ones")
        self.beta = self.add_weight(name="norm_beta", shape=channels, initializer="zeros")
        self.moving_mean = self.add_weight(name="norm_moving_mean", shape=channels, initializer="zeros",
                                           trainable=False)
        self.moving_variance = self.add_weight(name="norm_moving_variance", shape=channels,
                                               initializer="ones", trainable=False)
        super().build(input_shape)

    def _normalize(self, inputs, mean, variance):
        return (inputs - mean) * tf.math.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def call(self, inputs, training=None):
        inputs = tf.cast(inputs, self.compute_dtype)

        def batch_statistics():
            mean, variance = tf.nn.moments(inputs, axes=list(range(inputs.shape.rank - 1)))
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + variance * (1.0 - self.momentum))
            return self._normalize(inputs, mean, variance)

        normalized = tf.__internal__.smart_cond.smart_cond(
            training if training is not None else False, batch_statistics,
            lambda: self._normalize(inputs, self.moving_mean, self.moving_variance))
        return super().call(normalized)

    def folded_weights(self) -> tuple[np.ndarray, np.ndarray | None]:
        """deHRF with the inference-mode normalization: W' = diag(s)·W, b' = t·W + b (float64)."""
        kernel, bias = super().folded_weights()
        kernel = kernel.astype(np.float64)
        scale = self.gamma.numpy().astype(np.float64) / np.sqrt(
            self.moving_variance.numpy().astype(np.float64) + self.epsilon)
        shift = self.beta.numpy().astype(np.float64) - self.moving_mean.numpy().astype(np.float64) * scale
        bias = shift @ kernel + (bias.astype(np.float64) if bias is not None else 0.0)
        return (scale[:, None] * kernel).astype(np.float32), bias.astype(np.float32)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


def dense_config(hrf_config: dict) -> dict:
    """The config of the plain `Dense` an HRFDense config folds into (same name, units, activation)."""
    return {k: v for k, v in hrf_config.items()
            if k not in ("ratio", "depth", "momentum", "epsilon", "init", "step")}


def _chain(hrf: dict) -> dict:
    """HRFDense arguments of a place's spec {"ratio", "depth"[, "init", "step"]}."""
    return {"ratio": hrf.get("ratio", 8), "depth": hrf.get("depth", 1), "init": hrf.get("init", "factors"),
            "step": hrf.get("step", 1.0)}


def make_dense(units: int, hrf: dict | None = None, normalize_input: bool = False,
               **kwargs) -> keras.layers.Layer:
    """`HRFDense(units, **hrf)` when an HRF spec {"ratio": r, "depth": d} is given, else `Dense`;
    with `normalize_input`, a NormedHRFDense (depth 0 without an HRF spec).

    Blocks build their dense sublayers through this, keeping `hrf` specs in their config, so
    that fold_model can rebuild them as plain Dense layers.
    """
    if normalize_input:
        hrf = hrf or {"ratio": 1, "depth": 0}
        return NormedHRFDense(units, **_chain(hrf), **kwargs)
    if hrf:
        return HRFDense(units, **_chain(hrf), **kwargs)
    return keras.layers.Dense(units, **kwargs)
