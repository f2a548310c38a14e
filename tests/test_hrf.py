"""HRFDense: factor shapes, exact folding, serialization, gradients and argument checks."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from conftest import randomize_weights

from ser_reparam.hrf import HRFDense, make_dense

RTOL = 1e-5  # folded vs unfolded, relative to max |output| (float32)


def _build(layer, input_shape, rng):
    model = keras.Sequential([keras.Input(input_shape[1:]), layer])
    randomize_weights(model, rng)
    return model


def _max_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def _numpy_chain(layer, x):
    """The HRF chain applied factor by factor in float64, no activation in between."""
    y = x.astype(np.float64)
    for i, kernel in enumerate(layer.kernels):
        y = y @ kernel.numpy().astype(np.float64)
        if layer.use_bias:
            y = y + layer.biases[i].numpy().astype(np.float64)
    return y


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("ratio", [1, 2, 4, 8])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("input_shape", [(5, 12), (3, 7, 12)], ids=["rank2", "rank3"])
def test_fold_is_exact(depth, ratio, use_bias, input_shape, rng):
    layer = HRFDense(6, ratio=ratio, depth=depth, use_bias=use_bias)
    _build(layer, input_shape, rng)
    x = rng.standard_normal(input_shape).astype(np.float32)
    unfolded = layer(x).numpy()
    folded = layer.fold()(x).numpy()
    assert _max_rel(folded, unfolded) <= RTOL
    assert _max_rel(unfolded, _numpy_chain(layer, x)) <= RTOL
    kernel, bias = layer.folded_weights()
    assert kernel.dtype == np.float32 and kernel.shape == (12, 6)
    assert (bias is None) == (not use_bias)


@pytest.mark.parametrize("depth,expected", [
    (0, [(12, 5)]),
    (1, [(12, 40), (40, 5)]),
    (3, [(12, 40), (40, 40), (40, 40), (40, 5)]),
])
def test_factor_shapes(depth, expected, rng):
    layer = HRFDense(5, ratio=8, depth=depth)
    _build(layer, (2, 12), rng)
    assert [tuple(k.shape) for k in layer.kernels] == expected
    assert [tuple(b.shape) for b in layer.biases] == [(s[1],) for s in expected]


def test_bias_initializer_sets_the_folded_bias(rng):
    """Inner factor biases start at 0, so the folded layer starts with the initializer's bias."""
    layer = HRFDense(4, ratio=8, depth=2, bias_initializer=keras.initializers.Constant(0.5))
    layer.build((None, 6))
    assert [float(np.abs(b.numpy()).max()) for b in layer.biases] == [0.0, 0.0, 0.5]
    np.testing.assert_array_equal(layer.folded_weights()[1], np.float32(0.5))


def test_activation_only_after_last_factor(rng):
    layer = HRFDense(6, ratio=4, depth=2, activation="relu")
    _build(layer, (8, 10), rng)
    x = rng.standard_normal((8, 10)).astype(np.float32)
    expected = np.maximum(_numpy_chain(layer, x), 0.0)
    assert _max_rel(layer(x), expected) <= RTOL
    dense = layer.fold()
    assert dense.activation is keras.activations.relu
    assert dense.name == layer.name
    assert _max_rel(dense(x), expected) <= RTOL


@pytest.mark.parametrize("use_bias", [True, False])
def test_folded_layer_has_plain_dense_param_count(use_bias, rng):
    layer = HRFDense(7, ratio=8, depth=2, use_bias=use_bias)
    _build(layer, (2, 13), rng)
    assert layer.count_params() == 13 * 56 + 56 * 56 + 56 * 7 + use_bias * (56 + 56 + 7)
    assert layer.fold().count_params() == 13 * 7 + use_bias * 7


def test_config_round_trip():
    layer = HRFDense(9, ratio=4, depth=3, activation="swish", use_bias=False, name="ffn2",
                     kernel_regularizer=keras.regularizers.L2(1e-4))
    clone = HRFDense.from_config(layer.get_config())
    assert (clone.units, clone.ratio, clone.depth, clone.use_bias, clone.name) == (9, 4, 3, False, "ffn2")
    assert clone.activation is keras.activations.swish
    assert clone.get_config() == layer.get_config()


def test_factors_of_equal_shape_start_different():
    layer = HRFDense(4, ratio=2, depth=3)
    layer.build((None, 6))
    middle = [k.numpy() for k in layer.kernels[1:3]]
    assert middle[0].shape == middle[1].shape
    assert not np.allclose(middle[0], middle[1])


