"""Training one model variant for one seed, as the paper did, resumable and deterministic.

AdamW (weight decay 1e-6), learning rate halved when the training loss stops decreasing,
a fixed number of epochs, the checkpoint with the best validation metric kept (`best.keras`)
and scored on the test split. Per seed, runs/<name>/<variant>/train/seed-<k>/ holds:

  best.keras       the kept model (HRF layers and all; stage 04 folds it)
  metrics.json     validation and test metrics, history, deployed params / MACs — no timings,
                   so the same seed gives a byte-identical file
  state.json       per-epoch history and best-so-far (what a resumed run continues from)
  backup/          Keras BackupAndRestore checkpoint, removed when training completes
  tensorboard/     TensorBoard logs

A run killed mid-training resumes from its last completed epoch and ends after the same
number of epochs (its shuffling and dropout draws after the restart differ from an
uninterrupted run). Determinism: keras.utils.set_random_seed + TensorFlow op determinism.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import tensorflow as tf
import tf_keras as keras

from ser_reparam.config import ExperimentConfig, config_hash
from ser_reparam.data.dataset import batches
from ser_reparam.files import atomic_write_text, temp_name
from ser_reparam.evaluate import score, split_arrays
from ser_reparam.experiment import feature_store, labels_for, save_run_config, variant_dir, variant_name
from ser_reparam.models import build_model
from ser_reparam.profile import count_flops, count_params
from ser_reparam.runlock import run_lock

TRAINING_SECTIONS = ("data", "frontend", "model", "training")


def seed_dir(config: ExperimentConfig, seed: int) -> Path:
    return variant_dir(config) / "train" / f"seed-{seed}"


def training_hash(config: ExperimentConfig) -> str:
    return config_hash(config, *TRAINING_SECTIONS)


def build_for(config: ExperimentConfig, deploy: bool = False) -> keras.Model:
    """The variant's Keras model for this experiment's windows and labels."""
    store = feature_store(config)
    model = config.model
    return build_model(model.arch, model.preset, len(labels_for(config)), store.window.num_frames(config.frontend),
                       config.frontend.num_features, hrf=model.hrf, activation=model.activation,
                       deploy=deploy, heads=model.heads, dropout=model.dropout, cls_dropout=model.cls_dropout)


def _save_model(model: keras.Model, path: Path) -> None:
    tmp = temp_name(path)
    model.save(tmp)
    os.replace(tmp, path)


class SelectBest(keras.callbacks.Callback):
    """Scores the validation split after every epoch, keeps the best model, persists its state."""

    def __init__(self, folder: Path, val, num_classes: int, select: str, run_hash: str):
        super().__init__()
        self.folder, self.val, self.num_classes, self.select, self.run_hash = folder, val, num_classes, select, run_hash
        self.state_path = folder / "state.json"
        self.state = {"config_hash": run_hash, "history": [], "best_epoch": 0, "best": None}
        if self.state_path.exists():
            self.state = json.loads(self.state_path.read_text())

    def on_epoch_begin(self, epoch, logs=None):
        # after a resume Keras restarts at `epoch`: forget anything recorded beyond it
        history = [h for h in self.state["history"] if h["epoch"] <= epoch]
        if len(history) != len(self.state["history"]):
            self.state["history"] = history
            if self.state["best_epoch"] > epoch:
                self.state["best_epoch"], self.state["best"] = 0, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        record = {"epoch": epoch + 1, "loss": float(logs["loss"]),
                  "lr": float(keras.backend.get_value(self.model.optimizer.learning_rate))}
        if self.val is not None:
            x, y, ids = self.val
            metrics = score(self.model.predict(x, batch_size=256, verbose=0), y, ids, self.num_classes)
            record.update({k: metrics[k] for k in ("wa", "ua", "wf1", "mf1")})
            logs.update({f"val_{k}": metrics[k] for k in ("wa", "ua", "wf1", "mf1")})
        value = record.get(self.select, float(epoch))  # without validation: the latest epoch wins
        if self.state["best"] is None or value > self.state["best"]:
            self.state["best"], self.state["best_epoch"] = value, epoch + 1
            _save_model(self.model, self.folder / "best.keras")
        self.state["history"].append(record)
        atomic_write_text(self.state_path, json.dumps(self.state, indent=1) + "\n")


class Warmup(keras.callbacks.Callback):
    """Linear learning-rate warmup over the first `steps` batches; afterwards it leaves the rate
    alone (ReduceLROnPlateau owns it). Resumed runs skip the steps already taken."""

    def __init__(self, base_lr: float, steps: int):
        super().__init__()
        self.base_lr, self.steps = base_lr, steps

    def on_train_batch_begin(self, batch, logs=None):
        step = int(keras.backend.get_value(self.model.optimizer.iterations))
        if step < self.steps:
            keras.backend.set_value(self.model.optimizer.learning_rate, self.base_lr * (step + 1) / self.steps)


def configure_threads(threads: int) -> None:
    """Limit TensorFlow to `threads` threads (before TensorFlow runs anything); 0 = default.
    Calling it again with the same number (a reused worker) does nothing."""
    if threads > 0 and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def train_seed(config: ExperimentConfig, seed: int, verbose: int | None = None) -> dict:
    """Train (or resume, or skip when finished with the same settings) one seed; return its metrics.
    One process per seed at a time (sweep workers included): a second is refused, naming the first."""
    with run_lock(seed_dir(config, seed).parent, f"seed-{seed}.lock"):
        return _train_seed(config, seed, verbose)


def _train_seed(config: ExperimentConfig, seed: int, verbose: int | None) -> dict:
    folder = seed_dir(config, seed)
    run_hash = training_hash(config)
    metrics_path = folder / "metrics.json"
    if metrics_path.exists():
        finished = _read_json(metrics_path)
        if finished.get("config_hash") == run_hash:
            problem = checkpoint_problem(folder, finished)
            if problem is None:
                return finished
            print(f"seed {seed}: {problem}; training this seed again", file=sys.stderr)
            shutil.rmtree(folder)
    state_path = folder / "state.json"
    if folder.exists() and (metrics_path.exists() or (state_path.exists() and
                            _read_json(state_path).get("config_hash") != run_hash)):
        shutil.rmtree(folder)  # results of other settings: start this seed afresh
    folder.mkdir(parents=True, exist_ok=True)
    save_run_config(config)

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    training = config.training
    store, labels = feature_store(config), labels_for(config)
    train_data = batches(store, "train", labels, training.batch_size, shuffle=True, seed=seed)
    has_val = config.data.val != "none" and "val" in store.splits()
    val = split_arrays(store, "val", labels) if has_val else None

    model = build_for(config)
    model.compile(optimizer=keras.optimizers.AdamW(config.learning_rate, weight_decay=training.weight_decay),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps_per_epoch = int(train_data.cardinality())
    callbacks = [
        Warmup(config.learning_rate, round(training.warmup_epochs * steps_per_epoch)),
        SelectBest(folder, val, len(labels), training.select, run_hash),
        keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=training.lr_factor,
                                          patience=training.lr_patience, min_lr=training.min_lr),
        keras.callbacks.TensorBoard(log_dir=str(folder / "tensorboard"), write_graph=False),
        keras.callbacks.BackupAndRestore(backup_dir=str(folder / "backup")),
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    model.fit(train_data, epochs=training.epochs, callbacks=callbacks, verbose=verbose)
    shutil.rmtree(folder / "backup", ignore_errors=True)  # Keras empties it on completion

    state = json.loads(state_path.read_text())
    best = keras.models.load_model(folder / "best.keras")
    x, y, ids = split_arrays(store, "test", labels)
    deploy = build_for(config, deploy=True)
    metrics = {
        "experiment": config.name, "variant": variant_name(config), "seed": seed, "config_hash": run_hash,
        "labels": list(labels), "epochs": len(state["history"]), "best_epoch": state["best_epoch"],
        "select": training.select if val is not None else "last epoch",
        "val": {k: v for k, v in state["history"][state["best_epoch"] - 1].items() if k in ("wa", "ua", "wf1", "mf1")},
        "test": score(best.predict(x, batch_size=256, verbose=0), y, ids, len(labels)),
        "params": count_params(deploy), "macs": count_flops(deploy, tuple(deploy.inputs[0].shape[1:])),
        "train_params": count_params(best),
        "checkpoint_weights": weights_digest(best),
        "history": state["history"],
    }
    atomic_write_text(metrics_path, json.dumps(metrics, indent=1) + "\n")
    return metrics


def weights_digest(model: keras.Model) -> str:
    """sha256 of a model's weight values: what `best.keras` must hold for metrics.json to be its
    record (the .keras file's own bytes carry a save date, so they differ between equal models)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(f"{weight.dtype.str}{weight.shape}".encode())
        digest.update(weight.tobytes())
    return digest.hexdigest()


def checkpoint_problem(folder: Path, metrics: dict) -> str | None:
    """Why `folder/best.keras` cannot be trusted as the model `metrics` describes (None: it can)."""
    path = folder / "best.keras"
    if not path.is_file():
        return f"{path} is missing"
    try:
        model = keras.models.load_model(path)
    except Exception as err:  # a truncated or overwritten file fails in h5py / zipfile / Keras
        return f"{path} cannot be loaded ({type(err).__name__})"
    if metrics.get("checkpoint_weights") != weights_digest(model):
        return f"{path} does not hold the weights metrics.json was written for"
    return None


def _read_json(path: Path) -> dict:
    """A JSON record, or {} when it is cut short or not a mapping (the seed then starts afresh)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def seed_summary(metrics: dict) -> str:
    """One line per trained seed, as `train` and stage 03 print it."""
    test = metrics["test"]
    return (f"seed {metrics['seed']}: best epoch {metrics['best_epoch']}/{metrics['epochs']}  test "
            f"WA {test['wa']:.3f}  UA {test['ua']:.3f}  WF1 {test['wf1']:.3f}  MF1 {test['mf1']:.3f}")


def train(config: ExperimentConfig, seeds: list[int], verbose: int | None = None) -> list[dict]:
    return [train_seed(config, seed, verbose) for seed in seeds]
