"""Stage 06, streaming deployment (firmware_export/stream_export.py): the bundle of the three int8
pieces — files, settings, the shared arena and the RAM total in the budget, the deployment choice
and its errors. Quick: the arena is the labelled estimate (no TFLM tree); the firmware built against
the real TFLM and run on test clips is tests/test_firmware_build.py (slow)."""
import dataclasses
import json
import shutil
import subprocess

import pytest

from firmware_export.frontend_tables import stream_state_bytes
from firmware_export.stream_export import label_hop_frames, piece_tensors
from ser_reparam.bundles import choose_deployment, export_run
from ser_reparam.config import parse_config
from ser_reparam.errors import ConfigError, StageError
from ser_reparam.layout import RunLayout
from ser_reparam.models.stream_geometry import PIECES, STEP_CONTEXT, state_bytes
from ser_reparam.tflite.ops import op_set


def copy_run(config, folder):
    """The run in another runs_dir: its bundles do not replace the whole-window ones other tests read."""
    shutil.copytree(config.run_dir, folder / "copy")
    return dataclasses.replace(config, runs_dir=str(folder), name="copy")


@pytest.fixture(scope="module")
def streamed(deployed_run, tmp_path_factory):
    run = copy_run(deployed_run, tmp_path_factory.mktemp("streamed"))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TFLM_DIR", raising=False)
        patch.delenv("ESP_TFLM_DIR", raising=False)
        manifest = export_run(run, "stm32f4")  # export.deployment "auto": the model streams
    return run, RunLayout(run).firmware_dir("stm32f4"), manifest


def test_auto_exports_the_pieces_with_the_total_ram_in_the_budget(streamed):
    run, folder, manifest = streamed
    record = json.loads(RunLayout(run).quantize_record.read_text())["streaming"]
    assert manifest["deployment"] == "streaming" and record["streams"]
    files = set(manifest["files"])
    assert {f"model_data_{p}.{ext}" for p in PIECES for ext in ("h", "cc")} <= files
    assert {"ser_stream_app.h", "ser_stream_app.cc", "ser_board.h", "ser_frontend_stream.c"} <= files
    assert "model_data.cc" not in files and "ser_app.cc" not in files
    assert "cmake-cortex-m/ser_stream_app.cc" in files
    stream = manifest["streaming"]
    dim = stream["dim"]
    assert (stream["steps"], stream["chunk"]) == (record["steps"], record["chunk"])
    assert (stream["state_bytes"] == state_bytes(stream["steps"], dim, 78)
            >= STEP_CONTEXT * 78 + 3 * stream["steps"] * dim)
    ram = manifest["budget"]["ram"]
    assert ram["state_bytes"] == stream["state_bytes"]
    assert ram["frontend_bytes"] == stream_state_bytes(run.frontend, cmsis=True)
    assert ram["used_bytes"] == ram["arena_bytes"] + ram["state_bytes"] + ram["frontend_bytes"]
    assert ram["regions"]["SRAM"]["buffers"] == {"arena": ram["arena_bytes"], "state": ram["state_bytes"]}
    # no tree: each piece's reference arena, their sum as the (upper bound of the) shared one
    arena = manifest["arena"]
    assert arena["fidelity"] == "estimate" and arena["measured_bytes"] == sum(arena["pieces_bytes"].values())
    assert manifest["model"]["bytes"] == sum(p["bytes"] for p in record["pieces"].values())
    assert manifest["budget"]["flash"]["model_bytes"] == manifest["model"]["bytes"]
    assert "arena + state" in manifest["verdict"]
    template = (folder / "cmake-cortex-m" / "main.cc").read_text()
    assert '#include "ser_stream_app.h"' in template and "SerFrontendState g_frontend" in template
    assert ("ser_stream_app.cc model_data_step.cc"
            in (folder / "cmake-cortex-m" / "CMakeLists.txt").read_text())


