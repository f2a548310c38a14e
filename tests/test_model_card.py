"""Stage 07's model card and confusion-matrix PNG of the deployed int8 model on TFLite Micro."""
import json

import numpy as np
import pytest

from ser_reparam.layout import RunLayout
from ser_reparam.model_card import evaluate_with_card, recalls


@pytest.fixture(scope="module")
def evaluated(deployed_run):
    return deployed_run, evaluate_with_card(deployed_run)


def test_card_holds_the_measured_numbers(evaluated):
    config, report = evaluated
    card = RunLayout(config).model_card.read_text()
    tflm = report["models"]["tflm_int8"]
    row = next(line for line in card.splitlines() if line.startswith("| TFLite Micro int8 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:5] == [f"{tflm[k]:.3f}" for k in ("wa", "ua", "wf1", "mf1")]
    expected = ["—" if r is None else f"{r:.2f}" for r in recalls(tflm["confusion"])]
    assert cells[5:] == expected and len(expected) == len(report["labels"])
    baselines = json.loads((config.run_dir / "baselines.json").read_text())["models"]
    assert f"| Chance (majority class) | {baselines['chance']['wa']:.3f} |" in card
    assert "| Logistic regression" in card and "| Linear SVM" in card and "| Keras (folded, float) |" in card
    assert f"{tflm['arena_bytes']:,} bytes (measured)" in card and "SYNTHETIC demo data" in card
    assert "Acted emotion" in card and "## Boards" in card and "- stm32f4:" in card
    assert "| test | " in card and "MACs per window" in card
    assert f"]({RunLayout(config).confusion_png.name})" in card


def test_confusion_png_is_an_image_of_the_tflm_matrix(evaluated):
    import matplotlib.image

    config, report = evaluated
    path = RunLayout(config).confusion_png
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > image.shape[0]  # a colour bar beside a square matrix
    assert np.sum(report["models"]["tflm_int8"]["confusion"]) == report["models"]["tflm_int8"]["count"]


def test_recalls():
    assert recalls([[3, 1], [0, 0]]) == [0.75, None]
