"""The built-in demo corpus: generated "acted prosody" speech in 4 classes. SYNTHETIC DATA.

It exercises the pipeline end to end on any machine; it is not evidence about real emotion.
Each utterance is a source–filter signal: a glottal pulse train (with jitter and shimmer)
shaped by a spectral-tilt filter and three formant resonators per syllable, with syllable
amplitude envelopes, word pauses, fricative-like noise onsets and background noise at a random
SNR. Speakers differ in F0 and vocal-tract length (formant scale). The classes differ the way
the vocal-emotion literature reports (e.g. Banse & Scherer 1996; Juslin & Laukka 2003):

  neutral  mid F0, narrow range, gentle declination, mid loudness and rate, mid tilt
  happy    higher F0, wide range with rising accents, louder, faster, flatter tilt
  sad      lower F0, very narrow falling range, quieter, slower, steep tilt, more jitter, breathy
  angry    high F0, wide range with steep falls, loudest, fast, flattest tilt, more shimmer

Every parameter is drawn per utterance around its class mean with spreads that make classes
overlap (happy vs angry most), so a lightweight model does not reach 100 %. Speakers are split
speaker-independently (train / val / test). Output: 16 kHz mono 16-bit WAV files and a
manifest.csv with the same schema as a prepared real dataset; everything is a deterministic
function of the seed (same seed → byte-identical files).
"""
from __future__ import annotations

import io
import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from ser_reparam.data.manifest import Utterance, write_manifest
from ser_reparam.errors import InputError
from ser_reparam.files import atomic_write_text, unlisted_files
from ser_reparam.layout import corpus_manifest

SAMPLE_RATE = 16000
LABELS = ("neutral", "happy", "sad", "angry")
VOWELS = {  # F1, F2, F3 in Hz for an adult male vocal tract
    "a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240),
    "e": (530, 1840, 2480), "o": (570, 840, 2410),
}
# class means: F0 factor, F0 range (fraction), loudness dB, syllables/s, tilt pole, jitter,
# shimmer, breath noise, contour slope (start → end, in units of the range)
PROSODY = {
    "neutral": dict(f0=1.00, range=0.12, loud=0.0, rate=4.4, tilt=0.93, jitter=0.006, shimmer=0.04,
                    breath=0.010, slope=-0.6),
    "happy": dict(f0=1.25, range=0.32, loud=3.0, rate=5.0, tilt=0.89, jitter=0.008, shimmer=0.05,
                  breath=0.010, slope=0.3),
    "sad": dict(f0=0.90, range=0.07, loud=-6.0, rate=3.3, tilt=0.965, jitter=0.014, shimmer=0.06,
                breath=0.040, slope=-1.0),
    "angry": dict(f0=1.22, range=0.26, loud=6.0, rate=5.3, tilt=0.84, jitter=0.012, shimmer=0.10,
                  breath=0.015, slope=-1.2),
}
SPREAD = dict(f0=0.10, range=0.35, loud=3.0, rate=0.18, tilt=0.025, jitter=0.35, shimmer=0.35, breath=0.4,
              slope=0.5)


@dataclass(frozen=True)
class Speaker:
    name: str
    f0: float        # Hz
    vtl: float       # formant scale: >1 = shorter vocal tract, higher formants
    split: str


def make_speakers(count: int, seed: int) -> list[Speaker]:
    """Alternating female / male voices, split by female–male pairs: the last ~20 % of pairs
    (at least one) test, the ~20 % before them val, the rest train."""
    rng = np.random.default_rng([seed, 0])
    pairs = (count + 1) // 2
    held_out = max(1, round(0.2 * pairs))
    speakers = []
    for i in range(count):
        female = i % 2 == 0
        f0 = (205.0 if female else 115.0) * rng.uniform(0.88, 1.12)
        vtl = (1.17 if female else 1.0) * rng.uniform(0.95, 1.05)
        pair = i // 2
        split = "test" if pair >= pairs - held_out else ("val" if pair >= pairs - 2 * held_out else "train")
        speakers.append(Speaker(f"spk{i + 1:02d}", f0, vtl, split))
    return speakers


