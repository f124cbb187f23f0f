"""Figures that explain themselves: Dig's coefficient across Tables 5-8 beside the paper, the indices
over time by region, the bootstrap distribution of the indirect effect, the specification curve of the
multiverse, and a city's series in small multiples named in Chinese.  Each returns {"png": bytes,
"pdf": bytes}, written without timestamps so reruns are byte-identical.

Every figure has a title in words, labelled axes with units, a legend for every line and marker, and
integer year ticks; every label that depends on the run (the clustering, the number of draws, the
specifications) is computed from the run's tables and options.  Chinese names are drawn with a CJK
font when one is installed (Debian fonts-noto-cjk); without one the English names are used and the
terminal is told once.
"""

from __future__ import annotations

import functools
import io
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402
from scipy import stats  # noqa: E402

from replication.compare import column_degrees_of_freedom, paper_cities  # noqa: E402

METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "ModDate": None, "Producer": None,
                                               "Creator": None}}
PAPER, OURS = "#7f7f7f", "#1f4e79"
SIGNIFICANT = {"negative": ("#b2182b", "significantly negative"), "positive": ("#2166ac", "significantly positive"),
               "none": ("#9e9e9e", "not significant")}
LEVEL = 0.05  # the significance level of the specification curve's colours
CURVE_COLUMNS = 1500  # the decision panel's resolution: neighbouring specifications beyond it are averaged

# (label, table, column, term) of every Dig coefficient in Tables 5-8
DIG_CELLS = [
    ("T5 (1)", "T5", "(1)", "Dig"), ("T5 (2)", "T5", "(2)", "Dig"), ("T5 (3)", "T5", "(3)", "Dig"),
    ("T5 (4)", "T5", "(4)", "Dig"), ("T6 East", "T6", "East", "Dig"), ("T6 Central", "T6", "Central", "Dig"),
    ("T6 West", "T6", "West", "Dig"), ("T7 2SLS", "T7", "second_stage", "Dig"),
    ("T8 entropy Dig", "T8", "(2)", "Dig_entropy"),
]
# the published cell of each multiverse estimand (table, column, term)
ESTIMAND_CELLS = {"T5_Dig": ("T5", "(4)", "Dig"), "T6_East": ("T6", "East", "Dig"),
                  "T6_Central": ("T6", "Central", "Dig"), "T6_West": ("T6", "West", "Dig"),
                  "T7_Dig_2SLS": ("T7", "second_stage", "Dig")}
ESTIMAND_WORDS = {"T5_Dig": "Dig in Table 5 column (4)", "T6_East": "Dig in Table 6, East",
                  "T6_Central": "Dig in Table 6, Central", "T6_West": "Dig in Table 6, West",
                  "T7_Dig_2SLS": "Dig in Table 7, 2SLS", "T9_ab": "the indirect effect a × b of Table 9"}
CLUSTERING = {"cluster_city": "errors clustered by city", "cluster_province": "errors clustered by province",
              "robust": "robust (HC1) errors", "driscoll_kraay": "Driscoll-Kraay errors"}
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei")


def save_figure(figure) -> dict[str, bytes]:
    out = {}
    for kind in ("png", "pdf"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=kind, dpi=150, bbox_inches="tight", metadata=METADATA[kind])
        out[kind] = buffer.getvalue()
    plt.close(figure)
    return out


# ---------------------------------------------------------------------------- shared pieces


@functools.cache
def cjk_font() -> str | None:
    """The family of an installed CJK font (fonts-noto-cjk), or None, said once on the terminal."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed & set(CJK_FAMILIES):  # installed after matplotlib's font cache was built
        for path in sorted(font_manager.findSystemFonts()):
            if "CJK" in path and "Regular" in path:
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    print("note: no CJK font is installed (Debian: apt-get install fonts-noto-cjk); figures show English "
          "city names", file=sys.stderr)
    return None


def city_name(chinese: str, english: str) -> str:
    """'南宁市 Nanning' when a CJK font can draw it, else 'Nanning'."""
    return f"{chinese} {english}" if cjk_font() and chinese else english


def font_family() -> list[str]:
    """Matplotlib's default family, with the CJK font behind it for the characters it lacks."""
    family = [*plt.rcParams["font.family"]]
    return [*family, cjk_font()] if cjk_font() else family


