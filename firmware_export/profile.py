"""`ser-reparam profile-firmware`: where a bundle's firmware spends its instructions, per operator.

The bundle's real firmware (the verify-firmware build: main.cc, the app loop, the C front end, the
real TFLM library) is built once more with -DSER_PROFILE: every interpreter gets a TFLM
MicroProfilerInterface (profile/ser_profile.cc) that TFLM calls around each operator's Invoke.
The counter:

- cortex-m4: `qemu-system-arm -M mps2-an386 -icount shift=0` and SysTick at the 25 MHz CPU clock,
  one tick per TICK_INSTRUCTIONS executed instructions. QEMU counts instructions, not cycles;
  a real Cortex-M4 takes more cycles than instructions (loads, flash wait states, branches).
- host: Valgrind's callgrind counts the x86-64 instructions of each operator.

The run plays test clips like verify-firmware and is checked the same way (logits bit-identical
to the Python TFLM interpreter), so a profile is always of firmware that computes the right thing.
Each node gets its layer (ser_reparam.firmware_inputs.layer_names names them from the run's
folded model), its MACs (from the shapes) and the
kernel that ran: the library member that defines the operator's `tflite::Register_<OP>()` — a
`kernels/cmsis_nn/` file runs CMSIS-NN's arm_* functions for int8, any other is TFLM's reference
code.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from firmware_export import tflm_build, verify
from firmware_export.op_resolver import ser_kernel_ops, ser_kernel_runs
from ser_reparam.errors import ProfileError
from ser_reparam.tflite.flatbuffer import read
from ser_reparam.tflite.ops import model_ops

PROFILE_DIR = Path(__file__).parent / "profile"
MAX_OPS = 256  # ser_profile.cc's kMaxOps
PIECE_TITLES = {"model": "the whole-window model", "step": "step, the encoder step",
                "attend": "attend, attention over a chunk", "classify": "classify, pooling + classifier"}


@dataclass
class Node:
    index: int
    op: str
    layer: str
    kernel: str                    # "CMSIS-NN" or "reference"
    kernel_file: str
    macs: int
    instructions: float = 0.0      # per Invoke, mean over the run's invokes


@dataclass
class PieceProfile:
    name: str                      # "model" or a streaming piece (stream_geometry.PIECES)
    invokes: int
    nodes: list[Node] = field(default_factory=list)
    invoke_instructions: float | None = None   # the whole Invoke as the app timed it (QEMU only)

    @property
    def op_instructions(self) -> float:
        return sum(n.instructions for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)


def node_macs(model_bytes: bytes) -> list[int]:
    """Multiply-accumulates of each operator of the first subgraph (0 for ops without a product)."""
    model = read(model_bytes)
    graph = model.Subgraphs(0)
    macs = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        shape = lambda k: [int(d) for d in graph.Tensors(op.Inputs(k)).ShapeAsNumpy()]  # noqa: E731
        out = int(np.prod(graph.Tensors(op.Outputs(0)).ShapeAsNumpy()))
        ops = schema.BuiltinOperator
        if builtin == ops.FULLY_CONNECTED:
            macs.append(out * shape(1)[-1])
        elif builtin in (ops.CONV_2D, ops.DEPTHWISE_CONV_2D):
            _, kh, kw, cin = shape(1)
            macs.append(out * kh * kw * (cin if builtin == ops.CONV_2D else 1))
        elif builtin == ops.BATCH_MATMUL:
            options = schema.BatchMatMulOptions()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
            a = shape(0)
            macs.append(out * (a[-2] if options.AdjX() else a[-1]))
        else:
            macs.append(0)
    return macs


def kernel_files(target: tflm_build.Target, library: Path, ops: set[str]) -> dict[str, str]:
    """Op name → the library member (a tree path) defining its `tflite::Register_<OP>()`."""
    nm = target.ar[:-2] + "nm" if target.ar.endswith("-ar") else "nm"
    out = subprocess.run([nm, "-C", "--defined-only", str(library)], capture_output=True, text=True,
                         check=True).stdout
    found, member = {}, ""
    pattern = re.compile(r" T tflite::Register_([A-Z0-9_]+)\(\)$")
    for line in out.splitlines():
        if line.endswith(".o:"):
            member = line[:-3].replace("__", "/")
        match = pattern.search(line)
        if match and match.group(1) in ops:
            found[match.group(1)] = member
    return found


# CMSIS-NN's ADD and MUL kernels call arm_elementwise_*_s8 only for equal input shapes; a broadcast
# goes to TFLM's reference BroadcastAdd4DSlow / BroadcastMul4DSlow (kernels/cmsis_nn/add.cc, mul.cc)
BROADCAST_TO_REFERENCE = {"ADD", "MUL"}


def kernel_of(use, files: dict[str, str], replaced=()) -> tuple[str, str]:
    """("CMSIS-NN" | "reference" | "ser-reparam" | "?", the kernel's source) of one node (a
    tflite.ops.OpUse); `replaced`: the ops the bundle's op_resolver.h gives ser_kernels.cc."""
    if use.op in replaced and ser_kernel_runs(use):
        return "ser-reparam", "ser_kernels.cc"
    path = files.get(use.op, "")
    if "/cmsis_nn/" not in path:
        return ("reference" if path else "?"), path
    if use.op in BROADCAST_TO_REFERENCE and len(set(use.input_shapes[:2])) > 1:
        return "reference", path + " (broadcast)"
    return "CMSIS-NN", path


