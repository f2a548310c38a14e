"""`ser-reparam predict` / Predictor: real audio files through the deployed model, as stage 07 sees them."""
import json
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import soxr
from corpus_files import forged_rate, video

from ser_reparam import predict
from ser_reparam.cli import main
from ser_reparam.data import audio
from ser_reparam.data.audio import array_mono_16k
from ser_reparam.data.dataset import audio_file
from ser_reparam.data.manifest import read_manifest
from ser_reparam.errors import InputError
from ser_reparam.evaluate import split_arrays
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.features import FrontendConfig
from ser_reparam.layout import RunLayout
from ser_reparam.predict import Predictor, softmax
from ser_reparam.tflite.interpreters import TFLMModel


@pytest.fixture(scope="module")
def clip(deployed_run):
    """A test-split utterance: (its WAV, its stage-02 features, the config)."""
    x, _, ids = split_arrays(feature_store(deployed_run), "test", labels_for(deployed_run))
    rows = {u.utt_id: u for u in read_manifest(RunLayout(deployed_run).manifest)}
    utt = rows[ids[0]]
    path = audio_file(utt, deployed_run.data.root, RunLayout(deployed_run).manifest.parent)
    return path, x[0], deployed_run


@pytest.fixture(scope="module")
def tflm(deployed_run):
    return Predictor.from_tflite(RunLayout(deployed_run).quantized_dir / "int8.tflite")


def test_tflm_predictor_is_the_deployed_int8_path_bit_for_bit(clip, tflm):
    path, features, config = clip
    result = tflm.predict(path)
    first = result.windows[0]
    # 1.0–1.5 s clips, 1 s window
    assert (first.start_s, first.end_s) == (0.0, 1.0) and len(result.windows) == 2
    blob = (RunLayout(config).quantized_dir / "int8.tflite").read_bytes()
    np.testing.assert_array_equal(first.logits, TFLMModel(blob).predict_one(features))
    np.testing.assert_allclose(result.probabilities, softmax(np.mean([w.logits for w in result.windows], 0)))
    assert result.label == tflm.labels[int(result.probabilities.argmax())]
    assert tflm.labels == list(labels_for(config))


def test_keras_backend_and_arrays_at_other_rates(clip, deployed_run):
    import tf_keras as keras


    path, features, config = clip
    keras_predictor = Predictor.from_run(RunLayout(deployed_run).variant_dir, backend="keras")
    expected = keras.models.load_model(RunLayout(config).folded_model()).predict(features[None], verbose=0)[0]
    np.testing.assert_allclose(keras_predictor.predict(path).windows[0].logits, expected, atol=1e-5)
    signal, rate = sf.read(path, dtype="float32")
    at_44k = soxr.resample(signal, rate, 44100)
    resampled = keras_predictor.predict(np.stack([at_44k, at_44k], 1), sample_rate=44100)  # stereo, 44.1 kHz
    assert np.max(np.abs(resampled.windows[0].logits - expected)) < 0.05
    with pytest.raises(InputError, match="sample_rate"):
        keras_predictor.predict(signal)
    with pytest.raises(InputError, match="keras backend needs the run folder"):
        Predictor.from_tflite(RunLayout(config).quantized_dir / "int8.tflite", backend="keras")


def test_long_audio_gives_windows_and_a_vote(clip, tflm):
    path, _, _ = clip
    signal, rate = sf.read(path, dtype="float32")
    long = np.concatenate([signal, signal, signal])
    result = tflm.predict(long, sample_rate=rate)
    assert len(result.windows) == int(np.ceil(len(long) / rate))
    assert [w.start_s for w in result.windows] == list(range(len(result.windows)))
    overlapping = Predictor.from_tflite(RunLayout(clip[2]).quantized_dir / "int8.tflite",
                                        hop_s=0.5).predict(long, rate)
    assert [w.start_s for w in overlapping.windows] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]  # 3.18 s of audio
    assert overlapping.windows[-1].end_s == result.windows[-1].end_s == pytest.approx(len(long) / rate)


