"""`ser-reparam verify-firmware`: build a bundle's real firmware against TFLite Micro and prove it.

The program is the CMake template's main.cc around the application loop every template shares
(ser_app.cc: microphone → front end per 10 ms hop → model per window), the bundle's C front end,
model_data and op_resolver, linked with the real TFLM library (tflm_build) — for the host (g++,
reference kernels) or a Cortex-M4F (CMSIS-NN kernels, CMSIS-DSP FFT, the board's RAM regions, run
under qemu-system-arm -M mps2-an386). Its
board (verify_board.cc) plays real clips of the run's test split into the microphone and prints
what the firmware computed; the Python path computes the same clips. The run itself is read by
ser_reparam.firmware_inputs, which hands over plain inputs (FirmwareInputs):

- features: the device's int8 model input against the training front end's, quantized (float32
  C vs TensorFlow: within 1 LSB, ≥ 99.9 % identical — float arithmetic in another order);
- logits: bit-identical to the Python TFLM interpreter run on the device's own int8 input;
- labels: equal to the Python path's (its own features, its own interpreter).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from string import Template

import numpy as np

from firmware_export import tflm_build
from firmware_export.arena import arena_with_margin
from firmware_export.boards import get_board
from firmware_export.bundle_record import has_record, read_record
from firmware_export.cmsis_dsp import RFFT_SOURCES, cmsis_dsp_sources
from firmware_export.export import app_values, board_linker_script
from firmware_export.kernels import KERNELS, measure_pieces_with, measure_with, target_kernels
from firmware_export.linker_script import qemu_regions
from ser_reparam.errors import InputError, StageError, VerifyError
from ser_reparam.models.stream_geometry import InterpreterPieces, StreamGeometry, stream_window
from ser_reparam.tflite.interpreters import TFLMModel, dequantize_values, quantize_values

HERE = Path(__file__).parent
TICK_INSTRUCTIONS = 40       # mps2-an386 SysTick (25 MHz) under -icount shift=0 (1 ns per instruction)
FEATURE_MAX_LSB = 1
FEATURE_EQUAL_SHARE = 0.999


@dataclass(frozen=True)
class FirmwareInputs:
    """What a bundle's firmware is checked against, translated from a run by
    ser_reparam.firmware_inputs: plain bytes and arrays."""
    blobs: dict[str, bytes]       # each interpreter's .tflite, in the app's order: "model", or the pieces
    clips: list[dict] = ()        # whole window: utt_id, label, file, pcm (one window, int16), features
    stream: dict | None = None    # streaming: clips, pcm (the clips one after another), features of it
    # features: the float model input the training pipeline makes of the pcm (front end, normalization)


def device_input(quant: dict, features: np.ndarray) -> np.ndarray:
    """The int8 model input of the training pipeline's features: the model's input quantization."""
    return quantize_values(features, np.int8, quant["scale"], quant["zero_point"])


def streams(manifest: dict) -> bool:
    return manifest.get("deployment") == "streaming"


def firmware_sources(bundle: Path, board, work: Path, target: tflm_build.Target, tree: Path,
                     streaming: bool = False) -> dict:
    """Sources, include folders and defines of the bundle's firmware on the verify board."""
    app = app_values(streaming)
    main = bundle / "cmake-cortex-m" / "main.cc"
    if not main.exists():  # boards without the CMake project run the same loop from the template
        main = work / "main.cc"
        template = (HERE / "templates" / "cmake-cortex-m" / "main.cc").read_text()
        main.write_text(Template(template).safe_substitute(board_name=board.name, **app))
    sources = [main, HERE / "verify_board.cc", *(bundle / name for name in app["app_sources"].split())]
    missing = [s.name for s in sources if not s.exists()]
    if missing:
        raise StageError(f"{bundle}: missing {', '.join(missing)}; re-export the bundle (ser-reparam export)")
    includes, defines = [bundle], (["SER_VERIFY_STREAMING"] if streaming else [])
    if target.runner == "qemu-mps2-an386":
        dsp = cmsis_dsp_sources()
        sources += [dsp / s for s in RFFT_SOURCES]
        includes += [dsp / "Include", dsp / "PrivateInclude"]
        # __GNUC_PYTHON__: CMSIS-DSP without CMSIS-Core (the tree's copy lacks cmsis_gcc_m.h), as the
        # cmsisdsp package and tests/test_frontend_c.py build it; the FFT is the same C code
        defines += ["SER_FFT_CMSIS", "__GNUC_PYTHON__", "SER_VERIFY_MPS2"]
    return {"sources": sources, "include_dirs": includes, "defines": defines}


