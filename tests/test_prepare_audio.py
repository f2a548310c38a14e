"""Audio probing and the conversion cache: direct reads, 16 kHz mono conversion, reuse, bad files."""
import hashlib
import shutil

import numpy as np
import pytest
import soundfile as sf
import soxr
from corpus_files import corrupt, cut_short, dominant_frequency, forged_rate, tone, video, zero_bytes

from ser_reparam.data import audio
from ser_reparam.data.audio import TARGET, AudioCache, decode_audio, find_ffmpeg
from ser_reparam.errors import (
    EmptyAudio,
    NoAudioDecoder,
    TooLongAudio,
    TruncatedAudio,
    UnreadableAudio,
    UnsupportedRate,
)


@pytest.fixture
def cache(tmp_path):
    return AudioCache(tmp_path / "out" / "audio_cache", tmp_path / "out", find_ffmpeg())


def test_a_16k_mono_pcm_wav_is_read_directly(tmp_path, cache):
    assert cache.pipeline_audio(tone(tmp_path / "a.wav")) == ""
    assert not cache.folder.exists() and cache.converted == [] and cache.reused == []


@pytest.mark.parametrize("rate, channels, subtype", [(16000, 2, "PCM_16"), (16000, 1, "FLOAT"),
                                                     (22050, 1, "PCM_16")])
def test_anything_else_is_converted(tmp_path, cache, rate, channels, subtype):
    rel = cache.pipeline_audio(tone(tmp_path / "a.wav", rate=rate, channels=channels, subtype=subtype))
    info = sf.info(tmp_path / "out" / rel)
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 4000)


def test_48k_stereo_is_mixed_down_resampled_and_named_by_content(tmp_path, cache):
    source = tone(tmp_path / "in" / "stereo.wav", seconds=0.5, rate=48000, channels=2, freq=440)
    rel = cache.pipeline_audio(source)
    expected_name = hashlib.sha256(TARGET.encode() + source.read_bytes()).hexdigest() + ".wav"
    assert rel == f"audio_cache/{expected_name}"
    converted, rate = sf.read(tmp_path / "out" / rel)
    info = sf.info(tmp_path / "out" / rel)
    assert (rate, info.channels, info.subtype, len(converted)) == (16000, 1, "PCM_16", 8000)
    stereo, _ = sf.read(source)
    reference = soxr.resample(stereo.mean(axis=1), 48000, 16000)   # channels 0.5 and 0.25 -> 0.375
    assert np.max(np.abs(converted[200:-200] - reference[200:-200])) < 2e-4
    assert np.max(np.abs(converted[200:-200])) == pytest.approx(0.375, abs=2e-3)
    assert cache.converted == [source]

    renamed = shutil.copy(source, tmp_path / "in" / "same_bytes_other_name.wav")
    again = AudioCache(cache.folder, tmp_path / "out", find_ffmpeg())
    written = (tmp_path / "out" / rel).stat().st_mtime_ns
    assert again.pipeline_audio(source) == rel and again.pipeline_audio(renamed) == rel
    assert again.converted == [] and again.reused == [source, renamed]
    assert (tmp_path / "out" / rel).stat().st_mtime_ns == written
    assert sorted(path.name for path in cache.folder.iterdir()) == [expected_name]


def test_corrupt_zero_byte_and_sample_free_files_raise_their_own_errors(tmp_path, cache):
    with pytest.raises(UnreadableAudio, match="ffmpeg could not extract audio"):
        cache.pipeline_audio(corrupt(tmp_path / "bad.wav"))
    with pytest.raises(UnreadableAudio, match="no ffmpeg was found"):
        AudioCache(cache.folder, tmp_path / "out", ffmpeg=None).pipeline_audio(tmp_path / "bad.wav")
    with pytest.raises(EmptyAudio, match="zero-byte"):
        cache.pipeline_audio(zero_bytes(tmp_path / "zero.wav"))
    with pytest.raises(EmptyAudio, match="no samples"):
        cache.pipeline_audio(tone(tmp_path / "header_only.wav", seconds=0))
    assert EmptyAudio.reason != UnreadableAudio.reason != NoAudioDecoder.reason


@pytest.mark.parametrize("rate", [16000, 44100])  # read directly, or converted
def test_a_wav_cut_short_is_refused_with_its_own_reason(tmp_path, cache, rate):
    path = cut_short(tone(tmp_path / "short.wav", seconds=1.0, rate=rate))
    with pytest.raises(TruncatedAudio, match=r"short.wav: header promises \d+ samples, the file holds \d+"):
        cache.pipeline_audio(path)
    assert TruncatedAudio.reason not in (EmptyAudio.reason, UnreadableAudio.reason)


