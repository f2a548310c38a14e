"""The device front end's files for one run: its C sources, its config header and its tables.

`ser_frontend_config.h` mirrors `FrontendConfig` (and the window) as `#define`s,
`ser_frontend_tables.c` holds the Mel filterbank as sparse rows, the normalization statistics and
the portable FFT's twiddles. Layout lives in the `.in` templates beside the C sources, data is
formatted here; output is a pure function of the inputs (no timestamps: a hash of the inputs is
written instead), so a re-export is byte-identical. `frontend_state_bytes` and
`stream_state_bytes` are the RAM the whole-window and streaming state structs take, for the board
budget.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from firmware_export.render import render
from ser_reparam.features import FrontendConfig
from ser_reparam.files import atomic_write_bytes, atomic_write_text

FRONTEND_DIR = Path(__file__).parent / "frontend"
C_SOURCES = ("ser_frontend.h", "ser_frontend.c", "ser_frontend_stream.h", "ser_frontend_stream.c")


def c_float(value: float) -> str:
    """The shortest C literal that reads back as the same float32 (numpy's float32 str)."""
    text = str(np.float32(value))
    return f"{text if '.' in text or 'e' in text else text + '.0'}f"


def _rows(items: list[str], per_line: int = 6, indent: str = "  ") -> str:
    """Comma-separated items, `per_line` to a line."""
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join(indent + line for line in lines)


def window_hops(frontend: FrontendConfig, window_frames: int) -> int:
    """Hops of frame_step samples whose psf framing gives exactly `window_frames` frames (the most
    such hops when several do): the device pushes whole hops."""
    hops = window_frames - 1 + frontend.frame_length // frontend.frame_step
    if window_frames < 1 or hops < 1 or frontend.num_frames(hops * frontend.frame_step) != window_frames:
        raise ValueError(f"window_frames={window_frames}: no whole number of {frontend.frame_step}-sample "
                         f"hops gives that many frames; pass the model's input frames (>= 1)")
    return hops


def _statistics(norm_stats: dict, frontend: FrontendConfig) -> tuple[np.ndarray, np.ndarray]:
    """mean and std as float64 arrays, checked: the C code divides by std."""
    arrays = []
    for key in ("mean", "std"):
        if key not in norm_stats:
            raise ValueError(f"norm_stats has no '{key}': pass the dict of FeatureStore.norm_stats "
                             "(norm_stats-*.json of the feature cache)")
        values = np.asarray(norm_stats[key], dtype=np.float64)
        if values.shape != (frontend.num_features,):
            raise ValueError(f"norm_stats['{key}'] has shape {values.shape}, the front end makes "
                             f"{frontend.num_features} features: use the statistics computed with this "
                             "FrontendConfig")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"norm_stats['{key}'] holds non-finite values: recompute the "
                             "normalization statistics")
        arrays.append(values)
    mean, std = arrays
    if np.any(std <= 0):
        raise ValueError(f"norm_stats['std'] has values <= 0 (dims {np.flatnonzero(std <= 0).tolist()}): "
                         "recompute the normalization statistics "
                         "(FeatureStore.norm_stats floors std at 1e-8)")
    return mean, std


def _mel_rows(frontend: FrontendConfig) -> tuple[list[tuple[int, int]], list[float]]:
    """(first bin, count) per band and the concatenated non-zero weights."""
    bands, weights = [], []
    for row in frontend.mel_filterbank():
        nonzero = np.flatnonzero(row)
        if nonzero.size == 0:
            bands.append((0, 0))
            continue
        first, last = int(nonzero[0]), int(nonzero[-1])
        bands.append((first, last - first + 1))
        weights.extend(row[first:last + 1].tolist())
    return bands, weights