def target_arena(blobs: dict[str, bytes], manifest: dict, target: tflm_build.Target, tree: Path,
                 log=print) -> dict:
    """The tensor arena a verify build for `target` gets. The bundle's kTensorArenaSize was measured
    with the board's kernels at the board's word size; that is exact for the board (and for the
    Cortex-M4F build of a CMSIS-NN board), but another target links other kernels at another word
    size (the 64-bit host: reference kernels, larger interpreter structs), so its program gets an
    arena measured the same way on that target (arena_probe, bisected) plus the export's margin."""
    arena = manifest["arena"]
    if arena.get("fidelity") == "measured" and KERNELS[arena["kernels"]].target == target.name:
        return {"bytes": arena["kTensorArenaSize"], "measured_with": arena["kernels_label"]}
    kernels = target_kernels(target.name)
    if streams(manifest):  # the pieces in one arena, as ser_stream_app.cc runs them
        measured = measure_pieces_with(kernels, blobs, log=log, tree=tree)
        least = measured["shared_arena_min_bytes"]
    else:
        measured = measure_with(kernels, blobs["model"], log=log, tree=tree)
        least = measured["arena_min_bytes"]
    return {"bytes": arena_with_margin(least), "measured_bytes": least,
            "measured_with": f"{kernels.label}, {measured['word_bytes'] * 8}-bit"}


def with_arena(parts: dict, bundle: Path, work: Path, arena_bytes: int) -> dict:
    """`parts` (firmware_sources) building against the bundle's model_settings.h with
    kTensorArenaSize = arena_bytes: the header and every source that includes it (main.cc, the
    app's .cc) copied to one folder — a quoted #include looks in the source's own folder first,
    so a source left in the bundle would read the bundle's figure."""
    folder = work / "arena"
    folder.mkdir(parents=True, exist_ok=True)
    header, count = re.subn(r"constexpr int kTensorArenaSize = \d+;",
                            f"constexpr int kTensorArenaSize = {arena_bytes};  // this verify build's target",
                            (bundle / "model_settings.h").read_text())
    if count != 1:
        raise StageError(f"{bundle / 'model_settings.h'}: no kTensorArenaSize line; re-export the bundle "
                         "(ser-reparam export)")
    (folder / "model_settings.h").write_text(header)
    sources = []
    for source in parts["sources"]:
        if source.suffix in (".cc", ".cpp") and '#include "model_settings.h"' in source.read_text():
            shutil.copyfile(source, folder / source.name)
            source = folder / source.name
        sources.append(source)
    return {**parts, "sources": sources, "include_dirs": [folder, *parts["include_dirs"]]}


def section_usage(target: tflm_build.Target, program: Path, regions: list[tuple[str, int, int]]) -> dict:
    """Bytes of each RAM region the linked program uses (placed buffers + static data), the free
    rest (heap and stack), and its flash (code, constants, initialised data)."""
    out = subprocess.run([target.size, "-A", str(program)], capture_output=True, text=True,
                         check=True).stdout
    usage = {name: {"bytes": size, "sections": {}} for name, _, size in regions}
    flash = 0
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        name, size, address = parts[0], int(parts[1]), int(parts[2])
        if name in (".text", ".ARM.extab", ".ARM.exidx", ".data"):
            flash += size
        for region, origin, length in regions:
            if size and origin <= address < origin + length:
                usage[region]["sections"][name] = size
    for region in usage.values():
        stack = region["sections"].pop(".heap_stack", None)  # the reserve's region: the rest is heap + stack
        region["used_bytes"] = sum(region["sections"].values())
        region["free_bytes"] = region["bytes"] - region["used_bytes"] if stack is None else stack
        region["heap_and_stack"] = stack is not None
    return {"flash_bytes": flash, "regions": usage}


