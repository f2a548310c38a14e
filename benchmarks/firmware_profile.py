"""Per-operator profile of a bundle's firmware (ser-reparam profile-firmware) as a results file.

To run:  TFLM_DIR=../shared/third_party/tflm python benchmarks/firmware_profile.py RUN --board stm32f4 \
             [--target cortex-m4|host] [--deployment whole-window|streaming] [--clips 4] [--name NAME] \
             [--docs [PAGE]] [--block KEY]

Exports RUN's bundle for the board when --deployment is given (else profiles the one there),
builds its real firmware with the TFLM profiler, plays --clips test clips (checked against the
Python path as verify-firmware checks them) and writes benchmarks/results/<NAME>.md: per piece the
operators by type and by layer (instructions per Invoke, share, MACs, instructions per MAC, the
kernel that ran), each node, the machine, the compiler, QEMU and the TFLM tree with its flags.
Cortex-M4 counts come from `qemu-system-arm -icount shift=0` (instructions, NOT cycles).
With --docs it also writes the tables (no per-node rows) and the latency at the board's clock
into block --block (default firmware-profile) of docs/results-performance.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from firmware_cost import version  # noqa: E402
from readme import docs_option, machine_line, publish, shown_path  # noqa: E402

from firmware_export import tflm_build  # noqa: E402
from firmware_export.boards import get_board  # noqa: E402
from firmware_export.kernels import tree_versions  # noqa: E402
from firmware_export.profile import (
    profile_firmware,  # noqa: E402
    summary,  # noqa: E402
)
from ser_reparam.bundles import export_run  # noqa: E402
from ser_reparam.experiment import load_run  # noqa: E402
from ser_reparam.firmware_inputs import firmware_inputs, layer_names  # noqa: E402

HERE = Path(__file__).parent
# the published anchor (issue 28): MLPerf Tiny v1.3 keyword spotting, STMicroelectronics' entry
MLPERF_KWS_MACS, MLPERF_KWS_MS, MLPERF_KWS_MHZ = 2.66e6, 43.4, 120
MLPERF_CYCLES_PER_MAC = MLPERF_KWS_MS * 1e3 * MLPERF_KWS_MHZ / MLPERF_KWS_MACS


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


def latency(report: dict, mhz: int) -> str:
    """The work per Invoke (per label and per second of audio when streaming) as milliseconds at the
    board's clock, one cycle per instruction (a lower bound), beside the MLPerf anchor's cycles per MAC."""
    pieces = {p.name: p for p in report["pieces"]}
    rows = [(f"{p.name}, one Invoke", p.invoke_instructions or p.op_instructions, p.macs)
            for p in report["pieces"]]
    per_second = None
    if "model" not in pieces:
        stream = report["manifest"]["streaming"]
        chunks = stream["steps"] // stream["chunk"]
        label = report["totals"].get("label") or (chunks * pieces["attend"].op_instructions
                                                  + pieces["classify"].op_instructions)
        rows.append((f"attend × {chunks} chunks + classify, one label", label, chunks * pieces["attend"].macs
                     + pieces["classify"].macs))
        steps_per_second = 1.0 / (stream["step_frames"] * 0.01)
        step = pieces["step"].invoke_instructions or pieces["step"].op_instructions
        per_second = step * steps_per_second + label / stream["label_hop_s"]
    lines = [f"| work | instructions | MACs | lower bound at {mhz} MHz (1 cycle per instruction) | "
             f"at the anchor's {MLPERF_CYCLES_PER_MAC:.2f} cycles per MAC |", "|---|---|---|---|---|"]
    for name, instructions, macs in rows:
        lines.append(f"| {name} | {instructions:,.0f} | {macs:,} | {instructions / mhz / 1e3:.2f} ms | "
                     f"{macs * MLPERF_CYCLES_PER_MAC / mhz / 1e3:.2f} ms |")
    if per_second is not None:
        lines.append("| step per step + attend + classify per label, one second of audio "
                     "(front end not included) | "
                     f"{per_second:,.0f} | | {per_second / (mhz * 1e6):.2%} of the core | |")
    lines.append("\nAnchor: MLPerf Tiny v1.3 keyword spotting (DS-CNN, ≈ "
                 f"{MLPERF_KWS_MACS / 1e6:.2f} M MACs), STMicroelectronics on a Cortex-M4 (NUCLEO-L4R5ZI): "
                 f"{MLPERF_KWS_MS} ms at {MLPERF_KWS_MHZ} MHz ≈ {MLPERF_CYCLES_PER_MAC:.2f} cycles per MAC, "
                 "measured on the board. QEMU counts instructions, not cycles: a real Cortex-M4 takes more "
                 "cycles than instructions (multi-cycle loads and multiplies, flash wait states), so the "
                 "clock column is a lower bound.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder (runs/<name>/<variant>)")
    parser.add_argument("--board", default="stm32f4")
    parser.add_argument("--target", default="cortex-m4", choices=["cortex-m4", "host"])
    parser.add_argument("--deployment", choices=["whole-window", "streaming"],
                        help="export this bundle first")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--tflm-dir", default=None)
    parser.add_argument("--name", help="results file name (default: "
                                       "firmware-profile-<run>-<deployment>-<target>)")
    parser.add_argument("--block", default="firmware-profile", help="the docs block --docs writes")
    docs_option(parser)
    args = parser.parse_args(argv)
    config = load_run(args.run)
    if args.tflm_dir:
        os.environ["TFLM_DIR"] = args.tflm_dir
    if args.deployment:
        export_run(config, args.board, deployment=args.deployment)
    with tempfile.TemporaryDirectory() as tmp:
        bundle, inputs = firmware_inputs(config, args.board, args.clips)
        report = profile_firmware(bundle, args.board, args.target, inputs, layer_names(config, inputs.blobs),
                                  args.tflm_dir, Path(tmp), log=lambda m: print(m, file=sys.stderr))
    manifest = report["manifest"]
    deployment = manifest.get("deployment", "whole-window")
    name = args.name or f"firmware-profile-{config.name}-{deployment}-{args.target}"
    run = shown_path(args.run)
    head = (f"Bundle: {run} → {args.board}, {deployment} ({manifest['model']['source']}, "
            f"{manifest['model']['bytes']:,} B int8, window {manifest['window_seconds']:g} s); "
            f"{args.clips} test clips.")
    command = (f"python benchmarks/firmware_profile.py {run} --board {args.board} --target {args.target} "
               f"--clips {args.clips}" + (f" --deployment {args.deployment}" if args.deployment else "")
               + (f" --block {args.block}" if args.block != "firmware-profile" else ""))
    mhz = get_board(args.board).clock_mhz
    block = "\n".join([head, "", summary(report), "", latency(report, mhz), "", provenance(report)])
    publish(args.block, block, sys.argv[1:] if argv is None else argv, command)
    out = HERE / "results" / f"{name}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join([head, "", summary(report, nodes=True), "", f"`{command}` wrote this. "
                              f"{provenance(report)} {machine_line()}"]) + "\n", encoding="utf-8")
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
