"""The streaming device front end (firmware_export/frontend/ser_frontend_stream.c), compiled for real.

A clip streamed from ser_stream_reset to the last ser_stream_flush_* must give the frames of the
training front end (ser_reparam/features.py) for that clip, for each FFT backend, on synthetic
and real speech (emodb-8spk); a long continuous stream must equal the whole-clip features, so a
window cut from it differs only at its edges; its state must be the bytes the export budgets
(host gcc here, arm-none-eabi-gcc for Cortex-M4 in the slow test, with its per-hop cost).
"""
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from needs import ARM_GCC, VALGRIND, need_cmsis_dsp, need_dir, need_tool
from test_frontend_c import (  # noqa: F401
    FRONTEND,
    INPUT_SCALE,
    INPUT_ZERO_POINT,
    PARITY,
    clip,
    generated,
    harnesses,
    python_features,
    run_c,
)

from firmware_export.frontend_cost import cmsis_build_args, cortex_m_sizes, stream_instructions_per_hop
from firmware_export.frontend_tables import stream_state_bytes
from ser_reparam.data.audio import read_mono_16k

FIRST_PUSH = 3 + 4  # the frame's 3 hops (400 samples in 160-sample hops) + delta-delta's 4 frames
HELD_BACK = 4 + 1   # frames flush returns: the delayed ones and psf's zero-padded tail frame
STATE_BYTES = {"portable": 4084, "cmsis": 6132, "espdsp": 4084}  # sizeof(ser_stream_t), measured
# Front-end object code for the stream (arm-none-eabi-gcc 12.2 -Os, Cortex-M4F, text bytes of
# ser_frontend.o + ser_frontend_stream.o + tables, the whole-window functions included) and host
# instructions per pushed hop with its int8 frame (gcc -O2, valgrind), as measured here; other
# compilers may differ by the stated margins.
STREAM_TEXT_BYTES = {"portable": 6818, "cmsis": 4424}
STREAM_INSTRUCTIONS = {"portable": 57_383, "cmsis": 52_957}
MARGIN = 0.15


