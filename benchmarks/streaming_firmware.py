"""The streaming firmware on a Cortex-M4F: RAM (shared arena + state + front end), flash, and
instructions per hop, per encoder step and per label, counted under QEMU; its output verified.

To run:  TFLM_DIR=../shared/third_party/tflm python benchmarks/streaming_firmware.py RUN [--board stm32f4]
             [--clips 4] [--docs]

Exports RUN's streaming bundle for the board (`ser-reparam export RUN --board B --deployment
streaming`: it replaces a whole-window bundle there; the three pieces' arena measured with
CMSIS-NN, each alone and in the one arena they share), builds its real firmware as
`ser-reparam verify-firmware --target cortex-m4` does (the CMake template's main.cc,
ser_stream_app.cc, the streaming C front end with the CMSIS-DSP FFT, TFLM with CMSIS-NN, -O2, the
board's RAM regions) and plays the first --clips test clips as one stream under
`qemu-system-arm -M mps2-an386 -icount shift=0`: 40 instructions per SysTick tick, instructions
NOT cycles (see benchmarks/firmware_cost.py). Every label is checked against the Python path
(frames vs the training front end, logits bit-identical to the Python TFLM pieces) before
anything is printed. Per hop = the front end's time over a label hop (labels after the first)
divided by its hops; per step = step's mean; per label = attend over every chunk + classify.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from firmware_cost import version  # noqa: E402
from readme import docs_option, publish, shown_path  # noqa: E402

from firmware_export.boards import get_board  # noqa: E402
from firmware_export.verify import (  # noqa: E402
    TICK_INSTRUCTIONS,
    build,
    compare_stream,
    run_stream,
    section_usage,
)
from ser_reparam.bundles import export_run  # noqa: E402
from ser_reparam.experiment import load_run  # noqa: E402
from ser_reparam.firmware_inputs import firmware_inputs  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder whose stage 05 wrote the streaming pieces "
                                    "(runs/<name>/<variant>)")
    parser.add_argument("--board", default="stm32f4")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--tflm-dir", default=None)
    docs_option(parser)
    args = parser.parse_args(argv)
    config = load_run(args.run)
    run = shown_path(args.run)  # as the block prints it
    board = get_board(args.board)
    if args.tflm_dir:
        os.environ["TFLM_DIR"] = args.tflm_dir
    manifest = export_run(config, args.board, deployment="streaming")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bundle, inputs = firmware_inputs(config, args.board, args.clips)
        built = build(bundle, args.board, "cortex-m4", inputs.blobs, work, args.tflm_dir,
                      log=lambda m: print(m, file=sys.stderr))
        audio = inputs.stream
        result = run_stream(built, audio, work, icount=True)
        checked = compare_stream(built, audio, result)  # the counted run is also verified
        memory = section_usage(built["target"], built["program"], built["regions"])
    stream, labels = manifest["streaming"], checked["labels"]
    hop_frames = stream["label_hop_frames"]
    later = labels[1:] or labels
    per_hop = np.array([row["frontend_us"] / hop_frames for row in later]) * TICK_INSTRUCTIONS
    per_step = np.array([row["step_us"] for row in labels]) * TICK_INSTRUCTIONS
    per_label = np.array([row["model_us"] for row in labels]) * TICK_INSTRUCTIONS
    hops_per_s = 1 / (config.frontend.frame_step / config.frontend.sample_rate)
    per_second = per_hop.mean() * hops_per_s + per_step.mean() * hops_per_s / stream["step_frames"] \
        + per_label.mean() / stream["label_hop_s"]
    ram, arena = manifest["budget"]["ram"], manifest["arena"]
    mhz = board.clock_mhz
    seconds = len(audio["pcm"]) / config.frontend.sample_rate
    out = [f"Bundle: {run} → {args.board}, streaming ({manifest['model']['source']}; pieces "
           + " + ".join(f"{name} {piece['bytes']:,}" for name, piece in stream["pieces"].items())
           + f" = {manifest['model']['bytes']:,} B int8); window {manifest['window_seconds']:g} s = "
           f"{manifest['window_frames']} frames = {stream['steps']} steps, a label every "
           f"{stream['label_hop_s']:g} s. {len(audio['clips'])} test clips as one {seconds:.1f} s stream: "
           f"{len(labels)} labels, each checked (logits bit-identical to the Python TFLM pieces on the "
           "device's frames, labels equal to the Python path's; frames "
           f"{checked['frames']['features_equal_share']:.2%} identical to the training front end's).\n",
           "| RAM | bytes |", "|---|---|",
           f"| tensor arena, ONE for the three pieces (measured with {arena['kernels_label']}: "
           f"{arena['measured_bytes']:,} B; + {arena['margin']}) | {ram['arena_bytes']:,} |",
           "| (each piece in its own arena: "
           + ", ".join(f"{name} {n:,}" for name, n in arena["pieces_bytes"].items())
           + f" = {sum(arena['pieces_bytes'].values()):,} B) | |",
           "| application state (frame ring, X / K / V and attend's outputs of the window) | "
           f"{ram['state_bytes']:,} |",
           f"| streaming front end (ser_stream_t, CMSIS-DSP FFT) | {ram['frontend_bytes']:,} |",
           f"| **total** (the board budget's figure; {board.name}: {ram['budget_bytes']:,} B budget) | "
           f"**{ram['used_bytes']:,}** |", "",
           "| work | instructions (QEMU count, not cycles) | lower bound: one cycle per instruction |",
           "|---|---|---|"]
    for name, values in (("front end, per 10 ms hop", per_hop),
                         (f"step, per encoder step (every {stream['step_frames']} hops)", per_step),
                         (f"attend over {stream['steps'] // stream['chunk']} chunks + classify, per label",
                          per_label)):
        out.append(f"| {name} | {values.mean():,.0f} (range {values.min():,.0f}–{values.max():,.0f}) | "
                   f"{values.mean() / mhz / 1e3:.3f} ms at {mhz} MHz |")
    out.append(f"| all of it, per second of audio | {per_second:,.0f} | {per_second / mhz / 1e4:.2f} % of a "
               f"{mhz} MHz core |")
    out.append(f"\nLinked program (arm-none-eabi-size): flash {memory['flash_bytes']:,} B of "
               f"{board.flash_kb} KB; arena in use {result['arena_used_bytes']:,} B of "
               f"{ram['arena_bytes']:,} B")
    for name, region in memory["regions"].items():
        sections = ", ".join(f"{s} {n:,} B" for s, n in region["sections"].items())
        rest = "left for heap and stack" if region["heap_and_stack"] else "free"
        out.append(f"- RAM {name} ({region['bytes'] // 1024} KB): {sections}; "
                   f"{region['free_bytes']:,} B {rest}")
    tree = shown_path(built["tree"], "$TFLM_DIR")
    out.append(f"\nMachine: {version('qemu-system-arm')}; {version('arm-none-eabi-gcc')}; TFLM tree {tree}")
    publish("streaming-firmware", "\n".join(out), sys.argv[1:] if argv is None else argv,
            f"TFLM_DIR=… python benchmarks/streaming_firmware.py {run} --board {args.board} "
            f"--clips {args.clips}")


if __name__ == "__main__":
    main()
