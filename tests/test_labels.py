"""The labelled set of yearbook cells (data/reference/anomaly_labels.csv, issue 18 item 5): the seeded
draw reproduces the committed cells, the strata have their sizes, every cell behind a Dist > 1 city-year
of the keep panel is there, values and contexts are the printed ones, and `score` counts as by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replication.config import YEARS, Options
from replication.data import labels as L
from replication.data import load_panel

ROOT = Path(__file__).resolve().parent.parent
LABELS_CSV = ROOT / "data" / "reference" / "anomaly_labels.csv"
KEEP_PANEL = ROOT / "data" / "processed" / "variants" / "anomaly_keep.csv"
# The cells the screen listed when the set was drawn (data/processed/anomalies.csv at 15f01b7), kept
# as data so that a new screen can rewrite anomalies.csv without changing the draw.
ANOMALIES = ROOT / "data" / "reference" / "anomaly_labels_flags.csv"

# Pool sizes of the strata (anomaly_labels.md prints them)
POOLS = {"dist_keep": 60, "flagged": 451, "departure": 3918, "ordinary": 33253}
# The issue's examples and the labels given to them (reasons in the CSV).
EXPECTED = {
    ("钦州市", 2011, "doctors_whole"): "misprint",
    ("石嘴山市", 2019, "library_district"): "misprint",
    ("石嘴山市", 2020, "library_district"): "misprint",
    ("石嘴山市", 2021, "library_district"): "correct",
    ("六安市", 2011, "library_whole"): "correct",
    ("六安市", 2012, "library_whole"): "misprint",
    ("六安市", 2013, "library_whole"): "misprint",
    ("漳州市", 2021, "pop_district"): "real_change",
    ("资阳市", 2016, "library_district"): "ambiguous",
    ("资阳市", 2016, "library_whole"): "ambiguous",
    ("资阳市", 2017, "library_district"): "ambiguous",
    ("资阳市", 2017, "library_whole"): "ambiguous",
    ("陇南市", 2011, "library_district"): "misprint",
    ("陇南市", 2012, "library_district"): "misprint",
    ("陇南市", 2013, "library_district"): "misprint",
    ("陇南市", 2014, "library_district"): "correct",
}


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return pd.read_csv(LABELS_CSV, dtype={"value": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def dist_keep() -> pd.DataFrame:
    from replication.indices import analysis_frame

    return analysis_frame(load_panel(KEEP_PANEL), Options()).data[["city", "year", "Dist"]]


def _keys(frame: pd.DataFrame) -> list[tuple]:
    return list(zip(frame["city"], frame["year"].astype(int), frame["column"]))


def test_score_counts_as_by_hand():
    labels = pd.DataFrame({
        "city": ["A", "B", "C", "D", "E"], "year": [2011, 2012, 2013, 2014, 2015],
        "column": ["beds_whole"] * 5, "label": ["misprint", "misprint", "correct", "ambiguous", "misprint"],
    })
    corrected = {("A", 2011, "beds_whole"), ("C", 2013, "beds_whole"), ("X", 2011, "beds_whole")}
    listed = corrected | {("B", 2012, "beds_whole"), ("D", 2014, "beds_whole")}
    # corrected and labelled: A (misprint), C (correct) -> 1/2; misprints A, B, E, listed A, B -> 2/3
    assert L.score(labels, corrected, listed) == {
        "labelled": 5, "corrected": 2, "corrected_misprint": 1, "precision": 0.5,
        "misprints": 3, "misprints_listed": 2, "recall": 2 / 3,
    }
    empty = L.score(labels, set(), set())
    assert empty["corrected"] == 0 and math.isnan(empty["precision"]) and empty["recall"] == 0


def test_departure_is_the_log_distance_from_the_median_of_the_other_years():
    cells = pd.DataFrame({"city": ["X"] * 4 + ["Y"] * 3 + ["Z"] * 2, "column": ["beds_whole"] * 9,
                          "value": [10.0, 10.0, 30.0, 12.0, 5.0, 0.0, 5.0, 4.0, 8.0]})
    got = L.departure(cells)
    # X 2013: others 10, 10, 12 -> median 10, |log 3|; X 2011: others 10, 30, 12 -> median 12
    assert got[2] == pytest.approx(math.log(3))
    assert got[0] == pytest.approx(math.log(12 / 10))
    assert got[3] == pytest.approx(math.log(12 / 10))
    # Y: a zero has no departure; the others' median 2.5 (of 0 and 5) gives log 2
    assert math.isnan(got[5])
    assert got[4] == pytest.approx(math.log(2)) and got[6] == pytest.approx(math.log(2))
    # Z: one other year is not a median
    assert got[[7, 8]].isna().all()


def test_context_shows_both_areas_and_population_every_year_with_the_cell_in_brackets():
    printed = pd.DataFrame({"city": "X", "city_en": "X", "year": list(YEARS)})
    for column in L.COLUMNS:
        printed[column] = [float(i) for i in range(len(YEARS))]
    printed.loc[printed["year"] == 2020, "pop_district"] = np.nan
    printed.loc[printed["year"] == 2012, "library_whole"] = 12.5
    line = L.context(printed, "X", 2012, "library_whole")
    assert line == (
        "X 2011-2021: library_district 0 [1] 2 3 4 5 6 7 8 9 10 | library_whole 0 [12.5] 2 3 4 5 6 7 8 9 10"
        " | pop_district 0 [1] 2 3 4 5 6 7 8 - 10 | pop_whole 0 [1] 2 3 4 5 6 7 8 9 10"
    )
    # a population cell shows the population only, once
    assert L.context(printed, "X", 2020, "pop_district") == (
        "X 2011-2021: pop_district 0 1 2 3 4 5 6 7 8 [-] 10 | pop_whole 0 1 2 3 4 5 6 7 8 [9] 10")


def test_label_table_refuses_a_cell_without_a_label():
    cells = pd.DataFrame({"city": ["X"], "city_en": ["X"], "year": [2011], "area": ["whole"],
                          "column": ["beds_whole"], "value": [3.0], "stratum": ["ordinary"],
                          "context": ["..."]})
    labels = pd.DataFrame({"city": ["X"], "year": [2011], "column": ["beds_whole"], "label": ["spike"],
                           "reason": ["x"]})
    with pytest.raises(ValueError, match=r"X 2011 beds_whole: no label in .* with a reason"):
        L.label_table(cells, labels)
    labels["label"] = "misprint"
    assert L.label_table(cells, labels)["value"].tolist() == ["3"]


def test_committed_labels_are_complete_sorted_and_in_the_allowed_set(committed):
    assert set(committed["label"]) <= set(L.LABELS)
    assert (committed["reason"].str.len() > 10).all()
    assert committed.columns.tolist() == L.LABEL_COLUMNS
    keys = _keys(committed)
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert set(committed["area"]) <= set(L.AREAS)
    assert (committed["column"].str.rsplit("_", n=1).str[1] == committed["area"]).all()
    # rendered again, the file is byte-identical (UTF-8, '\n', no index)
    text = committed.to_csv(index=False, lineterminator="\n")
    assert LABELS_CSV.read_text(encoding="utf-8") == text


def test_every_stratum_meets_its_size(committed):
    sizes = committed["stratum"].value_counts()
    assert len(committed) >= 150
    for stratum, size in L.SIZES.items():
        assert sizes[stratum] == size
    assert sizes["flagged"] >= 40 and sizes["departure"] >= 30 and sizes["ordinary"] >= 30
    assert set(sizes.index) <= set(L.STRATA)


def test_the_issue_examples_carry_their_labels(committed):
    labels = dict(zip(_keys(committed), committed["label"]))
    assert {k: labels.get(k) for k in EXPECTED} == EXPECTED
    assert set(L.KNOWN) <= set(labels)


def test_every_printed_cell_behind_a_dist_above_one_under_keep_is_labelled(committed, dist_keep):
    high = dist_keep[dist_keep["Dist"] > L.DIST_ABOVE]
    assert len(high) >= 1
    panel = load_panel(KEEP_PANEL).set_index(["city", "year"])
    expected = {}
    for city, year in zip(high["city"], high["year"]):
        row = panel.loc[(city, year)]
        for column in L.COLUMNS:
            if row[f"{column}_fill"] == "":  # printed, not filled
                expected[(city, int(year), column)] = L.number(row[column])
    rows = committed[committed["stratum"] == "dist_keep"]
    assert dict(zip(_keys(rows), rows["value"])) == expected


@pytest.fixture(scope="module")
def printed(raw_dir) -> pd.DataFrame:
    return L.read_printed(raw_dir)


@pytest.mark.raw
def test_the_seeded_draw_reproduces_the_committed_cells(printed, dist_keep, committed):
    flags = L.flag_keys(pd.read_csv(ANOMALIES))
    assert L.keys_digest(flags) == L.FLAGS_SHA256, (
        f"{ANOMALIES} no longer lists the cells the committed draw used (sha256 of its keys "
        f"{L.keys_digest(flags)}, expected {L.FLAGS_SHA256})")
    pools = L.stratify(L.printed_cells(printed), dist_keep, flags).value_counts().to_dict()
    assert pools == POOLS
    notes = (LABELS_CSV.parent / "anomaly_labels.md").read_text(encoding="utf-8")
    assert all(f"| {n:,} |" in notes for n in POOLS.values())
    drawn = L.with_context(L.draw(printed, dist_keep, flags), printed)
    drawn["value"] = drawn["value"].map(L.number)
    drawn = drawn.sort_values(L.KEY).reset_index(drop=True)
    columns = [c for c in L.LABEL_COLUMNS if c not in ("label", "reason")]
    pd.testing.assert_frame_equal(drawn[columns], committed[columns], check_dtype=False)


@pytest.mark.raw
def test_values_and_contexts_are_the_printed_ones(printed, committed):
    lookup = printed.set_index(["city", "year"])
    for row in committed.itertuples():
        assert L.number(lookup.loc[(row.city, row.year), row.column]) == row.value, (row.city, row.year)
        assert L.context(printed, row.city, row.year, row.column) == row.context
        assert lookup.loc[(row.city, row.year), "city_en"] == row.city_en


def test_the_counts_in_the_notes_are_the_files(committed):
    text = (LABELS_CSV.parent / "anomaly_labels.md").read_text(encoding="utf-8")
    table = text.split("## Counts", 1)[1].strip().splitlines()
    header = [c.strip() for c in table[0].strip("|").split("|")]
    written = {r[0]: dict(zip(header[1:], map(int, r[1:])))
               for r in ([c.strip() for c in line.strip("|").split("|")] for line in table[2:])}
    counts = pd.crosstab(committed["stratum"], committed["label"], margins=True, margins_name="all")
    assert written == {s: {label: int(counts.at[s, label]) for label in header[1:]} for s in written}
    assert set(written) == set(counts.index)
    assert f"{len(committed)} cells" in text
