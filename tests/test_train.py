"""Training: same seed → same metrics file, skipping finished seeds, resuming a killed run."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import tiny_raw

from ser_reparam.config import parse_config
from ser_reparam.experiment import prepare_run_manifest
from ser_reparam.layout import RunLayout
from ser_reparam.stages import s02_features
from ser_reparam.train import train_seed


def tiny_config(tmp_path, **training):
    raw = tiny_raw(tmp_path, **{"model.preset": "lightweight", "model.hrf": "ffn2@8x1",
                                "training.learning_rate": 0.003,
                                **{f"training.{key}": value for key, value in training.items()}})
    return parse_config(raw), raw


@pytest.fixture
def prepared(tmp_path):
    config, raw = tiny_config(tmp_path)
    prepare_run_manifest(config)
    s02_features.run(config)  # stage 02: features and statistics
    return config, raw


def test_same_seed_same_metrics_file(prepared, tmp_path):
    config, _ = prepared
    first = train_seed(config, 0, verbose=0)
    path = RunLayout(config).seed_dir(0) / "metrics.json"
    text = path.read_text()
    os.remove(path)
    second = train_seed(config, 0, verbose=0)
    assert path.read_text() == text and first == second
    assert first["epochs"] == 2 and len(first["history"]) == 2
    assert set(first["test"]) >= {"wa", "ua", "wf1", "mf1", "confusion"}
    # HRF trains bigger, deploys small
    assert first["params"] == 8596 and first["train_params"] > first["params"]
    assert ((RunLayout(config).seed_dir(0) / "best.keras").exists()
            and not (RunLayout(config).seed_dir(0) / "backup").exists())
    assert any((RunLayout(config).seed_dir(0) / "tensorboard").rglob("events.out.tfevents.*"))


def test_finished_seed_is_skipped_and_changed_settings_retrain(prepared):
    config, raw = prepared
    train_seed(config, 0, verbose=0)
    path = RunLayout(config).seed_dir(0) / "metrics.json"
    stamp = path.stat().st_mtime_ns
    train_seed(config, 0, verbose=0)
    assert path.stat().st_mtime_ns == stamp
    changed = parse_config({**raw, "training": {**raw["training"], "learning_rate": 0.001}})
    train_seed(changed, 0, verbose=0)
    assert path.stat().st_mtime_ns != stamp
    assert json.loads(path.read_text())["config_hash"] != ""


@pytest.mark.parametrize("damage", ["truncate", pytest.param("delete", marks=pytest.mark.slow),
                                    pytest.param("swap", marks=pytest.mark.slow)])
def test_a_corrupt_or_missing_checkpoint_retrains_its_seed(prepared, damage):
    import tf_keras as keras

    from ser_reparam.train import checkpoint_problem, weights_digest

    config, _ = prepared
    first = train_seed(config, 0, verbose=0)
    best = RunLayout(config).seed_dir(0) / "best.keras"
    if damage == "truncate":
        best.write_bytes(best.read_bytes()[:1000])
    elif damage == "delete":
        best.unlink()
    else:  # a loadable model, but not the one metrics.json describes
        model = keras.models.load_model(best)
        model.set_weights([w * 0 for w in model.get_weights()])
        model.save(best)
    assert checkpoint_problem(RunLayout(config).seed_dir(0), first) is not None
    again = train_seed(config, 0, verbose=0)
    assert checkpoint_problem(RunLayout(config).seed_dir(0), again) is None
    assert again["checkpoint_weights"] == weights_digest(keras.models.load_model(best))
    assert again["test"] == first["test"]  # same seed, same result


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_number_of_epochs(prepared, tmp_path):
    import yaml

    config, raw = prepared
    raw["training"]["epochs"] = 8
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    command = [str(Path(sys.executable).parent / "ser-reparam"), "train", "--config", str(path),
               "--seed", "0"]
    state = RunLayout(config).seed_dir(0) / "state.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        if state.exists() and len(json.loads(state.read_text())["history"]) >= 3:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(json.loads(state.read_text())["history"])
    assert 3 <= done < 8, "the run must be killed mid-training for this test to mean anything"
    assert (RunLayout(config).seed_dir(0) / "backup").exists()
    resumed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    # restored, not restarted: Keras' first epoch line is the one after the last completed epoch
    # (BackupAndRestore saves at each epoch end, so `done` or `done - 1` epochs survive the kill)
    first = int(re.search(r"Epoch (\d+)/8", resumed).group(1))
    assert first in (done, done + 1) and first > 1
    metrics = json.loads((RunLayout(config).seed_dir(0) / "metrics.json").read_text())
    assert metrics["epochs"] == 8
    assert [h["epoch"] for h in metrics["history"]] == list(range(1, 9))


def history(losses, classes):
    return [{"epoch": k + 1, "loss": loss, "classes": c} for k, (loss, c) in enumerate(zip(losses, classes))]


def test_plateau_schedule_never_reduces_while_one_class_and_restarts_after_a_collapse():
    from ser_reparam.train import schedule_state

    config, _ = tiny_config(Path("/tmp"), lr_patience=2, collapse_epochs=4)
    training = config.training
    # learning: the loss stalls for 2 epochs twice -> halved twice
    assert schedule_state(history([1.0, 1.1, 1.1, 1.2, 1.2], [3] * 5), training) == (0.25, 0, [])
    # the same stalls while predicting one class: no reduction
    assert schedule_state(history([1.0, 1.1, 1.1], [1, 1, 1]), training) == (1.0, 0, [])
    # 4 one-class epochs in a row: the schedule restarts after epoch 5, and again 4 epochs later
    state = schedule_state(history([1.9] * 10, [3] + [1] * 9), training)
    assert state == (1.0, 9, [5, 9])


def test_cosine_rate_warmup_and_floor():
    from ser_reparam.train import LearningRate

    config, _ = tiny_config(Path("/tmp"), schedule="cosine", epochs=10, warmup_epochs=1, min_lr=1e-5)
    rate = LearningRate(config.training, 1e-2, steps_per_epoch=10, history=list)
    assert rate.rate(0) == pytest.approx(1e-3) and rate.rate(9) == pytest.approx(1e-2)
    assert rate.rate(10) == pytest.approx(1e-2) and rate.rate(100) == pytest.approx(1e-5)
    rate.start = 5  # restarted after epoch 5: warmup again, then the decay over the epochs left
    assert rate.rate(50) == pytest.approx(1e-3) and rate.rate(60) == pytest.approx(1e-2)


def test_collapse_verdict():
    from ser_reparam.train import collapse_verdict, label_prior_entropy

    prior = label_prior_entropy([30, 10, 10])
    assert prior == pytest.approx(0.950, abs=1e-3)
    learned = history([1.2, 0.8, 0.5], [2, 3, 3])
    assert collapse_verdict(learned, 3, prior, 2) == []
    flat = history([0.96, 0.95, 0.94], [1, 1, 1])
    reasons = collapse_verdict(flat, 1, prior, 2)
    assert len(reasons) == 3 and "label-prior entropy 0.950" in reasons[2]


def test_recipe_options_train_and_stay_deterministic(prepared, tmp_path):
    """Class weights, label smoothing, mixup, masks and gain run, and the same seed gives the same file."""
    _, raw = prepared
    config = parse_config({**raw, "training": {**raw["training"], "class_weights": True,
                                               "label_smoothing": 0.1,
                                               "mixup": 0.2, "time_masks": 2, "freq_masks": 2, "gain_db": 6,
                                               "schedule": "cosine"}})
    first = train_seed(config, 0, verbose=0)
    path = RunLayout(config).seed_dir(0) / "metrics.json"
    text = path.read_text()
    os.remove(path)
    train_seed(config, 0, verbose=0)
    assert path.read_text() == text
    assert all("classes" in h for h in first["history"]) and isinstance(first["collapsed"], bool)
