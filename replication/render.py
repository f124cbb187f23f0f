"""Tables in the paper's layout: a registry entry and its tidy frames become a ``Grid`` (the regression
tables through ``etable.etable``), and the grid becomes Markdown (aligned for a terminal), LaTeX
(booktabs + dcolumn in a threeparttable, for ``\\input``), HTML (great-tables) and Word (python-docx);
``table_files`` gives every file of one table.

A grid holds typed cells (a number with its stars, a bracketed statistic, or text), so that each
format writes them its own way: a true minus sign (U+2212 in Markdown and HTML, math mode in LaTeX),
stars as superscripts (HTML, LaTeX), numbers aligned on the decimal point (padding in Markdown,
dcolumn's D columns in LaTeX, two aligned boxes per cell in HTML), indented sub-rows (non-breaking
spaces, ``\\hspace``, great-tables' stub indent).

Why not great-tables for everything: its ``cols_align_decimal`` aligns numeric columns only, and a
regression column mixes estimates with stars and bracketed t values (strings); its LaTeX output has
no decimal alignment and no fragment without the table environment.  It writes the HTML structure
(stub, headers, indents, source notes) and the decimal alignment inside a cell is ours.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import io
import re
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd

from replication.config import STAR_THRESHOLDS, Options
from replication.registry import (
    COLUMN_STATS, LABELS, SAME_AS, SE_TYPES, STAT_NOTES, WILD_LEVELS, WILD_ROWS, Entry, FrameLayout,
    RegressionLayout, parse_wild,
)

MINUS = "\u2212"


@dataclass(frozen=True)
class Cell:
    """A number as printed (ASCII '-', replaced by each format), or text when ``numeric`` is False."""

    text: str = ""
    numeric: bool = False
    stars: int = 0
    paren: bool = False

    def parts(self) -> tuple[str, str]:
        """The text left of the decimal point and from it on (with the brackets)."""
        left, dot, right = self.text.partition(".")
        return ("(" if self.paren else "") + left, dot + right + (")" if self.paren else "")


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[Cell, ...]
    indent: int = 0
    rule_before: bool = False
    heading: bool = False  # a panel's title (its cells empty), set apart in each format


@dataclass(frozen=True)
class Grid:
    name: str
    number: str
    caption: str
    header: tuple[str, ...]  # the stub's header, then one per column
    rows: tuple[Row, ...]
    notes: tuple[str, ...]
    stars: tuple[float, float, float] | None = None  # thresholds of the legend, when stars are shown
    star_note: str = ""
    groups: tuple[tuple[str, int], ...] = ()  # (label, columns spanned) above the column heads
    short_notes: tuple[str, ...] | None = None  # the LaTeX table's notes by default (None: all of them)
    latex_notes: str = "short"  # 'short' (short_notes, the rest in the notes file) or 'long'
    latex_page: str = "portrait"  # 'portrait', 'landscape' (sidewaystable) or 'resize' (to the text width)

    @property
    def title(self) -> str:
        return f"Table {self.number}. {self.caption}" if self.number else self.caption


def number(value: float, decimals: int, stars_: int = 0, paren: bool = False) -> Cell:
    if value is None or not np.isfinite(value):
        return Cell()
    text = f"{value:.{decimals}f}"
    if text.lstrip("-").strip("0.") == "":  # no "-0.000"
        text = text.lstrip("-")
    return Cell(text, True, stars_, paren)


def stars(p: float, thresholds: tuple[float, float, float]) -> int:
    return 0 if not np.isfinite(p) else sum(p < t for t in thresholds)


# ---------------------------------------------------------------------------- grids


def _se_type(options: Options) -> str:
    return SE_TYPES[options.cov_type].format(dk_bandwidth=options.dk_bandwidth)


# counts shown as a row only when some column has a non-zero one; otherwise one sentence in the notes
HIDDEN_WHEN_ZERO = {"n_dropped_missing": "for a missing value", "n_singletons": "as a singleton"}


def common_notes(options: Options, clusters_shown: bool = True) -> list[str]:
    """The notes of every regression table: the standard errors actually used, the proxy, the options."""
    se = {
        "cluster_city": "clustered by city with Stata's small-sample factor G/(G−1)·(N−1)/(N−K) (K without "
                        "the city effects); p-values from t(G−1)",
        "cluster_province": "clustered by province with Stata's small-sample factor; p-values from t(G−1), "
                            "G the number of provinces",
        "robust": "heteroskedasticity-robust (HC1)",
        "driscoll_kraay": f"Driscoll-Kraay (Bartlett kernel, bandwidth {options.dk_bandwidth})",
    }[options.cov_type]
    non_default = options.non_default()
    return [f"Standard errors {se}" + ("; the Clusters row counts the clusters of each column." if clusters_shown
                                       else "."),
            "Ur is a proxy: district population / whole-city population.",
            "Non-default options: " + (", ".join(f"{k}={v}" for k, v in non_default.items()) if non_default
                                       else "none.")]


def short_se(options: Options) -> str:
    """The standard errors in a few words, for the short LaTeX notes."""
    return {"cluster_city": "clustered by city (Stata's small-sample factor)",
            "cluster_province": "clustered by province (Stata's small-sample factor)",
            "robust": "heteroskedasticity-robust (HC1)",
            "driscoll_kraay": f"Driscoll-Kraay (bandwidth {options.dk_bandwidth})"}[options.cov_type]


def facts(entry: Entry, frames: dict[str, pd.DataFrame], data: pd.DataFrame | None, options: Options) -> dict:
    """What a note template may name: the options, the sample, and the table-level statistics."""
    out: dict = dataclasses.asdict(options)
    if data is not None:
        out.update(rows=len(data), cities=data["city_code"].nunique())
    keys = {key for key, _ in entry.layout.columns} if entry.regression else set()
    for source in entry.sources:
        frame = frames[source]
        if list(frame.columns[:2]) == ["stat", "value"]:
            out.update(zip(frame["stat"], map(_plain, frame["value"])))
        elif {"column", "stat", "value"} <= set(frame.columns):
            table_level = frame[~frame["column"].isin(keys)]
            out.update(zip(table_level["stat"], map(_plain, table_level["value"])))
    return out


def _plain(value):
    """A whole number read back from a CSV as a float prints as an integer (1000 draws, not 1000.0)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def grid(entry: Entry, frames: dict[str, pd.DataFrame], data: pd.DataFrame | None, options: Options) -> Grid:
    """The grid of a registry entry from its tidy frames (by file stem)."""
    notes = [n.format(**facts(entry, frames, data, options)) for n in entry.notes]
    if entry.regression:
        table = regression_grid(entry, frames[entry.sources[0]], frames[entry.sources[1]], options, notes)
    else:
        table = frame_grid(entry, frames[entry.sources[0]], notes)
    return dataclasses.replace(table, latex_notes=options.table_notes, latex_page=options.latex_page)


