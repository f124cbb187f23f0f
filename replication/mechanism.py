"""The six-indicator Dist and the sign of Dig: Table 5 (4) under each treatment of the shared term.

Mobile-phone and broadband users exist for the whole city only, so in the six-indicator Dist both
area scores share the term c = w_mobile x'_mobile + w_broadband x'_broadband, and
Dist = (s_n - s_d)^2 / (s_d + c)^2 falls whenever c rises.  `mechanism_table` refits Table 5 (4)
with c in both scores, removed, held at each city's mean and controlled, under every winsorising
and pooling choice, with the facts behind the algebra; `mechanism_section` turns the table into
the comparison report's section.  Computed once, by `make models` (tables/mechanism.csv); the
report and the multiverse read it.
"""

from __future__ import annotations

import dataclasses
import html
import itertools

import numpy as np
import pandas as pd

from replication import estimation
from replication.config import Options
from replication.figures import CLUSTERING
from replication.indices import analysis_frame, with_dist
from replication.models import STEPS, fit

SIGNIFICANCE = 0.05  # the level of every "significant" in the mechanism section and the multiverse

MECHANISM = {
    "four": "four indicators (the default)",
    "six": "six indicators: c in both area scores",
    "six_shared_removed": "six-indicator weights, c removed from both scores",
    "six_shared_fixed": "six indicators, c held at each city's mean",
    "six_shared_controlled": "six indicators, c as a regressor",
}


MECHANISM_GRID = {"winsorize": (0.0, 0.01, 0.05), "pooling": ("pooled", "by_year")}
COLUMNS = ["variant", "winsorize", "pooling", "statistic", "value"]


