"""Shared test setup: quiet TensorFlow and seeded randomness."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def randomize_weights(model, rng, scale: float = 0.5) -> None:
    """Overwrite every weight with N(0, scale²) noise: a fold must not pass thanks to a default init.

    Variance-like weights (BatchNormalization moving variance) stay positive.
    """
    for weight in model.weights:
        values = rng.standard_normal(weight.shape) * scale
        if "variance" in weight.name:
            values = np.abs(values) + 0.5
        weight.assign(values.astype(np.float32))