def regression_grid(entry: Entry, coefficients: pd.DataFrame, stats_: pd.DataFrame, options: Options,
                    notes: list[str] | None = None) -> Grid:
    """A paper table through ``etable.etable``: each column of the tidy CSVs read as a Model
    (``etable.from_tidy``), the layout's terms in order, the statistic of option `parentheses` under
    each coefficient, the layout's indicator rows, a row per fixed effect, the COLUMN_STATS the stats
    frame has; then the wild-bootstrap rows and the layout's table-level statistics as panels of their
    own; notes naming each statistic (all of them in Markdown and HTML, a short set in LaTeX)."""
    from replication import etable

    layout: RegressionLayout = entry.layout
    keys = [key for key, _ in layout.columns]
    values = stats_.set_index(["column", "stat"])["value"]
    se = _se_type(options)
    models = [etable.from_tidy(coefficients, stats_, key, dependent, cov_label=se)
              for key, dependent in zip(keys, layout.dependent)]
    shown, defined = _column_stats(values, keys)
    thresholds = STAR_THRESHOLDS[options.stars]
    base = etable.etable(models, heads=[h for _, h in layout.columns], order=[f"^{re.escape(t)}$" for t in layout.terms],
                         keep=[f"^{re.escape(t)}$" for t in layout.terms], labels=LABELS,
                         statistic=options.parentheses, decimals=layout.decimals, stats=shown,
                         rows=layout.indicators, stars=thresholds)
    rows = list(base.rows)
    wild = _wild_rows(values, keys)
    if wild:
        rows += _panel("Wild cluster bootstrap", wild, len(keys))
    extra = _extra_rows(layout, values, keys)
    if extra:
        rows += _panel(layout.extra_title, extra, len(keys))
    clusters = "nclusters" in [s if isinstance(s, str) else s[0] for s in shown] and any(
        np.isfinite(values.get((k, "nclusters"), np.nan)) for k in keys)
    long_notes = [base.notes[0], *common_notes(options, clusters), *base.notes[1:], *defined,
                  *_wild_note(values, keys, entry.name), *(notes or [])]
    short = [f"{base.notes[0][:-1]}; standard errors {short_se(options)}.", *base.short_notes[1:]]
    if wild:
        short.append("Wild cluster bootstrap: WCR, H0: coefficient = 0, symmetric p and 95% interval by test "
                     "inversion.")
    non_default = options.non_default()
    if non_default:
        short.append("Non-default options: " + ", ".join(f"{k}={v}" for k, v in non_default.items()) + ".")
    short.append(f"All notes: {entry.name}_notes.tex and {entry.name}.md.")
    return Grid(entry.name, entry.number, entry.caption, base.header, tuple(rows), tuple(long_notes),
                thresholds, " (the paper's thresholds)." if options.stars == "paper" else
                " (the paper mostly uses 0.05/0.01/0.001; compare through t and p, not stars).",
                short_notes=tuple(short))


