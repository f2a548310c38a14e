"""SpeechFormer (Chen et al. 2022): hierarchical local attention with merging between stages.

Input: a dense layer from the 78 features to the model dim (the paper's addition). Stages
follow speech units at a 10 ms hop: frame (window 50 ms, merge 50 ms), phoneme (window 400 ms,
merge 250 ms), word (window 2 s, merge 1 s) and utterance (global attention); window lengths
in a stage's own frames are rounded up to odd. Blocks are post-LayerNorm as in the reference
implementation, the first stage adds sinusoidal positions to the attention input, and the
model dim is kept across stages (SpeechFormer-S). The L blocks are spread over min(L, 4)
stages, later stages taking any remainder: original [8, 80, 64] → 2+2+2+2 blocks, 324K
parameters (paper: 323K); lightweight [1, 16, 4] → one frame stage, 3.1K (paper: 3K).
"""
from __future__ import annotations

import tf_keras as keras

from ser_reparam.models.layers import (
    FeedForward,
    MergeBlock,
    MultiHeadSelfAttention,
    PositionalEncoding,
    classifier_head,
    layer_norm,
    residual,
)

WINDOW_MS = (50, 400, 2000, None)   # local attention span per stage, None = global
MERGE_MS = (50, 250, 1000, None)    # merge span after each stage, None = no merge
HOP_MS = 10


def stage_plan(blocks: int) -> list[dict]:
    """Per stage: number of blocks, attention window and merge scale, in that stage's frames."""
    stages = min(blocks, len(WINDOW_MS))
    counts = [blocks // stages + (1 if i >= stages - blocks % stages else 0) for i in range(stages)]
    plan, frame_ms = [], HOP_MS
    for count, window_ms, merge_ms in zip(counts, WINDOW_MS, MERGE_MS):
        window = None if window_ms is None else window_ms // frame_ms
        plan.append({
            "blocks": count,
            "window": None if window is None else window + (window % 2 == 0),
            "merge": None if merge_ms is None else merge_ms // frame_ms,
        })
        frame_ms = merge_ms or frame_ms
    return plan


def build_speechformer(inputs, blocks: int, dim: int, ffn_dim: int, num_classes: int, hrf: dict,
                       activation: str, heads: int, dropout: float, cls_dropout: float,
                       cls_bias: float, pool_norm: bool = False, head: dict | None = None):
    x = keras.layers.Dense(dim, name="input_proj")(inputs)
    index = 0
    for s, stage in enumerate(stage_plan(blocks), start=1):
        x = layer_norm(f"stage{s}_norm")(x)
        for _ in range(stage["blocks"]):
            index += 1
            name = f"block{index}"
            h = PositionalEncoding(name=f"{name}_positions")(x) if s == 1 else x
            h = MultiHeadSelfAttention(dim, heads, window=stage["window"], dropout=dropout, hrf=hrf,
                                       name=f"{name}_mhsa")(h)
            x = layer_norm(f"{name}_mhsa_norm")(residual(x, h, f"{name}_mhsa", dropout))
            h = FeedForward(dim, ffn_dim, activation, dropout, hrf=hrf, name=f"{name}_ffn")(x)
            x = layer_norm(f"{name}_ffn_norm")(residual(x, h, f"{name}_ffn", dropout))
        if stage["merge"] is not None:
            x = MergeBlock(dim, stage["merge"], name=f"stage{s}_merge")(x)
    return classifier_head(x, dim, num_classes, hrf, cls_dropout, cls_bias, pool_norm, **(head or {}))