def test_cli_classifies_a_folder_and_skips_what_it_cannot_read(clip, deployed_run, tmp_path, capsys):
    path, _, _ = clip
    signal, rate = sf.read(path, dtype="float32")
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "a.flac", soxr.resample(signal, rate, 22050), 22050)
    sf.write(folder / "sub" / "b.mp3", soxr.resample(signal, rate, 44100), 44100)
    (folder / "broken.wav").write_bytes(b"RIFF not really")
    (folder / "notes.txt").write_text("not audio")
    model = RunLayout(deployed_run).quantized_dir / "int8.tflite"
    assert main(["predict", str(model), str(folder), "--format", "json"]) == 1
    out, err = capsys.readouterr()
    results = json.loads(out)
    assert [r["source"].split("/audio/")[1] for r in results] == ["a.flac", "sub/b.mp3"]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 and len(r["windows"]) == 2 for r in results)
    assert "broken.wav" in err and "notes.txt" in err and "1 of 3 file(s) could not be classified" in err
    assert main(["predict", str(RunLayout(deployed_run).variant_dir), path, "--format", "csv", "--backend",
                 "litert"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("file,window,start_s,end_s,label,p_") and len(lines) == 4  # 2 windows + clip
    assert lines[-1].split(",")[1] == "clip"


def test_keras_backend_without_the_folded_model_is_one_line(deployed_run, tmp_path, monkeypatch, capsys):
    gone = tmp_path / "seed-0.keras"
    monkeypatch.setattr(RunLayout, "folded_model", lambda self, seed=None: gone)
    variant = str(RunLayout(deployed_run).variant_dir)
    assert main(["predict", variant, str(tmp_path / "any.wav"), "--backend", "keras"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{gone} does not exist" in err and "ser-reparam fold" in err


@pytest.mark.parametrize("text", [b'{"name": "tiny", "runs_dir": ', b"\xff\xfe{}", b""])
def test_a_corrupt_config_json_is_one_line(tmp_path, capsys, text):
    (tmp_path / "variant").mkdir()
    (tmp_path / "variant" / "config.json").write_bytes(text)
    assert main(["predict", str(tmp_path / "variant"), str(tmp_path / "any.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(tmp_path / "variant" / "config.json") in err and "re-run stage 03" in err


def test_out_never_replaces_an_input(clip, deployed_run, tmp_path, capsys):
    """--out naming an audio file, a file of a given folder or the model: refused, every file kept."""
    import shutil

    path, _, _ = clip
    folder = tmp_path / "audio"
    folder.mkdir()
    wav = folder / "a.wav"
    shutil.copyfile(path, wav)
    (folder / "notes.txt").write_text("mine")
    model = tmp_path / "int8.tflite"
    shutil.copyfile(RunLayout(deployed_run).quantized_dir / "int8.tflite", model)
    before = {p: p.read_bytes() for p in (wav, folder / "notes.txt", model)}
    for given, out in ((wav, wav), (folder, folder / "notes.txt"), (wav, model)):
        assert main(["predict", str(model), str(given), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and f"--out {out}" in err and "another file" in err
    assert {p: p.read_bytes() for p in before} == before


def test_a_run_folder_is_used_from_any_directory(clip, deployed_run, tmp_path, monkeypatch, capsys):
    """config.json's runs_dir is relative to where the run was made, not to the current directory."""
    import shutil

    path, _, _ = clip
    home = tmp_path / "project"
    shutil.copytree(deployed_run.run_dir, home / "runs" / "tiny")
    variant = home / "runs" / "tiny" / RunLayout(deployed_run).variant
    saved = json.loads((variant / "config.json").read_text())
    (variant / "config.json").write_text(json.dumps({**saved, "runs_dir": "runs"}))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["predict", str(variant), path, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split(",")[1] == "clip"
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_predict_out_on_a_full_disk_is_one_line_and_keeps_the_old_file(clip, deployed_run, tmp_path, capsys,
                                                                     monkeypatch):
    from conftest import full_disk

    out = tmp_path / "results.csv"
    out.write_text("yesterday's results\n")
    full_disk(monkeypatch, tmp_path)
    model = RunLayout(deployed_run).quantized_dir / "int8.tflite"
    assert main(["predict", str(model), clip[0], "--format", "csv", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {out}: No space left on device; free some space" in err
    assert out.read_text() == "yesterday's results\n"


# ---- quick tests: a hand-made predictor (front end and window as metadata, a stand-in model) ----

class MeanRunner:
    """Stands in for the model: logits from the features' mean, so different audio differs."""

    def predict_one(self, features):
        return np.array([features.mean(), -features.mean()])


def handmade(hop_s=None, window_seconds=1.0):
    frontend = FrontendConfig()
    metadata = {"labels": ["calm", "angry"], "frontend": frontend.to_dict(),
                "window": {"seconds": window_seconds,
                           "frames": frontend.num_frames(round(window_seconds * 16000))},
                "normalization": {"mean": [0.0] * frontend.num_features,
                                  "std": [1.0] * frontend.num_features}}
    return Predictor(MeanRunner(), metadata, "tflm", hop_s)


def speech_like(seconds, rate=16000):
    """A tone whose pitch and loudness change every quarter second, so windows differ."""
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 + 0.2 * np.sin(t)) * np.sin(2 * np.pi * (200 + 100 * np.floor(4 * t)) * t)


@pytest.fixture
def fake_tflite(tmp_path, monkeypatch):
    """A model path for CLI tests: Predictor.from_tflite answers with the hand-made predictor."""
    monkeypatch.setattr(Predictor, "from_tflite",
                        classmethod(lambda cls, path, backend, hop_s: handmade(hop_s)))
    return str(tmp_path / "model.tflite")


def logits_of(clip):
    return np.array([w.logits for w in clip.windows])


def test_channel_first_and_channel_last_arrays_are_the_same_clip():
    predictor = handmade()
    left, right = speech_like(2.5), 0.5 * speech_like(2.5)
    mono = predictor.predict((left + right) / 2, sample_rate=16000)
    for layout in (np.stack([left, right], 1), np.stack([left, right], 0)):  # (N, C) and librosa's (C, N)
        clip = predictor.predict(layout, sample_rate=16000)
        assert clip.seconds == 2.5 and len(clip.windows) == 3
        np.testing.assert_allclose(logits_of(clip), logits_of(mono), atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 2), (40, 50), (2, 3, 16000), (0,), (0, 2)])
def test_an_array_of_unclear_layout_is_refused(shape):
    with pytest.raises(InputError, match=r"predict\(array\): shape .* is not \(samples,\), \(samples, chan"):
        handmade().predict(np.zeros(shape, np.float32), sample_rate=16000)


def test_integer_pcm_is_scaled_not_clipped():
    predictor = handmade()
    signal = speech_like(1.5)
    pcm = np.round(signal * 32767).astype(np.int16)
    scaled, floats = predictor.predict(pcm, 16000), predictor.predict(signal, 16000)
    np.testing.assert_allclose(logits_of(scaled), logits_of(floats), atol=1e-3)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint16])
def test_every_integer_width_maps_onto_full_scale(dtype):
    info = np.iinfo(dtype)
    half = (int(info.max) - int(info.min) + 1) // 2
    signal = speech_like(0.5)
    pcm = (np.round(signal * (half - 1)) + info.min + half).astype(dtype)
    assert np.max(np.abs(array_mono_16k(pcm, 16000) - signal)) <= max(1 / half, 1e-7)  # float32
    extremes = np.array([info.min, info.max] * 100, dtype)
    assert array_mono_16k(extremes, 16000)[:2].tolist() == [-1.0, pytest.approx(1 - 1 / half)]


@pytest.mark.parametrize("samples", [np.ones(16000, bool), np.ones(16000, complex),
                                     np.array(["0.1"] * 16000)])
def test_an_array_that_is_not_audio_is_refused(samples):
    with pytest.raises(InputError, match=r"predict\(array\): dtype .* is not audio"):
        handmade().predict(samples, sample_rate=16000)


@pytest.mark.parametrize("bad, rate", [(np.nan, 16000), (np.inf, 16000), (-np.inf, 44100)])
def test_non_finite_arrays_are_refused(bad, rate):
    signal = speech_like(1.5, rate)
    signal[12345] = bad
    with pytest.raises(InputError, match=r"1 NaN or infinite sample\(s\), the first at sample 12345"):
        handmade().predict(signal, sample_rate=rate)


@pytest.mark.parametrize("rate", [1, 1e9, float("nan")])
def test_an_absurd_array_rate_is_refused(rate):
    with pytest.raises(InputError, match=r"sample_rate: sample rate .* Hz is outside 4000–384000 Hz"):
        handmade().predict(speech_like(1.0), sample_rate=rate)


def test_bad_files_are_reported_and_the_next_good_file_is_classified(tmp_path, fake_tflite, capsys):
    nan = speech_like(1.5)
    nan[20000] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(tmp_path / "good.wav", speech_like(1.5), 16000)
    forged = forged_rate(tmp_path / "forged.wav", 1, seconds=0.01)
    paths = [str(forged), str(tmp_path / "nan.wav"), str(tmp_path / "good.wav")]
    assert main(["predict", fake_tflite, *paths, "--format", "json"]) == 1
    out, err = capsys.readouterr()
    assert [r["source"] for r in json.loads(out)] == [paths[2]]
    assert "forged.wav: sample rate 1 Hz is outside 4000–384000 Hz" in err
    assert "nan.wav holds NaN or infinite samples (before 1.50 s)" in err
    assert "2 of 3 file(s) could not be classified" in err


@pytest.mark.parametrize("hop", [0, -1, 1e-9, 0.005, 1.5, float("inf"), float("nan")])
def test_a_hop_outside_one_frame_to_the_window_is_refused(hop):
    with pytest.raises(InputError, match=r"hop .* s: give 0.01 s \(one feature frame\) up to the window"):
        handmade(hop)


@pytest.mark.parametrize("hop, count", [(1.0, 4), (0.5, 7), (0.25, 13), (0.01, 301)])
def test_windows_cover_the_clip_and_end_at_its_end(hop, count):
    clip = handmade(hop).predict(speech_like(4.0), 16000)
    assert len(clip.windows) == count == handmade(hop).window_count(64000)
    assert clip.windows[-1].end_s == clip.seconds == 4.0
    assert all(w.start_s < w.end_s <= 4.0 for w in clip.windows)


@pytest.mark.parametrize("hop", ["inf", "1e-9", "10"])
def test_cli_refuses_a_bad_hop_in_one_line(tmp_path, fake_tflite, capsys, hop):
    sf.write(tmp_path / "a.wav", speech_like(4.0), 16000)
    assert main(["predict", fake_tflite, str(tmp_path / "a.wav"), "--hop", hop]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert f"error: hop {float(hop)} s: give 0.01 s (one feature frame) up to the window, 1 s" in err


def test_a_file_is_classified_block_by_block_as_a_whole_array_would_be(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 1000)
    sf.write(tmp_path / "a.wav", speech_like(3.3, 22050), 22050)
    streamed = handmade(0.5).predict(tmp_path / "a.wav")
    whole = handmade(0.5).predict(sf.read(tmp_path / "a.wav")[0], sample_rate=22050)
    assert [(w.start_s, w.end_s) for w in streamed.windows] == [(w.start_s, w.end_s) for w in whole.windows]
    np.testing.assert_allclose(logits_of(streamed), logits_of(whole), atol=1e-4)
    assert len(handmade().predict(video(tmp_path / "dialog.mp4", seconds=1.2)).windows) == 2  # ffmpeg's track


def test_memory_stays_one_block_and_one_window_whatever_the_length(tmp_path):
    predictor = handmade(window_seconds=10.0)
    sf.write(tmp_path / "long.wav", np.tile(speech_like(10.0), 18), 16000)  # 3 min: 11.5 MB as float32
    predictor.predict(speech_like(1.0), 16000)  # TensorFlow's first call allocates for itself
    tracemalloc.start()
    try:
        clip = predictor.predict(tmp_path / "long.wav")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(clip.windows) == 18 and clip.seconds == 180
    assert peak < 4e6


def test_long_audio_shows_progress_and_short_audio_stays_quiet(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(predict, "LONG_INPUT_S", 3.0)
    monkeypatch.setattr(predict, "PROGRESS_EVERY_S", 0.0)
    sf.write(tmp_path / "short.wav", speech_like(2.9), 16000)
    sf.write(tmp_path / "long.wav", speech_like(4.0), 16000)
    handmade().predict(tmp_path / "short.wav")
    assert capsys.readouterr().err == ""
    handmade().predict(tmp_path / "long.wav")
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" done")[0] for line in lines] == [f"predict {tmp_path / 'long.wav'}: {i}/4 windows"
                                                          for i in range(1, 5)]
