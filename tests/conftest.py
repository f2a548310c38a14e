"""Shared test setup: quiet TensorFlow and seeded randomness."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def randomize_weights(model, rng, scale: float = 1.0) -> None:
    """Overwrite every weight with random values: a fold must not pass thanks to a default init.

    Kernels get N(0, scale²/fan_in), so deep stacks neither vanish nor explode; vectors
    (biases, norm scales and offsets, BatchNorm statistics) get U(0.1, 0.6), positive so that
    variances stay valid and ReLU units stay alive, which keeps every layer visible in the output.
    """
    for weight in model.weights:
        shape = tuple(weight.shape)
        if len(shape) >= 2:
            values = rng.standard_normal(shape) * scale / np.sqrt(np.prod(shape[:-1]))
        else:
            values = rng.uniform(0.1, 0.6, shape)
        weight.assign(values.astype(np.float32))
