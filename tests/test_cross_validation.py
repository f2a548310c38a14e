"""Speaker cross-validation from the CLI, baselines beside the models, collapse marks in reports."""
import json

import pytest
from conftest import write_tiny_config

from ser_reparam.cli import main
from ser_reparam.report import aggregate, collect, collect_baselines, markdown


def write_config(tmp_path):
    return write_tiny_config(tmp_path, "none", 2, 0.0)


def test_train_every_fold_then_report_over_folds_with_baselines(tmp_path, capsys):
    assert main(["train", "--config", str(write_config(tmp_path)), "--cv-folds", "2"]) == 0
    out = capsys.readouterr().out
    assert "fold 0: seed 0:" in out and "fold 1: seed 0:" in out
    assert "mean ± std over 2 speaker folds × 1 seeds" in out
    for row in ("| Lightweight", "| Logistic regression (78-feature utterance stats) |",
                "| Logistic regression (eGeMAPS v02, 88 functionals) |",
                "| Linear SVM (eGeMAPS v02, 88 functionals) |",
                "| Linear SVM (78-feature utterance stats) |", "| Chance (majority class) |"):
        assert row in out
    base = tmp_path / "runs" / "tiny"
    folds = [json.loads((base / f"cv-{k}" / "baselines.json").read_text()) for k in (0, 1)]
    assert [f["cv_fold"] for f in folds] == [0, 1]
    # the two folds test disjoint speakers and together cover every speaker once
    metrics = [json.loads(p.read_text()) for p in sorted(base.glob("cv-*/*/train/seed-0/metrics.json"))]
    speakers = [m["test_speakers"] for m in metrics]
    assert (len(speakers) == 2 and not set(speakers[0]) & set(speakers[1])
            and len(speakers[0] + speakers[1]) == 5)
    # the chance row is what predicting the majority class scores: UA = 1 / classes
    assert all(f["models"]["chance"]["ua"] == pytest.approx(1 / len(f["labels"])) for f in folds)
    # baselines are reused while their inputs hold
    stamp = (base / "cv-0" / "baselines.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["train", "--config", str(write_config(tmp_path)), "--folds", "2", "--fold", "0"]) == 0
    assert (base / "cv-0" / "baselines.json").stat().st_mtime_ns == stamp
    # the old option spellings still work, one line each says the new one
    err = capsys.readouterr().err
    assert "--folds is deprecated: write --cv-folds" in err and "--fold is deprecated: write --cv-fold" in err


def test_collapsed_runs_are_marked(tmp_path):
    for seed, collapsed in ((0, False), (1, True)):
        path = (tmp_path / "fold-0" / "convtransformer-lightweight-none" / "train" / f"seed-{seed}"
                / "metrics.json")
        path.parent.mkdir(parents=True)
        (path.parents[2] / "config.json").write_text(json.dumps(
            {"model": {"arch": "convtransformer", "preset": "lightweight", "hrf": None, "activation": None}}))
        test = {"wa": 0.5, "ua": 0.5, "wf1": 0.5, "mf1": 0.5, "confusion": [[1, 1], [1, 1]]}
        path.write_text(json.dumps({"variant": "convtransformer-lightweight-none", "seed": seed, "fold": 0,
                                    "test": test, "params": 8596, "macs": 1, "labels": ["a", "b"],
                                    "collapsed": collapsed}))
    rows = aggregate(collect([tmp_path]), collect_baselines([tmp_path]))
    assert rows[0]["collapsed"] == 1 and rows[0]["runs"] == 2
    text = markdown(rows, "t")
    assert "| Lightweight ⚠ 1/2 runs collapsed |" in text and "over 1 speaker folds × 2 seeds" in text


def test_deployed_seed_is_never_a_collapsed_one_unless_all_are(tmp_path):
    from ser_reparam.config import parse_config
    from ser_reparam.dehrf import choose_seed
    from ser_reparam.layout import RunLayout

    config = parse_config({"name": "x", "runs_dir": str(tmp_path), "data": {"dataset": "demo", "root": "c"}})

    def write(seed, ua, collapsed):
        path = RunLayout(config).seed_metrics(seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"val": {"ua": ua}, "collapsed": collapsed}))

    write(0, 0.40, False)
    write(1, 0.45, True)    # best on validation, but collapsed
    write(2, 0.42, False)
    assert choose_seed(config, [0, 1, 2]) == (2, [1])
    write(0, 0.40, True)
    write(2, 0.42, True)
    assert choose_seed(config, [0, 1, 2]) == (1, [0, 1, 2])


def test_demo_summary_carries_the_baselines_and_chance():
    from ser_reparam.demo import summary_markdown

    row = {"variant": "convtransformer-lightweight-none", "train_params": 8596, "params": 8596,
           "metrics": {k: {"ua": 0.6, "wf1": 0.55} for k in ("Keras", "int8 LiteRT", "int8 TFLM")},
           "agreement": 0.99, "test_examples": 96, "model_bytes": 19520, "arena_bytes": 123648,
           "boards": {"esp32s3": {"fits": True, "ram_used": 1, "ram_budget": 2}},
           "side_by_side": {"models": {k: {"ua": 0.6, "wf1": 0.55} for k in ("litert_int8", "tflm_int8")},
                            "pairs": {}, "deployments": {
                                "whole_window": {"arena_bytes": 75000, "ram_bytes": 75000,
                                                 "flash_bytes": 29000,
                                                 "metadata_bytes": 4000, "ms_per_clip": 2.0},
                                "streaming": {"streams": False, "why": "ConvTransformer only"}}}}
    metrics = {"ua": 0.5, "wf1": 0.45}
    baselines = {"models": {"logreg": {**metrics, "params": 1252}, "linear_svm": {**metrics, "params": 1252},
                            "chance": {"ua": 0.25, "wf1": 0.1, "params": 0}}}
    text = summary_markdown([row], baselines)
    assert "| Logistic regression (78-feature utterance stats) | 1,252 | 0.500 / 0.450 | — | — |" in text
    assert "| Chance (majority class) | — | 0.250 / 0.100 | — |" in text
    table, _, side_by_side = text.partition("Whole window vs streaming")
    assert all(line.count("|") == table.splitlines()[2].count("|") for line in table.splitlines()[2:]
               if line.startswith("|"))
    rows = [line for line in side_by_side.splitlines() if line.startswith("|")]
    # header, rule, whole window, streaming
    assert len({row.count("|") for row in rows}) == 1 and len(rows) == 4
    assert ("| convtransformer-lightweight-none | whole window | 75,000 | 75,000 | 29,000 (metadata 4,000) |"
            in text)
    assert "| streaming | does not stream: ConvTransformer only |" in text
    assert ("- convtransformer-lightweight-none: "
            "[model card](convtransformer-lightweight-none-model-card.md), "
            "[confusion matrix of int8 on TFLite Micro](convtransformer-lightweight-none-confusion-tflm.png)"
            in text)
    # the README's copy names the files in the run instead of links that would be broken there
    elsewhere = summary_markdown([row], baselines, reports="OUT/demo/reports")
    assert "model card `OUT/demo/reports/convtransformer-lightweight-none-model-card.md`" in elsewhere
    assert "](" not in elsewhere
