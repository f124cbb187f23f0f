"""The case-study layer: what every case report shares (the Guangxi case, seed 000, in
``replication.guangxi``; the ethnic regions, seed 004, in ``replication.ethnic``).

A case is a row of settings (``Case``: its name, title, the group's label and the provinces it
covers); the layer turns it into the pieces every case report has: the group's Dist and Dig medians
beside the rest of the West and all cities (``medians``, ``medians_grid``), the two-panel index
figure drawn from a list of lines (``IndexFigure``, ``index_figure``), Table 5 column 4's regressors
and the paper's coefficient (``MODEL``, ``paper_dig``), the wild cluster restricted bootstrap with
the case's clustering (``wild``), the rows of a coefficient table (``coefficient``), tables by group
and year (``per_group_year``) and the tidy model rows (``fit_rows``, ``wild_rows``), and the report itself: sections rendered to Markdown and HTML (``Section``, ``render``) and every file of
the case ({relative path: text or bytes}, ``outputs``).  A module of a case keeps only the
computations and the sentences that are its own.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from replication import figures  # noqa: E402  (figures.save_figure, so a test can replace it)
from replication.config import Options  # noqa: E402
from replication.estimation import FitResult  # noqa: E402
from replication.figures import integer_years  # noqa: E402
from replication.models import STEPS  # noqa: E402
from replication.published import cell  # noqa: E402
from replication.render import page, plain_grid, to_html, to_markdown  # noqa: E402
from replication.wild import WildResult, wild_bootstrap  # noqa: E402

from replication.models import MODEL  # noqa: E402  (Table 5 column 4: Dig and the four controls)
PAPER_CELL = ("T5", "(4)", "Dig", "estimate")  # the paper's Dig coefficient, a cell of published.csv
REST_OF_WEST, NATIONAL = "Rest of the West", "All cities"
WILD_STATS = ("t_stat", "p_symmetric", "p_equal_tailed", "ci_low", "ci_high", "draws")


@dataclass(frozen=True)
class Case:
    """The settings of one case report."""

    name: str  # reports/<name>.md, tables/<name>_*.csv, figures/<name>_*.png
    title: str
    label: str  # the group in tables and legends: 'Guangxi', 'Ethnic provinces'
    provinces: tuple[str, ...]  # the panel's province names of the group

    def members(self, frame: pd.DataFrame) -> pd.Series:
        """True for the rows of the group's cities."""
        return frame["province"].isin(list(self.provinces))

    def rest_of_west(self, frame: pd.DataFrame) -> pd.Series:
        """True for the rows of the western cities outside the group."""
        return (frame["region"] == "West") & ~self.members(frame)


def paper_dig(published: pd.DataFrame) -> float:
    """The paper's Table 5 column 4 coefficient of Dig (data/reference/published.csv)."""
    value = cell(published, *PAPER_CELL)
    if not np.isfinite(value):
        raise ValueError(f"published.csv: no cell {' '.join(PAPER_CELL)}; expected the paper's Table 5 (4) Dig")
    return value


# ---------------------------------------------------------------------------- the group beside the others


def medians(frame: pd.DataFrame) -> pd.DataFrame:
    """Per year the median Dist and Dig over the cities of `frame` and how many cities there are
    (year, Dist, Dig, cities)."""
    out = frame.groupby("year")[["Dist", "Dig"]].median().reset_index()
    out["cities"] = frame.groupby("year")["city_code"].nunique().to_numpy()
    return out


def medians_grid(wide: pd.DataFrame, columns: dict[str, str], note: str):
    """The table 'Medians of Dist and Dig by year': `wide` is indexed by year with (variable, key)
    columns; `columns` maps each key to its label in the heads ('Dist rest of West')."""
    table = pd.DataFrame({"year": wide.index.astype(str)})
    for variable in ("Dist", "Dig"):
        for key, label in columns.items():
            table[f"{variable} {label}"] = wide[(variable, key)].to_numpy()
    return plain_grid("Medians of Dist and Dig by year", table, {c: c for c in table.columns}, {}, [note])


@dataclass(frozen=True)
class Line:
    """One line of the index figure: `frame` holds year, Dist and Dig."""

    frame: pd.DataFrame
    label: str | None
    style: str = "-"
    color: str = "black"
    width: float = 1.0
    alpha: float | None = None


@dataclass(frozen=True)
class IndexFigure:
    """Dist (left) and Dig (right) by year, one line per entry of `lines`, drawn in order."""

    lines: list[Line]
    title: str
    axis_titles: tuple[str, str]
    ylabels: tuple[str, str]
    height: float
    legend_columns: int
    bottom: float  # room under the axes for the figure's legend (a fraction of the height)
    log_dist: bool = False
    years: list[int] = field(default_factory=list)


def index_figure(spec: IndexFigure) -> dict[str, bytes]:
    """The figure of an ``IndexFigure`` as {'png': ..., 'pdf': ...}."""
    figure, axes = plt.subplots(1, 2, figsize=(9.5, spec.height), sharex=True)
    for axis, variable in zip(axes, ("Dist", "Dig")):
        for line in spec.lines:
            extra = {} if line.alpha is None else {"alpha": line.alpha}
            axis.plot(line.frame["year"], line.frame[variable], line.style, color=line.color, linewidth=line.width,
                      label=line.label, **extra)
        axis.set_xlabel("Year")
        integer_years(axis, spec.years, most=6)
    if spec.log_dist:
        axes[0].set_yscale("log")
    for axis, label, title in zip(axes, spec.ylabels, spec.axis_titles):
        axis.set_ylabel(label)
        axis.set_title(title, fontsize=9)
    figure.suptitle(spec.title, fontsize=10)
    figure.tight_layout(rect=(0, spec.bottom, 1, 1))
    figure.legend(*axes[1].get_legend_handles_labels(), loc="lower center", ncol=spec.legend_columns, frameon=False,
                  fontsize=7.5)
    return figures.save_figure(figure)