def parse_output(text: str) -> dict:
    windows, current, arena = [], {}, None
    for line in text.splitlines():
        tag, _, value = line.partition(" ")
        if tag == "VERIFY-FEATURES":
            current["features"] = np.frombuffer(bytes.fromhex(value), np.int8)
        elif tag == "VERIFY-LOGITS":
            current["logits"] = np.frombuffer(bytes.fromhex(value), np.int8)
        elif tag == "VERIFY-LABEL":
            current["label"] = int(value)
        elif tag == "VERIFY-TICKS":
            hops, push, finish, invoke = (int(v) for v in value.split())
            current.update(hops=hops, push_ticks=push, finish_ticks=finish, invoke_ticks=invoke)
            windows.append(current)
            current = {}
        elif line.startswith("tensor arena: "):
            arena = int(line.split()[2])
    return {"windows": windows, "arena_used_bytes": arena, "ended": "VERIFY-END" in text}


def check_target(board_key: str, target_name: str) -> tuple[tflm_build.Target, object]:
    """The target and board of a verify or profile build, its tools found: checked before a run is
    read or anything compiles (a one-line error naming what is missing)."""
    if target_name not in tflm_build.TARGETS:
        raise InputError(f"unknown target {target_name!r}; choose one of {', '.join(tflm_build.TARGETS)}")
    target = tflm_build.TARGETS[target_name]
    tflm_build.check_tools(target)
    board = get_board(board_key)
    if target.runner == "qemu-mps2-an386" and board.core != "cortex-m4":
        raise InputError(f"target {target_name} emulates a Cortex-M4F; board {board_key} has a {board.core}: "
                         "verify it with --target host")
    return target, board


def build(bundle: Path, board_key: str, target_name: str, blobs: dict[str, bytes], work: Path, tflm_dir=None,
          log=print, extra=None) -> dict:
    """Build the firmware of `bundle` (for `board_key`; `blobs`: FirmwareInputs.blobs) for `target_name`
    in `work`; the program and what it was built from. `extra(built)` may add sources, include
    folders and defines (a profile build) before the compile."""
    target, board = check_target(board_key, target_name)
    if not has_record(bundle):
        raise StageError(f"no firmware bundle in {bundle}: export one "
                         f"(ser-reparam export RUN --board {board_key})")
    manifest = read_record(bundle)
    tree = tflm_build.find_tree(target, tflm_dir)
    parts = firmware_sources(bundle, board, work, target, tree, streams(manifest))
    arena = target_arena(blobs, manifest, target, tree, log)
    if arena["bytes"] != manifest["arena"]["kTensorArenaSize"]:
        parts = with_arena(parts, bundle, work, arena["bytes"])
    if extra is not None:
        added = extra({"manifest": manifest, "bundle": bundle, "target": target, "work": work})
        parts = {key: [*parts[key], *added.get(key, ())] for key in parts}
    regions = None
    script = None
    if target.runner == "qemu-mps2-an386":
        regions = qemu_regions(board.linker_regions())
        script = work / "board.ld"
        script.write_text(board_linker_script(board, qemu=True))
    program = tflm_build.build_program(target, tree, parts["sources"], work / f"firmware-{target_name}",
                                       include_dirs=parts["include_dirs"], defines=parts["defines"],
                                       linker_script=script, log=log)
    return {"target": target, "board": board, "bundle": bundle, "manifest": manifest, "tree": tree,
            "program": program, "regions": regions, "arena": arena, "blobs": blobs}


def run(built: dict, clips: list[dict], work: Path, icount: bool = False, timeout: float | None = None,
        wrapper=()) -> dict:
    """Play `clips` into the firmware; what it printed, parsed."""
    (work / "ser_clips.pcm").write_bytes(b"".join(c["pcm"].astype("<i2").tobytes() for c in clips))
    target = built["target"]
    timeout = timeout or (60 + (60 if target.runner != "host" else 5) * len(clips))
    done = tflm_build.run_program(target, built["program"], cwd=work, timeout=timeout, icount=icount,
                                  wrapper=wrapper)
    result = {**parse_output(done.stdout), "stdout": done.stdout}
    if any("features" not in w or "logits" not in w for w in result["windows"]):
        raise VerifyError(f"{built['bundle']}: the firmware's main.cc does not report each window's "
                          "features and logits (board_features / board_result): re-export the bundle with "
                          "this ser-reparam")
    if done.returncode or not result["ended"] or len(result["windows"]) != len(clips):
        raise VerifyError(f"the firmware on {target.name} stopped after {len(result['windows'])} of "
                          f"{len(clips)} windows (exit "
                          f"{done.returncode}):\n{(done.stdout[-1500:] + done.stderr[-1500:]).strip()}")
    return result


