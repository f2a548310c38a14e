"""model_settings.h: what the firmware must know about the model, read from the .tflite itself.

Input shape, the int8 input / output scale and zero point (from the model's own quantization
parameters, never retyped), class labels, window length and the tensor arena size. The front
end's constants and the normalization statistics live in ser_frontend_config.h /
ser_frontend_tables.c, generated from the same run: normalization is done by the front end
in float, then the result is quantized with the input scale and zero point below (it cannot be
folded into the input quantization: one scale for the tensor, 78 different means and stds).
"""
from __future__ import annotations

from firmware_export.frontend_tables import c_float
from firmware_export.render import c_string, c_string_list, render


def model_settings_header(quant: dict, labels: list[str], window_seconds: float, arena_size: int,
                          provenance: str) -> str:
    _, window_frames, features = quant["input"]["shape"]
    return render("bundle/model_settings.h.in", provenance=c_string(provenance), window_frames=window_frames,
                  features=features, window_seconds=c_float(window_seconds),
                  input_dtype=quant["input"]["dtype"],
                  input_scale=c_float(quant["input"]["scale"]), input_zero_point=quant["input"]["zero_point"],
                  output_scale=c_float(quant["output"]["scale"]),
                  output_zero_point=quant["output"]["zero_point"],
                  num_classes=len(labels), labels=c_string_list(labels), arena_size=arena_size)