# ---------------------------------------------------------------------------- the model


def wild(frame: pd.DataFrame, x: list[str], options: Options, *, term: str = "Dig", cluster: str = "province",
         time: str = "year", every_sign: bool = False) -> WildResult:
    """Wild cluster restricted bootstrap of `term` = 0 in Dist on `x` with city and `time` effects, 95%
    interval by test inversion.  `every_sign`: all 2^G Rademacher sign vectors, whatever the options
    (exact p-values, no seed); otherwise ``options.wild_weights``, enumerated when 2^G <= wild_draws."""
    settings = (dict(weights="rademacher", enumerate=True) if every_sign else
                dict(weights=options.wild_weights, draws=options.wild_draws, enumerate="auto"))
    return wild_bootstrap(frame, "Dist", x, term=term, cluster=cluster, entity="city_code", time=time,
                          effects="twoway", restricted=True, seed=options.seed, ci=True, level=0.95, **settings)


def coefficient(result: FitResult, term: str = "Dig", **labels) -> dict:
    """One row of a report's coefficient table: `labels` first, then the term, its estimate, SE, t and
    p, N and the clusters (NaN without clustering)."""
    return {**labels, "term": term, "estimate": result.params[term], "std_error": result.std_errors[term],
            "t_stat": result.tstats[term], "p_value": result.pvalues[term], "nobs": result.nobs,
            "clusters": np.nan if result.nclusters is None else result.nclusters}


def per_group_year(parts: list[tuple[str, pd.DataFrame]], compute) -> pd.DataFrame:
    """One row per group of `parts` ((name, rows)) and year: group, year, what `compute(rows of the
    year)` returns (a dict), and the number of cities."""
    return pd.DataFrame([{"group": name, "year": int(year), **compute(rows), "cities": rows["city_code"].nunique()}
                         for name, part in parts for year, rows in part.groupby("year")])


def fit_rows(sample: str, result: FitResult, terms: list[str]) -> list[tuple]:
    """Tidy rows (sample, term, stat, value) of one regression: each term's estimate, SE, t and p, then
    N, clusters and the within R²."""
    rows = [(sample, term, stat, float(series[term])) for term in terms
            for stat, series in (("estimate", result.params), ("std_error", result.std_errors),
                                 ("t_stat", result.tstats), ("p_value", result.pvalues))]
    return rows + [(sample, "", "nobs", float(result.nobs)),
                   (sample, "", "nclusters", np.nan if result.nclusters is None else float(result.nclusters)),
                   (sample, "", "r2_within", float(result.rsquared_within))]


def wild_rows(sample: str, w: WildResult, stats: tuple[str, ...] = WILD_STATS) -> list[tuple]:
    """Tidy rows of one wild bootstrap: `stats` as wild_<stat>, then whether it enumerated."""
    return ([(sample, w.term, f"wild_{name}", float(getattr(w, name))) for name in stats]
            + [(sample, w.term, "wild_enumerated", float(bool(w.enumerated)))])


def tidy(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sample", "term", "stat", "value"])


# ---------------------------------------------------------------------------- the report


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def options_words(options: Options) -> str:
    """The run's non-default options, 'name=value, ...', or 'none'."""
    return ", ".join(f"{k}={v}" for k, v in options.non_default().items()) or "none"


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: list[str]
    grids: list = ()
    figures: tuple[str, ...] = ()
    headline: str = ""  # one line for the report's summary


def render(title: str, intro: str, sections: list[Section]) -> tuple[str, str]:
    """Markdown and HTML of a case report: title, intro, one line per section, then the sections with
    their paragraphs, figures and tables."""
    md = [f"# {title}", "", intro, "", "**In brief.**", ""]
    md += [f"- {section.headline}" for section in sections] + [""]
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(intro)}</p>", "<p><b>In brief.</b></p><ul>",
            *[f"<li>{html.escape(section.headline)}</li>" for section in sections], "</ul>"]
    for section in sections:
        md += [f"## {section.title}", ""]
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        for paragraph in section.paragraphs:
            md += [paragraph, ""]
            body.append(f"<p>{html.escape(paragraph)}</p>")
        for figure in section.figures:
            md += [f"![{section.title}](../figures/{figure}.png)", ""]
            body.append(f"<p><img src=\"../figures/{figure}.png\" alt=\"{html.escape(section.title)}\" "
                        "style=\"max-width:100%\"></p>")
        for grid in section.grids:
            md += [to_markdown(grid)]
            body.append(to_html(grid, standalone=False))
    return "\n".join(md).rstrip() + "\n", page(title, "\n".join(body) + "\n")


def outputs(case: Case, tables: dict[str, pd.DataFrame], drawn: dict[str, dict[str, bytes]], intro: str,
            sections: list[Section]) -> dict[str, str | bytes]:
    """Every file of a case: tables/<name>_<table>.csv, figures/<name>_<figure>.<png|pdf>, and
    reports/<name>.md and .html."""
    out: dict[str, str | bytes] = {f"tables/{case.name}_{key}.csv": csv_text(frame) for key, frame in tables.items()}
    for key, files in drawn.items():
        for kind, content in files.items():
            out[f"figures/{case.name}_{key}.{kind}"] = content
    out[f"reports/{case.name}.md"], out[f"reports/{case.name}.html"] = render(case.title, intro, sections)
    return out
