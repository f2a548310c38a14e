"""The console script answers --version / --help and runs the fold demonstration."""
import builtins
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ser_reparam import __version__
from ser_reparam.cli import main


def test_version_and_help_from_the_installed_script():
    script = Path(sys.executable).parent / "ser-reparam"  # the venv's bin/ need not be on PATH
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"ser-reparam {__version__}"
    out = subprocess.run([sys.executable, "-m", "ser_reparam.cli", "--help"],
                         capture_output=True, text=True, check=True)
    assert all(command in out.stdout for command in ("demo", "run", "fold-demo", "export"))
    out = subprocess.run([sys.executable, "-m", "ser_reparam.cli", "run", "--help"],
                         capture_output=True, text=True, check=True)
    assert all(option in out.stdout for option in ("--from N", "--to M", "--force", "--config"))


def test_fold_demo_prints_equal_params(capsys):
    assert main(["fold-demo", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":")[0].strip(): line.split(":")[1].split()[0] for line in out.splitlines()}
    assert lines["folded model params"] == lines["same model built without HRF"]
    assert float(lines["max |HRF − folded| on 256 inputs"]) < 1e-4


def test_ctrl_c_during_tensorflow_start_up_is_one_line(monkeypatch, capfd):
    """A Ctrl-C while TensorFlow imports: 'interrupted', exit 130 — no traceback, no start-up lines."""
    real_import = builtins.__import__

    def interrupted_import(name, *args, **kwargs):
        if name == "tensorflow":
            os.write(2, b"I0000 00:00:1796624055.348040   11662 port.cc:153] oneDNN custom operations are on.\n")
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    assert main(["fold-demo", "--epochs", "1"]) == 130
    assert capfd.readouterr().err == "ser-reparam fold-demo: interrupted\n"


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as err:
        main(["no-such-command"])
    assert err.value.code == 2


def test_prepare_prints_kept_and_excluded(tmp_path, capsys):
    from corpus_files import corrupt, tone

    for label in ("calm", "tense"):
        for k in range(3):
            tone(tmp_path / "data" / label / f"{label}{k}.wav")
    corrupt(tmp_path / "data" / "calm" / "broken.wav")
    out = tmp_path / "run" / "manifest.csv"
    assert main(["prepare", "--dataset", "folder", "--root", str(tmp_path / "data"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "kept 6 rows" in printed and "excluded" in printed and "broken.wav" in printed
    assert out.exists() and (tmp_path / "run" / "manifest_summary.json").exists()


def test_prepare_refuses_an_option_the_dataset_lacks(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    assert main(["prepare", "--dataset", "folder", "--root", str(tmp_path / "data"), "--out",
                 str(tmp_path / "m.csv"), "--fold", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not take option(s) fold; it takes: seed" in err
    with pytest.raises(ValueError, match="does not take option"):  # --debug: the exception itself
        main(["prepare", "--dataset", "folder", "--root", str(tmp_path / "data"), "--out",
              str(tmp_path / "m.csv"), "--fold", "3", "--debug"])


def test_a_config_error_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndata: {dataset: demo, root: d}\ntraining: {epochs: ten}\n")
    assert main(["run", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert err.startswith(f"ser-reparam run: error: {bad}: training.epochs") and "'ten'" in err


def test_an_unexpected_error_names_the_stage_and_the_log(tmp_path, capsys, monkeypatch):
    from ser_reparam import pipeline

    def broken(config):
        raise ZeroDivisionError("boom")

    import dataclasses

    monkeypatch.setattr(pipeline, "STAGES", (dataclasses.replace(pipeline.STAGES[0], run=broken),
                                             *pipeline.STAGES[1:]))
    monkeypatch.setattr(pipeline, "BY_NUMBER", {s.number: s for s in pipeline.STAGES})
    config = tmp_path / "c.yaml"
    config.write_text(f"name: x\nruns_dir: {tmp_path / 'runs'}\ndata: {{dataset: demo, root: {tmp_path / 'd'}}}\n")
    assert main(["run", "--config", str(config), "--to", "1"]) == 1
    err = capsys.readouterr().err
    assert "unexpected ZeroDivisionError in stage 01 (prepare): boom" in err
    log = Path(err.split("traceback in ")[1].split(";")[0])
    assert log.parent == tmp_path / "runs" / "x" / "logs" and "ZeroDivisionError: boom" in log.read_text()


def test_make_demo_data(tmp_path, capsys):
    assert main(["make-demo-data", str(tmp_path / "demo"), "--speakers", "5", "--per-class", "1"]) == 0
    assert "synthetic demo corpus written" in capsys.readouterr().out
    assert len(list((tmp_path / "demo").rglob("*.wav"))) == 20


def test_a_stage_command_names_the_stage_it_needs(tmp_path, capsys):
    """fold / quantize / export / evaluate go through the runner: before stage 02 and 03 ran,
    they say which stage to run instead of computing its outputs on the side."""
    from conftest import write_tiny_config

    config = write_tiny_config(tmp_path, "split", 2, 0.0)
    for command, number, name in (("fold", 4, "fold"), ("quantize", 5, "quantize"), ("export", 6, "export"),
                                  ("evaluate", 7, "evaluate")):
        assert main([command, "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert f"stage {number:02d} ({name}): stage 02 (features) is not up to date (never ran); " \
               "run from it: ser-reparam run --config … --from 2" in err
    assert not (tmp_path / "runs" / "tiny" / "features").exists()


@pytest.mark.slow
def test_train_then_fold_are_recorded_and_skipped(tmp_path, capsys):
    from conftest import write_tiny_config

    config = str(write_tiny_config(tmp_path, "split", 2, 0.0))
    assert main(["train", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "stage 03 (train): done" in out and "seed 0:" in out
    variant = tmp_path / "runs" / "tiny" / "convtransformer-lightweight-none"
    assert main(["fold", str(variant)]) == 0
    out = capsys.readouterr().out
    assert "stage 04 (fold): done" in out and "deployed seed: 0" in out
    record = tmp_path / "runs" / "tiny" / "stages" / "04-convtransformer-lightweight-none.json"
    stamp = record.stat().st_mtime_ns
    assert main(["fold", str(variant)]) == 0
    assert "stage 04 (fold): skipped (unchanged)" in capsys.readouterr().out
    assert record.stat().st_mtime_ns == stamp
    assert main(["fold", str(variant), "--force"]) == 0
    assert "stage 04 (fold): done" in capsys.readouterr().out and record.stat().st_mtime_ns != stamp
    assert main(["train", "--config", config]) == 0  # the whole of stage 03 still holds
    assert "stage 03 (train): skipped (unchanged)" in capsys.readouterr().out