def test_piece_arrays_and_settings_are_the_pieces_own(streamed, tmp_path):
    run, folder, manifest = streamed
    layout = RunLayout(run)
    dump = tmp_path / "dump.cc"
    dump.write_text('#include <cstdio>\n#include "model_data_step.h"\n#include "model_data_attend.h"\n'
                    '#include "model_data_classify.h"\n#include "model_settings.h"\n'
                    "int main(int argc, char** argv) {\n"
                    "  const unsigned char* data[] = {g_ser_step_model_data, g_ser_attend_model_data, "
                    "g_ser_classify_model_data};\n"
                    "  const unsigned len[] = {g_ser_step_model_data_len, g_ser_attend_model_data_len, "
                    "g_ser_classify_model_data_len};\n"
                    "  if (argc > 1) { int i = argv[1][0] - '0'; fwrite(data[i], 1, len[i], stdout); "
                    "return 0; }\n"
                    '  printf("%.9g %d %.9g %.9g %.9g %d %.9g %.9g %.9g %d %d %d %d %d %d\\n", '
                    'kSerStepInputScale[0],\n'
                    "         kSerStepInputZeroPoint[0], kSerStepOutputScale[1], kSerAttendInputScale[1],\n"
                    "         kSerAttendOutputScale, kSerAttendOutputZeroPoint, kSerClassifyInputScale, "
                    "kSerOutputScale,\n"
                    "         kSerAttendInputScale[2], kSerSteps, kSerChunk, kSerLabelHopFrames, "
                    "kSerStateBytes,\n"
                    "         kSerNumFrames, kTensorArenaSize);\n}\n")
    exe = tmp_path / "dump"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", f"-I{folder}", str(dump),
                    *(str(folder / f"model_data_{p}.cc") for p in PIECES), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    for i, name in enumerate(PIECES):
        out = subprocess.run([str(exe), str(i)], check=True, capture_output=True).stdout
        assert out == layout.stream_piece(name).read_bytes()
    values = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    tensors = {name: piece_tensors(layout.stream_piece(name).read_bytes()) for name in PIECES}
    expected = [tensors["step"]["inputs"][0]["scale"], tensors["step"]["inputs"][0]["zero_point"],
                tensors["step"]["outputs"][1]["scale"], tensors["attend"]["inputs"][1]["scale"],
                tensors["attend"]["outputs"][0]["scale"], tensors["attend"]["outputs"][0]["zero_point"],
                tensors["classify"]["inputs"][0]["scale"], tensors["classify"]["outputs"][0]["scale"],
                tensors["attend"]["inputs"][2]["scale"]]
    assert [float(v) for v in values[:9]] == pytest.approx(expected, rel=1e-7)
    stream = manifest["streaming"]
    assert [int(v) for v in values[9:]] == [stream["steps"], stream["chunk"], 100, stream["state_bytes"],
                                            manifest["window_frames"], manifest["arena"]["kTensorArenaSize"]]
    resolver = (folder / "op_resolver.h").read_text()
    ops = sorted({op for name in PIECES for op in op_set(layout.stream_piece(name).read_bytes())})
    assert f"kSerOpCount = {len(ops)};" in resolver and all(f"// {op}\n" in resolver for op in ops)


def test_label_hop_is_a_whole_number_of_steps(deployed_run):
    assert label_hop_frames(deployed_run.frontend, 1.0) == 100
    assert label_hop_frames(deployed_run.frontend, 0.2) == 20
    with pytest.raises(StageError, match=r"export.label_hop_s = 0.25 s is not a whole number of "
                                         r"encoder steps \(4 frames = 0.04 s\): choose a multiple of 0.04 s, "
                                         r"e.g. 0.24 or 0.28"):
        label_hop_frames(deployed_run.frontend, 0.25)
    for key, value, problem in (("label_hop_s", 0, "must be a finite number > 0"),
                                ("deployment", "stream", "must be one of auto, streaming, whole-window")):
        with pytest.raises(ConfigError, match=f"export.{key} {problem}"):
            parse_config({"name": "x", "data": {"dataset": "demo", "root": "."}, "export": {key: value}})


def test_deployment_choice_and_its_errors(deployed_run, tmp_path):
    assert choose_deployment(deployed_run) == "streaming"  # auto, and the model streams
    assert choose_deployment(deployed_run, deployment="whole-window") == "whole-window"
    assert choose_deployment(deployed_run, model_name="qat_int8") == "whole-window"  # not the deployed file
    run = copy_run(deployed_run, tmp_path)
    record_path = RunLayout(run).quantize_record
    record = json.loads(record_path.read_text())
    record["streaming"] = {"streams": False, "why": "model 'x' cannot stream exactly: it has no subsampling"}
    record_path.write_text(json.dumps(record))
    assert choose_deployment(run) == "whole-window"
    with pytest.raises(StageError,
                       match="export.deployment is streaming, but model 'x' cannot stream exactly"):
        choose_deployment(run, deployment="streaming")
