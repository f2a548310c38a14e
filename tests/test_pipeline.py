"""Stage records, skipping, --force, --from checks, the pipelines/ scripts, resume after a kill,
and (slow) the demo end to end from a clean folder."""
import faulthandler
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import tiny_raw as shared_tiny_raw

from ser_reparam.config import parse_config
from ser_reparam.errors import InputError, StageError
from ser_reparam.pipeline import BY_NUMBER, record_path, run_pipeline

ROOT = Path(__file__).parents[1]
# the tiny run as overrides: the demo config made tiny, and the same values over tiny_raw
TINY = ["data.prepare.speakers=5", "data.prepare.per_class=2", "data.prepare.min_seconds=1.0",
        "data.prepare.max_seconds=1.5", "data.window_seconds=1.0", "training.epochs=2", "training.seeds=1",
        "training.batch_size=8", "quantize.representative=16"]


def tiny_raw(root: Path) -> dict:
    return shared_tiny_raw(root, **{"model.hrf": "ffn2@8x1", "quantize.representative": 16})


def tiny_config(root: Path, *overrides: str):
    return parse_config(tiny_raw(root), "tiny", [*TINY, *overrides])


def write_yaml(root: Path) -> Path:
    """The same run as a YAML file (the TINY overrides are passed with --set)."""
    import yaml

    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_raw(root)))
    return path


def quiet(_line: str) -> None:
    pass


def test_data_stages_record_skip_and_rerun(tmp_path):
    config = tiny_config(tmp_path)
    first = run_pipeline(config, 1, 2, echo=quiet)
    assert [r["skipped"] for r in first] == [False, False]
    record = json.loads(record_path(config, BY_NUMBER[2]).read_text())
    assert record["sections"] == ["data", "frontend"] and record["versions"]["tensorflow"].startswith("2.21")
    assert "manifest.csv" in record["inputs"] and any(".features/" in name for name in record["outputs"])

    assert [r["skipped"] for r in run_pipeline(config, 1, 2, echo=quiet)] == [True, True]
    # a changed config section reruns the stages that read it
    changed = tiny_config(tmp_path, "frontend.num_filters=24")
    assert [r["skipped"] for r in run_pipeline(changed, 1, 2, echo=quiet)] == [True, False]
    assert json.loads(record_path(changed, BY_NUMBER[2]).read_text())["reason"] == \
        "config section(s) data, frontend changed"
    # an output edited behind the pipeline's back is detected
    (config.run_dir / "manifest.csv").write_text((config.run_dir / "manifest.csv").read_text() + "\n")
    prepared, features = run_pipeline(changed, 1, 2, echo=quiet)
    assert prepared["reason"] == "its outputs are missing or changed" and not prepared["skipped"]
    assert features["skipped"]  # stage 01 rewrote the same manifest: the features still hold
    assert [r["reason"] for r in run_pipeline(changed, 2, 2, force=True, echo=quiet)] == ["--force"]
    (config.run_dir / "manifest.csv").unlink()
    with pytest.raises(StageError, match=r"stage 02 \(features\): stage 01 \(prepare\) is not up to date"):
        run_pipeline(changed, 2, 2, echo=quiet)


@pytest.mark.parametrize("text", ["{}", '{"config_hash": "ab', ""])
def test_a_cut_short_or_empty_record_is_stale(tmp_path, text):
    config = tiny_config(tmp_path, "data.prepare.speakers=5", "data.prepare.per_class=1")
    run_pipeline(config, 1, 1, echo=quiet)
    record_path(config, BY_NUMBER[1]).write_text(text)
    again, = run_pipeline(config, 1, 1, echo=quiet)
    assert not again["skipped"] and again["reason"] == "its record 01.json is unreadable or incomplete"
    assert run_pipeline(config, 1, 1, echo=quiet)[0]["skipped"]  # rewritten whole


def test_force_on_the_demo_corpus_keeps_files_it_did_not_write(tmp_path):
    config = tiny_config(tmp_path, "data.prepare.per_class=1")
    run_pipeline(config, 1, 1, echo=quiet)
    unrelated = Path(config.data.root) / "unrelated.txt"
    unrelated.write_text("not the project's")
    run_pipeline(config, 1, 1, force=True, echo=quiet)
    assert unrelated.read_text() == "not the project's" and (Path(config.data.root) / "manifest.csv").exists()


