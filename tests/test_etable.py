"""etable on fitted results: keep/drop/order/rename, each statistic under the coefficients, the
fixed-effect and statistic rows, and each format (Markdown, LaTeX, HTML, Word), checked against the
tidy tables of models.py, a hand computation of the interval, and pyfixest's adjusted R²."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from replication import etable as et
from replication.config import Options
from replication.models import STEPS, baseline
from replication.registry import LABELS
from replication.render import MINUS, to_docx, to_html, to_latex, to_markdown


@pytest.fixture(scope="module")
def data(committed_panel):
    from replication.indices import analysis_frame

    return analysis_frame(committed_panel, Options()).data


@pytest.fixture(scope="module")
def models(data):
    return {column: et.fitted(data, "Dist", x, Options()) for column, x in STEPS.items()}


@pytest.fixture(scope="module")
def tidy(data):
    return baseline(data, Options())


def cells(markdown: str, label: str) -> list[str]:
    for line in markdown.splitlines():
        parts = [c.strip().strip("\u00a0") for c in line.strip("|").split("|")]
        if parts[0] == label:
            return parts[1:]
    raise AssertionError(f"no row {label!r}")


def shown(value: float, decimals: int = 4) -> str:
    return f"{value:.{decimals}f}".replace("-", MINUS)


def test_values_are_those_of_the_tidy_table(models, tidy):
    markdown = to_markdown(et.etable(models, labels=LABELS))
    coefficients = tidy.coefficients.set_index(["column", "term"])
    for j, column in enumerate(STEPS):
        for term in STEPS[column]:
            row = coefficients.loc[(column, term)]
            assert cells(markdown, LABELS[term])[j].rstrip("*") == shown(row.estimate)
        s = tidy.stats.set_index(["column", "stat"])["value"]
        assert cells(markdown, "N")[j] == f"{s[(column, 'nobs')]:.0f}"
        assert cells(markdown, "Within R²")[j] == shown(s[(column, "r2_within")])
    # the t under Dig in (4), and the level counts of the balanced panel: 257 cities x 11 years
    dig = coefficients.loc[("(4)", "Dig")]
    lines = markdown.splitlines()
    under = [lines[i + 1] for i, line in enumerate(lines) if line.startswith(f"| {LABELS['Dig']}")][0]
    assert f"({shown(dig.t_stat, 2)})" in under
    assert cells(markdown, "City fixed effects") == ["Yes (257)"] * 4
    assert cells(markdown, "Year fixed effects") == ["Yes (11)"] * 4
    assert cells(markdown, "Standard errors") == ["cluster (city)"] * 4


def test_keep_drop_order_and_labels(models):
    table = et.etable(models, keep=["Dig", "^Ur$", "Stru"], drop="Stru", order=["Ur", "Dig"],
                      labels={"Dig": "Digital", "Ur": "Urban share"})
    stubs = [row.label for row in table.rows if row.label and not row.rule_before][:3]
    assert stubs == ["Dependent variable", "Urban share", "Digital"]
    labels = {row.label for row in table.rows}
    assert "Stru" not in labels and "lnexpense" not in labels and "_cons" not in labels
    assert et.select(["Dig", "Dig_entropy", "Ur"], keep="^Dig$") == ["Dig"]
    with pytest.raises(ValueError, match="no coefficient left"):
        et.etable(models, keep="nothing")


def test_each_statistic_under_the_coefficient(models):
    fit = models["(4)"]
    dig = fit.row("Dig")
    t = to_markdown(et.etable([fit], statistic="t"))
    se = to_markdown(et.etable([fit], statistic="se"))
    p = to_markdown(et.etable([fit], statistic="p"))
    ci = to_markdown(et.etable([fit], statistic="ci"))
    assert f"({shown(dig.t_stat, 2)})" in t and "t statistics in parentheses" in t
    assert f"({shown(dig.std_error)})" in se and "Standard errors in parentheses" in se
    assert f"({shown(dig.p_value, 3)})" in p and "p-values in parentheses" in p
    critical = stats.t.ppf(0.975, 257 - 1)  # t(G - 1), G = 257 city clusters
    low, high = dig.estimate - critical * dig.std_error, dig.estimate + critical * dig.std_error
    assert f"[{shown(low)}, {shown(high)}]" in ci and "95% confidence intervals in brackets" in ci
    with pytest.raises(ValueError, match="statistic 'z': expected one of t, se, p, ci"):
        et.etable([fit], statistic="z")


def test_adjusted_r2_is_pyfixest_s(data, models):
    pf = pytest.importorskip("pyfixest")
    fit = pf.feols("Dist ~ Dig + Ur | city_code + year", data=data, vcov={"CRV1": "city_code"})
    ours = models["(2)"].stats
    assert ours["adj_r2"] == pytest.approx(fit._adj_r2, abs=1e-10)
    assert ours["adj_r2_within"] == pytest.approx(fit._adj_r2_within, abs=1e-10)
    assert ours["r2_within"] == pytest.approx(fit._r2_within, abs=1e-10)
    assert ours["rmse"] == pytest.approx(fit._rmse, abs=1e-10)
    markdown = to_markdown(et.etable(models, stats=("nobs", "adj_r2", "adj_r2_within", "rmse")))
    assert cells(markdown, "Within adjusted R²")[1] == shown(fit._adj_r2_within)
    assert "fixest's and pyfixest's adj_r2_within" in markdown


def test_constant_hidden_under_two_way_effects_and_said(models):
    hidden = to_markdown(et.etable(models, labels=LABELS))
    assert "| Constant" not in hidden and "The constant is not shown" in hidden
    shown_ = to_markdown(et.etable(models, labels=LABELS, constant=True))
    assert "| Constant" in shown_ and "The constant is not shown" not in shown_


def test_heads_groups_rows_and_errors(models):
    table = et.etable(list(models.values()), heads=["a", "b", "c", "d"], groups=[("Few controls", 2), ("More", 2)],
                      rows=[("Controls", ["none", "Ur", "Ur, Stru", "all"])], stars=None)
    markdown = to_markdown(table)
    assert "Few controls" in markdown.splitlines()[2] and "| a " not in markdown.splitlines()[2]
    assert cells(markdown, "Controls") == ["none", "Ur", "Ur, Stru", "all"]
    assert "*" not in "".join(markdown.split("\n\n")[1].splitlines()[4:12])  # no stars when stars=None
    tex = to_latex(table)
    assert r"\multicolumn{2}{c}{Few controls}" in tex and r"\cmidrule(lr){2-3}\cmidrule(lr){4-5}" in tex
    html = to_html(table)
    assert "Few controls" in html and "gt_column_spanner" in html
    with pytest.raises(ValueError, match="the groups span 3 columns, the table has 4"):
        et.etable(models, groups=[("x", 3)])
    with pytest.raises(ValueError, match="2 heads for 4 models"):
        et.etable(list(models.values()), heads=["a", "b"])


def test_docx_opens_and_holds_the_same_cells(models):
    import docx

    table = et.etable(models, labels=LABELS, caption="Baseline", number_="5", name="t5",
                      groups=[("Dist", 4)])
    data = to_docx(table)
    assert data == to_docx(table)  # byte-identical on a rerun
    document = docx.Document(io.BytesIO(data))
    assert document.paragraphs[0].text == "Table 5. Baseline"
    word = document.tables[0]
    got = [[c.text for c in row.cells] for row in word.rows]
    assert got[0][1:] == ["Dist"] * 4 and got[1] == ["", "(1)", "(2)", "(3)", "(4)"]
    markdown = to_markdown(table)
    for row in got[2:]:
        label = row[0].strip("\u00a0")
        if label:
            assert [c.strip() for c in cells(markdown, label)] == row[1:], label
    notes = [p.text for p in document.paragraphs[1:]]
    assert any("The constant is not shown" in n for n in notes)


def test_iv_and_tidy_adapters(data):
    from replication.models import instrumental

    result = instrumental(data, Options())
    second = et.from_tidy(result.coefficients, result.stats, "second_stage", "Dist")
    row = result.coefficients.set_index(["column", "term"]).loc[("second_stage", "Dig")]
    assert second.row("Dig")["estimate"] == row.estimate and second.df == 257 - 1
    assert second.fixed_effects == {"city_code": 257, "year": 9}  # the levels models.collect writes (2013-2021)
    markdown = to_markdown(et.etable([second]))
    assert cells(markdown, "City fixed effects") == ["Yes (257)"] and cells(markdown, "Year fixed effects") == ["Yes (9)"]
    assert np.isfinite(second.stats["nobs"])


def test_side_by_side_heads_are_the_options_that_differ(data):
    from replication.models import collect, fit
    from replication.registry import REGISTRY

    runs = {}
    for name, options in (("a", Options()), ("b", Options(cov_type="cluster_province")),
                          ("c", Options(cov_type="driscoll_kraay"))):
        result = collect({"(4)": fit(data, "Dist", STEPS["(4)"], options)})
        runs[name] = (result.coefficients, result.stats, options.of_step("panel", "index", "model"))
    table = et.side_by_side(runs, REGISTRY["table5"], "(4)", Options(parentheses="se"))
    markdown = to_markdown(table)
    assert table.header[1:] == ("cov_type=cluster_city", "cov_type=cluster_province", "cov_type=driscoll_kraay")
    assert cells(markdown, "Standard errors") == ["cluster (city)", "cluster (province)", "Driscoll-Kraay (2)"]
    assert cells(markdown, "Clusters") == ["257", "25", ""]
    for j, name in enumerate(runs):
        se = runs[name][0].set_index("term").loc["Dig", "std_error"]
        lines = markdown.splitlines()
        under = [lines[i + 1] for i, line in enumerate(lines) if line.startswith(f"| {LABELS['Dig']}")][0]
        assert under.strip("|").split("|")[j + 1].strip() == f"({shown(se)})"  # each run's own error
    assert "from 3 runs: (1) a; (2) b; (3) c" in markdown and "from 3 runs: (1) a; (2) b; (3) c" in to_latex(table)
    with pytest.raises(ValueError, match=r"Table 5: no column '\(9\)'; expected one of \(1\), \(2\), \(3\), \(4\)"):
        et.side_by_side(runs, REGISTRY["table5"], "(9)", Options())
    same = {k: (c, s, Options().of_step("model")) for k, (c, s, _) in runs.items()}
    assert et.side_by_side(same, REGISTRY["table5"], "(4)", Options()).header[1:] == ("(1)", "(2)", "(3)")


def test_tidy_level_counts_give_the_fitted_adjusted_r2(data, models):
    """With the stats fe_levels_<effect> (what models.collect writes once fits record their levels), a
    column of the tidy CSVs gives the same level rows and adjusted R² as the fitted model."""
    from replication.models import collect, fit

    result = collect({"(2)": fit(data, "Dist", STEPS["(2)"], Options())})
    levels = pd.DataFrame([("(2)", "fe_levels_city_code", 257), ("(2)", "fe_levels_year", 11)],
                          columns=["column", "stat", "value"])
    model = et.from_tidy(result.coefficients, pd.concat([result.stats, levels]), "(2)", "Dist")
    assert model.fixed_effects == {"city_code": 257, "year": 11}
    assert model.stats["adj_r2_within"] == pytest.approx(models["(2)"].stats["adj_r2_within"], abs=1e-12)
    assert model.stats["adj_r2"] == pytest.approx(models["(2)"].stats["adj_r2"], abs=1e-12)


def test_side_by_side_refuses_bad_input_by_name(tmp_path, capsys):
    """Each bad input of the side-by-side command: one line naming the argument and what was expected,
    exit 2, and no file written."""
    from replication.__main__ import main

    run = tmp_path / "run"
    assert main(["models", "--out", str(run)]) == 0
    twin = tmp_path / "twin"
    twin.symlink_to(run)
    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    target = tmp_path / "side.pdf"
    cases = [
        (["--runs", str(run), str(twin), "--table", "3", "--column", "(1)"],
         "--table 3: expected one of 5, 6, 7, 8, 9 (the regression tables)"),
        (["--runs", str(run), "--table", "5", "--column", "(4)"], "--runs: give two or more output directories"),
        (["--runs", str(run), str(empty), "--table", "5", "--column", "(4)"],
         f"{empty / 'models.manifest.json'}: not found; run `make models OUT={empty}` first"),
        (["--runs", str(run), str(twin), "--table", "5", "--column", "(4)", "--to", str(target)],
         f"--to {target}: expected a file ending in .md, .tex, .html, .docx"),
    ]
    for arguments, message in cases:
        assert main(["side-by-side", *arguments]) == 2, arguments
        assert capsys.readouterr().err == f"error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "run", "twin"] and not any(empty.iterdir())
