"""Tables in the paper's layout, rendered from the tidy CSVs to Markdown, LaTeX (booktabs) and HTML.

A table is first laid out as a ``Grid`` (title, header, body rows, notes) from a
``TableSpec`` (plain data); the three formats only serialise the grid.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from replication.config import STAR_THRESHOLDS, Options

TERM_LABELS = {
    "Dig": "Digital technology (Dig)",
    "Dig_entropy": "Digital technology, entropy weights",
    "L2.Dig": "Dig, second lag (instrument)",
    "Isu": "Industrial structure upgrading (Isu)",
    "Ur": "Urbanisation (Ur, proxy)",
    "Stru": "Employment structure (Stru)",
    "lnexpense": "Local fiscal expenditure (ln)",
    "lnper_gdp": "GDP per capita (ln)",
    "_cons": "Constant",
}


@dataclass(frozen=True)
class TableSpec:
    """A regression table of the paper: which columns, which rows, what the notes must say."""

    name: str
    title: str
    columns: list[tuple[str, str]]  # (column key in the CSV, header)
    terms: list[str]
    dependent: list[str]  # dependent variable of each column
    stats: list[tuple[str, str, str]] = field(default_factory=lambda: [("nobs", "N", "{:.0f}"),
                                                                      ("r2_within", "Within R²", "{:.3f}")])
    indicators: list[tuple[str, list[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: list[tuple[str, str, str, str]] = field(default_factory=list)  # (column, stat, label, format)


YES4 = ["Yes"] * 4
SPECS = {
    "table5": TableSpec(
        "table5", "Table 5. Baseline regression", [("(1)", "(1)"), ("(2)", "(2)"), ("(3)", "(3)"), ("(4)", "(4)")],
        ["Dig", "Ur", "Stru", "lnexpense", "lnper_gdp", "_cons"], ["Dist"] * 4,
        indicators=[("Controls", ["none", "Ur", "Ur, Stru", "all four"]), ("City fixed effects", YES4),
                    ("Year fixed effects", YES4)],
    ),
    "table6": TableSpec(
        "table6", "Table 6. Heterogeneity by region",
        [("All", "All"), ("East", "East"), ("Central", "Central"), ("West", "West")],
        ["Dig", "Ur", "Stru", "lnexpense", "lnper_gdp", "_cons"], ["Dist"] * 4,
        indicators=[("Controls", YES4), ("City fixed effects", YES4), ("Year fixed effects", YES4)],
        extra=[("tests", "diff_East_Central", "Dig difference East - Central", "{:.3f}"),
               ("tests", "interact_p_East_Central", "  p, interacted model", "{:.3f}"),
               ("tests", "perm_p_East_Central", "  p, permutation", "{:.3f}"),
               ("tests", "diff_East_West", "Dig difference East - West", "{:.3f}"),
               ("tests", "interact_p_East_West", "  p, interacted model", "{:.3f}"),
               ("tests", "perm_p_East_West", "  p, permutation", "{:.3f}"),
               ("tests", "diff_Central_West", "Dig difference Central - West", "{:.3f}"),
               ("tests", "interact_p_Central_West", "  p, interacted model", "{:.3f}"),
               ("tests", "perm_p_Central_West", "  p, permutation", "{:.3f}")],
        notes=["Differences: fully interacted model (region-specific slopes and year effects, equal to the "
               "separate regressions) with city-clustered errors, F(1, G-1); and a permutation test "
               "reassigning region labels across the cities of the two regions (seeded)."],
    ),
    "table7": TableSpec(
        "table7", "Table 7. Instrumental variable (2SLS)",
        [("first_stage", "First stage"), ("second_stage", "Second stage")],
        ["L2.Dig", "Dig", "Ur", "Stru", "lnexpense", "lnper_gdp", "_cons"], ["Dig", "Dist"],
        stats=[("nobs", "N", "{:.0f}"), ("r2_within", "Within R²", "{:.3f}"),
               ("r2_lsdv", "R² with city and year dummies", "{:.3f}")],
        indicators=[("Controls", ["Yes", "Yes"]), ("City and year fixed effects", ["Yes", "Yes"])],
        extra=[("first_stage", "first_stage_F_kp", "First-stage F, cluster-robust (KP rk Wald F)", "{:.2f}"),
               ("first_stage", "cd_F", "Cragg-Donald F", "{:.2f}"),
               ("first_stage", "stock_yogo_10", "Stock-Yogo 10% maximal IV size", "{:.2f}"),
               ("first_stage", "underid_kp_lm", "Underidentification, KP rk LM", "{:.2f}"),
               ("first_stage", "underid_kp_lm_p", "  p", "{:.3f}"),
               ("first_stage", "ar_F", "Anderson-Rubin F (H0: Dig = 0)", "{:.2f}"),
               ("first_stage", "ar_F_p", "  p", "{:.3f}"),
               ("first_stage", "endog_F", "Endogeneity (control function) F", "{:.2f}"),
               ("first_stage", "endog_F_p", "  p", "{:.3f}")],
        notes=["City and year effects are partialled out (within transformation); 'Within R²' is the "
               "R² of that regression, 'R² with dummies' counts the effects as regressors (as the paper's "
               "0.83-0.86 suggests). Sample 2013-2021: the instrument is Dig two years earlier. The "
               "KP rk Wald F is reported as the cluster-robust first-stage F (one instrument, one "
               "endogenous regressor); ivreg2 scales it by a slightly different finite-sample factor."],
    ),
    "table8": TableSpec(
        "table8", "Table 8. Robustness: entropy-weighted Dig", [("(1)", "PCA Dig"), ("(2)", "Entropy Dig")],
        ["Dig", "Dig_entropy", "Ur", "Stru", "lnexpense", "lnper_gdp", "_cons"], ["Dist", "Dist"],
        indicators=[("Controls", ["Yes", "Yes"]), ("City fixed effects", ["Yes", "Yes"]),
                    ("Year fixed effects", ["Yes", "Yes"])],
    ),
    "table9": TableSpec(
        "table9", "Table 9. Mediation through industrial structure upgrading",
        [("c", "Path c"), ("a", "Path a"), ("b_cprime", "Paths b and c'")],
        ["Dig", "Isu", "Ur", "Stru", "lnexpense", "lnper_gdp", "_cons"], ["Dist", "Isu", "Dist"],
        indicators=[("Controls", ["Yes"] * 3), ("City fixed effects", ["Yes"] * 3),
                    ("Year fixed effects", ["Yes"] * 3)],
        extra=[("mediation", "ab", "Indirect effect a x b", "{:.4f}"),
               ("mediation", "sobel_z", "Sobel z", "{:.3f}"), ("mediation", "sobel_p", "  p", "{:.3f}"),
               ("mediation", "aroian_z", "Aroian z", "{:.3f}"), ("mediation", "goodman_z", "Goodman z", "{:.3f}"),
               ("mediation", "boot_ci_low", "Bootstrap 95% CI of a x b, low", "{:.4f}"),
               ("mediation", "boot_ci_high", "Bootstrap 95% CI of a x b, high", "{:.4f}"),
               ("mediation", "share_mediated", "Share mediated, a x b / c", "{:.3f}")],
        notes=["Sobel-type tests use the city-clustered standard errors of a and b; the bootstrap resamples "
               "cities with replacement (percentile interval, seeded)."],
    ),
}


@dataclass(frozen=True)
class Grid:
    title: str
    header: list[str]
    rows: list[list[str]]  # each row: label then one cell per column
    notes: list[str]
    rules_after: list[int] = field(default_factory=list)  # body row indexes followed by a rule


def stars(p: float, thresholds: tuple[float, float, float]) -> str:
    if not np.isfinite(p):
        return ""
    return "*" * sum(p < t for t in thresholds)


def common_notes(options: Options, nobs_note: str) -> list[str]:
    thresholds = STAR_THRESHOLDS[options.stars]
    se = {
        "cluster_city": "standard errors clustered by city with Stata's small-sample factor "
                        "G/(G-1)·(N-1)/(N-K) (K without the city effects); p-values from t(G-1)",
        "cluster_province": "standard errors clustered by province (Stata's factor); p-values from t(G-1)",
        "robust": "heteroskedasticity-robust (HC1) standard errors",
        "driscoll_kraay": f"Driscoll-Kraay standard errors (Bartlett kernel, bandwidth {options.dk_bandwidth})",
    }[options.cov_type]
    notes = [
        f"t statistics in parentheses; {se}.",
        f"* p<{thresholds[0]:g}, ** p<{thresholds[1]:g}, *** p<{thresholds[2]:g}"
        + (" (the paper's thresholds)." if options.stars == "paper" else
           " (the paper mostly uses 0.05/0.01/0.001; compare through t and p, not stars)."),
        f"{nobs_note} The constant is Stata's fixed-effects constant (ybar - xbar'b). Ur is a proxy: "
        "district population / whole-city population.",
    ]
    non_default = options.non_default()
    notes.append("Non-default options: " + (", ".join(f"{k}={v}" for k, v in non_default.items())
                                            if non_default else "none."))
    return notes


def regression_grid(spec: TableSpec, coefficients: pd.DataFrame, stats_: pd.DataFrame, options: Options) -> Grid:
    thresholds = STAR_THRESHOLDS[options.stars]
    keys = [key for key, _ in spec.columns]
    cells = coefficients.set_index(["column", "term"])
    values = stats_.set_index(["column", "stat"])["value"]
    rows: list[list[str]] = [["Dependent variable", *spec.dependent]]
    for term in spec.terms:
        if not any((key, term) in cells.index for key in keys):
            continue
        top, bottom = [TERM_LABELS.get(term, term)], [""]
        for key in keys:
            if (key, term) in cells.index:
                row = cells.loc[(key, term)]
                top.append(f"{row['estimate']:.4f}{stars(row['p_value'], thresholds)}")
                bottom.append(f"({row['t_stat']:.2f})")
            else:
                top.append("")
                bottom.append("")
        rows += [top, bottom]
    rules = [len(rows) - 1]
    for label, marks in spec.indicators:
        rows.append([label, *marks])
    for stat, label, fmt in spec.stats:
        rows.append([label, *[fmt.format(values[(k, stat)]) if (k, stat) in values.index else "" for k in keys]])
    rules.append(len(rows) - 1)
    for column, stat, label, fmt in spec.extra:
        if (column, stat) in values.index:
            rows.append([label, fmt.format(values[(column, stat)]), *[""] * (len(keys) - 1)])
    nobs = int(values[(keys[0], "nobs")])
    clusters = values.get((keys[0], "nclusters"))
    sample = f"Sample: {nobs} city-years" + (f" ({int(clusters)} cities)." if clusters is not None else ".")
    return Grid(spec.title, ["", *[h for _, h in spec.columns]], rows,
                common_notes(options, sample) + spec.notes, rules)


def frame_grid(title: str, frame: pd.DataFrame, labels: dict[str, str], formats: dict[str, str],
               notes: list[str]) -> Grid:
    """A plain table (Tables 1, 3, 4) from a tidy frame: one row per row, chosen columns."""
    rows = []
    for _, record in frame.iterrows():
        row = []
        for column in labels:
            value = record[column]
            if isinstance(value, (bool, np.bool_)):
                row.append("yes" if value else "")
            elif isinstance(value, (float, np.floating)):
                row.append("" if not np.isfinite(value) else formats.get(column, "{:.4f}").format(value))
            else:
                row.append(str(value))
        rows.append(row)
    return Grid(title, list(labels.values()), rows, notes)


# ---------------------------------------------------------------------------- serialisation


def to_markdown(grid: Grid) -> str:
    lines = [f"**{grid.title}**", "", "| " + " | ".join(grid.header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(grid.header) - 1)) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in grid.rows]
    lines += [""] + [f"{note}  " for note in grid.notes]
    return "\n".join(lines).rstrip() + "\n"


_LATEX = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "²": r"$^2$", "·": r"$\cdot$",
          "×": r"$\times$", "<": r"$<$", ">": r"$>$", "~": r"\textasciitilde{}"}


def latex_escape(text: str) -> str:
    out = text.replace("\\", r"\textbackslash{}")
    for char, replacement in _LATEX.items():
        out = out.replace(char, replacement)
    return out


def to_latex(grid: Grid, standalone: bool = True) -> str:
    width = len(grid.header)
    body = [r"\begin{tabular}{l" + "c" * (width - 1) + "}", r"\toprule",
            " & ".join(latex_escape(h) for h in grid.header) + r" \\", r"\midrule"]
    for i, row in enumerate(grid.rows):
        body.append(" & ".join(latex_escape(c) for c in row) + r" \\")
        if i in grid.rules_after and i != len(grid.rows) - 1:
            body.append(r"\midrule")
    body += [r"\bottomrule", r"\end{tabular}"]
    notes = [r"\begin{minipage}{\linewidth}\footnotesize"] + [latex_escape(n) + r"\par" for n in grid.notes] + \
            [r"\end{minipage}"]
    table = [r"\begin{table}[htbp]", r"\centering", r"\caption{" + latex_escape(grid.title) + "}", *body,
             *notes, r"\end{table}"]
    if not standalone:
        return "\n".join(table) + "\n"
    return "\n".join([r"\documentclass{article}", r"\usepackage{booktabs}", r"\usepackage[margin=2cm]{geometry}",
                      r"\begin{document}", *table, r"\end{document}"]) + "\n"


def to_html(grid: Grid, standalone: bool = True) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in grid.header)
    rows = []
    for i, row in enumerate(grid.rows):
        css = ' class="rule"' if i in grid.rules_after else ""
        rows.append(f"<tr{css}><td>{html.escape(row[0])}</td>" +
                    "".join(f"<td class=\"num\">{html.escape(c)}</td>" for c in row[1:]) + "</tr>")
    notes = "".join(f"<p class=\"note\">{html.escape(n)}</p>" for n in grid.notes)
    table = (f"<table>\n<caption>{html.escape(grid.title)}</caption>\n<thead><tr>{head}</tr></thead>\n"
             f"<tbody>\n" + "\n".join(rows) + f"\n</tbody>\n</table>\n{notes}\n")
    if not standalone:
        return table
    return page(grid.title, table)


STYLE = """body{font-family:Georgia,serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums}
caption{font-weight:bold;text-align:left;padding-bottom:.5em}
thead th{border-top:2px solid #222;border-bottom:1px solid #222;padding:.3em .8em}
tbody tr:last-child td{border-bottom:2px solid #222}
tr.rule td{border-bottom:1px solid #999}
td{padding:.15em .8em}td.num{text-align:right;white-space:nowrap}
p.note{font-size:.85em;margin:.2em 0}
.inconsistent{color:#a00;font-weight:bold}.consistent{color:#070}"""


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")
