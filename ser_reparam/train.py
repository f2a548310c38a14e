"""Training one model variant for one seed, as the paper did, resumable and deterministic.

AdamW (weight decay 1e-6), learning rate halved when the training loss stops decreasing
(or a cosine decay: training.schedule), a fixed number of epochs, the checkpoint with the best
validation metric kept (`best.keras`) and scored on the test split. Optional small-data recipe
(training.*): class-weighted loss, label smoothing, mixup, SpecAugment masks, random gain, a teacher.

Collapse guard: after every epoch the number of distinct classes the model predicts on the
validation split (without one: on up to 512 training examples) is recorded. While it is one,
the schedule makes no reduction; after `collapse_epochs` such epochs in a row it restarts from
the base rate (with its warmup), so no run sits at the floor learning rate while predicting one
class. A run whose kept model predicts one class, whose last `collapse_epochs` epochs did, or
whose final training loss is within 3 % of the label-prior entropy is `collapsed: true` in
metrics.json and logged as a warning. Per seed, runs/<name>/<variant>/train/seed-<k>/ holds:

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
import logging
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from ser_reparam.config import TRAINING_SECTIONS, ExperimentConfig, config_hash
from ser_reparam.data.dataset import batches
from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.scoring import score, split_arrays
from ser_reparam.distill import teachers, with_teacher
from ser_reparam.experiment import feature_store, labels_for, save_run_config
from ser_reparam.files import atomic_write_text, temp_name
from ser_reparam.layout import RunLayout, checkpoint_in, seed_metrics_in, train_state_in, variant_name
from ser_reparam.models import build_model, load_model
from ser_reparam.models.losses import DistillationLoss
from ser_reparam.profile import count_flops, count_params
from ser_reparam.runlock import run_lock

MONITOR_EXAMPLES = 512     # training examples watched for collapse when there is no validation split
PRIOR_LOSS_SHARE = 0.97    # final training loss >= this × label-prior entropy = not learning
LOG = logging.getLogger("ser_reparam.train")


def training_hash(config: ExperimentConfig) -> str:
    return config_hash(config, *TRAINING_SECTIONS)


def build_for(config: ExperimentConfig, deploy: bool = False) -> keras.Model:
    """The variant's Keras model for this experiment's windows and labels."""
    store = feature_store(config)
    model = config.model
    return build_model(model.arch, model.preset, len(labels_for(config)),
                       store.window.num_frames(config.frontend),
                       config.frontend.num_features, hrf=model.placement, activation=model.activation,
                       deploy=deploy, heads=model.heads, dropout=model.dropout,
                       cls_dropout=model.cls_dropout, cls_bias=model.cls_bias,
                       pool_norm=model.pool_norm, hrf_init=model.hrf_init, hrf_step=model.hrf_step,
                       pooling=model.pooling, cls_units=model.cls_units)


def _save_model(model: keras.Model, path: Path) -> None:
    tmp = temp_name(path)
    model.save(tmp)
    os.replace(tmp, path)


class SelectBest(keras.callbacks.Callback):
    """Scores the validation split after every epoch, keeps the best model, persists its state."""

    def __init__(self, folder: Path, val, num_classes: int, select: str, run_hash: str, training,
                 monitor=None):
        super().__init__()
        self.folder, self.val, self.num_classes, self.select, self.run_hash = (
            folder, val, num_classes, select, run_hash)
        self.training, self.monitor = training, monitor  # monitor: examples watched when val is None
        self.state_path = train_state_in(folder)
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
            record["classes"] = int(np.count_nonzero(np.sum(metrics["confusion"], axis=0)))
        elif self.monitor is not None:
            record["classes"] = len(np.unique(self.model.predict(self.monitor, batch_size=256,
                                                                 verbose=0).argmax(1)))
        if epoch + 1 in schedule_state(self.state["history"] + [record], self.training)[2]:
            LOG.warning("%s: the model has predicted one class for %d epochs (epoch %d, training loss "
                        "%.3f); restarting the learning-rate schedule", self.folder,
                        self.training.collapse_epochs,
                        epoch + 1, record["loss"])
        value = record.get(self.select, float(epoch))  # without validation: the latest epoch wins
        if self.state["best"] is None or value > self.state["best"]:
            self.state["best"], self.state["best_epoch"] = value, epoch + 1
            _save_model(self.model, checkpoint_in(self.folder))
        self.state["history"].append(record)
        atomic_write_text(self.state_path, json.dumps(self.state, indent=1) + "\n")


def one_class_run(history: list[dict]) -> int:
    """Epochs in a row, up to the last one, whose monitored predictions were one class."""
    run = 0
    for record in reversed(history):
        if record.get("classes") != 1:
            break
        run += 1
    return run


def schedule_state(history: list[dict], training) -> tuple[float, int, list[int]]:
    """(plateau multiplier, epoch the schedule last (re)started at, the epochs after which it
    restarted) after the epochs of `history`.

    Plateau: × lr_factor after lr_patience epochs without a lower training loss — but never in an
    epoch whose predictions were one class. Both schedules restart (multiplier 1, warmup again)
    once `collapse_epochs` epochs in a row predicted one class."""
    scale, start, best, wait, run, restarts = 1.0, 0, math.inf, 0, 0, []
    for record in history:
        run = run + 1 if record.get("classes") == 1 else 0
        if training.collapse_epochs and run == training.collapse_epochs:
            scale, start, best, wait, run = 1.0, record["epoch"], math.inf, 0, 0
            restarts.append(record["epoch"])
            continue
        if record["loss"] < best - 1e-4:
            best, wait = record["loss"], 0
        else:
            wait += 1
        if wait >= training.lr_patience:
            wait = 0
            if record.get("classes") != 1:
                scale *= training.lr_factor
    return scale, start, restarts


class LearningRate(keras.callbacks.Callback):
    """The learning rate of every batch: linear warmup, then the plateau or cosine schedule.

    A function of the optimizer step and of the recorded epoch history (SelectBest's state), so
    a resumed run continues the same schedule."""

    def __init__(self, training, base_lr: float, steps_per_epoch: int, history):
        super().__init__()
        self.training, self.base_lr, self.steps_per_epoch, self.history = (
            training, base_lr, steps_per_epoch, history)
        self.scale, self.start = 1.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.scale, self.start, _ = schedule_state(self.history()[:epoch], self.training)

    def rate(self, step: int) -> float:
        training = self.training
        local = step - self.start * self.steps_per_epoch
        warmup = round(training.warmup_epochs * self.steps_per_epoch)
        if local < warmup:
            return self.base_lr * (local + 1) / warmup
        if training.schedule == "cosine":
            span = max((training.epochs - self.start) * self.steps_per_epoch - warmup, 1)
            progress = min((local - warmup) / span, 1.0)
            return (training.min_lr
                    + (self.base_lr - training.min_lr) * 0.5 * (1 + math.cos(math.pi * progress)))
        return max(self.base_lr * self.scale, training.min_lr)

    def on_train_batch_begin(self, batch, logs=None):
        step = int(keras.backend.get_value(self.model.optimizer.iterations))
        keras.backend.set_value(self.model.optimizer.learning_rate, self.rate(step))


def augmenter(training, num_classes: int, class_weights, std, seed: int):
    """Batch map of the training data: SpecAugment masks, gain, one-hot (+ mixup) labels, and a
    per-example weight (class weights, or 1). Masked values are 0 = the training mean."""
    bands = 26  # static log-Mel bands; delta and delta-delta repeat them
    # 1 dB in normalized units
    gain_scale = tf.constant(np.concatenate([0.1 * math.log(10.0) / np.asarray(std[:bands]),
                                             np.zeros(len(std) - bands)]), tf.float32)
    weights = tf.constant(class_weights, tf.float32)
    generator = tf.random.Generator.from_seed(seed)

    def masks(x, count, axis_len, width, axis_values):
        batch = tf.shape(x)[0]
        for _ in range(count):
            size = generator.uniform([batch, 1, 1], 0, width + 1, tf.int32)
            first = generator.uniform([batch, 1, 1], 0, axis_len - width + 1, tf.int32)
            x = tf.where((axis_values >= first) & (axis_values < first + size), 0.0, x)
        return x

    def augment(x, y):
        batch, frames = tf.shape(x)[0], x.shape[1]
        if training.gain_db:
            x = x + generator.uniform([batch, 1, 1], -training.gain_db, training.gain_db) * gain_scale
        if training.time_masks:
            x = masks(x, training.time_masks, frames, max(frames // 10, 1), tf.range(frames)[None, :, None])
        if training.freq_masks:
            x = masks(x, training.freq_masks, bands, 4, (tf.range(x.shape[2]) % bands)[None, None, :])
        target = tf.one_hot(y, num_classes)
        weight = tf.gather(weights, y)
        if training.mixup:
            alpha = tf.constant(training.mixup, tf.float32)
            g1 = tf.random.stateless_gamma([batch, 1], generator.make_seeds(1)[:, 0], alpha)
            g2 = tf.random.stateless_gamma([batch, 1], generator.make_seeds(1)[:, 0], alpha)
            lam = g1 / (g1 + g2)
            order = tf.argsort(generator.uniform([batch]))
            x = lam[:, :, None] * x + (1 - lam[:, :, None]) * tf.gather(x, order)
            target = lam * target + (1 - lam) * tf.gather(target, order)
            weight = lam[:, 0] * weight + (1 - lam[:, 0]) * tf.gather(weight, order)
        return x, target, weight

    return augment


def label_prior_entropy(counts) -> float:
    """Cross-entropy (nats) of always predicting the training label distribution."""
    share = np.asarray(counts, float) / np.sum(counts)
    share = share[share > 0]
    return float(-np.sum(share * np.log(share)))


def collapse_verdict(history: list[dict], best_epoch: int, prior_entropy: float,
                     collapse_epochs: int) -> list[str]:
    """Why a finished run counts as collapsed (empty: it learned)."""
    reasons = []
    if history[best_epoch - 1].get("classes") == 1:
        reasons.append(f"the kept model (epoch {best_epoch}) predicts one class")
    if collapse_epochs and one_class_run(history) >= min(collapse_epochs, len(history)):
        reasons.append(f"the last {one_class_run(history)} epochs predicted one class")
    if history[-1]["loss"] >= PRIOR_LOSS_SHARE * prior_entropy:
        reasons.append(f"final training loss {history[-1]['loss']:.3f} ~ label-prior entropy "
                       f"{prior_entropy:.3f}")
    return reasons


def configure_threads(threads: int) -> None:
    """Limit TensorFlow to `threads` threads (before TensorFlow runs anything); 0 = default.
    Calling it again with the same number (a reused worker) does nothing."""
    if threads > 0 and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def train_seed(config: ExperimentConfig, seed: int, verbose: int | None = None,
               callbacks: list | None = None) -> dict:
    """Train (or resume, or skip when finished with the same settings) one seed; return its metrics.
    One process per seed at a time (sweep workers included): a second is refused, naming the first.
    `callbacks`: more Keras callbacks for the fit (e.g. dynamics.WeightDynamics)."""
    with run_lock(RunLayout(config).seed_dir(seed).parent, f"seed-{seed}.lock"):
        return _train_seed(config, seed, verbose, callbacks or [])


def _train_seed(config: ExperimentConfig, seed: int, verbose: int | None, extra: list) -> dict:
    folder = RunLayout(config).seed_dir(seed)
    run_hash = training_hash(config)
    metrics_path = seed_metrics_in(folder)
    if metrics_path.exists():
        finished = _read_json(metrics_path)
        if finished.get("config_hash") == run_hash:
            problem = checkpoint_problem(folder, finished)
            if problem is None:
                return finished
            print(f"seed {seed}: {problem}; training this seed again", file=sys.stderr)
            shutil.rmtree(folder)
    state_path = train_state_in(folder)
    if folder.exists() and (metrics_path.exists() or (state_path.exists() and
                            _read_json(state_path).get("config_hash") != run_hash)):
        shutil.rmtree(folder)  # results of other settings: start this seed afresh
    folder.mkdir(parents=True, exist_ok=True)
    save_run_config(config)

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    training = config.training
    store, labels = feature_store(config), labels_for(config)
    train_data = batches(store, "train", labels, training.batch_size, shuffle=True, seed=seed,
                         with_copies=True)
    has_val = config.data.val != "none" and "val" in store.splits()
    val = split_arrays(store, "val", labels) if has_val else None
    train_x, train_y, _ = split_arrays(store, "train", labels)
    counts = np.bincount(train_y, minlength=len(labels))
    class_weights = (len(train_y) / (len(labels) * np.maximum(counts, 1)) if training.class_weights
                     else np.ones(len(labels)))
    std = np.asarray(store.norm_stats()["std"])
    train_data = train_data.map(augmenter(training, len(labels), class_weights, std, seed))
    model = build_for(config)
    if training.distill_from:
        teacher = teachers(config, labels, tuple(model.inputs[0].shape[1:]))
        train_data = with_teacher(train_data, teacher, training.distill_temperature)
        loss = DistillationLoss(len(labels), training.distill_weight, training.distill_temperature,
                                training.label_smoothing)
    else:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True,
                                                    label_smoothing=training.label_smoothing)
    model.compile(optimizer=keras.optimizers.AdamW(config.learning_rate, weight_decay=training.weight_decay),
                  loss=loss)
    steps_per_epoch = int(train_data.cardinality())
    select = SelectBest(folder, val, len(labels), training.select, run_hash, training,
                        monitor=None if val is not None else train_x[:MONITOR_EXAMPLES])
    callbacks = [
        select,
        LearningRate(training, config.learning_rate, steps_per_epoch, lambda: select.state["history"]),
        keras.callbacks.TensorBoard(log_dir=str(folder / "tensorboard"), write_graph=False),
        keras.callbacks.BackupAndRestore(backup_dir=str(folder / "backup")),
        *extra,
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    model.fit(train_data, epochs=training.epochs, callbacks=callbacks, verbose=verbose)
    shutil.rmtree(folder / "backup", ignore_errors=True)  # Keras empties it on completion

    state = json.loads(state_path.read_text())
    best = load_model(checkpoint_in(folder))
    x, y, ids = split_arrays(store, "test", labels)
    deploy = build_for(config, deploy=True)
    reasons = collapse_verdict(state["history"], state["best_epoch"], label_prior_entropy(counts),
                               training.collapse_epochs)
    metrics = {
        "experiment": config.name, "variant": variant_name(config), "seed": seed, "config_hash": run_hash,
        "labels": list(labels), "epochs": len(state["history"]), "best_epoch": state["best_epoch"],
        "select": training.select if val is not None else "last epoch",
        "val": {k: v for k, v in state["history"][state["best_epoch"] - 1].items()
                if k in ("wa", "ua", "wf1", "mf1")},
        "test": score(best.predict(x, batch_size=256, verbose=0), y, ids, len(labels)),
        "params": count_params(deploy), "macs": count_flops(deploy, tuple(deploy.inputs[0].shape[1:])),
        "train_params": count_params(best),
        "checkpoint_weights": weights_digest(best),
        "cv_fold": config.data.cv_fold,
        "test_speakers": sorted({u.speaker for u in read_manifest(RunLayout(config).manifest)
                              if u.split == "test"}) if config.data.cv_fold is not None else None,
        "collapsed": bool(reasons), "collapse_reasons": reasons,
        "schedule_restarts": schedule_state(state["history"], training)[2],
        "history": state["history"],
    }
    if reasons:
        LOG.warning("%s collapsed: %s. It has not learned beyond the class prior; do not deploy it "
                    "(docs/training.md: training recipe)", folder, "; ".join(reasons))
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
    path = checkpoint_in(folder)
    if not path.is_file():
        return f"{path} is missing"
    try:
        model = load_model(path)
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
            f"WA {test['wa']:.3f}  UA {test['ua']:.3f}  WF1 {test['wf1']:.3f}  MF1 {test['mf1']:.3f}"
            + ("  COLLAPSED (" + "; ".join(metrics["collapse_reasons"]) + ")"
               if metrics.get("collapsed") else ""))


def train(config: ExperimentConfig, seeds: list[int], verbose: int | None = None) -> list[dict]:
    return [train_seed(config, seed, verbose) for seed in seeds]
