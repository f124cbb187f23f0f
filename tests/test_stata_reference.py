"""replication.estimation against published Stata output, stored as text the linearmodels way:
the raw output in tests/results/stata_reference.txt, a small parser, one looping test.

Tolerance, set once: a number agrees when it matches to the precision printed (half a unit in the
last printed digit) or to six significant digits, whichever is looser.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels.datasets import card, jobtraining, mroz

import linearmodels
from replication.estimation import Design, fit_fe, fit_iv

REFERENCE = Path(__file__).parent / "results" / "stata_reference.txt"
LINEARMODELS_TESTS = Path(linearmodels.__file__).parent / "tests"
SIGNIFICANT = 1e-6


def parse(text: str) -> dict[str, dict]:
    """Blocks of '##########!name!##########' holding Stata's estout layout: after a 'b/t/p', 'b/t'
    or 'b/se' line, a coefficient is a named line followed by unnamed continuation lines (t, p or
    se); a named line without continuations is a statistic; a 'Variance' line starts e(V)."""
    blocks: dict[str, dict] = {}
    for raw in text.split("##########!")[1:]:
        name, _, body = raw.partition("!##########")
        lines = [line.rstrip("\n") for line in body.splitlines()
                 if line.strip() and not line.startswith(("command:", "data:", "source:")) and line.strip() != "."]
        block = {"coef": {}, "t": {}, "se": {}, "stats": {}, "V": None}
        split = next((i for i, line in enumerate(lines) if "Variance" in line), len(lines))
        main, variance = lines[:split], lines[split + 1 :]
        layout = main[0].strip().split("/")
        rows = main[1:]
        i = 0
        while i < len(rows):
            label, _, value = rows[i].partition("\t")
            following = []
            while i + 1 + len(following) < len(rows) and rows[i + 1 + len(following)].startswith("\t"):
                following.append(rows[i + 1 + len(following)].strip())
            if following:
                block["coef"][label] = value
                for kind, extra in zip(layout[1:], following):
                    if kind in ("t", "se"):
                        block[kind][label] = extra
            elif value.strip():
                block["stats"][label] = value.strip()
            i += 1 + len(following)
        if variance:
            header = variance[1].split("\t")[1:]
            cells = [v.split("\t") for v in variance[2:]]
            block["V"] = pd.DataFrame([[float(c) for c in r[1:]] for r in cells],
                                      index=[r[0] for r in cells], columns=header)
        blocks[name] = block
    return blocks


def agrees(printed: str, value: float) -> bool:
    target = float(printed)
    decimals = len(printed.split(".")[1].split("e")[0]) if "." in printed and "e" not in printed else 12
    return abs(value - target) <= max(0.5 * 10.0**-decimals, SIGNIFICANT * abs(target))


# ---------------------------------------------------------------------------- the commands, in Python


def _simulated():
    data = pd.read_stata(LINEARMODELS_TESTS / "panel" / "results" / "simulated-panel.dta")
    return Design.from_frame(data.assign(fid=data["firm"].astype("category").cat.codes), "y",
                             ["x1", "x2", "x3", "x4", "x5"], entity="fid", time="time")


def _housing(cov, small):
    data = pd.read_csv(LINEARMODELS_TESTS / "iv" / "results" / "housing.csv", index_col=0)
    regions = pd.get_dummies(data["region"], prefix="region", drop_first=True).astype(float)
    data = pd.concat([data, regions], axis=1).assign(row=np.arange(len(data)), period=0)
    result = fit_iv(data, "rent", "hsngval", ["faminc", *regions.columns], ["pcturban"], cov_type=cov,
                    effects="none", cluster="division" if cov == "cluster" else None, small=small,
                    entity="row", time="period")
    return result.second, {}


def run(name: str):
    """The FitResult of a reference block, and any statistics it reports beyond the coefficients."""
    if name in ("xtreg-fe-cluster", "xtreg-fe-robust"):  # xtreg's robust is the cluster-by-panel VCE
        return fit_fe(_simulated(), "cluster", effects="entity"), {}
    if name.startswith("ivregress-2sls-"):
        _, _, cov, small = name.split("-")
        return _housing(cov, small == "small")
    if name == "xtreg-fe-jobtraining":
        data = jobtraining.load()[["fcode", "year", "lscrap", "hrsemp"]].dropna()
        return fit_fe(Design.from_frame(data, "lscrap", ["hrsemp"], entity="fcode"), "unadjusted",
                      effects="entity"), {}
    if name == "ivregress-mroz":
        data = mroz.load().dropna(subset=["lwage"]).assign(row=lambda d: np.arange(len(d)), period=0)
        result = fit_iv(data, "lwage", "educ", ["fatheduc"], [], "unadjusted", "none", small=False,
                        entity="row", time="period")
        return result.second, {"cd_F": result.diagnostics["cd_F"]}
    if name == "ivregress-card":
        exog = ["exper", "expersq", "black", "smsa", "south", "smsa66", *(f"reg66{i}" for i in range(2, 10))]
        data = card.load().dropna(subset=["lwage", "educ", "nearc4", *exog])
        data = data.assign(row=np.arange(len(data)), period=0)
        return fit_iv(data, "lwage", "educ", ["nearc4"], exog, "unadjusted", "none", small=False,
                      entity="row", time="period").second, {}
    if name == "xtreg-fe-grunfeld":
        data = sm.datasets.grunfeld.load_pandas().data
        data = data[data["firm"] != "American Steel"]
        return fit_fe(Design.from_frame(data, "invest", ["value", "capital"], entity="firm"), "unadjusted",
                      effects="entity"), {}
    raise KeyError(name)


BLOCKS = parse(REFERENCE.read_text(encoding="utf-8"))


def test_reference_file_has_every_block():
    assert len(BLOCKS) == 12
    assert all(block["coef"] for block in BLOCKS.values())


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_against_stata(name):
    block = BLOCKS[name]
    fitted, extra = run(name)
    params = fitted.params
    checked = 0
    for term, printed in block["coef"].items():
        assert agrees(printed, params[term]), (name, term, "b", printed, params[term])
        checked += 1
        if term in block["t"]:
            assert agrees(block["t"][term], fitted.tstats[term]), (name, term, "t")
            checked += 1
        if term in block["se"]:
            assert agrees(block["se"][term], fitted.std_errors[term]), (name, term, "se")
            checked += 1
    if block["V"] is not None:
        ours = fitted.cov.loc[block["V"].index, block["V"].columns].to_numpy()
        assert np.allclose(ours, block["V"].to_numpy(), rtol=SIGNIFICANT, atol=0), name
        checked += block["V"].size
    for stat, key in (("r2_w", "rsquared_within"), ("N", "nobs")):
        if block["stats"].get(stat):
            assert agrees(block["stats"][stat], getattr(fitted, key)), (name, stat)
    for stat, value in extra.items():
        assert agrees(block["stats"][stat], value), (name, stat)
    assert checked >= 2