def test_features_fail_fast_naming_a_cut_short_wav(tmp_path):
    """Used to hang for ever (Dataset.save deadlocks on a decode error); a timeout guards the test."""
    path = write_yaml(tmp_path)
    command = [sys.executable, "-m", "ser_reparam.cli", "run", "--config", str(path),
               *(arg for item in TINY for arg in ("--set", item)), "--set", "data.prepare.per_class=1"]
    subprocess.run([*command, "--to", "1"], check=True, capture_output=True, timeout=300)
    wavs = sorted((tmp_path / "corpus").rglob("*.wav"))
    from corpus_files import cut_short

    cut_short(wavs[len(wavs) // 2])  # not the first: the case that hung
    done = subprocess.run([*command, "--from", "1", "--to", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{wavs[len(wavs) // 2]} is cut short: its WAV header promises" in done.stderr


def test_a_decode_error_in_the_feature_writer_is_named_not_a_hang(tmp_path, monkeypatch):
    """Past the header checks, a file that still fails to decode is named (no deadlock)."""
    from ser_reparam.data import dataset
    from ser_reparam.errors import DataError

    config = tiny_config(tmp_path, "data.prepare.per_class=1")
    run_pipeline(config, 1, 1, echo=quiet)
    wavs = sorted(Path(config.data.root).rglob("*.wav"))
    from corpus_files import cut_short

    bad = cut_short(wavs[len(wavs) // 2])
    monkeypatch.setattr(dataset, "wav_frames_present", lambda path: 10 ** 9)  # the header check misses it
    faulthandler.dump_traceback_later(180, exit=True)  # a regression to the hang ends the run, loudly
    try:
        with pytest.raises(DataError, match=rf"cannot read {bad} \(.*Data too short.*\); 1 "
                                            r"example\(s\) of 1 file"):
            run_pipeline(config, 1, 2, echo=quiet)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert not list((config.run_dir / "features").rglob(".*.tmp*"))  # no half-written cache left


def test_a_stage_refuses_stale_inputs(tmp_path):
    config = tiny_config(tmp_path)
    with pytest.raises(StageError, match=r"stage 03 \(train\): stage 02 \(features\) is not up to date "
                                         r"\(never ran\); run from it: ser-reparam run --config … --from 2"):
        run_pipeline(config, 3, 3, echo=quiet)
    with pytest.raises(ValueError, match="need 1 <= from <= to <= 7"):
        run_pipeline(config, 5, 2, echo=quiet)


def test_stage_scripts_call_the_runner(tmp_path):
    scripts = sorted((ROOT / "pipelines").glob("*.py"))
    assert [p.name for p in scripts] == ["01_prepare.py", "02_features.py", "03_train.py", "04_fold.py",
                                         "05_quantize.py", "06_export.py", "07_evaluate.py", "run_all.py"]
    assert all("To run:" in p.read_text() for p in scripts)
    config_path = write_yaml(tmp_path)
    sets = [arg for item in TINY for arg in ("--set", item)]
    out = subprocess.run([sys.executable, str(ROOT / "pipelines" / "01_prepare.py"), "--config",
                          str(config_path),
                          *sets], capture_output=True, text=True, check=True).stdout
    assert "stage 01 (prepare): done" in out and "stage 02" not in out
    assert (tmp_path / "runs" / "tiny" / "stages" / "01.json").is_file()


@pytest.mark.slow
def test_a_killed_run_resumes(tmp_path):
    """Kill `ser-reparam run` once stage 02 is recorded, run it again: done stages are not redone."""
    config_path = write_yaml(tmp_path)
    command = [sys.executable, "-m", "ser_reparam.cli", "run", "--config", str(config_path),
               *[arg for item in TINY for arg in ("--set", item)]]
    stages = tmp_path / "runs" / "tiny" / "stages"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    while not (stages / "02.json").exists():
        assert process.poll() is None, "the run ended before stage 02 was recorded"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {p.name: p.read_bytes() for p in stages.glob("*.json")}
    assert "07-convtransformer-lightweight-ffn2@8x1.json" not in before

    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    assert "stage 01 (prepare): skipped" in out and "stage 02 (features): skipped" in out
    assert "stage 07 (evaluate): done" in out
    after = {p.name: p.read_bytes() for p in stages.glob("*.json")}
    assert len(after) == 7 and all(after[name] == data for name, data in before.items())
    again = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert again.count("skipped (unchanged)") == 7 and "done in" not in again


@pytest.mark.slow
def test_demo_end_to_end_from_a_clean_folder(tmp_path):
    from ser_reparam.tflite.metadata import strip_metadata

    out = tmp_path / "demo"
    printed = subprocess.run([sys.executable, "-m", "ser_reparam.cli", "demo", "--out", str(out),
                              *[arg for item in TINY for arg in ("--set", item)]],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    run = out / "demo"
    rows = json.loads((run / "reports" / "demo-summary.json").read_text())
    assert [row["variant"] for row in rows] == ["convtransformer-lightweight-none",
                                                "convtransformer-lightweight-ffn2@8x1"]
    light, hrf = rows
    assert hrf["train_params"] > hrf["params"] == light["params"] == light["train_params"]
    graphs = [strip_metadata((run / row["variant"] / "quantized" / "int8.tflite").read_bytes())
              for row in rows]
    # deHRF: the board gets the lightweight model (metadata names differ)
    assert len(graphs[0]) == len(graphs[1])
    for row in rows:
        assert (run / "reports" / f"{row['variant']}-model-card.md").is_file()
        assert (run / "reports" / f"{row['variant']}-confusion-tflm.png").is_file()
    for row in rows:
        assert set(row["boards"]) == {"esp32s3", "stm32h7"} and all(b["fits"] for b in row["boards"].values())
        assert all(0 <= m["ua"] <= 1 for m in row["metrics"].values())
        variant = run / row["variant"]
        for path in ("config.json", "train/seed-0/best.keras", "train/seed-0/metrics.json",
                     "folded/fold.json",
                     "quantized/int8.tflite", "quantized/float.tflite", "firmware/esp32s3/bundle.json",
                     "firmware/stm32h7/cmake-cortex-m/main.cc", "firmware/esp32s3/esp-idf/main/main.cc"):
            assert (variant / path).is_file(), path
        assert (run / "reports" / f"{row['variant']}-evaluation.md").is_file()
    assert len(list((run / "stages").glob("*.json"))) == 2 + 2 * 5
    assert "| convtransformer-lightweight-ffn2@8x1 | 11,220 → 8,596 |" in printed
    table, _, side_by_side = printed.partition("Whole window vs streaming")
    assert table.count("| convtransformer-lightweight") == 2
    assert side_by_side.count("| whole window |") == 2
    assert side_by_side.count("| streaming (step / attend / classify, state ") == 2
    for row in rows:  # both variants are one-block ConvTransformers: they stream, measured side by side
        streaming = row["side_by_side"]["deployments"]["streaming"]
        assert (streaming["streams"]
                and streaming["ram_bytes"] < row["side_by_side"]["deployments"]["whole_window"]["ram_bytes"])
    for baseline in ("Logistic regression (78-feature utterance stats)",
                     "Linear SVM (78-feature utterance stats)",
                     "Chance (majority class)"):
        assert f"| {baseline} |" in printed


def user_corpus(root: Path) -> Path:
    """A user's labelled-folder corpus: two classes of short tones."""
    from corpus_files import tone

    for label, freq in (("happy", 300), ("sad", 200)):
        for k in range(3):
            tone(root / label / f"{label}{k}.wav", freq=freq + 10 * k)
    return root


@pytest.mark.parametrize("runs_dir", ["corpus", "corpus/runs", "."])
def test_a_run_folder_in_the_corpus_is_refused(tmp_path, runs_dir, capsys):
    """runs_dir/name that is the corpus or lies inside it: refused before anything is written there."""
    from ser_reparam.cli import main

    corpus = user_corpus(tmp_path / "corpus")
    before = sorted(p.relative_to(tmp_path).as_posix() for p in corpus.rglob("*"))
    raw = {"name": "corpus" if runs_dir == "." else "tiny", "runs_dir": str(tmp_path / runs_dir),
           "data": {"dataset": "folder", "root": str(corpus)}}
    with pytest.raises(InputError, match=r"run folder .* is .*data.root .*corpus.*choose a runs_dir"):
        run_pipeline(parse_config(raw), 1, 1, echo=quiet)
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(raw))
    assert main(["run", "--config", str(path), "--to", "1", "--force"]) == 2
    assert "data.root" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in corpus.rglob("*")) == before


def test_a_run_folder_holding_the_input_csv_is_refused(tmp_path):
    """The user's CSV at runs_dir/name/manifest.csv: stage 01 would overwrite it and --force delete it."""
    corpus = user_corpus(tmp_path / "corpus")
    listing = tmp_path / "runs" / "tiny" / "manifest.csv"
    listing.parent.mkdir(parents=True)
    listing.write_text("path,label\n" + "".join(f"{p.relative_to(corpus).as_posix()},{p.parent.name}\n"
                                                for p in sorted(corpus.rglob("*.wav"))))
    text = listing.read_text()
    data = {"dataset": "csv", "root": str(corpus), "prepare": {"csv_file": str(listing)}}
    config = parse_config({"name": "tiny", "runs_dir": str(tmp_path / "runs"), "data": data})
    for force in (False, True):
        with pytest.raises(InputError, match=r"data.prepare.csv_file .*manifest.csv lies in the run folder"):
            run_pipeline(config, 1, 1, force=force, echo=quiet)
    assert listing.read_text() == text
