"""Shared fixtures. Tests marked `raw` need the raw directory named by REPLICATION_RAW (or RAW in make):
they skip without it on a developer's machine and fail under CI=true, where the raw data are required."""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy: see
    os.environ.setdefault(_variable, "1")  # replication/__init__.py (one thread, byte-identical results)
from pathlib import Path

import pandas as pd
import pytest

from replication.config import Options

ROOT = Path(__file__).resolve().parent.parent
PROCESSED = ROOT / "data" / "processed"


def _raw_dir() -> Path | None:
    value = os.environ.get("REPLICATION_RAW", "")
    path = Path(value) if value else None
    return path if path is not None and (path / "ccsy_zeeny").is_dir() else None


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    path = _raw_dir()
    if path is None:
        message = f"raw directory not found (REPLICATION_RAW={os.environ.get('REPLICATION_RAW', '')!r})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def built(raw_dir):
    from replication.data import build_panel

    return build_panel(raw_dir, Options())


@pytest.fixture(scope="session")
def crosswalk(raw_dir):
    from replication.data.cities import load_crosswalk

    return load_crosswalk(raw_dir / "crosswalk_fiersity")


@pytest.fixture(scope="session")
def committed_panel() -> pd.DataFrame:
    from replication.data import load_panel

    return load_panel(PROCESSED / "panel.csv")


@pytest.fixture(scope="session")
def complete_set(tmp_path_factory) -> Path:
    """`python -m replication all` (what `make all` runs) on the committed panel with the default options,
    once per test session (per worker under pytest-xdist: tmp_path_factory's directories are the worker's
    own). Read only: a test that changes outputs copies it first."""
    from replication.__main__ import main

    out = tmp_path_factory.mktemp("complete") / "output"
    assert main(["all", "--out", str(out)]) == 0
    return out