def integer_years(axis, years, most: int = 12) -> None:
    """Year ticks at whole years (every year up to `most` of them, else every second, third, ...), printed
    as 2015."""
    years = sorted({int(y) for y in years})
    step = -(-len(years) // most)
    axis.set_xticks(years[::step])
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}"))


def _critical(df: float | None) -> float:
    return float(stats.norm.ppf(0.975) if df is None or not np.isfinite(df) else stats.t.ppf(0.975, df))


# ---------------------------------------------------------------------------- the report's figures


def coefficient_plot(published: pd.DataFrame, tables: dict[str, pd.DataFrame], options=None) -> dict[str, bytes]:
    """Dig's coefficient in every column of Tables 5-8 with its 95% interval, beside the paper's (whose
    interval comes from its printed t).  The replication's label names the errors `options` used;
    without options it says only 'this run's standard errors'."""
    rows = []
    for label, table, column, term in DIG_CELLS:
        hit = published[(published["table"] == table) & (published["column"] == column) & (published["row"] == term)]
        estimate = float(hit.loc[hit["stat"] == "estimate", "value"].iloc[0])
        t = float(hit.loc[hit["stat"] == "t", "value"].iloc[0])
        critical = stats.t.ppf(0.975, paper_cities(table, column) - 1)
        ours = tables[f"table{table[1:]}"]
        mine = ours[(ours["column"] == column) & (ours["term"] == term)].iloc[0]
        dfs = column_degrees_of_freedom(tables[f"table{table[1:]}_stats"], f"table{table[1:]}_stats.csv")
        critical_ours = _critical(dfs.get(column))  # the run's own t degrees of freedom (None: the normal)
        rows.append((label, estimate, critical * abs(estimate / t), mine["estimate"], critical_ours * mine["std_error"]))
    errors = CLUSTERING[options.cov_type] if options is not None else "this run's standard errors"
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    positions = np.arange(len(rows))[::-1]
    for offset, index, color, name in ((0.15, 1, PAPER, "Paper (interval from its printed t)"),
                                       (-0.15, 3, OURS, f"Replication ({errors})")):
        axis.errorbar([r[index] for r in rows], positions + offset, xerr=[r[index + 1] for r in rows], fmt="o",
                      color=color, capsize=3, label=name)
    axis.axvline(0, color="black", linewidth=0.8, label="No effect (0)")
    axis.set_yticks(positions, [r[0] for r in rows])
    axis.set_ylabel("Table and column")
    axis.set_xlabel("Coefficient of Dig on Dist (index points per unit of Dig), 95% interval")
    axis.set_title("Digital technology and the urban-rural public-service gap: the paper and this replication")
    axis.legend(loc="lower right", frameon=False, fontsize=8)
    return save_figure(figure)


