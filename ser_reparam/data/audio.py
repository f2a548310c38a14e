"""Audio the pipeline can read: probe a source, convert it once to 16 kHz mono 16-bit WAV if needed.

Training decodes WAV with `tf.audio.decode_wav` (tensorflow-io is not usable, see DESIGN.md), so
prepare hands it either the source itself (PCM 16-bit WAV, 16 kHz, mono, not empty) or a
converted copy in an audio cache folder beside the manifest. soundfile + soxr convert what
libsndfile reads (stereo is mixed down to mono); anything else (video, AAC, ...) goes through
ffmpeg, from PATH or from the `imageio-ffmpeg` package. Files are decoded in blocks (read_blocks,
open_audio), so `predict` holds one block whatever the length; a header rate outside AUDIO_RATES or NaN / inf
samples are refused before anything is resampled. A cached file is named by the sha256 of
its source bytes and of the target format, so a re-run, or the same file under another name,
reuses it; every file is written to a temporary name and renamed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ser_reparam.console import held_native_stderr
from ser_reparam.errors import (
    AUDIO_RATES,
    FFMPEG_HINT,
    MAX_DECODE_SECONDS,
    EmptyAudio,
    InputError,
    NoAudioDecoder,
    NonFiniteAudio,
    TooLongAudio,
    TruncatedAudio,
    UnreadableAudio,
    UnsupportedRate,
)
from ser_reparam.files import atomic_write_bytes

SAMPLE_RATE = 16000
BLOCK_FRAMES = 1 << 16  # source frames decoded at a time
MAX_CHANNELS = 32  # an array axis this short is channels, a longer one samples
TARGET = f"WAV PCM_16 {SAMPLE_RATE} Hz mono"  # part of every cache key: a new target means new files
SOUNDFILE_SUFFIXES = frozenset({f".{name.lower()}" for name in sf.available_formats()} | {".aif", ".oga"})


def check_rate(rate: float, what: str) -> None:
    """UnsupportedRate unless `rate` is one audio is recorded at: resampling from an absurd rate
    (a 1 Hz header) would make billions of samples out of a small file."""
    if not AUDIO_RATES[0] <= rate <= AUDIO_RATES[1]:
        raise UnsupportedRate(f"{what}: sample rate {rate} Hz is outside {AUDIO_RATES[0]}–{AUDIO_RATES[1]} "
                              f"Hz, not a rate audio is recorded at; give the audio at its real rate")


def find_ffmpeg() -> str | None:
    """ffmpeg from PATH, else the static binary that the imageio-ffmpeg package ships, else None."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def is_pipeline_ready(info) -> bool:
    """True when `tf.audio.decode_wav` reads the file as the front end needs it (soundfile.info)."""
    return (info.format == "WAV" and info.subtype == "PCM_16" and info.samplerate == SAMPLE_RATE
            and info.channels == 1 and info.frames > 0)


def read_mono_16k(path: str | os.PathLike, source: str | os.PathLike | None = None) -> np.ndarray:
    """The whole file as read_blocks gives it, refused (TooLongAudio) once it passes MAX_DECODE_SECONDS."""
    blocks, total = [], 0
    for block in read_blocks(path, source):
        total += block.size
        if total > MAX_DECODE_SECONDS * SAMPLE_RATE:
            raise TooLongAudio(f"{source or path} is longer than {MAX_DECODE_SECONDS // 3600} h; "
                               f"cut it into parts (e.g. ffmpeg -f segment) and give those")
        blocks.append(block)
    return np.concatenate(blocks)


def read_blocks(path: str | os.PathLike, source: str | os.PathLike | None = None) -> Iterator[np.ndarray]:
    """16 kHz mono float32 blocks of what soundfile reads at `path` (channels mixed down, soxr
    resampling), so memory stays one block whatever the length; errors name `source` (default `path`)."""
    source = source or path
    try:
        with sf.SoundFile(path) as sound:
            check_rate(sound.samplerate, str(source))
            resampler = (None if sound.samplerate == SAMPLE_RATE
                         else soxr.ResampleStream(sound.samplerate, SAMPLE_RATE, 1, dtype="float32"))
            empty = True
            while True:
                block = sound.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                last = len(block) < BLOCK_FRAMES
                if not np.isfinite(block).all():
                    raise NonFiniteAudio(f"{source} holds NaN or infinite samples (before "
                                         f"{sound.tell() / sound.samplerate:.2f} s); re-export it")
                mono = block.mean(axis=1)
                if resampler is not None:
                    mono = resampler.resample_chunk(mono, last=last)
                if mono.size:
                    empty = False
                    yield mono.astype(np.float32, copy=False)
                if last:
                    break
    except sf.SoundFileError as err:
        raise UnreadableAudio(f"{source}: soundfile cannot read it ({err})") from None
    if empty:
        raise EmptyAudio(f"{source} has no samples")


