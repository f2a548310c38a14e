"""The device front end (firmware_export/frontend) against the training front end, compiled for real.

The generated C sources are built with the host gcc for each FFT backend (portable, CMSIS-DSP from
its own sources, ESP-DSP's contract through tests/espdsp_standin) and must give the Python
features of the same int16 audio within 1e-3; the CMSIS path is cross-checked against the
`cmsisdsp` Python package, and (slow) the front end is cross-compiled for Cortex-M4 and
Cortex-M0+ and its per-frame instruction count measured with valgrind.
"""
import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest
from needs import ARM_GCC, HOST_GCC, VALGRIND, need, need_cmsis_dsp, need_tool

from firmware_export.frontend_cost import cmsis_build_args, cortex_m_sizes, host_build, instructions_per_frame
from firmware_export.frontend_tables import window_hops, write_frontend_files
from ser_reparam.data.synthetic import make_speakers, synthesize
from ser_reparam.features import FrontendConfig, compute_features

HERE = Path(__file__).parent
FRONTEND = FrontendConfig()
FRAMES = FRONTEND.num_frames(5 * FRONTEND.sample_rate)  # a 5 s window: 499 frames, 500 hops
INPUT_SCALE, INPUT_ZERO_POINT = 0.0431, -3              # an int8 input tensor's quantization
PARITY = 4e-5  # max |C − Python| feature difference (≈ 2× the largest measured, see the test)
# Front-end object code (arm-none-eabi-gcc 12.2 -Os, text bytes) and host instructions per frame
# (gcc -O2, valgrind), as measured here; other compilers may differ by the stated margins.
TEXT_BYTES = {("cortex-m4", "portable"): 6178, ("cortex-m4", "cmsis"): 3784,
              ("cortex-m0plus", "portable"): 6424, ("cortex-m0plus", "cmsis"): 3850}
TEXT_MARGIN = 0.10
INSTRUCTIONS = {"portable": 52_268, "cmsis": 47_827}
INSTRUCTION_MARGIN = 0.15


def clip(seconds: float, seed: int) -> np.ndarray:
    """Synthetic speech as the int16 PCM a microphone delivers."""
    speaker = make_speakers(1, seed)[0]
    signal = synthesize("angry", speaker, seconds, np.random.default_rng(seed))
    return np.round(np.clip(signal, -1, 1) * 32767).astype(np.int16)


def python_features(pcm: np.ndarray) -> np.ndarray:
    """Raw (frames, 78) features of the training pipeline for this audio."""
    return compute_features(pcm.astype(np.float32) / 32768.0, FRONTEND).numpy()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Front-end files for a 5 s window, with statistics of speech like the training set's."""
    folder = tmp_path_factory.mktemp("frontend")
    train = np.concatenate([python_features(clip(3.0, seed)) for seed in (11, 12, 13)])
    stats = {"mean": train.mean(axis=0).tolist(), "std": train.std(axis=0).tolist()}
    write_frontend_files(FRONTEND, stats, FRAMES, folder)
    return folder, np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)


def build(folder: Path, name: str, defines=(), includes=(), sources=()) -> Path:
    return host_build(folder, name, HERE / "frontend_harness.c", defines, includes, sources,
                      gcc=need_tool("gcc", HOST_GCC))


class Harnesses(dict):
    """The front end built per FFT backend, each on first use (the CMSIS one needs its sources)."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def __missing__(self, backend: str) -> Path:
        args = {"portable": {},
                "cmsis": lambda: cmsis_build_args(need_cmsis_dsp()),
                "espdsp": {"defines": ("-DSER_FFT_ESPDSP",), "includes": (HERE / "espdsp_standin",)}}[backend]
        self[backend] = build(self.folder, backend, **(args() if callable(args) else args))
        return self[backend]


@pytest.fixture(scope="module")
def harnesses(generated):
    return Harnesses(generated[0])


def run_c(exe: Path, pcm: np.ndarray, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(normalized float features, int8 input tensor) the device computes for `pcm`."""
    (tmp_path / "in.pcm").write_bytes(pcm.astype("<i2").tobytes())
    subprocess.run([str(exe), "features", str(tmp_path / "in.pcm"), str(tmp_path / "out.f32"),
                    str(tmp_path / "out.i8"), str(INPUT_SCALE), str(INPUT_ZERO_POINT)], check=True)
    shape = (FRAMES, FRONTEND.num_features)
    return (np.fromfile(tmp_path / "out.f32", "<f4").reshape(shape),
            np.fromfile(tmp_path / "out.i8", np.int8).reshape(shape))