def _panel(title: str, rows: list[Row], width: int) -> list[Row]:
    """A panel of rows under a heading row (a rule above it)."""
    return [Row(title, (Cell(),) * width, 0, True, heading=True), *rows]


def _column_stats(values: pd.Series, keys: list[str]) -> tuple[list, list[str]]:
    """The COLUMN_STATS etable shows (as (stat, decimals), se_type as etable's cov_label), and the notes
    that define them: a count that is zero in every column is said in one sentence instead, a statistic
    equal to the one SAME_AS names (in every column) is left out."""
    shown, names, zero = [], set(), []
    for stat, decimals in COLUMN_STATS:
        column_values = [values.get((k, stat), np.nan) for k in keys]
        present = [v for v in column_values if np.isfinite(v)]
        if stat == "se_type":
            shown.append("cov_label")
        elif stat in HIDDEN_WHEN_ZERO and present and not any(present):
            zero.append(stat)
        elif stat in SAME_AS and SAME_AS[stat] in names and np.allclose(
                column_values, [values.get((k, SAME_AS[stat]), np.nan) for k in keys], rtol=0, atol=1e-9,
                equal_nan=True):
            continue
        elif present or stat in ("adj_r2", "adj_r2_within"):
            names.add(stat)
            shown.append((stat, decimals))
    notes = [STAT_NOTES[s] for s in STAT_NOTES if s in names]
    if zero:
        notes.append("No observation was dropped " + " or ".join(HIDDEN_WHEN_ZERO[s] for s in zero) + ".")
    return shown, notes


def _extra_rows(layout: RegressionLayout, values: pd.Series, keys: list[str]) -> list[Row]:
    """The layout's table-level statistics (in the first column), then any wild statistic whose name or
    column the wild rows do not know, as it is named."""
    blank = (Cell(),) * (len(keys) - 1)
    rows = [Row(e.label or LABELS.get(e.stat, e.stat), (number(values[(e.column, e.stat)], e.decimals), *blank),
                e.indent)
            for e in layout.extra if (e.column, e.stat) in values.index]
    listed = {(e.column, e.stat) for e in layout.extra}
    for column, stat in values.index:
        if stat.startswith("wild_") and (column, stat) not in listed and (
                column not in keys or parse_wild(stat) is None):
            rows.append(Row(f"{stat} ({column})", (number(values[(column, stat)], 3), *blank)))
    return rows


def _wild_note(values: pd.Series, keys: list[str], name: str) -> list[str]:
    parsed = {(k, s): parse_wild(s) for k, s in values.index if k in keys}
    if not any(parsed.values()):
        return []
    draws = sorted({int(values[ks]) for ks, p in parsed.items()
                    if p and p[2] == "draws" and np.isfinite(values[ks])})
    enumerated = f"; {', '.join(map(str, draws[:-1]))} where all 2^G sign vectors were enumerated"
    text = f"{draws[-1]} draws" + (enumerated if len(draws) > 1 else "") if draws else "draws in the CSV"
    notes = [STAT_NOTES["wild"].format(wild_draws=text, stats_file=f"{name}_stats.csv")]
    blank = [ks for ks, p in parsed.items() if p and p[2] in ("ci_low", "ci_high") and not np.isfinite(values[ks])]
    if blank:
        notes.append("A blank interval bound: the interval by test inversion is unbounded on that side (in "
                     + ", ".join(sorted({k for k, _ in blank})) + ": too few clusters to reject any value there "
                     "at 5%).")
    return notes


