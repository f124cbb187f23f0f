"""The replication report: the page a referee opens first (reports/replication.md and .html).

``build`` is a pure function of frames the report step already holds: the comparison with the paper
and its scorecard (replication.compare), the audit, the tidy tables, the estimation data, the run's
options, the anomaly list of the panel build, the robustness tables (replication.influence) and,
when `make multiverse` ran for the output directory, the multiverse's summary.csv.  Every number,
city name and option word on the page is taken from them; the tables are written by the report's
one Markdown and one HTML table writer.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from replication.compare import CLASSES, NUMBER_TOLERANCE
from replication.config import Options
from replication.registry import REGISTRY, parse_wild
from replication.render import page
from replication.report import (
    ROBUSTNESS,
    SCORECARD_FORMATS,
    _html_table,
    _md_table,
    non_default_line,
    robustness_text,
    scorecard_view,
    standard_errors,
    why,
)

# How a compared cell departs from the paper: key -> (text marker, CSS class, meaning).  The marker is
# written into the cell, so that it shows in Markdown as in HTML; the class colours it in HTML.
MARKS = {
    "sign": ("[sign]", "mark-sign", "the estimate has the opposite sign to the paper's"),
    "significance": ("[significance]", "mark-significance",
                     "the same sign, but significant at 5% in one and not in the other"),
    "ci": ("[outside CI]", "mark-ci", "the paper's value lies outside this run's 95% interval"),
    "differs": ("[differs]", "mark-differs",
                (f"a number without a standard error more than {NUMBER_TOLERANCE:.0%} from the paper's and "
                 "beyond its rounding")),
    "missing": ("[not produced]", "mark-missing", "this replication does not produce the number"),
}
CSS = """<style>
td[class^="mark-"]{white-space:nowrap}
td.mark-sign{background:#f8d7da;color:#721c24;font-weight:bold}
td.mark-significance{background:#fff3cd}
td.mark-ci{color:#a00}
td.mark-differs{background:#fff3cd}
td.mark-missing{color:#777;font-style:italic}
td.mark-sign.mark-ci{background:#f8d7da;color:#721c24}
p.verdict{font-size:1.15em;border-left:4px solid #333;padding:.3em .8em;background:#f4f4f4}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em}
</style>"""
FIGURES = (
    ("dig_coefficients", "Dig's coefficient in every column of Tables 5-8 with its 95% interval, beside the paper's"),
    ("indices_by_region", "The median Dist and Dig of each region, every year"),
    ("bootstrap_indirect", ("Table 9's indirect effect a x b: the cluster-bootstrap draws beside the Sobel "
                            "normal approximation")),
)
REPORTS = (("comparison", "every compared cell, the scorecard and the robustness tables"),
           ("audit", "every check of the paper against itself"), ("tables", "the tables in the paper's layout"),
           ("guangxi", "the Guangxi case study (seed 000)"),
           ("ethnic", "the ethnic regions case study (seed 004)"))
NOTEBOOKS = ("notebooks/01_indices.ipynb", "notebooks/02_main_results.ipynb")
TOP = 5  # city-years and cities listed in the data-quality summary


def build(compared: pd.DataFrame, card: pd.DataFrame, verdict_line: str, checks: pd.DataFrame,
          tables: dict[str, pd.DataFrame], data: pd.DataFrame, options: Options,
          anomalies: pd.DataFrame | None = None, robust: dict[str, pd.DataFrame] | None = None,
          multiverse: pd.DataFrame | None = None) -> tuple[str, str]:
    """(replication.md, replication.html): the verdict, the class of each table, each table beside the
    paper's numbers with the differences marked (MARKS), the data-quality summary, the robustness
    summary (wild bootstrap, panel variants, leave one city out, multiverse), the audit's findings and
    the figures.  `compared` = compare.comparison, `card` = compare.scorecard(compared), `verdict_line`
    = compare.verdict(card), `checks` = compare.audit; `multiverse`: multiverse/summary.csv or None."""
    robust = robust or {}
    sections = [("Verdict", _verdict(verdict_line, card, data, options)),
                ("The class of each table", [_Table(scorecard_view(card), SCORECARD_FORMATS)]),
                ("Each table beside the paper's", _tables(compared, card)),
                ("Why the numbers differ", [_Items(why(compared, data, robust, options))]),
                ("Data quality", _quality(data, anomalies, robust)),
                ("Robustness", _robustness(tables, data, robust, multiverse)),
                ("The audit's findings", _audit(checks)),
                ("Figures", [_Figure(name, caption) for name, caption in FIGURES]),
                ("Other reports", _others())]
    title = "Replication report"
    md, body = [f"# {title}", ""], [CSS, f"<h1>{html.escape(title)}</h1>"]
    for heading, parts in sections:
        md += [f"## {heading}", ""]
        body.append(f"<h2>{html.escape(heading)}</h2>")
        for part in parts:
            md += [part.markdown(), ""]
            body.append(part.html())
    return "\n".join(md).rstrip("\n") + "\n", page(title, "\n".join(body) + "\n")


# ---------------------------------------------------------------------------- the parts of a section


class _Text:
    def __init__(self, text: str, heading: str = "", css: str = ""):
        self.text, self.heading, self.css = text, heading, css

    def markdown(self) -> str:
        return f"### {self.heading}" if self.heading else self.text

    def html(self) -> str:
        if self.heading:
            return f"<h3>{html.escape(self.heading)}</h3>"
        css = f' class="{self.css}"' if self.css else ""
        return f"<p{css}>{html.escape(self.text)}</p>"


def _heading(text: str) -> _Text:
    return _Text("", heading=text)


class _Table:
    def __init__(self, frame: pd.DataFrame, formats: dict[str, str] | None = None):
        self.frame, self.formats = frame, formats

    def markdown(self) -> str:
        return _md_table(self.frame, self.formats)

    def html(self) -> str:
        return _mark_cells(_html_table(self.frame, self.formats))


class _Items:
    def __init__(self, items: list[tuple[str, str]]):
        self.items = items

    def markdown(self) -> str:
        return "\n".join(f"- **{k}.** {v}" if k else f"- {v}" for k, v in self.items)

    def html(self) -> str:
        return "<ul>" + "".join(f"<li><b>{html.escape(k)}.</b> {html.escape(v)}</li>" if k else
                                f"<li>{html.escape(v)}</li>" for k, v in self.items) + "</ul>"


class _Figure:
    def __init__(self, name: str, caption: str):
        self.name, self.caption = name, caption

    def markdown(self) -> str:
        return f"![{self.caption}](../figures/{self.name}.png)"

    def html(self) -> str:
        return (f'<figure><img src="../figures/{self.name}.png" alt="{html.escape(self.caption)}">'
                f"<figcaption>{html.escape(self.caption)}</figcaption></figure>")


class _Links:
    def __init__(self, links: list[tuple[str, str, str]]):
        self.links = links  # (Markdown target, HTML target or '', description)

    def markdown(self) -> str:
        return "\n".join(f"- [{md}]({md}): {what}" if md.endswith(".md") else f"- `{md}`: {what}"
                         for md, _, what in self.links)

    def html(self) -> str:
        return "<ul>" + "".join(
            f'<li><a href="{target}">{html.escape(target)}</a>: {html.escape(what)}</li>' if target else
            f"<li><code>{html.escape(md)}</code>: {html.escape(what)}</li>" for md, target, what in self.links) + "</ul>"


def _mark_cells(table: str) -> str:
    """The class of each MARKS marker on the cells that carry it (the writer escapes the text: a marker
    holds no character it changes)."""
    def classed(match: re.Match) -> str:
        names = [css for token, css, _ in MARKS.values() if token in match.group(1)]
        return f'<td class="{" ".join(names)}">{match.group(1)}</td>' if names else match.group(0)

    return re.sub(r"<td>([^<]*)</td>", classed, table)


# ---------------------------------------------------------------------------- the sections


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sample(data: pd.DataFrame) -> str:
    cities, years, rows = data["city_code"].nunique(), data["year"].nunique(), len(data)
    span = f"{int(data['year'].min())}-{int(data['year'].max())}"
    return (f"{cities} cities x {years} years ({span}) = {rows} city-years" if rows == cities * years else
            f"{rows} city-years of {cities} cities over {years} years ({span}; not balanced)")


def _verdict(verdict_line: str, card: pd.DataFrame, data: pd.DataFrame, options: Options) -> list:
    tables = card[card["table"] != "All"]
    overall = card[card["table"] == "All"].iloc[0]
    counts = tables["class"].value_counts()
    classes = "; ".join(f"{counts[name]} {'table' if counts[name] == 1 else 'tables'} {name}"
                        for name in CLASSES if name in counts)
    return [
        _Text(f"Verdict (the AEA Data Editor's classes, thresholds in docs/METHODS.md section 6): {verdict_line}",
              css="verdict"),
        _Text(f"{len(tables)} tables compared: {classes}. Over the distinct coefficients (constants apart, an "
              f"estimate printed in several tables counted once): {int(overall['same_sign'])} of "
              f"{int(overall['coefficients'])} have the paper's sign, {int(overall['same_significance_5'])} its "
              f"sign and its significance at 5%, and for {int(overall['paper_in_ci_95'])} the paper's value lies "
              "inside this run's 95% interval."),
        _Text(f"This run: {_sample(data)}; {standard_errors(options)}. {non_default_line(options)}"),
    ]


def _caption(table: str) -> str:
    number = table[1:]
    captions = {e.number: e.caption for e in REGISTRY.values()}
    return f"Table {number}. {captions[number]}" if number in captions else f"Table {number}"


def marks(row) -> list[str]:
    """The MARKS keys of one compared row (a coefficient's estimate row, or a number's row)."""
    if not np.isfinite(row.replication):
        return ["missing"]
    if row.stat == "estimate":
        found = []
        if row.same_sign == 0:
            found.append("sign")
        elif row.same_significance_5 == 0:
            found.append("significance")
        if row.paper_in_ci_95 == 0:
            found.append("ci")
        return found
    relative = abs(row.difference) / abs(row.paper) if row.paper else np.inf
    return [] if row.within_rounding == 1 or relative <= NUMBER_TOLERANCE * (1 + 1e-9) else ["differs"]


def _number(value: float) -> str:
    return f"{value:.4g}" if np.isfinite(value) else ""


def table_view(part: pd.DataFrame) -> pd.DataFrame:
    """One compared table as printed: a line per coefficient (estimate and t side by side) or number, the
    replication's cell carrying the markers of its differences."""
    t = part[part["stat"] == "t"].set_index(["column", "row"])["replication"]
    lines = []
    for r in part[part["stat"] != "t"].itertuples():
        coefficient = r.stat == "estimate"
        ours = " ".join([_number(r.replication), *[MARKS[k][0] for k in marks(r)]]).strip()
        note = "; ".join(x for x in (f"same estimate as {r.repeat_of}" if r.repeat_of else "",
                                     r.note if isinstance(r.note, str) else "") if x)
        lines.append({
            "column": r.column, "row": r.row, "stat": r.stat, "paper": r.paper,
            "paper t": r.paper_t if coefficient else np.nan, "replication": ours,
            "replication t": t.get((r.column, r.row), np.nan) if coefficient else np.nan,
            "replication 95% CI": (f"[{r.replication_ci_low:.4g}, {r.replication_ci_high:.4g}]"
                                   if np.isfinite(r.replication_ci_low) else ""),
            "difference": r.difference, "note": note})
    frame = pd.DataFrame(lines)
    empty = [c for c in ("paper t", "replication t", "replication 95% CI", "note")
             if frame[c].replace("", np.nan).isna().all()]
    return frame.drop(columns=empty)


def _tables(compared: pd.DataFrame, card: pd.DataFrame) -> list:
    compared = compared.assign(repeat_of=compared["repeat_of"].fillna(""))
    legend = [("", f"{token}: {meaning}") for token, _, meaning in MARKS.values()]
    out = [_Text("Paper and replication cell by cell (difference = replication - paper; t beside each "
                 "estimate). A marker after the replication's number says how it departs from the paper's:"),
           _Items(legend)]
    classes = card.set_index("table")
    for table, part in compared.groupby("table", sort=True):
        row = classes.loc[table]
        share = row["agreeing_share"]
        found = {k: sum(k in marks(r) for r in part[part["stat"] != "t"].itertuples()) for k in MARKS}
        text = (f"Class: {row['class']}." + (f" {share:.0%} of the cells that decide the class agree." if
                                              np.isfinite(share) else "")
                + (" Marked: " + ", ".join(f"{n} {MARKS[k][0]}" for k, n in found.items() if n) + "."
                   if any(found.values()) else " No cell is marked."))
        out += [_heading(_caption(table)), _Text(text), _Table(table_view(part))]
    return out


def _quality(data: pd.DataFrame, anomalies: pd.DataFrame | None, robust: dict[str, pd.DataFrame]) -> list:
    out = [_Text(f"The estimation sample: {_sample(data)}, in {data['province'].nunique()} provinces.")]
    top = data.dropna(subset=["Dist"]).nlargest(TOP, "Dist")
    columns = [c for c in ("city", "city_en", "province", "year", "Dist", "Dist_fill") if c in top]
    out += [_Text(f"The {len(top)} largest values of Dist in this run:"),
            _Table(top[columns].reset_index(drop=True), {"year": "{:.0f}", "Dist": "{:.3f}"})]
    if anomalies is None:
        out.append(_Text("The anomaly screen's list (anomalies.csv) was not given to this report."))
    else:
        kept = anomalies[anomalies["in_panel"].astype(bool)] if "in_panel" in anomalies else anomalies
        by_rule = (anomalies.assign(in_panel=anomalies.get("in_panel", True)).groupby("rule", sort=True)
                   .agg(**{"flagged cells": ("rule", "size"), "in the panel's cities": ("in_panel", "sum")})
                   .reset_index())
        refilled = kept["action"].str.startswith("set missing").sum() if len(kept) else 0
        out += [_Text(f"The anomaly screen of the panel build flagged {len(anomalies)} cells, {len(kept)} of them in "
                      f"cities of the panel; {refilled} of those were set missing and refilled by the fill rules "
                      "(data/processed/anomalies.csv, docs/METHODS.md section 8)."),
                _Table(by_rule)]
        if len(kept):
            most = (kept.groupby(["city", "city_en"]).size().rename("flagged cells").reset_index()
                    .sort_values(["flagged cells", "city"], ascending=[False, True]).head(TOP))
            out += [_Text(f"The {len(most)} cities of the panel with the most flagged cells:"),
                    _Table(most.reset_index(drop=True))]
    for key in ("tail", "flagged_tail", "coverage"):
        if key in robust:
            out += [_heading(ROBUSTNESS[key][0]), _Text(robustness_text(key, robust[key])), _Table(robust[key])]
    return out


def wild_summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every wild cluster bootstrap in the tidy tables: table, column, term, clustering, the wild p and
    95% interval, the cluster-robust t's p on the same clusters, clusters and draws."""
    rows: dict[tuple, dict] = {}
    for name in sorted(tables, key=lambda n: (len(n), n)):
        if not re.fullmatch(r"table\d+_stats", name):
            continue
        for r in tables[name].itertuples():
            parsed = parse_wild(r.stat) if isinstance(r.stat, str) else None
            if parsed is None or not parsed[0]:
                continue
            term, level, what = parsed
            key = (f"T{name[5:-6]}", r.column, term, level)
            rows.setdefault(key, {})[what] = r.value
    frame = pd.DataFrame([{"table": k[0], "column": k[1], "term": k[2], "clusters": k[3],
                           "wild p": v.get("p", np.nan), "t-test p": v.get("t_p", np.nan),
                           "wild 95% CI": (f"[{v['ci_low']:.4g}, {v['ci_high']:.4g}]"
                                           if np.isfinite(v.get("ci_low", np.nan)) else ""),
                           "G": v.get("G", np.nan), "draws": v.get("draws", np.nan)} for k, v in rows.items()])
    return frame


def _robustness(tables: dict[str, pd.DataFrame], data: pd.DataFrame, robust: dict[str, pd.DataFrame],
                multiverse: pd.DataFrame | None) -> list:
    out = [_heading("Wild cluster bootstrap")]
    wild = wild_summary(tables)
    if len(wild):
        both = wild.dropna(subset=["wild p", "t-test p"])
        agree = int(((both["wild p"] < 0.05) == (both["t-test p"] < 0.05)).sum())
        out += [_Text(f"{len(wild)} wild cluster restricted bootstraps (WCR, H0: coefficient = 0) in the tidy "
                      f"tables; {int((wild['wild p'] < 0.05).sum())} reject at 5%, against "
                      f"{int((wild['t-test p'] < 0.05).sum())} by the cluster-robust t test on the same clusters; "
                      f"the two agree on significance at 5% in {agree} of {len(both)}."),
                _Table(wild, {"wild p": "{:.3f}", "t-test p": "{:.3f}", "G": "{:.0f}", "draws": "{:.0f}"})]
    else:
        out.append(_Text("No wild cluster bootstrap is in this run's tidy tables."))
    if "variants" in robust:
        out += [_heading(ROBUSTNESS["variants"][0]), _Text(robustness_text("variants", robust["variants"])),
                _Table(robust["variants"])]
    english = (data.drop_duplicates("city").set_index("city")["city_en"].astype(str).str.strip()
               if "city_en" in data else None)
    if "inference" in robust:
        out += [_heading(ROBUSTNESS["inference"][0]), _Text(ROBUSTNESS["inference"][1] + "."),
                _Table(robust["inference"])]
    for key in ("loco", "loco_keep"):
        if key in robust:
            frame = robust[key]
            if english is not None:
                frame = frame.assign(**{c: [f"{x} ({english[x]})" if x in english.index else x for x in frame[c]]
                                        for c in ("city_at_min", "city_at_max") if c in frame})
            out += [_heading(ROBUSTNESS[key][0]), _Text(ROBUSTNESS[key][1]), _Table(frame)]
    out += [_heading("The multiverse"), *_multiverse(multiverse)]
    return out


def _multiverse(summary: pd.DataFrame | None) -> list:
    if summary is None:
        return [_Text("The multiverse was not run for this output directory (make multiverse).")]
    overall = summary[summary["group"] == "all"]
    columns = ["estimand", "specifications", "share_negative_5", "share_positive_5", "median_t", "min_t", "max_t"]
    view = overall[[c for c in columns if c in overall]].reset_index(drop=True)
    lines = [f"{r.estimand}: {r.share_negative_5:.0%} significantly negative and {r.share_positive_5:.0%} "
             f"significantly positive at 5% of {int(r.specifications)} specifications"
             for r in overall.itertuples()]
    return [_Text("Shares of the multiverse's specifications (multiverse/summary.csv, all panels): "
                  + "; ".join(lines) + "." if lines else "The multiverse's summary holds no overall row."),
            _Table(view, {"share_negative_5": "{:.0%}", "share_positive_5": "{:.0%}", "median_t": "{:.2f}",
                          "min_t": "{:.2f}", "max_t": "{:.2f}"})]


def _audit(checks: pd.DataFrame) -> list:
    bad = checks[checks["result"] == "inconsistent"]
    by_kind = "; ".join(f"{n} {kind}" for kind, n in bad["check"].value_counts(sort=False).items())
    out = [_Text(f"The paper checked against its own numbers and sentences: {len(checks)} checks, "
                 f"{len(checks) - len(bad)} consistent, {len(bad)} inconsistent" + (f" ({by_kind})." if len(bad)
                                                                                    else "."))]
    if len(bad):
        out.append(_Items([("", f"{r.table} {r.cell}: {r.computation}") for r in bad.itertuples()]))
    return out


def _others() -> list:
    links = [(f"{name}.md", f"{name}.html", what) for name, what in REPORTS]
    links += [(path, "", "executed and committed with its outputs, in the repository") for path in NOTEBOOKS]
    return [_Links(links)]
