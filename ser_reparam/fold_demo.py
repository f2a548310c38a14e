"""A one-minute demonstration of HRF and deHRF on random data (`ser-reparam fold-demo`).

It trains a small frame classifier whose dense layers are HRF chains, folds it, and prints
the parameter counts and the largest output difference between the trained and the folded
model. The data are random: the point is the arithmetic, not the accuracy.
"""
from __future__ import annotations

import numpy as np
import tf_keras as keras

from ser_reparam.fold import fold_model, output_difference
from ser_reparam.hrf import HRFDense
from ser_reparam.profile import count_flops, count_params

FRAMES, FEATURES, CLASSES = 50, 78, 4


def build_classifier(ratio: int, depth: int) -> keras.Model:
    """Frame-wise dense layer → average pooling → classifier, both dense layers HRF."""
    inputs = keras.Input((FRAMES, FEATURES), name="features")
    x = HRFDense(16, ratio=ratio, depth=depth, activation="relu", name="frame_dense")(inputs)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = HRFDense(CLASSES, ratio=ratio, depth=depth, name="cls")(x)
    return keras.Model(inputs, outputs, name=f"demo_r{ratio}_d{depth}")


def run_fold_demo(seed: int = 0, epochs: int = 3) -> dict:
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, 256)
    features = rng.standard_normal((256, FRAMES, FEATURES)).astype(np.float32)
    features[:, :, :CLASSES] += 0.5 * np.eye(CLASSES, dtype=np.float32)[labels][:, None, :]

    hrf_model = build_classifier(ratio=8, depth=1)
    hrf_model.compile(optimizer=keras.optimizers.Adam(1e-2),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hrf_model.fit(features, labels, batch_size=32, epochs=epochs, verbose=0)
    folded = fold_model(hrf_model, inputs=features[:32])
    plain = build_classifier(ratio=1, depth=0)
    diff = output_difference(hrf_model, folded, features)
    result = {
        "hrf_params": count_params(hrf_model),
        "folded_params": count_params(folded),
        "plain_params": count_params(plain),
        "folded_macs": count_flops(folded, (FRAMES, FEATURES)),
        "max_abs_diff": diff["max_abs"],
        "max_rel_diff": diff["max_rel"],
    }
    print(f"HRF model (ratio 8, depth 1) params : {result['hrf_params']:>8,}")
    print(f"folded model params                 : {result['folded_params']:>8,}")
    print(f"same model built without HRF        : {result['plain_params']:>8,}")
    print(f"folded model MACs per example       : {result['folded_macs']:>8,}")
    print(f"max |HRF − folded| on 256 inputs    : {result['max_abs_diff']:.2e} "
          f"({result['max_rel_diff']:.2e} of max |logit|)")
    return result
