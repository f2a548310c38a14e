"""Every lightweight model converts at batch 1 to float and int8 TFLite and runs on real TFLM kernels."""
import re
import warnings

import numpy as np
import pytest
import tf_keras as keras

from ser_reparam.errors import UnsupportedOpError
from ser_reparam.models import build_model
from ser_reparam.models.activations import gelu_deviation
from ser_reparam.tflite.convert import fully_connected_2d, inference_function, slim_tflite, to_tflite
from ser_reparam.tflite.interpreters import LiteRTModel, TFLMModel
from ser_reparam.tflite.ops import audit_ops, model_ops, tflm_builtin_ops

FRAMES = 499
DEFAULT_ACTIVATION = {"convtransformer": "relu", "conformer": "swish", "speechformer": "relu"}
INT8_AGREEMENT = 0.90   # argmax agreement, int8 TFLM vs Keras float
INT8_LOGIT_TOL = 0.05   # max |Δlogit| as a fraction of the Keras logit range on the test set
FLOAT_TOL = 1e-4        # max |Δlogit| relative to max |logit|, float TFLite vs Keras


def separable(rng, n):
    """Features where each of 4 classes lifts its own band of 8 features, plus noise."""
    labels = np.arange(n) % 4
    x = rng.standard_normal((n, FRAMES, 78)).astype(np.float32)
    for c in range(4):
        x[labels == c, :, 8 * c:8 * c + 8] += 1.0
    return x, labels


def trained(arch, activation, rng):
    keras.utils.set_random_seed(0)
    model = build_model(arch, "lightweight", 4, FRAMES, activation=activation, dropout=0.0, cls_dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = separable(rng, 128)
    model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    return model, x


CASES = [pytest.param(arch, act, marks=() if act == DEFAULT_ACTIVATION[arch] else pytest.mark.slow)
         for arch in DEFAULT_ACTIVATION for act in ("relu", "gelu", "swish", "squared_relu")]


@pytest.mark.parametrize("arch,activation", CASES)
def test_lightweight_model_runs_on_tflm(arch, activation, rng):
    model, x_train = trained(arch, activation, rng)
    x_test, _ = separable(rng, 60)
    reference = model(x_test, training=False).numpy()
    logit_range = float(np.ptp(reference))
    assert np.ptp(reference, axis=0).max() > 0.1 * logit_range, "logits must depend on the input"

    float_model = to_tflite(model, "float")
    int8_model = to_tflite(model, "int8", representative=lambda: iter(x_train[:64]))
    for name, blob in (("float", float_model), ("int8", int8_model)):
        ops = audit_ops(blob, where=f"{arch}/{activation} {name}")
        print(f"{arch} {activation} {name}: {len(blob)} bytes, ops {ops}")
        assert set(ops) <= tflm_builtin_ops()

    float_logits = LiteRTModel(slim_tflite(float_model)).predict(x_test)
    assert np.abs(float_logits - reference).max() <= FLOAT_TOL * np.abs(reference).max()
    assert (np.abs(TFLMModel(float_model).predict(x_test[:4]) - reference[:4]).max()
            <= FLOAT_TOL * np.abs(reference).max())

    int8_logits = TFLMModel(slim_tflite(int8_model)).predict(x_test)
    agreement = float(np.mean(int8_logits.argmax(1) == reference.argmax(1)))
    worst = float(np.abs(int8_logits - reference).max())
    print(f"int8 TFLM vs Keras: argmax agreement {agreement:.3f}, max |Δlogit| {worst:.3f} of range "
          f"{logit_range:.3f}")
    assert agreement >= INT8_AGREEMENT
    assert worst <= INT8_LOGIT_TOL * logit_range


def test_slim_model_is_smaller_and_identical(rng):
    model = build_model("convtransformer", "lightweight", 4, FRAMES)
    x = rng.standard_normal((3, FRAMES, 78)).astype(np.float32)
    int8_model = to_tflite(model, "int8", representative=lambda: iter(x))
    slim = slim_tflite(int8_model)
    assert len(slim) < 0.9 * len(int8_model)
    assert all(use.output == "" for use in model_ops(slim))
    np.testing.assert_array_equal(TFLMModel(slim).predict(x), TFLMModel(int8_model).predict(x))


def test_gelu_approximation_deviation():
    deviation = gelu_deviation()
    print(f"max |tanh GELU − erf GELU| on [-8, 8]: {deviation:.2e}")
    assert 1e-4 < deviation < 5e-4


def test_keras_gelu_fails_the_audit_with_a_fix():
    inputs = keras.Input((10, 6))
    x = keras.layers.Dense(8, name="ffn1")(inputs)
    x = keras.layers.Activation("gelu", name="exact_gelu")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(x), name="bad")
    with pytest.raises(UnsupportedOpError, match=r"GELU \(from layer 'exact_gelu.*'\): build the model with "
                                                 r"the TFLM-ready GELU"):
        audit_ops(to_tflite(model, "float"), where="bad.tflite")


