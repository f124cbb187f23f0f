"""Everything people read: rendered tables, the comparison with the paper, the audit, the figures.

``build`` takes the tidy tables (as written by the indices and models steps), the estimation data
and the published numbers, and returns {relative path: text or bytes}; the command line writes them.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from replication.compare import audit, comparison, dist_drivers, scorecard, verdict
from replication.config import Options
from replication.figures import bootstrap_plot, coefficient_plot, indices_over_time
from replication.influence import robustness_tables
from replication.mechanism import mechanism_section
from replication.registry import REGISTRY, TIDY
from replication.render import Grid, grid, latex_document, page, table_files, to_html
from replication.published import cell

def build(published: pd.DataFrame, claims: pd.DataFrame, tables: dict[str, pd.DataFrame],
          data: pd.DataFrame, options: Options, draws: dict[str, np.ndarray],
          variants: dict[str, pd.DataFrame] | None = None, anomalies: pd.DataFrame | None = None,
          panel: pd.DataFrame | None = None, multiverse: pd.DataFrame | None = None) -> dict[str, str | bytes]:
    """`draws` are the resampling draws the models step wrote (bootstrap_ab: Table 9's a*b);
    `variants`: the panel variants `make data` writes (name -> panel), `anomalies`: anomalies.csv,
    `panel`: the panel the tables were estimated from; with them the comparison shows the headline
    under each and the influence of single city-years."""
    out: dict[str, str | bytes] = {}
    grids = table_grids(tables, data, options)
    for table in grids.values():
        out |= table_files(table)
    out["reports/tables.md"] = "\n".join(out[f"tables/{g.name}.md"] for g in grids.values())  # as written above
    out["reports/tables.tex"] = latex_document(list(grids.values()))
    out["reports/tables.html"] = page("Tables", "\n".join(to_html(g, standalone=False) for g in grids.values()))
    compared = comparison(published, tables)
    robust = robustness_tables(data, variants or {}, anomalies, options, cell(published, "T4", "Dist", "max", "value"),
                               panel)
    if "inference" in tables:
        robust["inference"] = tables["inference"]
    if variants and "anomaly_keep" in variants and anomalies is not None:
        robust["drivers"] = dist_drivers(variants["anomaly_keep"], anomalies, options)
    out["reports/comparison.md"], out["reports/comparison.html"] = comparison_report(compared, data, robust,
                                                                                  tables.get("mechanism"),
                                                                                  options=options)
    out["reports/comparison.csv"] = compared.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    checks = audit(published, claims)
    out["reports/audit.md"], out["reports/audit.html"] = audit_report(checks)
    out["reports/audit.csv"] = checks.to_csv(index=False, lineterminator="\n")
    from replication import replication_report  # it imports this module's table writers

    card = scorecard(compared)
    out["reports/replication.md"], out["reports/replication.html"] = replication_report.build(
        compared, card, verdict(card), checks, tables, data, options, anomalies=anomalies, robust=robust,
        multiverse=multiverse)
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
        cells = [_cell_text(row[column], formats.get(column, "{:.4g}")) for column in frame.columns]
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
            text = html.escape(_cell_text(value, formats.get(column, "{:.4g}")))
            if isinstance(value, (float, np.floating)):
                cells.append(f"<td class=\"num\">{text}</td>")
            else:
                css = f" class=\"{value}\"" if value in ("consistent", "inconsistent") else ""
                cells.append(f"<td{css}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def _cell_text(value, number_format: str) -> str:
    """A table cell as printed: a missing value (NaN, None, NA) is an empty cell, never 'nan' or 'None'."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else number_format.format(value)
    return str(value)


def _yes(value) -> str:
    return "" if pd.isna(value) else ("yes" if value else "no")


# What each cov_type is, as a noun phrase of the comparison's prose.
STANDARD_ERRORS = {
    "cluster_city": "standard errors clustered by city with Stata's convention (t with G - 1 degrees of freedom, "
                    "G the cities of the column)",
    "cluster_province": "standard errors clustered by province with Stata's convention (t with G - 1 degrees of "
                        "freedom, G the provinces of the column)",
    "driscoll_kraay": "Driscoll-Kraay standard errors ({dk_bandwidth} lags of the Bartlett kernel; t with T - 1 "
                      "degrees of freedom, T the years)",
    "robust": "heteroskedasticity-robust (HC1) standard errors (t with N - K degrees of freedom)",
}
# Cities without a non-urban area in some year, so that Dist is undefined for them (docs/METHODS.md section 1).
NO_NONURBAN = ("Beijing", "Shanghai", "Shenzhen")


def standard_errors(options: Options | None) -> str:
    if options is None:
        return "the standard errors of this run's tables (the report was not given the options that made them)"
    return STANDARD_ERRORS[options.cov_type].format(dk_bandwidth=options.dk_bandwidth)


def non_default_line(options: Options | None) -> str:
    if options is None:
        return "Non-default options: not known to this report (it was not given the run's options)."
    changed = options.non_default()
    return "Non-default options: " + (", ".join(f"{k}={_option_text(v)}" for k, v in changed.items())
                                      if changed else "none (every option at its default)") + "."


def _option_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) else str(value)