def features_problem(what: str, row: dict) -> list[str]:
    """[] when the device's int8 features are within FEATURE_MAX_LSB / FEATURE_EQUAL_SHARE of the
    Python front end's, else the one problem."""
    if row["features_max_lsb"] <= FEATURE_MAX_LSB and row["features_equal_share"] >= FEATURE_EQUAL_SHARE:
        return []
    return [f"{what}: features differ by up to {row['features_max_lsb']} LSB, "
            f"{row['features_equal_share']:.4%} identical"]


def compare(built: dict, clips: list[dict], result: dict) -> list[dict]:
    """Each window of the firmware against the Python path (`clips`: FirmwareInputs.clips);
    VerifyError on any disagreement."""
    manifest = built["manifest"]
    model = TFLMModel(built["blobs"]["model"])
    rows, problems = [], []
    for clip, window in zip(clips, result["windows"]):
        shape = manifest["input"]["shape"][1:]
        expected = device_input(manifest["input"], clip["features"]).reshape(-1)
        device = window["features"]
        same_input = model.invoke_quantized(device.reshape(1, *shape))[0]
        python_logits = model.invoke_quantized(expected.reshape(1, *shape))[0]
        diff = np.abs(device.astype(int) - expected.astype(int))
        row = {"utt_id": clip["utt_id"], "label": clip["label"],
               "features_max_lsb": int(diff.max()), "features_equal_share": float(np.mean(diff == 0)),
               "device_logits": window["logits"].tolist(), "python_logits_same_input": same_input.tolist(),
               "python_path_logits": python_logits.tolist(),
               "device_label": manifest["labels"][window["label"]],
               "python_label": manifest["labels"][int(np.argmax(python_logits))],
               **{k: window[k] for k in ("hops", "push_ticks", "finish_ticks", "invoke_ticks")}}
        rows.append(row)
        problems += features_problem(clip["utt_id"], row)
        if row["device_logits"] != row["python_logits_same_input"]:
            problems.append(f"{clip['utt_id']}: logits {row['device_logits']} != Python TFLM on "
                            f"the same input {row['python_logits_same_input']}")
        if row["device_label"] != row["python_label"]:
            problems.append(f"{clip['utt_id']}: label {row['device_label']} != Python path "
                            f"{row['python_label']}")
    if problems:
        raise VerifyError(f"firmware on {built['target'].name} disagrees with the Python path:\n  "
                          + "\n  ".join(problems))
    return rows


# --- the streaming deployment: the clips are one stream, a label per label hop ---------------------

def parse_stream_output(text: str) -> dict:
    """Frames and labels a streaming firmware printed: each label with the frames before it and
    the app's times (main.cc's label line: front end, step per step, attend + classify; in
    board_micros units)."""
    frames, labels = [], []
    times = re.compile(r"front end (\d+) us, step (\d+) us x (\d+), label (\d+) us")
    arena = None
    for line in text.splitlines():
        tag, _, value = line.partition(" ")
        if tag == "VERIFY-FRAME":
            frames.append(np.frombuffer(bytes.fromhex(value), np.int8))
        elif tag == "VERIFY-LOGITS":
            labels.append({"frames": len(frames), "logits": np.frombuffer(bytes.fromhex(value), np.int8)})
        elif tag == "VERIFY-LABEL":
            labels[-1]["label"] = int(value)
        elif line.startswith("tensor arena: "):
            arena = int(line.split()[2])
        elif times.search(line) and labels:
            labels[-1].update(zip(("frontend_us", "step_us", "steps", "model_us"),
                                  map(int, times.search(line).groups())))
    return {"frames": np.stack(frames) if frames else np.zeros((0, 0), np.int8), "labels": labels,
            "arena_used_bytes": arena, "ended": "VERIFY-END" in text}


