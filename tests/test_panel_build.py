"""The panel build as a whole: rebuild identity, sample rules, fill rules, provenance."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from replication.__main__ import csv_text, json_text
from replication.config import Options
from replication.data import codebook
from replication.data.build import _edge, _interior, fill_gaps

from conftest import PROCESSED


@pytest.mark.raw
def test_rebuild_is_byte_identical_to_the_committed_panel(built):
    assert csv_text(built.panel) == (PROCESSED / "panel.csv").read_text(encoding="utf-8")
    assert json_text(built.manifest) == (PROCESSED / "manifest.json").read_text(encoding="utf-8")
    assert codebook(built.panel, built.manifest) == (PROCESSED / "CODEBOOK.md").read_text(encoding="utf-8")


@pytest.mark.raw
def test_sample_rules_end_at_the_panel(built):
    counts = [rule["cities"] for rule in built.manifest["sample_rules"]]
    # anomaly_rule=confirmed removes no city; 'screen' removed 漳州, 兰州, 安阳 and 普洱 (a corrected edge cell next to
    # an unprinted one: test_anomalies), leaving 254
    assert counts == [298, 287, 269, 269, 258]
    panel = built.panel
    assert len(panel) == 258 * 11 == built.manifest["rows"]
    assert panel.groupby("city_code")["year"].apply(list).map(lambda y: y == list(range(2011, 2022))).all()
    assert not panel.duplicated(["city_code", "year"]).any()
    dropped = {d["city"] for rule in built.manifest["sample_rules"] for d in rule["dropped"]}
    assert {"深圳市", "北京市", "莱芜市", "拉萨市"} <= dropped
    assert dropped.isdisjoint(panel["city"])


@pytest.mark.raw
def test_inputs_match_provenance(built, raw_dir):
    with (raw_dir / "PROVENANCE_FILES.csv").open(encoding="utf-8") as handle:
        recorded = {row["local_path"]: row["sha256"] for row in csv.DictReader(handle)}
    for item in built.manifest["inputs"]:
        assert recorded[item["path"]] == item["sha256"], item["path"]


@pytest.mark.raw
def test_no_required_value_missing_and_areas_consistent(built):
    panel = built.panel
    for series in ("pop", "teachers_primary", "pupils_primary", "library", "beds", "doctors"):
        assert (panel[f"{series}_nonurban"] >= 0).all()
        assert np.allclose(panel[f"{series}_nonurban"], panel[f"{series}_whole"] - panel[f"{series}_district"])
    assert (panel["pop_nonurban"] > 0).all() and (panel["pupils_primary_nonurban"] > 0).all()
    assert set(panel["region"]) == {"East", "Central", "West"}


def test_edge_rule_fills_short_end_gaps_only():
    values = pd.DataFrame([[np.nan, 1.0, 2.0, np.nan], [np.nan, np.nan, 1.0, 3.0], [1.0, np.nan, 2.0, np.nan]])
    filled = _edge(values, 1)
    assert filled.iloc[0].tolist() == [1.0, 1.0, 2.0, 2.0]
    assert filled.iloc[1].isna().tolist() == [True, True, False, False]  # a two-year gap stays
    assert np.isnan(filled.iloc[2, 1]) and filled.iloc[2, 3] == 2.0  # interior gaps are not its business
    assert _edge(values, 0).equals(values)


def test_interior_rule_is_linear():
    values = pd.DataFrame([[1.0, np.nan, np.nan, 4.0, np.nan]])
    assert _interior(values).iloc[0, :4].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert np.isnan(_interior(values).iloc[0, 4])


def test_district_is_filled_through_its_share_and_never_exceeds_the_whole_city():
    from replication.data.build import REQUIRED

    index = pd.MultiIndex.from_product([["E1"], range(2011, 2022)], names=["entity_id", "year"])
    frame = pd.DataFrame(1.0, index=index, columns=list(REQUIRED))
    frame["library_whole"] = [10, 10, 10, 10, 10, 10, 5, 5, 5, 5, 5]
    frame["library_district"] = [8, 8, 8, 8, 8, np.nan, np.nan, 4, 4, 4, 4]
    flags = pd.DataFrame("", index=index, columns=list(REQUIRED))
    fill_gaps(frame, flags, Options())
    district = frame["library_district"].to_numpy()
    assert district[5] == pytest.approx(0.8 * 10) and district[6] == pytest.approx(0.8 * 5)
    assert (district <= frame["library_whole"].to_numpy()).all()
    assert flags["library_district"].tolist()[5:7] == ["interpolated", "interpolated"]


def test_options_are_parsed_and_checked():
    assert Options().with_overrides(["edge_fill_years=0", "drop_filled=true"]).non_default() == {
        "edge_fill_years": 0, "drop_filled": True}
    with pytest.raises(ValueError, match="option no_such_option: no such option"):
        Options().with_overrides(["no_such_option=1"])
    with pytest.raises(ValueError, match="option dist_indicators: expected one of four, six, six_shared_removed, six_shared_fixed, six_shared_controlled, got 'seven'"):
        Options(dist_indicators="seven")