def test_dynamic_length_is_refused():
    inputs = keras.Input((None, 6))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="unknown size.*fixed-length"):
        to_tflite(model)


def test_tflm_op_set_comes_from_the_runtime():
    ops = tflm_builtin_ops()
    assert {"FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX", "CONV_2D", "MEAN", "RSQRT"} <= ops
    assert not {"GELU", "REDUCE_PROD", "CUSTOM"} & ops


def test_kernel_limits_fail_the_audit_naming_op_layer_and_fix():
    """A 3-D FULLY_CONNECTED output and a 5-D TRANSPOSE run on the reference kernels but not on
    CMSIS-NN (halt / wrong logits on the board); the audit names both, and to_tflite avoids them."""
    import tensorflow as tf

    inputs = keras.Input((10, 6))
    x = keras.layers.Dense(12, name="wide")(inputs)
    x = keras.layers.Lambda(lambda t: tf.transpose(tf.reshape(t, [-1, 10, 3, 2, 2]), [2, 0, 3, 1, 4]),
                            name="split5d")(x)
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: tf.reshape(t, [1, -1]), name="flat")(x),
                        name="limits")
    raw = tf.lite.TFLiteConverter.from_concrete_functions([inference_function(model)], model).convert()
    with pytest.raises(UnsupportedOpError) as error:
        audit_ops(raw, where="limits.tflite")
    message = str(error.value)
    assert "limits.tflite" in message and "CMSIS-NN" in message
    assert re.search(r"FULLY_CONNECTED \(from layer 'wide.*'\): .*3-D output.*fix: convert with", message)
    assert re.search(r"TRANSPOSE \(from layer 'split5d.*'\): .*5-D.*fix: reshape", message)

    ours = fully_connected_2d(raw)
    uses = model_ops(ours)
    assert all(len(u.output_shapes[0]) == 2 for u in uses if u.op == "FULLY_CONNECTED")
    x_test = np.random.default_rng(0).standard_normal((3, 10, 6)).astype(np.float32)
    np.testing.assert_array_equal(LiteRTModel(ours).predict(x_test), LiteRTModel(raw).predict(x_test))


def test_lightweight_models_keep_to_the_kernel_limits(rng):
    for arch in DEFAULT_ACTIVATION:
        model = build_model(arch, "lightweight", 4, 149, deploy=True)
        x = rng.standard_normal((4, 149, 78)).astype(np.float32)
        blob = to_tflite(model, "int8", representative=lambda: iter(x))
        audit_ops(blob, where=arch)
        assert not any(u.op == "TRANSPOSE" and len(u.input_shapes[0]) > 4 for u in model_ops(blob))


def test_int8_conversion_is_quiet(rng, capfd):
    """No converter lines (`fully_quantize: …`) and no tf.lite.Interpreter deprecation warning."""
    model = build_model("convtransformer", "lightweight", 4, 20)
    examples = rng.standard_normal((4, 20, 78)).astype(np.float32)
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        blob = to_tflite(model, "int8", lambda: examples)
    assert blob and capfd.readouterr().err == ""
    assert [str(w.message) for w in caught if "Interpreter" in str(w.message)] == []