def _names(data: pd.DataFrame) -> set[str]:
    return set(data["city_en"].astype(str)) if "city_en" in data else set()


def why(compared: pd.DataFrame, data: pd.DataFrame, robust: dict[str, pd.DataFrame],
        options: Options | None) -> list[tuple[str, str]]:
    """Why the numbers differ, each sentence computed from the run: its data (`data`, analysis.csv),
    its robustness tables and its options.  A city is named only when the run's data hold it."""
    names = _names(data)
    cities, years, rows = data["city_code"].nunique(), data["year"].nunique(), len(data)
    first, last = int(data["year"].min()), int(data["year"].max())
    shape = (f"{cities} cities x {years} years = {rows} city-years" if rows == cities * years else
             f"{rows} city-years of {cities} cities over {years} years (not balanced: {cities} x {years} would be "
             f"{cities * years})")
    absent = [n for n in NO_NONURBAN if n not in names]
    share = (f" ({options.min_nonurban_share:g})" if options is not None else "")
    small = ("" if options is not None and options.min_nonurban_share == 0 else
             f", and city-years whose non-urban area holds less than option min_nonurban_share{share} of the "
             "registered population" + (" (Shantou, 1.4%: data/processed/CODEBOOK.md)" if "Shantou" not in names
                                        else ""))
    sample = (f"{shape} instead of 282 x 11 = 3102. Cities with no non-urban area in some year"
              + (f" ({', '.join(absent)}, ...)" if absent else "")
              + " leave, because the methods (docs/METHODS.md) make Dist undefined for them; so do cities created "
              f"or abolished during {first}-{last} and cities whose public yearbook series have gaps no fill rule "
              "covers (the panel's manifest.json lists every city and reason)" + small + ".")
    ur = data["Ur"].mean()
    paper_ur = _paper(compared, "T4", "Ur", "mean")
    urbanisation = ("The yearbook has no urban population share for most years: Ur is the district share of "
                    f"registered population (mean {ur:.2f}" + (f" against the paper's {paper_ur:.2f}" if
                                                                np.isfinite(paper_ur) else "")
                    + "), so its coefficient is not comparable.")
    indicators = ("This run uses the four indicators the yearbook splits by area; mobile and broadband users exist "
                  "for the whole city only (Table 1 shows the six-indicator option)."
                  if options is None or options.dist_indicators == "four" else
                  f"This run uses option dist_indicators={options.dist_indicators} (the default uses the four "
                  "indicators the yearbook splits by area; mobile and broadband users exist for the whole city only).")
    breaks = ("Hospitals: from data year 2017 hospitals only; employment by sector is not printed for 2020-2021 ("
              + ("the ICT and tertiary employment shares are left missing, option share_end_rule=none"
                 if options is not None and options.share_end_rule == "none" else
                 "the ICT and tertiary employment shares are carried forward from 2019")
              + "); primary enrolment is printed in whole 10,000s from 2016; telecom data are missing for 2020 "
              "(interpolated).")
    inference = (f"The paper does not say how its standard errors were computed; this replication uses "
                 f"{standard_errors(options)}. Table 7's R² are reported both within and with the effects counted "
                 "as regressors.")
    return [("Sample", sample), ("Urbanisation", urbanisation), ("Dist indicators", indicators),
            ("Outliers", outliers(compared, data, robust, options)), ("Series breaks", breaks),
            ("Inference", inference)]


def _paper(compared: pd.DataFrame, table: str, column: str, row: str) -> float:
    hit = compared[(compared["table"] == table) & (compared["column"] == column) & (compared["row"] == row)]
    return float(hit["paper"].iloc[0]) if len(hit) else np.nan