def _wild_rows(values: pd.Series, keys: list[str]) -> list[Row]:
    """The wild-bootstrap rows of a table: the coefficient each column tests, then per clustering level
    the p-value, the interval and the number of clusters (WILD_ROWS), from the stats
    wild_<term>_<level>_<what>."""
    found: dict[tuple[str, str], dict[str, float]] = {}
    terms: dict[str, str] = {}
    for column, stat in values.index:
        parsed = parse_wild(stat) if column in keys else None
        if parsed and parsed[2] in WILD_ROWS:
            term, level, what = parsed
            found.setdefault((level, what), {})[column] = values[(column, stat)]
            if term:
                terms[column] = term
    if not found:
        return []
    rows = [Row(LABELS["wild_term"], tuple(Cell(terms.get(k, "")) for k in keys))] if terms else []
    levels = sorted({level for level, _ in found}, key=lambda v: (WILD_LEVELS.index(v), v))
    for level in levels:
        for what in WILD_ROWS:
            if (level, what) not in found:
                continue
            label = f"{LABELS['wild_p']} ({level} clusters)" if what == "p" else LABELS[f"wild_{what}"]
            cells = tuple(number(found[(level, what)].get(k, np.nan), 0 if what == "G" else 3) for k in keys)
            rows.append(Row(label, cells, 0 if what == "p" else 1))
    return rows


def frame_grid(entry: Entry, frame: pd.DataFrame, notes: list[str]) -> Grid:
    """A plain table (Tables 1, 3, 4): one row per row of the tidy frame."""
    layout: FrameLayout = entry.layout
    stub, *columns = layout.columns
    rows = []
    for _, record in frame.iterrows():
        key = record[stub.field]
        label = LABELS.get(key, key) if stub.labelled else str(key)
        cells = []
        for column in columns:
            value = record[column.field]
            if isinstance(value, (bool, np.bool_)):
                cells.append(Cell("yes" if value else ""))
            elif column.decimals is None:
                cells.append(Cell("" if pd.isna(value) else str(value)))
            else:
                cells.append(number(float(value), column.decimals))
        rows.append(Row(label, tuple(cells)))
    return Grid(entry.name, entry.number, entry.caption, tuple(c.header for c in layout.columns), tuple(rows),
                tuple(notes), groups=layout.groups)


def plain_grid(title: str, frame: pd.DataFrame, labels: dict[str, str], formats: dict[str, str],
               notes: list[str]) -> Grid:
    """A table outside the paper's (the Guangxi report's): the first labelled column is the stub,
    floats are printed with `formats` (default 4 decimals), anything else as text."""
    rows = []
    for _, record in frame.iterrows():
        cells = []
        for column in labels:
            value = record[column]
            if isinstance(value, (bool, np.bool_)):
                cells.append(Cell("yes" if value else ""))
            elif isinstance(value, (float, np.floating)):
                cells.append(Cell(formats.get(column, "{:.4f}").format(value), True) if np.isfinite(value) else Cell())
            else:
                cells.append(Cell(str(value)))
        rows.append(Row(cells[0].text, tuple(cells[1:])))
    name = "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")[:40]
    return Grid(name, "", title, tuple(labels.values()), tuple(rows), tuple(notes))


# ---------------------------------------------------------------------------- Markdown


def _widths(grid: Grid, integers: bool = True) -> list[tuple[int, int]]:
    """Per column: the widest text left of the decimal point and from it on, over the numeric cells
    (without the whole numbers when `integers` is False: LaTeX centres those)."""
    out = []
    for j in range(len(grid.header) - 1):
        numeric = [row.cells[j] for row in grid.rows
                   if row.cells[j].numeric and (integers or "." in row.cells[j].text)]
        left = max((len(c.parts()[0]) for c in numeric), default=0)
        right = max((len(c.parts()[1]) + c.stars for c in numeric), default=0)
        out.append((left, right))
    return out


