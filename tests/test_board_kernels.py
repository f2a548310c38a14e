"""Slow: the ESP32-S3 bundle built against esp-tflite-micro's ESP-NN kernels ($ESP_TFLM_DIR) —
the portable C path and the ESP32-S3 emulation — with the bundle's own model_data.cc,
op_resolver.h and model_settings.h: int8 logits bit-exact with the Python TFLite Micro
interpreter, kTensorArenaSize covering the arena the kernels need, and ESP-NN's softmax writing
only inside the scratch it asked for."""
import numpy as np
import pytest
from needs import need_dir

from firmware_export import tflm_build
from firmware_export.arena import arena_with_margin
from firmware_export.kernels import KERNELS, PROBE, measure_with, run_probe
from ser_reparam.bundles import export_run
from ser_reparam.data.scoring import split_arrays
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.layout import RunLayout
from ser_reparam.tflite.interpreters import TFLMModel, quantize_values, scale_zero

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_bundle(deployed_run):
    need_dir("ESP_TFLM_DIR", "the esp-tflite-micro host tree (../shared/third_party/esp-tflite-micro-host)")
    manifest = export_run(deployed_run, "esp32s3", deployment="whole-window")
    return RunLayout(deployed_run).firmware_dir("esp32s3"), manifest


def device_inputs(config, count: int = 24) -> np.ndarray:
    """The run's real test features quantized with the model's input scale, plus random int8 rows."""
    blob = (RunLayout(config).quantized_dir / "int8.tflite").read_bytes()
    x, _, _ = split_arrays(feature_store(config), "test", labels_for(config))
    real = quantize_values(x[:count], np.int8, *scale_zero(TFLMModel(blob).input))
    noise = np.random.default_rng(3).integers(-128, 128, (4, *real.shape[1:]), dtype=np.int8)
    return np.concatenate([real, noise])


def python_logits(blob: bytes, inputs: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime
    interpreter = runtime.Interpreter.from_bytes(blob)
    rows = []
    for x in inputs:
        interpreter.set_input(x[None], 0)
        interpreter.invoke()
        rows.append(interpreter.get_output(0)[0])
    return np.array(rows, np.int8)


@pytest.mark.parametrize("kernels", ["esp-nn", "esp-nn-s3"])
def test_esp32s3_bundle_is_bit_exact_and_its_arena_suffices(s3_bundle, deployed_run, kernels, tmp_path):
    folder, manifest = s3_bundle
    arena = manifest["arena"]
    assert arena["fidelity"] == "measured" and arena["kernels"] == "esp-nn-s3" and arena["word_bytes"] == 4
    assert (arena["versions"]["esp-tflite-micro"].startswith("1.4.0")
            and arena["versions"]["esp-nn"].startswith("1.2.3"))
    target = tflm_build.TARGETS[KERNELS[kernels].target]
    defines = ["SER_PROBE_BUNDLE", *KERNELS[kernels].probe_defines]
    program = tflm_build.build_program(target, tflm_build.find_tree(target),
                                       [PROBE, folder / "model_data.cc"],
                                       tmp_path / "probe", include_dirs=[folder], defines=defines)
    inputs = device_inputs(deployed_run)
    result = run_probe(KERNELS[kernels], program, None, inputs)
    blob = (RunLayout(deployed_run).quantized_dir / "int8.tflite").read_bytes()
    np.testing.assert_array_equal(result["logits"], python_logits(blob, inputs))
    assert (result["kTensorArenaSize"] == arena["kTensorArenaSize"]
            == arena_with_margin(arena["measured_bytes"]))
    assert result["kTensorArenaSize"] >= result["arena_min_bytes"] * 1.02 + 4096 - 16
    if kernels == "esp-nn-s3":
        assert result["arena_min_bytes"] == arena["measured_bytes"]
        assert result["softmax_scratch_overrun_bytes"] == 0


def test_s3_softmax_overrun_is_detected_on_a_4d_softmax():
    """The check above can fail: a [1, 4, 8, 8] softmax asks for 16 B and writes 32 B."""
    need_dir("ESP_TFLM_DIR", "the esp-tflite-micro host tree (../shared/third_party/esp-tflite-micro-host)")
    import tensorflow as tf
    import tf_keras as keras
    from test_esp_nn_rules import int8_model
    bad = int8_model(lambda x: tf.nn.softmax(tf.reshape(keras.layers.Dense(32)(x), [-1, 4, 8, 8]), axis=-1),
                     (8, 16))
    result = measure_with("esp-nn-s3", bad, np.zeros((1, 8, 16), np.int8))
    assert result["softmax_scratch_overrun_bytes"] == 16


def test_stm32f4_arena_is_measured_with_cmsis_nn_on_the_cortex_m4(deployed_run):
    need_dir("TFLM_DIR", "the TFLM trees (../shared/third_party/tflm)")
    arena = export_run(deployed_run, "stm32f4", deployment="whole-window")["arena"]
    assert arena["fidelity"] == "measured" and arena["kernels"] == "cmsis-nn" and arena["word_bytes"] == 4
    assert arena["versions"]["tflite-micro"].startswith("90b983c")
    # CMSIS-NN's scratch buffers vs the 64-bit reference structs: within a few KB of each other here
    assert abs(arena["measured_bytes"] - arena["reference_bytes"]) < 8192
    assert arena["kTensorArenaSize"] == arena_with_margin(arena["measured_bytes"])