def _draw(label: str, rng: np.random.Generator) -> dict:
    """One utterance's prosody: class means perturbed (multiplicative or additive spreads)."""
    mean = PROSODY[label]
    return {
        "f0": mean["f0"] * np.exp(rng.normal(0, SPREAD["f0"])),
        "range": mean["range"] * np.exp(rng.normal(0, SPREAD["range"])),
        "loud": mean["loud"] + rng.normal(0, SPREAD["loud"]),
        "rate": mean["rate"] * np.exp(rng.normal(0, SPREAD["rate"])),
        "tilt": float(np.clip(mean["tilt"] + rng.normal(0, SPREAD["tilt"]), 0.6, 0.99)),
        "jitter": mean["jitter"] * np.exp(rng.normal(0, SPREAD["jitter"])),
        "shimmer": mean["shimmer"] * np.exp(rng.normal(0, SPREAD["shimmer"])),
        "breath": mean["breath"] * np.exp(rng.normal(0, SPREAD["breath"])),
        "slope": mean["slope"] + rng.normal(0, SPREAD["slope"]),
    }


def _resonate(x: np.ndarray, freq: float, bandwidth: float) -> np.ndarray:
    """Second-order resonator (a formant), unity gain at DC."""
    r = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
    a1, a2 = -2 * r * np.cos(2 * np.pi * freq / SAMPLE_RATE), r * r
    return lfilter([1 + a1 + a2], [1, a1, a2], x)