def run_stream(built: dict, audio: dict, work: Path, icount: bool = False, timeout: float | None = None,
               wrapper=()) -> dict:
    """Play the stream into the firmware; what it printed, parsed."""
    (work / "ser_clips.pcm").write_bytes(audio["pcm"].astype("<i2").tobytes())
    target = built["target"]
    seconds = len(audio["pcm"]) / 16000
    timeout = timeout or (60 + (40 if target.runner != "host" else 2) * seconds)
    done = tflm_build.run_program(target, built["program"], cwd=work, timeout=timeout, icount=icount,
                                  wrapper=wrapper)
    result = {**parse_stream_output(done.stdout), "stdout": done.stdout}
    if done.returncode or not result["ended"] or not result["labels"]:
        raise VerifyError(f"the streaming firmware on {target.name} stopped after "
                          f"{len(result['frames'])} frames and {len(result['labels'])} labels (exit "
                          f"{done.returncode}):\n{(done.stdout[-1500:] + done.stderr[-1500:]).strip()}")
    return result


def compare_stream(built: dict, audio: dict, result: dict) -> dict:
    """The streaming firmware against the Python path (`audio`: FirmwareInputs.stream); VerifyError
    on any disagreement:
    - frames: the device's int8 feature frames against the training front end run on the whole
      stream (FEATURE_MAX_LSB, FEATURE_EQUAL_SHARE), frame for frame;
    - labels fall every label hop once a window has arrived (frames F, F + H, F + 2H, …);
    - logits: bit-identical to InterpreterPieces (the int8 pieces on the Python TFLM interpreter,
      requantized between pieces through float) on the device's own frames of that window;
    - labels: equal to the Python path's (its own frames, the same pieces)."""
    manifest = built["manifest"]
    stream = manifest["streaming"]
    runner, geometry = InterpreterPieces(built["blobs"]), StreamGeometry.from_dict(stream)
    a_in, logits_q = stream["pieces"]["step"]["inputs"][0], stream["pieces"]["classify"]["outputs"][0]
    expected = device_input(a_in, audio["features"])
    device = result["frames"]
    problems = []
    if len(device) > len(expected) or device.shape[1:] != expected.shape[1:]:
        raise VerifyError(f"the firmware made {device.shape} frames, the Python front end "
                          f"{expected.shape} for the "
                          "same audio")
    diff = np.abs(device.astype(int) - expected[:len(device)].astype(int))
    frames_row = {"frames": len(device), "features_max_lsb": int(diff.max()),
                  "features_equal_share": float(np.mean(diff == 0))}
    problems += features_problem("the stream's frames", frames_row)
    window, hop = manifest["window_frames"], stream["label_hop_frames"]

    def logits_of(frames_q):
        return stream_window(runner, geometry, dequantize_values(frames_q, a_in["scale"], a_in["zero_point"]))

    rows = []
    for i, label in enumerate(result["labels"]):
        end = label["frames"]
        python_same = logits_of(device[end - window:end])
        python_path_logits = logits_of(expected[end - window:end])
        device_logits = dequantize_values(label["logits"], logits_q["scale"], logits_q["zero_point"])
        row = {"index": i, "end_frame": end, "device_label": manifest["labels"][label["label"]],
               "python_label": manifest["labels"][int(np.argmax(python_path_logits))],
               "device_logits": label["logits"].tolist(),
               "logits_equal_same_input": bool(np.array_equal(device_logits, python_same)),
               **{k: label[k] for k in ("frontend_us", "step_us", "steps", "model_us") if k in label}}
        rows.append(row)
        if end != window + i * hop:
            problems.append(f"label {i} after {end} frames, expected after {window + i * hop}")
        if not row["logits_equal_same_input"]:
            problems.append(f"label {i}: logits {device_logits.tolist()} != Python TFLM pieces on the "
                            f"same frames {python_same.tolist()}")
        if row["device_label"] != row["python_label"]:
            problems.append(f"label {i}: {row['device_label']} != Python path {row['python_label']}")
    if problems:
        raise VerifyError(f"streaming firmware on {built['target'].name} disagrees with the Python path:\n  "
                          + "\n  ".join(problems))
    return {"frames": frames_row, "labels": rows}


