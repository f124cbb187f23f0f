"""Every sentence true of its run (issue 24): the consistency checker on planted errors, one per check,
and over the grid of runs the issue names, with zero findings.

The grid: the default; cov_type = cluster_province, driscoll_kraay, robust; stars=paper;
parentheses=se; drop_filled=true; each variant panel (anomaly_keep, edge2); and user panels with one
row removed, one city removed, and the East reduced to two cities.  The runs other than the default use
fewer resampling draws (wild 999, permutation 99, bootstrap 199), which only the counts of draws in the
text depend on; the rendering options reuse the default run's indices and models, as `make report
SET=...` would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from replication.config import Options
from replication.consistency import check, prose

ROOT = Path(__file__).resolve().parent.parent
DATA = pd.DataFrame({"city_code": [1, 1, 2, 2], "year": [2011, 2012, 2011, 2012]})  # 2 cities x 2 years


def findings(text: str, options: Options = Options(), data: pd.DataFrame = DATA) -> list[str]:
    return list(check({"reports/x.md": text}, options, data)["check"])


# ---------------------------------------------------------------------------- each check, planted


def test_prose_skips_table_rows_and_code():
    text = "| nan | None |\n|---|---|\n\n```\nnan\n```\nFirst sentence. Second one; third: (fourth)."
    assert [s for _, s in prose(text)] == ["First sentence.", "Second one; third: (fourth)."]


def test_missing_values_are_found_and_words_containing_them_are_not():
    assert findings("The maximum is nan against the paper's 1.34.") == ["missing"]
    assert findings("The clustering is None.") == ["missing"] and findings("Clusters: None.") == ["missing"]
    assert findings("None of the cities is dropped.") == [] and findings("None.") == []  # the English word
    assert findings("The financial index; infrastructure; a nanny.") == []


def test_the_clustering_named_is_the_runs():
    assert findings("Errors are clustered by city.", Options(cov_type="cluster_province")) == ["clustering"]
    assert findings("Errors are clustered by city.") == []
    assert findings("Driscoll-Kraay errors with bandwidth 2.") == ["clustering"]
    assert findings("Errors are always clustered by city (whatever cov_type).", Options(cov_type="robust")) == []
    assert findings("Run clustered by city and clustered by province.", Options(cov_type="robust")) == []  # both
    grid = check({"multiverse/summary.md": "Specifications clustered by city."}, Options(cov_type="robust"), DATA)
    assert grid.empty  # in the multiverse the covariance is a decision of the grid


def test_cities_times_years_is_the_runs_count():
    assert findings("2 cities x 2 years = 4 city-years.") == []
    assert findings("253 cities x 11 years = 2782 city-years.") == ["balanced"]
    assert findings("3 cities x 2 years = 6 city-years.") == ["balanced"]  # true arithmetic, not this run


def test_the_star_legend_and_the_parentheses_are_the_runs_options():
    assert findings("Stars: * p<0.1, ** p<0.05, *** p<0.01.") == []
    assert findings("Stars: * p<0.1, ** p<0.05, *** p<0.01.", Options(stars="paper")) == ["stars"]
    assert findings("t statistics in parentheses.", Options(parentheses="se")) == ["parentheses"]
    assert findings("Standard errors in parentheses.", Options(parentheses="se")) == []


def test_the_non_default_line_lists_exactly_the_changed_options():
    assert findings("Non-default options: none.") == []
    assert findings("Non-default options: none.", Options(cov_type="robust")) == ["non_default"]
    assert findings("Non-default options: cov_type=robust.", Options(cov_type="robust")) == []
    assert findings("Non-default options: cov_type=robust, winsorize=0.05.", Options(cov_type="robust")) == \
        ["non_default"]


def test_the_clusters_row_note_needs_the_row():
    table = "| | (1) |\n|---|---|\n| Clusters | 253 |\n\nThe Clusters row counts the clusters."
    assert findings(table) == []
    assert findings("| | (1) |\n|---|---|\n| N | 9 |\n\nThe Clusters row counts the clusters.") == ["clusters_row"]


def test_significance_claims_agree_with_t_and_p():
    assert findings("Dig is significantly negative (t = -3.87).") == []
    assert findings("Dig is significantly negative (t = -1.20).") == ["significance"]
    assert findings("Dig is not significant (t = −4.10).") == ["significance"]
    assert findings("Dig is not significant at 5% (t = -1.78, p = 0.08).") == []
    assert findings("Dig is significant (p = 0.20).") == ["significance"]
    assert findings("C1: (4) Dig significant at 0.05: the claim needs p < 0.05 (p = 0.20).") == []  # the audit's


# ---------------------------------------------------------------------------- the grid


FEWER = ["wild_draws=999", "permutation_draws=99", "bootstrap_draws=199"]
RUNS = {  # name: (options, panel transformation or None, reuse the default's models)
    "default": ([], None, False),
    "cluster_province": (["cov_type=cluster_province", *FEWER], None, False),
    "driscoll_kraay": (["cov_type=driscoll_kraay", *FEWER], None, False),
    "robust": (["cov_type=robust", *FEWER], None, False),
    "stars_paper": (["stars=paper"], None, True),
    "parentheses_se": (["parentheses=se"], None, True),
    "drop_filled": (["drop_filled=true", *FEWER], None, False),
    "anomaly_keep": (FEWER, "variants/anomaly_keep.csv", False),
    "edge2": (FEWER, "variants/edge2.csv", False),
    "one_row_removed": (FEWER, "row", False),
    "one_city_removed": (FEWER, "city", False),
    "east_two_cities": (FEWER, "region", False),
}


def _panel(kind: str, folder: Path) -> Path:
    processed = ROOT / "data" / "processed"
    if kind.startswith("variants/"):
        return processed / kind
    panel = pd.read_csv(processed / "panel.csv", dtype={"city_code": str}, keep_default_na=False)
    if kind == "row":
        panel = panel.drop(index=panel.index[5])
    elif kind == "city":
        panel = panel[panel["city_code"] != panel["city_code"].iloc[0]]
    elif kind == "region":  # the East (the West holds Guangxi, which the Guangxi case needs)
        east = panel.loc[panel["region"] == "East", "city_code"].drop_duplicates()
        panel = panel[(panel["region"] != "East") | panel["city_code"].isin(set(east.iloc[:2]))]
    path = folder / f"panel_{kind}.csv"
    panel.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> dict[str, Path]:
    from replication.__main__ import main

    base = tmp_path_factory.mktemp("grid")
    out = {}
    for name, (options, panel, reuse) in RUNS.items():
        target = base / name
        settings = [item for option in options for item in ("--set", option)]
        if reuse:  # the rendering options: the default's indices and models, a new report
            shutil.copytree(out["default"], target)
            steps = ["report", "guangxi", "ethnic"]
        else:
            steps = ["all"]
        extra = ["--panel", str(_panel(panel, base))] if panel else []
        for step in steps:
            assert main([*settings, step, *extra, "--out", str(target)]) == 0, (name, step)
        out[name] = target
    return out


def _texts(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text(encoding="utf-8") for p in sorted(out.rglob("*.md"))}


def test_the_grid_has_no_finding(grid):
    rows, sentences = [], 0
    for name, out in grid.items():
        record = json.loads((out / "report.manifest.json").read_text(encoding="utf-8"))
        options = Options(**record["options"])
        data = pd.read_csv(out / "data" / "analysis.csv")
        texts = _texts(out)
        sentences += sum(len(prose(t)) for t in texts.values())
        rows.append(check(texts, options, data).assign(run=name))
    found = pd.concat(rows)
    assert sentences > 3000  # the grid reads every report and every table's notes
    assert found.empty, "\n" + found.to_string()


def test_the_grid_is_what_the_issue_names(grid):
    """Each run is the run it claims: its manifest records the options, its data the panel's cities."""
    def record(name):
        return json.loads((grid[name] / "report.manifest.json").read_text(encoding="utf-8"))["options"]

    assert record("cluster_province")["cov_type"] == "cluster_province"
    assert record("stars_paper")["stars"] == "paper" and record("parentheses_se")["parentheses"] == "se"
    cities = {name: pd.read_csv(grid[name] / "data" / "analysis.csv")["city_code"].nunique() for name in grid}
    assert cities["one_city_removed"] == cities["default"] - 1
    east = pd.read_csv(grid["east_two_cities"] / "data" / "analysis.csv")
    assert east.loc[east["region"] == "East", "city_code"].nunique() == 2