def mechanism_table(panel: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Table 5 column 4's Dig under each treatment of the shared whole-city term c (at `options`, and
    for every winsorising x pooling choice of MECHANISM_GRID), and the facts behind the algebra (c over
    time, its share of the district score, its within-city co-movement with Dig).
    Tidy: variant, winsorize, pooling, statistic, value."""
    rows = []
    settings = [(options.winsorize, options.pooling)]
    settings += [s for s in itertools.product(*MECHANISM_GRID.values()) if s not in settings]
    six = None
    for number, (share, pooling) in enumerate(settings):
        first = None
        for variant in MECHANISM:
            if number and variant == "six_shared_removed":
                continue  # identical to 'four'
            chosen = dataclasses.replace(options, dist_indicators=variant, winsorize=share, pooling=pooling)
            # Dig does not depend on dist_indicators: one analysis frame per setting, Dist redone per variant
            analysis = analysis_frame(panel, chosen) if first is None else with_dist(first, panel, chosen)
            first = first or analysis
            values = _dig_estimate(analysis, chosen) | (_dist_means(analysis.data) if not number else {})
            if not number and variant == "six":
                six = analysis
            rows += [(variant, share, pooling, name, float(value)) for name, value in values.items()]
    rows += [("six", options.winsorize, options.pooling, name, float(value))
             for name, value in _shared_term_facts(six).items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def _dig_estimate(analysis, options: Options) -> dict[str, float]:
    result = fit(analysis.data, "Dist", STEPS["(4)"], options)
    return {"estimate": result.params["Dig"], "std_error": result.std_errors["Dig"],
            "t_stat": result.tstats["Dig"], "p_value": result.pvalues["Dig"]}


def _dist_means(data: pd.DataFrame) -> dict[str, float]:
    years = data["year"]
    return {"nobs": len(data), "dist_mean": data["Dist"].mean(),
            "dist_mean_first_year": data.loc[years == years.min(), "Dist"].mean(),
            "dist_mean_last_year": data.loc[years == years.max(), "Dist"].mean()}


def _shared_term_facts(six) -> dict[str, float]:
    """c over time, its share of the district score and weight, and its (within) correlation with Dig."""
    c = six.dist.shared.to_numpy(float)
    data = six.data
    years = data["year"].to_numpy()
    within = estimation.within(np.column_stack([c, data["Dig"].to_numpy(float)]), data["city_code"].to_numpy(),
                               years, "twoway")
    return {
        "c_mean_first_year": c[years == years.min()].mean(), "c_mean_last_year": c[years == years.max()].mean(),
        "c_share_of_district_score": c.mean() / six.dist.score_district.mean(),
        "c_weight": six.dist.entropy.weights[["mobile", "internet"]].sum(),
        "corr_within_c_dig": np.corrcoef(within[:, 0], within[:, 1])[0, 1],
        "corr_c_dig": np.corrcoef(c, data["Dig"].to_numpy(float))[0, 1],
        "first_year": years.min(), "last_year": years.max(),
    }


# ---------------------------------------------------------------------------- the report's section


class _Lookup:
    """The table's values by (variant, statistic[, setting]); the setting defaults to the run's own."""

    def __init__(self, table: pd.DataFrame):
        self.own = table.iloc[0][["winsorize", "pooling"]].tolist()
        self.value = table.set_index(["variant", "winsorize", "pooling", "statistic"])["value"]
        self.settings = list(dict.fromkeys(map(tuple, table[["winsorize", "pooling"]].itertuples(index=False))))

    def __call__(self, variant, statistic, setting=None) -> float:
        return float(self.value.get((variant, *(setting or self.own), statistic), np.nan))

    def negative(self, variant, setting) -> bool:
        return self(variant, "p_value", setting) < SIGNIFICANCE and self(variant, "estimate", setting) < 0


def _paragraphs(get: _Lookup) -> list[str]:
    first, last = int(get("six", "first_year")), int(get("six", "last_year"))
    own = get.own
    return [
        "Mobile-phone and broadband users per 100 people exist for the whole city only, so in the "
        "six-indicator Dist both areas take the whole-city rate. After the pooled standardisation both "
        "area scores contain the same term c = w_mobile x'_mobile + w_broadband x'_broadband: the scores "
        "are s_n + c and s_d + c, with s_n and s_d the parts from the four indicators the yearbook splits "
        "by area. Hence Dist = ((s_n + c) / (s_d + c) - 1)^2 = (s_n - s_d)^2 / (s_d + c)^2: for a fixed "
        "service gap s_n - s_d, Dist falls whenever c rises, that is whenever phone and broadband "
        "penetration rises.",
        f"In these data c averages {get('six', 'c_mean_first_year'):.3f} in {first} and "
        f"{get('six', 'c_mean_last_year'):.3f} in {last} (weight of the two series: {get('six', 'c_weight'):.2f}; "
        f"c is {get('six', 'c_share_of_district_score'):.0%} of the average district score). The same two "
        "series are two of Dig's five indicators: within cities and years, c and Dig correlate at "
        f"{get('six', 'corr_within_c_dig'):.2f}. The mean six-indicator Dist moves from "
        f"{get('six', 'dist_mean_first_year'):.3f} to {get('six', 'dist_mean_last_year'):.3f} over the period, "
        f"the four-indicator Dist from {get('four', 'dist_mean_first_year'):.3f} to "
        f"{get('four', 'dist_mean_last_year'):.3f}.",
        "Removing c from both scores gives the four-indicator Dist exactly: entropy weights are computed "
        "column by column (w_j = d_j / sum d), so the four split indicators keep the four-indicator weights "
        "times one common factor, which cancels in R. Holding c at each city's mean keeps its level but "
        "not its movement; controlling for c keeps the six-indicator Dist and adds c as a regressor.",
        f"Dig's coefficient in Table 5 column 4 with the package's options (winsorize = {own[0]}, pooling = "
        f"{own[1]}), and its t under every winsorising and pooling choice:",
    ]


def _tables(get: _Lookup) -> tuple[tuple[list, list], tuple[list, list]]:
    """(header, rows) of the estimates at the run's setting and of t across the settings."""
    header = ["Dist", "Dig (Table 5 col. 4)", "SE", "t", "p", "mean Dist"]
    lines = [[label, f"{get(v, 'estimate'):.4f}", f"{get(v, 'std_error'):.4f}", f"{get(v, 't_stat'):.2f}",
              f"{get(v, 'p_value'):.3f}", f"{get(v, 'dist_mean'):.3f}"] for v, label in MECHANISM.items()]
    shown = [v for v in MECHANISM if v != "six_shared_removed"]
    cross_header = ["t of Dig", *[f"w={w:g}, {p}" for w, p in get.settings]]

    def cell(variant, setting):
        t, p = get(variant, "t_stat", setting), get(variant, "p_value", setting)
        return f"{t:.2f}{'*' if p < SIGNIFICANCE else ''}"

    cross = [[MECHANISM[v], *[cell(v, s) for s in get.settings]] for v in shown]
    return (header, lines), (cross_header, cross)


