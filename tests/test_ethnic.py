"""The ethnic regions (seed 004, Ren, Qi and Tong): the study's figures against the study's text, the
parser's refusals, the coverage of the eight provinces against the panel, the ethnic-province model
against pyfixest and linearmodels, the fully interacted model against the separate regressions, and
the wild bootstrap's enumeration by province."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replication import ethnic as E
from replication.config import Options, Paths
from replication.estimation import Design, fit_fe
from replication.indices import analysis_frame
from replication.models import CONTROLS, interacted_test
from replication.casestudy import csv_text
from replication.published import ETHNIC_PROVINCES, parse_ethnic_prefectures, parse_ethnic_study, parse_published

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "data" / "reference" / "ethnic_study.csv"
PREFECTURES = ROOT / "data" / "reference" / "ethnic_prefectures.csv"
SEED = "004_ab0ff0eeda740457.txt"


def _seeds_dir() -> Path:
    value = os.environ.get("REPLICATION_SEEDS", "")
    return Path(value) if value else ROOT.parent / "shared" / "seeds"


@pytest.fixture(scope="module")
def seed_text() -> str:
    path = _seeds_dir() / SEED
    if not path.is_file():
        message = f"seed 004 not found at {path} (set REPLICATION_SEEDS)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return parse_ethnic_study(REFERENCE.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- the study's figures


def _normal(text: str) -> str:
    return " ".join(text.split())


NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
ROMAN = re.compile(r"^#+\s*\*?([IVX]+)\.\s")
LETTER = re.compile(r"^#+\s*\*?([A-H])\.\s")


def _numbers(phrase: str) -> tuple[list[int], list[float]]:
    """(years, other numbers) printed in a phrase; a year is a four-digit integer 1990-2030 without commas."""
    years, others = [], []
    for token in NUMBER.findall(phrase):
        token = token.rstrip(",")
        if re.fullmatch(r"\d{4}", token) and 1990 <= int(token) <= 2030:
            years.append(int(token))
        else:
            others.append(float(token.replace(",", "")))
    return years, others


def _sections(text: str) -> list[tuple[int, str]]:
    """(offset in the whitespace-normalised text, 'III.A') of every lettered heading under a numbered one."""
    normal, out, roman, position = _normal(text), [], "", 0
    for line in text.splitlines():
        if ROMAN.match(line):
            roman = ROMAN.match(line).group(1)
        elif LETTER.match(line) and roman:
            position = normal.index(_normal(line), position)
            out.append((position, f"{roman}.{LETTER.match(line).group(1)}"))
    return out


def test_every_figure_is_printed_once_in_its_section_with_that_value(seed_text, reference):
    text = _normal(seed_text)
    sections = _sections(seed_text)
    assert {"III.A", "III.B", "III.C", "III.D", "IV.B", "IV.C", "V.A", "V.B", "V.C"} <= {s for _, s in sections}
    assert len(reference) == 31
    for row in reference.itertuples():
        phrase = _normal(row.printed)
        assert text.count(phrase) == 1, f"{row.printed!r} is not printed (once) in seed 004"
        where = text.index(phrase)
        section = [name for offset, name in sections if offset <= where][-1]
        assert row.section == section, f"{row.printed!r} is in section {section}, not {row.section}"
        years, others = _numbers(phrase)
        assert others == [row.value], f"{row.printed!r}: printed {others}, stored {row.value}"
        if years:
            assert row.year in years, f"{row.printed!r}: year {row.year} not among {years}"


def test_the_study_names_the_eight_provinces_the_parser_knows(seed_text):
    assert len(ETHNIC_PROVINCES) == 8 and "the eight ethnic provinces and regions" in seed_text
    for english in ("Tibet", "Xinjiang", "Guangxi", "Ningxia", "Inner Mongolia", "Guizhou"):
        assert english in seed_text


def _with(line: int, column: str, value: str) -> str:
    """The committed file with one cell replaced (line numbers as an editor shows them)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(REFERENCE.read_text(encoding="utf-8"))))
    rows[line - 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize("column, value, expected", [
    ("section", "3A", r"line 4, column 'section': '3A'; expected a heading"),
    ("area", "Tibet", r"line 4, column 'area': 'Tibet'; expected one of"),
    ("year", "22", r"line 4, column 'year': '22'; expected blank or a year"),
    ("value", "58,7", r"line 4, column 'value': '58,7'; expected a number"),
    ("value", "nan", r"line 4, column 'value': 'nan'; expected a finite number"),
    ("qualifier", "about", r"line 4, column 'qualifier': 'about'; expected one of"),
    ("printed", " ", r"line 4, column 'printed': ' '; expected the words as printed"),
])
def test_parser_refuses_a_bad_cell_with_file_line_and_column(column, value, expected):
    with pytest.raises(ValueError, match=r"ethnic_study.csv " + expected):
        parse_ethnic_study(_with(4, column, value))


def test_parser_refuses_missing_columns_short_rows_and_duplicates():
    good = REFERENCE.read_text(encoding="utf-8").splitlines()
    with pytest.raises(ValueError, match=r"ethnic_study.csv line 1: columns \['printed'\] missing"):
        parse_ethnic_study(good[0].replace(",printed", "") + "\n")
    with pytest.raises(ValueError, match=r"ethnic_study.csv line 2: 8 cells; expected 9"):
        parse_ethnic_study("\n".join([good[0], good[1].rsplit(",", 1)[0]]))
    with pytest.raises(ValueError, match=r"line 3: III.A urbanisation_rate eight ethnic provinces  2022 already "
                                         r"on line 2"):
        parse_ethnic_study("\n".join([good[0], good[1], good[1]]))
    assert len(parse_ethnic_study("\n".join(good))) == len(good) - 1


# ---------------------------------------------------------------------------- coverage

MODEL = ["Dig", *CONTROLS]
HELD = {"广西": 14, "内蒙古": 8, "云南": 8, "宁夏": 5, "贵州": 5, "青海": 1}


@pytest.fixture(scope="module")
def panel_csv() -> pd.DataFrame:
    """The committed panel read with plain pandas (not the package's loader)."""
    return pd.read_csv(ROOT / "data" / "processed" / "panel.csv")


@pytest.fixture(scope="module")
def manifest() -> dict:
    import json

    return json.loads((ROOT / "data" / "processed" / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def entities(raw_dir) -> pd.DataFrame:
    frame = pd.read_csv(raw_dir / "crosswalk_fiersity" / "entities.csv")
    return frame.rename(columns={"canonical_name_zh": "city", "province_name_zh": "province"})[["city", "province"]]


@pytest.fixture(scope="module")
def divisions() -> pd.DataFrame:
    return parse_ethnic_prefectures(PREFECTURES.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return parse_published((ROOT / "data" / "reference" / "published.csv").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def analysis(committed_panel):
    return analysis_frame(committed_panel, Options())


@pytest.fixture(scope="module")
def model(analysis):
    return E.ethnic_model(analysis.data, Options())


def test_coverage_counts_equal_the_panel(committed_panel, panel_csv, divisions):
    counts = E.coverage_counts(E.coverage(committed_panel, divisions)).set_index("short")
    by_province = panel_csv.groupby("province")["city_code"].nunique()
    for short, full in ETHNIC_PROVINCES.items():
        assert counts.loc[short, "in_panel"] == by_province.get(full, 0), short
        assert counts.loc[short, "city_years"] == int((panel_csv["province"] == full).sum()), short
    held = counts[counts["in_panel"] > 0]
    assert held["in_panel"].to_dict() == HELD  # 41 cities of six (the issue counted 40 before 普洱 came back with the confirmed rule)
    assert held["in_panel"].sum() == 41 and held["city_years"].sum() == 451
    assert set(counts.index[counts["in_panel"] == 0]) == {"西藏", "新疆"}


def test_the_committed_divisions_equal_a_fresh_derivation(committed_panel, manifest, entities):
    """data/reference/ethnic_prefectures.csv is ethnic.prefectures of the raw crosswalk and the committed
    build (panel and manifest.json), byte for byte."""
    fresh = csv_text(E.prefectures(committed_panel, manifest, entities))
    assert PREFECTURES.read_text(encoding="utf-8") == fresh, (
        "data/reference/ethnic_prefectures.csv is stale: write csv_text(ethnic.prefectures(panel, manifest, "
        "entities)) into it again")


def test_coverage_accounts_for_every_division_once_with_the_manifest_reason(committed_panel, divisions, entities):
    cover = E.coverage(committed_panel, divisions)
    eight = entities[entities["province"].isin(list(ETHNIC_PROVINCES.values()))]
    assert sorted(cover["city"]) == sorted(eight["city"])  # each division of the eight once
    tibet = cover[cover["short"] == "西藏"].set_index("city")
    assert set(tibet.index[tibet["status"] == "dropped"]) == {"拉萨市", "日喀则市", "昌都市", "林芝市", "山南市", "那曲市"}
    assert tibet.loc["阿里地区", "status"] == "not a city of the yearbook"
    assert tibet.loc["日喀则市", "reason"] == "listed for 2016-2021 only"
    xinjiang = cover[cover["short"] == "新疆"].set_index("city")
    assert xinjiang.loc["乌鲁木齐市", "reason"].startswith("pop_whole missing in 2020, 2021")
    assert xinjiang.loc["克拉玛依市", "rule"].startswith("has a non-urban area")
    assert (xinjiang["status"] == "not a city of the yearbook").sum() == 11


def test_a_city_the_run_s_panel_lacks_is_dropped_with_that_reason(committed_panel, divisions):
    cover = E.coverage(committed_panel[committed_panel["city"] != "银川市"], divisions).set_index("city")
    assert cover.loc["银川市", ["status", "rule", "city_years"]].tolist() == ["dropped", "not in this run's panel", 0]
    assert len(cover) == len(divisions)


@pytest.mark.parametrize("line, expected", [
    ("西藏自治区,拉萨市,gone,,", r"line 2, column 'status': 'gone'; expected one of"),
    ("西藏,拉萨市,dropped,r,why", r"line 2, column 'province': '西藏'; expected the full name"),
    ("西藏自治区,拉萨市,dropped,,why", r"line 2: status 'dropped' with rule '' and reason 'why'; expected a rule"),
    ("西藏自治区,阿里地区,not a city of the yearbook,,", r"expected no rule and a reason"),
])
def test_divisions_parser_refuses_a_bad_row_with_its_line(line, expected):
    with pytest.raises(ValueError, match=expected):
        parse_ethnic_prefectures(f"province,city,status,rule,reason\n{line}\n")


def test_divisions_parser_refuses_other_columns_and_a_city_twice():
    with pytest.raises(ValueError, match=r"line 1: columns \['province', 'city'\]; expected"):
        parse_ethnic_prefectures("province,city\n")
    twice = "province,city,status,rule,reason\n宁夏回族自治区,银川市,in the panel,,\n宁夏回族自治区,银川市,in the panel,,\n"
    with pytest.raises(ValueError, match=r"line 3: 银川市 twice"):
        parse_ethnic_prefectures(twice)


# ---------------------------------------------------------------------------- the panel's nearest quantities


def test_nearest_quantities_equal_a_direct_computation(committed_panel, panel_csv, reference, divisions):
    beside = E.nearest_quantities(reference, committed_panel, E.coverage(committed_panel, divisions))
    assert len(beside) == len(reference)
    rows = beside[beside["comparable"]].set_index("quantity")
    assert set(rows.index) == {"urbanisation_rate", "urbanisation_gap_to_national", "health_technicians_rural",
                               "health_technicians_rural_to_urban"}
    last = panel_csv[panel_csv["year"] == 2021]
    eight = last[last["province"].isin(list(ETHNIC_PROVINCES.values()))]
    share = eight["pop_district"].sum() / eight["pop_whole"].sum() * 100
    assert rows.loc["urbanisation_rate", "panel_value"] == pytest.approx(share, rel=1e-12)
    assert rows.loc["urbanisation_rate", "panel_year"] == "2021"
    national = last["pop_district"].sum() / last["pop_whole"].sum() * 100
    assert rows.loc["urbanisation_gap_to_national", "panel_value"] == pytest.approx(national - share, rel=1e-12)
    gx = last[last["province"] == "广西壮族自治区"]
    nonurban = gx["doctors_nonurban"].sum() / (gx["pop_nonurban"].sum() * 1e4) * 1000
    district = gx["doctors_district"].sum() / (gx["pop_district"].sum() * 1e4) * 1000
    assert rows.loc["health_technicians_rural", "panel_value"] == pytest.approx(nonurban, rel=1e-12)
    assert rows.loc["health_technicians_rural_to_urban", "panel_value"] == pytest.approx(
        nonurban / district * 100, rel=1e-12)
    assert rows.loc["health_technicians_rural", "panel_value"] == pytest.approx(1.454, abs=1e-3)
    nothing = beside[~beside["comparable"]]
    assert nothing["why"].str.len().min() > 20 and nothing["panel_value"].isna().all()
    assert nothing.loc[nothing["area"] == "西藏", "why"].str.startswith("The panel holds no city of 西藏").all()


# ---------------------------------------------------------------------------- the model


def test_separate_regression_equals_pyfixest_and_linearmodels(analysis, model):
    import pyfixest as pf
    from linearmodels import PanelOLS

    sample = analysis.data[analysis.data["province"].isin(list(ETHNIC_PROVINCES.values()))]
    own = model.separate["Ethnic provinces"]
    assert own.nobs == len(sample) == 451 and own.nclusters == 41
    formula = "Dist ~ Dig + Ur + Stru + lnexpense + lnper_gdp | city_code + year"
    ssc = pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True)
    fixest = pf.feols(formula, data=sample, vcov={"CRV1": "city_code"}, ssc=ssc)
    by_province = pf.feols(formula, data=sample, vcov={"CRV1": "province"}, ssc=ssc)
    for term in MODEL:
        assert own.params[term] == pytest.approx(fixest.coef()[term], rel=1e-9)
        assert own.std_errors[term] == pytest.approx(fixest.se()[term], rel=1e-9)
        assert own.pvalues[term] == pytest.approx(fixest.pvalue()[term], rel=1e-8)
        assert model.by_province.std_errors[term] == pytest.approx(by_province.se()[term], rel=1e-9)
        assert model.by_province.pvalues[term] == pytest.approx(by_province.pvalue()[term], rel=1e-8)
    frame = sample.set_index(["city_code", "year"])
    lm = PanelOLS(frame["Dist"], frame[MODEL], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True, debiased=False, group_debias=False, count_effects=False,
        auto_df=False)
    n, g, k = 451, 41, len(MODEL) + 1 + 10
    assert own.cov.loc[MODEL, MODEL].to_numpy() == pytest.approx(lm.cov.to_numpy() * g / (g - 1) * (n - 1) / (n - k),
                                                                   rel=1e-8)
    assert lm.params["Dig"] == pytest.approx(own.params["Dig"], rel=1e-9)
    assert own.params["Dig"] == pytest.approx(-0.0070940, abs=1e-6)


def test_fully_interacted_coefficient_is_the_difference_of_the_separate_regressions(analysis, model):
    for against, d in model.differences.items():
        separate = model.separate["Ethnic provinces"].params["Dig"] - model.separate[against].params["Dig"]
        assert d.difference == pytest.approx(separate, rel=1e-12)
        assert d.fit.params[E.INTERACTION] == pytest.approx(separate, rel=1e-8, abs=1e-12)
        assert d.interacted_difference == pytest.approx(separate, rel=1e-8, abs=1e-12)
        assert d.wild.estimate == pytest.approx(separate, rel=1e-8, abs=1e-12)
    # Table 6's test recomputed from models.interacted_test on relabelled regions
    data = analysis.data
    labelled = data.assign(region=np.where(E.ethnic(data), "E", "O"))
    diff, f_stat, p = interacted_test(labelled, "Dist", MODEL, "E", "O")
    other = model.differences["Other cities"]
    assert (diff, f_stat, p) == (pytest.approx(other.difference, rel=1e-8), pytest.approx(other.interacted_f, rel=1e-10),
                                 pytest.approx(other.interacted_p, rel=1e-10))
    # the simple interaction shares the controls' slopes and the year effects: not the difference
    assert abs(model.interaction.params[E.INTERACTION] - other.difference) > 1e-3


def test_wild_p_values_are_enumerated_for_few_province_clusters_and_equal_a_brute_force(analysis, model):
    sample = analysis.data[analysis.data["province"].isin(list(ETHNIC_PROVINCES.values()))]
    wild = model.wild
    assert wild.enumerated and wild.nclusters == 6 and wild.draws == 2**6 and wild.cluster == "province"
    west = model.differences["Rest of the West"].wild
    assert west.enumerated and west.nclusters == 10 and west.draws == 2**10
    other = model.differences["Other cities"].wild
    assert not other.enumerated and other.nclusters == 25 and other.draws == Options().wild_draws
    # brute force: restricted residuals (Dig = 0), every sign vector over the provinces, a full refit each
    restricted = fit_fe(Design.from_frame(sample, "Dist", CONTROLS), "cluster")
    provinces, index = np.unique(sample["province"], return_inverse=True)
    full = fit_fe(Design.from_frame(sample, "Dist", MODEL, cluster="province"), "cluster")
    t = full.tstats["Dig"]
    codes = np.arange(2 ** len(provinces))
    signs = 1.0 - 2.0 * ((codes[:, None] >> np.arange(len(provinces))) & 1)
    t_star = []
    for v in signs:
        y_star = sample["Dist"].to_numpy() + (v[index] - 1.0) * restricted.extra["resid"]
        refit = fit_fe(Design.from_frame(sample.assign(Dist=y_star), "Dist", MODEL, cluster="province"), "cluster")
        t_star.append(refit.tstats["Dig"])
    t_star = np.array(t_star)
    tie = 1e-9 * abs(t)
    assert wild.t_stat == pytest.approx(t, rel=1e-10)
    assert wild.p_symmetric == pytest.approx(np.mean(np.abs(t_star) > abs(t) + tie), abs=1e-12)
    assert wild.p_equal_tailed == pytest.approx(
        2 * min(np.mean(t_star > t + tie), np.mean(t_star < t - tie)), abs=1e-12)
    assert wild.p_symmetric == pytest.approx(60 / 64, abs=1e-12)


# ---------------------------------------------------------------------------- the report


@pytest.fixture(scope="module")
def files(committed_panel, analysis, reference, divisions, published):
    return E.report_files(committed_panel, analysis, reference, divisions, published, Options())


def test_build_is_byte_identical_and_names_every_output(files, committed_panel, analysis, reference, divisions,
                                                        published):
    again = E.report_files(committed_panel, analysis, reference, divisions, published, Options())
    assert sorted(files) == sorted(again) and all(files[k] == again[k] for k in files)
    assert {"reports/ethnic.md", "reports/ethnic.html", "tables/ethnic_model.csv", "tables/ethnic_coverage.csv",
            "tables/ethnic_study_beside_panel.csv", "figures/ethnic_indices.png", "figures/ethnic_indices.pdf",
            "figures/ethnic_cities.png", "figures/ethnic_study.pdf"} <= set(files)
    table = pd.read_csv(pd.io.common.StringIO(files["tables/ethnic_model.csv"])).set_index(["sample", "term", "stat"])
    assert table.loc[("Ethnic provinces, clustered by province", "Dig", "wild_draws"), "value"] == 64


def test_report_has_no_nan_and_states_the_run(files, model):
    report = files["reports/ethnic.md"]
    for word in ("nan", "None", "n/a"):
        assert not re.search(rf"\b{word}\b", report), word
    assert not re.search(r"\bnan\b|\bNone\b", files["reports/ethnic.html"])
    assert "41 cities (451 city-years) of 6 of the eight provinces: 广西 14, 内蒙古 8, 云南 8, 宁夏 5, 贵州 5, 青海 1; " \
           "none of 西藏, 新疆." in report
    assert f"wild p = {model.wild.p_symmetric:.3f} (all 2^6 = 64 sign vectors enumerated, 6 province clusters)" in report
    assert "拉萨市 (pop_district missing in 2011, 2012" in report
    assert str(ROOT) not in report


def test_report_words_follow_cov_type_and_name_the_paper_s_number(committed_panel, reference, divisions, published):
    options = Options(cov_type="robust")
    analysis = analysis_frame(committed_panel, options)
    cell = (published["table"] == "T5") & (published["column"] == "(4)") & (published["row"] == "Dig") & (
        published["stat"] == "estimate")
    assert published.loc[cell, "value"].tolist() == [-0.102]
    files = E.report_files(committed_panel, analysis, reference, divisions,
                           published.assign(value=published["value"].mask(cell, -0.5)), options)
    report = files["reports/ethnic.md"]
    own = E.ethnic_model(analysis.data, options).separate["Ethnic provinces"]
    assert own.cov_type == "robust"
    assert f"SE {own.std_errors['Dig']:.3f}, heteroskedasticity-robust (HC1)" in report
    assert "always clustered by province (whatever cov_type)" in report
    assert "the paper's is -0.5." in report and "-0.102" not in report
    assert "Non-default options: cov_type=robust" in report


@pytest.mark.parametrize("cov_type", ["cluster_city", "robust"])
def test_the_report_passes_the_consistency_checker(cov_type, committed_panel):
    """The report read against its run (replication.consistency), under the default and robust errors."""
    from replication import ethnic
    from replication.consistency import check
    from replication.indices import analysis_frame

    options = Options(cov_type=cov_type)
    analysis = analysis_frame(committed_panel, options)
    reference = parse_ethnic_study((Paths().reference / "ethnic_study.csv").read_text(encoding="utf-8"))
    reference_dir = Paths().reference
    divisions = parse_ethnic_prefectures((reference_dir / "ethnic_prefectures.csv").read_text(encoding="utf-8"))
    published = parse_published((reference_dir / "published.csv").read_text(encoding="utf-8"))
    files = ethnic.report_files(committed_panel, analysis, reference, divisions, published, options)
    found = check({"reports/ethnic.md": files["reports/ethnic.md"]}, options, analysis.data)
    assert found.empty, "\n" + found.to_string()


def test_make_ethnic_writes_the_report_without_the_raw_files(tmp_path, files):
    """The coverage comes from the committed divisions: no raw directory, the same report."""
    from replication.__main__ import main

    assert main(["ethnic", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "reports" / "ethnic.md").read_text(encoding="utf-8")
    assert "The panel holds 41 cities of 6 of the eight" in text and "none of 西藏, 新疆" in text
    assert "拉萨市 (pop_district missing in 2011, 2012" in text
    assert text == files["reports/ethnic.md"]
    assert (tmp_path / "figures" / "ethnic_cities.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "ethnic.manifest.json").is_file()