def outliers(compared: pd.DataFrame, data: pd.DataFrame, robust: dict[str, pd.DataFrame],
             options: Options | None) -> str:
    """The Outliers paragraph: the maximum of Dist built as printed (when the anomaly_keep variant stands
    beside the run), the misprints behind it in the cities the run holds, and the run's largest Dist."""
    names = _names(data)
    paper_max = _paper(compared, "T4", "Dist", "max")
    against = f" against the paper's {paper_max:.2f}" if np.isfinite(paper_max) else ""
    variants = robust["variants"].set_index("cell") if "variants" in robust else pd.DataFrame()
    printed = (float(variants.loc["T4 Dist max", "anomaly_keep"])
               if "anomaly_keep" in variants and "T4 Dist max" in variants.index else np.nan)
    text = [f"Built as printed (the anomaly_keep panel), Dist = (R - 1)^2 has a long right tail (maximum "
            f"{printed:.1f}{against})." if np.isfinite(printed) else
            "The maximum of Dist built as printed (the anomaly_keep panel) is not available for this run: no "
            "anomaly_keep variant stands beside its panel."]
    drivers = robust.get("drivers")
    if drivers is not None and len(drivers):
        text.append(driver_sentence(drivers, options))
    if "Shantou" in names:
        text.append("Shantou's high values come from a small non-urban area (1.4% of its population); this run keeps "
                    "it (option min_nonurban_share"
                    + (f" = {options.min_nonurban_share:g}" if options is not None else "") + ").")
    top = data.dropna(subset=["Dist"]).nlargest(3, "Dist")
    label = (lambda r: f"{r.city_en} ({r.city}) {r.year}") if "city_en" in data else (lambda r: f"{r.city} {r.year}")
    if len(top):
        text.append("This run's largest values of Dist: "
                    + "; ".join(f"{label(r)}: {r.Dist:.2f}" for r in top.itertuples()) + ".")
    if robust:
        text.append("The robustness sections below show the headline under each panel and how far it rests on "
                    "single cities.")
    return " ".join(text)


def driver_sentence(drivers: pd.DataFrame, options: Options | None) -> str:
    """What drives each city-year with Dist above 1 as printed, from compare.dist_drivers (each listed cell
    of the city-year corrected alone, the one that lowers Dist most), and what this run's rule does with it."""
    parts = []
    for r in drivers.itertuples():
        if not r.driver:
            parts.append(f"{r.city} {r.year} ({r.Dist:.2f}): no listed cell")
            continue
        action = "corrected by default" if r.corrected_by_default else "not corrected by default"
        fix = "brings it to" if r.explained else "leaves it at"
        parts.append(f"{r.city} {r.year} ({r.Dist:.2f}): {r.driver} ({r.rule}; {action}); correcting it alone "
                     f"{fix} {r.Dist_driver_corrected:.2f}")
    rule = f" This run's panel was built with anomaly_rule={options.anomaly_rule}." if options is not None else ""
    return ("The single listed cell (data/processed/anomalies.csv) that drives each city-year with Dist above 1 as "
            "printed, found by recomputing Dist with each listed cell corrected alone: " + "; ".join(parts)
            + "." + rule)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


ROBUSTNESS = {
    "variants": ("Headline cells under each panel variant",
                 "Estimate and t of each headline cell, and Table 4's Dist moments, on this run's panel and on "
                 "each variant `make data` writes beside it (variants/variants.json names the options)"),
    "coverage": ("What each variant panel adds",
                 "Cities and filled cells of each variant against this run's panel (cells counted over the "
                 "whole-city and district columns; in brackets the change)."),
    "flagged_tail": ("City-years with Dist above 1 before screening",
                     "On the anomaly_keep panel: every city-year with Dist > 1, the share of its registered "
                     "population outside the districts, and the cells the screen flags in it."),
    "drivers": ("What drives each Dist above 1 as printed",
                "On the anomaly_keep panel: for every city-year with Dist > 1, Dist recomputed with each cell "
                "anomalies.csv lists for it corrected alone; the cell that lowers Dist most, its rule and "
                "signals, whether anomaly_rule=confirmed corrects it, and Dist with it corrected."),
    "inference": ("Table 5 (4), Table 6's differences, Table 7 and Table 9's a x b under other assumptions",
                  "Whatever cov_type: city and province clusters (Stata's convention), the cluster "
                  "jackknife (CV3) with the "
                  "effective number of clusters G*, Conley spatial HAC at each cutoff (great-circle distance "
                  "between prefecture centroids, uniform and Bartlett kernels, serial correlation within a city "
                  "up to the lag in the note), the wild cluster restricted bootstrap (WCR) and, for Table 7, the "
                  "wild restricted efficient bootstrap (WRE) and Anderson-Rubin; Table 6's differences with the "
                  "Holm adjustment across the three (replication/inference.py)"),
    "tail": ("Influence of Dist's largest values",
             "Share of Dist's variance (sum of squared deviations) carried by its largest city-years, and "
             "Table 5 column 4's Dig coefficient without them."),
    "loco": ("Leave one city out",
             "Each coefficient re-estimated with every city left out in turn: the range, and the city at "
             "each end."),
    "loco_keep": ("Leave one city out, cells flagged by the screen kept as printed",
                  "The same on the anomaly_keep panel."),
}
VARIANTS = {"anomaly_keep": "keeps every cell as printed (anomaly_rule=keep)",
            "anomaly_screen": "corrects every cell the time-series screen alone flags (anomaly_rule=screen)",
            "edge2": "fills end-of-period gaps of two years"}


