"""ConvTransformer: convolutional subsampling front end, Transformer blocks, classifier.

The blocks are post-LayerNorm (x = LN(x + MHSA(x)), x = LN(x + FFN(x))) as in the original
Transformer and in the authors' Transformer baseline, without position encoding (that
baseline's default; the subsampling convolutions see local order). Original [8, 80, 320]
has 800.6K parameters (paper: 801K); lightweight [1, 16, 4] has 8.6K (paper: 9K).
"""
from __future__ import annotations

from ser_reparam.models.layers import (
    FeedForward,
    MultiHeadSelfAttention,
    classifier_head,
    conv_subsampling,
    layer_norm,
    residual,
)


def build_convtransformer(inputs, blocks: int, dim: int, ffn_dim: int, num_classes: int, hrf: dict,
                          activation: str, heads: int, dropout: float, cls_dropout: float,
                          cls_bias: float, pool_norm: bool = False, head: dict | None = None):
    x = conv_subsampling(inputs, dim, dropout, positions=False)
    for i in range(1, blocks + 1):
        h = MultiHeadSelfAttention(dim, heads, dropout=dropout, hrf=hrf, name=f"block{i}_mhsa")(x)
        x = layer_norm(f"block{i}_mhsa_norm")(residual(x, h, f"block{i}_mhsa", dropout))
        h = FeedForward(dim, ffn_dim, activation, dropout, hrf=hrf, name=f"block{i}_ffn")(x)
        x = layer_norm(f"block{i}_ffn_norm")(residual(x, h, f"block{i}_ffn", dropout))
    return classifier_head(x, dim, num_classes, hrf, cls_dropout, cls_bias, pool_norm, **(head or {}))
