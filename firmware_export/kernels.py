"""The kernel library each board runs, and the tensor arena measured with it.

Optimized kernels ask for scratch buffers the reference kernels do not, and a 32-bit core has
smaller interpreter structs than the 64-bit host: on the ESP32-S3, ESP-NN's convolutions once
needed 94 KB more than the reference kernels. So a bundle's arena is measured by running the
model with the board's own kernels (boards.yaml `kernels:`) at the board's word size:
`arena_probe.cc` is built against a TFLM tree by `tflm_build` and bisects the smallest arena with
which the interpreter allocates and invokes the model.

Kernel libraries (tflm_build targets; the tree comes from an environment variable):
  cmsis-nn   TFLM + CMSIS-NN for the Cortex-M4F, run under QEMU (`TFLM_DIR`)
  esp-nn     esp-tflite-micro's esp_nn kernels + ESP-NN's generic C (the ESP32 path), 32-bit
             host build (`ESP_TFLM_DIR`)
  esp-nn-s3  the same with ESP-NN's ESP32-S3 scratch rules and C code (the tree's s3emu/)
  reference  TFLM's reference kernels, 32-bit host build (`TFLM_DIR`)

Without the tree the export does not stop (a user without TFLM's sources can still export),
but the arena is labelled for what it is: the Python TFLM interpreter's reference-kernel arena
(64-bit) plus every convolution scratch buffer the known ESP-NN ESP32-S3 rule asks for (an upper
bound: the buffers are counted as if all were live at once), with `fidelity: "estimate"` in the
manifest and the verdict saying which variable to set.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware_export import esp_nn_rules, tflm_build
from firmware_export.op_resolver import op_resolver_header
from ser_reparam.errors import BuildError
from ser_reparam.tflite.interpreters import tflm_arena_bytes
from ser_reparam.tflite.ops import op_set

PROBE = Path(__file__).parent / "arena_probe.cc"
# what the ESP-IDF template pins when the ESP tree's versions are unknown: the versions measured
# in this project (../shared/third_party/esp-tflite-micro-host/README.md)
ESP_VERSIONS = {"esp-tflite-micro": "1.4.0", "esp-nn": "1.2.3"}


@dataclass(frozen=True)
class Kernels:
    key: str
    label: str
    target: str          # tflm_build.TARGETS key
    note: str = ""       # what the measurement does not cover, when anything
    probe_defines: tuple = ()


KERNELS = {k.key: k for k in (
    Kernels("reference", "TFLM reference kernels", "host-32"),
    Kernels("cmsis-nn", "TFLM + CMSIS-NN (Cortex-M4F build)", "cortex-m4"),
    Kernels("esp-nn", "esp-tflite-micro esp_nn kernels + ESP-NN generic C", "esp-nn"),
    Kernels("esp-nn-s3", "esp-tflite-micro esp_nn kernels + ESP-NN ESP32-S3 scratch rules (s3emu)",
            "esp-nn-s3",
            note="the S3 assembly itself is replaced by C; scratch sizes are the S3 functions'",
            probe_defines=("SER_PROBE_S3EMU",)),
)}


# what a verify build for the development machine links (verify.py): not a board's library, so not
# in KERNELS (boards.yaml cannot pick it)
HOST_REFERENCE = Kernels("reference-64", "TFLM reference kernels (64-bit host build)", "host")


def target_kernels(target_name: str) -> Kernels:
    """The kernel library a program built for tflm_build target `target_name` runs."""
    return next(k for k in (*KERNELS.values(), HOST_REFERENCE) if k.target == target_name)


def tree_versions(tree: Path) -> dict:
    """Versions a tree's README states (the trees carry no version file), else its path only."""
    readme = (tree / "README.md") if (tree / "README.md").exists() else tree.parent / "README.md"
    text = readme.read_text() if readme.exists() else ""
    found = {"tree": str(tree)}
    for name, pattern in (("tflite-micro", r"tflite-micro commit `([0-9a-f]{7,40})`"),
                          ("esp-tflite-micro",
                           r"esp-tflite-micro `([0-9a-f]{7,40})`[^\n]*component v([\d.]+)"),
                          ("esp-nn", r"esp-nn `([0-9a-f]{7,40})`[^\n]*v([\d.]+)\)")):
        match = re.search(pattern, text)
        if match:
            found[name] = " ".join(reversed(match.groups())) if len(match.groups()) > 1 else match.group(1)
    return found


