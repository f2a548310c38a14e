"""The streaming deployment's files of a bundle (issue 16): the three int8 pieces stage 05 wrote
(ser_reparam.models.streaming: step, attend, classify) as C arrays, one op resolver covering all
of them, and model_settings.h with the loop's numbers — steps, chunk, step frames and context,
the label hop, each piece's input and output scales and zero points (read from the pieces
themselves, never retyped) for the requantization between pieces — and the application state's
size, the same struct as ser_stream_app.cc's (a static_assert there checks it).
"""
from __future__ import annotations

from firmware_export.c_array import model_data_header, model_data_source
from firmware_export.frontend_tables import c_float
from firmware_export.op_resolver import op_resolver_header, softmax_exp_tables
from firmware_export.render import c_string, c_string_list, render
from ser_reparam.errors import StageError
from ser_reparam.features import FrontendConfig
from ser_reparam.models.stream_geometry import PIECES, STEP_FRAMES, StreamGeometry, heads_of_attend
from ser_reparam.tflite.interpreters import TFLMModel, scale_zero
from ser_reparam.tflite.ops import op_set

APP_FILES = ("ser_board.h", "ser_stream_app.h", "ser_stream_app.cc", "ser_kernels.h", "ser_kernels.cc")


def piece_tensors(blob: bytes) -> dict:
    """Every input and output of a piece in graph order: shape, scale, zero point."""
    runner = TFLMModel(blob)
    return {side: [{"shape": [int(d) for d in t["shape"]], "scale": scale_zero(t)[0],
                    "zero_point": scale_zero(t)[1]}
                   for t in tensors]
            for side, tensors in (("inputs", runner.inputs), ("outputs", runner.outputs))}


