"""Progress lines with an ETA, and TensorFlow's start-up lines held back unless --verbose."""
import io
import os
import subprocess
import sys

import pytest

from ser_reparam.console import Progress, duration, quiet_command


def test_progress_counts_and_estimates():
    now = [100.0]
    stream = io.StringIO()
    progress = Progress(4, "sweep", stream=stream, clock=lambda: now[0])
    now[0] += 60
    progress.advance("a seed 0: test UA 0.500")
    now[0] += 90
    progress.advance()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "sweep: 1/4 runs done, 1m00s elapsed, ETA 3m00s — a seed 0: test UA 0.500"
    assert lines[1] == "sweep: 2/4 runs done, 2m30s elapsed, ETA 2m30s"
    progress.done = 3
    now[0] += 7200
    progress.advance()
    assert stream.getvalue().splitlines()[-1] == "sweep: 4/4 runs done, 2h02m elapsed"
    assert duration(59.6) == "1m00s"


def test_a_command_shows_its_lines_but_not_tensorflows_log_records(capfd):
    """Python's lines and a C library's own lines are shown; TensorFlow's C++ log records (which
    TF_CPP_MIN_LOG_LEVEL does not reach) are not — also when the command fails."""
    record = (b"E0000 00:00:1796624168.102254   12751 node_def_util.cc:682] NodeDef mentions attribute "
              b"use_unbounded_threadpool which is not in the op definition\n")
    with quiet_command():
        os.write(2, record)
        os.write(2, b"a C library's own line\n")
        print("stage 03 progress", file=sys.stderr)
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == ["a C library's own line", "stage 03 progress"]
    with pytest.raises(ValueError), quiet_command():
        os.write(2, record)
        raise ValueError("the command's own error")
    assert capfd.readouterr().err == ""


def _predict_command(deployed_run) -> tuple[list[str], dict]:
    from ser_reparam.layout import RunLayout

    model = RunLayout(deployed_run).quantized_dir / "int8.tflite"
    clip = next((deployed_run.run_dir.parent.parent / "corpus").rglob("*.wav"))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return [sys.executable, "-m", "ser_reparam.cli", "predict", str(model), str(clip), "--backend",
            "litert"], env


def test_tensorflow_is_quiet_by_default(deployed_run):
    command, env = _predict_command(deployed_run)
    quiet = subprocess.run(command, capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and quiet.stderr == "" and "clip" in quiet.stdout


@pytest.mark.slow
def test_verbose_or_the_users_own_level_shows_tensorflows_lines(deployed_run):
    command, env = _predict_command(deployed_run)
    loud = subprocess.run([*command, "--verbose"], capture_output=True, text=True, env=env)
    assert loud.returncode == 0 and "clip" in loud.stdout
    assert len(loud.stderr.splitlines()) >= 2  # TensorFlow's start-up INFO lines (oneDNN, CUDA probe …)
    explicit = subprocess.run(command, capture_output=True, text=True,
                              env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert explicit.returncode == 0 and len(explicit.stderr.splitlines()) >= 2  # the user's own setting wins


def test_feature_extraction_reports_progress(deployed_run, tmp_path, capsys):
    from ser_reparam.data.dataset import Window, extract_features
    from ser_reparam.data.manifest import read_manifest
    from ser_reparam.layout import RunLayout

    manifest = RunLayout(deployed_run).manifest
    rows = [u for u in read_manifest(manifest) if u.split == "test"][:3]
    extract_features(rows, deployed_run.data.root, manifest.parent, deployed_run.frontend,
                     Window(1.0), tmp_path / "test-1s-trunc-x.features")
    assert capsys.readouterr().err.splitlines()[-1].startswith("features, split test: 3/3 examples done, ")
