"""`ser-reparam predict` / Predictor: real audio files through the deployed model, as stage 07 sees them."""
import json

import numpy as np
import pytest
import soundfile as sf
import soxr

from ser_reparam.cli import main
from ser_reparam.data.dataset import audio_file
from ser_reparam.data.manifest import read_manifest
from ser_reparam.errors import InputError
from ser_reparam.evaluate import split_arrays
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.interpreters import TFLMModel
from ser_reparam.predict import Predictor, softmax
from ser_reparam.layout import RunLayout


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
    assert (first.start_s, first.end_s) == (0.0, 1.0) and len(result.windows) == 2  # 1.0–1.5 s clips, 1 s window
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
    overlapping = Predictor.from_tflite(RunLayout(clip[2]).quantized_dir / "int8.tflite", hop_s=0.5).predict(long, rate)
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
    assert main(["predict", str(RunLayout(deployed_run).variant_dir), path, "--format", "csv", "--backend", "litert"]) == 0
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
    for audio, out in ((wav, wav), (folder, folder / "notes.txt"), (wav, model)):
        assert main(["predict", str(model), str(audio), "--out", str(out)]) == 2
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
