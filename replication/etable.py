"""One regression table from fitted models, in the spirit of pyfixest's (and fixest's) ``etable``.

    etable({"(1)": fitted(data, "Dist", ["Dig"], options), "(2)": fitted(data, "Dist", ["Dig", "Ur"], options)},
           keep=["Dig", "Ur"], labels=LABELS, statistic="se", stats=("nobs", "r2_within", "adj_r2_within"))

returns a ``render.Grid``, which ``render`` writes as Markdown, LaTeX (booktabs, dcolumn,
threeparttable), HTML (great-tables) and Word (``to_docx``, python-docx).  The paper's Tables 5-9
are laid out by the same function (``render.regression_grid`` reads their tidy CSVs through
``from_tidy``), so a user's own table is built the way the paper's are.

A ``Model`` is the small adapter between a fit and a table: the tidy coefficients (term, estimate,
std_error, t_stat, p_value), the t degrees of freedom, the model statistics and the levels of each
fixed effect.  ``from_fit`` reads an ``estimation.FitResult``, ``from_iv`` an ``IVResult`` (its
second stage, with the diagnostics as statistics), ``from_tidy`` one column of the tidy CSVs.

Why not pyfixest's ``etable`` itself: it takes pyfixest's own fitted objects (Feols), and the
paper's tables are estimated by ``estimation.py`` with Stata's cluster convention and read back from
CSVs; its output has no decimal alignment in LaTeX and no Word export.  What is kept from it: the
names (keep, drop, labels, model heads), regular expressions in keep and drop, and fixest's
definitions of the adjusted R² (``adjusted_r2``), which ``tests/test_etable.py`` pins to pyfixest.

The constant: under two-way fixed effects reghdfe and fixest report none (it is not identified
apart from the effects); ``estimation`` computes Stata's ``xtreg, fe`` constant (ȳ − x̄′b) and the
tidy CSVs keep it, but a table hides it unless ``constant=True``, and says so in its notes.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as st

from replication.render import MINUS, Cell, Grid, Row, number, stars as star_count

CONSTANT = "_cons"
STATISTICS = ("t", "se", "p", "ci")  # what may stand under a coefficient
UNDER = {"t": "t statistics in parentheses", "se": "Standard errors in parentheses",
         "p": "p-values in parentheses", "ci": "95% confidence intervals in brackets"}

# model statistics a table can show: name -> (label, decimals); any other statistic of a model
# (a diagnostic) is shown under its label in `labels`, or its name, with 3 decimals
STAT_ROWS = {
    "cov_label": ("Standard errors", None),
    "nclusters": ("Clusters", 0),
    "nobs": ("N", 0),
    "n_singletons": ("Singleton observations dropped", 0),
    "n_dropped_missing": ("Observations dropped (missing values)", 0),
    "mean_dep": ("Mean of dependent variable", 3),
    "r2_overall": ("R²", 4),
    "adj_r2": ("Adjusted R²", 4),
    "r2_within": ("Within R²", 4),
    "adj_r2_within": ("Within adjusted R²", 4),
    "rmse": ("RMSE", 4),
}
DEFAULT_STATS = ("cov_label", "nclusters", "nobs", "r2_overall", "r2_within", "adj_r2_within")
STAT_DEFINITIONS = {
    "adj_r2": "Adjusted R²: 1 − (1 − R²)(N − 1)/(N − K), K counting the slopes and every fixed-effect level "
              "(fixest's and pyfixest's adj_r2).",
    "adj_r2_within": "Within adjusted R²: 1 − (1 − within R²)(N − K_FE)/(N − K_FE − k), k slopes, K_FE the "
                     "fixed-effect levels less one per effect but one (fixest's and pyfixest's adj_r2_within).",
    "rmse": "RMSE: the root of SSR/N.",
}
COV_LABELS = {"cluster": "clustered", "robust": "robust (HC1)", "driscoll_kraay": "Driscoll-Kraay",
              "unadjusted": "conventional"}
FE_LABELS = {"city_code": "City", "city": "City", "year": "Year", "province": "Province",
             "entity": "City", "time": "Year"}  # estimation.Design: the entity is the city, the time the year


@dataclass(frozen=True)
class Model:
    """What a table needs of one fitted model."""

    coefficients: pd.DataFrame  # term, estimate, std_error, t_stat, p_value
    stats: Mapping[str, float] = field(default_factory=dict)
    dependent: str = ""
    fixed_effects: Mapping[str, int | None] = field(default_factory=dict)  # effect -> levels (None: unknown)
    df: float | None = None  # t degrees of freedom of the intervals; None: the normal
    cov_label: str = ""

    def row(self, term: str) -> pd.Series | None:
        hit = self.coefficients[self.coefficients["term"] == term]
        return None if hit.empty else hit.iloc[0]

    @property
    def terms(self) -> list[str]:
        return list(self.coefficients["term"])


def adjusted_r2(r2: float, r2_within: float, nobs: int, slopes: int,
                levels: Mapping[str, int | None]) -> dict[str, float]:
    """fixest's adjusted R² and within adjusted R² (pyfixest's `_adj_r2`, `_adj_r2_within`):
    K_FE = sum(levels − 1) + 1;  adj = 1 − (1 − R²)(N − 1)/(N − k − K_FE);
    within adj = 1 − (1 − R²_w)(N − K_FE)/(N − k − K_FE).  Empty when a level count is unknown."""
    if not levels or any(v is None for v in levels.values()):
        return {}
    k_fe = sum(v - 1 for v in levels.values()) + 1
    denominator = nobs - slopes - k_fe
    if denominator <= 0:
        return {}
    return {"adj_r2": 1 - (1 - r2) * (nobs - 1) / denominator,
            "adj_r2_within": 1 - (1 - r2_within) * (nobs - k_fe) / denominator}


def _model_stats(nobs, r2, r2_within, mean_dep, nclusters, slopes, levels, ssr=None, extra=None) -> dict:
    out = {"nobs": nobs, "r2_overall": r2, "r2_within": r2_within, "mean_dep": mean_dep}
    if nclusters is not None:
        out["nclusters"] = nclusters
    if ssr is not None:
        out["rmse"] = math.sqrt(ssr / nobs)
    out.update(adjusted_r2(r2, r2_within, nobs, slopes, levels))
    out.update(extra or {})
    return out


def from_fit(fit, dependent: str = "", levels: Mapping[str, int | None] | None = None, cov_label: str = "",
             extra: Mapping[str, float] | None = None) -> Model:
    """A Model of an ``estimation.FitResult``; `levels` ({effect: number of levels}) gives the fixed-effect
    rows their counts and the adjusted R² (or ``fit.extra['levels']`` when the fit records them)."""
    levels = dict(levels if levels is not None else fit.extra.get("levels", {}))
    slopes = int(sum(term != CONSTANT for term in fit.params.index))
    stats_ = _model_stats(fit.nobs, fit.rsquared, fit.rsquared_within, fit.mean_dep, fit.nclusters, slopes, levels,
                          fit.extra.get("ssr"), extra)
    stats_ |= {"n_singletons": fit.n_singletons, "n_dropped_missing": fit.n_dropped_missing}
    df = None if fit.df_resid >= 10**9 else float(fit.df_resid)
    label = cov_label or COV_LABELS.get(fit.cov_type, fit.cov_type)
    return Model(fit.tidy(), stats_, dependent, levels, df, label)


def from_iv(result, dependent: str = "", levels: Mapping[str, int | None] | None = None, cov_label: str = "",
            stage: str = "second") -> Model:
    """The second (or first) stage of an ``estimation.IVResult``, its diagnostics (first-stage F, ...) as
    statistics."""
    diagnostics = {k: v for k, v in result.diagnostics.items() if not k.startswith("r2_")}
    return from_fit(getattr(result, stage), dependent, levels, cov_label, diagnostics)


def fitted(data: pd.DataFrame, y: str, x: list[str], options, cov_label: str | None = None) -> Model:
    """Table 5's model of y on x under `options` (``models.fit``), with the city and year levels of its
    estimation sample counted (``models.complete_sample``, the rows the fit uses)."""
    from replication import models
    from replication.registry import SE_TYPES

    result = models.fit(data, y, x, options)
    regressors = [*x, *(c for c in models.shared_control(options) if c not in x)]
    sample = models.complete_sample(data, [y, *regressors], options)[0]
    if len(sample) != result.nobs:  # the two rules must agree; a mismatch is a bug, said plainly
        raise ValueError(f"etable.fitted: {len(sample)} rows in the complete sample, {result.nobs} in the fit")
    levels = {"city_code": int(sample["city_code"].nunique()), "year": int(sample["year"].nunique())}
    label = cov_label or SE_TYPES[options.cov_type].format(dk_bandwidth=options.dk_bandwidth)
    return from_fit(result, y, levels, label)


def from_tidy(coefficients: pd.DataFrame, stats_: pd.DataFrame, column: str, dependent: str = "",
              fixed_effects: Sequence[str] = ("city_code", "year"), cov_label: str = "",
              df: float | None = None) -> Model:
    """One column of the tidy CSVs (tableN.csv: column, term, ...; tableN_stats.csv: column, stat, value).
    Level counts come from the stats ``fe_levels_<effect>`` when the models step wrote them; the
    t degrees of freedom from `df`, else the stat ``df_t``, else G − 1 when the column has clusters
    (Stata's convention)."""
    part = coefficients[coefficients["column"] == column]
    values = stats_[stats_["column"] == column].set_index("stat")["value"]
    stat = {k: float(v) for k, v in values.items()}
    levels = {fe: (int(stat[f"fe_levels_{fe}"]) if f"fe_levels_{fe}" in stat else None) for fe in fixed_effects}
    slopes = int(sum(term != CONSTANT for term in part["term"]))
    if "nobs" in stat and "r2_within" in stat and "r2_overall" in stat:
        stat |= adjusted_r2(stat["r2_overall"], stat["r2_within"], int(stat["nobs"]), slopes, levels)
    if df is None and np.isfinite(stat.get("df_t", np.nan)):  # the degrees of freedom the models step used
        df = stat["df_t"]
    elif df is None and np.isfinite(stat.get("nclusters", np.nan)):
        df = stat["nclusters"] - 1
    tidy = part[["term", "estimate", "std_error", "t_stat", "p_value"]].reset_index(drop=True)
    return Model(tidy, stat, dependent, levels, df, cov_label)


# ---------------------------------------------------------------------------- the table


def select(terms: list[str], keep=None, drop=None, order=None) -> list[str]:
    """The terms kept (any pattern of `keep` matches, by re.search; all when None), less those a pattern of
    `drop` matches, sorted by the first pattern of `order` they match (the rest after, as they came)."""
    def patterns(value):
        return [value] if isinstance(value, str) else list(value or [])

    chosen = [t for t in terms if keep is None or any(re.search(p, t) for p in patterns(keep))]
    chosen = [t for t in chosen if not any(re.search(p, t) for p in patterns(drop))]
    ranks = patterns(order)

    def rank(term):
        hits = [i for i, p in enumerate(ranks) if re.fullmatch(p, term) or re.search(p, term)]
        return hits[0] if hits else len(ranks)

    return sorted(chosen, key=lambda t: (rank(t), chosen.index(t)))


def _under(row: pd.Series, statistic: str, decimals: int, df: float | None) -> Cell:
    if statistic == "t":
        return number(row["t_stat"], 2, paren=True)
    if statistic == "se":
        return number(row["std_error"], decimals, paren=True)
    if statistic == "p":
        return number(row["p_value"], 3, paren=True)
    critical = st.norm.ppf(0.975) if df is None else st.t.ppf(0.975, df)
    low, high = row["estimate"] - critical * row["std_error"], row["estimate"] + critical * row["std_error"]
    if not (np.isfinite(low) and np.isfinite(high)):
        return Cell()
    text = "[" + ", ".join(number(v, decimals).text for v in (low, high)) + "]"
    return Cell(text.replace("-", MINUS))


def etable(models: Mapping[str, Model] | Sequence[Model], *, keep=None, drop=None, order=None,
           labels: Mapping[str, str] | None = None, statistic: str = "t", decimals: int = 4,
           stats: Sequence[str | tuple[str, int]] = DEFAULT_STATS, heads: Sequence[str] | None = None,
           groups: Sequence[tuple[str, int]] = (), dependent: bool = True, fixed_effects: bool = True,
           constant: bool | None = None, stars: tuple[float, ...] | None = (0.10, 0.05, 0.01),
           rows: Sequence[tuple[str, Sequence[str]]] = (), notes: Sequence[str] = (),
           short_notes: Sequence[str] | None = None, caption: str = "", number_: str = "",
           name: str = "etable") -> Grid:
    """A regression table: one column per model (mapping keys or `heads` as the model heads, `groups` as
    (label, span) over them), the coefficients chosen by keep/drop/order and named by `labels`, the
    `statistic` (t, se, p or ci) under each, then `rows` (label, one text per model: e.g. controls),
    one row per fixed effect with its number of levels, and the `stats` rows the models have (a name,
    or (name, decimals)); `stars` the p thresholds of *, **, *** (None: no stars).  `notes` go after the
    ones etable writes (what is in parentheses, the constant, the definitions); `short_notes` are the
    LaTeX table's (default: the first two of those)."""
    if statistic not in STATISTICS:
        raise ValueError(f"etable: statistic {statistic!r}: expected one of {', '.join(STATISTICS)}")
    if isinstance(models, Mapping):
        heads = list(heads or models.keys())
        models = list(models.values())
    else:
        models = list(models)
        heads = list(heads or [f"({i + 1})" for i in range(len(models))])
    if len(heads) != len(models):
        raise ValueError(f"etable: {len(heads)} heads for {len(models)} models")
    if groups and sum(span for _, span in groups) != len(models):
        raise ValueError(f"etable: the groups span {sum(s for _, s in groups)} columns, the table has {len(models)}")
    labels = dict(labels or {})
    with_fe = any(m.fixed_effects for m in models)
    show_constant = (not with_fe) if constant is None else constant
    terms = list(dict.fromkeys(t for m in models for t in m.terms))
    if not show_constant:
        terms = [t for t in terms if t != CONSTANT]
    terms = select(terms, keep, drop, order)
    if not terms:
        raise ValueError(f"etable: no coefficient left (keep={keep!r}, drop={drop!r})")
    body: list[Row] = []
    if dependent and any(m.dependent for m in models):
        body.append(Row("Dependent variable", tuple(Cell(m.dependent) for m in models)))
    for term in terms:
        top, bottom = [], []
        for m in models:
            row = m.row(term)
            if row is None:
                top.append(Cell())
                bottom.append(Cell())
                continue
            top.append(number(row["estimate"], decimals, star_count(row["p_value"], stars) if stars else 0))
            bottom.append(_under(row, statistic, decimals, m.df))
        body += [Row(labels.get(term, term), tuple(top)), Row("", tuple(bottom))]
    lower = [Row(label, tuple(Cell(t) for t in texts)) for label, texts in rows]
    if fixed_effects:
        effects = list(dict.fromkeys(fe for m in models for fe in m.fixed_effects))
        for fe in effects:
            cells = []
            for m in models:
                if fe not in m.fixed_effects:
                    cells.append(Cell("No"))
                else:
                    count = m.fixed_effects[fe]
                    cells.append(Cell("Yes" if count is None else f"Yes ({count})"))
            lower.append(Row(f"{labels.get(fe, FE_LABELS.get(fe, fe))} fixed effects", tuple(cells)))
    shown = []
    for item in stats:
        stat, places = (item, None) if isinstance(item, str) else item
        if stat == "cov_label":
            if any(m.cov_label for m in models):
                lower.append(Row(STAT_ROWS[stat][0], tuple(Cell(m.cov_label) for m in models)))
            continue
        values = [m.stats.get(stat, np.nan) for m in models]
        if not any(np.isfinite(v) for v in values):
            continue
        label, default = STAT_ROWS.get(stat, (labels.get(stat, stat), 3))
        places = default if places is None else places
        lower.append(Row(labels.get(stat, label), tuple(number(float(v), places) for v in values)))
        shown.append(stat)
    if lower:
        lower[0] = Row(lower[0].label, lower[0].cells, lower[0].indent, True)
    body += lower
    defined = [STAT_DEFINITIONS[s] for s in shown if s in STAT_DEFINITIONS]
    constant_note = ([] if show_constant or CONSTANT not in {t for m in models for t in m.terms} else
                     ["The constant is not shown: under two-way fixed effects it is not identified apart from the "
                      "effects, and reghdfe and fixest report none (Stata's xtreg, fe constant is in the tidy CSV)."])
    notes_all = [UNDER[statistic] + ".", *constant_note, *defined, *notes]
    short = list(short_notes) if short_notes is not None else [UNDER[statistic] + ".", *constant_note]
    return Grid(name, number_, caption, ("", *heads), tuple(body), tuple(notes_all),
                tuple(stars) if stars else None, ".", groups=tuple(groups), short_notes=tuple(short))


# ---------------------------------------------------------------------------- runs side by side


def differing(records: Sequence[Mapping[str, object]]) -> list[str]:
    """The option names whose values are not the same in every record (in the first record's order)."""
    names = list(dict.fromkeys(name for record in records for name in record))
    return [name for name in names if len({repr(record.get(name)) for record in records}) > 1]


def side_by_side(runs: Mapping[str, tuple[pd.DataFrame, pd.DataFrame, Mapping[str, object]]], entry, column: str,
                 options) -> Grid:
    """One column of a paper table from several runs, next to each other: `runs` maps a run's name (its
    output directory) to its tidy coefficients, its stats and the options its models were made with
    (models.manifest.json); the heads are the options that differ between the runs, each run's
    standard errors are its own.  `options` sets only the rendering (statistic, stars)."""
    from replication.config import STAR_THRESHOLDS, Options
    from replication.registry import LABELS, SE_TYPES

    layout = entry.layout
    keys = {key: head for key, head in layout.columns}
    key = column if column in keys else next((k for k, h in keys.items() if h == column), None)
    if key is None:
        raise ValueError(f"Table {entry.number}: no column {column!r}; expected one of "
                         + ", ".join(dict.fromkeys([*keys, *keys.values()])))
    dependent = dict(zip(keys, layout.dependent))[key]
    records = [dict(record) for _, _, record in runs.values()]
    changed = differing(records)
    models, heads = [], []
    for (name, (coefficients, stats_, record)), position in zip(runs.items(), range(len(runs))):
        if not (coefficients["column"] == key).any():
            raise ValueError(f"{name}: Table {entry.number} has no column {key!r}")
        fields = {k: v for k, v in record.items() if k in Options.__dataclass_fields__}
        recorded = Options(**fields)
        label = SE_TYPES[recorded.cov_type].format(dk_bandwidth=recorded.dk_bandwidth)
        models.append(from_tidy(coefficients, stats_, key, dependent, cov_label=label))
        heads.append(", ".join(f"{k}={record.get(k)}" for k in changed) if changed else f"({position + 1})")
    from replication.render import _column_stats

    combined = pd.concat([stats_[stats_["column"] == key].assign(column=name) for name, (_, stats_, _) in runs.items()])
    stats_shown, defined = _column_stats(combined.set_index(["column", "stat"])["value"], list(runs))
    runs_note = "; ".join(f"({i + 1}) {name}" for i, name in enumerate(runs))
    notes = [f"Table {entry.number}, column {keys[key]}, from {len(runs)} runs: {runs_note}. The heads are the "
             "options that differ between the runs (their models.manifest.json)"
             + ("." if changed else "; none differs."), *defined]
    table = etable(models, heads=heads, keep=[f"^{re.escape(t)}$" for t in layout.terms],
                   order=[f"^{re.escape(t)}$" for t in layout.terms], labels=LABELS, statistic=options.parentheses,
                   decimals=layout.decimals, stats=stats_shown, stars=STAR_THRESHOLDS[options.stars], notes=notes,
                   caption=f"{entry.caption}, column {keys[key]}, side by side",
                   number_=entry.number, name=f"{entry.name}_side_by_side")
    return dataclasses.replace(table, short_notes=(*table.short_notes, notes[0]))  # LaTeX names the runs too
