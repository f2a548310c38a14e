"""eGeMAPS v02 functionals (openSMILE, 88 per utterance): the classic SER baseline's features.

openSMILE's native library aborts the process ("malloc(): invalid size") when it is loaded after
TensorFlow, so the functionals are always computed in a child process that never imports
TensorFlow: `python -m ser_reparam.egemaps OUT.npz` reads one JSON job per stdin line
({"key", "path", "start", "end"}) and writes the keys and an (n, 88) array.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ser_reparam.errors import DataError

RATE = 16000


def functionals(jobs: list[dict]) -> dict[str, np.ndarray]:
    """key → 88 functionals of each job's audio (its start … end seconds; None = the file's edge)."""
    if not jobs:
        return {}
    handle, name = tempfile.mkstemp(suffix=".npz")
    os.close(handle)
    out = Path(name)
    lines = "".join(json.dumps(job) + "\n" for job in jobs)
    try:
        done = subprocess.run([sys.executable, "-m", "ser_reparam.egemaps", str(out)], input=lines, text=True,
                              capture_output=True, check=False)
        if done.returncode != 0:
            raise DataError("openSMILE (eGeMAPS) failed: "
                            f"{done.stderr.strip().splitlines()[-1:] or done.returncode}")
        with np.load(out, allow_pickle=False) as saved:
            return dict(zip(saved["keys"].tolist(), saved["values"]))
    finally:
        out.unlink(missing_ok=True)


def _main(out: str) -> int:
    import opensmile

    from ser_reparam.data.audio import read_mono_16k

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    keys, values = [], []
    for line in sys.stdin:
        job = json.loads(line)
        signal = read_mono_16k(job["path"])
        first = int(round((job["start"] or 0) * RATE))
        last = len(signal) if job["end"] is None else int(round(job["end"] * RATE))
        keys.append(job["key"])
        values.append(smile.process_signal(signal[first:last], RATE).to_numpy(np.float64)[0])
    with open(out, "wb") as handle:
        np.savez(handle, keys=np.array(keys), values=np.array(values))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
