"""fold_model: nested blocks, untouched input, idempotence, save/load and self-verification."""
import numpy as np
import pytest
import tf_keras as keras
from conftest import randomize_weights

from ser_reparam.errors import FoldError
from ser_reparam.fold import fold_model, has_hrf, output_difference
from ser_reparam.hrf import HRF_CONFIG_KEY, HRFDense, make_dense
from ser_reparam.profile import count_params

RTOL = 1e-5


@keras.saving.register_keras_serializable(package="tests")
class FFN(keras.layers.Layer):
    """Two dense layers and a BatchNorm, each dense optionally HRF (spec in config key 'hrf')."""

    def __init__(self, dim, inner, hrf=None, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.inner, self.hrf = dim, inner, dict(hrf or {})
        self.ffn1 = make_dense(inner, self.hrf.get("ffn1"), activation="relu", name="ffn1")
        self.ffn2 = make_dense(dim, self.hrf.get("ffn2"), name="ffn2")
        self.norm = keras.layers.BatchNormalization(name="norm")

    def call(self, x, training=None):
        return self.norm(x + self.ffn2(self.ffn1(x)), training=training)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "inner": self.inner, HRF_CONFIG_KEY: self.hrf}


@keras.saving.register_keras_serializable(package="tests")
class Encoder(keras.layers.Layer):
    """A block holding a block: HRF two levels below the model."""

    def __init__(self, dim, hrf=None, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.hrf = dim, dict(hrf or {})
        self.proj = make_dense(dim, self.hrf.get("proj"), name="proj")
        self.ffn = FFN(dim, 2 * dim, hrf=self.hrf, name="ffn")

    def call(self, x, training=None):
        return self.ffn(self.proj(x), training=training)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, HRF_CONFIG_KEY: self.hrf}


@keras.saving.register_keras_serializable(package="tests")
class HardcodedHRF(keras.layers.Layer):
    """A block that creates an HRFDense in code instead of from its config: cannot be folded."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = HRFDense(4, ratio=2, depth=1, name="dense")

    def call(self, x):
        return self.dense(x)


@keras.saving.register_keras_serializable(package="tests")
class ReluInsideChain(HRFDense):
    """A broken 'HRF' layer with an activation between factors: it does not fold exactly."""

    def call(self, inputs):
        x = inputs
        for i, kernel in enumerate(self.kernels):
            x = keras.backend.dot(x, kernel) + self.biases[i]
            if i == 0:
                x = keras.activations.relu(x)
        return x


def build_model(hrf, frames=6, features=10, classes=4):
    inputs = keras.Input((frames, features))
    x = Encoder(8, hrf=hrf, name="encoder")(inputs)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = make_dense(classes, hrf.get("cls"), name="cls")(x)
    return keras.Model(inputs, outputs, name="toy")


HRF_ALL = {name: {"ratio": 8, "depth": 2} for name in ("proj", "ffn1", "ffn2", "cls")}


@pytest.fixture
def hrf_model(rng):
    model = build_model(HRF_ALL)
    randomize_weights(model, rng)
    return model


def test_fold_replaces_every_nested_hrf_layer(hrf_model, rng):
    folded = fold_model(hrf_model)
    assert has_hrf(hrf_model) and not has_hrf(folded)
    assert folded.get_layer("encoder").ffn.ffn2.__class__ is keras.layers.Dense
    x = rng.standard_normal((5, 6, 10)).astype(np.float32)
    assert output_difference(hrf_model, folded, x)["max_rel"] <= RTOL


def test_folded_params_equal_model_built_without_hrf(hrf_model):
    plain = build_model({})
    assert count_params(hrf_model) > count_params(plain)
    assert count_params(fold_model(hrf_model)) == count_params(plain)
    assert [w.shape for w in fold_model(hrf_model).weights] == [w.shape for w in plain.weights]


def test_input_model_is_untouched(hrf_model):
    before = [w.numpy().copy() for w in hrf_model.weights]
    fold_model(hrf_model)
    assert isinstance(hrf_model.get_layer("cls"), HRFDense)
    assert all(np.array_equal(w.numpy(), b) for w, b in zip(hrf_model.weights, before))


def test_folding_twice_is_a_no_op(hrf_model):
    folded = fold_model(hrf_model)
    assert fold_model(folded) is folded


def test_batchnorm_statistics_are_carried_over(hrf_model):
    folded = fold_model(hrf_model)
    src = hrf_model.get_layer("encoder").ffn.norm
    dst = folded.get_layer("encoder").ffn.norm
    assert np.array_equal(src.moving_variance.numpy(), dst.moving_variance.numpy())


def test_save_load_predict_identical(hrf_model, tmp_path, rng):
    x = rng.standard_normal((3, 6, 10)).astype(np.float32)
    folded = fold_model(hrf_model)
    for name, model in (("hrf", hrf_model), ("folded", folded)):
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert has_hrf(loaded) == (name == "hrf")
        np.testing.assert_array_equal(loaded(x, training=False).numpy(), model(x, training=False).numpy())


def test_block_with_hardcoded_hrf_is_refused(rng):
    inputs = keras.Input((5,))
    model = keras.Model(inputs, HardcodedHRF(name="hard")(inputs))
    with pytest.raises(FoldError, match="'dense' is still an HRFDense.*config key 'hrf'"):
        fold_model(model)


def test_non_linear_chain_fails_verification(rng):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, ReluInsideChain(5, ratio=4, depth=1, name="bad")(inputs))
    randomize_weights(model, rng)
    with pytest.raises(FoldError, match=r"differs from the HRF model by .* tolerance 1e-05"):
        fold_model(model)


def test_sequential_model_folds(rng):
    model = keras.Sequential([keras.Input((4,)), HRFDense(6, ratio=2, depth=3, activation="tanh"),
                              HRFDense(2, ratio=8, depth=1)])
    randomize_weights(model, rng)
    folded = fold_model(model)
    assert [type(layer) for layer in folded.layers] == [keras.layers.Dense, keras.layers.Dense]
    assert count_params(folded) == 4 * 6 + 6 + 6 * 2 + 2