def label_hop_frames(frontend: FrontendConfig, label_hop_s: float) -> int:
    """Feature frames per label hop; a whole number of encoder steps, else a one-line error."""
    frames = label_hop_s * frontend.sample_rate / frontend.frame_step
    if abs(frames - round(frames)) > 1e-6 or round(frames) < STEP_FRAMES or round(frames) % STEP_FRAMES:
        step_s = STEP_FRAMES * frontend.frame_step / frontend.sample_rate
        below = max(1, int(frames // STEP_FRAMES))
        near = " or ".join(f"{k * step_s:g}" for k in dict.fromkeys((below, below + 1)))
        raise StageError(f"export.label_hop_s = {label_hop_s:g} s is not a whole number of encoder steps "
                         f"({STEP_FRAMES} frames = {step_s:g} s): choose a multiple of "
                         f"{step_s:g} s, e.g. {near}")
    return int(round(frames))


def check_pieces(tensors: dict, record: dict, features: int, num_classes: int) -> StreamGeometry:
    """The loop's geometry: stage 05's steps and chunk (`record`), checked against what the pieces'
    tensors say, and their heads and width."""
    steps, chunk = record["steps"], record["chunk"]
    step_in = tensors["step"]["inputs"][0]["shape"]
    dim = tensors["step"]["outputs"][0]["shape"][-1]
    attend_in = tensors["attend"]["inputs"]  # queries, each head's keys, each head's values
    heads = heads_of_attend(len(attend_in))
    head_dim = dim // heads
    geometry = StreamGeometry.of(steps, chunk, heads, dim, features)
    expected = {"step's input": (step_in, [1, geometry.step_context_frames, features]),
                "attend's queries": (attend_in[0]["shape"], [1, chunk, dim]),
                **{f"attend's keys {h}": (attend_in[1 + h]["shape"], [1, head_dim, steps])
                   for h in range(heads)},
                **{f"attend's values {h}": (attend_in[1 + heads + h]["shape"], [1, steps, head_dim])
                   for h in range(heads)},
                "attend's output": (tensors["attend"]["outputs"][0]["shape"], [1, chunk, dim]),
                "classify's input": (tensors["classify"]["inputs"][0]["shape"], [1, steps, dim]),
                "classify's logits": (tensors["classify"]["outputs"][0]["shape"], [1, num_classes])}
    wrong = [f"{what} {got} (expected {want})" for what, (got, want) in expected.items() if got != want]
    for part, first in (("keys", 1), ("values", 1 + heads)):  # the app requantizes every head's alike
        if len({(t["scale"], t["zero_point"]) for t in attend_in[first:first + heads]}) > 1:
            wrong.append(f"attend's {part} inputs are quantized differently per head")
    if wrong:
        raise StageError("stage 06 (export): the streaming pieces disagree with quantize.json and "
                         f"the deployed model: {'; '.join(wrong)}; rerun stage 05 (ser-reparam "
                         "quantize … --force)")
    return geometry


def _floats(values) -> str:
    return ", ".join(c_float(v) for v in values)


def _ints(values) -> str:
    return ", ".join(str(int(v)) for v in values)


def settings(blobs: dict[str, bytes], record: dict, frontend: FrontendConfig, num_classes: int,
             label_hop_s: float) -> dict:
    """The manifest's `streaming` block: what the loop does, the state's bytes and every piece's
    tensors (checked against quantize.json's record); a one-line error for a bad label hop."""
    tensors = {name: piece_tensors(blobs[name]) for name in PIECES}
    geometry = check_pieces(tensors, record, frontend.num_features, num_classes)
    return {**geometry.to_dict(), "label_hop_s": label_hop_s,
            "label_hop_frames": label_hop_frames(frontend, label_hop_s),
            "pieces": {name: {"bytes": len(blobs[name]), "ops": op_set(blobs[name]), **tensors[name]}
                       for name in PIECES}}


def stream_files(blobs: dict[str, bytes], streaming: dict, labels: list[str], window_frames: int,
                 features: int, window_seconds: float, arena_size: int, provenance: str,
                 replaced: list[str] = ()) -> dict:
    """File name → text of the streaming part of a bundle (the app's own files are copied);
    `streaming` is settings()."""
    geometry = StreamGeometry.from_dict(streaming)
    step, attend, classify = ({side: streaming["pieces"][name][side] for side in ("inputs", "outputs")}
                              for name in PIECES)
    files = {}
    for name in PIECES:
        files[f"model_data_{name}.h"] = model_data_header(f"ser_{name}", blobs[name],
                                                          f"{provenance}, piece {name}")
        files[f"model_data_{name}.cc"] = model_data_source(f"ser_{name}", blobs[name], f"model_data_{name}.h")
    files["model_settings.h"] = render(
        "bundle/model_settings_stream.h.in", provenance=c_string(provenance), window_frames=window_frames,
        features=features,
        window_seconds=c_float(window_seconds), label_hop_seconds=c_float(streaming["label_hop_s"]),
        label_hop_frames=streaming["label_hop_frames"], **geometry.to_dict(),
        step_input_scale=_floats([step["inputs"][0]["scale"]]),
        step_input_zero_point=_ints([step["inputs"][0]["zero_point"]]),
        step_output_scales=_floats(t["scale"] for t in step["outputs"]),
        step_output_zero_points=_ints(t["zero_point"] for t in step["outputs"]),
        attend_input_scales=_floats(attend["inputs"][i]["scale"] for i in (0, 1, 1 + geometry.heads)),
        attend_input_zero_points=_ints(attend["inputs"][i]["zero_point"]
                                       for i in (0, 1, 1 + geometry.heads)),
        attend_output_scale=c_float(attend["outputs"][0]["scale"]),
        attend_output_zero_point=attend["outputs"][0]["zero_point"],
        classify_input_scale=c_float(classify["inputs"][0]["scale"]),
        classify_input_zero_point=classify["inputs"][0]["zero_point"],
        output_scale=c_float(classify["outputs"][0]["scale"]),
        output_zero_point=classify["outputs"][0]["zero_point"],
        num_classes=len(labels), labels=c_string_list(labels), arena_size=arena_size)
    files["op_resolver.h"] = op_resolver_header(sorted({op for blob in blobs.values()
                                                        for op in op_set(blob)}),
                                                f"{provenance}, pieces {', '.join(PIECES)}", replaced,
                                                softmax_exp_tables(blobs.values()))
    return files
