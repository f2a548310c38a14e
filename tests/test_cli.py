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
            os.write(2, b"I0000 00:00:1796624055.348040   11662 port.cc:153] oneDNN custom "
                        b"operations are on.\n")
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
    config.write_text(f"name: x\nruns_dir: {tmp_path / 'runs'}\n"
                      f"data: {{dataset: demo, root: {tmp_path / 'd'}}}\n")
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
    assert "stage 04 (fold): done" in out and "deployed seed 0" in out
    record = tmp_path / "runs" / "tiny" / "stages" / "04-convtransformer-lightweight-none.json"
    stamp = record.stat().st_mtime_ns
    assert main(["fold", str(variant)]) == 0
    assert "stage 04 (fold): skipped (unchanged)" in capsys.readouterr().out
    assert record.stat().st_mtime_ns == stamp
    assert main(["fold", str(variant), "--force"]) == 0
    assert "stage 04 (fold): done" in capsys.readouterr().out and record.stat().st_mtime_ns != stamp
    assert main(["train", "--config", config]) == 0  # the whole of stage 03 still holds
    assert "stage 03 (train): skipped (unchanged)" in capsys.readouterr().out


@pytest.mark.parametrize("argv,option,minimum", [
    (["sweep", "--config", "c.yaml", "--grid", "placements=none", "--workers", "0"], "--workers", 1),
    (["train", "--config", "c.yaml", "--seed", "-1"], "--seed", 0),
    (["make-demo-data", "corpus", "--per-class", "0"], "--per-class", 1),
    (["make-demo-data", "corpus", "--seed", "-1"], "--seed", 0),
])
def test_counts_out_of_range_are_refused_before_anything_runs(tmp_path, monkeypatch, capsys, argv, option,
                                                                 minimum):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    message = f"argument {option}: must be a whole number >= {minimum}, got '{argv[-1]}'"
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_verify_firmware_errors_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    """No bundle, a target the board cannot run, no TFLM tree: each a refusal (exit 2), as the README says."""
    from conftest import write_tiny_config

    config = str(write_tiny_config(tmp_path, "split", 2, 0.0))
    monkeypatch.delenv("TFLM_DIR", raising=False)
    assert main(["verify-firmware", "--config", config, "--board", "stm32f4"]) == 2
    assert "no firmware bundle for stm32f4" in capsys.readouterr().err
    assert main(["verify-firmware", "--config", config, "--board", "rp2040", "--target", "cortex-m4"]) == 2
    assert "verify it with --target host" in capsys.readouterr().err
    from ser_reparam.config import load_config
    from ser_reparam.layout import RunLayout

    bundle = RunLayout(load_config(config)).firmware_dir("stm32f4")
    bundle.mkdir(parents=True)
    (bundle / "bundle.json").write_text("{}")
    assert main(["verify-firmware", "--config", config, "--board", "stm32f4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ser-reparam verify-firmware: error: no TFLM tree")


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A folder that refuses every write with EROFS, as a read-only disk does (root writes into a chmod-ed
    folder, so the refusal is injected where files and folders are made)."""
    import builtins
    import errno
    import io
    import os

    folder = tmp_path / "read-only"
    folder.mkdir()

    def refuse(path):
        if Path(path).resolve().is_relative_to(folder):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def mkdir(path, *args, real=os.mkdir, **kwargs):
        if not Path(path).exists():
            refuse(path)
        return real(path, *args, **kwargs)

    def os_open(path, flags, *args, real=os.open, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, real=builtins.open, **kwargs):
        if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+"):
            refuse(file)
        return real(file, mode, *args, **kwargs)

    for module, name, fake in ((os, "mkdir", mkdir), (os, "open", os_open), (builtins, "open", open_),
                               (io, "open", open_)):
        monkeypatch.setattr(module, name, fake)
    return folder


def test_a_read_only_folder_is_one_line_and_exit_2(tmp_path, read_only, capsys):
    """run, evaluate, export (the run folder's lock), report and demo (their outputs): each names the file
    and the fix, and nothing is left half-written."""
    from conftest import write_tiny_config
    from test_report import fake_run

    config = write_tiny_config(tmp_path, "split", 2, 0.0)
    config.write_text(config.read_text().replace(str(tmp_path / "runs"), str(read_only / "runs")))
    fake_run(tmp_path / "trained", "convtransformer-lightweight-none", 0, 0.5)
    for argv, named in ((["run", "--config", str(config)], read_only / "runs"),
                        (["evaluate", "--config", str(config)], read_only / "runs"),
                        (["export", "--config", str(config)], read_only / "runs"),
                        (["report", str(tmp_path / "trained"), "--out", str(read_only / "out")], read_only),
                        (["demo", "--out", str(read_only / "demo")], read_only / "demo")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f": error: {named}" in err, err
        assert "Read-only file system; choose a folder on a writable disk" in err
    assert list(read_only.iterdir()) == []


def test_a_name_too_long_is_one_line_and_exit_2(tmp_path, capsys):
    from conftest import write_tiny_config

    config = str(write_tiny_config(tmp_path, "split", 2, 0.0))
    from corpus_files import tone

    tone(tmp_path / "data" / "calm" / "c.wav")
    for argv in (["run", "--config", config, "--set", f"name={'x' * 300}"],
                 ["prepare", "--dataset", "folder", "--root", str(tmp_path / "data"), "--out",
                  str(tmp_path / f"{'m' * 300}.csv")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "File name too long; shorten the name (at most 255 bytes" in err, err
