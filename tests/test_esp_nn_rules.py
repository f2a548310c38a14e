"""ESP-NN's memory rules as the export uses them: the ESP32-S3 convolution scratch (numbers as
measured with the real kernels in the S3 emulation) and the softmax scratch audit."""
import numpy as np
import tensorflow as tf
import tf_keras as keras

from firmware_export.esp_nn_rules import esp_nn_softmax_problems, s3_conv_scratch
from ser_reparam.models.layers import MultiHeadSelfAttention
from ser_reparam.tflite.convert import to_tflite


def test_s3_conv_scratch_matches_the_measured_requests():
    # the demo's 3 s window (299 × 78): conv1, conv2 as esp_nn_get_conv_scratch_size_esp32s3 answered
    assert s3_conv_scratch(299, 78, 1, 3, 3, 149, 38, 16, 2, 2, 0, 0) == 26_600
    # 91,200 B: padded input copy
    assert s3_conv_scratch(149, 38, 16, 3, 3, 74, 18, 16, 2, 2, 0, 0) == 95_936
    # even input lengths (the subsampling padding): no copy
    assert s3_conv_scratch(302, 78, 1, 3, 3, 150, 38, 16, 2, 2, 0, 0) == 3_200
    assert s3_conv_scratch(150, 38, 16, 3, 3, 74, 18, 16, 2, 2, 0, 0) == 4_736


def int8_model(build, shape):
    inputs = keras.Input(shape)
    model = keras.Model(inputs, build(inputs))
    rng = np.random.default_rng(0)
    return to_tflite(model, "int8",
                     representative=lambda: iter(rng.standard_normal((8, *shape)).astype(np.float32)))


def test_softmax_audit_flags_the_4d_attention_softmax_and_passes_the_models():
    bad = int8_model(lambda x: tf.nn.softmax(tf.reshape(keras.layers.Dense(32)(x), [-1, 4, 8, 8]), axis=-1),
                     (8, 16))
    problems = esp_nn_softmax_problems(bad)
    assert len(problems) == 1 and "[1, 4, 8, 8]" in problems[0] and "asks for 16 B" in problems[0] \
        and "writes 32 B" in problems[0]
    assert esp_nn_softmax_problems(int8_model(lambda x: MultiHeadSelfAttention(16, 4)(x), (8, 16))) == []
