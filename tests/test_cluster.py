"""A Dask cluster that is not this process (issue 21): a scheduler and two workers started as a user
starts them (`dask scheduler`, `dask worker`, from the project's environment, in another folder), a
small grid through them byte-identical to the serial run, and the failures a user meets ending in
bounded time with one line: no scheduler, and workers that cannot import the package."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replication import multiverse as mv
from replication.errors import BuildError

DASK = Path(sys.executable).parent / "dask"
GRID = {"panel": ("default",), "winsorize": (0.01, 0.0), "controls": ("(4)", "(1)"),
        "cov_type": ("cluster_city", "driscoll_kraay")}
BLOCK_IMPORT = "import sys\nsys.modules['replication'] = None  # as if the package were not installed\n"

pytestmark = pytest.mark.skipif(not DASK.is_file(), reason="dask command not in the environment")


def _environment() -> dict[str, str]:
    """The user's environment: no PYTHONPATH pointing at the checkout (pytest's own path is not passed)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


class Cluster:
    """`dask scheduler` and `dask worker` processes on the loopback address, started in `folder`."""

    def __init__(self, folder: Path, workers: int = 2, preload: Path | None = None):
        self.file = folder / "scheduler.json"
        self.processes = [subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(self.file)], cwd=folder, env=_environment(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        deadline = time.monotonic() + 60
        while not self.file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.file.is_file(), "the scheduler did not start"
        for _ in range(workers):
            self.processes.append(subprocess.Popen(
                [str(DASK), "worker", "--scheduler-file", str(self.file), "--nthreads", "1", "--no-dashboard",
                 *(["--preload", str(preload)] if preload else [])], cwd=folder, env=_environment(),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    @property
    def address(self) -> str:
        import json

        return json.loads(self.file.read_text())["address"]

    def wait_for(self, workers: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=60)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def serial(committed_panel):
    return mv.run({"default": committed_panel}, {}, GRID)


def test_a_grid_on_two_worker_processes_is_the_serial_grid(tmp_path, committed_panel, serial):
    cluster = Cluster(tmp_path)
    try:
        cluster.wait_for(2)
        start = time.perf_counter()
        distributed = mv.run({"default": committed_panel}, {}, GRID, scheduler=cluster.address)
        elapsed = time.perf_counter() - start
    finally:
        cluster.stop()
    assert mv._csv(distributed.specs) == mv._csv(serial.specs)  # byte-identical specs.csv
    assert len(serial.specs) == 8 * len(mv.ESTIMANDS) and elapsed > 0


def test_no_scheduler_ends_in_bounded_time_with_one_line():
    start = time.perf_counter()
    with pytest.raises(BuildError) as caught:
        mv.cluster_client("tcp://127.0.0.1:9", seconds=3)
    assert time.perf_counter() - start < 30
    assert str(caught.value).startswith("--scheduler tcp://127.0.0.1:9: no Dask scheduler answered within 3 s (")
    assert "\n" not in str(caught.value)


def test_a_scheduler_without_workers_is_said(tmp_path):
    cluster = Cluster(tmp_path, workers=0)
    try:
        with pytest.raises(BuildError, match=r"the scheduler has no worker after 3 s; start workers with"):
            mv.cluster_client(cluster.address, seconds=3)
    finally:
        cluster.stop()


def test_workers_that_cannot_import_the_package_are_said_not_waited_for(tmp_path):
    preload = tmp_path / "block.py"
    preload.write_text(BLOCK_IMPORT, encoding="utf-8")
    cluster = Cluster(tmp_path, workers=1, preload=preload)
    try:
        cluster.wait_for(1)
        start = time.perf_counter()
        with pytest.raises(BuildError, match=r"a worker cannot import the replication package \("):
            mv.cluster_client(cluster.address, seconds=10)
        assert time.perf_counter() - start < 60
    finally:
        cluster.stop()


def test_the_command_line_refuses_an_unreachable_scheduler_and_keeps_the_outputs(tmp_path):
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = subprocess.run([sys.executable, "-m", "replication", "multiverse", "--out", str(tmp_path),
                             "--scheduler", "tcp://127.0.0.1:9"], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --scheduler tcp://127.0.0.1:9: no Dask "
                                                            "scheduler answered within 15 s")
    assert "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