def stream_c(exe: Path, pcm: np.ndarray, tmp_path: Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(normalized float frames, int8 frames, push that returned frame 0, frames flush returned)
    of `pcm` streamed from reset to flush."""
    (tmp_path / "in.pcm").write_bytes(pcm.astype("<i2").tobytes())
    out = subprocess.run([str(exe), "stream", str(tmp_path / "in.pcm"), str(tmp_path / "out.f32"),
                          str(tmp_path / "out.i8"), str(INPUT_SCALE), str(INPUT_ZERO_POINT)],
                         check=True, capture_output=True, text=True).stdout
    first_push, flushed = map(int, re.fullmatch(r"first_push (\d+) flushed (\d+)\n", out).groups())
    return (np.fromfile(tmp_path / "out.f32", "<f4").reshape(-1, FRONTEND.num_features),
            np.fromfile(tmp_path / "out.i8", np.int8).reshape(-1, FRONTEND.num_features), first_push, flushed)


def quantize(features: np.ndarray) -> np.ndarray:
    """round-half-away(x / scale) + zero point, clamped: the model's int8 input."""
    return np.clip(np.trunc(features / INPUT_SCALE + np.copysign(0.5, features)) + INPUT_ZERO_POINT,
                   -128, 127)


def assert_matches(device: np.ndarray, quantized: np.ndarray, reference: np.ndarray, label: str) -> float:
    assert device.shape == reference.shape, label
    error = float(np.abs(device - reference).max())
    print(f"{label}: {len(device)} frames, max |C - Python| normalized {error:.2e}")
    assert error <= PARITY, label
    q = quantize(reference)
    assert np.abs(quantized.astype(int) - q).max() <= 1 and np.mean(quantized == q) > 0.999, label
    return error


def normalized(pcm: np.ndarray, generated) -> np.ndarray:  # noqa: F811
    _, mean, std = generated
    return (python_features(pcm) - mean) / std


def emodb_pcm(count: int) -> list[np.ndarray]:
    """The first `count` emodb-8spk clips as the int16 16 kHz PCM a microphone delivers, cut to whole hops."""
    root = need_dir("SER_EMODB_DIR", "the emodb-8spk corpus (a folder holding wav/03a01Fa.wav …)")
    clips = []
    for path in sorted((root / "wav").glob("*.wav"))[:count]:
        pcm = np.round(np.clip(read_mono_16k(path), -1, 1) * 32767).astype(np.int16)
        clips.append(pcm[:len(pcm) // FRONTEND.frame_step * FRONTEND.frame_step])
    assert len(clips) == count, f"{root}/wav holds fewer than {count} clips"
    return clips


@pytest.mark.parametrize("backend", ["portable", "cmsis", "espdsp"])
def test_a_streamed_clip_is_the_python_features(backend, generated, harnesses, tmp_path):  # noqa: F811
    pcm = clip(5.0, seed=1)
    device, quantized, first_push, flushed = stream_c(harnesses[backend], pcm, tmp_path)
    # measured here: 1.06e-5 / 1.14e-5 / 1.10e-5 (portable / cmsis / espdsp), as the whole window
    assert_matches(device, quantized, normalized(pcm, generated), backend)
    assert first_push == FIRST_PUSH and flushed == HELD_BACK
    # the same shared code in the same order: bit for bit the whole-window front end's output
    window, window_int8 = run_c(harnesses[backend], pcm, tmp_path)
    assert np.array_equal(device, window) and np.array_equal(quantized, window_int8)


def test_real_speech_streams_like_python(generated, harnesses, tmp_path):  # noqa: F811
    for index, pcm in enumerate(emodb_pcm(3)):
        device, quantized, _, _ = stream_c(harnesses["portable"], pcm, tmp_path)
        # measured here: 1.43e-5, 1.14e-5, 8.5e-6
        assert_matches(device, quantized, normalized(pcm, generated), f"emodb clip {index}")


def test_short_clips_have_psf_frames(generated, harnesses, tmp_path):  # noqa: F811
    """From no audio to past the first emitted frame: psf's frame count, its padded tail, its edges."""
    pcm = clip(1.0, seed=2)
    for hops in (0, 1, 2, 3, 4, 6, 7, 9):
        piece = pcm[:hops * FRONTEND.frame_step]
        device, quantized, first_push, flushed = stream_c(harnesses["portable"], piece, tmp_path)
        assert len(device) == FRONTEND.num_frames(len(piece)), hops
        assert_matches(device, quantized, normalized(piece, generated), f"{hops} hops")
        assert (first_push == (FIRST_PUSH if hops >= FIRST_PUSH else 0)
                and flushed == len(device) - max(0, hops - 6))


def test_a_long_stream_is_the_whole_clip(generated, harnesses, tmp_path):  # noqa: F811
    """Real speech streamed for 16 s without a break gives the features of the whole recording;
    a 5 s window cut out of it gets the same frames away from its edges (the stream's frames do
    not depend on where a window starts), and different ones at its edges."""
    pcm = np.concatenate(emodb_pcm(8))
    device, quantized, _, _ = stream_c(harnesses["portable"], pcm, tmp_path)
    assert_matches(device, quantized, normalized(pcm, generated), "16 s of emodb")
    offset, hops = 333, 500  # a hop-aligned 5 s window inside the stream
    piece = normalized(pcm[offset * FRONTEND.frame_step:(offset + hops) * FRONTEND.frame_step], generated)
    # whole frames: 498
    complete = (hops * FRONTEND.frame_step - FRONTEND.frame_length) // FRONTEND.frame_step + 1
    # frame 0's pre-emphasis lacks the sample before the window; deltas reach 2 + 2 frames further
    interior = slice(1 + 4, complete - 4)
    difference = np.abs(piece - device[offset:offset + len(piece)])
    assert difference[interior].max() <= PARITY
    print(f"window interior: max difference {difference[interior].max():.2e}; edges "
          f"{difference[:5].max():.2f} (start), {difference[-5:].max():.2f} (end)")
    assert difference[:5].max() > 0.01 and difference[-5:].max() > 0.01


def test_an_fft_failure_is_reported_on_every_frame(harnesses, tmp_path):  # noqa: F811
    """ESP-DSP initialized by the application for a smaller FFT: each push that completes a frame
    and the flush return SER_STREAM_FFT_ERROR (-1) and none returns a frame (run under ASan and
    UBSan once when written: no overrun on this path)."""
    pcm = clip(1.0, seed=6)
    (tmp_path / "in.pcm").write_bytes(pcm.astype("<i2").tobytes())
    out = subprocess.run([str(harnesses["espdsp"]), "stream-fft-error", str(tmp_path / "in.pcm")],
                         check=True, capture_output=True, text=True).stdout
    hops = len(pcm) // FRONTEND.frame_step
    assert out == f"frames 0 none 2 errors {hops - 2} flush -1\n"


@pytest.mark.parametrize("backend", ["portable", "cmsis", "espdsp"])
def test_state_bytes_are_what_the_export_counts(backend, harnesses):  # noqa: F811
    out = subprocess.run([str(harnesses[backend]), "sizes"], check=True, capture_output=True,
                         text=True).stdout
    sizes = dict(zip(out.split()[::2], map(int, out.split()[1::2])))
    print(backend, sizes)
    assert (sizes["ser_stream_t"] == stream_state_bytes(FRONTEND, cmsis=backend == "cmsis")
            == STATE_BYTES[backend])


@pytest.mark.slow
def test_cross_compiles_for_cortex_m4(generated, tmp_path):  # noqa: F811
    """The stream's state on the MCU is what the export budgets; its code (arm-none-eabi-size)."""
    need_tool("arm-none-eabi-gcc", ARM_GCC)
    for backend, args in {"portable": {}, "cmsis": cmsis_build_args(need_cmsis_dsp())}.items():
        sizes = cortex_m_sizes(generated[0], "cortex-m4", tmp_path, stream=True, **args)
        print(f"cortex-m4 {backend}: streaming front end objects text {sizes['text']} B, data "
              f"{sizes['data']} B, bss {sizes['bss']} B; linked program text/data/bss {sizes['linked']}")
        assert sizes["bss"] == 0 and sizes["data"] == 0
        assert sizes["state"] == stream_state_bytes(FRONTEND, cmsis=backend == "cmsis")
        assert abs(sizes["text"] / STREAM_TEXT_BYTES[backend] - 1) <= MARGIN, (backend, sizes["text"])


@pytest.mark.slow
def test_instructions_per_hop(harnesses, tmp_path):  # noqa: F811
    """Host (x86-64, gcc -O2) instructions per pushed 10 ms hop of streaming, from valgrind."""
    need_tool("valgrind", VALGRIND)
    pcm = clip(5.0, seed=5)
    for backend in ("portable", "cmsis"):
        per_hop = stream_instructions_per_hop(harnesses[backend], pcm, FRONTEND.frame_step, tmp_path)
        print(f"{backend}: {per_hop:,.0f} instructions per pushed hop")
        assert abs(per_hop / STREAM_INSTRUCTIONS[backend] - 1) <= MARGIN, (backend, per_hop)
