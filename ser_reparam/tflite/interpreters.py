"""Run a .tflite model on the desktop: LiteRT (the TFLite interpreter) and TFLite Micro.

Both take float features and return float logits; for an int8 model the input is quantized
and the output dequantized with the scale and zero point stored in the model, exactly as
firmware must do.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

DEFAULT_TFLM_ARENA = 4 << 20


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 (where C++ code logs) to /dev/null for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quantize_values(x: np.ndarray, dtype, scale: float, zero_point: int) -> np.ndarray:
    """Float values as a tensor of `dtype` stores them (unchanged for a float dtype)."""
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize_values(y: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """A quantized tensor's values as float32."""
    if np.issubdtype(y.dtype, np.floating):
        return y.astype(np.float32)
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)


def scale_zero(details: dict) -> tuple[float, int]:
    """(scale, zero point) of an interpreter's tensor details, per-tensor."""
    params = details.get("quantization_parameters", {})
    scales, zeros = params.get("scales", []), params.get("zero_points", [])
    if len(scales):
        return float(scales[0]), int(zeros[0])
    scale, zero = details.get("quantization", (0.0, 0))
    return float(scale), int(zero)


class _TFLiteRunner:
    """Quantize in, invoke, dequantize out; subclasses hold the interpreter."""

    input: dict
    output: dict
    inputs: list[dict]   # every graph input / output in the graph's order (multi-input models)
    outputs: list[dict]

    def _invoke(self, model_input: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _invoke_all(self, model_inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def run_float(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Float outputs of one batch-1 invocation of a model with several inputs and outputs
        (the streaming pieces), each input given without the batch axis and quantized with its
        own scale, each output dequantized with its own."""
        raw = self._invoke_all([quantize_values(value[None], d["dtype"], *scale_zero(d))
                                for value, d in zip(inputs, self.inputs, strict=True)])
        return [dequantize_values(y[0], *scale_zero(d)) for y, d in zip(raw, self.outputs)]

    def invoke_quantized(self, model_input: np.ndarray) -> np.ndarray:
        """The raw (e.g. int8) output for a batch-1 input already in the model's input type."""
        return self._invoke(model_input)

    def predict_one(self, features: np.ndarray) -> np.ndarray:
        """Float logits of one example (frames, features)."""
        model_input = quantize_values(features[None], self.input["dtype"], *scale_zero(self.input))
        return dequantize_values(self._invoke(model_input)[0], *scale_zero(self.output))

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.stack([self.predict_one(x) for x in features])


class LiteRTModel(_TFLiteRunner):
    """A .tflite model on LiteRT (`ai_edge_litert`)."""

    def __init__(self, model_bytes: bytes):
        from ai_edge_litert.interpreter import Interpreter

        quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") != "0"  # "INFO: Created … XNNPACK delegate"
        with _native_stderr_silenced() if quiet else contextlib.nullcontext():
            self.interpreter = Interpreter(model_content=bytes(model_bytes))
            self.interpreter.allocate_tensors()
        self.inputs, self.outputs = (self.interpreter.get_input_details(),
                                     self.interpreter.get_output_details())
        self.input, self.output = self.inputs[0], self.outputs[0]

    def _invoke(self, model_input):
        self.interpreter.set_tensor(self.input["index"], model_input)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def _invoke_all(self, model_inputs):
        for details, value in zip(self.inputs, model_inputs):
            self.interpreter.set_tensor(details["index"], value)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(details["index"]) for details in self.outputs]


class TFLMModel(_TFLiteRunner):
    """A .tflite model on the TFLite Micro interpreter (`tflite_micro` runtime, real TFLM kernels)."""

    def __init__(self, model_bytes: bytes, arena_size: int = DEFAULT_TFLM_ARENA):
        from tflite_micro.python.tflite_micro import runtime

        from ser_reparam.tflite.flatbuffer import read

        graph = read(model_bytes).Subgraphs(0)
        self.interpreter = runtime.Interpreter.from_bytes(bytes(model_bytes), arena_size=arena_size)
        self.inputs = [self.interpreter.get_input_details(i) for i in range(graph.InputsLength())]
        self.outputs = [self.interpreter.get_output_details(i) for i in range(graph.OutputsLength())]
        self.input, self.output = self.inputs[0], self.outputs[0]

    def _invoke(self, model_input):
        self.interpreter.set_input(model_input, 0)
        self.interpreter.invoke()
        return self.interpreter.get_output(0)

    def _invoke_all(self, model_inputs):
        for i, value in enumerate(model_inputs):
            self.interpreter.set_input(value, i)
        self.interpreter.invoke()
        return [self.interpreter.get_output(i) for i in range(len(self.outputs))]


def quantization(model_bytes: bytes) -> dict:
    """Shapes, dtypes, scales and zero points of the model's input and output tensors."""
    runner = LiteRTModel(model_bytes)
    result = {}
    for name, details in (("input", runner.input), ("output", runner.output)):
        scale, zero = details["quantization"]
        result[name] = {"shape": [int(d) for d in details["shape"]], "dtype": np.dtype(details["dtype"]).name,
                        "scale": float(scale), "zero_point": int(zero)}
    return result


def tflm_runs(model_bytes: bytes, arena_size: int) -> bool:
    """True when the TFLite Micro interpreter allocates and invokes the model in `arena_size` bytes."""
    from tflite_micro.python.tflite_micro import runtime

    from ser_reparam.tflite.flatbuffer import read

    try:
        with _native_stderr_silenced():  # TFLM reports each too-small arena on stderr
            interpreter = runtime.Interpreter.from_bytes(bytes(model_bytes), arena_size=arena_size)
    except RuntimeError:
        return False
    for i in range(read(model_bytes).Subgraphs(0).InputsLength()):
        details = interpreter.get_input_details(i)  # every input set: multi-input models (streaming attend)
        interpreter.set_input(np.zeros(details["shape"], details["dtype"]), i)
    return interpreter.invoke() == 0


MAX_CRASHES = 8


def tflm_arena_bytes(model_bytes: bytes, upper: int = 64 << 20, timeout: float = 600) -> int:
    """The smallest tensor arena (bytes, 16-byte steps) with which the TFLite Micro interpreter
    allocates the model's tensors and invokes it: measured, not estimated, by bisection in a
    child Python process. The tflite_micro runtime crashes (SIGSEGV) on some arenas that are too
    small — the streaming piece attend of a 1 s model on 6,000–8,192 B, while 4,096 and 8,320 B fail
    cleanly —, so a crash marks the size it was trying as too small and the bisection goes on in
    a new child from what the crashed one had found."""
    package_parent = str(Path(__file__).resolve().parents[1])
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="tflm-arena-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(bytes(model_bytes))
        low, high = 0, upper
        for _ in range(MAX_CRASHES + 1):
            command = [sys.executable, "-m", "ser_reparam.tflite.interpreters", str(path), str(low),
                       str(high)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"measuring the TFLite Micro arena of a {len(model_bytes):,}-byte model "
                                   f"took over {timeout:g} s") from None
            trying = None
            for line in done.stdout.splitlines():
                word, _, value = line.partition(" ")
                if word == "arena" and done.returncode == 0:
                    return int(value)
                trying = int(value) if word == "try" else None
                low, high = ((int(value), high) if word == "fails"
                             else (low, int(value)) if word == "fits" else (low, high))
            if done.returncode >= 0 or trying is None:
                raise RuntimeError(f"measuring the TFLite Micro arena of a {len(model_bytes):,}-byte model "
                                   f"failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
            low = trying  # the runtime crashed on this arena: too small
    raise RuntimeError(f"the TFLite Micro runtime crashed {MAX_CRASHES + 1} times measuring the arena of a "
                       f"{len(model_bytes):,}-byte model")


def _bisect_arena(model_bytes: bytes, low: int, high: int) -> int:
    """The child's bisection between `low` (too small, or 0) and `high`, each step on stdout."""
    def fits(size: int) -> bool:
        print("try", size, flush=True)
        ok = tflm_runs(model_bytes, size)
        print("fits" if ok else "fails", size, flush=True)
        return ok

    if not fits(high):
        raise RuntimeError(f"the model does not run in TFLite Micro even with a {high}-byte arena")
    while high - low > 16:
        middle = (low + high) // 2 // 16 * 16
        low, high = (low, middle) if fits(middle) else (middle, high)
    return high


# python -m ser_reparam.tflite.interpreters MODEL LOW HIGH (tflm_arena_bytes's child)
if __name__ == "__main__":
    print("arena", _bisect_arena(Path(sys.argv[1]).read_bytes(), int(sys.argv[2]), int(sys.argv[3])),
          flush=True)
