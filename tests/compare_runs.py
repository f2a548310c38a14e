"""Compare two demo output trees (`ser-reparam demo --out A`, `--out B`) file by file.

A refactoring must leave the demo's artifacts byte-identical: deployed .tflite files, C arrays,
firmware bundles, reports. What legitimately differs between two runs is normalized first:
each tree's own root path (configs and records name it), and in JSON files the keys that hold
wall-clock measurements (VOLATILE_KEYS). Files that hold nothing but run-time logs
(VOLATILE_FILES: TensorBoard event files, lock files) are listed, not compared. A .keras file is
compared member by member without its metadata.json (Keras stamps the save time there and in the
zip entries). Still different between two identical runs, as measured on the demo: the feature
cache's TensorFlow snapshot ids (random folder names and the metadata naming them; the shards'
bytes are equal), stage records' input hashes of those files and of .keras files, and the
wall-clock "ms / clip" column of <variant>-evaluation.md.

    python tests/compare_runs.py /tmp/before /tmp/after     # exit 0 when equal
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
import zipfile
from pathlib import Path

VOLATILE_KEYS = {"seconds", "ms_per_clip", "train_seconds", "duration_s", "wall_seconds"}
VOLATILE_FILES = ("*/tensorboard/*", "*.lock", "*/error-*.log")


def _scrub(value):
    if isinstance(value, dict):
        return {k: "<volatile>" if k in VOLATILE_KEYS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def normalized(path: Path, root: Path) -> bytes:
    """The file's bytes with its tree's root path replaced and JSON wall-clock keys masked."""
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as archive:
            return b"".join(name.encode() + hashlib.sha256(archive.read(name)).digest()
                            for name in sorted(archive.namelist()) if name != "metadata.json")
    data = path.read_bytes()
    for spelled in {str(root), str(root.resolve())}:
        data = data.replace(spelled.encode(), b"<ROOT>")
    if path.suffix == ".json":
        try:
            return json.dumps(_scrub(json.loads(data)), indent=1, sort_keys=True).encode()
        except ValueError:
            pass
    return data


def digests(root: Path) -> tuple[dict[str, str], list[str]]:
    """({relative path: sha256 of the normalized file}, [volatile files skipped])."""
    compared, skipped = {}, []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatch("/" + name, pattern) for pattern in VOLATILE_FILES):
            skipped.append(name)
        else:
            compared[name] = hashlib.sha256(normalized(path, root)).hexdigest()
    return compared, skipped


def compare(a: Path, b: Path) -> dict[str, list[str]]:
    """{'only_a', 'only_b', 'differ', 'same', 'skipped'}: relative paths in each class."""
    da, skipped_a = digests(a)
    db, skipped_b = digests(b)
    return {"only_a": sorted(set(da) - set(db)), "only_b": sorted(set(db) - set(da)),
            "differ": sorted(k for k in set(da) & set(db) if da[k] != db[k]),
            "same": sorted(k for k in set(da) & set(db) if da[k] == db[k]),
            "skipped": sorted(set(skipped_a) | set(skipped_b))}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    result = compare(Path(argv[0]), Path(argv[1]))
    print(f"{len(result['same'])} files identical, {len(result['skipped'])} volatile files skipped")
    for kind in ("only_a", "only_b", "differ"):
        for name in result[kind]:
            print(f"{kind}: {name}")
    return 1 if result["only_a"] or result["only_b"] or result["differ"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
