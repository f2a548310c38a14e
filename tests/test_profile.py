"""Parameter and MAC counts against hand-computed values."""
import tf_keras as keras

from ser_reparam.fold import fold_model
from ser_reparam.hrf import HRFDense
from ser_reparam.profile import count_flops, count_params, flops_by_layer


def test_params_exclude_batchnorm_buffers():
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
    assert count_params(model) == (3 * 4 + 4) + 2 * 4
    assert model.count_params() == count_params(model) + 2 * 4


def test_macs_of_dense_conv_and_attention():
    inputs = keras.Input((10, 12))
    x = keras.layers.Dense(8, name="dense")(inputs)
    x = keras.layers.Conv1D(6, 3, padding="same", name="conv")(x)
    x = keras.layers.DepthwiseConv1D(5, padding="same", name="dw")(x)
    x = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    model = keras.Model(inputs, x)
    per_layer = flops_by_layer(model, (10, 12))
    assert per_layer["dense"] == 10 * 12 * 8
    assert per_layer["conv"] == 10 * 3 * 8 * 6
    assert per_layer["dw"] == 10 * 5 * 6
    qkv, scores, context, out = 3 * 10 * 6 * 2 * 4, 2 * 10 * 10 * 4, 2 * 10 * 10 * 4, 10 * 2 * 4 * 6
    assert per_layer["mha"] == qkv + scores + context + out
    assert count_flops(model, (10, 12)) == sum(per_layer.values())


def test_folded_hrf_costs_what_a_plain_dense_costs():
    inputs = keras.Input((20, 16))
    model = keras.Model(inputs, HRFDense(4, ratio=8, depth=1, name="ffn2")(inputs))
    hrf_macs = count_flops(model, (20, 16))
    folded_macs = count_flops(fold_model(model), (20, 16))
    assert folded_macs == 20 * 16 * 4
    assert hrf_macs == folded_macs + 16 * 32 * 4 + 32 * 4  # factor product + bias propagation