def esp_component_versions(arena: dict) -> dict:
    """esp-tflite-micro / esp-nn versions to pin: the measured ones, else ESP_VERSIONS."""
    versions = dict(ESP_VERSIONS)
    for name in versions:
        stated = arena.get("versions", {}).get(name, "")
        if stated:
            versions[name] = stated.split()[0]
    return versions


def parse_probe(stdout: str) -> dict:
    """The probe's `key value` lines and its logits (one int8 row per input)."""
    values, logits = {}, []
    for line in stdout.splitlines():
        if line.startswith("logits "):
            logits.append([int(v) for v in line.split(":", 1)[1].split()])
        elif line.startswith("error:"):
            raise BuildError(f"arena_probe: {line}")
        elif re.fullmatch(r"\w+ -?\d+", line.strip()):
            key, value = line.split()
            values[key] = int(value)
    return {**values, "logits": np.array(logits, np.int8)}


def build_probe(kernels: Kernels, work: Path, ops: list[str], tree: Path | None = None, extra_sources=(),
                include_dirs=(), defines=(), log=None) -> Path:
    """arena_probe linked with `kernels`' library, registering exactly `ops`."""
    target = tflm_build.TARGETS[kernels.target]
    tree = tree or tflm_build.find_tree(target)
    (work / "op_resolver.h").write_text(op_resolver_header(ops, "the measured model"))
    return tflm_build.build_program(target, tree, [PROBE, *extra_sources], work / f"probe-{kernels.key}",
                                    include_dirs=[work, *include_dirs],
                                    defines=[*kernels.probe_defines, *defines],
                                    log=log)


def run_probe(kernels: Kernels, program: Path, model_bytes: bytes | None, inputs: np.ndarray | None = None,
              timeout: float = 600) -> dict:
    """Run a built probe on `model_bytes` (None: a probe built with a bundle's model, SER_PROBE_BUNDLE)
    and int8 `inputs` (one per row): arena and logits."""
    target = tflm_build.TARGETS[kernels.target]
    with tempfile.TemporaryDirectory(prefix="arena-probe-") as tmp:
        args = []
        if model_bytes is not None:
            (Path(tmp) / "model.tflite").write_bytes(model_bytes)
            args.append(Path(tmp) / "model.tflite")
        if inputs is not None:
            (Path(tmp) / "inputs.bin").write_bytes(np.ascontiguousarray(inputs, np.int8).tobytes())
            args.append(Path(tmp) / "inputs.bin")
        done = tflm_build.run_program(target, program, args, timeout=timeout, cwd=Path(tmp))
    if done.returncode:
        raise BuildError(f"arena_probe ({kernels.key}) exited {done.returncode}: "
                                    f"{(done.stdout + done.stderr)[-2000:]}")
    return parse_probe(done.stdout)


def measure_with(kernels_key: str | Kernels, model_bytes: bytes, inputs: np.ndarray | None = None, log=None,
                 tree: Path | None = None) -> dict:
    """The model's arena (and logits for `inputs`) with one kernel library (a KERNELS key or a
    Kernels); BuildError when its tree is missing or the build fails."""
    kernels = kernels_key if isinstance(kernels_key, Kernels) else KERNELS[kernels_key]
    target = tflm_build.TARGETS[kernels.target]
    tree = tree or tflm_build.find_tree(target)
    with tempfile.TemporaryDirectory(prefix="arena-probe-build-") as tmp:
        program = build_probe(kernels, Path(tmp), op_set(model_bytes), tree, log=log)
        result = run_probe(kernels, program, model_bytes, inputs)
    result.update(kernels=kernels.key, label=kernels.label, word_bytes=target.word_bytes,
                  versions=tree_versions(tree))
    return result


