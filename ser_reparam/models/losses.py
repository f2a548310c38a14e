"""The training loss with a teacher (training.distill_from): registered, so a student's checkpoint
loads like any other."""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


@keras.saving.register_keras_serializable(package="ser_reparam")
class DistillationLoss(keras.losses.Loss):
    """y_true = [target | teacher soft labels] (2 × classes): (1 − weight) · CE(target, logits) +
    weight · T² · KL(soft labels ‖ softmax(logits / T)), Hinton et al.'s knowledge distillation (the
    T² keeps the soft share's gradients at the hard share's scale). KL, not the cross-entropy with
    the soft labels: the same gradients, but the loss does not carry the teacher's own entropy, so a
    student that learned has a low loss (the collapse check compares it with the label prior's)."""

    def __init__(self, num_classes: int, weight: float, temperature: float, label_smoothing: float = 0.0,
                 name: str = "distillation", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.weight = num_classes, weight
        self.temperature, self.label_smoothing = temperature, label_smoothing

    def call(self, y_true, y_pred):
        target, soft = y_true[:, :self.num_classes], y_true[:, self.num_classes:]
        target = target * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        hard = tf.nn.softmax_cross_entropy_with_logits(target, y_pred)
        entropy = -tf.reduce_sum(soft * tf.math.log(tf.maximum(soft, 1e-12)), axis=-1)
        taught = tf.nn.softmax_cross_entropy_with_logits(soft, y_pred / self.temperature) - entropy
        return (1.0 - self.weight) * hard + self.weight * self.temperature ** 2 * taught

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "weight": self.weight,
                "temperature": self.temperature, "label_smoothing": self.label_smoothing}
