"""Why HRF trains differently: the folded kernel of an HRF layer beside its plain twin, epoch by epoch.

To run:  SER_EMODB_DIR=/path/to/emodb-8spk python benchmarks/hrf_dynamics.py \
             [--corpus emodb|ravdess] [--layer block1_ffn/ffn2 …] [--folds 0,3] [--seeds 0,1]
             [--arm "NAME|HRF-SPEC|KEY=VALUE,…" …] [--runs runs/dynamics] [--block hrf-dynamics]

For each fold and seed it trains the Lightweight model of configs/<corpus>-convtransformer.yaml
and the HRF arms (default: ffn2@8x1 with independent Glorot factors, with matched init, and
with matched init and step 0.5), recording with ser_reparam.dynamics.WeightDynamics the kernel
each watched layer deploys: its norm, singular values, relative step per batch and gradient norm,
and the test UA per epoch (for diagnosis only; training keeps the last epoch as the config says).
Writes benchmarks/results/<block>.json, a summary table <block>.md and plots
<block>-<quantity>.png (mean over folds and seeds per arm, one panel per layer).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from readme import TRAINING_PACKAGES, docs_option, machine, write_block  # noqa: E402
from speaker_cv import CORPORA  # noqa: E402

DEFAULT_ARMS = ["hrf|ffn2@8x1|", "matched|ffn2@8x1|model.hrf_init=matched",
                "matched-step0.5|ffn2@8x1|model.hrf_init=matched,model.hrf_step=0.5"]
QUANTITIES = {"norm": "‖W‖_F", "step": "mean ‖ΔW‖/‖W‖ per batch", "grad_norm": "‖∂L/∂W‖ (probe batch)",
              "test_ua": "test UA", "top_sv": "largest singular value"}


def train_arm(config, seed: int, layers: list[str]):
    from ser_reparam.data.scoring import score, split_arrays
    from ser_reparam.dynamics import WeightDynamics
    from ser_reparam.experiment import feature_store, labels_for, prepare_run_manifest
    from ser_reparam.stages import s02_features
    from ser_reparam.train import train_seed

    prepare_run_manifest(config)
    s02_features.run(config)
    store, labels = feature_store(config), labels_for(config)
    x, y, _ = split_arrays(store, "train", labels)
    tx, ty, tids = split_arrays(store, "test", labels)
    probe = WeightDynamics(layers, (x[:64], y[:64]), (tx, ty),
                           lambda logits: score(logits, ty, tids, len(labels))["ua"])
    metrics = train_seed(config, seed, verbose=0, callbacks=[probe])
    if not probe.records[layers[0]]:
        raise SystemExit(f"{config.run_dir}: seed {seed} was already trained; give a fresh --runs folder")
    return {"records": {layer: probe.records[layer] for layer in layers}, "test_ua": probe.test_ua,
            "final_ua": metrics["test"]["ua"]}


def summarize(results: list[dict], arms: list[str], layers: list[str]) -> str:
    import numpy as np

    lines = ["| arm | layer | final test UA | ‖W‖ start → end | largest σ end | mean step, epochs 1–5 | mean "
             "step, last 5 | ‖∂L/∂W‖ epoch 1 |", "|---|---|---|---|---|---|---|---|"]
    for arm in arms:
        runs = [r for r in results if r["arm"] == arm]
        cell = lambda f: f"{np.mean([f(r) for r in runs]):.3g} ± {np.std([f(r) for r in runs]):.2g}"  # noqa: E731
        for layer in layers:
            of = lambda r: r["records"][layer]  # noqa: E731
            lines.append(f"| {arm} | {layer} | {cell(lambda r: r['final_ua'])} | "
                         f"{cell(lambda r: of(r)[0]['norm'])} → "
                         f"{cell(lambda r: of(r)[-1]['norm'])} | "
                         f"{cell(lambda r: of(r)[-1]['singular_values'][0])} | "
                         f"{cell(lambda r: np.mean([e['step'] for e in of(r)[:5]]))} | "
                         f"{cell(lambda r: np.mean([e['step'] for e in of(r)[-5:]]))} | "
                         f"{cell(lambda r: of(r)[0]['grad_norm'])} |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], arms: list[str], layers: list[str], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    for key, label in QUANTITIES.items():
        panels = [None] if key == "test_ua" else layers
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 + 3.2 * (len(panels) - 1), 3.6), squeeze=False)
        for ax, layer in zip(axes[0], panels):
            for arm in arms:
                runs = [r for r in results if r["arm"] == arm]
                if key == "test_ua":
                    curves = [r["test_ua"] for r in runs]
                elif key == "top_sv":
                    curves = [[e["singular_values"][0] for e in r["records"][layer]] for r in runs]
                else:
                    curves = [[e[key] for e in r["records"][layer]] for r in runs]
                mean = np.mean(curves, axis=0)
                ax.plot(range(1, len(mean) + 1), mean, label=arm)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            if layer:
                ax.set_title(layer, fontsize=8)
            if key in ("step", "grad_norm"):
                ax.set_yscale("log")
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out.with_name(f"{out.stem}-{key}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="emodb")
    parser.add_argument("--layer", action="append",
                        help="a dense sublayer to watch, repeatable (default block1_ffn/ffn2)")
    parser.add_argument("--folds", default="0,3")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--arm", action="append", help="NAME|HRF-SPEC|KEY=VALUE,… (default: three ffn2 arms)")
    parser.add_argument("--runs", default="runs/dynamics")
    parser.add_argument("--block", default="hrf-dynamics", help="results file name and docs block")
    docs_option(parser)
    args = parser.parse_args()
    variable, marker = CORPORA[args.corpus]
    root = os.environ.get(variable, "")
    if not root or not Path(root, marker).exists():
        raise SystemExit(f"set {variable} to the {args.corpus} corpus folder (the one holding {marker})")
    layers = args.layer or ["block1_ffn/ffn2"]

    from ser_reparam.config import load_config
    from ser_reparam.train import configure_threads

    configure_threads(1)
    arms = [("lightweight", "none", [])] + [(a.split("|")[0], a.split("|")[1],
                                             [o for o in a.split("|")[2].split(",") if o])
                                            for a in (args.arm or DEFAULT_ARMS)]
    config_path = HERE.parent / "configs" / f"{args.corpus}-convtransformer.yaml"
    start, results = time.perf_counter(), []
    for fold in map(int, args.folds.split(",")):
        for seed in map(int, args.seeds.split(",")):
            for name, spec, overrides in arms:
                config = load_config(str(config_path), [f"data.root={root}", f"runs_dir={args.runs}",
                                                        f"name={args.block}-{name}", f"data.cv_fold={fold}",
                                                        f"model.hrf={spec}", *overrides])
                results.append({"arm": name, "fold": fold, "seed": seed,
                                **train_arm(config, seed, layers)})
                print(f"fold {fold} seed {seed} {name}: test UA {results[-1]['final_ua']:.3f}", flush=True)
    out = HERE / "results" / f"{args.block}.json"
    names = [name for name, _, _ in arms]
    out.write_text(json.dumps(results) + "\n")
    plots = plot(results, names, layers, out)
    minutes = (time.perf_counter() - start) / 60
    corpus = Path(root).name
    text = (f"Layers {', '.join(layers)}, {corpus} folds {args.folds} × seeds {args.seeds}, mean ± std over "
            "those runs.\n\n"
            + summarize(results, names, layers)
            + f"\nArms — "
            f"{'; '.join(f'{n}: hrf {s}' + (', ' + ', '.join(o) if o else '') for n, s, o in arms)}. "
            f"`python benchmarks/hrf_dynamics.py --corpus {args.corpus} "
            f"{' '.join(f'--layer {layer}' for layer in layers)} --folds {args.folds} --seeds {args.seeds}"
            f"{''.join(f' --arm {chr(34)}{a}{chr(34)}' for a in args.arm or [])}"
            f"{f' --block {args.block}' if args.block != 'hrf-dynamics' else ''}`; "
            f"{len(results)} runs, {minutes:.0f} min on: {machine(TRAINING_PACKAGES)}.\n")
    (HERE / "results" / f"{args.block}.md").write_text(text, encoding="utf-8")
    write_block(args.block, text, sys.argv[1:])
    print(text)
    print("written:", out, *plots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
