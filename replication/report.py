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
from replication.influence import robustness_tables
from replication.multiverse import mechanism_section
from replication.registry import REGISTRY, TIDY
from replication.render import Grid, grid, latex_document, page, table_files, to_html, to_markdown
from replication.published import cell

WHY = [
    ("Sample", "{cities} cities x 11 years = {rows} city-years instead of 282 x 11 = 3102. Cities with no "
     "non-urban area in some year (Beijing, Shanghai, Shenzhen, ...) leave, because the methods (docs/METHODS.md) make Dist "
     "undefined for them; so do cities created or abolished during 2011-2021 and cities whose public "
     "yearbook series have gaps no fill rule covers (data/processed/manifest.json lists every city and reason), "
     "and city-years whose non-urban area holds less than option min_nonurban_share of the registered "
     "population (Shantou, 1.4%: data/processed/CODEBOOK.md)."),
    ("Urbanisation", "The yearbook has no urban population share for most years: Ur is the district share "
     "of registered population (mean {ur_mean:.2f} against the paper's 0.55), so its coefficient is not comparable."),
    ("Dist indicators", "The default uses the four indicators the yearbook splits by area; mobile and "
     "broadband users exist for the whole city only after 2011 (Table 1 shows the six-indicator option)."),
    ("Outliers", "Built as printed, Dist = (R - 1)^2 has a long right tail (maximum {dist_max_printed:.1f} "
     "against the paper's 1.34), and a handful of city-years carry most of its variance. The cause is district-side misprints "
     "of the yearbook (a count a fraction of its own neighbouring years, or a block copied from the year "
     "before: Qinzhou 2011, Shijiazhuang 2015-2016, Yuncheng 2017, Longnan 2011) in cities where 60-87% of "
     "the registered population lives outside the districts (data/processed/anomalies.csv, the table below); "
     "the pooled 1%/99% winsorising of the "
     "indicators (option winsorize) cannot reach them because the non-urban rows fill the bottom quantiles. "
     "Only Shantou's high values come from a small non-urban area (1.4% of its population; option "
     "min_nonurban_share leaves it out). The panel's anomaly screen (data/processed/anomalies.csv, option "
     "anomaly_rule) refills the first three; Longnan's district beds of 2011 (952 between 2,240 and 1,620) "
     "depart by a factor of 2.0 (1.9994 allowing for rounding), at the screen's threshold, and stay, so "
     "Dist's maximum is now {dist_max:.2f}. "
     "The robustness section below shows the headline under both rules and how far it rests on single cities."),
    ("Series breaks", "Hospitals: from data year 2017 hospitals only; employment by sector is not printed "
     "for 2020-2021 (the ICT and tertiary employment shares are carried forward from 2019); primary "
     "enrolment is printed in whole 10,000s from 2016; telecom data are missing for 2020 (interpolated)."),
    ("Inference", "The paper does not say how its standard errors were computed; this replication "
     "clusters by city with Stata's convention. Table 7's R² are reported both within and with the "
     "effects counted as regressors."),
]


def build(published: pd.DataFrame, claims: pd.DataFrame, tables: dict[str, pd.DataFrame],
          data: pd.DataFrame, options: Options, draws: dict[str, np.ndarray],
          variants: dict[str, pd.DataFrame] | None = None, anomalies: pd.DataFrame | None = None,
          panel: pd.DataFrame | None = None) -> dict[str, str | bytes]:
    """`draws` are the resampling draws the models step wrote (bootstrap_ab: Table 9's a*b);
    `variants`: the panel variants `make data` writes (name -> panel), `anomalies`: anomalies.csv,
    `panel`: the panel the tables were estimated from; with them the comparison shows the headline
    under each and the influence of single city-years."""
    out: dict[str, str | bytes] = {}
    grids = table_grids(tables, data, options)
    for table in grids.values():
        out |= table_files(table)
    out["reports/tables.md"] = "\n".join(to_markdown(g) for g in grids.values())
    out["reports/tables.tex"] = latex_document(list(grids.values()))
    out["reports/tables.html"] = page("Tables", "\n".join(to_html(g, standalone=False) for g in grids.values()))
    compared = comparison(published, tables)
    robust = robustness_tables(data, variants or {}, anomalies, options, cell(published, "T4", "Dist", "max", "value"),
                               panel)
    out["reports/comparison.md"], out["reports/comparison.html"] = comparison_report(compared, data, robust,
                                                                                  tables.get("mechanism"))
    out["reports/comparison.csv"] = compared.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    checks = audit(published, claims)
    out["reports/audit.md"], out["reports/audit.html"] = audit_report(checks)
    out["reports/audit.csv"] = checks.to_csv(index=False, lineterminator="\n")
    mediation = tables["table9_stats"].set_index("stat")["value"]
    for name, files in (
        ("dig_coefficients", coefficient_plot(published, tables, options)),
        ("indices_by_region", indices_over_time(data)),
        ("bootstrap_indirect", bootstrap_plot(draws["bootstrap_ab"], mediation["ab"], mediation["sobel_z"])),
    ):
        for kind, content in files.items():
            out[f"figures/{name}.{kind}"] = content
    return out


