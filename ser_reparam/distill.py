"""Knowledge distillation (training.distill_from): the lightweight student learns from the labels
and from a teacher trained on the same speaker fold, the mean of the teacher's finished seeds' soft
labels on each (augmented) training batch. Like HRF, compute spent in training only: the deployed
model is the student, its size unchanged."""
from __future__ import annotations

import json

import tensorflow as tf

from ser_reparam.config import ExperimentConfig
from ser_reparam.errors import ConfigError, DataError, MissingInputError
from ser_reparam.layout import RunLayout, checkpoint_in, seed_metrics_in
from ser_reparam.models import load_model


def teachers(config: ExperimentConfig, labels: tuple[str, ...], input_shape: tuple) -> list:
    """The teacher's finished, not collapsed seeds' models; errors name the folder and the fix."""
    folder = RunLayout(config).teacher_train_dir()
    if folder == RunLayout(config).train_dir:
        raise ConfigError(f"training.distill_from {config.training.distill_from!r} names this run itself; "
                          "name the teacher's run (another variant or experiment)")
    finished = sorted(p.parent for p in folder.glob("seed-*/" + seed_metrics_in(folder).name))
    records = {seed: json.loads(seed_metrics_in(seed).read_text()) for seed in finished}
    kept = [seed for seed, record in records.items() if not record.get("collapsed")]
    if not kept:
        raise MissingInputError(f"training.distill_from {config.training.distill_from!r}: {folder} holds no "
                                "finished seed that did not collapse; train the teacher first, on the same "
                                "speaker folds (ser-reparam train --config <teacher config>)")
    for seed in kept:
        if tuple(records[seed].get("labels", ())) != tuple(labels):
            raise DataError(f"{seed}: the teacher was trained on the labels {records[seed].get('labels')}, "
                            f"this run on {list(labels)}; distill from a teacher of the same labels")
    models = [load_model(checkpoint_in(seed)) for seed in kept]
    for seed, model in zip(kept, models):
        if tuple(model.inputs[0].shape[1:]) != tuple(input_shape):
            raise DataError(f"{checkpoint_in(seed)} takes inputs {tuple(model.inputs[0].shape[1:])}, this "
                            f"run {tuple(input_shape)}; distill from a teacher of the same window and front "
                            "end")
    return models


def with_teacher(data: tf.data.Dataset, models: list, temperature: float) -> tf.data.Dataset:
    """(x, target, weight) batches → (x, [target | the teachers' mean soft labels], weight)."""
    def add(x, target, weight):
        soft = tf.add_n([tf.nn.softmax(model(x, training=False) / temperature) for model in models])
        return x, tf.concat([target, soft / len(models)], axis=-1), weight
    return data.map(add)
