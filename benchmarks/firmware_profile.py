"""Per-operator profile of a bundle's firmware (ser-reparam profile-firmware) as a results file.

To run:  TFLM_DIR=../shared/third_party/tflm python benchmarks/firmware_profile.py RUN --board stm32f4 \
             [--target cortex-m4|host] [--deployment whole-window|streaming] [--clips 4] [--name NAME]

Exports RUN's bundle for the board when --deployment is given (else profiles the one there),
builds its real firmware with the TFLM profiler, plays --clips test clips (checked against the
Python path as verify-firmware checks them) and writes benchmarks/results/<NAME>.md: per piece the
operators by type and by layer (instructions per Invoke, share, MACs, instructions per MAC, the
kernel that ran), each node, the machine, the compiler, QEMU and the TFLM tree with its flags.
Cortex-M4 counts come from `qemu-system-arm -icount shift=0` (instructions, NOT cycles).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from firmware_cost import version  # noqa: E402
from readme import machine_line, shown_path  # noqa: E402

from firmware_export import tflm_build  # noqa: E402
from firmware_export.kernels import tree_versions  # noqa: E402
from firmware_export.profile import (
    profile_firmware,  # noqa: E402
    summary,  # noqa: E402
)
from ser_reparam.bundles import export_run  # noqa: E402
from ser_reparam.experiment import load_run  # noqa: E402

HERE = Path(__file__).parent


def provenance(report: dict) -> str:
    """Compiler, emulator, tree and flags the numbers were measured with."""
    target = tflm_build.TARGETS[report["target"]]
    tree = Path(report["tree"])
    versions = tree_versions(tree)
    tools = [version(target.cxx)] + ([version("qemu-system-arm")] if target.runner != "host" else
                                     [version("valgrind")])
    flags = " ".join(f for f in target.compile_flags(tree) if not f.startswith("-I"))
    return (f"Tools: {'; '.join(tools)}. TFLM tree {shown_path(tree, '$TFLM_DIR')} (tflite-micro "
            f"{versions.get('tflite-micro', 'unknown')}), library and program compiled with `{flags}`.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder (runs/<name>/<variant>)")
    parser.add_argument("--board", default="stm32f4")
    parser.add_argument("--target", default="cortex-m4", choices=["cortex-m4", "host"])
    parser.add_argument("--deployment", choices=["whole-window", "streaming"], help="export this bundle first")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--tflm-dir", default=None)
    parser.add_argument("--name", help="results file name (default: firmware-profile-<run>-<deployment>-<target>)")
    args = parser.parse_args(argv)
    config = load_run(args.run)
    if args.tflm_dir:
        os.environ["TFLM_DIR"] = args.tflm_dir
    if args.deployment:
        export_run(config, args.board, deployment=args.deployment)
    with tempfile.TemporaryDirectory() as tmp:
        report = profile_firmware(config, args.board, args.target, args.tflm_dir, args.clips, Path(tmp),
                                  log=lambda m: print(m, file=sys.stderr))
    manifest = report["manifest"]
    deployment = manifest.get("deployment", "whole-window")
    name = args.name or f"firmware-profile-{config.name}-{deployment}-{args.target}"
    text = "\n".join([
        f"Bundle: {shown_path(args.run)} → {args.board}, {deployment} ({manifest['model']['source']}, "
        f"{manifest['model']['bytes']:,} B int8, window {manifest['window_seconds']:g} s); {args.clips} test clips.",
        "", summary(report, nodes=True), "",
        f"`python benchmarks/firmware_profile.py {shown_path(args.run)} --board {args.board} --target {args.target} "
        f"--clips {args.clips}` wrote this. {provenance(report)} {machine_line()}"])
    out = HERE / "results" / f"{name}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
