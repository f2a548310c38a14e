"""Small real files for the prepare tests: WAVs written with soundfile, videos made by ffmpeg itself."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from ser_reparam.data.audio import find_ffmpeg


def tone(path: Path, seconds: float = 0.25, rate: int = 16000, channels: int = 1, freq: float = 220.0,
         subtype: str = "PCM_16") -> Path:
    """A sine of `seconds`; channel k has amplitude 0.5 / (k + 1) so a mix-down is recognisable."""
    t = np.arange(round(seconds * rate)) / rate
    signal = np.stack([0.5 / (k + 1) * np.sin(2 * np.pi * freq * t) for k in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, signal, rate, subtype=subtype)
    return path


def corrupt(path: Path) -> Path:
    """A .wav whose header is cut off in the middle: no decoder can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00")
    return path


def cut_short(path: Path, keep: float = 0.5) -> Path:
    """A valid WAV header whose data is cut short (a copy interrupted mid-file)."""
    data = path.read_bytes()
    path.write_bytes(data[:44 + int((len(data) - 44) * keep)])
    return path


def zero_bytes(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def video(path: Path, seconds: float = 1.2, freq: int = 440) -> Path:
    """A tiny MP4 (32x32 test pattern, AAC stereo sine at 44.1 kHz) made with the ffmpeg prepare uses."""
    ffmpeg = find_ffmpeg()
    assert ffmpeg, "ffmpeg is needed: pip install imageio-ffmpeg (in the dev extra)"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc=size=32x32:rate=5:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate=44100:duration={seconds}",
                    "-c:v", "mpeg4", "-c:a", "aac", "-ac", "2", "-shortest", str(path)], check=True)
    return path


def dominant_frequency(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.argmax(spectrum) * rate / len(signal))


def forged_rate(path: Path, rate: int, seconds: float = 0.1) -> Path:
    """A 16-bit mono WAV whose header claims `rate` Hz for samples recorded at 16 kHz."""
    tone(path, seconds=seconds)
    data = bytearray(path.read_bytes())
    assert data[24:28] == (16000).to_bytes(4, "little"), "expected a plain 44-byte WAV header"
    data[24:28], data[28:32] = rate.to_bytes(4, "little"), (2 * rate).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path
