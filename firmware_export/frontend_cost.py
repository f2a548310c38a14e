"""What the device front end costs: code bytes on a Cortex-M and host instructions per frame.

One place for these measurements: tests/test_frontend_c.py pins them, benchmarks/frontend_cost.py
puts them in docs/results-performance.md. Everything is compiled for real (host gcc, arm-none-eabi-gcc) and
counted with valgrind; the callers check that the tools exist.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from firmware_export.cmsis_dsp import RFFT_SOURCES

CORTEX_M_FLOATS = {"cortex-m4": ["-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
                   "cortex-m0plus": ["-mfloat-abi=soft"]}


def cmsis_build_args(root: Path) -> dict:
    """Defines, include folders and sources of the CMSIS-DSP FFT backend from CMSIS-DSP tree `root`."""
    # -D__GNUC_PYTHON__: CMSIS-DSP without CMSIS-Core, as the cmsisdsp Python package builds it
    return {"defines": ("-DSER_FFT_CMSIS", "-D__GNUC_PYTHON__"),
            "includes": (root / "Include", root / "PrivateInclude"),
            "sources": [root / source for source in RFFT_SOURCES]}


def host_build(folder: Path, name: str, harness: Path, defines=(), includes=(), sources=(),
               gcc: str = "gcc") -> Path:
    """Host program `folder/name`: the C driver `harness` with the front-end files in `folder`."""
    exe = folder / name
    subprocess.run([gcc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
                    *defines, f"-I{folder}", *[f"-I{i}" for i in includes], str(harness),
                    str(folder / "ser_frontend_tables.c"), *map(str, sources), "-lm", "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return exe


MAINS = {  # a program that uses one API only, so --gc-sections keeps just what that API needs
    False: ("ser_frontend.h", "static ser_frontend_t state;\n"
            "static int8_t input[SER_NUM_FRAMES * SER_NUM_FEATURES];\n"
            "int main(void) { ser_frontend_reset(&state); ser_frontend_push(&state, hop);\n"
            "  return ser_frontend_finish_int8(&state, input, 0.05f, 0); }\n"),
    True: ("ser_frontend_stream.h", "static ser_stream_t state;\nstatic int8_t input[SER_NUM_FEATURES];\n"
           "int main(void) { ser_stream_reset(&state); "
           "int n = ser_stream_push_int8(&state, hop, input, 0.05f, 0);\n"
           "  return n + ser_stream_flush_int8(&state, input, 0.05f, 0); }\n"),
}


def cortex_m_sizes(folder: Path, cpu: str, work: Path, defines=(), includes=(), sources=(),
                   stream: bool = False) -> dict:
    """Front-end object bytes (text, data, bss: arm-none-eabi-size of ser_frontend*.o, -Os) for `cpu`,
    the text/data/bss of a program linked against the API only (whole-window, or streaming when
    `stream`; unused code and FFT tables dropped, as on the device) and its state struct's bytes."""
    flags = [f"-mcpu={cpu}", "-mthumb", *CORTEX_M_FLOATS[cpu], "-std=c99", "-Os", "-Wall", "-Werror",
             "-ffunction-sections", "-fdata-sections", f"-I{folder}", *defines, *[f"-I{i}" for i in includes]]
    tag = f"{cpu}-{'cmsis' if sources else 'portable'}{'-stream' if stream else ''}"
    ours = ["ser_frontend.c", *(["ser_frontend_stream.c"] if stream else []), "ser_frontend_tables.c"]
    objects = []
    for source in [*(folder / name for name in ours), *sources]:
        objects.append(work / f"{tag}-{Path(source).stem}.o")
        subprocess.run(["arm-none-eabi-gcc", *flags, "-c", str(source), "-o", str(objects[-1])],
                       check=True, capture_output=True, text=True)
    header, body = MAINS[stream]
    main = work / f"{tag}-main.c"
    main.write_text(f'#include "{header}"\nstatic int16_t hop[SER_HOP_SAMPLES];\n{body}')
    elf = work / f"{tag}.elf"
    subprocess.run(["arm-none-eabi-gcc", *flags, str(main), *map(str, objects), "--specs=nosys.specs",
                    "-Wl,--gc-sections", "-lm", "-o", str(elf)], check=True, capture_output=True, text=True)
    sizes = subprocess.run(["arm-none-eabi-size", "-t", *map(str, objects[:len(ours)])], check=True,
                           capture_output=True, text=True).stdout
    text, data, bss = map(int, sizes.splitlines()[-1].split()[:3])
    linked = subprocess.run(["arm-none-eabi-size", str(elf)], check=True, capture_output=True,
                            text=True).stdout
    symbols = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], check=True, capture_output=True,
                             text=True).stdout
    state = next(int(line.split()[1], 16) for line in symbols.splitlines() if line.split()[-1] == "state")
    return {"text": text, "data": data, "bss": bss, "state": state,
            "linked": tuple(map(int, linked.splitlines()[-1].split()[:3]))}


def instructions(exe: Path, command: str, pcm_path: Path) -> int:
    """Instructions the harness executes for `command` ("push", "stream-push") on the int16 PCM
    file, pushing it hop by hop (valgrind callgrind)."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(exe), command,
                          str(pcm_path)], check=True, capture_output=True, text=True).stderr
    return int(re.search(r"Collected\s*:\s*(\d+)", out).group(1))


def _first_hop_and_all(pcm: np.ndarray, hop_samples: int, work: Path) -> tuple[Path, Path]:
    (work / "full.pcm").write_bytes(pcm.astype("<i2").tobytes())
    (work / "one.pcm").write_bytes(pcm[:hop_samples].astype("<i2").tobytes())
    return work / "one.pcm", work / "full.pcm"


def instructions_per_frame(exe: Path, pcm: np.ndarray, hop_samples: int, frames: int, work: Path) -> float:
    """Whole-window instructions per 10 ms frame: pushing `pcm` (giving `frames` frames) minus pushing
    its first hop alone (start-up, no frame yet), over the frames after the first."""
    one, full = _first_hop_and_all(pcm, hop_samples, work)
    return (instructions(exe, "push", full) - instructions(exe, "push", one)) / (frames - 1)


def stream_instructions_per_hop(exe: Path, pcm: np.ndarray, hop_samples: int, work: Path) -> float:
    """Streaming instructions per pushed hop (each returns a normalized frame once the stream is
    warm): pushing `pcm` minus pushing its first hop alone, over the hops after the first."""
    one, full = _first_hop_and_all(pcm, hop_samples, work)
    hops = len(pcm) // hop_samples
    return (instructions(exe, "stream-push", full) - instructions(exe, "stream-push", one)) / (hops - 1)