def array_mono_16k(samples, sample_rate: float) -> np.ndarray:
    """A caller's samples as 16 kHz mono float32. Layouts (N,), (N, C) and (C, N) are told apart
    by the channel axis being the one with at most MAX_CHANNELS entries; integer PCM is scaled to
    ±1. InputError for an ambiguous shape, a dtype that is not audio, or NaN / infinite samples."""
    array = np.asarray(samples)
    check_rate(sample_rate, "predict(array) sample_rate")
    signal = _mono(_full_scale(array))
    bad = np.flatnonzero(~np.isfinite(signal))
    if bad.size:
        raise InputError(f"predict(array): {bad.size} NaN or infinite sample(s), the first at sample "
                         f"{bad[0]}; give finite samples")
    if sample_rate != SAMPLE_RATE:
        signal = soxr.resample(signal, sample_rate, SAMPLE_RATE)
    return signal.astype(np.float32, copy=False)


def _full_scale(array: np.ndarray) -> np.ndarray:
    """Float samples as they are (float32); integer PCM of any width mapped onto [-1, 1)."""
    if array.dtype.kind in "iu":
        info = np.iinfo(array.dtype)
        half = (int(info.max) - int(info.min) + 1) / 2
        return ((array.astype(np.float64) - (info.min + half)) / half).astype(np.float32)
    if array.dtype.kind == "f":
        return array.astype(np.float32, copy=False)
    raise InputError(f"predict(array): dtype {array.dtype} is not audio; give float samples in [-1, 1] "
                     f"or integer PCM")


def _mono(array: np.ndarray) -> np.ndarray:
    """(N,) as it is; (N, C) or (C, N) mixed down over the axis with at most MAX_CHANNELS entries."""
    if array.ndim == 1 and array.size:
        return array
    channel_axes = [axis for axis, size in enumerate(array.shape) if size <= MAX_CHANNELS]
    if array.ndim != 2 or len(channel_axes) != 1 or 0 in array.shape:
        raise InputError(f"predict(array): shape {array.shape} is not (samples,), (samples, channels) or "
                         f"(channels, samples) with 1–{MAX_CHANNELS} channels and more samples than that; "
                         f"reshape it")
    return array.mean(axis=channel_axes[0])


def write_wav(path: str | os.PathLike, signal: np.ndarray) -> None:
    """Write 16 kHz mono 16-bit PCM WAV atomically (temporary file in the same folder, then rename)."""
    atomic_write_bytes(path, _pcm16_wav(signal))


