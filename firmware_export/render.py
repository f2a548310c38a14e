"""Every generated file comes from one template file: the layout is in the template, the values
are formatted by the module that owns them (string.Template `${name}` fields; a missing value is
an error, never an empty string).

bundle/    the files of every bundle: model_data.h/.cc, model_settings.h, op_resolver.h,
           ser_memory.ld (.in templates) and the application loop ser_app.h/.cc (copied as is)
frontend/  the device front end: its C sources and its config header and tables (.in)
templates/ one ready project per kind (ESP-IDF, Arduino, CMake for Cortex-M)
"""
from __future__ import annotations

from pathlib import Path
from string import Template

HERE = Path(__file__).parent
BUNDLE_DIR = HERE / "bundle"


def render(template: str, **values) -> str:
    """The template file `template` (relative to firmware_export/) with its fields filled."""
    return Template((HERE / template).read_text()).substitute(values)