def _meaning(get: _Lookup) -> str:
    settings = get.settings
    six_negative = [s for s in settings if get.negative("six", s)]
    if not six_negative:
        return (
            f"Here the six-indicator Dist gives no significantly negative coefficient in any of the {len(settings)} "
            "winsorising and pooling choices; the mechanism still pushes any six-indicator estimate toward a "
            "negative sign whenever penetration rises, so a negative coefficient from such a Dist is not "
            "evidence that the service gap narrowed.")
    others = {v: sum(get.negative(v, s) for s in six_negative) for v in ("four", "six_shared_fixed", "six_shared_controlled")}
    strongest = min(six_negative, key=lambda s: get("six", "t_stat", s))
    return (
        f"The six-indicator Dist gives Dig a significantly negative coefficient in {len(six_negative)} of the "
        f"{len(settings)} winsorising and pooling choices (strongest with winsorize = {strongest[0]:g} and "
        f"pooling = {strongest[1]}: t = {get('six', 't_stat', strongest):.2f}); in those same choices the "
        f"four-indicator Dist does so {others['four']} times, the six-indicator Dist with c held at each city's "
        f"mean {others['six_shared_fixed']} times and with c controlled {others['six_shared_controlled']} times. "
        "A significantly negative Dig from the six-indicator Dist therefore comes from the construction of "
        "Dist: rising phone and broadband penetration lowers Dist and raises Dig at once, with no change "
        "in any service the two areas receive. Such a coefficient cannot support the paper's reading that "
        "digital technology narrows the urban-rural public-service gap.")


def _md_table(head, body) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|",
            *["| " + " | ".join(line) + " |" for line in body]]


def _html_table(head, body) -> list[str]:
    return ["<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>",
            *["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>" for line in body],
            "</tbody></table>"]


def mechanism_section(table: pd.DataFrame, options=None) -> tuple[str, str]:
    """The comparison report's section on the six-indicator Dist: the algebra, the numbers of
    `mechanism_table` (computed at `options`, whose covariance the note names), and what they mean for
    the paper's result -> (markdown, html)."""
    get = _Lookup(table)
    paragraphs, meaning = _paragraphs(get), _meaning(get)
    (header, lines), (cross_header, cross) = _tables(get)
    title = "The six-indicator Dist and the sign of Dig"
    errors = CLUSTERING[options.cov_type] if options is not None else "this run's standard errors"
    note = f"Starred: p < 0.05 ({errors})."
    md = [f"## {title}", "", *[p + "\n" for p in paragraphs], *_md_table(header, lines), "",
          *_md_table(cross_header, cross), "", note, "", meaning, ""]
    body = [f"<h2>{html.escape(title)}</h2>", *[f"<p>{html.escape(p)}</p>" for p in paragraphs],
            *_html_table(header, lines), *_html_table(cross_header, cross), f"<p>{html.escape(note)}</p>",
            f"<p>{html.escape(meaning)}</p>"]
    return "\n".join(md), "\n".join(body)
