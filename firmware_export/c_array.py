"""model_data.h / model_data.cc: the .tflite bytes as a C array, reproducible byte for byte.

Layout follows TFLM's generate_cc_arrays: `alignas(16) const unsigned char g_<name>_model_data[]`
in the .cc, the extern declarations and the length in the .h. No timestamps: the header names
the model's sha256 instead, so the same model always gives the same files.
"""
from __future__ import annotations

import hashlib

from firmware_export.render import c_string, render

BYTES_PER_LINE = 12


def model_data_header(symbol: str, model_bytes: bytes, provenance: str) -> str:
    return render("bundle/model_data.h.in", provenance=c_string(provenance), size=len(model_bytes),
                  digest=hashlib.sha256(model_bytes).hexdigest(), guard=f"SER_{symbol.upper()}_MODEL_DATA_H_",
                  symbol=symbol)


def model_data_source(symbol: str, model_bytes: bytes, header_name: str = "model_data.h") -> str:
    rows = []
    for start in range(0, len(model_bytes), BYTES_PER_LINE):
        chunk = model_bytes[start:start + BYTES_PER_LINE]
        rows.append("    " + ", ".join(f"0x{b:02x}" for b in chunk) + ",")
    return render("bundle/model_data.cc.in", digest=hashlib.sha256(model_bytes).hexdigest(),
                  header_name=header_name, symbol=symbol, rows="\n".join(rows), size=len(model_bytes))