def robustness_text(key: str, frame: pd.DataFrame) -> str:
    """The sentence under a robustness table; for the variants, the variants this run has."""
    text = ROBUSTNESS[key][1]
    if key != "variants":
        return text
    present = [c for c in frame.columns[1:] if not str(c).endswith(" t")][1:]
    if not present:
        return text + ": no variant panel stands beside this run's panel, so only its own columns are shown."
    return text + ": " + "; ".join(f"{name} {VARIANTS.get(name, '(see variants.json)')}" for name in present) + "."


SCORECARD_COLUMNS = {
    "table": "table", "class": "class", "numbers": "numbers", "compared": "compared",
    "within_rounding": "equal at printed precision", "median_relative_difference": "median relative difference",
    "coefficients": "coefficients", "repeated": "of them repeated", "same_sign": "same sign",
    "same_significance_5": "same sign and significance (5%)", "paper_in_ci_95": "paper inside 95% CI",
    "constants": "constants", "constants_same_significance_5": "constants same sign and significance",
    "agreeing_share": "agreeing share",
}
SCORECARD_FORMATS = {"median relative difference": "{:.2f}", "agreeing share": "{:.0%}"}


def scorecard_view(card: pd.DataFrame) -> pd.DataFrame:
    view = card[list(SCORECARD_COLUMNS)].rename(columns=SCORECARD_COLUMNS)
    view["table"] = view["table"].replace({"All": "All (distinct)"})
    return view


def _compared_view(compared: pd.DataFrame) -> pd.DataFrame:
    """Every compared cell as the report shows it (yes/no flags, the interval as text, readable headers)."""
    view = compared.assign(
        same_sign=compared["same_sign"].map(_yes), same_significance_5=compared["same_significance_5"].map(_yes),
        paper_in_ci_95=compared["paper_in_ci_95"].map(_yes),
        ci_95=[f"[{lo:.4g}, {hi:.4g}]" if np.isfinite(lo) else "" for lo, hi in
               zip(compared["replication_ci_low"], compared["replication_ci_high"])])
    columns = ["column", "row", "stat", "paper", "replication", "difference", "same_sign", "same_significance_5",
               "ci_95", "paper_in_ci_95", "repeat_of", "note"]
    return view[["table", *columns]].rename(columns={"same_significance_5": "same significance (5%, given the sign)",
                                                      "ci_95": "replication 95% CI", "paper_in_ci_95": "paper in CI",
                                                      "same_sign": "same sign", "repeat_of": "repeats"})


def _table_summary(row: pd.Series, part: pd.DataFrame) -> str:
    """One table's paragraph: its class, the cells compared and agreeing, and its Dig (or Isu) estimates."""
    median = row["median_relative_difference"]
    text = (f"Class: {row['class']}. {int(row['compared'])} of {int(row['numbers'])} numbers compared, "
            f"{int(row['within_rounding'])} equal to the paper's at its printed precision"
            + (f"; median |difference| / |paper| = {median:.2f}." if np.isfinite(median) else "."))
    if row["coefficients"]:
        text += (f" Coefficients (constants apart): {int(row['same_sign'])} of {int(row['coefficients'])} "
                 f"same sign, {int(row['same_significance_5'])} same sign and significance at 5%, "
                 f"{int(row['paper_in_ci_95'])} with the paper's value inside this run's 95% interval"
                 + (f"; {int(row['repeated'])} repeat an earlier table's estimates" if row["repeated"] else "")
                 + ".")
    dig = part[(part["stat"] == "estimate") & part["row"].isin(["Dig", "Dig_entropy", "L2.Dig", "Isu"])]
    if len(dig):
        text += " " + "; ".join(
            f"{r.column} {r.row}: paper {r.paper:g}, replication {r.replication:.4f}" for r in dig.itertuples())
        text += "."
    return text


