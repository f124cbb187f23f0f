"""Everything people read: rendered tables, the comparison with the paper, the audit, the figures.

``build`` takes the tidy tables (as written by the indices and models steps), the estimation data
and the published numbers, and returns {relative path: text or bytes}; the command line writes them.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from replication.compare import audit, comparison, scorecard
from replication.config import Options
from replication.figures import bootstrap_plot, coefficient_plot, indices_over_time
from replication.render import (
    SPECS, Grid, common_notes, frame_grid, page, regression_grid, to_html, to_latex, to_markdown,
)
from replication.tables import TABLE4

REGRESSION_TABLES = ("table5", "table6", "table7", "table8", "table9")
TIDY = ("table1", "table3", "table3_stats", "table3_weights", "table4",
        *(f"{t}{s}" for t in REGRESSION_TABLES for s in ("", "_stats")))

WHY = [
    ("Sample", "{cities} cities x 11 years = {rows} city-years instead of 282 x 11 = 3102. Cities with no "
     "non-urban area in some year (Beijing, Shanghai, Shenzhen, ...) leave, because the methods (docs/METHODS.md) make Dist "
     "undefined for them; so do cities created or abolished during 2011-2021 and cities whose public "
     "yearbook series have gaps no fill rule covers (data/processed/manifest.json lists every city and reason)."),
    ("Urbanisation", "The yearbook has no urban population share for most years: Ur is the district share "
     "of registered population (mean {ur_mean:.2f} against the paper's 0.55), so its coefficient is not comparable."),
    ("Dist indicators", "The default uses the four indicators the yearbook splits by area; mobile and "
     "broadband users exist for the whole city only after 2011 (Table 1 shows the six-indicator option)."),
    ("Outliers", "Indicators are winsorised at 1%/99% before standardisation (option winsorize); the "
     "yearbook's non-urban figures are noisy where the non-urban area is small, and Dist = (R - 1)^2 still "
     "has a long right tail (maximum {dist_max:.1f} against the paper's 1.34)."),
    ("Series breaks", "Hospitals: from data year 2017 hospitals only; employment by sector is not printed "
     "for 2020-2021 (the ICT and tertiary employment shares are carried forward from 2019); primary "
     "enrolment is printed in whole 10,000s from 2016; telecom data are missing for 2020 (interpolated)."),
    ("Inference", "The paper does not say how its standard errors were computed; this replication "
     "clusters by city with Stata's convention. Table 7's R² are reported both within and with the "
     "effects counted as regressors."),
]


def build(published: pd.DataFrame, claims: pd.DataFrame, tables: dict[str, pd.DataFrame],
          data: pd.DataFrame, options: Options, draws: dict[str, np.ndarray]) -> dict[str, str | bytes]:
    """`draws` are the resampling draws the models step wrote (bootstrap_ab: Table 9's a*b)."""
    out: dict[str, str | bytes] = {}
    grids = table_grids(tables, data, options)
    for name, grid in grids.items():
        out[f"tables/{name}.md"] = to_markdown(grid)
        out[f"tables/{name}.tex"] = to_latex(grid)
        out[f"tables/{name}.html"] = to_html(grid)
    out["reports/tables.md"] = "\n".join(to_markdown(g) for g in grids.values())
    out["reports/tables.html"] = page("Tables", "\n".join(to_html(g, standalone=False) for g in grids.values()))
    compared = comparison(published, tables)
    out["reports/comparison.md"], out["reports/comparison.html"] = comparison_report(compared, data)
    out["reports/comparison.csv"] = compared.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    checks = audit(published, claims)
    out["reports/audit.md"], out["reports/audit.html"] = audit_report(checks)
    out["reports/audit.csv"] = checks.to_csv(index=False, lineterminator="\n")
    mediation = tables["table9_stats"].set_index("stat")["value"]
    for name, files in (
        ("dig_coefficients", coefficient_plot(published, tables)),
        ("indices_by_region", indices_over_time(data)),
        ("bootstrap_indirect", bootstrap_plot(draws["bootstrap_ab"], mediation["ab"], mediation["sobel_z"])),
    ):
        for kind, content in files.items():
            out[f"figures/{name}.{kind}"] = content
    return out


def table_grids(tables: dict[str, pd.DataFrame], data: pd.DataFrame, options: Options) -> dict[str, Grid]:
    sample = f"Sample: {len(data)} city-years ({data['city_code'].nunique()} cities), 2011-2021."
    stats3 = tables["table3_stats"].set_index("stat")["value"]
    grids = {
        "table1": frame_grid(
            "Table 1. Entropy weights of the public-service indicators (Dist)", tables["table1"],
            {"label": "Indicator", "weight": "Weight (used)", "weight_six": "Six-indicator option",
             "weight_paper": "Paper"}, {},
            [sample, "Pooled entropy weights over district and non-urban rows (METHODS section 3); indicators "
             "winsorised at " + f"{options.winsorize:g}/{1 - options.winsorize:g}" + " before min-max scaling. "
             "Mobile and broadband users exist for the whole city only and are used only in the six-indicator "
             "option, where both areas take the whole-city rate."]),
        "table3": frame_grid(
            "Table 3. Principal components of the digital-technology indicators (Dig)", tables["table3"],
            {"component": "Component", "eigenvalue": "Eigenvalue", "variance_share": "Share",
             "cumulative_share": "Cumulative", "kept": "Kept", "eigenvalue_paper": "Paper eigenvalue",
             "cumulative_share_paper": "Paper cumulative"}, {},
            [sample, f"KMO = {stats3['kmo']:.3f} (paper 0.773); Bartlett chi2({stats3['bartlett_df']:.0f}) = "
             f"{stats3['bartlett_chi2']:.1f}, p = {stats3['bartlett_p']:.3g}. Components kept up to "
             f"{options.pca_variance_target:.0%} cumulative variance."]),
        "table3_weights": frame_grid(
            "Table 3b. Indicator weights of Dig (PCA) and Dig_entropy", tables["table3_weights"],
            {"label": "Indicator", "weight_pca": "PCA weight", "weight_entropy": "Entropy weight",
             "kmo_item": "KMO (item)"}, {}, [sample]),
        "table4": frame_grid(
            "Table 4. Descriptive statistics", tables["table4"],
            {"label": "Variable", "mean": "Mean", "sd": "SD", "min": "Min", "max": "Max", "n": "N",
             "mean_paper": "Paper mean", "sd_paper": "Paper SD", "min_paper": "Paper min", "max_paper": "Paper max"},
            {"n": "{:.0f}"}, [sample, "The paper's 'financial pressure' is defined nowhere and used in no model; "
                              "it is not constructed."]),
    }
    for name in REGRESSION_TABLES:
        grids[name] = regression_grid(SPECS[name], tables[name], tables[f"{name}_stats"], options)
    return grids


def _md_table(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    formats = formats or {}
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for _, row in frame.iterrows():
        cells = []
        for column in frame.columns:
            value = row[column]
            if isinstance(value, (float, np.floating)):
                cells.append("" if not np.isfinite(value) else formats.get(column, "{:.4g}").format(value))
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    formats = formats or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for column in frame.columns:
            value = row[column]
            if isinstance(value, (float, np.floating)):
                text = "" if not np.isfinite(value) else formats.get(column, "{:.4g}").format(value)
                cells.append(f"<td class=\"num\">{text}</td>")
            else:
                css = f" class=\"{value}\"" if value in ("consistent", "inconsistent") else ""
                cells.append(f"<td{css}>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def _yes(value) -> str:
    return "" if pd.isna(value) else ("yes" if value else "no")


def comparison_report(compared: pd.DataFrame, data: pd.DataFrame) -> tuple[str, str]:
    card = scorecard(compared)
    facts = {"cities": data["city_code"].nunique(), "rows": len(data), "ur_mean": data["Ur"].mean(),
             "dist_max": data["Dist"].max()}
    view = compared.assign(same_sign=compared["same_sign"].map(_yes),
                           same_significance_5=compared["same_significance_5"].map(_yes))
    columns = ["column", "row", "stat", "paper", "replication", "difference", "same_sign", "same_significance_5", "note"]
    overall = card[card["table"] == "All"].iloc[0]
    intro = [
        "Every number the paper prints for Tables 1 and 3-9, beside this replication's. Difference = "
        "replication - paper. For coefficients, 'same significance' compares p < 0.05: the paper's p from its "
        "printed t with t(G-1) (G = 282 cities, or the region's), the replication's from its clustered "
        "standard errors. Compare through t and p, never stars: the paper's star thresholds are mixed.",
        f"Scorecard: {int(overall['coefficients'])} coefficients compared; {int(overall['same_sign'])} have the "
        f"paper's sign and {int(overall['same_significance_5'])} the paper's significance at 5%.",
    ]
    summaries = {}
    for table, part in compared.groupby("table"):
        row = card[card["table"] == table].iloc[0]
        text = (f"{int(row['compared'])} of {int(row['numbers'])} numbers compared; median |difference| / |paper| = "
                f"{row['median_relative_difference']:.2f}.")
        if row["coefficients"]:
            text += (f" Coefficients: {int(row['same_sign'])} of {int(row['coefficients'])} same sign, "
                     f"{int(row['same_significance_5'])} same significance at 5%.")
        dig = part[(part["stat"] == "estimate") & part["row"].isin(["Dig", "Dig_entropy", "L2.Dig", "Isu"])]
        if len(dig):
            text += " " + "; ".join(
                f"{r.column} {r.row}: paper {r.paper:g}, replication {r.replication:.4f}" for r in dig.itertuples())
            text += "."
        summaries[table] = text
    md = ["# Comparison with the published tables", "", *[p + "\n" for p in intro], "## Scorecard", "",
          _md_table(card, {"median_relative_difference": "{:.2f}"}), "", "## Why the numbers differ", ""]
    md += [f"- **{k}.** {v.format(**facts)}" for k, v in WHY]
    for table, part in compared.groupby("table"):
        md += ["", f"## {table}", "", summaries[table], "", _md_table(view.loc[part.index, columns])]
    body = ["<h1>Comparison with the published tables</h1>", *[f"<p>{html.escape(p)}</p>" for p in intro],
            "<h2>Scorecard</h2>", _html_table(card, {"median_relative_difference": "{:.2f}"}),
            "<h2>Why the numbers differ</h2><ul>",
            *[f"<li><b>{html.escape(k)}.</b> {html.escape(v.format(**facts))}</li>" for k, v in WHY], "</ul>"]
    for table, part in compared.groupby("table"):
        body += [f"<h2>{table}</h2>", f"<p>{html.escape(summaries[table])}</p>", _html_table(view.loc[part.index, columns])]
    return "\n".join(md) + "\n", page("Comparison with the published tables", "\n".join(body) + "\n")


def audit_report(checks: pd.DataFrame) -> tuple[str, str]:
    bad = checks[checks["result"] == "inconsistent"]
    intro = [
        "The paper checked against itself, using only its published numbers and sentences "
        "(data/reference/). p-values from printed t use t(G-1) with G the paper's number of cities in "
        "that column (282; East 96, Central 100, West 86), i.e. assume city clustering; no data are used.",
        f"{len(checks)} checks: {len(checks) - len(bad)} consistent, {len(bad)} inconsistent.",
    ]
    findings = [f"{r.table} {r.cell}: {r.computation}" for r in bad.itertuples()]
    md = ["# Audit of the published numbers", "", *[p + "\n" for p in intro], "## Inconsistencies", ""]
    md += [f"- {f}" for f in findings] or ["None."]
    md += ["", "## All checks", "", _md_table(checks)]
    body = ["<h1>Audit of the published numbers</h1>", *[f"<p>{html.escape(p)}</p>" for p in intro],
            "<h2>Inconsistencies</h2><ul>", *[f"<li>{html.escape(f)}</li>" for f in findings], "</ul>",
            "<h2>All checks</h2>", _html_table(checks)]
    return "\n".join(md) + "\n", page("Audit of the published numbers", "\n".join(body) + "\n")


__all__ = ["TIDY", "build", "common_notes"]
