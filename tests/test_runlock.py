"""One writer per run folder: a second run is refused naming the first's PID; a dead holder's lock is
taken over."""
import subprocess
import sys
import textwrap

import pytest

from ser_reparam.errors import RunLockedError
from ser_reparam.runlock import run_lock

HOLD = textwrap.dedent("""
    import sys, time
    from ser_reparam.runlock import run_lock
    with run_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


@pytest.fixture
def holder(tmp_path):
    """Another process holding tmp_path/runs/x for up to a minute (killed at the end)."""
    folder = tmp_path / "runs" / "x"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    yield folder, process
    process.kill()
    process.wait(timeout=30)


def test_a_second_run_is_refused_naming_the_holder(holder):
    folder, process = holder
    with pytest.raises(RunLockedError, match=rf"{folder} is in use by process {process.pid} "):
        with run_lock(folder):
            pass


def test_the_pipeline_and_the_cli_refuse_a_held_run_folder(holder, capsys):
    from ser_reparam.cli import main
    from ser_reparam.config import parse_config
    from ser_reparam.pipeline import run_pipeline

    folder, process = holder
    config = parse_config({"name": "x", "runs_dir": str(folder.parent),
                           "data": {"dataset": "demo", "root": str(folder.parent.parent / "corpus")}})
    with pytest.raises(RunLockedError, match=f"process {process.pid}"):
        run_pipeline(config, 1, 1)
    yaml = folder.parent.parent / "x.yaml"
    yaml.write_text(f"name: x\nruns_dir: {folder.parent}\n"
                    f"data: {{dataset: demo, root: {folder.parent.parent / 'c'}}}\n")
    assert main(["run", "--config", str(yaml), "--to", "1"]) == 2
    assert f"in use by process {process.pid}" in capsys.readouterr().err
    assert not (folder.parent.parent / "c").exists()  # refused before anything was written


def test_a_dead_holders_lock_is_taken_over_and_the_lock_is_reentrant(holder):
    folder, process = holder
    process.kill()
    process.wait(timeout=30)
    assert f"process {process.pid}" in (folder / ".lock").read_text()  # the file outlives its holder
    with run_lock(folder):
        with run_lock(folder):  # the pipeline holds it while its stages take it again
            pass
        assert f"process {process.pid}" not in (folder / ".lock").read_text()


def test_a_full_disk_names_the_lock_file_and_lets_it_go(tmp_path, monkeypatch):
    """Writing the holder into the lock fails as on a full disk (ENOSPC when the write reaches the disk):
    one refusal naming the file, and the lock is not left held."""
    import builtins
    import errno
    import os

    from ser_reparam import runlock
    from ser_reparam.errors import FileSystemError

    def full():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def open_full(path, mode):
        handle = builtins.open(path, mode)
        handle.flush = full
        return handle

    monkeypatch.setattr(runlock, "open", open_full, raising=False)
    with pytest.raises(FileSystemError, match=f"^{tmp_path.resolve() / '.lock'}: No space left on device"):
        with run_lock(tmp_path):
            pass
    monkeypatch.undo()
    with run_lock(tmp_path):
        assert (tmp_path / ".lock").read_text().startswith("process ")
