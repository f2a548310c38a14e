"""The device front end (firmware_export/frontend) against the training front end, compiled for real.

The generated C sources are built with the host gcc for each FFT backend (portable, CMSIS-DSP from
its own sources, ESP-DSP's contract through tests/espdsp_standin) and must give the Python
features of the same int16 audio within 1e-3; the CMSIS path is cross-checked against the
`cmsisdsp` Python package, and (slow) the front end is cross-compiled for Cortex-M4 and
Cortex-M0+ and its per-frame instruction count measured with valgrind.
"""
import importlib.util
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware_export.cmsis_dsp import RFFT_SOURCES
from needs import ARM_GCC, HOST_GCC, VALGRIND, need, need_cmsis_dsp, need_tool
from firmware_export.frontend_tables import window_hops, write_frontend_files
from ser_reparam.data.synthetic import make_speakers, synthesize
from ser_reparam.features import FrontendConfig, compute_features

HERE = Path(__file__).parent
FRONTEND = FrontendConfig()
FRAMES = FRONTEND.num_frames(5 * FRONTEND.sample_rate)  # a 5 s window: 499 frames, 500 hops
INPUT_SCALE, INPUT_ZERO_POINT = 0.0431, -3              # an int8 input tensor's quantization
PARITY = 4e-5  # max |C − Python| feature difference (≈ 2× the largest measured, see the test)
# Front-end object code (arm-none-eabi-gcc 13.2 -Os, text bytes) and host instructions per frame
# (gcc -O2, valgrind), as measured here; other compilers may differ by the stated margins.
TEXT_BYTES = {("cortex-m4", "portable"): 6284, ("cortex-m4", "cmsis"): 3854,
              ("cortex-m0plus", "portable"): 6520, ("cortex-m0plus", "cmsis"): 3932}