def indices_over_time(data: pd.DataFrame) -> dict[str, bytes]:
    """The median Dist and Dig of each region, every year."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharex=True)
    medians = data.groupby(["region", "year"])[["Dist", "Dig"]].median().reset_index()
    for axis, variable, label in ((axes[0], "Dist", "Dist, urban-rural service gap (index, median)"),
                                  (axes[1], "Dig", "Dig, digital technology (index, median)")):
        for region, style in (("East", "-"), ("Central", "--"), ("West", ":")):
            part = medians[medians["region"] == region]
            axis.plot(part["year"], part[variable], style, color=OURS, label=region)
        axis.set_title(variable, fontsize=10)
        axis.set_ylabel(label, fontsize=8)
        axis.set_xlabel("Year")
        integer_years(axis, data["year"])
        axis.tick_params(axis="x", labelsize=7)
        axis.legend(frameon=False, fontsize=8, title="Region", title_fontsize=8)
    figure.suptitle(f"The two indices by region, {data['year'].min()}-{data['year'].max()} (medians: Dist has "
                    "a long right tail)", fontsize=10)
    figure.tight_layout()
    return save_figure(figure)


def bootstrap_plot(draws: np.ndarray, ab: float, sobel_z: float) -> dict[str, bytes]:
    """The cluster-bootstrap draws of a × b, the Sobel normal approximation, the percentile interval."""
    figure, axis = plt.subplots(figsize=(6.5, 4))
    axis.hist(draws, bins=60, density=True, color=OURS, alpha=0.6, label=f"Cluster bootstrap ({len(draws)} draws)")
    se = abs(ab / sobel_z)
    grid = np.linspace(draws.min(), draws.max(), 400)
    axis.plot(grid, stats.norm.pdf(grid, ab, se), color="black", label=f"Sobel normal approximation (z = {sobel_z:.2f})")
    low, high = np.percentile(draws, [2.5, 97.5])
    axis.axvline(low, color=OURS, linestyle="--", linewidth=0.8,
                 label=f"Bootstrap 95% percentile interval [{low:.4f}, {high:.4f}]")
    axis.axvline(high, color=OURS, linestyle="--", linewidth=0.8)
    axis.axvline(ab, color="#b2182b", linewidth=1.2, label=f"Estimate a × b = {ab:.4f}")
    axis.axvline(0, color="black", linewidth=0.6, linestyle=":", label="No indirect effect (0)")
    axis.set_xlabel("Indirect effect a × b of Dig on Dist through Isu (index points)")
    axis.set_ylabel("Density")
    axis.set_title("Table 9: how uncertain the indirect effect is")
    axis.legend(frameon=False, fontsize=7, loc="upper left")
    return save_figure(figure)


# ---------------------------------------------------------------------------- the specification curve


def default_values(decisions, options=None) -> dict[str, str]:
    """Each decision's value in the package's default specification (the Options defaults, Table 5's
    column (4), the committed panel), as the specs frame prints it."""
    from replication.config import Options

    options = options or Options()
    out = {}
    for decision in decisions:
        if decision == "controls":
            out[decision] = "(4)"
        elif decision == "panel":
            out[decision] = "default"
        elif hasattr(options, decision):
            out[decision] = str(getattr(options, decision))
    return out


def _decision_panel(bottom, part: pd.DataFrame, names, order, defaults, kind: np.ndarray, t: np.ndarray) -> None:
    """The specification curve's lower panel on the axis `bottom`."""
    n = len(part)
    # the decision panel: a row per decision value, decisions separated and named; each row is a 1 x n
    # image (white, or the specification's colour where it takes the value), so 55,296 specifications
    # draw in a fraction of a second and thin runs are averaged, not dropped, when downsampled
    y, labels, ticks = 0.0, [], []
    palette = {key: to_rgb(color) for key, (color, _) in SIGNIFICANT.items()}
    rgb = np.array([palette[k] for k in kind]).reshape(n, 3)

    width = min(n, CURVE_COLUMNS)
    column_of = np.arange(n) * width // max(n, 1)  # specifications averaged into at most CURVE_COLUMNS columns
    per_column = np.bincount(column_of, minlength=width)[:, None]

    def mark_rows(masks, colors_):  # one image per decision: its values as adjacent rows
        image = np.ones((len(masks), width, 3))
        for row, mask in enumerate(masks):
            marked = np.where(mask[:, None], colors_, 1.0)
            image[row] = np.stack([np.bincount(column_of, marked[:, c], minlength=width) for c in range(3)], 1)
            image[row] /= per_column
        bottom.imshow(image, aspect="auto", interpolation="nearest",
                      extent=(-0.5, n - 0.5, y + len(masks) - 0.5, y - 0.5))
        for row in range(1, len(masks)):
            bottom.axhline(y + row - 0.5, color="white", linewidth=1.2)

    for name in names:
        column = part[name].astype(str).to_numpy()
        mark_rows([column == value for value in order[name]], rgb)
        for value in order[name]:
            star = " (default)" if defaults.get(name) == value else ""
            labels.append(f"{name} = {value}{star}")
            ticks.append(y)
            y += 1
        y += 0.4
    wild_p = part["wild_p"].to_numpy(float) if "wild_p" in part.columns else np.full(n, np.nan)
    if not np.isnan(wild_p).all():  # one more row: where the wild bootstrap rejects at 5%, coloured by sign
        by_sign = np.array([to_rgb(SIGNIFICANT[key][0]) for key in ("negative", "positive")])[(t > 0).astype(int)]
        mark_rows([wild_p < LEVEL], by_sign)
        labels.append(f"wild bootstrap p < {LEVEL:g} (of the {int((~np.isnan(wild_p)).sum())} bootstrapped)")
        ticks.append(y)
        y += 1.4
    bottom.set_yticks(ticks, labels, fontsize=7)
    bottom.set_ylim(y - 0.3, -0.7)
    bottom.set_xlim(-0.5, n - 0.5)
    bottom.set_xlabel("Specification (rank by t)")
    bottom.set_ylabel("Decision")
    bottom.legend(handles=[Patch(color=c, label=label) for c, label in SIGNIFICANT.values()], frameon=False,
                  fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  title="Colour of a mark\n(paler: fewer of the\nspecifications at that\nrank take the value)")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))