def profile_sources(blobs: dict[str, bytes]):
    """The `extra` of verify.build for a profile build: the profiler, its node counts, -DSER_PROFILE."""
    counts = [len(model_ops(blob)) for blob in blobs.values()]
    if max(counts) > MAX_OPS:
        raise ProfileError(f"a piece has {max(counts)} operators; the profiler holds {MAX_OPS} "
                           "(raise kMaxOps in ser_profile.cc and MAX_OPS in profile.py)")

    def extra(built: dict) -> dict:
        folder = built["work"] / "profile"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ser_profile_ops.h").write_text(
            "// Written by firmware_export/profile.py: operators of each interpreter of the app.\n"
            f"constexpr int kSerProfileOps[] = {{{', '.join(map(str, counts))}}};\n")
        return {"sources": [PROFILE_DIR / "ser_profile.cc"], "include_dirs": [PROFILE_DIR, folder],
                "defines": ["SER_PROFILE"]}
    return extra


def parse_profile(text: str) -> dict[int, dict]:
    """The VERIFY-PROFILE lines: piece → {"invokes", "ticks": [per node], "tags": [per node]}."""
    pieces: dict[int, dict] = {}
    for line in text.splitlines():
        if line.startswith("VERIFY-PROFILE "):
            _, piece, invokes, node, ticks, tag = line.split()
            entry = pieces.setdefault(int(piece), {"invokes": int(invokes), "ticks": [], "tags": []})
            entry["ticks"].append(int(ticks))
            entry["tags"].append(tag)
    return pieces


def parse_callgrind(path: Path) -> dict[tuple[int, int], int]:
    """(piece, node) → instructions summed over the dumps of a `--combine-dumps=yes` callgrind file."""
    counts: dict[tuple[int, int], int] = {}
    key = None
    for line in path.read_text().splitlines():
        if line.startswith("desc: Trigger: Client Request: SERPROF"):
            piece, node = line.split()[-2:]
            key = (int(piece), int(node))
        elif line.startswith(("totals:", "summary:")) and key is not None:
            counts[key] = counts.get(key, 0) + int(line.split()[1])
            key = None
    return counts


def callgrind_wrapper(work: Path) -> list[str]:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise ProfileError("valgrind not found (the host profile counts instructions with callgrind); "
                           "install it: apt-get install valgrind")
    return [valgrind, "--tool=callgrind", "--combine-dumps=yes", "--dump-line=no",
            f"--callgrind-out-file={work / 'callgrind.out'}"]


def _run(built: dict, inputs: verify.FirmwareInputs, work: Path) -> tuple[dict, dict]:
    """Play the clips (or the stream) with the counter on and check the output as verify-firmware
    does; the parsed output and the check."""
    manifest, target = built["manifest"], built["target"]
    qemu = target.runner == "qemu-mps2-an386"
    wrapper = () if qemu else callgrind_wrapper(work)
    clips = len(inputs.stream["clips"] if inputs.stream else inputs.clips)
    timeout = None if qemu else 600 + 60 * clips  # callgrind is ~50x slower than the program
    if verify.streams(manifest):
        result = verify.run_stream(built, inputs.stream, work, icount=qemu, wrapper=wrapper, timeout=timeout)
        return result, verify.compare_stream(built, inputs.stream, result)
    result = verify.run(built, inputs.clips, work, icount=qemu, wrapper=wrapper, timeout=timeout)
    return result, {"clips": verify.compare(built, inputs.clips, result)}