def expected(pcm: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The model input of the training pipeline: normalized, frames past the audio at 0."""
    features = (python_features(pcm) - mean) / std
    return np.pad(features, [(0, FRAMES - len(features)), (0, 0)])


def test_a_5s_window_is_whole_hops():
    assert FRAMES == 499 and window_hops(FRONTEND, FRAMES) == 500


@pytest.mark.parametrize("backend", ["portable", "cmsis", "espdsp"])
def test_c_matches_the_python_front_end_on_a_5s_clip(backend, generated, harnesses, tmp_path):
    _, mean, std = generated
    pcm = clip(5.0, seed=1)
    device, quantized = run_c(harnesses[backend], pcm, tmp_path)
    reference = expected(pcm, mean, std)
    error = np.abs(device - reference)
    print(f"{backend}: max |C - Python| normalized {error.max():.2e}, raw {(error * std).max():.2e}")
    # measured here: normalized 1.06e-5 / 1.14e-5 / 1.10e-5, raw 1.71e-5 / 1.24e-5 / 2.01e-5
    # (portable / cmsis / espdsp); the bound leaves 2× for another compiler or libm
    assert error.max() <= PARITY and (error * std).max() <= PARITY
    # the int8 tensor is round-half-away(x / scale) + zero point, clamped, of the same features
    q = np.clip(np.trunc(reference / INPUT_SCALE + np.copysign(0.5, reference)) + INPUT_ZERO_POINT, -128, 127)
    assert np.abs(quantized.astype(int) - q).max() <= 1 and np.mean(quantized == q) > 0.999


def test_a_short_clip_is_padded_like_training(generated, harnesses, tmp_path):
    _, mean, std = generated
    pcm = clip(2.4, seed=2)[:240 * 160]  # 240 hops of a 500-hop window
    device, _ = run_c(harnesses["portable"], pcm, tmp_path)
    reference = expected(pcm, mean, std)
    assert np.abs(device - reference).max() <= PARITY
    assert not device[FRONTEND.num_frames(len(pcm)):].any()


def test_output_is_deterministic(harnesses, tmp_path):
    pcm = clip(5.0, seed=3)
    first = run_c(harnesses["portable"], pcm, tmp_path)
    second = run_c(harnesses["portable"], pcm, tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def power_spectra(exe: Path, frames: np.ndarray, tmp_path: Path) -> np.ndarray:
    (tmp_path / "frames.f32").write_bytes(frames.astype("<f4").tobytes())
    subprocess.run([str(exe), "spectrum", str(tmp_path / "frames.f32"), str(tmp_path / "power.f32")],
                   check=True)
    return np.fromfile(tmp_path / "power.f32", "<f4").reshape(len(frames), -1)


def test_cmsis_path_agrees_with_the_cmsisdsp_package(harnesses, tmp_path):
    """The Cortex-M path's FFT is CMSIS-DSP's arm_rfft_fast_f32: the Python package (the same C
    library) gives the same packed spectrum, and the portable backend the same power."""
    need(importlib.util.find_spec("cmsisdsp") is not None, "the cmsisdsp package is missing: pip "
                                                           "install -e '.[dev]'")
    import cmsisdsp as dsp
    rng = np.random.default_rng(4)
    pcm = clip(1.0, seed=4).astype(np.float32) / 32768
    frames = np.zeros((32, FRONTEND.nfft), np.float32)
    for i, start in enumerate(rng.integers(0, len(pcm) - 400, 32)):
        frames[i, :400] = pcm[start:start + 400]
    instance = dsp.arm_rfft_fast_instance_f32()
    assert dsp.arm_rfft_fast_init_f32(instance, FRONTEND.nfft) == 0
    packed = np.stack([dsp.arm_rfft_fast_f32(instance, frame, 0) for frame in frames]).astype(np.float64)
    power = np.concatenate([packed[:, :1] ** 2, packed[:, 2::2] ** 2 + packed[:, 3::2] ** 2,
                            packed[:, 1:2] ** 2],
                           axis=1) / FRONTEND.nfft
    scale = power.max(axis=1, keepdims=True)  # float32 FFT error is relative to the frame's energy
    for backend in ("cmsis", "portable", "espdsp"):
        device = power_spectra(harnesses[backend], frames, tmp_path)
        assert np.abs(device - power).max(axis=1, initial=0) @ (1 / scale[:, 0]) / len(frames) < 1e-6, backend


@pytest.mark.slow
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m0plus"])
def test_cross_compiles_for_cortex_m(cpu, generated, tmp_path):
    """Code and RAM of the front end on the MCU (arm-none-eabi-size), portable and CMSIS FFT."""
    need_tool("arm-none-eabi-gcc", ARM_GCC)
    backends = {"portable": {}, "cmsis": cmsis_build_args(need_cmsis_dsp())}
    for backend, args in backends.items():
        sizes = cortex_m_sizes(generated[0], cpu, tmp_path, **args)
        print(f"{cpu} {backend}: front end objects text {sizes['text']} B, data {sizes['data']} B, bss "
              f"{sizes['bss']} B; linked program (with FFT library, newlib libm, startup, state) "
              f"text/data/bss {sizes['linked']}")
        # all state is the caller's ser_frontend_t; tables are const
        assert sizes["bss"] == 0 and sizes["data"] == 0
        assert abs(sizes["text"] / TEXT_BYTES[cpu, backend] - 1) <= TEXT_MARGIN, (cpu, backend, sizes["text"])


@pytest.mark.slow
def test_instructions_per_frame(harnesses, tmp_path):
    """Host (x86-64, gcc -O2) instructions per 10 ms frame of streaming, from valgrind."""
    need_tool("valgrind", VALGRIND)
    pcm = clip(5.0, seed=5)
    for backend in ("portable", "cmsis"):
        per_frame = instructions_per_frame(harnesses[backend], pcm, FRONTEND.frame_step, FRAMES, tmp_path)
        print(f"{backend}: {per_frame:,.0f} instructions per frame")
        assert abs(per_frame / INSTRUCTIONS[backend] - 1) <= INSTRUCTION_MARGIN, (backend, per_frame)
