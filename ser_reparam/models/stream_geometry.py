"""The streaming split's geometry, without TensorFlow: how many frames a step reads, how many
steps and query chunks a window holds, the heads and width of attention, the application state
between the pieces, and the numpy loop that runs the three pieces (step, attend, classify) over
one window. Stage 05 (models.streaming.split_model), the export (firmware_export.stream_export,
the C settings) and verify-firmware all take these facts from `StreamGeometry`: one place each.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ser_reparam.tflite.interpreters import TFLMModel

STEP_FRAMES, STEP_CONTEXT = 4, 7  # feature frames per subsampled step, frames one step reads
MAX_CHUNK = 4  # query steps per attend invocation: its scores are chunk × steps per head
PIECES = ("step", "attend", "classify")


def state_bytes(steps: int, dim: int, features: int) -> int:
    """The application state between the pieces, as the firmware holds it: sizeof(SerStreamState)
    of ser_stream_app.cc — the frame ring (STEP_CONTEXT frames, int8), x / k / v and the encoded
    output of every step of the window (int8) and 8 int32 counters. The one count of it: stage
    05, stage 07, the export's budget and the benchmarks read it here."""
    rings = STEP_CONTEXT * features + 4 * steps * dim
    return (rings + 3) // 4 * 4 + 8 * 4


def heads_of_attend(inputs: int) -> int:
    """Attention heads of an attend piece with `inputs` graph inputs: the queries, then each head's
    keys, then each head's values (models.streaming.split_model; the firmware fills them so)."""
    return (inputs - 1) // 2


@dataclasses.dataclass(frozen=True)
class StreamGeometry:
    """The shape of one streaming deployment. `state_bytes` is kept rather than the feature count
    (state_bytes(steps, dim, features)): it is what the records and the C settings carry."""
    steps: int          # subsampled steps per window (the keys of attend)
    chunk: int          # query steps per attend invocation
    heads: int
    dim: int
    state_bytes: int    # the application state between the pieces (state_bytes())
    step_frames: int = STEP_FRAMES
    step_context_frames: int = STEP_CONTEXT

    # the records' keys (stage 05's quantize.json, the bundle's streaming block), in their order
    KEYS = ("steps", "chunk", "step_frames", "step_context_frames", "state_bytes", "heads", "dim")

    @classmethod
    def of(cls, steps: int, chunk: int, heads: int, dim: int, features: int) -> StreamGeometry:
        return cls(steps, chunk, heads, dim, state_bytes(steps, dim, features))

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def chunks(self) -> int:
        """attend invocations per window."""
        return self.steps // self.chunk

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in self.KEYS}

    @classmethod
    def from_dict(cls, values: dict) -> StreamGeometry:
        return cls(**{key: int(values[key]) for key in cls.KEYS})


def step_windows(features: np.ndarray, steps: int) -> np.ndarray:
    """The (steps, STEP_CONTEXT, features) frame windows step reads, one per subsampled step."""
    return np.stack([features[STEP_FRAMES * j:STEP_FRAMES * j + STEP_CONTEXT] for j in range(steps)])


def stream_window(runner, geometry: StreamGeometry, features: np.ndarray,
                  trace: dict | None = None) -> np.ndarray:
    """Logits of one window (frames, features) the way the device computes them: step per
    subsampled step (computed as soon as its frames arrived), then attend per query chunk, then
    classify. `runner` has step / attend / classify (models.streaming.KerasPieces,
    InterpreterPieces); `trace` collects each piece's inputs (calibration data)."""
    windows = step_windows(features, geometry.steps)
    X, K, V = runner.step(windows)
    chunks = X.reshape(-1, geometry.chunk, X.shape[-1])
    heads = geometry.heads
    # the application files step j's k and v head by head: head h's keys [:, j] = k_j[h·hd : (h+1)·hd]
    # (transposed, so that attend's matmul needs no adjoint) and its values [j, :] = v_j[h·hd : (h+1)·hd]
    keys = [np.repeat(k.T[None], len(chunks), axis=0) for k in np.split(K, heads, axis=1)]
    values = [np.repeat(v[None], len(chunks), axis=0) for v in np.split(V, heads, axis=1)]
    encoded = runner.attend(chunks, *keys, *values).reshape(1, -1, X.shape[-1])
    if trace is not None:
        trace.setdefault("step", []).append(windows)
        trace.setdefault("attend", []).append((chunks, *keys, *values))
        trace.setdefault("classify", []).append(encoded)
    return runner.classify(encoded)[0]


def calibration_examples(trace: dict) -> dict[str, list[tuple]]:
    """Each piece's calibration inputs from a stream_window trace, all of them (a window has one
    step input per step and one attend input per chunk): the values the whole-window model is
    calibrated on, so that shared tensors get the same ranges."""
    return {"step": [(w,) for batch in trace["step"] for w in batch],
            "attend": [tuple(part[i] for part in batch) for batch in trace["attend"]
                       for i in range(len(batch[0]))],
            "classify": [(p,) for batch in trace["classify"] for p in batch]}


class InterpreterPieces:
    """The int8 pieces on a TFLite interpreter (interpreters.TFLMModel: TFLite Micro's kernels, or
    LiteRTModel). Between pieces the application holds int8 values in one piece's output scale
    and requantizes them to the next one's input scale (a per-tensor multiply); here that is a
    dequantize and quantize through float."""

    def __init__(self, blobs: dict[str, bytes], runner=TFLMModel):
        self.models = {name: runner(blobs[name]) for name in PIECES}

    def _run(self, name: str, *inputs):
        outputs = [self.models[name].run_float(*example) for example in zip(*inputs)]
        return [np.stack(column) for column in zip(*outputs)]

    def step(self, windows):
        return self._run("step", windows)

    def attend(self, queries, *heads):
        return self._run("attend", queries, *heads)[0]

    def classify(self, encoded):
        return self._run("classify", encoded)[0]


def model_ram_bytes(arenas: dict[str, int], state: int) -> int:
    """The streaming deployment's model RAM on the host: the pieces' arenas, each measured with
    its own Python interpreter (an upper bound of the one arena the firmware shares between them,
    which the export measures with the board's kernels), + the application state (state_bytes).
    The front end's RAM is not included (the same for both deployments' Python front end)."""
    return sum(arenas[name] for name in PIECES) + state
