"""Grid sweeps over HRF placements, ratios, depths and activations × seeds, like the paper's tables.

`--grid placements=original,none,ffn2@8x1,all ratios=2,4,8 depths=1,2,3 activations=relu,gelu`:
`original` is the original preset without HRF, `none` the config's (lightweight) preset
without HRF; any other placement without its own `@RxD` is crossed with every ratio and depth.
Each (variant, seed) is one task. Finished tasks (metrics.json with the same settings) are
skipped, so a sweep resumes. Executors: a local process pool (spawned workers, each with
`--threads` TensorFlow threads), or Ray (`--executor ray --address …`), one task per run with
its own CPU / GPU request. Data stages run once, before any task starts.

Ray tasks read the corpus, feature cache and config and write their run folders in place: every
node must see the driver's files at the same paths (a shared file system, e.g. NFS, mounted
alike) and the task runs in the driver's working directory; a node that does not is named in a
one-line error before it trains (check_shared_files).
"""
from __future__ import annotations

import itertools
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

from ser_reparam.config import ExperimentConfig, load_config
from ser_reparam.console import Progress, quiet_tensorflow
from ser_reparam.models.placement import Placement
from ser_reparam.errors import InputError

GRID_KEYS = ("placements", "ratios", "depths", "activations")


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """['placements=a,b', 'ratios=2,4'] → {'placements': ['a', 'b'], 'ratios': ['2', '4']}."""
    grid = {}
    for item in items:
        key, _, values = item.partition("=")
        if key not in GRID_KEYS or not values:
            raise InputError(f"--grid item {item!r}: write KEY=V1,V2 with KEY one of {', '.join(GRID_KEYS)}")
        grid[key] = [v.strip() for v in values.split(",") if v.strip()]
    if "placements" not in grid:
        raise InputError("--grid needs placements=… (e.g. placements=none,ffn2,all)")
    return grid


def variant_overrides(grid: dict[str, list[str]], config: ExperimentConfig) -> list[list[str]]:
    """One override list per grid point, in grid order, validated against the architecture."""
    ratios = [int(r) for r in grid.get("ratios", ["8"])]
    depths = [int(d) for d in grid.get("depths", ["1"])]
    activations = grid.get("activations", [None])
    points = []
    for placement, activation in itertools.product(grid["placements"], activations):
        act = [] if activation is None else [f"model.activation={activation}"]
        if placement == "original":
            points.append(["model.preset=original", "model.hrf=none", *act])
        elif placement in ("none", "lightweight"):
            points.append(["model.hrf=none", *act])
        else:
            specs = [placement] if "@" in placement else [f"{placement}@{r}x{d}" for r in ratios for d in depths]
            for spec in specs:
                Placement.parse(spec, config.model.arch)
                points.append([f"model.hrf={spec}", *act])
    return points


def check_shared_files(workdir: str, paths: list[str]) -> None:
    """On a Ray worker: the driver's working directory and the files the run reads must be there
    at the same paths (a file system shared by every node); InputError naming the node otherwise."""
    import socket

    missing = [path for path in [workdir, *paths] if not os.path.exists(os.path.join(workdir, path))]
    if missing:
        raise InputError(f"Ray node {socket.gethostname()} does not see {', '.join(missing)}: every node needs "
                         f"the driver's files at the same paths (a shared file system mounted alike, and the "
                         f"working directory {workdir}); see README, 'Ray on a cluster'")


def _run_task(config_path: str, overrides: list[str], seed: int, threads: int, workdir: str | None = None) -> dict:
    """One training run in a worker: load the config, train the seed, return its key numbers.
    `workdir` (Ray): the driver's working directory, where relative config paths point."""
    quiet_tensorflow()  # (Ray) a worker inherits the driver's TF_CPP_MIN_LOG_LEVEL (0 with --verbose)
    if workdir is not None:
        check_shared_files(workdir, [config_path])
        os.chdir(workdir)
    from ser_reparam.train import configure_threads, train_seed

    config = load_config(config_path, overrides)
    if workdir is not None:
        check_shared_files(workdir, [config.data.root, config.runs_dir])
    configure_threads(threads)
    metrics = train_seed(config, seed, verbose=0)
    return {"variant": metrics["variant"], "fold": metrics.get("fold"), "seed": seed,
            **{k: metrics["test"][k] for k in ("wa", "ua", "wf1", "mf1")}}


def _summary(result: dict) -> str:
    fold = "" if result.get("fold") is None else f" fold {result['fold']}"
    return f"{result['variant']}{fold} seed {result['seed']}: test UA {result['ua']:.3f}"


def run_sweep(config_path: str, base_overrides: list[str], grid: dict, seeds: list[int],
              executor: str = "local", workers: int = 2, threads: int = 1, address: str | None = None,
              gpus: float = 0.0) -> list[dict]:
    """Stages 01–02 once (through the runner and its records), then train every (variant, seed);
    returns one summary per run."""
    from ser_reparam.baseline import ensure_baselines
    from ser_reparam.experiment import fold_configs
    from ser_reparam.pipeline import run_pipeline

    config = load_config(config_path, base_overrides)
    folds = fold_configs(config)
    for run in folds:
        run_pipeline(run, 1, 2)
        ensure_baselines(run)
    fold_overrides = [[] if run.data.fold is None or config.data.fold is not None else [f"data.fold={run.data.fold}"]
                      for run in folds]
    tasks = [(config_path, [*base_overrides, *fold, *point], seed, threads)
             for fold in fold_overrides for point in variant_overrides(grid, config) for seed in seeds]
    progress = Progress(len(tasks), "sweep")
    if executor == "local":
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                 initializer=quiet_tensorflow) as pool:
            futures = {pool.submit(_run_task, *task): i for i, task in enumerate(tasks)}
            results = [None] * len(tasks)
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress.advance(_summary(results[futures[future]]))
            return results
    if executor == "ray":
        import ray

        started = not ray.is_initialized()
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        try:
            remote = ray.remote(num_cpus=threads, num_gpus=gpus)(_run_task)
            workdir = os.getcwd()  # a shared file system: relative paths mean the same on every node
            pending = {remote.remote(*task, workdir): i for i, task in enumerate(tasks)}
            results = [None] * len(tasks)
            waiting = list(pending)
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1)
                results[pending[ready[0]]] = ray.get(ready[0])
                progress.advance(_summary(results[pending[ready[0]]]))
            return results
        finally:
            if started:
                ray.shutdown()  # a local Ray started here must not outlive the sweep
    raise InputError(f"unknown executor {executor!r}; use local or ray")