def comparison_report(compared: pd.DataFrame, data: pd.DataFrame, robust: dict[str, pd.DataFrame] | None = None,
                      mechanism: pd.DataFrame | None = None, options: Options | None = None) -> tuple[str, str]:
    """comparison.md and comparison.html: the scorecard, each table's class and the verdict
    (replication.compare), why the numbers differ, the robustness tables and every compared cell.
    `options` are the run's; without them the prose names no clustering and no option."""
    robust = robust or {}
    card = scorecard(compared)
    overall = card[card["table"] == "All"].iloc[0]
    repeated = compared.loc[compared["repeat_of"] != "", ["table", "column", "repeat_of"]].drop_duplicates()
    copies = {first: [f"{r.table} {r.column}" for r in part.itertuples()]
              for first, part in repeated.groupby("repeat_of", sort=False)}
    view = _compared_view(compared)
    verdict_line = f"Verdict (the classes of docs/METHODS.md section 6): {verdict(card)}"
    intro = [
        "Every number the paper prints for Tables 1 and 3-9, beside this replication's. Difference = "
        "replication - paper. For coefficients, 'same significance' compares p < 0.05 between estimates of the same "
        "sign (an estimate of the opposite sign never agrees): the paper's p from its printed t with t(G-1) (G = 282 "
        f"cities, or the region's), the replication's from {standard_errors(options)}. The paper's value is "
        "inside this run's 95% interval when it lies within estimate +- t_0.975 x standard error, with the degrees "
        "of freedom of the run's own p-value. Compare through t and p, never stars: the paper's star thresholds are "
        "mixed.",
        non_default_line(options),
        f"Scorecard: {int(overall['coefficients'])} distinct coefficients compared (constants apart; an estimate "
        f"printed in several tables counted once); {int(overall['same_sign'])} have the paper's sign, "
        f"{int(overall['same_significance_5'])} its sign and its significance at 5%, and for "
        f"{int(overall['paper_in_ci_95'])} the paper's value lies inside this run's 95% interval. "
        f"{int(overall['constants'])} distinct constants: {int(overall['constants_same_significance_5'])} with the "
        "paper's sign and significance.",
    ]
    if copies:
        intro.append("Printed in more than one table and counted once: " + "; ".join(
            f"{_and(others)} {'repeats' if len(others) == 1 else 'repeat'} {first}" for first, others in copies.items())
            + ".")
    intro.append(verdict_line)
    summaries = {table: _table_summary(card[card["table"] == table].iloc[0], part)
                 for table, part in compared.groupby("table")}
    reasons = why(compared, data, robust, options)
    card_view = scorecard_view(card)
    md = ["# Comparison with the published tables", "", *[p + "\n" for p in intro], "## Scorecard", "",
          _md_table(card_view, SCORECARD_FORMATS), "", "## Why the numbers differ", ""]
    md += [f"- **{k}.** {v}" for k, v in reasons]
    for key, frame in robust.items():
        md += ["", f"## Robustness: {ROBUSTNESS[key][0]}", "", robustness_text(key, frame), "", _md_table(frame)]
    for table, part in compared.groupby("table"):
        md += ["", f"## {table}", "", summaries[table], "", _md_table(view.loc[part.index].drop(columns="table"))]
    body = ["<h1>Comparison with the published tables</h1>", *[f"<p>{html.escape(p)}</p>" for p in intro],
            "<h2>Scorecard</h2>", _html_table(card_view, SCORECARD_FORMATS),
            "<h2>Why the numbers differ</h2><ul>",
            *[f"<li><b>{html.escape(k)}.</b> {html.escape(v)}</li>" for k, v in reasons], "</ul>"]
    for key, frame in robust.items():
        body += [f"<h2>Robustness: {html.escape(ROBUSTNESS[key][0])}</h2>",
                 f"<p>{html.escape(robustness_text(key, frame))}</p>", _html_table(frame)]
    for table, part in compared.groupby("table"):
        body += [f"<h2>{table}</h2>", f"<p>{html.escape(summaries[table])}</p>",
                 _html_table(view.loc[part.index].drop(columns="table"))]
    if mechanism is not None:  # the six-indicator Dist (replication/mechanism.py)
        section_md, section_html = mechanism_section(mechanism, options)
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
