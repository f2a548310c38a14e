"""The paper's three Transformers behind one builder, `build_model`."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ser_reparam.models.placement import Placement, format_hrf, parse_hrf

if TYPE_CHECKING:
    import tf_keras as keras

ARCHITECTURES = ("convtransformer", "conformer", "speechformer")  # models/<arch>.py builds it: build_<arch>
# [blocks L, model dim d, FFN inner dim] from the paper, per architecture
PRESETS = {
    "convtransformer": {"original": (8, 80, 320), "lightweight": (1, 16, 4)},
    "conformer": {"original": (4, 80, 320), "lightweight": (1, 16, 2)},
    "speechformer": {"original": (8, 80, 64), "lightweight": (1, 16, 4)},
}
DEFAULT_ACTIVATION = {"convtransformer": "relu", "conformer": "swish", "speechformer": "relu"}


def resolve_preset(arch: str, preset) -> tuple[int, int, int]:
    """(blocks, dim, ffn_dim) for a preset name or an explicit [blocks, dim, ffn_dim]."""
    if isinstance(preset, str):
        try:
            return PRESETS[arch][preset]
        except KeyError:
            raise ValueError(f"unknown preset {preset!r} for {arch}; use one of "
                             f"{sorted(PRESETS[arch])} or [blocks, dim, ffn_dim]") from None
    values = tuple(preset) if isinstance(preset, (list, tuple)) else ()
    if len(values) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ValueError(f"preset {preset!r}: give a preset name ({', '.join(sorted(PRESETS[arch]))}) "
                         "or three positive integers [blocks, dim, ffn_dim]")
    return values


def _builder(arch: str):
    """models/<arch>.py's build_<arch>, imported when a model is built: the package itself stays
    TensorFlow-free for the commands that only read configs and results (report)."""
    return getattr(importlib.import_module(f"{__name__}.{arch}"), f"build_{arch}")


def build_model(arch: str, preset="lightweight", num_classes: int = 4, window_frames: int = 500,
                num_features: int = 78, hrf=None, activation: str | None = None, deploy: bool = False,
                heads: int = 4, dropout: float = 0.1, cls_dropout: float = 0.0,
                cls_bias: float = 0.5, pool_norm: bool = False, hrf_init: str = "factors",
                hrf_step: float = 1.0, pooling: str = "mean",
                cls_units: tuple[int, int] | None = None) -> keras.Model:
    """Build `arch` at `preset` taking inputs of shape (window_frames, num_features).

    hrf: a Placement (a config's model.placement) or a spec (e.g. "ffn2@8x1"), ignored when deploy=True, which
    builds the plain deploy architecture: the same graph fold_model() makes from an HRF model.
    pool_norm: batch-normalize the time-averaged sequence inside cls1 (folded at deHRF, so deploy=True
    ignores it).
    activation: FFN activation (relu, gelu, swish, squared_relu); None = the architecture's own.
    hrf_init, hrf_step: how every HRF chain starts and moves in training (ser_reparam.hrf.HRFDense).
    pooling, cls_units: the classifier head's pooling over time and hidden widths (layers.classifier_head).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    blocks, dim, ffn_dim = resolve_preset(arch, preset)
    if deploy:
        placement = {}
    else:
        placement = (hrf if isinstance(hrf, Placement) else Placement.parse(hrf, arch)).as_dict()
        chain = {key: value for key, value in (("init", hrf_init), ("step", hrf_step))
                 if value != {"init": "factors", "step": 1.0}[key]}
        placement = {place: {**spec, **chain} for place, spec in placement.items()}
    import tf_keras as keras

    inputs = keras.Input((window_frames, num_features), name="features")
    outputs = _builder(arch)(inputs, blocks, dim, ffn_dim, num_classes, placement,
                             activation or DEFAULT_ACTIVATION[arch], heads, dropout, cls_dropout, cls_bias,
                             pool_norm and not deploy, {"pooling": pooling, "units": cls_units})
    name = f"{arch}_{preset if isinstance(preset, str) else 'x'.join(map(str, preset))}"
    return keras.Model(inputs, outputs, name=name)


def load_model(path) -> keras.Model:
    """A saved `.keras` model of this package: its custom layers are registered on import, which
    `build_model` would otherwise do (a resumed run or a later stage may load before it builds)."""
    import tf_keras as keras

    from ser_reparam.models import layers, losses  # noqa: F401  (registers the layers, HRFDense,
                                                   # activations and the distillation loss)

    return keras.models.load_model(path)


__all__ = ["build_model", "load_model", "resolve_preset", "Placement", "parse_hrf", "format_hrf", "PRESETS",
           "ARCHITECTURES"]
