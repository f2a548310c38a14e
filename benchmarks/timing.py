"""Shared timing for the benchmarks: interleaved, best-of-N mean seconds per call."""
from __future__ import annotations

import time


def seconds_per_call(steps: dict, calls: int, repeats: int = 5) -> dict:
    """Mean seconds per call of each compiled step in `steps` (name → callable).

    Each step runs once untimed (tracing), then the steps take turns, `calls` calls each, for
    `repeats` rounds; the best round counts. Taking turns keeps warm-up and the load of the
    other core from favouring whichever step would have run last.
    """
    for step in steps.values():
        step()
    best = {name: float("inf") for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(calls):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / calls)
    return best
