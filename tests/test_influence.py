"""The influence measures of the comparison's robustness section, against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from replication.config import Options
from replication.influence import flagged_tail, headline_cells, leave_one_city_out, tail_influence
from replication.models import CONTROLS, TABLES, fit


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """A balanced synthetic panel: 30 cities x 11 years, Dist = 0.5 Dig + noise, one planted outlier."""
    rng = np.random.default_rng(7)
    rows = []
    for c in range(30):
        region = ("East", "Central", "West")[c % 3]
        for year in range(2011, 2022):
            row = {"city_code": 100 + c, "city": f"c{c}", "city_en": f"C{c}", "province": "p", "region": region,
                   "year": year, **{v: rng.normal() for v in ("Dig", "Dig_entropy", "Isu", *CONTROLS)}}
            row["Dist"] = 0.5 * row["Dig"] + 0.2 * row["Isu"] + rng.normal()
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame.loc[(frame["city_code"] == 105) & (frame["year"] == 2015), "Dist"] = 40.0
    return frame


def test_tail_share_and_the_coefficient_without_it(data):
    table = tail_influence(data, Options(), paper_max=10).set_index("n")
    squares = (data["Dist"] - data["Dist"].mean()) ** 2
    row = table.loc[1]
    assert row["share_of_variance"] == pytest.approx(squares.max() / squares.sum(), rel=1e-12)
    assert row["share_of_variance"] > 0.5
    without = fit(data[data["Dist"] < 10], "Dist", ["Dig", *CONTROLS], Options()).params["Dig"]
    assert row["T5 (4) Dig without them"] == pytest.approx(without, rel=1e-12)


def test_leave_one_city_out_is_the_refit_without_each_city(data):
    table = leave_one_city_out(data, Options()).set_index(["table", "column"])
    t5 = table.loc[("T5", "(4)")]
    refits = {c: fit(data[data["city_code"] != c], "Dist", ["Dig", *CONTROLS], Options()).params["Dig"]
              for c in data["city_code"].unique()}
    assert t5["min"] == pytest.approx(min(refits.values()), rel=1e-12)
    assert t5["max"] == pytest.approx(max(refits.values()), rel=1e-12)
    at_max = max(refits, key=refits.get) - 100
    assert t5["city_at_max"] == f"c{at_max} C{at_max}"  # the Chinese and the English name
    assert table.loc[("T6", "East"), "cities"] == 10


def test_headline_cells_are_the_tables_cells(data):
    cells = headline_cells(data, Options()).set_index(["table", "column", "term"])["estimate"]
    t5 = TABLES["table5"](data, Options()).coefficients.set_index(["column", "term"])["estimate"]
    assert cells[("T5", "(4)", "Dig")] == pytest.approx(t5[("(4)", "Dig")], rel=1e-12)
    t7 = TABLES["table7"](data, Options()).coefficients.set_index(["column", "term"])["estimate"]
    assert cells[("T7", "second_stage", "Dig")] == pytest.approx(t7[("second_stage", "Dig")], rel=1e-12)
    a, b = cells[("T9", "a", "Dig")], cells[("T9", "b_cprime", "Isu")]
    assert cells[("T9", "ab", "Dig x Isu")] == pytest.approx(a * b, rel=1e-12)


def test_flagged_tail_lists_the_flagged_cells(data):
    panel = data[["city", "year"]].assign(pop_whole=100.0, pop_nonurban=70.0)
    anomalies = pd.DataFrame({"city": ["c5", "c5", "c1"], "year": [2015, 2015, 2015],
                              "column": ["beds_district", "pop_district", "beds_district"],
                              "rule": ["spike", "boundary_change", "spike"]})
    tail = flagged_tail(data, panel, anomalies, above=10)
    assert tail[["city", "year", "nonurban_share", "flagged"]].values.tolist() == [
        ["c5", 2015, 0.7, "beds_district (spike)"]]


def test_leave_one_city_out_says_when_a_region_is_too_small(data):
    named = data
    east = named[named["region"] == "East"]["city_code"].drop_duplicates()
    two = named[(named["region"] != "East") | named["city_code"].isin(east.iloc[:2])]
    row = leave_one_city_out(two, Options()).set_index(["table", "column"]).loc[("T6", "East")]
    assert row["city_at_min"] == "not run: 2 cities, it needs 3" and row["cities"] == 2 and np.isnan(row["min"])
