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


def c_string(text: str) -> str:
    """`text` as the inside of a C string literal, safe in a `//` comment too: `"` and `?`
    (trigraphs) escaped, a backslash and every character that is not printable (line breaks,
    other control and format characters such as bidi overrides) as octal escapes of their UTF-8
    bytes. No value can end a literal or a comment and start code, and none ends in a backslash
    that would splice the next line. Every string a user or a file gave goes into C through here."""
    out = []
    for char in str(text):
        if char in '"?':
            out.append("\\" + char)
        elif char == "\\" or not char.isprintable():
            out.extend(f"\\{byte:03o}" for byte in char.encode())
        else:
            out.append(char)
    return "".join(out)


def c_string_list(texts) -> str:
    """The initializer of a `const char*` array: `"a", "b"`, each escaped by c_string."""
    return ", ".join(f'"{c_string(text)}"' for text in texts)


def render(template: str, **values) -> str:
    """The template file `template` (relative to firmware_export/) with its fields filled."""
    return Template((HERE / template).read_text()).substitute(values)
