"""Seed aggregation, paper-style row names, markdown, JSON and plots."""
import json
import subprocess
import sys

import numpy as np
import pytest

from ser_reparam.report import (
    aggregate,
    collect,
    collect_baselines,
    markdown,
    row_name,
    variant_info,
    write_report,
)


def model_section(variant):
    """The model section a config.json of `variant` holds (the report reads it, not the name)."""
    arch, preset, rest = variant.split("-", 2)
    spec, _, activation = rest.partition("-")
    return {"arch": arch, "preset": preset, "hrf": spec, "activation": activation or None}


def fake_run(root, variant, seed, ua, params=8596):
    path = root / variant / "train" / f"seed-{seed}" / "metrics.json"
    path.parent.mkdir(parents=True)
    (root / variant / "config.json").write_text(json.dumps({"model": model_section(variant)}))
    test = {"wa": ua + 0.01, "ua": ua, "wf1": ua - 0.01, "mf1": ua - 0.02, "confusion": [[3, 1], [1, 3]],
            "count": 8}
    path.write_text(json.dumps({"variant": variant, "seed": seed, "test": test, "params": params,
                                "macs": 4_500_000, "labels": ["a", "b"]}))


@pytest.mark.parametrize("variant,name", [
    ("convtransformer-original-none", "Original"),
    ("convtransformer-lightweight-none", "Lightweight"),
    ("convtransformer-lightweight-ffn2@8x1", "FFN2"),
    ("convtransformer-lightweight-ffn1+ffn2@8x1", "FFN1 & FFN2"),
    ("convtransformer-lightweight-qkv+proj+ffn1+ffn2+cls@8x1", "ALL"),
    ("conformer-lightweight-qkv+proj+ffn1+ffn2+cls@8x1", "QKV & Project & FFN1 & FFN2 & CLS"),
    ("conformer-lightweight-ffn_m1@4x2-gelu", "FFN_M1 (r=4, N=2) [gelu]"),
    ("conformer-lightweight-all@8x1", "ALL"),
    ("convtransformer-lightweight-ffn2@4x1,cls@8x1", "FFN2 & CLS (r=4, N=1)"),
])
def test_row_names(variant, name):
    assert row_name(variant_info(model_section(variant))) == name


def test_a_variant_without_its_saved_config_is_named(tmp_path):
    fake_run(tmp_path, "convtransformer-lightweight-none", 0, 0.5)
    (tmp_path / "convtransformer-lightweight-none" / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        collect([tmp_path])


def test_aggregate_and_write(tmp_path):
    run = tmp_path / "runs" / "demo"
    for seed, ua in enumerate([0.5, 0.6, 0.7]):
        fake_run(run, "convtransformer-lightweight-none", seed, ua)
        fake_run(run, "convtransformer-lightweight-ffn2@8x1", seed, ua + 0.05)
        fake_run(run, "convtransformer-original-none", seed, ua + 0.1, params=800_624)
    for ratio in (2, 4):
        fake_run(run, f"convtransformer-lightweight-ffn2@{ratio}x1", 0, 0.55)
    rows = aggregate(collect([run]))
    assert [r["name"] for r in rows] == ["Original", "Lightweight", "FFN2 (r=2, N=1)",
                                         "FFN2 (r=4, N=1)", "FFN2"]
    light = rows[1]
    assert (light["ua"]["mean"] == pytest.approx(0.6)
            and light["ua"]["std"] == pytest.approx(np.std([0.5, 0.6, 0.7])))
    assert light["confusion"] == [[9, 3], [3, 9]]
    result = write_report([run])
    assert "| Original | 0.710 ± 0.082 | 0.700 ± 0.082 |" in result["markdown"]
    assert "| 800.6K | 4.5M |" in result["markdown"]
    names = {p.name for p in result["files"]}
    assert {"results.md", "results.json", "ua-vs-ratio.png"} <= names
    assert sum(n.startswith("confusion-") for n in names) == 5
    assert all(p.stat().st_size > 1000 for p in result["files"] if p.suffix == ".png")


def test_empty_run_folder_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `ser-reparam train` or `sweep` first"):
        collect([tmp_path])


def fake_fold_run(root, variant, fold, seed, ua):
    """A cross-validation run as made before the folders were cv-<k> (runs/<name>/fold-<k>/<variant>/…):
    still read."""
    fake_run(root / f"fold-{fold}", variant, seed, ua)
    path = root / f"fold-{fold}" / variant / "train" / f"seed-{seed}" / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "fold": fold}))