def estimate(kernels_key: str, model_bytes: bytes, reason: str) -> dict:
    """The labelled fallback without the board's kernels (see the module docstring)."""
    measured = tflm_arena_bytes(model_bytes)
    scratch = sum(esp_nn_rules.s3_conv_scratch_bytes(model_bytes)) if kernels_key == "esp-nn-s3" else 0
    return {"kernels": kernels_key, "label": KERNELS[kernels_key].label, "fidelity": "estimate",
            "arena_min_bytes": measured + scratch, "reference_bytes": measured,
            "known_scratch_bytes": scratch,
            "word_bytes": 8, "reason": reason,
            "method": "Python TFLM interpreter (reference kernels, 64-bit host)" +
                      (" + ESP-NN ESP32-S3 convolution scratch rule, all buffers at once" if scratch else "")}



def _trial(target, program: Path, args: list, cwd: Path) -> dict:
    """One arena_probe --arena trial: {"runs": bool, "arena_used_bytes": N}; a crash or a failed
    check inside a kernel (exit != 0) counts as not running."""
    done = tflm_build.run_program(target, program, args, timeout=300, cwd=cwd)
    values = parse_probe(done.stdout) if done.returncode == 0 else {}
    return {"runs": values.get("runs") == 1, "arena_used_bytes": values.get("arena_used_bytes", 0)}


def bisect_arena(target, program: Path, models: list, cwd: Path, most: int = 1024 * 1024) -> dict:
    """The smallest 16-byte multiple with which the probe runs `models` (one path, or "--shared"
    and several), one process per trial, and the bytes used with the largest arena."""
    full = _trial(target, program, ["--arena", most, *models], cwd)
    if not full["runs"]:
        raise BuildError(f"arena_probe: {' '.join(map(str, models))} does not run in {most:,} bytes")
    low, high = 0, (full["arena_used_bytes"] + 15) // 16 * 16 + 4096
    while not _trial(target, program, ["--arena", min(high, most), *models], cwd)["runs"]:
        low, high = high, min(2 * high, most)
    while high - low > 16:
        middle = (low + high) // 2 // 16 * 16
        if _trial(target, program, ["--arena", middle, *models], cwd)["runs"]:
            high = middle
        else:
            low = middle
    return {"arena_min_bytes": high, "arena_used_bytes": full["arena_used_bytes"]}


def measure_pieces_with(kernels_key: str | Kernels, blobs: dict[str, bytes], log=None,
                        tree: Path | None = None) -> dict:
    """The streaming pieces' arenas with one kernel library: each piece alone (`pieces`: name →
    arena_min_bytes) and all of them in ONE arena through one tflite::MicroAllocator, as
    ser_stream_app.cc runs them (`shared_arena_min_bytes`, `shared_arena_used_bytes`). One probe,
    built once with every piece's operators, bisected one process per trial: on too small an
    arena some kernels crash instead of failing (CMSIS-NN and the reference kernels both did, on attend)."""
    kernels = kernels_key if isinstance(kernels_key, Kernels) else KERNELS[kernels_key]
    target = tflm_build.TARGETS[kernels.target]
    tree = tree or tflm_build.find_tree(target)
    ops = sorted({op for blob in blobs.values() for op in op_set(blob)})
    with tempfile.TemporaryDirectory(prefix="arena-probe-build-") as tmp:
        work = Path(tmp)
        program = build_probe(kernels, work, ops, tree, log=log)
        paths = {}
        for name, blob in blobs.items():
            paths[name] = work / f"{name}.tflite"
            paths[name].write_bytes(blob)
        pieces = {name: bisect_arena(target, program, [path], work)["arena_min_bytes"]
                  for name, path in paths.items()}
        shared = bisect_arena(target, program, ["--shared", *paths.values()], work)
    return {"pieces": pieces, "shared_arena_min_bytes": shared["arena_min_bytes"],
            "shared_arena_used_bytes": shared["arena_used_bytes"], "kernels": kernels.key,
            "label": kernels.label, "word_bytes": target.word_bytes, "versions": tree_versions(tree)}
