"""The device front end of a bundle, whole-window and streaming: code, state and host instructions.

To run:  python benchmarks/frontend_cost.py RUN/firmware/BOARD [--docs]

Takes a firmware bundle's generated front end (ser_frontend*.c and its config for the bundle's
window), cross-compiles it with arm-none-eabi-gcc -Os for each CPU and FFT backend (portable, or
CMSIS-DSP's arm_rfft_fast_f32 from CMSIS_DSP_DIR / the cached sources), and counts with valgrind
the host (gcc -O2) instructions per 10 ms frame while pushing the run's first test clip; the
same for the streaming front end (ser_frontend_stream.c: code of a program using its API only,
sizeof(ser_stream_t) on the MCU, instructions per pushed hop with its int8 frame). These are the
measurements of firmware_export/frontend_cost.py, which tests/test_frontend_c.py and
tests/test_frontend_stream_c.py pin. Needs gcc, arm-none-eabi-gcc and valgrind. --docs
rewrites its `frontend-cost` block (docs/results-performance.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from readme import docs_option, publish, shown_path  # noqa: E402

from firmware_export.cmsis_dsp import cmsis_dsp_sources  # noqa: E402
from firmware_export.frontend_cost import (  # noqa: E402
    CORTEX_M_FLOATS,
    cmsis_build_args,
    cortex_m_sizes,
    host_build,
    instructions_per_frame,
    stream_instructions_per_hop,
)
from firmware_export.frontend_tables import C_SOURCES  # noqa: E402
from ser_reparam.experiment import load_run  # noqa: E402
from ser_reparam.firmware_inputs import split_clips  # noqa: E402

HARNESS = Path(__file__).parents[1] / "tests" / "frontend_harness.c"


def version(tool: str) -> str:
    return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a board's firmware bundle (runs/<name>/<variant>/firmware/<board>)")
    docs_option(parser)
    args = parser.parse_args()
    bundle = Path(args.bundle)
    shown = shown_path(bundle, f"RUN/firmware/{bundle.name}")  # as the block prints it
    manifest = json.loads((bundle / "bundle.json").read_text())
    config = load_run(bundle.parents[1])
    frames = manifest.get("window_frames") or manifest["input"]["shape"][1]  # streaming: A reads 7 frames
    pcm = split_clips(config, 1)[0]["pcm"]
    backends = {"portable": {}, "CMSIS-DSP": cmsis_build_args(cmsis_dsp_sources())}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in (*C_SOURCES, "ser_frontend_config.h", "ser_frontend_tables.c"):
            shutil.copy(bundle / name, work / name)
        sizes = {(cpu, backend, stream): cortex_m_sizes(work, cpu, work, stream=stream, **build)
                 for cpu in CORTEX_M_FLOATS for backend, build in backends.items()
                 for stream in (False, True)}
        harnesses = {backend: host_build(work, backend.lower(), HARNESS, **build)
                     for backend, build in backends.items()}
        per_frame = {backend: instructions_per_frame(harnesses[backend], pcm, config.frontend.frame_step,
                                                     frames, work)
                     for backend in backends}
        per_hop = {backend: stream_instructions_per_hop(harnesses[backend], pcm,
                                                        config.frontend.frame_step, work)
                   for backend in backends}
    lines = [f"Front end of `{shown}` ({frames} frames per window); code = text bytes of its own objects "
             "(arm-none-eabi-gcc -Os; the FFT library's code not included), linked = text of a "
             "Cortex-M4F program that calls only that API (`--gc-sections`; with the FFT library, newlib's "
             "libm and startup), state = sizeof of its struct on the MCU; host instructions per 10 ms "
             f"hop pushing a {len(pcm) / config.frontend.sample_rate:g} s test clip (gcc -O2, valgrind; "
             "whole window: the log-Mel frame, deltas come at `finish`; streaming: the whole normalized "
             "int8 frame):", "",
             "| front end | FFT backend | code, Cortex-M4F | code, Cortex-M0+ | linked, Cortex-M4F | "
             "`.data` / `.bss` | state | host instructions per hop |",
             "|---|---|---|---|---|---|---|---|"]
    for stream, (name, cost) in ((False, ("whole window", per_frame)), (True, ("streaming", per_hop))):
        for backend in backends:
            m4, m0 = sizes["cortex-m4", backend, stream], sizes["cortex-m0plus", backend, stream]
            lines.append(f"| {name} | {backend} | {m4['text']:,} B | {m0['text']:,} B | "
                         f"{m4['linked'][0]:,} B | {m4['data']} / {m4['bss']} B | {m4['state']:,} B | "
                         f"{cost[backend]:,.0f} |")
    lines += ["", f"Tools: {version('arm-none-eabi-gcc')}; {version('gcc')}; {version('valgrind')}."]
    publish("frontend-cost", "\n".join(lines), sys.argv, "python benchmarks/frontend_cost.py "
                                                         "RUN/firmware/stm32f4 --docs")


if __name__ == "__main__":
    main()
