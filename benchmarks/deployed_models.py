"""The "deployed models" table (docs/results-demo.md): fold, quantize and evaluate records of finished runs.

To run (each architecture with ffn2@8x1, int16x8 and 3 QAT epochs, on the demo corpus):
  for arch in convtransformer conformer speechformer; do
    ser-reparam run --config configs/demo.yaml --set runs_dir=OUT --set model.arch=$arch \
        --set quantize.int16x8=true --set quantize.qat_epochs=3; done
  python benchmarks/deployed_models.py OUT/demo [--docs]

One column per variant of the run folder that stage 07 evaluated (paths from each variant's
saved config through RunLayout), then the classic baselines and chance on the same test split (UA);
--docs rewrites the block.
"""
from __future__ import annotations

import json
import sys

from readme import publish

from ser_reparam.baseline import BASELINES, ensure_baselines
from ser_reparam.experiment import load_run
from ser_reparam.layout import RunLayout, variant_configs


def _pp(value: float, base: float) -> str:
    diff = 100 * (value - base)
    return f"{value:.3f} ({'±0' if abs(diff) < 0.05 else f'{diff:+.1f} pp'})"


def column(layout: RunLayout) -> dict[str, str]:
    evaluation = json.loads(layout.evaluation("json").read_text())
    fold = json.loads(layout.fold_record.read_text())
    models, pairs = evaluation["models"], evaluation["pairs"]
    seed = fold["seeds"][str(fold["deployed_seed"])]
    base = models["litert_float"]["ua"]
    optional = {name: models.get(name) for name in ("tflm_int16x8", "tflm_qat_int8")}
    return {
        "max \\|HRF − folded\\| logit on test": f"{pairs['keras_hrf vs keras_folded']['max_logit_diff']:.1e}",
        "max \\|folded Keras − float TFLite\\|":
            f"{pairs['keras_folded vs litert_float']['max_logit_diff']:.1e}",
        "params HRF → deployed": f"{seed['params_before']:,} → {seed['params_after']:,}",
        "UA float (LiteRT)": f"{base:.3f}",
        "UA int8 on TFLM (vs float)": _pp(models["tflm_int8"]["ua"], base),
        "UA int16x8 on TFLM": _pp(optional["tflm_int16x8"]["ua"], base) if optional["tflm_int16x8"] else "—",
        "UA QAT int8 on TFLM":
            _pp(optional["tflm_qat_int8"]["ua"], base) if optional["tflm_qat_int8"] else "—",
        "int8 argmax agreement LiteRT vs TFLM":
            f"{pairs['litert_int8 vs tflm_int8']['argmax_agreement']:.1%}",
        "int8 .tflite bytes": f"{models['tflm_int8']['bytes']:,}",
        "int8 TFLM arena bytes (measured)": f"{models['tflm_int8']['arena_bytes']:,}",
        "int16x8 bytes / arena": (f"{optional['tflm_int16x8']['bytes']:,} / "
                                  f"{optional['tflm_int16x8']['arena_bytes']:,}"
                                  if optional["tflm_int16x8"] else "—"),
        "host ms / clip: LiteRT int8, TFLM int8": f"{models['litert_int8']['ms_per_clip']:.1f}, "
                                                  f"{models['tflm_int8']['ms_per_clip']:.1f}",
        "test utterances": f"{evaluation['test_examples']}",
    }


def main(argv: list[str]) -> None:
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    layouts = [RunLayout(load_run(path.parent)) for path in variant_configs(argv[0])]
    columns = {layout.variant: column(layout) for layout in layouts if layout.evaluation("json").exists()}
    if not columns:
        raise SystemExit(f"{argv[0]}: no variant evaluated by stage 07 (reports/<variant>-evaluation.json); "
                         "run the commands above first")
    variants = sorted(columns)
    rows = list(next(iter(columns.values())))
    lines = ["| | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    lines += [f"| {row} | " + " | ".join(columns[v][row] for v in variants) + " |" for row in rows]
    baselines = ensure_baselines(layouts[0].config)["models"]  # one split, shared by every variant
    lines += [f"| UA {BASELINES[name]}, same split | " + " | ".join([f"{metrics['ua']:.3f}"] * len(variants))
              + " |"
              for name, metrics in baselines.items()]
    publish("deployed-models", "\n".join(lines), argv,
            "python benchmarks/deployed_models.py OUT/demo --docs (from the runs' records)")


if __name__ == "__main__":
    main(sys.argv[1:])
