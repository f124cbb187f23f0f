"""What the steps write with the table function and the figures (issue 20): the fixed-effect level
counts from the kernel, every table as Word and as a notes file, the Guangxi figures with integer years
and Chinese names, the specification curve of `make multiverse` on t with the run's options."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from replication import etable, figures, models
from replication.config import Options
from replication.estimation import Design, fit_fe
from replication.registry import REGISTRY
from replication.render import to_markdown
from tests.test_figures import check

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def data(committed_panel):
    from replication.indices import analysis_frame

    return analysis_frame(committed_panel, Options()).data


# ---------------------------------------------------------------------------- fixed-effect levels


def test_the_kernel_counts_the_levels_of_the_estimation_sample():
    """A hand-built unbalanced panel: 3 cities (one with a single year, a singleton reghdfe drops) and 4
    years, one of which only the singleton city has; the levels are those left in the sample."""
    frame = pd.DataFrame({"city": [1, 1, 1, 2, 2, 2, 3], "year": [1, 2, 3, 1, 2, 3, 4],
                          "y": [1.0, 2.0, 2.5, 0.5, 1.5, 3.5, 9.0], "x": [0.1, 0.4, 0.2, 0.3, 0.9, 0.7, 0.5]})
    design = Design.from_frame(frame, "y", ["x"], "city", "year", "city")
    kept = fit_fe(design, "cluster", effects="twoway", drop_singletons=True)
    assert kept.n_singletons == 1 and kept.extra["levels"] == {"entity": 2, "time": 3}
    entity_only = fit_fe(design, "cluster", effects="entity", drop_singletons=True)
    assert entity_only.extra["levels"] == {"entity": 2}


def test_table_stats_carry_the_levels_and_the_table_prints_them(data):
    result = models.baseline(data, Options())
    values = result.stats.set_index(["column", "stat"])["value"]
    sample = models.complete_sample(data, ["Dist", *models.STEPS["(4)"]], Options())[0]
    assert values[("(4)", "fe_levels_city_code")] == sample["city_code"].nunique() == values[("(4)", "nclusters")]
    assert values[("(4)", "fe_levels_year")] == sample["year"].nunique() == 11
    model = etable.from_tidy(result.coefficients, result.stats, "(4)", "Dist")
    assert model.fixed_effects == {"city_code": sample["city_code"].nunique(), "year": 11}
    text = to_markdown(etable.etable([model]))
    assert f"Yes ({sample['city_code'].nunique()})" in text and "Yes (11)" in text


def test_regional_columns_count_their_own_cities(data):
    result = models.heterogeneity(data, Options())
    values = result.stats.set_index(["column", "stat"])["value"]
    for region in ("East", "Central", "West"):
        sample = data[data["region"] == region]
        assert values[(region, "fe_levels_city_code")] == sample["city_code"].nunique()


# ---------------------------------------------------------------------------- every table in every format


def test_every_table_is_written_as_word_and_as_a_notes_file(outputs_dir):
    import docx

    for name in REGISTRY:
        for suffix in (".md", ".tex", "_tabular.tex", "_notes.tex", ".html", ".docx"):
            assert (outputs_dir / "tables" / f"{name}{suffix}").is_file(), f"{name}{suffix}"
    document = docx.Document(str(outputs_dir / "tables" / "table5.docx"))
    cells = [[c.text for c in row.cells] for row in document.tables[0].rows]
    tidy = pd.read_csv(outputs_dir / "tables" / "table5.csv")
    dig = tidy[(tidy["column"] == "(4)") & (tidy["term"] == "Dig")].iloc[0]
    at = next(i for i, r in enumerate(cells) if r[0] == "Digital technology (Dig)")
    assert cells[at][-1] == f"{dig['estimate']:.4f}" and cells[at + 1][-1] == f"({dig['t_stat']:.2f})"
    assert cells[0] == ["", "(1)", "(2)", "(3)", "(4)"]
    notes = (outputs_dir / "tables" / "table5_notes.tex").read_text(encoding="utf-8")
    assert notes.startswith("% Notes to") and notes.count(r"\item") >= 3


@pytest.fixture(scope="module")
def outputs_dir(complete_set):
    """`python -m replication all` (indices, models, report and guangxi) on the committed panel: the
    session's one run (tests/conftest.py)."""
    return complete_set


# ---------------------------------------------------------------------------- Guangxi figures