def _glottal_source(f0_track: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    """Pulse train following the F0 track, with period jitter and amplitude shimmer."""
    source = np.zeros(len(f0_track))
    t = 0.0
    while t < len(f0_track) - 1:
        n = int(t)
        source[n] += 1.0 + p["shimmer"] * rng.standard_normal()
        t += SAMPLE_RATE / f0_track[n] * (1.0 + p["jitter"] * rng.standard_normal())
    source = lfilter([1.0], [1.0, -p["tilt"]], source)           # spectral tilt (glottal roll-off)
    return np.diff(source, prepend=0.0)                          # lip radiation (+6 dB/oct)


def synthesize(label: str, speaker: Speaker, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One utterance of `seconds` seconds, float in [−1, 1]."""
    p = _draw(label, rng)
    total = int(seconds * SAMPLE_RATE)
    t = np.arange(total) / SAMPLE_RATE
    contour = p["slope"] * (t / seconds - 0.5)
    speech = np.zeros(total)
    f0_track = np.full(total, speaker.f0 * p["f0"])
    position = int(rng.uniform(0.05, 0.2) * SAMPLE_RATE)
    syllable_in_word = 0
    while position < total - int(0.1 * SAMPLE_RATE):
        length = int(SAMPLE_RATE / p["rate"] * rng.uniform(0.7, 1.3))
        end = min(total, position + length)
        seg = slice(position, end)
        accent = rng.normal(0, 1.0)
        f0_track[seg] = speaker.f0 * p["f0"] * (1 + p["range"] * (contour[seg] + accent))
        vowel = VOWELS[rng.choice(list(VOWELS))]
        source = _glottal_source(np.maximum(f0_track[seg], 50.0), p, rng)
        source += p["breath"] * rng.standard_normal(len(source))
        voiced = source
        for formant, bandwidth in zip(vowel, (80, 100, 120)):
            voiced = _resonate(voiced, formant * speaker.vtl, bandwidth)
        envelope = np.sin(np.pi * np.linspace(0, 1, len(voiced))) ** 1.5
        onset = min(len(voiced), int(0.03 * SAMPLE_RATE))
        fricative = np.zeros(len(voiced))
        loudness = np.sqrt(np.mean(voiced ** 2))
        fricative[:onset] = (lfilter([1, -0.95], [1], rng.standard_normal(onset))
                             * loudness * rng.uniform(0, 0.6))
        speech[seg] += voiced * envelope + fricative
        position = end
        syllable_in_word += 1
        if syllable_in_word >= rng.integers(2, 5):  # word boundary: a pause
            syllable_in_word = 0
            position += int(rng.uniform(0.05, 0.25) / (p["rate"] / 4.4) * SAMPLE_RATE)
    speech *= 10 ** ((p["loud"] - 26.0) / 20) / max(np.sqrt(np.mean(speech ** 2)), 1e-9)
    noise = lfilter([1.0], [1.0, -rng.uniform(0.0, 0.9)], rng.standard_normal(total))
    snr_db = rng.uniform(8.0, 25.0)
    noise *= np.sqrt(np.mean(speech ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    signal = speech + noise
    peak = np.max(np.abs(signal))
    return signal / peak * 0.99 if peak > 0.99 else signal


def wav_bytes(signal: np.ndarray) -> bytes:
    """16-bit PCM mono WAV, written with the standard library for byte-exact determinism."""
    pcm = np.round(np.clip(signal, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def make_demo_corpus(out: str | Path, seed: int = 0, speakers: int = 10, per_class: int = 12,
                     min_seconds: float = 2.5, max_seconds: float = 6.0) -> Path:
    """Write the corpus to `out` (WAVs under spkNN/, manifest.csv, README.txt); return the manifest.

    `per_class` utterances per speaker and class; durations uniform in [min, max] seconds.
    """
    if speakers < 5:
        raise InputError(f"the demo corpus needs at least 5 speakers for train/val/test, got {speakers}")
    if per_class < 1:
        raise InputError(f"per_class {per_class}: the demo corpus needs at least 1 utterance per speaker "
                         "and class")
    out = Path(out)
    foreign = foreign_files(out)
    if foreign and not (out / MARKER).exists():  # a folder the generator made may hold user files too
        raise InputError(f"{out} is not empty and holds files ser-reparam did not generate (e.g. "
                         f"{foreign[0]}); the demo corpus needs an empty or new folder: choose another "
                         "data.root / output folder")
    rows = []
    for s_index, speaker in enumerate(make_speakers(speakers, seed)):
        (out / speaker.name).mkdir(parents=True, exist_ok=True)
        for c_index, label in enumerate(LABELS):
            for k in range(per_class):
                rng = np.random.default_rng([seed, 1, s_index, c_index, k])
                utt_id = f"{speaker.name}_{label}_{k:03d}"
                signal = synthesize(label, speaker, rng.uniform(min_seconds, max_seconds), rng)
                relative = f"{speaker.name}/{utt_id}.wav"
                (out / relative).write_bytes(wav_bytes(signal))
                rows.append(Utterance(utt_id, relative, label, speaker.split, speaker.name))
    manifest = corpus_manifest(out)
    write_manifest(rows, manifest, LABELS)
    atomic_write_text(out / "README.txt",
                      "SYNTHETIC demo corpus generated by ser-reparam (ser_reparam/data/synthetic.py).\n"
                      "It exercises the pipeline; it is not evidence about real emotion.\n"
                      f"seed={seed} speakers={speakers} per_class={per_class}\n")
    made = sorted({*_made_files(out), *(row.path for row in rows), manifest.name, "README.txt"})
    atomic_write_text(out / MARKER,
                      json.dumps({"generated_by": "ser-reparam demo corpus", "files": made}, indent=0) + "\n")
    return manifest


MARKER = ".ser-reparam-demo.json"  # lists every file the generator wrote: only those are ever removed


def _made_files(folder: Path) -> list[str]:
    """The files a previous generation listed in the folder's marker ([] when there is none)."""
    try:
        return list(json.loads((folder / MARKER).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def foreign_files(folder: str | Path) -> list[str]:
    """Files in `folder` that the demo generator did not write (relative paths, sorted)."""
    return unlisted_files(folder, {MARKER, *_made_files(Path(folder))})


def _removable(folder: Path, relative) -> Path | None:
    """The listed file when it is a plain file inside `folder` (the marker is a file anyone can
    edit: a listing that leads out through '..', an absolute path or a symlink is not followed)."""
    if not isinstance(relative, str) or Path(relative).is_absolute() or ".." in Path(relative).parts:
        return None
    path = folder / relative
    if path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(folder.resolve()):
        return None
    return path


def remove_demo_corpus(folder: str | Path) -> list[str]:
    """Delete exactly the files the generator listed (and folders that end up empty); anything
    else in `folder` stays. Returns what was kept."""
    folder = Path(folder)
    for relative in _made_files(folder):
        path = _removable(folder, relative)
        if path is not None:
            path.unlink()
    if (folder / MARKER).exists():  # still the generator's folder (a re-generation may use it)
        atomic_write_text(folder / MARKER,
                          json.dumps({"generated_by": "ser-reparam demo corpus", "files": []}) + "\n")
    if folder.is_dir():
        subs = (p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink())
        for sub in sorted(subs, key=lambda p: -len(p.parts)):
            if not any(sub.iterdir()):
                sub.rmdir()
        if [p.name for p in folder.iterdir()] == [MARKER]:
            (folder / MARKER).unlink()
            folder.rmdir()
    return foreign_files(folder)
