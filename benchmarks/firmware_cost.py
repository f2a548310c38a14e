"""Cost per inference of a bundle's firmware on a Cortex-M4F, counted under QEMU; flash and RAM.

To run:  TFLM_DIR=../shared/third_party/tflm python benchmarks/firmware_cost.py RUN [--board stm32f4]
             [--clips 4] [--docs]

Builds the bundle's real firmware (ser-reparam verify-firmware --target cortex-m4: the CMake
template's main.cc, the C front end with the CMSIS-DSP FFT, TFLM with CMSIS-NN kernels, -O2) and
runs it under `qemu-system-arm -M mps2-an386 -icount shift=0` on test clips of the run. With
-icount shift=0 QEMU advances its virtual clock by 1 ns per executed instruction, and the
firmware's SysTick (25 MHz CPU clock) ticks once per 40 instructions, so the numbers are
instructions executed (±40 per reading) — NOT cycles: a real Cortex-M4 takes more than one cycle
for loads, multiplies by wait states, branches and flash wait states. Front end = its pushes per
10 ms hop (framing, FFT, Mel, log) plus the per-window finish step (deltas, normalization, int8);
model = one Invoke. Prints a Markdown table (and the machine and versions) for docs/results-performance.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from readme import docs_option, publish, shown_path  # noqa: E402

from firmware_export.boards import get_board  # noqa: E402
from firmware_export.verify import TICK_INSTRUCTIONS, build, compare, section_usage  # noqa: E402
from firmware_export.verify import run as run_firmware  # noqa: E402
from ser_reparam.experiment import load_run  # noqa: E402
from ser_reparam.firmware_inputs import firmware_inputs  # noqa: E402

MLPERF_KWS = ("MLPerf Tiny KWS (DS-CNN, 120 MHz Cortex-M4): 182 ms with TFLM reference kernels, ≈ 75 "
              "ms optimized")


def version(tool: str) -> str:
    return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder with an exported bundle (runs/<name>/<variant>)")
    parser.add_argument("--board", default="stm32f4")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--tflm-dir", default=None)
    docs_option(parser)
    args = parser.parse_args(argv)
    config = load_run(args.run)
    shown = shown_path(args.run)  # as the block prints it
    board = get_board(args.board)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bundle, inputs = firmware_inputs(config, args.board, args.clips)
        if inputs.stream is not None:
            raise SystemExit(f"{args.run}: the {args.board} bundle streams: export the whole-window one "
                             "(ser-reparam export … --deployment whole-window) or run "
                             "benchmarks/streaming_firmware.py")
        built = build(bundle, args.board, "cortex-m4", inputs.blobs, work, args.tflm_dir,
                      log=lambda m: print(m, file=sys.stderr))
        clips = inputs.clips
        result = run_firmware(built, clips, work, icount=True)
        rows = compare(built, clips, result)  # the counted runs are also verified
        memory = section_usage(built["target"], built["program"], built["regions"])
    hop = np.array([r["push_ticks"] / r["hops"] for r in rows]) * TICK_INSTRUCTIONS
    finish = np.array([r["finish_ticks"] for r in rows]) * TICK_INSTRUCTIONS
    invoke = np.array([r["invoke_ticks"] for r in rows]) * TICK_INSTRUCTIONS
    hops = rows[0]["hops"]
    manifest, tree = built["manifest"], shown_path(built["tree"], "$TFLM_DIR")
    out = []  # the block's lines
    out.append(f"Bundle: {shown} → {args.board} ({manifest['model']['source']}, "
          f"{manifest['model']['bytes']:,} B int8, input {manifest['input']['shape']}); {len(rows)} test "
          "clips, firmware output verified against the Python path.\n")
    out.append("| per window | instructions (QEMU count, not cycles) | lower bound: one cycle per "
               "instruction |")
    out.append("|---|---|---|")
    mhz = board.clock_mhz
    for name, values in (("front end, per 10 ms hop", hop),
                         (f"front end, finish step (once per {hops} hops)", finish),
                         ("front end, whole window", hop * hops + finish), ("model, one Invoke", invoke)):
        out.append(f"| {name} | {values.mean():,.0f} (range {values.min():,.0f}–{values.max():,.0f}) | "
              f"{values.mean() / mhz / 1e3:.2f} ms at {mhz} MHz |")
    out.append(f"\nAnchor: {MLPERF_KWS}.")
    out.append(f"\nLinked program (arm-none-eabi-size): flash {memory['flash_bytes']:,} B of "
          f"{board.flash_kb} KB; tensor arena in use {result['arena_used_bytes']:,} B (kTensorArenaSize "
          f"{manifest['arena']['kTensorArenaSize']:,} B)")
    for name, region in memory["regions"].items():
        sections = ", ".join(f"{s} {n:,} B" for s, n in region["sections"].items())
        rest = "left for heap and stack" if region["heap_and_stack"] else "free"
        out.append(f"- RAM {name} ({region['bytes'] // 1024} KB): {sections}; "
                   f"{region['free_bytes']:,} B {rest}")
    out.append(f"\nMachine: {platform.machine()}, {platform.system()} {platform.release()}; "
          f"{version('qemu-system-arm')}; {version('arm-none-eabi-gcc')}; TFLM tree {tree}")
    publish("firmware-cost", "\n".join(out), sys.argv[1:] if argv is None else argv,
            f"TFLM_DIR=… python benchmarks/firmware_cost.py {shown} --board {args.board} "
            f"--clips {args.clips}")


if __name__ == "__main__":
    main()
