"""The training-dynamics probe reads an HRF chain as the kernel it deploys."""
import numpy as np
import pytest
import tf_keras as keras

from ser_reparam.dynamics import WeightDynamics, find_layer, kernel_gradient, kernel_of
from ser_reparam.fold import fold_model
from ser_reparam.models import build_model


@pytest.mark.parametrize("spec,step", [("ffn2@8x1", 1.0), ("ffn2@4x2", 0.5)])
def test_gradient_of_the_folded_kernel_equals_the_plain_twins(spec, step):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(8, 60, 78)).astype(np.float32)
    y = np.arange(8) % 7
    model = build_model("convtransformer", "lightweight", 7, 60, 78, hrf=spec, hrf_step=step)
    folded = fold_model(model)
    hrf, plain = find_layer(model, "block1_ffn/ffn2"), find_layer(folded, "block1_ffn/ffn2")
    np.testing.assert_allclose(kernel_of(hrf), kernel_of(plain), atol=1e-6)
    expected = kernel_gradient(folded, plain, x, y)
    assert np.abs(expected).max() > 1e-4
    np.testing.assert_allclose(kernel_gradient(model, hrf, x, y), expected,
                               atol=1e-6 * np.abs(expected).max() * 100)


def test_callback_records_every_epoch():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(16, 60, 78)).astype(np.float32)
    y = np.arange(16) % 7
    model = build_model("convtransformer", "lightweight", 7, 60, 78, hrf="ffn2@8x1")
    model.compile(keras.optimizers.AdamW(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probe = WeightDynamics(["block1_ffn/ffn2"], (x[:4], y[:4]), (x, y),
                           lambda logits: float(np.mean(logits.argmax(1) == y)))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[probe])
    records = probe.records["block1_ffn/ffn2"]
    assert [r["epoch"] for r in records] == [1, 2] and len(probe.test_ua) == 2
    assert all(r["step"] > 0 and r["grad_norm"] > 0 and len(r["singular_values"]) == 4 for r in records)
    with pytest.raises(ValueError, match="block1_ffn has no sublayer 'nope'"):
        find_layer(model, "block1_ffn/nope")