def specification_curve(specs: pd.DataFrame, estimand: str, decisions, published: pd.DataFrame | None = None,
                        options=None) -> dict[str, bytes]:
    """Simonsohn, Simmons and Nelson's specification curve on the t statistic (the estimates' scales
    differ across index recipes, t does not): the specifications sorted by t, coloured by the sign and
    significance at 5% (their own df), the critical values, the default specification marked, the
    paper's t as a line; under it one row per decision value, a mark where a specification takes it."""
    from replication.multiverse import varying

    part = specs[specs["estimand"] == estimand].copy()
    part["t"] = part["estimate"] / part["std_error"]
    part = part.sort_values(["t", "spec_id"], kind="stable").reset_index(drop=True)
    n = len(part)
    x = np.arange(n)
    t = part["t"].to_numpy(float)
    significant = part["p_value"].to_numpy(float) < LEVEL
    kind = np.where(significant & (t < 0), "negative", np.where(significant & (t > 0), "positive", "none"))
    names = varying(specs, decisions)
    defaults = default_values(names, options)
    is_default = np.ones(n, dtype=bool)
    for name, value in defaults.items():
        is_default &= part[name].astype(str).to_numpy() == value
    order = {name: list(pd.unique(specs[name].astype(str))) for name in names}  # the grid's order, default first
    rows = [(name, value) for name in names for value in order[name]]
    height = 0.19 * len(rows) + 0.3 * len(names)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 3.6 + height), sharex=True,
                                         gridspec_kw={"height_ratios": [3.6, height]})
    handles = []
    for key, (color, label) in SIGNIFICANT.items():
        mask = kind == key
        top.scatter(x[mask], t[mask], color=color, s=4, linewidths=0, rasterized=True)
        handles.append(Line2D([], [], marker="o", linestyle="", color=color,
                              label=f"{label} at 5% ({mask.mean():.0%})"))
    df = part["df"].to_numpy(float)
    finite = np.isfinite(df)
    critical = np.full(n, stats.norm.ppf(0.975))
    critical[finite] = stats.t.ppf(0.975, df[finite])
    median_critical = float(np.median(critical)) if n else float(stats.norm.ppf(0.975))
    for sign in (-1, 1):
        top.axhline(sign * median_critical, color="black", linewidth=0.6, linestyle="--")
    handles.append(Line2D([], [], color="black", linewidth=0.6, linestyle="--",
                          label=f"±{median_critical:.2f}: 5% critical t (median df)"))
    top.axhline(0, color="black", linewidth=0.8)
    if is_default.any():
        position = int(np.flatnonzero(is_default)[0])
        top.scatter([position], [t[position]], marker="D", s=60, facecolor="none", edgecolor="black", linewidth=1.3,
                    zorder=5)
        handles.append(Line2D([], [], marker="D", linestyle="", markerfacecolor="none", markeredgecolor="black",
                              label=f"Default specification (t = {t[position]:.2f})"))
    cell = ESTIMAND_CELLS.get(estimand)
    if published is not None and cell is not None:
        table, column, term = cell
        hit = published[(published["table"] == table) & (published["column"] == column)
                        & (published["row"] == term)]
        values = dict(zip(hit["stat"], hit["value"]))
        if "t" in values:
            top.axhline(float(values["t"]), color="#e08214", linewidth=1.4)
            estimate = f"{float(values['estimate']):+.3f}".replace("+", "") if "estimate" in values else ""
            handles.append(Line2D([], [], color="#e08214", linewidth=1.4,
                                  label=f"The paper: t = {float(values['t']):.2f}" + (f" (estimate {estimate})"
                                                                                      if estimate else "")))
    top.set_ylabel("t statistic of the estimate")
    top.legend(handles=handles, frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    top.set_title(f"Specification curve of {ESTIMAND_WORDS.get(estimand, estimand)}: {n} specifications, sorted "
                  "by t", fontsize=10)
    _decision_panel(bottom, part, names, order, defaults, kind, t)
    figure.tight_layout()
    return save_figure(figure)


# ---------------------------------------------------------------------------- cities, named in Chinese


def city_panels(frame: pd.DataFrame, variable: str, unit: str, title: str, reference: pd.DataFrame | None = None,
                reference_label: str = "") -> dict[str, bytes]:
    """Small multiples: one panel per city (columns city_code, city, city_en, year and `variable`), titled
    with its Chinese and English names (English only without a CJK font), with `reference` (year,
    `variable`: e.g. the province's median) dashed in every panel."""
    cities = frame.drop_duplicates("city_code").sort_values("city_code")
    columns = min(5, len(cities))
    rows_ = int(np.ceil(len(cities) / columns))
    with plt.rc_context({"font.family": font_family()}):
        figure, axes = plt.subplots(rows_, columns, figsize=(2.3 * columns, 1.9 * rows_ + 0.6), sharex=True,
                                    sharey=True, squeeze=False)
        years = frame["year"]
        for axis, city in zip(axes.flat, cities.itertuples()):
            part = frame[frame["city_code"] == city.city_code].sort_values("year")
            axis.plot(part["year"], part[variable], color=OURS, linewidth=1.4, label=f"{variable} of the city")
            if reference is not None:
                axis.plot(reference["year"], reference[variable], "--", color="black", linewidth=0.9,
                          label=reference_label)
            axis.set_title(city_name(str(city.city), str(city.city_en).strip()), fontsize=8)
            integer_years(axis, years)
            axis.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
            axis.tick_params(labelsize=6.5)
        for axis in axes.flat[len(cities):]:
            axis.set_visible(False)
        for axis in axes[-1]:
            axis.set_xlabel("Year", fontsize=7)
        for axis in axes[:, 0]:
            axis.set_ylabel(unit, fontsize=7)
        figure.suptitle(title, fontsize=10)
        figure.tight_layout(rect=(0, 0.05, 1, 1))
        figure.legend(*axes.flat[0].get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False,
                      fontsize=8)
        return save_figure(figure)
