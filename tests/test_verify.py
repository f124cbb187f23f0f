"""`make verify`: Tables 5-9 recomputed by linearmodels and pyfixest agree with ours within 1e-8."""

from __future__ import annotations

import pandas as pd
import pytest

from replication import verify as verify_module
from replication.__main__ import main
from replication.config import Options
from replication.indices import analysis_frame
from replication.verify import ENGINES, verify

TOLERANCE = 1e-8


@pytest.fixture(scope="module")
def data(committed_panel):
    return analysis_frame(committed_panel, Options()).data


def test_every_table_agrees_with_linearmodels_and_pyfixest(data):
    frame = verify(data, Options())
    assert sorted(frame["table"].unique()) == ["table5", "table6", "table7", "table8", "table9"]
    assert set(frame["engine"]) == set(ENGINES) and len(frame) == 10
    # an estimate and a standard error per slope (and per constant in linearmodels, fixest has none)
    cells = frame.set_index(["table", "engine"])["cells"]
    assert cells[("table5", "pyfixest")] == 2 * (1 + 2 + 3 + 5)
    assert cells[("table5", "linearmodels")] == 2 * (1 + 2 + 3 + 5 + 4)
    worst = frame.loc[frame["max_abs_diff"].idxmax()]
    assert worst["max_abs_diff"] < TOLERANCE, worst.to_dict()


def test_unbalanced_province_clusters_agree_too(data):
    options = Options(drop_filled=True, cov_type="cluster_province")
    frame = verify(data, options)
    assert frame["max_abs_diff"].max() < TOLERANCE, frame.to_string()


def test_other_covariances_are_refused_by_name(data):
    with pytest.raises(ValueError, match="cov_type='robust'"):
        verify(data, Options(cov_type="robust"))


def test_the_command_fails_above_the_tolerance(monkeypatch, capsys):
    bad = pd.DataFrame([{"table": "table5", "engine": "pyfixest", "cells": 2, "max_abs_diff": 2e-8}])
    monkeypatch.setattr(verify_module, "verify", lambda data, options: bad)
    assert main(["verify"]) == 1
    assert "differ by more than 1e-8" in capsys.readouterr().err