def _md_cell(cell: Cell, left: int, right: int) -> str:
    if not cell.numeric:
        return cell.text.replace("|", "\\|")
    a, b = cell.parts()
    return (a.rjust(left) + (b + "*" * cell.stars).ljust(right)).replace("-", MINUS)


def to_markdown(grid: Grid) -> str:
    """A pipe table whose columns line up in a terminal; numbers aligned on the decimal point; column
    groups as a first header row (each label over the first column of its span); panel headings bold."""
    widths = _widths(grid)
    table = [list(grid.header)]
    if grid.groups:
        top = [""]
        for label, span in grid.groups:
            top += [label] + [""] * (span - 1)
        table.insert(0, top)
    for row in grid.rows:
        label = f"**{row.label}**" if row.heading else "\u00a0\u00a0" * row.indent + row.label
        table.append([label.replace("|", "\\|")] + [_md_cell(c, *w) for c, w in zip(row.cells, widths)])
    size = [max(len(r[j]) for r in table) for j in range(len(grid.header))]
    heads = table[:len(table) - len(grid.rows)]  # a pipe table has one header row: the groups, when any

    def line(cells):
        return "| " + " | ".join(h.ljust(size[0]) if j == 0 else h.center(size[j]) for j, h in enumerate(cells)) + " |"

    lines = [f"**{grid.title}**", "", line(heads[0]),
             "|" + "|".join(("-" * (size[0] + 2)) if j == 0 else "-" * (size[j] + 1) + ":" for j in range(len(size)))
             + "|", *[line(h) for h in heads[1:]]]
    for r, row in zip(table[len(heads):], grid.rows):
        cells = [r[0].ljust(size[0])]
        for j, (text, cell) in enumerate(zip(r[1:], row.cells), start=1):
            cells.append(text.rjust(size[j]) if cell.numeric else text.center(size[j]))
        lines.append("| " + " | ".join(cells) + " |")
    notes = list(grid.notes)
    if grid.stars:
        notes.insert(1, "Stars: " + ", ".join(f"{'*' * (i + 1)} p<{t:g}" for i, t in enumerate(grid.stars))
                     + grid.star_note)
    lines += [""] + [f"{note}  " for note in notes]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------- LaTeX

_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "²": r"$^2$", "·": r"$\cdot$",
          "×": r"$\times$", "<": r"$<$", ">": r"$>$", MINUS: r"$-$", "′": r"$'$", "ȳ": r"$\bar{y}$",
          "x̄": r"$\bar{x}$", "−": r"$-$"}


def latex_escape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        pair = text[i:i + 2]
        if pair in _LATEX:  # combining characters (x̄)
            out.append(_LATEX[pair])
            i += 2
            continue
        out.append(_LATEX.get(text[i], text[i]))
        i += 1
    return "".join(out)


def _tex_cell(cell: Cell) -> str:
    if not cell.numeric:
        return r"\multicolumn{1}{c}{" + latex_escape(cell.text) + "}" if cell.text else ""
    text = ("(" + cell.text + ")") if cell.paren else cell.text
    if "." not in text:  # a count: centred, as in estout/stargazer
        return r"\multicolumn{1}{c}{$" + text + "$}"
    return text + (f"^{{{'*' * cell.stars}}}" if cell.stars else "")


LATEX_PACKAGES = r"\usepackage{booktabs,dcolumn,threeparttable}"
PAGE_PACKAGES = {"portrait": "", "landscape": r"\usepackage{rotating}", "resize": r"\usepackage{graphicx}"}
STUB_WRAP = 30  # a stub label longer than this many characters wraps in a column STUB_WIDTH wide
STUB_WIDTH = "13em"
WIDE = 8  # from this many data columns on, the stub is WIDE_STUB and the column gap WIDE_GAP
WIDE_STUB, WIDE_GAP, WIDE_WRAP = "10em", "4pt", 20


