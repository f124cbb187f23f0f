"""The figures explain themselves, checked on the matplotlib objects (save_figure captured): a title,
labelled axes, a legend wherever a line or marker is drawn, whole-year ticks, labels from the run's
options; the specification curve plots t and marks the default and the paper; Chinese names drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from replication import figures
from replication.config import Options, Paths
from replication.published import parse_published


@pytest.fixture()
def captured(monkeypatch):
    """The figures the functions build, before they are saved."""
    figures_ = []

    def keep(figure):
        figures_.append(figure)
        return {"png": b"", "pdf": b""}

    monkeypatch.setattr(figures, "save_figure", keep)
    return figures_


@pytest.fixture(scope="module")
def published():
    return parse_published((Paths().reference / "published.csv").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def data(committed_panel):
    from replication.indices import analysis_frame

    return analysis_frame(committed_panel, Options()).data


def drawn(axis) -> bool:
    """A line or marker with data is drawn on the axis (spines, grid and reference lines aside)."""
    lines = [line for line in axis.get_lines() if len(np.atleast_1d(line.get_xdata())) > 2]
    return bool(lines) or any(isinstance(c, PathCollection) and len(c.get_offsets()) for c in axis.collections)


def check(figure, years: bool = False) -> None:
    title = figure._suptitle.get_text() if figure._suptitle else ""
    visible = [axis for axis in figure.axes if axis.get_visible()]
    assert title or visible[0].get_title(), "no title"  # a suptitle, or the top panel's title
    for axis in visible:
        if not drawn(axis) and not axis.patches:
            continue
        assert axis.get_xlabel() or axis.get_ylabel() or axis in figure.axes[1:], "an axis without labels"
        assert axis.get_legend() is not None or figure.legends, f"no legend on {axis.get_title()!r}"
        if years:
            ticks = axis.get_xticks()
            assert len(ticks) and np.allclose(ticks, np.round(ticks)), ticks
            shown = [t.get_text() for t in axis.get_xticklabels() if t.get_text()]
            assert all("." not in text for text in shown), shown


def test_the_legend_check_catches_a_figure_without_one(captured):
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.plot([2011, 2012, 2013], [1, 2, 3])
    axis.set_title("x")
    axis.set_xlabel("Year")
    with pytest.raises(AssertionError, match="no legend"):
        check(figure)
    axis.set_xticks([2011, 2011.5, 2012])
    axis.legend(["line"])
    with pytest.raises(AssertionError):
        check(figure, years=True)


def _tables(published: pd.DataFrame, clusters: int) -> dict[str, pd.DataFrame]:
    rows, stats = {}, {}
    for _, table, column, term in figures.DIG_CELLS:
        name = f"table{table[1:]}"
        rows.setdefault(name, []).append((column, term, 0.05, 0.1, 0.5, 0.6))
        stats.setdefault(f"{name}_stats", []).append((column, "nclusters", clusters))
    out = {k: pd.DataFrame(v, columns=["column", "term", "estimate", "std_error", "t_stat", "p_value"])
           for k, v in rows.items()}
    out |= {k: pd.DataFrame(v, columns=["column", "stat", "value"]) for k, v in stats.items()}
    return out


def test_coefficient_plot_names_the_errors_used(captured, published):
    figures.coefficient_plot(published, _tables(published, 25), Options(cov_type="cluster_province"))
    figures.coefficient_plot(published, _tables(published, 253), Options())
    figures.coefficient_plot(published, _tables(published, 253))
    labels = [[t.get_text() for t in f.axes[0].get_legend().get_texts()] for f in captured]
    assert "Replication (errors clustered by province)" in labels[0] and not any("city" in t for t in labels[0])
    assert "Replication (errors clustered by city)" in labels[1]
    assert "Replication (this run's standard errors)" in labels[2]  # no options: no clustering claimed
    for figure in captured:
        check(figure)


def test_indices_and_bootstrap_figures(captured, data):
    figures.indices_over_time(data)
    draws = np.random.default_rng(0).normal(-0.005, 0.006, 500)
    figures.bootstrap_plot(draws, -0.0053, -0.9)
    check(captured[0], years=True)
    check(captured[1])
    boot = captured[1].axes[0]
    assert boot.get_ylabel() == "Density" and "a × b" in boot.get_xlabel()
    texts = [t.get_text() for t in boot.get_legend().get_texts()]
    low, high = np.percentile(draws, [2.5, 97.5])
    assert f"Bootstrap 95% percentile interval [{low:.4f}, {high:.4f}]" in texts
    assert "Cluster bootstrap (500 draws)" in texts


def _specs() -> pd.DataFrame:
    rows = []
    spec = 0
    for winsorize in (0.01, 0.0):
        for cov_type in ("cluster_city", "driscoll_kraay"):
            for controls in ("(4)", "(1)"):
                spec += 1
                t = {0.01: 0.7, 0.0: -2.5}[winsorize] + (0.3 if cov_type == "driscoll_kraay" else 0) + \
                    (0.1 if controls == "(1)" else 0)
                rows.append({"spec_id": spec, "estimand": "T5_Dig", "winsorize": winsorize, "cov_type": cov_type,
                             "controls": controls, "estimate": t * 0.1, "std_error": 0.1, "t_stat": t,
                             "p_value": 2 * (1 - __import__("scipy").stats.t.cdf(abs(t), 252)), "df": 252.0})
    return pd.DataFrame(rows)


def test_specification_curve_plots_t_marks_default_and_paper(captured, published):
    specs = _specs()
    figures.specification_curve(specs, "T5_Dig", ["winsorize", "cov_type", "controls"], published)
    figure = captured[0]
    check(figure)
    top, bottom = figure.axes[:2]
    assert top.get_ylabel() == "t statistic of the estimate"
    texts = [t.get_text() for t in top.get_legend().get_texts()]
    assert "Default specification (t = 0.70)" in texts  # winsorize 0.01, cluster_city, (4)
    assert "The paper: t = -2.82 (estimate -0.102)" in texts
    assert "significantly negative at 5% (50%)" in texts
    points = np.concatenate([c.get_offsets()[:, 1] for c in top.collections if isinstance(c, PathCollection)])
    assert set(np.round(points, 6)) >= set(np.round(specs["t_stat"], 6))  # t, not the raw estimate
    labels = [t.get_text() for t in bottom.get_yticklabels()]
    assert labels[:2] == ["winsorize = 0.01 (default)", "winsorize = 0.0"]
    assert "Specification" in bottom.get_xlabel() and bottom.get_legend() is not None


def test_city_panels_draw_chinese_names(captured, data):
    from replication.guangxi import GROUPS, indices_beside_medians

    frame = indices_beside_medians(data)
    cities = frame[frame["kind"] == "city"]
    median = frame[(frame["kind"] == "median") & (frame["series"] == f"{GROUPS['guangxi']} median")]
    figures.city_panels(cities, "Dig", "Dig (index)", "Dig in each Guangxi city", median, "Guangxi median")
    figure = captured[0]
    check(figure, years=True)
    titles = [axis.get_title() for axis in figure.axes if axis.get_visible()]
    assert len(titles) == cities["city_code"].nunique() == 14
    if figures.cjk_font():
        assert any("桂林市" in t for t in titles) and all(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in titles)
    else:
        assert not any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in titles)