def test_gradient_reaches_every_factor(rng):
    inputs = keras.Input((10,))
    x = HRFDense(8, ratio=4, depth=3, activation="relu", name="hidden")(inputs)
    outputs = HRFDense(3, ratio=2, depth=1, name="cls")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in model.trainable_weights]
    assert len(before) == 2 * (4 + 2)
    x_train = rng.standard_normal((16, 10)).astype(np.float32)
    y_train = rng.integers(0, 3, 16)
    model.fit(x_train, y_train, batch_size=16, epochs=1, verbose=0)
    for weight, old in zip(model.trainable_weights, before):
        assert not np.allclose(weight.numpy(), old), f"{weight.name} did not change"


@pytest.mark.parametrize("kwargs,name", [
    ({"units": 4, "ratio": 0}, "ratio"),
    ({"units": 4, "depth": -1}, "depth"),
    ({"units": 0}, "units"),
    ({"units": 4, "ratio": 2.5}, "ratio"),
    ({"units": 4, "depth": True}, "depth"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"`{name}` must be an integer"):
        HRFDense(**kwargs)


def test_unbuilt_layer_cannot_fold():
    with pytest.raises(ValueError, match="not built"):
        HRFDense(3).folded_weights()


def test_make_dense_picks_the_layer():
    assert type(make_dense(4, None, name="a")) is keras.layers.Dense
    layer = make_dense(4, {"ratio": 2, "depth": 3}, name="b")
    assert isinstance(layer, HRFDense) and (layer.ratio, layer.depth, layer.name) == (2, 3, "b")


def test_graph_mode_and_unknown_batch(rng):
    layer = HRFDense(3, ratio=2, depth=1)
    _build(layer, (1, None, 5), rng)
    fn = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec((None, None, 5))])
    out = fn(tf.constant(rng.standard_normal((2, 4, 5)), tf.float32))
    assert out.shape == (2, 4, 3)


@pytest.mark.parametrize("depth", [1, 2])
def test_matched_init_starts_the_product_at_a_plain_glorot_variance(depth):
    """ffn2 at r=8 (4 → 16): independent Glorot factors start the product at ~0.27 of a plain
    Glorot kernel's variance (2 / (4 + 16) = 0.1); matched factors start it there."""
    variances = {}
    for init in ("factors", "matched"):
        products = []
        for seed in range(40):
            layer = HRFDense(16, ratio=8, depth=depth, init=init,
                             kernel_initializer=keras.initializers.GlorotUniform(seed=seed))
            layer.build((None, 4))
            products.append(layer.folded_weights()[0])
        variances[init] = float(np.var(products))
    assert variances["matched"] == pytest.approx(0.1, rel=0.1)
    assert variances["factors"] < 0.5 * variances["matched"]


def test_step_scales_the_factor_not_the_function(rng):
    """step=α stores factor / α: the same folded layer, but an optimizer step on the variable
    moves the factor α times as far; the fold (and so the deployed model) sees factors only."""
    plain = HRFDense(5, ratio=4, depth=1, kernel_initializer=keras.initializers.GlorotUniform(seed=3))
    scaled = HRFDense(5, ratio=4, depth=1, step=4.0,
                      kernel_initializer=keras.initializers.GlorotUniform(seed=3))
    x = rng.normal(size=(6, 3)).astype(np.float32)
    np.testing.assert_allclose(plain(x).numpy(), scaled(x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaled.kernels[0].numpy() * 4.0, plain.kernels[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(scaled.fold()(x).numpy(), scaled(x).numpy(), rtol=1e-5, atol=1e-6)
    for layer in (plain, scaled):
        before = layer.folded_weights()[0]
        keras.optimizers.SGD(0.01).apply_gradients([(tf.ones_like(layer.kernels[0]), layer.kernels[0])])
        layer.moved = np.abs(layer.folded_weights()[0] - before).max()
    assert scaled.moved == pytest.approx(4.0 * plain.moved, rel=1e-4)
    assert HRFDense.from_config(scaled.get_config()).step == 4.0


def test_chain_options_are_checked():
    with pytest.raises(ValueError, match="`init` must be 'factors' or 'matched'"):
        HRFDense(4, init="orthogonal")
    with pytest.raises(ValueError, match="`step` must be a number"):
        HRFDense(4, step=0)
