"""The rendered tables: cells, rows and notes in Markdown, LaTeX and HTML, and the LaTeX compiled.

Most tests lay out synthetic tidy frames (the statistics other steps add, such as r2_overall,
mean_dep, n_singletons and wild_p_city, included), so they do not depend on the models; the
compile test renders the real tables of `python -m replication all`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pandas as pd
import pytest

from replication.config import Options
from replication.registry import LABELS, REGISTRY, TIDY, parse_wild
from replication.render import (
    MINUS, grid, to_html, to_latex, to_markdown, to_tabular,
)

# Table 5 with made-up numbers: Dig in (1) negative with p = 0.003 (*** under econ, ** under paper)
COEFFICIENTS = pd.DataFrame([
    ("(1)", "Dig", -0.57841, 0.21234, -2.7240, 0.0030),
    ("(1)", "_cons", 0.26701, 0.09238, 2.8904, 0.0650),
    ("(2)", "Dig", 0.30860, 0.32145, 0.9600, 0.3379),
    ("(2)", "Ur", -0.60720, 0.19650, -3.0901, 0.0022),
    ("(2)", "_cons", 0.45940, 0.13879, 3.3100, 0.0011),
], columns=["column", "term", "estimate", "std_error", "t_stat", "p_value"])
NEW_STATS = [("nobs", 2838, 2700), ("nclusters", 258, 25), ("r2_within", 0.0023, 0.0101),
             ("r2_overall", 0.5312, 0.5401), ("mean_dep", 0.31415, 0.27183), ("n_singletons", 0, 3),
             ("n_dropped_missing", 12, 0), ("wild_Dig_city_p", 0.0412, 0.3333), ("wild_Dig_city_ci_low", -0.9, -0.2),
             ("wild_Dig_city_ci_high", -0.05, 0.8), ("wild_Dig_city_G", 258, 25), ("wild_Dig_city_draws", 9999, 9999),
             ("wild_Dig_city_p_et", 0.0555, 0.3), ("wild_p_province", 0.121, 0.456)]  # both shapes of name
STATS = pd.DataFrame([(c, s, v) for s, a, b in NEW_STATS for c, v in (("(1)", a), ("(2)", b))],
                     columns=["column", "stat", "value"])


def table5(options: Options = Options(), stats: pd.DataFrame = STATS):
    return grid(REGISTRY["table5"], {"table5": COEFFICIENTS, "table5_stats": stats}, None, options)


def md_row(markdown: str, label: str) -> list[str]:
    """The cells of the Markdown row whose label is `label` (padding stripped)."""
    for line in markdown.splitlines():
        cells = [c.strip().strip("\u00a0") for c in line.strip("|").split("|")]
        if cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no row {label!r} in\n{markdown}")


def test_markdown_cells_carry_the_true_minus_stars_and_t():
    markdown = to_markdown(table5())
    assert md_row(markdown, LABELS["Dig"])[:2] == [f"{MINUS}0.5784***", "0.3086"]
    assert f"({MINUS}2.72)" in markdown and "-0.5784" not in markdown
    assert md_row(markdown, LABELS["Ur"]) == ["", f"{MINUS}0.6072***", "", ""]
    assert "Stars: * p<0.1, ** p<0.05, *** p<0.01" in markdown
    assert "t statistics in parentheses" in markdown


def test_markdown_columns_line_up_for_a_terminal():
    lines = [line for line in to_markdown(table5()).splitlines() if line.startswith("|")]
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header
    dig, t = [line for line in lines if line.startswith(f"| {LABELS['Dig']}")][0], lines[lines.index(
        [line for line in lines if line.startswith(f"| {LABELS['Dig']}")][0]) + 1]
    assert dig.index(".5784") == t.index(".72)")  # decimal points aligned within the column


def test_new_statistics_rows_and_their_definitions():
    markdown = to_markdown(table5())
    assert md_row(markdown, "Standard errors") == ["cluster (city)"] * 4
    assert md_row(markdown, "Clusters")[:2] == ["258", "25"]
    assert md_row(markdown, "N")[:2] == ["2838", "2700"]
    assert md_row(markdown, "Within R²")[:2] == ["0.0023", "0.0101"]
    assert md_row(markdown, "Overall R²")[:2] == ["0.5312", "0.5401"]
    assert md_row(markdown, "Mean of dependent variable")[:2] == ["0.314", "0.272"]
    assert md_row(markdown, "Singleton observations dropped")[:2] == ["0", "3"]
    assert md_row(markdown, "Observations dropped (missing values)")[:2] == ["12", "0"]
    assert md_row(markdown, "Coefficient tested") == ["Dig", "Dig", "", ""]
    assert md_row(markdown, "p (city clusters)")[:2] == ["0.041", "0.333"]
    assert md_row(markdown, "95% CI, low")[:2] == [f"{MINUS}0.900", f"{MINUS}0.200"]
    assert md_row(markdown, "p (province clusters)")[:2] == ["0.121", "0.456"]
    assert "0.056" not in markdown  # the equal-tailed p stays in the CSV
    order = [markdown.index(f"| {label}") for label in ("Standard errors", "Clusters", "N ", "Within R²",
                                                          "Overall R²", "Coefficient tested",
                                                          "p (city clusters)", "\u00a0\u00a095% CI, low",
                                                          "p (province clusters)")]
    assert order == sorted(order)
    assert "reghdfe's 'Within R-sq.'" in markdown and "reghdfe's 'R-squared'" in markdown
    assert "wild cluster restricted bootstrap (WCR)" in markdown and "(9999 draws)" in markdown
    assert "are in table5_stats.csv." in markdown


def test_wild_statistics_are_parsed_by_term_level_and_kind():
    assert parse_wild("wild_Dig_entropy_province_ci_low") == ("Dig_entropy", "province", "ci_low")
    assert parse_wild("wild_Isu_city_p_et") == ("Isu", "city", "p_et")
    assert parse_wild("wild_p_city") == ("", "city", "p")
    assert parse_wild("nobs") is None and parse_wild("wild_draws") is None
    # Table 8: one row per statistic, the coefficient of each column named above it
    stats = pd.DataFrame([("(1)", "wild_Dig_city_p", 0.2), ("(2)", "wild_Dig_entropy_city_p", 0.3),
                          ("(1)", "wild_Dig_city_draws", 9999), ("(2)", "wild_Dig_entropy_city_draws", 1024),
                          ("(1)", "nobs", 2838), ("(2)", "nobs", 2838)], columns=["column", "stat", "value"])
    coefficients = pd.DataFrame([("(1)", "Dig", 0.1, 0.1, 1.0, 0.3), ("(2)", "Dig_entropy", 0.1, 0.1, 1.0, 0.3)],
                                columns=COEFFICIENTS.columns)
    markdown = to_markdown(grid(REGISTRY["table8"], {"table8": coefficients, "table8_stats": stats}, None, Options()))
    assert md_row(markdown, "Coefficient tested") == ["Dig", "Dig_entropy"]
    assert md_row(markdown, "p (city clusters)") == ["0.200", "0.300"]
    assert "(9999 draws; 1024 where all 2^G sign vectors were enumerated)" in markdown


def test_rows_only_for_the_statistics_present():
    old = STATS[STATS["stat"].isin(["nobs", "r2_within", "nclusters"])]
    markdown = to_markdown(table5(stats=old))
    assert "Overall R²" not in markdown and "Wild" not in markdown and "Mean of dependent" not in markdown
    assert "reghdfe's 'R-squared'" not in markdown  # no definition of a statistic that is not shown
    assert "dropped" not in markdown
    zeros = pd.concat([old, pd.DataFrame([(c, s, 0) for c in ("(1)", "(2)") for s in ("n_singletons", "n_dropped_missing")],
                                         columns=old.columns)])
    markdown = to_markdown(table5(stats=zeros))  # all zero: one sentence, no rows of zeros
    assert "| Singleton" not in markdown and "| Observations dropped" not in markdown
    assert "No observation was dropped as a singleton or for a missing value." in markdown
    robust = to_markdown(table5(Options(cov_type="robust"), old[old["stat"] != "nclusters"]))
    assert md_row(robust, "Standard errors") == ["robust (HC1)"] * 4 and "| Clusters" not in robust


def test_table7_shows_the_dummies_r2_once():
    coefficients = pd.DataFrame([("first_stage", "L2.Dig", 0.17, 0.04, 3.84, 0.0002),
                                 ("second_stage", "Dig", 0.63, 1.3, 0.48, 0.63)], columns=COEFFICIENTS.columns)
    rows = [(c, s, v) for c in ("first_stage", "second_stage") for s, v in (("nobs", 2322), ("r2_within", 0.06))]
    same = pd.DataFrame(rows + [("first_stage", "r2_overall", 0.9378), ("second_stage", "r2_overall", 0.2951),
                                ("first_stage", "r2_lsdv", 0.9378), ("second_stage", "r2_lsdv", 0.2951)],
                        columns=["column", "stat", "value"])
    frames = {"table7": coefficients, "table7_stats": same}
    markdown = to_markdown(grid(REGISTRY["table7"], frames, None, Options()))
    assert md_row(markdown, "Overall R²") == ["0.9378", "0.2951"] and "| R² with city and year dummies" not in markdown
    differ = same.assign(value=same["value"].where(same["stat"] != "r2_lsdv", 0.5))
    markdown = to_markdown(grid(REGISTRY["table7"], {**frames, "table7_stats": differ}, None, Options()))
    assert md_row(markdown, "R² with city and year dummies") == ["0.5000", "0.5000"]
    assert "0.83-0.86" in markdown  # the note says which R² the paper's numbers suggest


def test_province_clusters_are_not_called_cities():
    options = Options(cov_type="cluster_province")
    stats = STATS.copy()
    stats.loc[stats["stat"] == "nclusters", "value"] = 25
    rendered = table5(options, stats)
    markdown, latex, page = to_markdown(rendered), to_latex(rendered), to_html(rendered)
    assert md_row(markdown, "Standard errors") == ["cluster (province)"] * 4
    assert md_row(markdown, "Clusters")[:2] == ["25", "25"]
    for text in (markdown, latex, page):
        assert "25 cities" not in text and "cities)" not in text
    assert "clustered by province" in markdown and "cov_type=cluster_province" in markdown


def test_table6_gives_the_clusters_of_every_column():
    columns = ["All", "East", "Central", "West"]
    coefficients = pd.DataFrame([(c, "Dig", 0.1, 0.1, 1.0, 0.3) for c in columns],
                                columns=COEFFICIENTS.columns)
    stats = pd.DataFrame([(c, "nclusters", n) for c, n in zip(columns, (258, 85, 93, 80))]
                         + [(c, "nobs", n) for c, n in zip(columns, (2838, 935, 1023, 880))]
                         + [("tests", "diff_East_Central", -0.687), ("tests", "interact_p_East_Central", 0.112),
                            ("tests", "permutation_draws", 1000.0), ("tests", "wild_p_city", 0.25)],
                         columns=["column", "stat", "value"])
    rendered = grid(REGISTRY["table6"], {"table6": coefficients, "table6_stats": stats}, None, Options())
    markdown = to_markdown(rendered)
    assert md_row(markdown, "Clusters") == ["258", "85", "93", "80"]
    assert md_row(markdown, "p, interacted model") == ["0.112", "", "", ""]
    assert md_row(markdown, "wild_p_city (tests)")[0] == "0.250"  # a wild statistic off the columns, as named
    assert "(1000 draws, seeded)" in markdown  # the draws models used, not 1000.0
    # the sub-row keeps its indent: non-breaking spaces, \hspace, great-tables' stub indent
    assert "| \u00a0\u00a0p, interacted model" in markdown
    assert r"\hspace{1em}p, interacted model &" in to_latex(rendered)
    assert re.search(r'class="[^"]*gt_indent_1[^"]*">p, interacted model</th>', to_html(rendered))


def test_parentheses_option_shows_standard_errors():
    markdown = to_markdown(table5(Options(parentheses="se")))
    assert "(0.2123)" in markdown and f"({MINUS}2.72)" not in markdown
    assert markdown.count("Standard errors in parentheses") == 1 and "t statistics in parentheses" not in markdown
    assert "parentheses=se" in markdown  # recorded among the non-default options
    with pytest.raises(ValueError, match="option parentheses: expected one of t, se, p, ci, got 'z'"):
        Options(parentheses="z")


def test_stars_follow_the_threshold_option():
    markdown = to_markdown(table5(Options(stars="paper")))
    assert md_row(markdown, LABELS["Dig"])[0] == f"{MINUS}0.5784**"
    assert "Stars: * p<0.05, ** p<0.01, *** p<0.001 (the paper's thresholds)." in markdown


def test_latex_fragments_superscript_stars_caption_and_label():
    rendered = table5()
    tabular, table = to_tabular(rendered), to_latex(rendered)
    assert "\\documentclass" not in tabular + table and "\\begin{table}" not in tabular
    # a stub that wraps its long labels, then dcolumn's D columns
    assert tabular.count("\\begin{tabular}{@{}lD{.}{.}") == 1
    assert "\\toprule" in tabular
    assert "\\renewcommand{\\thetable}{5}\n\\begin{threeparttable}" in table  # prints as Table 5
    assert "\\begin{tablenotes}[flushleft]" in table and "All notes: table5\\_notes.tex and table5.md." in table
    assert "& -0.5784^{***} & 0.3086 &" in tabular  # math mode in a D column: a true minus, superscript stars
    assert "(-2.72) & (0.96)" in tabular
    assert "\\multicolumn{1}{c}{$2838$}" in tabular  # counts centred
    assert "\\caption{Baseline regression}\n\\label{tab:table5}" in table
    assert "$^{***}$\\,$p<0.01$" in table
    assert table.count("{") == table.count("}")


def test_html_is_great_tables_with_a_fixed_id_and_superscript_stars():
    rendered = table5()
    page = to_html(rendered)
    assert page == to_html(table5())  # byte-identical on a rerun
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert ids and all(i == "table5" or i.startswith("table5-") for i in ids)
    assert 'class="gt_table"' in page
    cell = re.search(r'<span class="l" style="width:\d+ch">([^<]*)</span><span class="r" style="width:\d+ch">'
                     r'\.5784<sup>\*\*\*</sup>', page)
    assert cell and cell.group(1) == f"{MINUS}0"
    assert "<sup>***</sup> p&lt;0.01" in page
    assert "Table 5. Baseline regression" in page


def test_every_table_is_in_the_registry_once():
    assert list(REGISTRY) == ["table1", "table3", "table3_weights", "table4", "table5", "table6", "table7",
                              "table8", "table9"]
    from replication.models import TABLES

    for name in TABLES:
        assert REGISTRY[name].sources == (name, f"{name}_stats")
    assert set(TIDY) == {s for e in REGISTRY.values() for s in e.sources}


# ---------------------------------------------------------------------------- on the real tables


@pytest.fixture(scope="module")
def outputs(complete_set):
    return complete_set


def _pdflatex() -> str:
    engine = shutil.which("pdflatex")
    if engine is None:
        message = ("pdflatex not found: install texlive-latex-base and texlive-latex-recommended "
                   "(.ci/run does so with apt-get)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI requires it, so that a table that does not compile fails the build")
        pytest.skip(message)
    return engine


PREAMBLE = ("\\documentclass{article}\n\\usepackage{booktabs,dcolumn,array,threeparttable,rotating,graphicx}\n"
            "\\usepackage[margin=1in]{geometry}\n")  # a portrait article page, 1-inch margins


def _compile(engine: str, directory, body: str) -> str:
    (directory / "doc.tex").write_text(PREAMBLE + f"\\begin{{document}}\n{body}\n\\end{{document}}\n",
                                       encoding="utf-8")
    result = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=directory,
                            capture_output=True, text=True, errors="replace")
    log = (directory / "doc.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!") or "Missing character" in line]
    assert result.returncode == 0 and not errors, (errors, result.stdout[-2000:])
    return log


def overfull(log: str) -> list[float]:
    """The widths (pt) by which boxes are too wide, from a pdflatex log."""
    return [float(v) for v in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


def test_the_compile_check_catches_a_broken_table(tmp_path):
    engine = _pdflatex()
    with pytest.raises(AssertionError, match="Extra alignment tab"):  # one & too many for the columns
        _compile(engine, tmp_path, "\\begin{tabular}{lD{.}{.}{2.2}} a & 1.5 & 2.5 \\\\ \\end{tabular}")
    # a tabular wider than the text is found in the log
    log = _compile(engine, tmp_path, "\\begin{tabular}{l}" + "x" * 120 + "\\end{tabular}")
    assert overfull(log) and max(overfull(log)) > 100


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_fragment_compiles_and_fits_a_portrait_page(outputs, name, tmp_path):
    engine = _pdflatex()
    for suffix in (".tex", "_tabular.tex"):
        shutil.copy(outputs / "tables" / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    # the table environment as written: no box wider than the text by more than 1 pt, no float too large
    log = _compile(engine, tmp_path, f"\\input{{{name}.tex}}")
    assert all(width <= 1.0 for width in overfull(log)), overfull(log)
    assert "Float too large" not in log
    assert (tmp_path / "doc.pdf").is_file()
    if shutil.which("pdftotext"):  # the caption carries the paper's number (3 as 3, 3b as 3b)
        subprocess.run(["pdftotext", "-layout", "doc.pdf", "doc.txt"], cwd=tmp_path, check=True)
        text = (tmp_path / "doc.txt").read_text(encoding="utf-8")
        caption = REGISTRY[name].caption.split("_")[0]  # pdftotext reads \\_ as a space
        assert re.search(rf"Table {REGISTRY[name].number}: {re.escape(caption)}", text), text[:300]
        if name == "table5":
            tidy = pd.read_csv(outputs / "tables" / "table5.csv").set_index(["column", "term"])
            ur = tidy.loc[("(2)", "Ur")]
            assert ur.estimate < 0 and f"{MINUS}{abs(ur.estimate):.4f}" in text  # a true minus in the PDF
            assert f"({MINUS}{abs(ur.t_stat):.2f})" in text
    # the bare tabular inside a reader's own table
    _compile(engine, tmp_path, f"\\begin{{table}}\\centering\\caption{{Mine}}\\input{{{name}_tabular.tex}}\\end{{table}}")


@pytest.mark.parametrize("page", ["landscape", "resize"])
def test_the_page_options_compile(outputs, page, tmp_path):
    """latex_page=landscape (sidewaystable) and resize (\\resizebox) on the widest tables, long notes."""
    engine = _pdflatex()
    frames = {s: pd.read_csv(outputs / "tables" / f"{s}.csv") for s in ("table4", "table6", "table6_stats")}
    options = Options(latex_page=page, table_notes="long")
    data = pd.read_csv(outputs / "data" / "analysis.csv")
    for name in ("table4", "table6"):
        entry = REGISTRY[name]
        text = to_latex(grid(entry, {s: frames[s] for s in entry.sources}, data, options))
        assert ("sidewaystable" in text) == (page == "landscape") and ("resizebox" in text) == (page == "resize")
        assert "All notes:" not in text  # the long notes are the notes
        (tmp_path / f"{name}.tex").write_text(text, encoding="utf-8")
        log = _compile(engine, tmp_path, f"\\input{{{name}.tex}}")
        assert all(width <= 1.0 for width in overfull(log)), (name, overfull(log))


def test_the_document_of_all_tables_compiles(outputs, tmp_path):
    engine = _pdflatex()
    text = (outputs / "reports" / "tables.tex").read_text(encoding="utf-8")
    assert text.startswith("\\documentclass{article}") and text.endswith("\\end{document}\n")
    assert text.isascii()
    (tmp_path / "tables.tex").write_text(text, encoding="utf-8")
    result = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "tables.tex"], cwd=tmp_path,
                            capture_output=True, text=True, errors="replace")
    assert result.returncode == 0, result.stdout[-2000:]
    assert text.count("\\begin{table}") == len(REGISTRY)


def test_real_table6_shows_clusters_per_region(outputs):
    markdown = (outputs / "tables" / "table6.md").read_text(encoding="utf-8")
    stats = pd.read_csv(outputs / "tables" / "table6_stats.csv").set_index(["column", "stat"])["value"]
    assert md_row(markdown, "Clusters") == [f"{stats[(c, 'nclusters')]:.0f}" for c in ("All", "East", "Central", "West")]
    assert "cities)" not in markdown
    diff = f"{stats[('tests', 'diff_East_Central')]:.3f}".replace("-", MINUS)
    assert md_row(markdown, "Dig difference East − Central") == [diff, "", "", ""]
    table9 = (outputs / "tables" / "table9.md").read_text(encoding="utf-8")
    sobel = pd.read_csv(outputs / "tables" / "table9_stats.csv").set_index("stat")["value"]["sobel_z"]
    assert md_row(table9, "Sobel z")[0] == f"{sobel:.3f}".replace("-", MINUS)