def test_video_audio_track_is_extracted_with_ffmpeg(tmp_path, cache):
    clip = video(tmp_path / "dialog.mp4", seconds=1.2, freq=440)
    rel = cache.pipeline_audio(clip)
    signal, rate = sf.read(tmp_path / "out" / rel)
    assert rate == 16000 and signal.ndim == 1
    assert abs(len(signal) - 19200) <= 1100          # AAC adds at most one 1024-sample frame at 44.1 kHz
    assert dominant_frequency(signal, rate) == pytest.approx(440, abs=2)
    assert cache.pipeline_audio(clip) == rel and cache.converted == [clip]   # once per run


def test_without_ffmpeg_a_video_names_the_fix(tmp_path):
    clip = video(tmp_path / "dialog.mp4")
    with pytest.raises(NoAudioDecoder, match="pip install imageio-ffmpeg") as err:
        AudioCache(tmp_path / "audio_cache", tmp_path, ffmpeg=None).pipeline_audio(clip)
    assert "imageio-ffmpeg" in err.value.reason


def test_excerpt_concatenates_the_segments_sample_exactly(tmp_path, cache):
    samples = (np.arange(16000) % 2000 - 1000).astype(np.int16)     # every sample tells its position
    sf.write(tmp_path / "session.wav", samples, 16000, subtype="PCM_16")
    rel, seconds = cache.excerpt(tmp_path / "session.wav", [(0.1, 0.3), (0.5, 0.55), (0.9, 2.0)])
    assert seconds == pytest.approx(0.2 + 0.05 + 0.1)
    written, _ = sf.read(tmp_path / "out" / rel, dtype="int16")
    assert np.array_equal(written, np.concatenate([samples[1600:4800], samples[8000:8800], samples[14400:]]))
    assert AudioCache(cache.folder, tmp_path / "out", None).excerpt(
        tmp_path / "session.wav", [(0.1, 0.3), (0.5, 0.55), (0.9, 2.0)]) == (rel, seconds)
    with pytest.raises(EmptyAudio, match="segments hold no samples"):
        cache.excerpt(tmp_path / "session.wav", [(3.0, 4.0)])


def test_the_cache_must_live_inside_the_manifest_folder(tmp_path):
    with pytest.raises(ValueError, match="must be inside the manifest's folder"):
        AudioCache(tmp_path / "elsewhere", tmp_path / "out", None)


def test_mpg123_notes_stay_off_the_terminal(tmp_path, cache, capfd):
    """An MP3 with junk in the middle decodes (libmpg123 resyncs) without its notes on stderr."""
    mp3 = tone(tmp_path / "clip.mp3", seconds=1.0, subtype="MPEG_LAYER_III").read_bytes()
    (tmp_path / "junk.mp3").write_bytes(mp3[:len(mp3) // 2] + b"\0garbage" * 50 + mp3[len(mp3) // 2:])
    capfd.readouterr()
    rel = cache.pipeline_audio(tmp_path / "junk.mp3")
    assert sf.info(tmp_path / "out" / rel).frames > 0
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("rate", [1, 3999, 384001, 1_000_000_000])
def test_a_header_with_an_absurd_rate_is_refused_before_resampling(tmp_path, cache, rate):
    path = forged_rate(tmp_path / "forged.wav", rate)
    assert sf.info(path).samplerate == rate
    for decode in (cache.pipeline_audio, decode_audio, lambda p: cache.excerpt(p, [(0.0, 1.0)])):
        with pytest.raises(UnsupportedRate, match=rf"forged.wav: sample rate {rate} Hz is outside 4000–"):
            decode(path)
    assert not cache.folder.exists()
    assert UnsupportedRate.reason not in (EmptyAudio.reason, UnreadableAudio.reason)


def test_a_whole_decode_stops_at_its_bound(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(audio, "MAX_DECODE_SECONDS", 1)
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 4000)
    long = tone(tmp_path / "long.wav", seconds=1.5, rate=22050)
    with pytest.raises(TooLongAudio, match="long.wav is longer than"):
        cache.pipeline_audio(long)
    assert len(decode_audio(tone(tmp_path / "short.wav", seconds=0.9, rate=22050))) == 14400
