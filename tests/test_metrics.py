"""WA / UA / WF1 / MF1 on an imbalanced 4-class example computed by hand."""
import pytest

from ser_reparam.metrics import classification_metrics

# 10 examples: class 0 ×5, class 1 ×3, class 2 ×2, class 3 ×0 (absent from the data)
Y_TRUE = [0, 0, 0, 0, 0, 1, 1, 1, 2, 2]
Y_PRED = [0, 0, 0, 0, 1, 1, 0, 3, 2, 0]


def test_hand_computed_values():
    m = classification_metrics(Y_TRUE, Y_PRED, num_classes=4)
    # WA: 4 + 1 + 1 correct of 10
    assert m["wa"] == pytest.approx(0.6)
    # recalls: c0 4/5, c1 1/3, c2 1/2, c3 0 (no support) → UA = (0.8 + 1/3 + 0.5 + 0) / 4
    assert m["ua"] == pytest.approx((0.8 + 1 / 3 + 0.5 + 0.0) / 4)
    # precisions: c0 4/6, c1 1/2, c2 1/1, c3 0/1; F1 = 2PR/(P+R)
    f1 = [2 * (4 / 6) * 0.8 / (4 / 6 + 0.8), 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3), 2 * 1.0 * 0.5 / 1.5, 0.0]
    assert m["mf1"] == pytest.approx(sum(f1) / 4)
    assert m["wf1"] == pytest.approx((5 * f1[0] + 3 * f1[1] + 2 * f1[2]) / 10)
    assert m["wa"] != m["ua"] and m["wf1"] != m["mf1"]
    assert m["confusion"] == [[4, 1, 0, 0], [1, 1, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert m["count"] == 10


def test_perfect_predictions():
    m = classification_metrics([0, 1, 1, 2], [0, 1, 1, 2], num_classes=3)
    assert (m["wa"], m["ua"], m["wf1"], m["mf1"]) == (1.0, 1.0, 1.0, 1.0)


def test_agreement_counts_the_disagreements_at_int8_ties():
    import numpy as np

    from ser_reparam.evaluate import agreement

    scale = 0.05  # dequantized int8 logits: ties are equal values
    a = np.array([[3, 3, -1], [5, 2, 0], [1, 4, 2], [0, 1, 2]]) * scale  # example 0 ties: argmax 0
    # 0 differs at a tie, 2 differs outright
    b = np.array([[2, 3, -1], [5, 2, 0], [4, 1, 2], [0, 1, 2]]) * scale
    pair = agreement(a, b)
    assert pair == {"argmax_agreement": 0.5, "disagreements": 2, "disagreements_at_ties": 1, "identical": 2,
                    "max_logit_diff": pytest.approx(0.15)}