def _pcm16_wav(signal: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(signal, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def content_key(*parts: bytes | str | os.PathLike) -> str:
    """sha256 over file contents (paths) and literal strings, plus the target format."""
    digest = hashlib.sha256(TARGET.encode())
    for part in parts:
        if isinstance(part, (bytes, str)):
            digest.update(part.encode() if isinstance(part, str) else part)
            continue
        with open(part, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _probe(source: Path):
    """soundfile.info, or None when libsndfile cannot read the file; EmptyAudio when there is nothing."""
    if source.stat().st_size == 0:
        raise EmptyAudio(f"{source} is a zero-byte file")
    try:
        # libmpg123's resync notes: the report says what matters
        with held_native_stderr(keep_on_failure=lambda line: False):
            info = sf.info(source)
    except sf.SoundFileError:
        return None
    if info.frames == 0:
        raise EmptyAudio(f"{source} has no samples")
    declared = _declared_wav_frames(source) if info.format == "WAV" else None
    if declared is not None and declared > info.frames:
        raise TruncatedAudio(f"{source}: header promises {declared} samples, the file holds {info.frames}")
    return info


def _declared_wav_frames(source: Path) -> int | None:
    """The sample count a PCM WAV header claims (None when the `wave` module cannot read it)."""
    try:
        with wave.open(str(source), "rb") as header:
            return header.getnframes()
    except (OSError, EOFError, wave.Error):
        return None


def decode_audio(source: str | os.PathLike, ffmpeg: str | None = None) -> np.ndarray:
    """Any audio file as 16 kHz mono float32 samples, as prepare converts it (soundfile + soxr,
    else ffmpeg from `ffmpeg` or find_ffmpeg()), without writing anything. Raises AudioError."""
    source = Path(source)
    return _decode(source, _probe(source), ffmpeg or find_ffmpeg())


@dataclasses.dataclass(frozen=True)
class AudioStream:
    """One file's audio as 16 kHz mono blocks, decoded while it is iterated (read_blocks)."""

    source: Path  # the file as given
    path: Path    # what soundfile reads: the source, or ffmpeg's track of it

    @property
    def seconds(self) -> float:
        """The length the header declares."""
        info = sf.info(self.path)
        return info.frames / info.samplerate

    def __iter__(self) -> Iterator[np.ndarray]:
        return read_blocks(self.path, self.source)


@contextlib.contextmanager
def open_audio(source: str | os.PathLike, ffmpeg: str | None = None) -> Iterator[AudioStream]:
    """Any audio file, to be read block by block while the context is open (an ffmpeg track lives
    that long). Raises AudioError."""
    source = Path(source)
    with _readable(source, _probe(source), ffmpeg or find_ffmpeg()) as path:
        yield AudioStream(source, path)


def _decode(source: Path, info, ffmpeg: str | None) -> np.ndarray:
    with _readable(source, info, ffmpeg) as path, held_native_stderr(keep_on_failure=lambda line: False):
        return read_mono_16k(path, source)  # libmpg123's resync notes held back: the report says what matters


@contextlib.contextmanager
def _readable(source: Path, info, ffmpeg: str | None) -> Iterator[Path]:
    """A file soundfile reads with `source`'s audio: the source itself when it can (`info` from
    _probe), else ffmpeg's audio track in a temporary folder."""
    if info is not None:
        yield source
        return
    if ffmpeg is None:
        if source.suffix.lower() in SOUNDFILE_SUFFIXES:
            raise UnreadableAudio(f"{source}: soundfile cannot read it and no ffmpeg was found to try")
        raise NoAudioDecoder(f"{source}: soundfile cannot read {source.suffix or 'this'} files and "
                             f"no ffmpeg was found; {FFMPEG_HINT}")
    with tempfile.TemporaryDirectory(prefix="ser-reparam-ffmpeg-") as tmp:
        track = Path(tmp) / "track.wav"
        done = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(source), "-vn",
                               "-c:a", "pcm_f32le", "-f", "wav", str(track)],
                              capture_output=True, text=True)
        if done.returncode != 0 or not track.exists():
            last = (done.stderr.strip().splitlines() or ["no audio stream"])[-1]
            raise UnreadableAudio(f"{source}: ffmpeg could not extract audio ({last})")
        yield track


def as_stored(signal: np.ndarray) -> np.ndarray:
    """`signal` (16 kHz float) as prepare stores it and training reads it back: through 16-bit
    PCM WAV (clipped to ±1, libsndfile's rounding), so predictions see the training's samples."""
    return sf.read(io.BytesIO(_pcm16_wav(signal)), dtype="float32")[0]


class AudioCache:
    """Converted audio in one folder inside the manifest's folder, reused across runs.

    `converted` and `reused` list the sources this instance wrote or found already converted,
    so prepare can report them.
    """

    def __init__(self, folder: str | os.PathLike, manifest_dir: str | os.PathLike, ffmpeg: str | None):
        self.folder = Path(folder)
        self.manifest_dir = Path(manifest_dir)
        relative = Path(os.path.relpath(self.folder.resolve(), self.manifest_dir.resolve()))
        if relative.parts[:1] == ("..",) or relative.is_absolute():
            raise InputError(f"audio cache {self.folder} must be inside the manifest's folder "
                             f"{self.manifest_dir} (the manifest stores paths relative to it); "
                             f"choose a folder below it")
        self.ffmpeg = ffmpeg
        self.converted: list[Path] = []
        self.reused: list[Path] = []
        self._known: dict[Path, str] = {}

    def pipeline_audio(self, source: str | os.PathLike) -> str:
        """'' when the pipeline reads `source` as it is; else the cached WAV, relative to the manifest folder.

        Raises EmptyAudio, UnreadableAudio or NoAudioDecoder (each with a report reason).
        """
        source = Path(source)
        if source not in self._known:
            self._known[source] = self._resolve(source)
        return self._known[source]

    def excerpt(self, source: str | os.PathLike, segments: list[tuple[float, float]]) -> tuple[str, float]:
        """Cache the concatenation of `segments` (start, end seconds) of `source`: (relative path, seconds).

        Segments are clipped to the audio; an empty result raises EmptyAudio.
        """
        source = Path(source)
        target = self.folder / f"{content_key(source, repr(segments))}.wav"
        if target.exists():
            self.reused.append(source)
            return self._relative(target), sf.info(target).frames / SAMPLE_RATE
        signal = self._decode(source, _probe(source))
        pieces = [signal[max(0, round(start * SAMPLE_RATE)):max(0, round(end * SAMPLE_RATE))]
                  for start, end in segments]
        joined = np.concatenate(pieces) if pieces else signal[:0]
        if joined.size == 0:
            raise EmptyAudio(f"{source}: the selected segments hold no samples")
        write_wav(target, joined)
        self.converted.append(source)
        return self._relative(target), joined.size / SAMPLE_RATE

    def _resolve(self, source: Path) -> str:
        info = _probe(source)
        if info is not None and is_pipeline_ready(info):
            read_mono_16k(source)  # decode it all once: what training will read must decode
            return ""
        target = self.folder / f"{content_key(source)}.wav"
        if target.exists():
            self.reused.append(source)
        else:
            write_wav(target, self._decode(source, info))
            self.converted.append(source)
        return self._relative(target)

    def _decode(self, source: Path, info) -> np.ndarray:
        return _decode(source, info, self.ffmpeg)

    def _relative(self, target: Path) -> str:
        return Path(os.path.relpath(target.resolve(), self.manifest_dir.resolve())).as_posix()