def table_grids(tables: dict[str, pd.DataFrame], data: pd.DataFrame, options: Options) -> dict[str, Grid]:
    """Every table of the registry laid out from the tidy files it names."""
    return {name: grid(entry, {s: tables[s] for s in entry.sources}, data, options)
            for name, entry in REGISTRY.items()}


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


ROBUSTNESS = {
    "variants": ("Headline cells under each panel variant",
                 "Estimate and t of each headline cell, and Table 4's Dist moments, on the committed panel and on "
                 "each variant `make data` writes (data/processed/variants/variants.json names the options): "
                 "anomaly_keep keeps the cells the anomaly screen flags as printed, edge2 fills end-of-period gaps "
                 "of two years."),
    "coverage": ("What each variant panel adds",
                 "Cities and filled cells of each variant against the committed panel (cells counted over the "
                 "whole-city and district columns; in brackets the change)."),
    "flagged_tail": ("City-years with Dist above 1 before screening",
                     "On the anomaly_keep panel: every city-year with Dist > 1, the share of its registered "
                     "population outside the districts, and the cells the screen flags in it."),
    "tail": ("Influence of Dist's largest values",
             "Share of Dist's variance (sum of squared deviations) carried by its largest city-years, and "
             "Table 5 column 4's Dig coefficient without them."),
    "loco": ("Leave one city out",
             "Each coefficient re-estimated with every city left out in turn: the range, and the city at "
             "each end."),
    "loco_keep": ("Leave one city out, cells flagged by the screen kept as printed",
                  "The same on the anomaly_keep panel."),
}


def comparison_report(compared: pd.DataFrame, data: pd.DataFrame, robust: dict[str, pd.DataFrame] | None = None,
                      mechanism: pd.DataFrame | None = None) -> tuple[str, str]:
    robust = robust or {}
    card = scorecard(compared)
    printed = robust["variants"].set_index("cell") if "variants" in robust else pd.DataFrame()
    facts = {"dist_max_printed": printed.loc["T4 Dist max", "anomaly_keep"] if "anomaly_keep" in printed else np.nan,
             "cities": data["city_code"].nunique(), "rows": len(data), "ur_mean": data["Ur"].mean(),
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
    for key, frame in robust.items():
        title, text = ROBUSTNESS[key]
        md += ["", f"## Robustness: {title}", "", text, "", _md_table(frame)]
    for table, part in compared.groupby("table"):
        md += ["", f"## {table}", "", summaries[table], "", _md_table(view.loc[part.index, columns])]
    body = ["<h1>Comparison with the published tables</h1>", *[f"<p>{html.escape(p)}</p>" for p in intro],
            "<h2>Scorecard</h2>", _html_table(card, {"median_relative_difference": "{:.2f}"}),
            "<h2>Why the numbers differ</h2><ul>",
            *[f"<li><b>{html.escape(k)}.</b> {html.escape(v.format(**facts))}</li>" for k, v in WHY], "</ul>"]
    for key, frame in robust.items():
        title, text = ROBUSTNESS[key]
        body += [f"<h2>Robustness: {html.escape(title)}</h2>", f"<p>{html.escape(text)}</p>", _html_table(frame)]
    for table, part in compared.groupby("table"):
        body += [f"<h2>{table}</h2>", f"<p>{html.escape(summaries[table])}</p>", _html_table(view.loc[part.index, columns])]
    if mechanism is not None:  # the six-indicator Dist (replication/multiverse.py)
        section_md, section_html = mechanism_section(mechanism)
        md += ["", section_md]
        body.append(section_html)
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


__all__ = ["TIDY", "build", "table_grids"]