@pytest.fixture()
def captured(monkeypatch):
    from replication import guangxi

    kept = []

    def keep(figure):
        kept.append(figure)
        return {"png": b"", "pdf": b""}

    monkeypatch.setattr(figures, "save_figure", keep)
    monkeypatch.setattr(guangxi, "save_figure", keep)
    return kept


def test_guangxi_figures_explain_themselves(captured, data, committed_panel):
    from replication import guangxi

    indices = guangxi.indices_beside_medians(data)
    guangxi.indices_figure(indices)
    guangxi.cities_figure(indices)
    guangxi.service_gap_figure(guangxi.service_gap(committed_panel, Options()))
    assert len(captured) == 3
    for figure in captured:
        check(figure, years=True)
    for axis in captured[0].axes:  # at most six year ticks on a half-width panel: none overprints
        assert len(axis.get_xticks()) <= 6
    titles = [a.get_title() for a in captured[1].axes if a.get_visible()]
    assert len(titles) == indices.loc[indices["kind"] == "city", "city_code"].nunique()
    if CI and not figures.cjk_font():
        pytest.fail("CI=true and no CJK font: .ci/run installs fonts-noto-cjk")
    if figures.cjk_font():
        assert any("南宁市" in t for t in titles) and any("钦州市" in t for t in titles)


def test_the_guangxi_report_shows_the_cities_figure(outputs_dir):
    text = (outputs_dir / "reports" / "guangxi.md").read_text(encoding="utf-8")
    assert "](../figures/guangxi_cities.png)" in text
    assert (outputs_dir / "figures" / "guangxi_cities.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- the multiverse's curve


def test_the_multiverse_draws_the_curve_on_t_with_the_runs_options(monkeypatch):
    from replication import multiverse as mv

    calls = []

    def curve(specs, estimand, decisions, published=None, options=None):
        calls.append((estimand, published is not None, options))
        return {"png": b"png", "pdf": b"pdf"}

    monkeypatch.setattr(mv, "specification_curve", curve)
    specs = pd.DataFrame({"spec_id": [0, 1], "estimand": ["T5_Dig", "T5_Dig"], "estimate": [0.1, -0.2],
                          "std_error": [0.1, 0.1], "t_stat": [1.0, -2.0], "p_value": [0.3, 0.04], "nobs": [10, 10],
                          "clusters": [5, 5], "df": [4, 4], "winsorize": ["0.01", "0.0"]})
    result = mv.Multiverse(specs, pd.DataFrame(), [], 0.0)
    chosen = Options(winsorize=0.0)
    monkeypatch.setattr(mv, "ESTIMANDS", ("T5_Dig",))
    monkeypatch.setattr(mv, "summary_markdown", lambda *args, **kwargs: "")  # the summary is tested elsewhere
    monkeypatch.setattr(mv, "closest", lambda *args, **kwargs: pd.DataFrame())
    files = mv.outputs(result, pd.DataFrame(columns=["table", "column", "row", "stat", "value"]), options=chosen)
    assert calls == [("T5_Dig", True, chosen)]
    assert files["curve_T5_Dig.png"] == b"png" and files["curve_T5_Dig.pdf"] == b"pdf"


# ---------------------------------------------------------------------------- the t degrees of freedom


@pytest.mark.parametrize("cov_type", ["cluster_city", "cluster_province", "driscoll_kraay", "robust"])
def test_the_stats_carry_the_t_degrees_of_freedom_of_each_covariance(data, cov_type):
    """df_t, which the intervals of the comparison and the figure use: G - 1 under clustering, T - 1
    under Driscoll-Kraay (11 years), N - K under robust errors (K: 5 slopes, the constant, 256 city and
    10 year effects)."""
    result = models.baseline(data, Options(cov_type=cov_type))
    values = result.stats.set_index(["column", "stat"])["value"]
    expected = {"cluster_city": 257 - 1, "cluster_province": 25 - 1, "driscoll_kraay": 11 - 1,
                "robust": values[("(4)", "nobs")] - (5 + 1 + 256 + 10)}[cov_type]
    assert values[("(4)", "df_t")] == expected
    tidy = result.coefficients.set_index(["column", "term"]).loc[("(4)", "Dig")]
    from scipy import stats

    assert tidy["p_value"] == pytest.approx(2 * stats.t.sf(abs(tidy["t_stat"]), expected), rel=1e-12)


def test_make_notebooks_refuses_a_folder_without_them(tmp_path, capsys):
    from replication.__main__ import main

    assert main(["notebooks", "--notebooks", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / '01_indices.ipynb'}: notebook not found\n"
    assert list(tmp_path.iterdir()) == []  # nothing written
