"""The memory-lean whole-window export (models.lean, tflite.schedule): same function, lower arena."""
import numpy as np
import pytest
from conftest import randomize_weights

from ser_reparam.models import build_model
from ser_reparam.tflite.convert import to_tflite
from ser_reparam.tflite.interpreters import TFLMModel, tflm_arena_bytes
from ser_reparam.tflite.schedule import depth_first_order


class Op:
    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = inputs, outputs


def test_depth_first_order_finishes_one_branch_before_the_next():
    # breadth-first as the converter emits it: a1 b1 a2 b2 → concat
    ops = [Op([0], [1]), Op([0], [2]), Op([1], [3]), Op([2], [4]), Op([3, 4], [5])]
    assert depth_first_order(ops, [5]) == [0, 2, 1, 3, 4]


@pytest.mark.parametrize("arch", ["convtransformer", "conformer"])
def test_lean_float_export_computes_the_keras_function(arch, rng):
    model = build_model(arch, "lightweight", 4, 31, 78, deploy=True)
    randomize_weights(model, rng)
    x = rng.standard_normal((3, 31, 78)).astype(np.float32)
    blob = to_tflite(model, "float")
    assert np.abs(TFLMModel(blob).predict(x) - model.predict(x, verbose=0)).max() < 1e-5


def test_lean_int8_arena_is_below_the_subsampling_peak(rng):
    """The plain graph's peak is the first convolution's whole output (T/2 × F/2 × dim int8) plus
    its input; the banded graph must need less than that output alone plus the input."""
    frames = 119
    model = build_model("convtransformer", "lightweight", 4, frames, 78, deploy=True)
    randomize_weights(model, rng)
    calibration = rng.standard_normal((4, frames, 78)).astype(np.float32)
    arena = tflm_arena_bytes(to_tflite(model, "int8", lambda: iter(calibration)))
    conv1_output = 59 * 38 * 16
    assert arena < conv1_output + frames * 78


def test_one_head_at_a_time_equals_the_batched_heads_training_runs(rng):
    from ser_reparam.models.layers import MultiHeadSelfAttention

    layer = MultiHeadSelfAttention(16, 4, dropout=0.0)
    x = rng.standard_normal((2, 9, 16)).astype(np.float32)
    layer(x)
    randomize_weights(layer, rng)
    assert np.abs(layer(x, training=True).numpy() - layer(x, training=False).numpy()).max() < 1e-6