def piece_totals(manifest: dict, result: dict, checked: dict) -> dict[str, float]:
    """Instructions of a whole Invoke per piece as the app timed it (board_micros = SysTick ticks)."""
    tick = verify.TICK_INSTRUCTIONS
    if not verify.streams(manifest):
        return {"model": float(np.mean([r["invoke_ticks"] for r in checked["clips"]])) * tick}
    labels = checked["labels"]
    return {"step": float(np.mean([r["step_us"] for r in labels])) * tick,
            "label": float(np.mean([r["model_us"] for r in labels])) * tick}


def profile_firmware(bundle: Path, board_key: str, target_name: str, inputs: verify.FirmwareInputs,
                     layers: dict[str, list[str]], tflm_dir=None, work: Path | None = None,
                     log=print) -> dict:
    """Build the profile firmware of `bundle`, run it on the test clips of `inputs` (checked as
    verify-firmware checks them), and return per piece its nodes with instructions per Invoke,
    MACs, kernel and Keras layer (`layers`: piece → each node's layer, "" when unknown)."""
    with tempfile.TemporaryDirectory(prefix="ser-profile-") as tmp:
        folder = Path(work or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        blobs = inputs.blobs
        built = verify.build(bundle, board_key, target_name, blobs, folder, tflm_dir, log,
                             extra=profile_sources(blobs))
        result, checked = _run(built, inputs, folder)
        counted = parse_profile(result["stdout"])
        if not counted:
            raise ProfileError(f"{built['bundle']}: the firmware printed no profile; its ser_app / "
                               "ser_stream_app predate SER_PROFILER: re-export the bundle "
                               "(ser-reparam export)")
        target = built["target"]
        qemu = target.runner == "qemu-mps2-an386"
        host_counts = None if qemu else parse_callgrind(folder / "callgrind.out")
        library = tflm_build.library(target, built["tree"])
        ops = {use.op for blob in blobs.values() for use in model_ops(blob)}
        files = kernel_files(target, library, ops)
        uses = [use for blob in blobs.values() for use in model_ops(blob)]
        resolver = (built["bundle"] / "op_resolver.h").read_text()
        replaced = ser_kernel_ops(uses) if "ser_kernels.h" in resolver else []
        pieces = []
        for number, (name, blob) in enumerate(blobs.items()):
            entry = counted.get(number, {"invokes": 0, "ticks": [], "tags": []})
            invokes = max(entry["invokes"], 1)
            piece = PieceProfile(name, entry["invokes"])
            for index, (use, macs) in enumerate(zip(model_ops(blob), node_macs(blob))):
                if qemu:
                    total = (entry["ticks"][index] * verify.TICK_INSTRUCTIONS if index < len(entry["ticks"])
                             else 0)
                else:
                    total = host_counts.get((number, index), 0)
                kernel, path = kernel_of(use, files, replaced)
                if target.runner == "host" and kernel == "?":
                    kernel = "reference"
                piece.nodes.append(Node(index, use.op, layers[name][index] or "?", kernel, path, macs,
                                        total / invokes))
            pieces.append(piece)
        if qemu:
            totals = piece_totals(built["manifest"], result, checked)
            for piece in pieces:
                piece.invoke_instructions = totals.get(piece.name)
        manifest = built["manifest"]
        return {"board": board_key, "target": target_name, "tree": str(built["tree"]), "manifest": manifest,
                "pieces": pieces, "totals": totals if qemu else {}, "checked": checked,
                "counter": ("QEMU -icount shift=0, SysTick (1 tick = 40 instructions)" if qemu
                            else "Valgrind callgrind (x86-64 instructions)")}


# --- tables ------------------------------------------------------------------------------------------

def _ratio(instructions: float, macs: int) -> str:
    return f"{instructions / macs:,.1f}" if macs else "—"


def _grouped(nodes: list[Node], key) -> list[dict]:
    groups: dict = {}
    for node in nodes:
        group = groups.setdefault(key(node), {"nodes": 0, "instructions": 0.0, "macs": 0, "kernels": set()})
        group["nodes"] += 1
        group["instructions"] += node.instructions
        group["macs"] += node.macs
        group["kernels"].add(node.kernel)
    return sorted(({"key": k, **v} for k, v in groups.items()), key=lambda g: -g["instructions"])


def piece_table(piece: PieceProfile, by: str = "op") -> str:
    """Markdown: the piece's nodes grouped by operator type ("op"), by layer ("layer"), or one row
    per node ("node"), largest first; share of the operators' sum."""
    total = piece.op_instructions or 1.0
    if by == "node":
        lines = ["| # | operator | layer | kernel | instructions | share | MACs | instructions / MAC |",
                 "|---|---|---|---|---|---|---|---|"]
        for n in piece.nodes:
            lines.append(f"| {n.index} | {n.op} | {n.layer} | {n.kernel} | {n.instructions:,.0f} | "
                         f"{n.instructions / total:.1%} | {n.macs:,} | {_ratio(n.instructions, n.macs)} |")
        return "\n".join(lines)
    key = (lambda n: n.op) if by == "op" else (lambda n: n.layer)
    head = "operator" if by == "op" else "layer"
    lines = [f"| {head} | nodes | kernel | instructions | share | MACs | instructions / MAC |",
             "|---|---|---|---|---|---|---|"]
    for g in _grouped(piece.nodes, key):
        lines.append(f"| {g['key']} | {g['nodes']} | {', '.join(sorted(g['kernels']))} | "
                     f"{g['instructions']:,.0f} | {g['instructions'] / total:.1%} | {g['macs']:,} | "
                     f"{_ratio(g['instructions'], g['macs'])} |")
    lines.append(f"| **all operators** | {len(piece.nodes)} | | **{piece.op_instructions:,.0f}** | 100% | "
                 f"{piece.macs:,} | **{_ratio(piece.op_instructions, piece.macs)}** |")
    return "\n".join(lines)


def piece_heading(piece: PieceProfile) -> str:
    """One line: the piece, its invokes, the operators' sum and (QEMU) the Invoke as the app timed it."""
    line = (f"{PIECE_TITLES.get(piece.name, piece.name)}: {piece.invokes} invokes; per Invoke the operators "
            f"{piece.op_instructions:,.0f} instructions for {piece.macs:,} MACs "
            f"({_ratio(piece.op_instructions, piece.macs)} per MAC)")
    if piece.invoke_instructions:
        line += (f"; the whole Invoke {piece.invoke_instructions:,.0f} (interpreter and profiler "
                 f"{piece.invoke_instructions - piece.op_instructions:,.0f})")
    return line


def streaming_summary(report: dict) -> str:
    """Streaming: per label (attend over every chunk + classify) and step per step, from the
    pieces' operators."""
    stream = report["manifest"]["streaming"]
    pieces = {p.name: p for p in report["pieces"]}
    chunks = stream["steps"] // stream["chunk"]
    label_ops = chunks * pieces["attend"].op_instructions + pieces["classify"].op_instructions
    label_macs = chunks * pieces["attend"].macs + pieces["classify"].macs
    line = (f"Per label: attend × {chunks} chunks + classify = {label_ops:,.0f} instructions in operators "
            f"for {label_macs:,} MACs ({_ratio(label_ops, label_macs)} per MAC)")
    if report["totals"].get("label"):
        line += f"; as the app timed it {report['totals']['label']:,.0f}"
    return line + f". step per step: {pieces['step'].op_instructions:,.0f} in operators."


def summary(report: dict, nodes: bool = False) -> str:
    """The profile as Markdown: per piece a heading line and tables by operator and by layer."""
    lines = [f"Profile of the {report['board']} firmware on {report['target']} ({report['counter']}); "
             "its output checked against the Python path."]
    for piece in report["pieces"]:
        lines += ["", piece_heading(piece), "", piece_table(piece, "op"), "", piece_table(piece, "layer")]
        if nodes:
            lines += ["", piece_table(piece, "node")]
    if verify.streams(report["manifest"]):
        lines += ["", streaming_summary(report)]
    return "\n".join(lines)
