"""Corpus tables (split lists, transcripts, user CSVs): header-checked rows, errors naming the file."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ser_reparam.errors import InputError


def utf8_text(data: bytes, path, error: type[Exception] = InputError) -> str:
    """`data` (the bytes of `path`) as text; not UTF-8: `error` naming the line, the byte and the fix."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#04x}); save the file as "
                    "UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def read_table(path: Path, required: tuple[str, ...], expected: str,
               delimiter: str = ",") -> tuple[list[str], list[dict]]:
    """(header, rows) of a delimited text file with a header line (UTF-8, a BOM is tolerated).

    Raises InputError naming `path` (and the line) for a missing `required` column, a quote left
    open or followed by text, or a row with more cells than the header has columns.
    """
    text = utf8_text(path.read_bytes(), path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows, line = [], 0
    try:
        header = list(reader.fieldnames or [])
        missing = [column for column in required if column not in header]
        if missing:
            raise InputError(f"{path}: header lacks {', '.join(missing)}; expected {expected}")
        line = reader.line_num
        for record in reader:
            if reader.line_num != line + 1:  # csv lets an unclosed quote swallow the lines after it
                raise InputError(f"{path}:{line + 1}: a quoted field runs over several lines (a quote is not "
                                 "closed?); fix that line")
            line = reader.line_num
            if None in record:  # DictReader keeps the cells beyond the header under the key None
                raise InputError(f"{path}:{line}: {len(header) + len(record[None])} cells but the header "
                                 f"names {len(header)} columns; quote a cell that contains {delimiter!r} "
                                 "or remove the extra cells")
            rows.append(record)
    except csv.Error as err:  # strict: a quote left open at the end of the file, or text after one
        raise InputError(f"{path}:{line + 1}: a quote is not closed, or text follows a closing "
                         f"quote ({err}); fix that line") from None
    return header, rows
