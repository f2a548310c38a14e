"""Model-level deHRF: turn a model trained with HRFDense layers into its plain deploy twin.

`fold_model` rebuilds the model from its config with every HRF chain replaced by one dense
layer (an HRFDense layer config becomes a Dense config; a block that builds its dense
sublayers from an HRF placement under the config key `hrf` gets an empty placement), copies
every other weight unchanged, writes the folded kernels and biases, and checks on an input
that both models compute the same outputs.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from ser_reparam.errors import FoldError
from ser_reparam.hrf import HRF_CONFIG_KEY, HRFDense, dense_config

DEFAULT_RTOL = 1e-5


def _is_hrf_dense_config(node: dict) -> bool:
    """A serialized layer whose class is HRFDense or a registered subclass of it."""
    if not isinstance(node.get("config"), dict):
        return False
    cls = keras.saving.get_registered_object(str(node.get("registered_name") or node.get("class_name")))
    return isinstance(cls, type) and issubclass(cls, HRFDense)


def _strip_hrf(node):
    """Copy of a (nested) layer config with HRF chains replaced by plain dense layers."""
    if isinstance(node, list):
        return [_strip_hrf(item) for item in node]
    if not isinstance(node, dict):
        return node
    if _is_hrf_dense_config(node):
        node = {**node, "class_name": "Dense", "config": dense_config(node["config"])}
        node.pop("registered_name", None)
        node.pop("module", None)
    node = {key: _strip_hrf(value) for key, value in node.items()}
    if isinstance(node.get(HRF_CONFIG_KEY), dict):
        node[HRF_CONFIG_KEY] = {}
    return node


def _layers(model) -> list:
    return list(model._flatten_layers(include_self=False, recursive=True))


def _own_variables(layer) -> list:
    return list(layer._trainable_weights) + list(layer._non_trainable_weights)


def has_hrf(model) -> bool:
    """True when any layer, at any nesting depth, is an HRFDense."""
    return any(isinstance(layer, HRFDense) for layer in _layers(model))


def random_inputs(model, batch: int = 2, free_dim: int = 16, seed: int = 0):
    """Normal(0, 1) inputs for every model input; unknown sizes become `batch` / `free_dim`."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = [batch] + [free_dim if d is None else int(d) for d in tensor.shape[1:]]
        arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays[0] if len(arrays) == 1 else arrays


def output_difference(model_a, model_b, inputs) -> dict:
    """Max absolute output difference and the same relative to max |output of model_a|."""
    out_a = tf.nest.flatten(model_a(inputs, training=False))
    out_b = tf.nest.flatten(model_b(inputs, training=False))
    max_abs, scale = 0.0, 0.0
    for a, b in zip(out_a, out_b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        max_abs = max(max_abs, float(np.max(np.abs(a - b))))
        scale = max(scale, float(np.max(np.abs(a))))
    return {"max_abs": max_abs, "max_rel": max_abs / max(scale, 1e-30)}


def _rebuild_without_hrf(model):
    try:
        config = model.get_config()
    except NotImplementedError as err:
        raise FoldError(
            f"fold_model: model '{model.name}' has no get_config(); build it as a functional or "
            "Sequential model, or give the Model subclass a get_config()") from err
    return model.__class__.from_config(_strip_hrf(config))


def _copy_weights(src_layers: list, dst_layers: list) -> None:
    if len(src_layers) != len(dst_layers):
        raise FoldError(f"fold_model: the rebuilt model has {len(dst_layers)} layers, the HRF model "
                        f"{len(src_layers)}; a block must create the same sublayers with and without HRF")
    for src, dst in zip(src_layers, dst_layers):
        if isinstance(dst, HRFDense):
            raise FoldError(
                f"fold_model: layer '{dst.name}' is still an HRFDense after folding; the block that "
                f"creates it must take its HRF placement from its config key '{HRF_CONFIG_KEY}'")
        if src.name != dst.name:
            raise FoldError(f"fold_model: layer order differs after rebuild ('{src.name}' vs '{dst.name}')")
        if isinstance(src, HRFDense):
            kernel, bias = src.folded_weights()
            dst.set_weights([kernel] if bias is None else [kernel, bias])
            continue
        src_vars, dst_vars = _own_variables(src), _own_variables(dst)
        if [v.shape for v in src_vars] != [v.shape for v in dst_vars]:
            raise FoldError(f"fold_model: weights of layer '{src.name}' differ in shape after rebuild")
        for s, d in zip(src_vars, dst_vars):
            d.assign(s)


def fold_model(model, inputs=None, rtol: float = DEFAULT_RTOL):
    """deHRF: a new model with every HRFDense folded into a Dense; `model` is left untouched.

    A model without HRF layers is returned as it is (folding twice is a no-op). The result is
    checked on `inputs` (random normal inputs when None): FoldError is raised if
    max |folded − original| > rtol · max |original| on any output.
    """
    if not has_hrf(model):
        return model
    folded = _rebuild_without_hrf(model)
    probe = random_inputs(model) if inputs is None else inputs
    folded(probe, training=False)  # creates the weights of any layer not built by from_config
    _copy_weights(_layers(model), _layers(folded))
    diff = output_difference(model, folded, probe)
    if not diff["max_rel"] <= rtol:
        raise FoldError(
            f"fold_model: folded '{model.name}' differs from the HRF model by {diff['max_abs']:.3g} "
            f"({diff['max_rel']:.3g} relative to max |output|, tolerance {rtol:g}); only a purely "
            "linear chain folds exactly: check that no activation or dropout sits inside an HRF chain")
    return folded
