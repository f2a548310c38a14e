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

import dataclasses
import itertools
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

from ser_reparam.config import ExperimentConfig, load_config
from ser_reparam.console import Progress, quiet_tensorflow
from ser_reparam.errors import InputError
from ser_reparam.models.placement import DEFAULT_DEPTH, DEFAULT_RATIO, Placement, gives_setting

GRID_KEYS = ("placements", "ratios", "depths", "activations")
PRESET_POINTS = {"original": ["model.preset=original", "model.hrf=none"],  # grid placements that are
                 "none": ["model.hrf=none"], "lightweight": ["model.hrf=none"]}  # not HRF specs


@dataclasses.dataclass(frozen=True)
class SweepGrid:
    """A parsed --grid: placements (HRF specs or PRESET_POINTS names), the ratios and depths a
    placement without its own @<ratio>x<depth> is crossed with, and activations (None: the config's)."""
    placements: tuple[str, ...]
    ratios: tuple[int, ...] = (DEFAULT_RATIO,)
    depths: tuple[int, ...] = (DEFAULT_DEPTH,)
    activations: tuple[str | None, ...] = (None,)


def parse_grid(items: list[str]) -> SweepGrid:
    """['placements=a,b', 'ratios=2,4'] → SweepGrid(placements=('a', 'b'), ratios=(2, 4))."""
    grid = {}
    for item in items:
        key, _, values = item.partition("=")
        if key not in GRID_KEYS or not values.strip(" ,"):
            raise InputError(f"--grid item {item!r}: write KEY=V1,V2 with KEY one of {', '.join(GRID_KEYS)}")
        grid[key] = tuple(v.strip() for v in values.split(",") if v.strip())
    if "placements" not in grid:
        raise InputError("--grid needs placements=… (e.g. placements=none,ffn2,all)")
    for key in ("ratios", "depths"):
        if key in grid:
            bad = [v for v in grid[key] if not v.isdigit()]
            if bad:
                raise InputError(f"--grid {key}={','.join(grid[key])}: {', '.join(bad)} is not a whole "
                                 "number")
            grid[key] = tuple(int(v) for v in grid[key])
    return SweepGrid(**grid)


def variant_overrides(grid: SweepGrid, config: ExperimentConfig) -> list[list[str]]:
    """One override list per grid point, in grid order, validated against the architecture."""
    points = []
    for placement, activation in itertools.product(grid.placements, grid.activations):
        act = [] if activation is None else [f"model.activation={activation}"]
        if placement in PRESET_POINTS:
            points.append([*PRESET_POINTS[placement], *act])
            continue
        parsed = Placement.parse(placement, config.model.arch)
        specs = [parsed] if gives_setting(placement) else [parsed.with_setting(r, d)
                                                           for r in grid.ratios for d in grid.depths]
        points += [[f"model.hrf={spec.spec}", *act] for spec in specs]
    return points


def check_shared_files(workdir: str, paths: list[str]) -> None:
    """On a Ray worker: the driver's working directory and the files the run reads must be there
    at the same paths (a file system shared by every node); InputError naming the node otherwise."""
    import socket

    missing = [path for path in [workdir, *paths] if not os.path.exists(os.path.join(workdir, path))]
    if missing:
        raise InputError(f"Ray node {socket.gethostname()} does not see {', '.join(missing)}: every node "
                         "needs the driver's files at the same paths (a shared file system mounted alike, "
                         f"and the working directory {workdir}); see docs/training.md, 'Ray on a cluster'")


def _run_task(config_path: str, overrides: list[str], seed: int, threads: int,
              workdir: str | None = None) -> dict:
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
    return {"variant": metrics["variant"], "cv_fold": metrics.get("cv_fold"), "seed": seed,
            **{k: metrics["test"][k] for k in ("wa", "ua", "wf1", "mf1")}}


def _summary(result: dict) -> str:
    fold = "" if result.get("cv_fold") is None else f" fold {result['cv_fold']}"
    return f"{result['variant']}{fold} seed {result['seed']}: test UA {result['ua']:.3f}"


def run_sweep(config_path: str, base_overrides: list[str], grid: SweepGrid, seeds: list[int],
              executor: str = "local", workers: int = 2, threads: int = 1, address: str | None = None,
              gpus: float = 0.0) -> list[dict]:
    """Stages 01–02 once (through the runner and its records), then train every (variant, seed),
    then stage 03's record of each variant (record_trained); returns one summary per run."""
    from ser_reparam.baseline import ensure_baselines
    from ser_reparam.experiment import fold_configs
    from ser_reparam.pipeline import run_pipeline
    from ser_reparam.train import configure_threads

    config = load_config(config_path, base_overrides)
    configure_threads(config.training.threads)  # before TensorFlow starts: stage 03's record runs here too
    folds = fold_configs(config)
    for run in folds:
        run_pipeline(run, 1, 2)
        ensure_baselines(run)
    fold_overrides = [[] if run.data.cv_fold is None or config.data.cv_fold is not None
                      else [f"data.cv_fold={run.data.cv_fold}"]
                      for run in folds]
    variants = [[*base_overrides, *fold, *point] for fold in fold_overrides
                for point in variant_overrides(grid, config)]
    tasks = [(config_path, overrides, seed, threads) for overrides in variants for seed in seeds]
    results = _train_all(tasks, executor, workers, threads, address, gpus)
    record_trained([load_config(config_path, overrides) for overrides in variants], seeds)
    return results


def record_trained(configs: list[ExperimentConfig], seeds: list[int]) -> None:
    """Stage 03's record of every swept variant whose seeds are the config's (0 … training.seeds-1):
    the runner finds each seed trained (train_seed skips it) and records the stage, so `fold`,
    `quantize`, … take a swept variant like a trained one."""
    from ser_reparam.pipeline import run_pipeline

    for config in configs:
        if seeds == list(range(config.training.seeds)):
            run_pipeline(config, 3, 3, echo=lambda _: None)


def _train_all(tasks: list[tuple], executor: str, workers: int, threads: int, address: str | None,
               gpus: float) -> list[dict]:
    """Every task's summary, in task order, on the local pool or Ray."""
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
