"""Sweep grids, the local process pool and the Ray executor."""
import pytest
from conftest import write_tiny_config

from ser_reparam.config import parse_config
from ser_reparam.report import collect
from ser_reparam.sweep import parse_grid, run_sweep, variant_overrides


def test_grid_expansion():
    config = parse_config({"name": "x", "data": {"dataset": "demo", "root": "c"},
                           "model": {"arch": "conformer"}})
    grid = parse_grid(["placements=original,none,ffn2,ffn_m1+ffn_m2@4x2", "ratios=2,8", "depths=1,3"])
    points = variant_overrides(grid, config)
    assert points[:2] == [["model.preset=original", "model.hrf=none"], ["model.hrf=none"]]
    assert [p[0] for p in points[2:]] == ["model.hrf=ffn2@2x1", "model.hrf=ffn2@2x3", "model.hrf=ffn2@8x1",
                                          "model.hrf=ffn2@8x3", "model.hrf=ffn_m1+ffn_m2@4x2"]
    assert grid.ratios == (2, 8) and grid.depths == (1, 3)  # parsed once, into numbers
    assert parse_grid(["placements=ffn2"]).ratios == (8,)  # the placement grammar's default
    with_act = variant_overrides(parse_grid(["placements=none", "activations=relu,gelu"]), config)
    assert with_act == [["model.hrf=none", "model.activation=relu"],
                        ["model.hrf=none", "model.activation=gelu"]]


@pytest.mark.parametrize("items,message", [
    (["ratios=2"], "needs placements"), (["placement=ffn2"], "KEY one of"), (["placements="], "KEY=V1,V2"),
    (["placements=ffn2", "ratios=2,x"], "ratios=2,x: x is not a whole number"),
])
def test_bad_grids(items, message):
    with pytest.raises(ValueError, match=message):
        parse_grid(items)


def test_placement_the_architecture_lacks_is_refused():
    config = parse_config({"name": "x", "data": {"dataset": "demo", "root": "c"}})
    with pytest.raises(ValueError, match="has no place 'ffn_m1'"):
        variant_overrides(parse_grid(["placements=ffn_m1"]), config)


def write_config(tmp_path):
    return write_tiny_config(tmp_path, "split", 1, 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_sweep_runs_every_point_and_resumes(tmp_path, executor, capsys):
    path = write_config(tmp_path)
    grid = parse_grid(["placements=none,ffn2@2x1"])
    runs = run_sweep(str(path), ["training.seeds=2"], grid, [0, 1], executor=executor, workers=2, threads=1)
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sweep: ")]
    assert [line.split(" runs done")[0] for line in progress] == [f"sweep: {k}/4" for k in range(1, 5)]
    assert all("ETA" in line for line in progress[:3]) and "test UA" in progress[-1]
    assert sorted((r["variant"], r["seed"]) for r in runs) == [
        ("convtransformer-lightweight-ffn2@2x1", 0), ("convtransformer-lightweight-ffn2@2x1", 1),
        ("convtransformer-lightweight-none", 0), ("convtransformer-lightweight-none", 1)]
    found = collect([tmp_path / "runs" / "tiny"])
    assert {v: len(m) for v, m in found.items()} == {"convtransformer-lightweight-none": 2,
                                                     "convtransformer-lightweight-ffn2@2x1": 2}
    # every variant's stage 03 is recorded (fold / quantize take a swept variant like a trained one)
    records = sorted(p.name for p in (tmp_path / "runs" / "tiny" / "stages").glob("03-*.json"))
    assert records == ["03-convtransformer-lightweight-ffn2@2x1.json",
                       "03-convtransformer-lightweight-none.json"]
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("metrics.json")}
    stamps.update({p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("stages/03-*.json")})
    # skipped
    run_sweep(str(path), ["training.seeds=2"], grid, [0, 1], executor="local", workers=1, threads=1)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


@pytest.mark.slow
def test_ray_tasks_check_the_shared_file_system(tmp_path):
    """A local Ray cluster: a task sees the driver's files (same machine) and names what it lacks."""
    import ray

    from ser_reparam.sweep import check_shared_files

    (tmp_path / "c.yaml").write_text("x")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(check_shared_files)
        assert ray.get(remote.remote(str(tmp_path), ["c.yaml"])) is None
        with pytest.raises(ray.exceptions.RayTaskError, match=r"does not see .*missing\.yaml.*same paths"):
            ray.get(remote.remote(str(tmp_path), ["c.yaml", "missing.yaml"]))
    finally:
        ray.shutdown()
