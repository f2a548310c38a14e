"""Conformer (Gulati et al. 2020): macaron FFN, MHSA, convolution module, FFN, LayerNorm per block.

Same subsampling front end and classifier as the ConvTransformer. Every module is
pre-LayerNorm with a residual; the two FFNs are added with weight ½. Attention uses absolute
sinusoidal positions (added after subsampling) rather than relative ones, which keeps the
graph to ops TFLite Micro has. Original [4, 80, 320] has 786K parameters (paper: 809K);
lightweight [1, 16, 2] has 10.1K (paper: 10K).
"""
from __future__ import annotations

from ser_reparam.models.layers import (
    ConvModule,
    FeedForward,
    MultiHeadSelfAttention,
    classifier_head,
    conv_subsampling,
    layer_norm,
    residual,
)

CONV_KERNEL = 31


def build_conformer(inputs, blocks: int, dim: int, ffn_dim: int, num_classes: int, hrf: dict,
                    activation: str, heads: int, dropout: float, cls_dropout: float,
                    cls_bias: float, pool_norm: bool = False, head: dict | None = None):
    x = conv_subsampling(inputs, dim, dropout, positions=True)
    for i in range(1, blocks + 1):
        name = f"block{i}"
        h = layer_norm(f"{name}_ffn_m_norm")(x)
        h = FeedForward(dim, ffn_dim, activation, dropout, role="ffn_m", hrf=hrf, name=f"{name}_ffn_m")(h)
        x = residual(x, h, f"{name}_ffn_m", dropout, weight=0.5)
        h = MultiHeadSelfAttention(dim, heads, dropout=dropout, hrf=hrf,
                                   name=f"{name}_mhsa")(layer_norm(f"{name}_mhsa_norm")(x))
        x = residual(x, h, f"{name}_mhsa", dropout)
        h = ConvModule(dim, CONV_KERNEL, dropout, name=f"{name}_conv")(layer_norm(f"{name}_conv_norm")(x))
        x = residual(x, h, f"{name}_conv", 0.0)
        h = layer_norm(f"{name}_ffn_norm")(x)
        h = FeedForward(dim, ffn_dim, activation, dropout, role="ffn", hrf=hrf, name=f"{name}_ffn")(h)
        x = layer_norm(f"{name}_out_norm")(residual(x, h, f"{name}_ffn", dropout, weight=0.5))
    return classifier_head(x, dim, num_classes, hrf, cls_dropout, cls_bias, pool_norm, **(head or {}))
