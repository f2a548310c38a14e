"""Streaming ConvTransformer (ser_reparam.models.streaming): step / attend / classify pieces from the
same weights."""
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import randomize_weights

from ser_reparam.data.scoring import split_arrays
from ser_reparam.errors import NotStreamable
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.layout import RunLayout
from ser_reparam.models import build_model
from ser_reparam.models.stream_geometry import (
    PIECES,
    InterpreterPieces,
    StreamGeometry,
    state_bytes,
    stream_window,
)
from ser_reparam.models.streaming import KerasPieces, split_model, steps_for
from ser_reparam.tflite.convert import convert_piece
from ser_reparam.tflite.interpreters import LiteRTModel, TFLMModel, tflm_arena_bytes, tflm_runs

FRAMES = 35  # 8 subsampled steps: two chunks of 4 queries


@pytest.fixture(scope="module", params=[{}, {"pooling": "mean_sq", "cls_units": (16, 16)}],
                ids=["mean", "mean_sq"])
def tiny(request):
    rng = np.random.default_rng(3)
    model = build_model("convtransformer", "lightweight", 4, FRAMES, 78, deploy=True, **request.param)
    randomize_weights(model, rng)
    return model, split_model(model), rng.standard_normal((4, FRAMES, 78)).astype(np.float32)


def test_pieces_stream_the_whole_window_logits(tiny):
    model, pieces, x = tiny
    assert (pieces.geometry.steps, pieces.geometry.chunk) == (steps_for(FRAMES), 4) == (8, 4)
    streamed = np.stack([stream_window(KerasPieces(pieces), pieces.geometry, w) for w in x])
    assert np.abs(streamed - model.predict(x, verbose=0)).max() < 1e-5


def test_geometry_is_one_value_stage_05_and_the_export_write_alike(tiny):
    """split_model's geometry: the record's keys (quantize.json, the bundle's streaming block) and back."""
    _, pieces, _ = tiny
    geometry = pieces.geometry
    assert (geometry.heads, geometry.dim, geometry.chunks) == (4, 16, 2)
    assert geometry.state_bytes == state_bytes(geometry.steps, geometry.dim, 78)
    assert list(geometry.to_dict()) == ["steps", "chunk", "step_frames", "step_context_frames", "state_bytes",
                                        "heads", "dim"]
    assert StreamGeometry.from_dict({**geometry.to_dict(), "label_hop_s": 1.0}) == geometry


@pytest.mark.parametrize("interpreter", [TFLMModel, LiteRTModel])
def test_float_pieces_on_tflite_keep_their_inputs_and_outputs_in_order(tiny, interpreter):
    model, pieces, x = tiny
    runner = InterpreterPieces({name: convert_piece(getattr(pieces, name), "float") for name in PIECES},
                               interpreter)
    streamed = np.stack([stream_window(runner, pieces.geometry, w) for w in x])
    assert np.abs(streamed - model.predict(x, verbose=0)).max() < 1e-5


@pytest.mark.parametrize("arch, preset, why", [
    ("conformer", "lightweight", "ConvTransformer only"),
    ("speechformer", "lightweight", "ConvTransformer only"),
    ("convtransformer", [2, 16, 4], "block 2 needs every step"),
])
def test_models_that_cannot_stream_exactly_are_refused(arch, preset, why):
    with pytest.raises(NotStreamable, match=why):
        split_model(build_model(arch, preset, 4, FRAMES, 78, deploy=True))


@pytest.fixture(params=["deployed_run", "stats_pool_run"])
def trained_run(request):
    return request.getfixturevalue(request.param)


def test_trained_run_streams_exactly_in_float_and_in_int8(trained_run):
    """On a trained run's test windows: float pieces equal the whole-window model to rounding;
    the int8 pieces stage 05 wrote give the whole-window int8 file's logits bit for bit on TFLM
    (quantize.quantize_pieces)."""
    import tf_keras as keras

    deployed_run = trained_run
    labels, store, layout = labels_for(deployed_run), feature_store(deployed_run), RunLayout(deployed_run)
    model = keras.models.load_model(layout.folded_model())
    x = split_arrays(store, "test", labels)[0][:16]
    pieces = split_model(model)
    float_logits = np.stack([stream_window(KerasPieces(pieces), pieces.geometry, w) for w in x])
    assert np.abs(float_logits - model.predict(x, verbose=0)).max() < 1e-5
    blobs = {name: layout.stream_piece(name).read_bytes() for name in PIECES}
    streamed = np.stack([stream_window(InterpreterPieces(blobs), pieces.geometry, w) for w in x])
    whole = TFLMModel((layout.quantized_dir / "int8.tflite").read_bytes()).predict(x)
    assert np.array_equal(streamed, whole)


def test_arena_measured_in_a_child_process_is_the_smallest_that_runs(tiny):
    _, pieces, _ = tiny
    blob = convert_piece(pieces.classify, "int8",
                         lambda: iter([(np.ones(pieces.classify.inputs[0].shape[1:]),)] * 4))
    arena = tflm_arena_bytes(blob)
    assert arena % 16 == 0 and tflm_runs(blob, arena) and not tflm_runs(blob, arena - 16)
    with pytest.raises(RuntimeError, match=r"arena of a 11-byte model failed \(exit 1\)"):
        tflm_arena_bytes(b"not a model")


def test_arena_is_measured_although_the_runtime_crashes_on_smaller_ones(deployed_run, tmp_path):
    """B of a 1 s model: the tflite_micro runtime dies (SIGSEGV) on some arenas a little too small
    instead of failing (measured: 10,240 and 12,288 B crash, 8,192 and 14,336 B fail cleanly);
    tflm_arena_bytes goes on past such a crash and finds the smallest arena that runs."""
    path = RunLayout(deployed_run).stream_piece("attend")
    blob = path.read_bytes()
    runs = ("import sys; from ser_reparam.tflite.interpreters import tflm_runs; "
            "print(tflm_runs(open(sys.argv[1], 'rb').read(), {}))")

    def run(size):
        return subprocess.run([sys.executable, "-c", runs.format(size), str(path)], capture_output=True,
                              text=True)

    arena = tflm_arena_bytes(blob)
    crash = next((size for size in range(arena // 2048 * 2048, 0, -2048)
                  if run(size).returncode == -signal.SIGSEGV), None)
    assert crash is not None and crash < arena
    assert tflm_runs(blob, arena) and run(arena - 16).stdout.strip() == "False"


def test_an_input_scale_changes_only_where_no_constant_was_quantized_with_it(tiny):
    """tflite.scales.read_in_scales_of: step's input feeds a convolution whose bias was quantized with
    the input's scale: refused, naming why."""
    from ser_reparam.tflite.scales import read_in_scales_of

    _, pieces, _ = tiny
    blob = convert_piece(pieces.step, "int8", lambda: iter([(np.ones(pieces.step.inputs[0].shape[1:]),)] * 4))
    with pytest.raises(ValueError, match="not only BATCH_MATMUL / MEAN / MUL: its scale cannot change"):
        read_in_scales_of(blob, {0: (blob, 0)})