TEXT_MARGIN = 0.10
INSTRUCTIONS = {"portable": 52_661, "cmsis": 48_227}
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
    exe = folder / name
    subprocess.run([need_tool("gcc", HOST_GCC), "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
                    *defines, f"-I{folder}", *[f"-I{i}" for i in includes], str(HERE / "frontend_harness.c"),
                    str(folder / "ser_frontend_tables.c"), *map(str, sources), "-lm", "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return exe


def cmsis_build_args(root: Path) -> dict:
    # -D__GNUC_PYTHON__: CMSIS-DSP without CMSIS-Core, as the cmsisdsp Python package builds it
    return {"defines": ("-DSER_FFT_CMSIS", "-D__GNUC_PYTHON__"),
            "includes": (root / "Include", root / "PrivateInclude"),
            "sources": [root / source for source in RFFT_SOURCES]}


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
    subprocess.run([str(exe), "spectrum", str(tmp_path / "frames.f32"), str(tmp_path / "power.f32")], check=True)
    return np.fromfile(tmp_path / "power.f32", "<f4").reshape(len(frames), -1)


def test_cmsis_path_agrees_with_the_cmsisdsp_package(harnesses, tmp_path):
    """The Cortex-M path's FFT is CMSIS-DSP's arm_rfft_fast_f32: the Python package (the same C
    library) gives the same packed spectrum, and the portable backend the same power."""
    need(importlib.util.find_spec("cmsisdsp") is not None, "the cmsisdsp package is missing: pip install -e '.[dev]'")
    import cmsisdsp as dsp
    rng = np.random.default_rng(4)
    pcm = clip(1.0, seed=4).astype(np.float32) / 32768
    frames = np.zeros((32, FRONTEND.nfft), np.float32)
    for i, start in enumerate(rng.integers(0, len(pcm) - 400, 32)):
        frames[i, :400] = pcm[start:start + 400]
    instance = dsp.arm_rfft_fast_instance_f32()
    assert dsp.arm_rfft_fast_init_f32(instance, FRONTEND.nfft) == 0
    packed = np.stack([dsp.arm_rfft_fast_f32(instance, frame, 0) for frame in frames]).astype(np.float64)
    power = np.concatenate([packed[:, :1] ** 2, packed[:, 2::2] ** 2 + packed[:, 3::2] ** 2, packed[:, 1:2] ** 2],
                           axis=1) / FRONTEND.nfft
    scale = power.max(axis=1, keepdims=True)  # float32 FFT error is relative to the frame's energy
    for backend in ("cmsis", "portable", "espdsp"):
        device = power_spectra(harnesses[backend], frames, tmp_path)
        assert np.abs(device - power).max(axis=1, initial=0) @ (1 / scale[:, 0]) / len(frames) < 1e-6, backend


@pytest.mark.slow
@pytest.mark.parametrize("cpu,floats", [("cortex-m4", ["-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]),
                                        ("cortex-m0plus", ["-mfloat-abi=soft"])])
def test_cross_compiles_for_cortex_m(cpu, floats, generated, tmp_path):
    """Code and RAM of the front end on the MCU (arm-none-eabi-size), portable and CMSIS FFT."""
    need_tool("arm-none-eabi-gcc", ARM_GCC)
    folder = generated[0]
    flags = [f"-mcpu={cpu}", "-mthumb", *floats, "-std=c99", "-Os", "-Wall", "-Werror", "-ffunction-sections",
             "-fdata-sections", f"-I{folder}"]
    cmsis = cmsis_build_args(need_cmsis_dsp())
    backends = {"portable": ([], []),
                "cmsis": ([*cmsis["defines"], *[f"-I{i}" for i in cmsis["includes"]]], cmsis["sources"])}
    for backend, (defines, extra) in backends.items():
        objects = []
        for source in [folder / "ser_frontend.c", folder / "ser_frontend_tables.c", *extra]:
            objects.append(tmp_path / f"{backend}-{source.stem}.o")
            subprocess.run(["arm-none-eabi-gcc", *flags, *defines, "-c", str(source), "-o", str(objects[-1])],
                           check=True, capture_output=True, text=True)
        # link against the API only, so that unused CMSIS tables are dropped as on the device
        main = tmp_path / "main.c"
        main.write_text('#include "ser_frontend.h"\nstatic ser_frontend_t fe;\nstatic int16_t hop[SER_HOP_SAMPLES];\n'
                        "static int8_t input[SER_NUM_FRAMES * SER_NUM_FEATURES];\n"
                        "int main(void) { ser_frontend_reset(&fe); ser_frontend_push(&fe, hop);\n"
                        "  return ser_frontend_finish_int8(&fe, input, 0.05f, 0); }\n")
        elf = tmp_path / f"{backend}.elf"
        subprocess.run(["arm-none-eabi-gcc", *flags, *defines, str(main), *map(str, objects), "--specs=nosys.specs",
                        "-Wl,--gc-sections", "-lm", "-o", str(elf)], check=True, capture_output=True, text=True)
        ours = subprocess.run(["arm-none-eabi-size", "-t", *map(str, objects[:2])], check=True,
                              capture_output=True, text=True).stdout
        text, data, bss = map(int, ours.splitlines()[-1].split()[:3])
        linked = subprocess.run(["arm-none-eabi-size", str(elf)], check=True, capture_output=True, text=True).stdout
        print(f"{cpu} {backend}: front end objects text {text} B, data {data} B, bss {bss} B; linked program "
              f"(with FFT library, newlib libm, startup, state) text/data/bss {linked.splitlines()[-1].split()[:3]}")
        assert bss == 0 and data == 0  # all state is the caller's ser_frontend_t; tables are const
        assert abs(text / TEXT_BYTES[cpu, backend] - 1) <= TEXT_MARGIN, (cpu, backend, text)


def instructions(exe: Path, pcm_path: Path) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(exe), "push",
                          str(pcm_path)], check=True, capture_output=True, text=True).stderr
    return int(re.search(r"Collected\s*:\s*(\d+)", out).group(1))


@pytest.mark.slow
def test_instructions_per_frame(harnesses, tmp_path):
    """Host (x86-64, gcc -O2) instructions per 10 ms frame of streaming, from valgrind."""
    need_tool("valgrind", VALGRIND)
    pcm = clip(5.0, seed=5)
    (tmp_path / "full.pcm").write_bytes(pcm.astype("<i2").tobytes())
    (tmp_path / "one.pcm").write_bytes(pcm[:160].astype("<i2").tobytes())  # one hop: no frame yet
    for backend in ("portable", "cmsis"):
        per_frame = (instructions(harnesses[backend], tmp_path / "full.pcm")
                     - instructions(harnesses[backend], tmp_path / "one.pcm")) / (FRAMES - 1)
        print(f"{backend}: {per_frame:,.0f} instructions per frame")
        assert abs(per_frame / INSTRUCTIONS[backend] - 1) <= INSTRUCTION_MARGIN, (backend, per_frame)
