"""Streaming ConvTransformer (ser_reparam.streaming): A / B / C pieces from the same weights."""
import numpy as np
import pytest

from conftest import randomize_weights
from ser_reparam.models import build_model
from ser_reparam.streaming import (PIECES, KerasPieces, NotStreamable, TFLMPieces, convert_piece,
                                   split_model, steps_for, stream_window)

FRAMES = 35  # 8 subsampled steps: two chunks of 4 queries


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(3)
    model = build_model("convtransformer", "lightweight", 4, FRAMES, 78, deploy=True)
    randomize_weights(model, rng)
    return model, split_model(model), rng.standard_normal((4, FRAMES, 78)).astype(np.float32)


def test_pieces_stream_the_whole_window_logits(tiny):
    model, pieces, x = tiny
    assert (pieces.steps, pieces.chunk) == (steps_for(FRAMES), 4) == (8, 4)
    streamed = np.stack([stream_window(KerasPieces(pieces), pieces, w) for w in x])
    assert np.abs(streamed - model.predict(x, verbose=0)).max() < 1e-5


def test_float_pieces_on_tflm_keep_their_inputs_and_outputs_in_order(tiny):
    model, pieces, x = tiny
    runner = TFLMPieces({name: convert_piece(getattr(pieces, name), "float") for name in PIECES})
    streamed = np.stack([stream_window(runner, pieces, w) for w in x])
    assert np.abs(streamed - model.predict(x, verbose=0)).max() < 1e-5


@pytest.mark.parametrize("arch, preset, why", [
    ("conformer", "lightweight", "ConvTransformer only"),
    ("speechformer", "lightweight", "ConvTransformer only"),
    ("convtransformer", [2, 16, 4], "block 2 needs every step"),
])
def test_models_that_cannot_stream_exactly_are_refused(arch, preset, why):
    with pytest.raises(NotStreamable, match=why):
        split_model(build_model(arch, preset, 4, FRAMES, 78, deploy=True))
