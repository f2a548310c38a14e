"""Quantization-aware training of a folded model with tensorflow-model-optimization (tfmot).

tfmot quantizes Dense and Conv2D by itself; the project's blocks get QuantizeConfigs here:
the kernels of their dense / convolution sublayers are fake-quantized to int8 (per tensor,
symmetric, as tfmot does for Dense) and their outputs to int8 (moving-average ranges).
Left in float during the fine-tuning, and calibrated only by the representative set at
conversion: activations *inside* a block (attention scores and softmax, the FFN hidden
activation, the GLU gate, LayerNorm statistics) and biases (int32 at conversion anyway).
"""
from __future__ import annotations

import tensorflow_model_optimization as tfmot
import tf_keras as keras

from ser_reparam.models.layers import (
    ConvModule,
    FeedForward,
    LayerNorm,
    MergeBlock,
    MultiHeadSelfAttention,
    PositionalEncoding,
)

quantizers = tfmot.quantization.keras.quantizers

# block class -> (sublayer attribute, kernel attribute) pairs whose kernels are fake-quantized
KERNELS = {
    MultiHeadSelfAttention: (("qkv", "kernel"), ("proj", "kernel")),
    FeedForward: (("fc1", "kernel"), ("fc2", "kernel")),
    ConvModule: (("pointwise_in", "kernel"), ("depthwise", "depthwise_kernel"), ("pointwise_out", "kernel")),
    MergeBlock: (("dense", "kernel"),),
    LayerNorm: (),
    PositionalEncoding: (),
}


@keras.saving.register_keras_serializable(package="ser_reparam")
class BlockQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """Fake-quantizes named sublayer kernels and the block's output."""

    def __init__(self, kernels):
        self.kernels = [tuple(pair) for pair in kernels]

    def get_weights_and_quantizers(self, layer):
        return [(getattr(getattr(layer, sub), attr),
                 quantizers.LastValueQuantizer(num_bits=8, per_axis=False, symmetric=True,
                                               narrow_range=False))
                for sub, attr in self.kernels]

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        for (sub, attr), weight in zip(self.kernels, quantize_weights):
            setattr(getattr(layer, sub), attr, weight)

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                  narrow_range=False)]

    def get_config(self):
        return {"kernels": self.kernels}


def quantize_aware(model: keras.Model) -> keras.Model:
    """The folded `model` with fake-quant on every Dense / Conv2D and on the project's blocks."""
    annotate = tfmot.quantization.keras.quantize_annotate_layer

    def clone(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if type(layer) in KERNELS:
            return annotate(fresh, quantize_config=BlockQuantizeConfig(KERNELS[type(layer)]))
        if type(layer) in (keras.layers.Dense, keras.layers.Conv2D):
            return annotate(fresh)
        return fresh

    annotated = keras.models.clone_model(model, clone_function=clone)
    annotated.set_weights(model.get_weights())
    with tfmot.quantization.keras.quantize_scope({"BlockQuantizeConfig": BlockQuantizeConfig}):
        return tfmot.quantization.keras.quantize_apply(annotated)
