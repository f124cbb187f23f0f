"""The scorecard (replication/compare.py) and the comparison's prose (replication/report.py).

Hand-built frames check each rule on numbers worked out here: significance agrees only with the same sign,
constants are counted apart, one regression printed in several tables counts once, the paper's value
against this run's 95% interval, each class at its boundaries.  Two real runs (default, and province
clustering; one module fixture) check the numbers of the committed panel and that no sentence prints
nan or None.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from replication.compare import (CLASSES, classify, column_degrees_of_freedom, comparison, rounding, scorecard,
                                 verdict, _ranges)
from replication.config import Options
from replication.published import parse_published
from replication.report import TIDY, comparison_report, why

from conftest import ROOT

MISSING_WORDS = re.compile(r"\b(nan|NaN|None)\b")
DF = 20  # the degrees of freedom of the hand-built tables' p-values


# ---------------------------------------------------------------------------- hand-built comparison

PUBLISHED = """table,column,row,stat,value,printed,source
T5,(1),Dig,estimate,-0.10,-0.10** (-2.80),x
T5,(1),Dig,t,-2.80,-0.10** (-2.80),x
T5,(1),Ur,estimate,0.05,0.05 (1.20),x
T5,(1),Ur,t,1.20,0.05 (1.20),x
T5,(1),_cons,estimate,0.30,0.30*** (6.00),x
T5,(1),_cons,t,6.00,0.30*** (6.00),x
T6,All,Dig,estimate,-0.10,-0.10** (-2.80),x
T6,All,Dig,t,-2.80,-0.10** (-2.80),x
T6,All,Ur,estimate,0.05,0.05 (1.20),x
T6,All,Ur,t,1.20,0.05 (1.20),x
T6,All,_cons,estimate,0.30,0.30*** (6.00),x
T6,All,_cons,t,6.00,0.30*** (6.00),x
T6,East,Dig,estimate,-0.20,-0.20*** (-4.00),x
T6,East,Dig,t,-4.00,-0.20*** (-4.00),x
"""


def _tidy(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """column, term, estimate, std_error -> a tidy table with t and p at DF degrees of freedom."""
    frame = pd.DataFrame(rows, columns=["column", "term", "estimate", "std_error"])
    frame[["estimate", "std_error"]] = frame[["estimate", "std_error"]].astype(float)
    frame["t_stat"] = frame["estimate"] / frame["std_error"]
    frame["p_value"] = 2 * stats.t.sf(frame["t_stat"].abs(), DF)
    return frame


def _tables(table5: pd.DataFrame, table6: pd.DataFrame) -> dict[str, pd.DataFrame]:
    empty_coefficients = pd.DataFrame(columns=["column", "term", "estimate", "std_error", "t_stat", "p_value"])
    empty_stats = pd.DataFrame(columns=["column", "stat", "value"])
    tables = {"table1": pd.DataFrame(columns=["indicator", "weight", "weight_six"]),
              "table3": pd.DataFrame(columns=["component"]), "table3_stats": pd.DataFrame(columns=["stat", "value"]),
              "table4": pd.DataFrame(columns=["variable"])}
    for n in (5, 6, 7, 8, 9):
        tables[f"table{n}"], tables[f"table{n}_stats"] = empty_coefficients, empty_stats
    tables["table5"], tables["table6"] = table5, table6
    for n, frame in ((5, table5), (6, table6)):  # what models.collect writes: N and the t degrees of freedom
        columns = list(dict.fromkeys(frame["column"]))
        tables[f"table{n}_stats"] = pd.DataFrame(
            [(c, stat, value) for c in columns for stat, value in (("nobs", 100.0), ("df_t", float(DF)))],
            columns=["column", "stat", "value"])
    return tables


@pytest.fixture(scope="module")
def hand():
    """Ours: Dig +0.30 (se 0.10, t 3.0: significant, the opposite sign of the paper's -0.10), Ur 0.04 (se 0.04),
    _cons 0.20 (se 0.05); Table 6 All is the same regression; East Dig -0.05 with its std_error missing."""
    common = [("Dig", 0.30, 0.10), ("Ur", 0.04, 0.04), ("_cons", 0.20, 0.05)]
    table5 = _tidy([("(1)", *row) for row in common])
    table6 = _tidy([("All", *row) for row in common] + [("East", "Dig", -0.05, 0.10)])
    table6.loc[table6["column"] == "East", "std_error"] = np.nan  # se from |estimate / t|
    return comparison(parse_published(PUBLISHED), _tables(table5, table6))


def _row(frame, table, column, row, stat="estimate"):
    hit = frame[(frame["table"] == table) & (frame["column"] == column) & (frame["row"] == row)
                & (frame["stat"] == stat)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_a_significant_estimate_of_the_opposite_sign_does_not_agree_on_significance(hand):
    dig = _row(hand, "T5", "(1)", "Dig")
    assert dig["paper_p"] < 0.05 and dig["replication_p"] < 0.05  # both significant ...
    assert dig["same_sign"] == 0 and dig["same_significance_5"] == 0  # ... but of opposite signs: no
    ur = _row(hand, "T5", "(1)", "Ur")
    assert ur["same_sign"] == 1 and ur["same_significance_5"] == 1  # both positive, both insignificant


def test_constants_apart_and_a_repeated_estimate_counted_once(hand):
    assert _row(hand, "T6", "All", "Dig")["repeat_of"] == "T5 (1)"
    assert _row(hand, "T6", "All", "_cons", "t")["repeat_of"] == "T5 (1)"
    assert _row(hand, "T6", "East", "Dig")["repeat_of"] == ""
    card = scorecard(hand).set_index("table")
    # Table 6 on its own: All's Dig and Ur and East's Dig, its constant apart; All's two repeat Table 5
    assert card.loc["T6", ["coefficients", "repeated", "constants"]].tolist() == [3, 2, 1]
    # all tables: Dig and Ur of the one regression once, East's Dig (same sign, not significant here); one constant
    assert card.loc["All", ["coefficients", "constants", "same_sign", "same_significance_5"]].tolist() == [3, 1, 2, 1]
    assert card.loc["All", "numbers"] == 8  # 14 published numbers less the 6 of Table 6 All


def test_the_95_interval_by_hand(hand):
    critical = stats.t.ppf(0.975, DF)  # 2.0860
    ur = _row(hand, "T5", "(1)", "Ur")
    assert ur["replication_ci_low"] == pytest.approx(0.04 - critical * 0.04, rel=1e-9)
    assert ur["replication_ci_high"] == pytest.approx(0.04 + critical * 0.04, rel=1e-9)
    assert ur["paper_in_ci_95"] == 1  # 0.05 in [-0.0434, 0.1234]
    dig = _row(hand, "T5", "(1)", "Dig")
    assert dig["replication_ci_low"] == pytest.approx(0.30 - critical * 0.10, rel=1e-9)  # 0.0914
    assert dig["paper_in_ci_95"] == 0  # -0.10 below it
    east = _row(hand, "T6", "East", "Dig")  # std_error missing: se = |-0.05 / -0.5| = 0.10
    assert east["replication_ci_low"] == pytest.approx(-0.05 - critical * 0.10, rel=1e-9)  # -0.2586
    assert east["paper_in_ci_95"] == 1  # -0.20 inside


def test_the_interval_uses_the_degrees_of_freedom_the_models_step_wrote():
    stats_ = pd.DataFrame([("(1)", "nobs", 100.0), ("(1)", "df_t", 24.0), ("(2)", "nobs", 100.0),
                           ("(2)", "df_t", np.nan)], columns=["column", "stat", "value"])
    assert column_degrees_of_freedom(stats_) == {"(1)": 24.0, "(2)": None}  # blank: the normal
    with pytest.raises(ValueError, match=r"table5_stats.csv: no df_t for column\(s\) \(3\); expected the t "
                                         r"degrees of freedom the models step writes \(rerun `make models`\)"):
        column_degrees_of_freedom(pd.concat([stats_, pd.DataFrame([("(3)", "nobs", 9.0)], columns=stats_.columns)]),
                                  "table5_stats.csv")
    # just inside and just outside the interval, at the df_t the stats carry
    estimate, se = 0.5, 0.2
    frame = _tidy([("(1)", "Dig", estimate, se)])
    edge = float(estimate + stats.t.ppf(0.975, DF) * se)
    for paper, inside in ((edge - 1e-9, 1), (edge + 1e-9, 0)):
        published = parse_published(PUBLISHED.splitlines()[0] + f"\nT5,(1),Dig,estimate,{paper!r},x,x\n"
                                    f"T5,(1),Dig,t,2.5,x (2.5),x\n")
        assert comparison(published, _tables(frame, _tidy([])))["paper_in_ci_95"].iloc[0] == inside


def test_rounding_is_half_the_last_printed_digit():
    assert rounding("-0.134** (-3.26)", "estimate") == pytest.approx(0.0005)
    assert rounding("-0.134** (-3.26)", "t") == pytest.approx(0.005)
    assert rounding("0.8650", "value") == pytest.approx(0.00005)
    assert rounding("3102", "value") == pytest.approx(0.5)


# ---------------------------------------------------------------------------- classes at their boundaries


def _cells(agree: int, disagree: int, *, rounded: int = 0, outside_ci: int = 0, table: str = "T5") -> pd.DataFrame:
    """A table of coefficients: `agree` with the paper's sign and significance, `disagree` without; the
    first `rounded` equal at the printed precision; the first `outside_ci` agreeing ones with the paper's
    value outside this run's interval; and a constant that never agrees (it must not count)."""
    rows = []
    for i in range(agree + disagree):
        good = i < agree
        rows.append({"table": table, "column": "(1)", "row": f"x{i}", "stat": "estimate", "paper": 0.1,
                     "replication": 0.1 if i < rounded else 0.2, "constant": False, "same_sign": float(good),
                     "same_significance_5": float(good), "paper_in_ci_95": float(not (good and i < outside_ci)),
                     "within_rounding": float(i < rounded), "repeat_of": ""})
    rows.append({**rows[0], "row": "_cons", "constant": True, "same_sign": 0.0, "same_significance_5": 0.0,
                 "replication": 0.1 if rounded > agree + disagree else -1.0,
                 "within_rounding": float(rounded > agree + disagree)})
    frame = pd.DataFrame(rows)
    frame["difference"] = frame["replication"] - frame["paper"]
    return frame


def _numbers(relative: list[float], table: str = "T3") -> pd.DataFrame:
    """A table without coefficients: numbers at the given relative differences from a paper value of 2.0."""
    frame = pd.DataFrame({"table": table, "column": "all", "row": [f"n{i}" for i in range(len(relative))],
                          "stat": "value", "paper": 2.0, "replication": [2.0 * (1 + r) for r in relative],
                          "constant": False, "same_sign": np.nan, "same_significance_5": np.nan,
                          "paper_in_ci_95": np.nan, "repeat_of": ""})
    frame["difference"] = frame["replication"] - frame["paper"]
    frame["within_rounding"] = np.where(frame["replication"].notna(), frame["difference"].abs() <= 0.00005, np.nan)
    return frame


@pytest.mark.parametrize("cells, expected", [
    (_cells(4, 0, rounded=5), "reproduced"),  # every number, the constant too, equal at the printed precision
    (_cells(4, 0, rounded=4), "minor discrepancies"),  # the constant differs; every coefficient agrees, in CI
    (_cells(4, 0, outside_ci=1), "partially reproduced"),  # all agree, but one paper value outside the CI
    (_cells(3, 2), "partially reproduced"),  # 60% > half
    (_cells(2, 2), "not reproduced"),  # exactly half: not more than half
    (_cells(0, 3), "not reproduced"),
    (_numbers([0.0, 0.0]), "reproduced"),
    (_numbers([0.0, 0.10]), "minor discrepancies"),  # 10% is within the tolerance
    (_numbers([0.0, 0.0, 0.1001]), "partially reproduced"),  # two of three within: more than half
    (_numbers([0.0, 0.1001]), "not reproduced"),  # one of two: exactly half
    (_numbers([0.0, np.nan]), "not reproduced"),  # a number not produced never agrees
])
def test_class_at_each_boundary(cells, expected):
    assert classify(cells) == expected


def test_verdict_groups_the_tables_of_a_class():
    card = pd.DataFrame({"table": ["T1", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "All"],
                         "class": [CLASSES[1], CLASSES[0], CLASSES[2], *[CLASSES[3]] * 5, ""]})
    assert verdict(card) == ("Table 3: reproduced; Table 1: minor discrepancies; Table 4: partially reproduced; "
                             "Tables 5-9: not reproduced.")
    assert _ranges([1, 3, 4, 5, 6]) == "1, 3-6" and _ranges([3, 4]) == "3, 4"


# ---------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`python -m replication all` on the committed panel at the default options and with province clustering."""
    from replication.__main__ import main

    out = {}
    for name, extra in (("default", []), ("province", ["--set", "cov_type=cluster_province"])):
        out[name] = tmp_path_factory.mktemp(name)
        assert main([*extra, "all", "--out", str(out[name])]) == 0
    return out


def _run(out: Path):
    """The comparison frame, the analysis data and the options of one run, read back from its files."""
    published = parse_published((ROOT / "data" / "reference" / "published.csv").read_text(encoding="utf-8"))
    tables = {name: pd.read_csv(out / "tables" / f"{name}.csv") for name in TIDY}
    data = pd.read_csv(out / "data" / "analysis.csv", keep_default_na=False, na_values=[""])
    options = Options(**json.loads((out / "models.manifest.json").read_text(encoding="utf-8"))["options"])
    return comparison(published, tables), tables, data, options


def test_real_scorecard_of_the_default_run(runs):
    compared, tables, _, _ = _run(runs["default"])
    ur = _row(compared, "T6", "East", "Ur")  # paper +0.177 (t 2.79), here negative and significant
    assert ur["paper"] == 0.177 and ur["replication"] < 0 and ur["replication_p"] < 0.05
    assert ur["same_sign"] == 0 and ur["same_significance_5"] == 0
    first = _row(compared, "T7", "first_stage", "L2.Dig")  # paper -0.938, here positive
    assert first["same_sign"] == 0 and first["same_significance_5"] == 0
    card = scorecard(compared).set_index("table")
    # 62 coefficient cells: 15 constants, and 11 cells of Table 6 All, Table 8 (1), Table 9 c repeat Table 5 (4)
    assert card.loc["All", ["coefficients", "constants"]].tolist() == [36, 12]
    assert card.loc["All", ["same_sign", "same_significance_5", "paper_in_ci_95"]].tolist() == [9, 3, 23]
    assert set(compared.loc[compared["repeat_of"] != "", "repeat_of"]) == {"T5 (4)"}
    report = (runs["default"] / "reports" / "comparison.md").read_text(encoding="utf-8")
    assert "Verdict (the classes of docs/METHODS.md section 6): Table 3: partially reproduced; Tables 1, 4-9: not " \
           "reproduced." in report
    assert "Scorecard: 36 distinct coefficients compared" in report


@pytest.mark.parametrize("run", ["default", "province"])
def test_the_degrees_of_freedom_are_the_clusters_less_one(runs, run):
    _, tables, _, _ = _run(runs[run])
    for n in (5, 6, 7, 8, 9):
        coefficients, statistics = tables[f"table{n}"], tables[f"table{n}_stats"]
        clusters = statistics[statistics["stat"] == "nclusters"].set_index("column")["value"]
        dfs = column_degrees_of_freedom(statistics)
        assert dfs == {column: clusters[column] - 1 for column in dfs} and set(dfs) == set(clusters.index)
        again = 2 * stats.t.sf(coefficients["t_stat"].abs(), coefficients["column"].map(dfs))
        assert np.allclose(again, coefficients["p_value"], rtol=1e-6, atol=1e-300)


@pytest.mark.parametrize("run", ["default", "province"])
def test_no_sentence_prints_nan_or_none(runs, run):
    for kind in ("md", "html"):
        text = (runs[run] / "reports" / f"comparison.{kind}").read_text(encoding="utf-8")
        assert not MISSING_WORDS.findall(text)
    compared, _, data, options = _run(runs[run])
    for text in comparison_report(compared, data, {}, None, options=options):
        assert not MISSING_WORDS.findall(text)


def test_province_clustering_is_named_with_its_option(runs):
    compared, _, data, options = _run(runs["province"])
    assert options.cov_type == "cluster_province"
    markdown, page = comparison_report(compared, data, {}, None, options=options)
    inference = next(line for line in markdown.splitlines() if line.startswith("- **Inference.**"))
    assert "clustered by province" in inference and "by city" not in inference
    assert "Non-default options: cov_type=cluster_province." in markdown and "clustered by province" in page
    # whatever `build` passes, the report the command wrote does not claim city clustering
    written = (runs["province"] / "reports" / "comparison.md").read_text(encoding="utf-8")
    assert "clustered by city" not in written and "clusters by city" not in written
    compared, _, data, _ = _run(runs["default"])
    markdown, _ = comparison_report(compared, data, {}, None, options=Options())
    assert "Non-default options: none" in markdown and "clustered by city" in markdown


def test_sample_and_outliers_follow_the_data(runs):
    compared, _, data, options = _run(runs["default"])
    cities, years = data["city_code"].nunique(), data["year"].nunique()
    assert len(data) == cities * years  # the committed panel is balanced ...
    sample = dict(why(compared, data, {}, options))["Sample"]
    assert sample.startswith(f"{cities} cities x {years} years = {len(data)} city-years")
    fewer = data.iloc[1:]  # ... one city-year less is not
    sample = dict(why(compared, fewer, {}, options))["Sample"]
    assert sample.startswith(f"{len(data) - 1} city-years of {cities} cities over {years} years")
    assert f"{cities} cities x {years} years =" not in sample
    outliers = dict(why(compared, data, {}, options))["Outliers"]
    assert "not available for this run" in outliers  # no anomaly_keep variant given: no maximum, no nan
    assert "drives each city-year" not in outliers  # ... and no cell named as the driver of Dist's tail
    assert "Shantou" not in data["city_en"].tolist() and "Shantou" not in outliers
    drivers = pd.DataFrame([{"city": "钦州市", "year": 2011, "Dist": 28.65, "listed_cells": 4,
                             "driver": "doctors_whole", "rule": "spike", "signals": "identity",
                             "corrected_by_default": True, "Dist_driver_corrected": 0.008, "explained": True}])
    outliers = dict(why(compared, data, {"drivers": drivers}, options))["Outliers"]
    assert ("钦州市 2011 (28.65): doctors_whole (spike; corrected by default); correcting it alone brings it to "
            "0.01") in outliers
    assert f"built with anomaly_rule={options.anomaly_rule}" in outliers
    without = data[~data["city_en"].isin(("Qinzhou", "Shijiazhuang", "Yuncheng", "Longnan"))]
    outliers = dict(why(compared, without, {}, options))["Outliers"]
    assert "Longnan" not in outliers
    top = without.nlargest(1, "Dist").iloc[0]
    assert f"{top['city_en']} ({top['city']}) {top['year']}: {top['Dist']:.2f}" in outliers
