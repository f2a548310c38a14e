"""A run's firmware bundles: stage 06 and `ser-reparam export` translate a run (its deployed
files, stage 05's record, the config's boards and deployment) into the plain inputs of
firmware_export, which knows nothing of runs or configs."""
from __future__ import annotations

import json

from firmware_export.export import export_model, export_streaming
from ser_reparam.config import ExperimentConfig
from ser_reparam.errors import StageError
from ser_reparam.layout import RunLayout
from ser_reparam.models.stream_geometry import PIECES
from ser_reparam.quantize import deployed_model_name

DEPLOYMENTS = ("auto", "streaming", "whole-window")


def choose_deployment(config: ExperimentConfig, model_name: str | None = None,
                      deployment: str | None = None) -> str:
    """The deployment to export for this run, "streaming" or "whole-window": `deployment` (default
    export.deployment); "auto" streams when stage 05 wrote the streaming pieces, unless another
    file than the deployed one is asked for (`model_name`: the pieces are quantized from the
    folded model, not from that file)."""
    wanted = deployment or config.export.deployment
    if wanted not in DEPLOYMENTS:
        raise StageError(f"export deployment {wanted!r}: choose one of {', '.join(DEPLOYMENTS)}")
    record = RunLayout(config).quantize_record
    streaming = json.loads(record.read_text()).get("streaming", {}) if record.exists() else {}
    if wanted == "auto":
        chosen = model_name in (None, deployed_model_name(config)) and streaming.get("streams", False)
        return "streaming" if chosen else "whole-window"
    if wanted == "streaming" and not streaming.get("streams", False):
        why = streaming.get("why", f"{record} records no streaming pieces: rerun stage 05 (ser-reparam "
                                   "quantize … --force)")
        raise StageError(f"stage 06 (export): export.deployment is streaming, but {why}")
    return wanted


def export_run(config: ExperimentConfig, board_key: str, model_name: str | None = None,
               deployment: str | None = None) -> dict:
    """Write the firmware bundle for `board_key` into the run's firmware/<board> folder: the
    deployed `model_name` file (stage 05; default deployed_model_name) once per window, or the
    streaming pieces (choose_deployment).

    BudgetError (naming the numbers) when the model and arena do not fit the board."""
    layout = RunLayout(config)
    model_path = layout.tflite(model_name or deployed_model_name(config))
    if not model_path.exists():
        raise StageError(f"stage 06 (export): no {model_path.name} in {model_path.parent} — run stage 05 "
                         "(ser-reparam quantize …)")
    if choose_deployment(config, model_name, deployment) == "streaming":
        record = json.loads(layout.quantize_record.read_text())["streaming"]
        paths = {name: layout.stream_piece(name) for name in PIECES}
        return export_streaming(model_path, paths, record, layout.firmware_dir(board_key), board_key,
                                config.export.label_hop_s)
    return export_model(model_path, layout.firmware_dir(board_key), board_key)
