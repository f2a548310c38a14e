"""The commands outside the runner: prepare, make-demo-data, fold-demo, predict and report (the
last two never train; report and make-demo-data never import TensorFlow)."""
from __future__ import annotations

import sys
from pathlib import Path

from ser_reparam.cli.run_config import quiet_tensorflow


def cmd_prepare(args) -> int:
    """Build a manifest from your copy of a corpus; print what was kept and excluded, by reason."""
    quiet_tensorflow()
    from ser_reparam.data.prepare import prepare_manifest, summary_path

    options = {"fold": args.fold, "clip_seconds": args.clip_seconds, "seed": args.seed,
               "csv_file": args.csv_file,
               "labels": args.labels.split(",") if args.labels else None}
    report = prepare_manifest(args.dataset, args.root, args.out, audio_cache=args.audio_cache,
                              **{name: value for name, value in options.items() if value is not None})
    print(report.table())
    print(f"manifest: {args.out}\n"
          f"summary:  {summary_path(Path(args.out))}")
    return 0


def cmd_make_demo_data(args) -> int:
    """Generate the built-in SYNTHETIC demo corpus (WAV files + manifest.csv)."""
    from ser_reparam.data.synthetic import make_demo_corpus

    manifest = make_demo_corpus(args.out, seed=args.seed, speakers=args.speakers, per_class=args.per_class)
    print(f"synthetic demo corpus written: {manifest}")
    return 0


def cmd_fold_demo(args) -> int:
    """Train a small HRF classifier on random data, fold it, and show that nothing changed."""
    quiet_tensorflow()
    from ser_reparam.fold_demo import run_fold_demo

    run_fold_demo(seed=args.seed, epochs=args.epochs)
    return 0


def cmd_predict(args) -> int:
    """Classify audio files or folders with a run folder's model or a deployed .tflite (label and
    class probabilities per window and per clip). Exit 1 when any file could not be read."""
    from ser_reparam.predict import Predictor, audio_files, format_results, predict_files, refuse_overwriting

    paths, skipped = audio_files(args.audio)
    if args.out:
        refuse_overwriting(args.out, [*paths, *skipped, args.model])
    predictor = Predictor.load(args.model, args.backend, args.variant_model, args.hop)
    for path in skipped:
        print(f"ser-reparam predict: skipped {path}: not an audio file name (give it by name to try it)",
              file=sys.stderr)
    clips, failed = [], 0
    for path, clip, error in predict_files(predictor, paths):
        if clip is None:
            failed += 1
            print(f"ser-reparam predict: skipped {path}: {error}", file=sys.stderr)
        else:
            clips.append(clip)
    text = format_results(clips, predictor.labels, args.format)
    if args.out:
        from ser_reparam.files import atomic_write_text

        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    if failed or not paths:
        print(f"ser-reparam predict: {failed} of {len(paths)} file(s) could not be classified"
              if paths else "ser-reparam predict: no audio files given or found", file=sys.stderr)
        return 1
    return 0


def cmd_report(args) -> int:
    """Aggregate trained seeds of one or more run folders into tables and plots."""
    from ser_reparam.report import write_report

    result = write_report(args.run_dirs, args.out, args.metric, args.against)
    print(result["markdown"])
    print("written: " + ", ".join(str(p) for p in result["files"]))
    return 0
