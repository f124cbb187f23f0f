"""The Guangxi case: seed 000's figures against the seed's own text, the report's data against the
panel, the within-Guangxi estimate against pyfixest and linearmodels, and the wild bootstrap
against a brute-force enumeration of all 2^14 sign vectors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from linearmodels import PanelOLS

from replication.config import Options
from replication.estimation import Design, fit_fe, within_balanced
from replication.guangxi import (
    PROVINCE, development_ranking, indices_beside_medians, internet_use, largest_change, seed_consistency,
    service_gap, within_guangxi,
)
from replication.indices import analysis_frame
from replication.models import CONTROLS
from replication.casestudy import paper_dig
from replication.published import parse_guangxi_seed, parse_published

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "data" / "reference" / "guangxi_seed.csv"
SEED = "000_fb9143b72f7c76e0.txt"
MODEL = ["Dig", *CONTROLS]
LIUZHOU, HECHI = 450200, 451200


def _seeds_dir() -> Path:
    value = os.environ.get("REPLICATION_SEEDS", "")
    return Path(value) if value else ROOT.parent / "shared" / "seeds"


@pytest.fixture(scope="module")
def seed_text() -> str:
    path = _seeds_dir() / SEED
    if not path.is_file():
        message = f"seed 000 not found at {path} (set REPLICATION_SEEDS)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return parse_guangxi_seed(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def panel_csv() -> pd.DataFrame:
    """The committed panel read with plain pandas (not the package's loader)."""
    return pd.read_csv(ROOT / "data" / "processed" / "panel.csv")


@pytest.fixture(scope="module")
def analysis(committed_panel):
    return analysis_frame(committed_panel, Options())


@pytest.fixture(scope="module")
def model(analysis):
    return within_guangxi(analysis.data, Options())


# ---------------------------------------------------------------------------- the seed's figures


def _normal(text: str) -> str:
    return " ".join(text.split())


NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(phrase: str) -> tuple[list[int], list[float]]:
    """(years, other numbers) printed in a phrase; a year is a four-digit integer 1990-2030 without commas."""
    years, others = [], []
    for token in NUMBER.findall(phrase):
        if re.fullmatch(r"\d{4}", token) and 1990 <= int(token) <= 2030:
            years.append(int(token))
        else:
            others.append(float(token.replace(",", "")))
    return years, others


def _sections(text: str) -> list[tuple[int, str]]:
    """(offset in the whitespace-normalised text, section number) of every numbered heading."""
    out = []
    for line in text.splitlines():
        match = re.match(r"^(\d+(?:\.\d+)?)\.?\s+[A-Z]", line)
        if match:
            out.append((_normal(text).index(_normal(line)), match.group(1)))
    return sorted(out)


def _seed_tables(text: str) -> dict[str, dict[tuple[str, str], float]]:
    """Every 'Table N:' of the seed: {(row label, column heading): value}, read from the tab-separated lines."""
    tables: dict[str, dict[tuple[str, str], float]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(Table \d+):", line)
        if not match:
            continue
        j = i + 1
        while not lines[j].strip():
            j += 1
        header = lines[j].split("\t")
        cells = {}
        for row in lines[j + 1 :]:
            if not row.strip():
                break
            parts = row.split("\t")
            assert len(parts) == len(header), f"{match.group(1)}: row {row!r} has {len(parts)} cells"
            for heading, value in zip(header[1:], parts[1:]):
                cells[(parts[0], heading)] = float(value)
        tables[match.group(1)] = cells
    return tables


def test_every_text_figure_is_printed_in_its_section_with_that_value(seed_text, reference):
    text = _normal(seed_text)
    sections = _sections(seed_text)
    rows = reference[~reference["source"].str.startswith("Table")]
    assert len(rows) == 23
    for row in rows.itertuples():
        phrase = _normal(row.printed)
        assert text.count(phrase) == 1, f"{row.printed!r} is not printed (once) in seed 000"
        where = text.index(phrase)
        section = [number for offset, number in sections if offset <= where][-1]
        assert row.source == f"section {section}", f"{row.printed!r} is in section {section}, not {row.source}"
        years, others = _numbers(phrase)
        assert others == [row.value], f"{row.printed!r}: printed {others}, stored {row.value}"
        if years:
            assert row.year in years, f"{row.printed!r}: year {row.year} not among {years}"


def test_every_table_cell_equals_the_seed_table(seed_text, reference):
    tables = _seed_tables(seed_text)
    assert sorted(tables) == ["Table 1", "Table 2", "Table 3"]
    stored = reference[reference["source"].str.startswith("Table")]
    for row in stored.itertuples():
        label = str(row.year) if row.source != "Table 3" else row.group
        assert tables[row.source][(label, row.printed)] == row.value, (row.source, label, row.printed)
    # and the CSV holds every cell the seed prints, once
    assert len(stored) == sum(len(cells) for cells in tables.values()) == 19


def test_table3_year_and_the_chart_numbers_the_report_cites(seed_text, reference):
    assert "Table 3: Internet Access Disparities in Guangxi by Region (2023)" in seed_text
    assert set(reference.loc[reference["source"] == "Table 3", "year"]) == {2023}
    for chart, figure in (("Chart 1", "Figure 1:"), ("Chart 4", "Figure 3:"), ("Chart 5", "Figure 4:")):
        assert chart in seed_text and figure in seed_text
    assert "Figure 5:" not in seed_text and not re.search(r"^Chart \d", seed_text, re.MULTILINE)


def test_the_seed_text_agrees_with_its_tables(reference):
    pairs = seed_consistency(reference)
    assert len(pairs) == 10 and pairs["agree"].all()


def test_parser_names_the_bad_row():
    good = REFERENCE.read_text(encoding="utf-8")
    lines = good.splitlines()
    with pytest.raises(ValueError, match=r"guangxi_seed.csv line 3: qualifier 'roughly'"):
        parse_guangxi_seed("\n".join([lines[0], lines[1], lines[2].replace(",nearly,", ",roughly,")]))
    with pytest.raises(ValueError, match=r"Table 1 fibre_coverage 2018 administrative villages twice"):
        parse_guangxi_seed("\n".join([lines[0], lines[8], lines[8]]))
    with pytest.raises(ValueError, match=r"columns \['printed'\] missing"):
        parse_guangxi_seed("source,quantity,year,group,value,qualifier,unit\n")


# ---------------------------------------------------------------------------- the figures' data


def test_index_rows_equal_the_panel_and_the_medians(analysis, panel_csv):
    frame = indices_beside_medians(analysis.data)
    cities = frame[frame["kind"] == "city"]
    assert len(cities) == 154 and cities["city_code"].nunique() == 14
    merged = cities.merge(analysis.data, on=["city_code", "year"], suffixes=("", "_data"))
    assert len(merged) == 154
    assert (merged["Dist"] == merged["Dist_data"]).all() and (merged["Dig"] == merged["Dig_data"]).all()
    guangxi_codes = set(panel_csv.loc[panel_csv["province"] == PROVINCE, "city_code"])
    assert set(cities["city_code"].astype(int)) == guangxi_codes
    data = analysis.data
    rest = data[(data["region"] == "West") & ~data["city_code"].isin(guangxi_codes)]
    medians = frame[frame["kind"] == "median"].set_index(["series", "year"])
    for year in (2011, 2021):
        assert medians.loc[("All cities median", year), "Dist"] == np.median(data.loc[data["year"] == year, "Dist"])
        rest_year = rest.loc[rest["year"] == year, "Dig"]
        assert medians.loc[("Rest of the West median", year), "Dig"] == np.median(rest_year)
        assert medians.loc[("Rest of the West median", year), "cities"] == 66


def test_internet_rows_equal_the_panel(committed_panel, panel_csv):
    rows = internet_use(committed_panel).set_index(["year", "role"])
    raw = panel_csv.set_index(["city_code", "year"])
    # ranking by mean GDP per capita 2018-2021, recomputed from the CSV columns
    part = panel_csv[(panel_csv["province"] == PROVINCE) & panel_csv["year"].between(2018, 2021)]
    gdp = (part["gdp_whole"] * 1e4 / part["pop_avg_whole"]).groupby(part["city_code"]).mean()
    assert (gdp.idxmax(), gdp.idxmin()) == (LIUZHOU, HECHI)
    assert list(development_ranking(committed_panel)["city_code"]) == list(gdp.sort_values(ascending=False).index)
    for year in (2018, 2019, 2020, 2021):
        for role, code in (("most developed", LIUZHOU), ("least developed", HECHI)):
            cell = raw.loc[(code, year)]
            assert rows.loc[(year, role), "broadband_per_100"] == pytest.approx(
                cell["internet_whole"] / cell["pop_whole"] * 100, rel=1e-12)
            assert rows.loc[(year, role), "mobile_per_100"] == pytest.approx(
                cell["mobile_whole"] / cell["pop_whole"] * 100, rel=1e-12)
        province = part[part["year"] == year]
        assert rows.loc[(year, "province"), "broadband_per_100"] == pytest.approx(
            province["internet_whole"].sum() / province["pop_whole"].sum() * 100, rel=1e-12)
    assert rows.loc[(2020, "province"), "filled"] == "interpolated" and rows.loc[(2021, "province"), "filled"] == ""
    # Hechi 2021 by hand: 123 (10k subscribers) / 433 (10k persons) x 100 = 28.41
    assert rows.loc[(2021, "least developed"), "broadband_per_100"] == pytest.approx(28.41, abs=0.01)


def test_largest_broadband_change_is_found_by_the_rule(committed_panel, panel_csv):
    jump = largest_change(committed_panel)
    part = panel_csv[(panel_csv["province"] == PROVINCE) & panel_csv["year"].between(2018, 2021)]
    wide = (part["internet_whole"] / part["pop_whole"] * 100).groupby([part["city_code"], part["year"]]).first()
    changes = wide.unstack().diff(axis=1).abs()
    code, year = changes.stack().idxmax()
    assert (jump["year"], jump["after"]) == (year, pytest.approx(wide[(code, year)], rel=1e-12))


def test_service_gap_equals_a_direct_computation(committed_panel, panel_csv):
    gap = service_gap(committed_panel, Options()).set_index(["group", "indicator", "year"])
    part = panel_csv[(panel_csv["province"] == PROVINCE) & (panel_csv["year"] == 2021)]
    library = (part["library_nonurban"] / part["pop_nonurban"]) / (part["library_district"] / part["pop_district"])
    teachers = ((part["teachers_primary_nonurban"] / part["pupils_primary_nonurban"])
                / (part["teachers_primary_district"] / part["pupils_primary_district"]))
    assert gap.loc[("Guangxi", "library", "2021"), "ratio"] == pytest.approx(
        np.median(library), rel=1e-12)
    assert gap.loc[("Guangxi", "teachers_per_pupil", "2021"), "ratio"] == pytest.approx(
        np.median(teachers), rel=1e-12)
    west = panel_csv[(panel_csv["region"] == "West") & (panel_csv["province"] != PROVINCE)]
    beds = (west["beds_nonurban"] / west["pop_nonurban"]) / (west["beds_district"] / west["pop_district"])
    assert gap.loc[("Rest of the West", "beds", "2011-2021"), "ratio"] == pytest.approx(np.median(beds), rel=1e-12)
    assert gap.loc[("Rest of the West", "beds", "2011-2021"), "cities"] == 66


# ---------------------------------------------------------------------------- the model within Guangxi


def test_within_guangxi_equals_pyfixest_and_linearmodels(analysis, model):
    import pyfixest as pf

    sample = analysis.data[analysis.data["province"] == PROVINCE]
    assert model.nobs == len(sample) == 154 and model.fit.nclusters == 14
    fixest = pf.feols("Dist ~ Dig + Ur + Stru + lnexpense + lnper_gdp | city_code + year", data=sample,
                      vcov={"CRV1": "city_code"}, ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True))
    for term in MODEL:
        assert model.fit.params[term] == pytest.approx(fixest.coef()[term], rel=1e-9)
        assert model.fit.std_errors[term] == pytest.approx(fixest.se()[term], rel=1e-9)
        assert model.fit.pvalues[term] == pytest.approx(fixest.pvalue()[term], rel=1e-8)
    frame = sample.set_index(["city_code", "year"])
    lm = PanelOLS(frame["Dist"], frame[MODEL], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True, debiased=False, group_debias=False, count_effects=False,
        auto_df=False)
    n, g, k = 154, 14, len(MODEL) + 1 + 10
    factor = g / (g - 1) * (n - 1) / (n - k)
    assert model.fit.cov.loc[MODEL, MODEL].to_numpy() == pytest.approx(lm.cov.to_numpy() * factor, rel=1e-8)
    assert model.fit.params["Dig"] == pytest.approx(-0.06997667405354563, rel=1e-8)


def _brute_force_t(sample: pd.DataFrame, signs: np.ndarray) -> tuple[float, np.ndarray]:
    """t of Dig and t* for every sign vector (rows of `signs`, one column per city): y* = y + (v - 1) e~
    with e~ the residuals of the restricted model (Dig = 0, both effects), refitted with both effects."""
    entity, time = sample["city_code"].to_numpy(), sample["year"].to_numpy()
    restricted = fit_fe(Design.from_frame(sample, "Dist", CONTROLS), "cluster")
    resid = restricted.extra["resid"]
    cities, index = np.unique(entity, return_inverse=True)
    y = sample["Dist"].to_numpy(float)
    y_star = y[:, None] + (signs[:, index].T - 1.0) * resid[:, None]  # N x draws
    xt = within_balanced(sample[MODEL].to_numpy(float), entity, time, "twoway")
    yt = within_balanced(np.column_stack([y, y_star]), entity, time, "twoway")
    weights = np.linalg.solve(xt.T @ xt, xt.T)[0]  # row of (X'X)^-1 X' for Dig
    beta = np.linalg.lstsq(xt, yt, rcond=None)[0]
    resid_star = yt - xt @ beta
    sums = np.zeros((len(cities), yt.shape[1]))
    np.add.at(sums, index, weights[:, None] * resid_star)
    t = beta[0] / np.sqrt((sums**2).sum(axis=0))  # the small-sample factor cancels in every comparison
    return float(t[0]), t[1:]


def test_wild_p_values_equal_a_brute_force_enumeration(analysis, model):
    sample = analysis.data[analysis.data["province"] == PROVINCE]
    codes = np.arange(2**14)
    signs = 1.0 - 2.0 * ((codes[:, None] >> np.arange(14)) & 1)
    t, t_star = _brute_force_t(sample, signs)
    assert t == pytest.approx(model.fit.tstats["Dig"] * np.sqrt(14 / 13 * 153 / (154 - 16)), rel=1e-10)
    tie = 1e-9 * abs(t)
    p_symmetric = np.mean(np.abs(t_star) > abs(t) + tie)
    p_equal_tailed = 2 * min(np.mean(t_star > t + tie), np.mean(t_star < t - tie))
    wild = model.wild
    assert wild.enumerated and wild.draws == 2**14 and wild.nclusters == 14 and wild.restricted
    assert wild.p_symmetric == pytest.approx(p_symmetric, abs=1e-12)
    assert wild.p_equal_tailed == pytest.approx(p_equal_tailed, abs=1e-12)
    assert wild.t_stat == pytest.approx(model.fit.tstats["Dig"], rel=1e-10)
    assert wild.p_t == pytest.approx(model.fit.pvalues["Dig"], rel=1e-10)
    # the all-plus sign vector reproduces the data; two draws checked against a full refit with the effects
    assert t_star[0] == pytest.approx(t, rel=1e-10)
    restricted = fit_fe(Design.from_frame(sample, "Dist", CONTROLS), "cluster")
    _, index = np.unique(sample["city_code"], return_inverse=True)
    for draw in (1, 12345):
        y_star = sample["Dist"].to_numpy() + (signs[draw, index] - 1.0) * restricted.extra["resid"]
        refit = fit_fe(Design.from_frame(sample.assign(Dist=y_star), "Dist", MODEL), "cluster")
        factor = np.sqrt(14 / 13 * 153 / (154 - 16))
        assert refit.tstats["Dig"] * factor == pytest.approx(t_star[draw], rel=1e-9)


def test_the_interval_inverts_the_bootstrap_test(analysis, model):
    """At each end of the 95% interval the symmetric p-value of H0: Dig = r crosses 0.05."""
    from replication.wild import wild_bootstrap

    sample = analysis.data[analysis.data["province"] == PROVINCE]
    wild = model.wild
    assert wild.ci_low < wild.estimate < wild.ci_high
    shifted = {}
    for name, r in (("low", wild.ci_low), ("high", wild.ci_high)):
        for delta, side in ((-1e-3, "minus"), (1e-3, "plus")):
            frame = sample.assign(Dist=sample["Dist"] - (r + delta) * sample["Dig"])  # H0: Dig = r + delta
            shifted[(name, side)] = wild_bootstrap(frame, "Dist", MODEL, enumerate=True, ci=False).p_symmetric
    assert shifted[("low", "minus")] <= 0.05 < shifted[("low", "plus")]
    assert shifted[("high", "plus")] <= 0.05 < shifted[("high", "minus")]


def test_the_paper_s_coefficient_is_the_published_cell(model):
    """Table 5 (4)'s Dig, entered once in published.csv, is the number the model section quotes."""
    from replication import guangxi

    published = parse_published((ROOT / "data" / "reference" / "published.csv").read_text(encoding="utf-8"))
    assert paper_dig(published) == -0.102
    paragraphs = guangxi._model_section(model, -0.5).paragraphs
    assert "the paper's is -0.5 on all cities" in paragraphs[0]
    with pytest.raises(ValueError, match=r"no cell T5 \(4\) Dig estimate"):
        paper_dig(published[published["table"] != "T5"])


# ---------------------------------------------------------------------------- the shared case layer


def test_case_layer_medians_and_group_years_by_hand():
    from replication.casestudy import Case, medians, per_group_year

    frame = pd.DataFrame({"city_code": [1, 2, 3, 1, 2, 3], "year": [2011] * 3 + [2012] * 3,
                          "province": ["A", "A", "B"] * 2, "region": ["West", "West", "West"] * 2,
                          "Dist": [0.1, 0.3, 0.8, 0.2, 0.6, 0.4], "Dig": [1.0, 2.0, 4.0, 3.0, 5.0, 9.0],
                          "pop": [1.0, 3.0, 6.0, 2.0, 2.0, 6.0]})
    out = medians(frame)
    assert out.to_dict("list") == {"year": [2011, 2012], "Dist": [0.3, 0.4], "Dig": [2.0, 5.0], "cities": [3, 3]}
    case = Case("b", "B", "Province B", ("B",))
    assert case.members(frame).tolist() == [False, False, True] * 2
    assert case.rest_of_west(frame).tolist() == [True, True, False] * 2
    table = per_group_year([("B", frame[case.members(frame)]), ("all", frame)], lambda r: {"pop": r["pop"].sum()})
    assert table.to_dict("list") == {"group": ["B", "B", "all", "all"], "year": [2011, 2012, 2011, 2012],
                                     "pop": [6.0, 6.0, 10.0, 10.0], "cities": [1, 1, 3, 3]}


def test_case_layer_renders_headlines_first_and_names_every_file():
    from replication.casestudy import Case, Section, outputs

    sections = [Section("1. One", ["First <paragraph>."], [], ("b_plot",), headline="h <1>"),
                Section("2. Two", ["Second."], headline="h2")]
    files = outputs(Case("b", "Case B", "B", ("B",)), {"rates": pd.DataFrame({"x": [0.5, 1 / 3]})},
                    {"plot": {"png": b"P", "pdf": b"D"}}, "Intro.", sections)
    assert sorted(files) == ["figures/b_plot.pdf", "figures/b_plot.png", "reports/b.html", "reports/b.md",
                             "tables/b_rates.csv"]
    assert files["tables/b_rates.csv"] == "x\n0.5\n0.3333333333\n"
    assert files["reports/b.md"] == ("# Case B\n\nIntro.\n\n**In brief.**\n\n- h <1>\n- h2\n\n## 1. One\n\n"
                                     "First <paragraph>.\n\n![1. One](../figures/b_plot.png)\n\n## 2. Two\n\n"
                                     "Second.\n")
    page = files["reports/b.html"]
    assert "<li>h &lt;1&gt;</li>" in page and "<p>First &lt;paragraph&gt;.</p>" in page
    assert page.index("<h2>1. One</h2>") < page.index('src="../figures/b_plot.png"') < page.index("<h2>2. Two</h2>")


def test_coefficient_rows_carry_the_fit_and_nan_without_clusters(model):
    from replication.casestudy import coefficient
    from dataclasses import replace

    row = coefficient(model.fit, sample="Guangxi")
    assert row["sample"] == "Guangxi" and row["term"] == "Dig" and row["nobs"] == 154 and row["clusters"] == 14
    assert (row["estimate"], row["t_stat"]) == (model.fit.params["Dig"], model.fit.tstats["Dig"])
    assert np.isnan(coefficient(replace(model.fit, nclusters=None), "Ur")["clusters"])


# ---------------------------------------------------------------------------- end to end


def test_make_guangxi_writes_the_report_byte_identically(tmp_path):
    from replication.__main__ import main

    panel = str(ROOT / "data" / "processed" / "panel.csv")
    assert main(["guangxi", "--panel", panel, "--out", str(tmp_path / "a")]) == 0
    assert main(["guangxi", "--panel", panel, "--out", str(tmp_path / "b")]) == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {str(f) for f in files} >= {"reports/guangxi.md", "reports/guangxi.html", "figures/guangxi_indices.png",
                                       "figures/guangxi_internet.pdf", "tables/guangxi_model.csv"}
    for relative in files:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative
    report = (tmp_path / "a" / "reports" / "guangxi.md").read_text(encoding="utf-8")
    assert "symmetric p = 0.718" in report and "cluster-robust p = 0.683 from t(13)" in report
    assert str(tmp_path) not in report
    table = pd.read_csv(tmp_path / "a" / "tables" / "guangxi_model.csv").set_index(["sample", "term", "stat"])
    assert table.loc[("Guangxi", "Dig", "wild_draws"), "value"] == 2**14