def _stub(grid: Grid, row: Row) -> str:
    """A stub cell: a label longer than STUB_WRAP characters wraps in a box STUB_WIDTH wide (WIDE_STUB in
    a wide table), so that the column stays an `l` column of the tabular."""
    label = latex_escape(row.label)
    if row.heading:
        return r"\multicolumn{1}{@{}l}{\textit{" + label + "}}"
    indent = rf"\hspace{{{row.indent}em}}" if row.indent else ""
    wide = len(grid.header) - 1 >= WIDE
    if len(row.label) + 2 * row.indent <= (WIDE_WRAP if wide else STUB_WRAP):
        return indent + label
    width = WIDE_STUB if wide else STUB_WIDTH
    return rf"\parbox[t]{{{width}}}{{\raggedright\hangindent=1em {indent}{label}\strut}}"


def to_tabular(grid: Grid) -> str:
    """The tabular alone, for ``\\input`` inside the reader's own table environment: a stub that wraps
    long labels, one D column per numeric column, column groups with \\cmidrule, panel headings in
    italics under a rule."""
    columns = []
    for left, right in _widths(grid, integers=False):
        # dcolumn's {a.b}: room for a characters before the point and b after (a minus counts twice)
        columns.append(f"D{{.}}{{.}}{{{max(left + 1, 1)}.{max(right - 1, 0)}}}" if left or right else "c")
    lines = [f"% {latex_escape(grid.title)}; requires {LATEX_PACKAGES}",
             r"\begin{tabular}{@{}l" + "".join(columns) + "@{}}", r"\toprule"]
    if grid.groups:
        cells, rules, start = [""], [], 2
        for label, span in grid.groups:
            cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines += [" & ".join(cells) + r" \\", "".join(rules)]
    lines += [" & ".join([latex_escape(grid.header[0])]
                         + [r"\multicolumn{1}{c}{" + latex_escape(h) + "}" for h in grid.header[1:]]) + r" \\",
              r"\midrule"]
    for row in grid.rows:
        if row.rule_before:
            lines.append(r"\midrule")
        lines.append(" & ".join([_stub(grid, row), *[_tex_cell(c) for c in row.cells]]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _latex_notes(grid: Grid, notes: tuple[str, ...] | None = None) -> list[str]:
    """The notes as LaTeX, the star legend second (with its remark only among all the notes)."""
    texts = [latex_escape(n) for n in (grid.notes if notes is None else notes)]
    if grid.stars:
        legend = ", ".join(rf"$^{{{'*' * (i + 1)}}}$\,$p<{t:g}$" for i, t in enumerate(grid.stars))
        texts.insert(1, legend + latex_escape(grid.star_note if notes is None else "."))
    return texts


def latex_caption_number(grid: Grid) -> list[str]:
    """The paper's number printed by \\caption (3 as 3, 3b as 3b), local to the table environment."""
    return [r"\renewcommand{\thetable}{" + latex_escape(grid.number) + "}"] if grid.number else []


def to_latex(grid: Grid, notes: str | None = None, page_: str | None = None) -> str:
    """A table environment for ``\\input``: the caption with the paper's number, a label, the tabular in
    a threeparttable with its notes as table notes (short by default: ``grid.latex_notes``, or `notes`
    'short'/'long'), set for a portrait page, a landscape page (sidewaystable) or resized to the text
    width (``grid.latex_page`` or `page_`)."""
    notes = notes or grid.latex_notes
    page_ = page_ or grid.latex_page
    chosen = grid.short_notes if notes == "short" and grid.short_notes is not None else None
    tabular = to_tabular(grid).split("\n", 1)[1].rstrip("\n")
    environment = "sidewaystable" if page_ == "landscape" else "table"
    extra = PAGE_PACKAGES[page_]
    caption = [r"\caption{" + latex_escape(grid.caption) + "}", r"\label{tab:" + grid.name + "}"]
    notes_ = _latex_notes(grid, chosen)
    if page_ == "resize":  # threeparttable cannot measure a resized box: the notes go in a text-wide minipage
        body = [*caption, r"\resizebox{\linewidth}{!}{" + tabular + "}", r"\par\smallskip",
                r"\begin{minipage}{\linewidth}\footnotesize\raggedright", *[n + r"\par" for n in notes_],
                r"\end{minipage}"]
    else:
        body = [r"\begin{threeparttable}", *caption, tabular, r"\begin{tablenotes}[flushleft]\footnotesize",
                *[r"\item " + n for n in notes_], r"\end{tablenotes}", r"\end{threeparttable}"]
    return "\n".join([
        f"% {latex_escape(grid.title)}; requires {LATEX_PACKAGES}" + (f" and {extra}" if extra else ""),
        rf"\begin{{{environment}}}" + ("" if page_ == "landscape" else "[htbp]"), r"\centering", r"\small",
        *([rf"\setlength{{\tabcolsep}}{{{WIDE_GAP}}}"] if len(grid.header) - 1 >= WIDE else []),
        *latex_caption_number(grid), *body, rf"\end{{{environment}}}"]) + "\n"


def latex_notes_file(grid: Grid) -> str:
    """Every note of a table, as a LaTeX list to \\input after it (the table itself carries the short ones)."""
    return "\n".join([f"% Notes to {latex_escape(grid.title)}", r"\begin{itemize}\footnotesize",
                      *[r"\item " + n for n in _latex_notes(grid)], r"\end{itemize}"]) + "\n"


def latex_document(grids: list[Grid]) -> str:
    """Every table in one document that compiles on its own (pdflatex): a portrait article, 1-inch margins."""
    extras = sorted({PAGE_PACKAGES[g.latex_page] for g in grids} - {""})
    return "\n".join([r"\documentclass{article}", LATEX_PACKAGES, *extras,
                      r"\usepackage[margin=1in]{geometry}", r"\begin{document}",
                      *[to_latex(g) + r"\clearpage" for g in grids], r"\end{document}"]) + "\n"


# ---------------------------------------------------------------------------- HTML


def _html_cell(cell: Cell, left: int, right: int) -> str:
    if not cell.numeric or "." not in cell.text:  # text and counts are centred (as in LaTeX)
        text = cell.text.replace("-", MINUS) if cell.numeric else cell.text
        return f'<span class="txt">{html.escape(text)}</span>' if text else ""
    a, b = cell.parts()
    sup = f"<sup>{'*' * cell.stars}</sup>" if cell.stars else ""
    return (f'<span class="dec"><span class="l" style="width:{left}ch">{html.escape(a.replace("-", MINUS))}'
            f'</span><span class="r" style="width:{right}ch">{html.escape(b.replace("-", MINUS))}{sup}'
            '</span></span>')


HTML_CSS = """#{id} .dec{{display:inline-block;white-space:nowrap;font-variant-numeric:tabular-nums}}
#{id} .dec .l{{display:inline-block;text-align:right}}
#{id} .dec .r{{display:inline-block;text-align:left}}
#{id} .gt_table{{font-family:Georgia,serif}}
#{id} sup{{line-height:0}}"""


def to_html(grid: Grid, standalone: bool = True) -> str:
    """great-tables HTML with a fixed id (reruns are byte-identical)."""
    import great_tables as gt

    widths = _widths(grid, integers=False)
    names = [f"c{j}" for j in range(1, len(grid.header))]
    frame = pd.DataFrame({"label": [r.label for r in grid.rows],
                          **{n: [_html_cell(r.cells[j], *widths[j]) for r in grid.rows]
                             for j, n in enumerate(names)}})
    table = (gt.GT(frame, rowname_col="label", id=grid.name)
             .tab_header(title=grid.title)
             .tab_stubhead(label=grid.header[0])
             .cols_label(**dict(zip(names, grid.header[1:])))
             .fmt_passthrough(columns=names, escape=False)
             .cols_align("center", columns=names)
             .tab_options(stub_indent_length="1em", table_font_size="14px", source_notes_font_size="12px",
                          table_body_hlines_style="none", stub_border_style="none", data_row_padding="3px",
                          table_border_top_style="none", heading_border_bottom_color="#333333",
                          heading_border_bottom_width="2px", column_labels_border_bottom_color="#333333",
                          table_body_border_bottom_color="#333333", table_body_border_bottom_width="2px")
             .opt_css(HTML_CSS.format(id=grid.name)))
    start = 0
    for label, span in grid.groups:
        table = table.tab_spanner(label=label, columns=names[start:start + span], id=f"group{start}")
        start += span
    headings = [i for i, r in enumerate(grid.rows) if r.heading]
    if headings:
        table = table.tab_style(gt.style.text(style="italic"), gt.loc.stub(rows=headings))
    for level in sorted({r.indent for r in grid.rows if r.indent}):
        table = table.tab_stub_indent(rows=[i for i, r in enumerate(grid.rows) if r.indent == level],
                                      indent=min(level, 5))
    ruled = [i for i, r in enumerate(grid.rows) if r.rule_before]
    if ruled:
        table = table.tab_style(gt.style.borders(sides="top", color="#333333", weight="1px"),
                                [gt.loc.body(rows=ruled), gt.loc.stub(rows=ruled)])
    notes = [html.escape(n) for n in grid.notes]
    if grid.stars:
        notes.insert(1, ", ".join(f"<sup>{'*' * (i + 1)}</sup> p&lt;{t:g}" for i, t in enumerate(grid.stars))
                     + html.escape(grid.star_note))
    for note in notes:
        table = table.tab_source_note(gt.html(note))
    body = table.as_raw_html()
    return page(grid.title, body) if standalone else body


STYLE = """body{font-family:Georgia,serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums}
caption{font-weight:bold;text-align:left;padding-bottom:.5em}
table:not(.gt_table) thead th{border-top:2px solid #222;border-bottom:1px solid #222;padding:.3em .8em}
table:not(.gt_table) tbody tr:last-child td{border-bottom:2px solid #222}
table:not(.gt_table) td{padding:.15em .8em}td.num{text-align:right;white-space:nowrap}
p.note{font-size:.85em;margin:.2em 0}
.inconsistent{color:#a00;font-weight:bold}.consistent{color:#070}"""


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n"
            "</html>\n")


# ---------------------------------------------------------------------------- Word


def _docx_text(cell: Cell) -> str:
    if not cell.numeric:
        return cell.text
    text = ("(" + cell.text + ")") if cell.paren else cell.text
    return text.replace("-", MINUS) + "*" * cell.stars


def to_docx(grid: Grid) -> bytes:
    """A Word document (python-docx) holding the table: the title, a header row (and the groups above
    it), one row per grid row with the cells as printed in Markdown (true minus, stars), the notes as
    paragraphs.  The zip entries get a fixed date, so reruns are byte-identical."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    document = docx.Document()
    document.core_properties.created = document.core_properties.modified = datetime.datetime(2000, 1, 1)
    document.core_properties.last_modified_by = document.core_properties.author = ""
    document.add_paragraph(grid.title).runs[0].bold = True
    heads = ([[""] + [label for label, span in grid.groups for _ in range(span)]] if grid.groups else [])
    heads.append(list(grid.header))
    table = document.add_table(rows=len(heads) + len(grid.rows), cols=len(grid.header))
    table.style = "Table Grid"
    for i, head in enumerate(heads):
        for j, text in enumerate(head):
            table.cell(i, j).text = text
        if grid.groups and i == 0:  # one merged cell per group
            start = 1
            for label, span in grid.groups:
                if span > 1:
                    merged = table.cell(0, start).merge(table.cell(0, start + span - 1))
                    merged.text = label
                start += span
    for i, row in enumerate(grid.rows, start=len(heads)):
        table.cell(i, 0).text = "\u00a0\u00a0" * row.indent + row.label
        if row.heading:
            table.cell(i, 0).paragraphs[0].runs[0].italic = True
        for j, cell in enumerate(row.cells, start=1):
            table.cell(i, j).text = _docx_text(cell)
            table.cell(i, j).paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    notes = list(grid.notes)
    if grid.stars:
        notes.insert(1, "Stars: " + ", ".join(f"{'*' * (i + 1)} p<{t:g}" for i, t in enumerate(grid.stars))
                     + grid.star_note)
    for note in notes:
        paragraph = document.add_paragraph(note)
        paragraph.runs[0].font.size = Pt(8)
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """The same zip with every entry dated 1980-01-01 (python-docx stamps the time of saving)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


def table_files(grid: Grid) -> dict[str, str | bytes]:
    """Every file of one rendered table, by path under the output directory: Markdown, LaTeX (the table,
    the bare tabular, every note), HTML and Word."""
    stem = f"tables/{grid.name}"
    return {f"{stem}.md": to_markdown(grid), f"{stem}.tex": to_latex(grid), f"{stem}_tabular.tex": to_tabular(grid),
            f"{stem}_notes.tex": latex_notes_file(grid), f"{stem}.html": to_html(grid), f"{stem}.docx": to_docx(grid)}
