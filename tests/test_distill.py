"""Knowledge distillation (training.distill_from): the loss, the teacher's soft labels, and a student
trained from a teacher's seeds on the demo corpus."""
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from ser_reparam.config import parse_config
from ser_reparam.errors import ConfigError, MissingInputError
from ser_reparam.layout import RunLayout
from ser_reparam.models.losses import DistillationLoss
from ser_reparam.pipeline import run_pipeline
from tests.conftest import tiny_raw


def test_the_loss_is_hintons_mix_of_label_and_teacher():
    """Cross-entropy with the label, KL divergence from the teacher (zero when the student matches)."""
    logits = tf.constant([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0]])
    target = tf.constant([[1.0, 0, 0], [0, 0, 1.0]])
    soft = tf.constant([[0.6, 0.1, 0.3], [0.2, 0.7, 0.1]])
    y = tf.concat([target, soft], -1)
    ce = lambda t, z: -np.sum(t * np.log(tf.nn.softmax(z).numpy()), -1)  # noqa: E731
    np.testing.assert_allclose(DistillationLoss(3, 0.0, 2.0).call(y, logits), ce(target, logits), rtol=1e-6)
    kl = ce(soft, logits / 2.0) + np.sum(soft * np.log(soft), -1)
    expected = 0.7 * ce(target, logits) + 0.3 * 4.0 * kl
    np.testing.assert_allclose(DistillationLoss(3, 0.3, 2.0).call(y, logits), expected, rtol=1e-6)
    matched = tf.concat([target, tf.nn.softmax(logits / 2.0)], -1)
    np.testing.assert_allclose(DistillationLoss(3, 1.0, 2.0).call(matched, logits), 0.0, atol=1e-5)
    smoothed = 0.9 * target + 0.1 / 3
    np.testing.assert_allclose(DistillationLoss(3, 0.0, 2.0, 0.1).call(y, logits), ce(smoothed, logits),
                               rtol=1e-6)


def trained(config):
    """Stages 01–03 of a tiny config; its seed 0's metrics."""
    run_pipeline(config, 1, 3, echo=lambda _: None)
    return json.loads(RunLayout(config).seed_metrics(0).read_text())


@pytest.mark.slow
def test_a_student_learns_from_its_teachers_seeds(tmp_path):
    tiny = lambda **keys: parse_config(tiny_raw(tmp_path, **{  # noqa: E731
        "training.epochs": 2, "data.prepare.per_class": 5, "model.cls_dropout": 0.0, **keys}))
    student = tiny(**{"model.hrf": "cls@8x1", "training.distill_weight": 0.7,
                      "training.distill_from": "tiny/convtransformer-lightweight-none"})
    with pytest.raises(MissingInputError, match="holds no finished seed.*train the teacher first"):
        trained(student)
    teacher = tiny(**{"training.seeds": 2, "training.epochs": 12, "training.learning_rate": 0.003})
    trained(teacher)
    assert not any(json.loads(RunLayout(teacher).seed_metrics(seed).read_text())["collapsed"]
                   for seed in (0, 1))
    taught = trained(student)
    alone = trained(tiny(**{"model.hrf": "cls@8x1", "name": "plain"}))
    assert taught["epochs"] == 2 and np.isfinite(taught["history"][-1]["loss"])
    # same seed, same data, same start: only the teacher's share of the loss differs
    assert alone["history"][-1]["loss"] != pytest.approx(taught["history"][-1]["loss"], rel=1e-3)
    assert taught["params"] == alone["params"]  # the deployed student is the same size
    code = ("from ser_reparam.models import load_model; "
            f"print(type(load_model({str(RunLayout(student).checkpoint(0))!r}).loss).__name__)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert shown.stdout.strip() == "DistillationLoss", shown.stderr[-2000:]
    with pytest.raises(ConfigError, match="names this run itself"):
        trained(tiny(**{"training.distill_from": "convtransformer-lightweight-none"}))


@pytest.mark.parametrize("value", ["../x/y", "a/b/c", "", "x y"])
def test_a_teacher_is_named_by_folders_under_runs_dir(tmp_path, value):
    with pytest.raises(ConfigError, match="must name the teacher's run as EXPERIMENT/VARIANT or VARIANT"):
        parse_config(tiny_raw(tmp_path, **{"training.distill_from": value}))