def test_paired_differences_pair_fold_and_seed(tmp_path):
    light, ffn2 = "convtransformer-lightweight-none", "convtransformer-lightweight-ffn2@8x1"
    uas = {(0, 0): 0.40, (0, 1): 0.50, (1, 0): 0.60, (1, 1): 0.30}
    for (fold, seed), ua in uas.items():
        fake_fold_run(tmp_path, light, fold, seed, ua)
        fake_fold_run(tmp_path, ffn2, fold, seed, ua + (0.02 if seed == 0 else 0.04))  # +0.03 ± 0.01
    (tmp_path / "fold-0" / "baselines.json").write_text(json.dumps(
        {"fold": 0, "labels": ["a", "b"],
         "models": {"logreg": {**{k: 0.55 for k in ("wa", "ua", "wf1", "mf1")},
                              "confusion": [[1, 0], [0, 1]], "params": 0, "macs": 0}}}))
    rows = {row["variant"]: row for row in aggregate(collect([tmp_path]), collect_baselines([tmp_path]))}
    diff = rows[ffn2]["paired"]
    assert diff["n"] == 4 and diff["mean"] == pytest.approx(0.03)
    # t(0.975, 3) = 3.182; std of [.02, .04, .02, .04] (ddof 1) = 0.011547
    assert diff["ci95"] == pytest.approx(3.1824 * 0.011547 / 2, rel=1e-3)
    assert rows[light]["paired"] is None and rows[ffn2]["against"] == "Lightweight"
    assert (rows["logreg"]["paired"]["n"] == 1
            and rows["logreg"]["paired"]["mean"] == pytest.approx(0.55 - 0.45))
    text = markdown(list(rows.values()), "t")
    assert "| reference |" in text and "| +0.030 ± 0.018 (4) |" in text
    assert "| +0.100 ± n/a (1) |" in text


def test_two_run_folders_are_compared_pair_by_pair(tmp_path):
    light = "convtransformer-lightweight-none"
    for name, shift in (("recipe-a", 0.0), ("recipe-b", 0.05)):
        for seed, ua in enumerate([0.4, 0.5, 0.6]):
            fake_fold_run(tmp_path / name, light, 0, seed, ua + shift)
    rows = aggregate(collect([tmp_path / "recipe-a", tmp_path / "recipe-b"]), against=f"recipe-a/{light}")
    assert [row["name"] for row in rows] == ["recipe-a: Lightweight", "recipe-b: Lightweight"]
    assert (rows[1]["paired"]["mean"] == pytest.approx(0.05)
            and rows[1]["paired"]["ci95"] == pytest.approx(0, abs=1e-9))
    with pytest.raises(FileNotFoundError, match="report --against 'nope': no such variant"):
        aggregate(collect([tmp_path / "recipe-a"]), against="nope")
    for name in ("recipe-a", "recipe-b"):  # each experiment holds the fold's baselines
        (tmp_path / name / "fold-0" / "baselines.json").write_text(json.dumps(
            {"fold": 0, "labels": ["a", "b"],
             "models": {"chance": {**{k: 0.5 for k in ("wa", "ua", "wf1", "mf1")},
                                "confusion": [[1, 0], [1, 0]], "params": 0, "macs": 0}}}))
    # the fold once
    assert len(collect_baselines([tmp_path / "recipe-a", tmp_path / "recipe-b"])["chance"]) == 1
    write_report([tmp_path / "recipe-a", tmp_path / "recipe-b"], tmp_path / "out")  # plots too
    assert sorted(p.name for p in (tmp_path / "out").glob("confusion-*.png")) == ["confusion-chance.png",
        f"confusion-recipe-a_{light}.png", f"confusion-recipe-b_{light}.png"]


def test_report_runs_without_tensorflow(tmp_path):
    """`report` is TensorFlow-free: no import (seconds, not ~9 s) and not one start-up line."""
    fake_run(tmp_path / "demo", "convtransformer-lightweight-ffn2@8x1", 0, 0.5)
    code = ("import sys; from ser_reparam.cli import main; status = main(['report', sys.argv[1]]); "
            "sys.exit(3 if 'tensorflow' in sys.modules or 'tf_keras' in sys.modules else status)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "demo")], capture_output=True,
                          text=True)
    assert done.returncode == 0 and done.stderr == ""
    assert "| FFN2 |" in done.stdout