def verify_firmware(bundle: Path, board_key: str, target_name: str, inputs: FirmwareInputs, tflm_dir=None,
                    work: Path | None = None, log=print) -> dict:
    """Build, run on the test clips of `inputs`, compare; the report (sizes, arena, per-clip or,
    streaming, per-label rows)."""
    with tempfile.TemporaryDirectory(prefix="ser-verify-") as tmp:
        folder = Path(work or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        built = build(bundle, board_key, target_name, inputs.blobs, folder, tflm_dir, log)
        if streams(built["manifest"]):
            result = run_stream(built, inputs.stream, folder)
            compared = compare_stream(built, inputs.stream, result)
            rows = inputs.stream["clips"]
        else:
            result = run(built, inputs.clips, folder)
            rows, compared = compare(built, inputs.clips, result), None
        report = {"board": board_key, "target": target_name, "tree": str(built["tree"]), "clips": rows,
                  "deployment": built["manifest"].get("deployment", "whole-window"),
                  "arena_used_bytes": result["arena_used_bytes"],
                  "arena_exported_bytes": built["manifest"]["arena"]["kTensorArenaSize"],
                  "arena_built_bytes": built["arena"]["bytes"],
                  "arena_built_with": built["arena"]["measured_with"],
                  "arena_python_bytes": built["manifest"]["arena"]["reference_bytes"]}
        if compared:
            report["streaming"] = compared
        if built["regions"]:
            report["memory"] = section_usage(built["target"], built["program"], built["regions"])
    return report


def _bytes(value) -> str:
    """`N B`, or for the streaming pieces (a dict) each piece's and their sum."""
    if isinstance(value, dict):
        return " + ".join(f"{name} {n:,}" for name, n in value.items()) + f" = {sum(value.values()):,} B"
    return f"{value:,} B"


def summary(report: dict, board_key: str) -> str:
    """Lines for the terminal: per clip, then arena, flash and RAM beside the board's budget."""
    board = get_board(board_key)
    lines = [f"{len(report['clips'])} test clips on {report['target']} ({report['tree']}):"]
    streamed = report.get("streaming")
    if streamed:
        frames = streamed["frames"]
        lines[0] = (f"{len(report['clips'])} test clips as one stream on {report['target']} "
                    f"({report['tree']}): {frames['frames']} frames, {frames['features_equal_share']:.2%} "
                    f"identical to the Python front end, max {frames['features_max_lsb']} LSB; "
                    f"{len(streamed['labels'])} labels:")
        for row in streamed["labels"]:
            lines.append(f"  after frame {row['end_frame']}: {row['device_label']} (Python "
                         f"{row['python_label']}); logits {row['device_logits']} = Python TFLM pieces; step "
                         f"{row.get('step_us', '?')} x {row.get('steps', '?')}, attend + classify "
                         f"{row.get('model_us', '?')} (board_micros units)")
    for row in report["clips"] if not streamed else ():
        lines.append(f"  {row['utt_id']}: {row['device_label']} (Python {row['python_label']}, true "
                     f"{row['label']}); logits {row['device_logits']} = Python TFLM; features "
                     f"{row['features_equal_share']:.2%} identical, max {row['features_max_lsb']} LSB")
    lines.append(f"tensor arena used {report['arena_used_bytes']:,} B of {report['arena_built_bytes']:,} B "
                 f"({report['arena_built_with']} + margin; Python TFLM, 64-bit "
                 f"{_bytes(report['arena_python_bytes'])}; the bundle's kTensorArenaSize "
                 f"{report['arena_exported_bytes']:,} B)")
    memory = report.get("memory")
    if memory:
        flash_kb = board.flash_kb
        lines.append(f"flash {memory['flash_bytes']:,} B of {flash_kb} KB ({board.name})")
        for name, region in memory["regions"].items():
            parts = ", ".join(f"{s} {n:,}" for s, n in region["sections"].items())
            rest = "left for heap and stack" if region["heap_and_stack"] else "free"
            lines.append(f"RAM {name}: {region['used_bytes']:,} of {region['bytes']:,} B ({parts}); "
                         f"{region['free_bytes']:,} B {rest}")
    return "\n".join(lines)