def inputs_hash(frontend: FrontendConfig, mean: np.ndarray, std: np.ndarray, window_frames: int) -> str:
    # "num_frames": the key the digest was first computed with (generated C carries the digest)
    record = {"frontend": frontend.to_dict(), "mean": mean.tolist(), "std": std.tolist(),
              "num_frames": window_frames}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _history_and_fft_bytes(frontend: FrontendConfig, cmsis: bool) -> int:
    """The parts both state structs share: the int16 history of SER_HISTORY_SAMPLES + 1 samples
    (padded to 4 bytes) and ser_fft_work_t (CMSIS-DSP's FFT works out of place: two buffers)."""
    hop = frontend.frame_step
    history_samples = (frontend.frame_length + hop - 1) // hop * hop
    return (2 * (history_samples + 1) + 3) // 4 * 4 + 4 * frontend.nfft * (2 if cmsis else 1)


def frontend_state_bytes(frontend: FrontendConfig, window_frames: int, cmsis: bool) -> int:
    """sizeof(ser_frontend_t) on a 32-bit MCU, the struct of frontend/ser_frontend.h (checked by the
    tests against arm-none-eabi-gcc): history, two ints, the log-Mel frames, the FFT buffer(s)."""
    return _history_and_fft_bytes(frontend, cmsis) + 8 + 4 * window_frames * frontend.num_filters


def stream_state_bytes(frontend: FrontendConfig, cmsis: bool) -> int:
    """sizeof(ser_stream_t) on a 32-bit MCU, the struct of frontend/ser_frontend_stream.h (checked
    by the tests against gcc and arm-none-eabi-gcc): history, eight ints, rings of 2N + 1 log-Mel
    and delta rows, the FFT buffer(s). Independent of the window: the stream keeps no frames."""
    ring = 2 * frontend.delta_window + 1
    return _history_and_fft_bytes(frontend, cmsis) + 8 * 4 + 2 * 4 * ring * frontend.num_filters


def write_frontend_files(frontend: FrontendConfig, norm_stats: dict, window_frames: int,
                         out_dir: str | os.PathLike) -> list[Path]:
    """Copy the front end's C sources into `out_dir` and generate its config header and tables
    for `window_frames` frames per window. Returns the files written (C_SOURCES, config, tables)."""
    mean, std = _statistics(norm_stats, frontend)
    hops = window_hops(frontend, window_frames)
    digest = inputs_hash(frontend, mean, std, window_frames)
    bands, weights = _mel_rows(frontend)
    angles = 2 * np.pi * np.arange(frontend.nfft // 2) / frontend.nfft
    window = frontend.delta_window

    config = render(
        "frontend/ser_frontend_config.h.in", inputs_hash=digest,
        sample_rate=frontend.sample_rate, frame_length=frontend.frame_length,
        frame_length_ms=f"{frontend.frame_length_ms:g}", frame_step=frontend.frame_step,
        frame_step_ms=f"{frontend.frame_step_ms:g}", nfft=frontend.nfft,
        preemphasis=c_float(frontend.preemphasis),
        num_filters=frontend.num_filters, low_hz=f"{frontend.low_hz:g}", high_hz=f"{frontend.top_hz:g}",
        num_features=frontend.num_features, delta_window=window,
        delta_denominator=2 * sum(n * n for n in range(1, window + 1)), log_floor=c_float(frontend.log_floor),
        window_frames=window_frames, window_hops=hops, window_samples=hops * frontend.frame_step,
        mel_weight_count=len(weights))
    tables = render(
        "frontend/ser_frontend_tables.c.in", inputs_hash=digest,
        mel_bands="\n".join(f"  {{{first}, {count}}},  // band {band}"
                            for band, (first, count) in enumerate(bands)),
        mel_weights=_rows([c_float(w) for w in weights]),
        mean=_rows([c_float(v) for v in mean]), std=_rows([c_float(v) for v in std]),
        twiddles=_rows([f"{{{c_float(c)}, {c_float(s)}}}" for c, s in zip(np.cos(angles), np.sin(angles))],
                       3))

    out_dir = Path(out_dir)
    written = []
    for name in C_SOURCES:
        atomic_write_bytes(out_dir / name, (FRONTEND_DIR / name).read_bytes())
        written.append(out_dir / name)
    for name, text in (("ser_frontend_config.h", config), ("ser_frontend_tables.c", tables)):
        atomic_write_text(out_dir / name, text)
        written.append(out_dir / name)
    return written
