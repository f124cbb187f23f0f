"""The labelled set of yearbook cells that the anomaly screen is scored against (issue 18, item 5).

The cells are drawn from four strata by a seeded rule, so that the set mixes flagged and unflagged
cells and contains every cell behind the city-years that dominate Dist when nothing is corrected:

- ``dist_keep``: every printed input cell (pop, teachers_primary, pupils_primary, library, beds,
  doctors; whole city and districts) of every city-year whose Dist exceeds ``DIST_ABOVE`` in the
  ``anomaly_rule=keep`` panel;
- ``flagged``: a random draw of ``SIZES['flagged']`` cells listed by the screen's anomaly list
  (any rule, in and out of the panel);
- ``departure``: a random draw of cells the screen does not list whose printed value departs
  from the median of the other years of that city and column by more than a factor ``DEPARTURE``
  (|log(v / median)| > log 1.5), a rule-neutral signal;
- ``ordinary``: a random draw of the remaining printed cells;
- ``known``: the cells issue 18 names as examples (KNOWN) that the four strata above did not take.

The first four strata are disjoint (a cell belongs to the first stratum in this order that holds
it) and each random draw takes ``numpy.random.default_rng(SEED)`` in the order above over pools
sorted by (city, year, column); ``known`` is added after the draws, so it does not change them.
The labels themselves are the labeller's reading of the printed values, stored in
data/reference/anomaly_labels.csv (how they were made: anomaly_labels.md); ``score`` measures a
screen against them. Dist comes in as data (``draw``'s `dist_keep`): this module sits upstream of
replication.indices and does not import it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from replication.config import YEARS
from replication.data.cities import load_crosswalk
from replication.data.series import EDITIONS
from replication.data.sources import read_pku_names
from replication.data.yearbook import extract_edition

SEED = 20261218
DIST_ABOVE = 1.0
DEPARTURE = 1.5
SIZES = {"flagged": 40, "departure": 30, "ordinary": 30}
STRATA = ("dist_keep", "flagged", "departure", "ordinary", "known")
# misprint: the printed value is wrong; real_change: it departs and the departure is real (a boundary
# change, a level both areas share); ambiguous: the numbers cannot tell; correct: no departure to explain
LABELS = ("misprint", "real_change", "ambiguous", "correct")
SERIES = ("pop", "teachers_primary", "pupils_primary", "library", "beds", "doctors")
AREAS = ("district", "whole")
COLUMNS = tuple(f"{s}_{a}" for s in SERIES for a in AREAS)
# The examples of issue 18 (a referee's reading of the raw sheets), labelled whatever the draw gives.
KNOWN = (
    ("钦州市", 2011, "doctors_whole"),
    *(("石嘴山市", y, "library_district") for y in (2019, 2020, 2021)),
    *(("六安市", y, "library_whole") for y in (2011, 2012, 2013)),
    ("漳州市", 2021, "pop_district"),
    *(("资阳市", y, f"library_{a}") for y in (2016, 2017) for a in AREAS),
    *(("陇南市", y, "library_district") for y in (2011, 2012, 2013, 2014)),
)
# sha256 (`keys_digest`) of the (city, year, column) keys of the anomaly list the committed draw used:
# data/processed/anomalies.csv as of issue 18 (478 cells, the screen before the confirmed rule), kept as
# data/reference/anomaly_labels_flags.csv
FLAGS_SHA256 = "75c70a0e0402f1620b4895677f60168e500c40a61edb7dbe55fb0467c41a7fde"
KEY = ["city", "year", "column"]
CELL_COLUMNS = ["city", "city_en", "year", "area", "column", "value", "stratum"]
LABEL_COLUMNS = [*CELL_COLUMNS, "label", "reason", "context"]


def read_printed(raw: Path) -> pd.DataFrame:
    """The two-area series as printed (after the documented cell_fixes.csv repairs, before any rule):
    one row per city-year of every city the yearbook lists, columns city, city_en, year, COLUMNS."""
    crosswalk = load_crosswalk(raw / "crosswalk_fiersity")
    directory = raw / "ccsy_zeeny" / "key_tables"
    long = pd.concat([extract_edition(directory / str(e), e, crosswalk, raw)[0] for e in EDITIONS])
    long = long[long["series"].isin(SERIES)]
    wide = long.pivot_table(index=["entity_id", "year"], columns=["series", "area"], values="value")
    wide.columns = [f"{s}_{a}" for s, a in wide.columns]
    wide = wide.reindex(columns=list(COLUMNS)).reset_index()
    names = crosswalk.entities.set_index("entity_id")["city"]
    english = read_pku_names(raw, crosswalk)
    wide.insert(0, "city", wide["entity_id"].map(names))
    wide.insert(1, "city_en", wide["entity_id"].map(english))
    return wide.drop(columns="entity_id").sort_values(["city", "year"]).reset_index(drop=True)


def printed_cells(printed: pd.DataFrame) -> pd.DataFrame:
    """One row per printed cell: city, city_en, year, column, area, value (missing cells left out)."""
    cells = printed.melt(id_vars=["city", "city_en", "year"], value_vars=list(COLUMNS),
                         var_name="column", value_name="value").dropna(subset=["value"])
    cells["area"] = cells["column"].str.rsplit("_", n=1).str[1]
    return cells.sort_values(KEY).reset_index(drop=True)


def flag_keys(anomalies: pd.DataFrame) -> set[tuple[str, int, str]]:
    """The (city, year, column) keys of an anomaly list (data/processed/anomalies.csv)."""
    return set(zip(anomalies["city"], anomalies["year"].astype(int), anomalies["column"]))


def keys_digest(keys: Iterable[tuple]) -> str:
    """sha256 of the sorted keys written 'city,year,column' one a line (FLAGS_SHA256 is one)."""
    text = "\n".join(f"{c},{y},{k}" for c, y, k in sorted(keys))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def departure(cells: pd.DataFrame) -> pd.Series:
    """|log(v / m)| with m the median of the other printed years of that city and column (NaN where
    fewer than two other years are printed or a value is not positive)."""
    out = pd.Series(np.nan, index=cells.index)
    for _, group in cells.groupby(["city", "column"]):
        values = group["value"].to_numpy()
        for i, index in enumerate(group.index):
            others = np.delete(values, i)
            median = np.median(others) if len(others) >= 2 else np.nan
            if values[i] > 0 and median > 0:
                out[index] = abs(math.log(values[i] / median))
    return out


def stratify(cells: pd.DataFrame, dist_keep: pd.DataFrame, flagged: Iterable[tuple]) -> pd.Series:
    """The pool each printed cell (`printed_cells`) belongs to: the first of dist_keep, flagged,
    departure that holds it, else ordinary. `dist_keep` has city, year, Dist of the anomaly_rule=keep
    panel; `flagged` holds the (city, year, column) keys the screen lists."""
    high = dist_keep.loc[dist_keep["Dist"] > DIST_ABOVE, ["city", "year"]]
    in_high = pd.MultiIndex.from_frame(cells[["city", "year"]]).isin(pd.MultiIndex.from_frame(high))
    keys = pd.MultiIndex.from_frame(cells[KEY])
    listed = keys.isin(pd.MultiIndex.from_tuples(sorted(set(flagged)), names=KEY))
    departs = departure(cells) > math.log(DEPARTURE)
    return pd.Series(np.select([in_high, listed, departs], ["dist_keep", "flagged", "departure"], "ordinary"),
                     index=cells.index, name="stratum")


def draw(printed: pd.DataFrame, dist_keep: pd.DataFrame, flagged: Iterable[tuple]) -> pd.DataFrame:
    """The cells to label, one row each (CELL_COLUMNS), sorted by stratum then (city, year, column):
    all of dist_keep, SIZES[s] drawn without replacement from each other pool (one generator,
    default_rng(SEED), in the order of SIZES), then the KNOWN cells not yet taken."""
    cells = printed_cells(printed)
    stratum = stratify(cells, dist_keep, flagged)
    rng = np.random.default_rng(SEED)
    chosen = [cells.index[stratum == "dist_keep"]]
    for name, size in SIZES.items():
        pool = cells.index[stratum == name]
        if len(pool) < size:
            raise ValueError(f"stratum {name}: {len(pool)} cells, fewer than the {size} to draw")
        chosen.append(pd.Index(np.sort(rng.choice(pool, size=size, replace=False))))
    taken = np.concatenate(chosen)
    keys = pd.MultiIndex.from_frame(cells[KEY])
    known = cells.index[keys.isin(pd.MultiIndex.from_tuples(KNOWN, names=KEY))].difference(taken)
    stratum[known] = "known"
    out = cells.loc[np.concatenate([taken, known])].assign(stratum=stratum)
    out["stratum"] = pd.Categorical(out["stratum"], categories=STRATA, ordered=True)
    out = out.sort_values(["stratum", *KEY])
    out["stratum"] = out["stratum"].astype(str)
    return out[CELL_COLUMNS].reset_index(drop=True)


def number(value: float) -> str:
    """A printed value as the yearbook gives it (no trailing zeros), '-' where not printed."""
    return "-" if pd.isna(value) else f"{value:.10g}"


def context(printed: pd.DataFrame, city: str, year: int, column: str) -> str:
    """One line with what a labeller reads: the cell's series in both areas and the population of both
    areas, every year (the cell's own year in brackets), e.g.
    'library_district 1.2 1.6 [1.4] 17.5 ... | library_whole ... | pop_district ... | pop_whole ...'."""
    rows = printed[printed["city"] == city].set_index("year").reindex(list(YEARS))
    series = column.rsplit("_", 1)[0]
    shown = [f"{series}_{a}" for a in AREAS] + ([] if series == "pop" else [f"pop_{a}" for a in AREAS])
    parts = []
    for name in shown:
        values = [f"[{number(v)}]" if y == year else number(v) for y, v in rows[name].items()]
        parts.append(f"{name} " + " ".join(values))
    return f"{city} {YEARS[0]}-{YEARS[-1]}: " + " | ".join(parts)


def with_context(cells: pd.DataFrame, printed: pd.DataFrame) -> pd.DataFrame:
    """The drawn cells with their one-line context."""
    lines = [context(printed, c.city, c.year, c.column) for c in cells.itertuples()]
    return cells.assign(context=lines)


def label_table(cells: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """data/reference/anomaly_labels.csv: the drawn cells with context (`with_context`) joined to the
    labeller's (city, year, column, label, reason), values as printed, sorted by (city, year, column)."""
    table = cells.merge(labels[[*KEY, "label", "reason"]], on=KEY, how="left", validate="one_to_one")
    unlabelled = table[~table["label"].isin(LABELS) | (table["reason"].fillna("") == "")]
    if len(unlabelled):
        first = unlabelled.iloc[0]
        raise ValueError(f"{first.city} {first.year} {first.column}: no label in {LABELS} with a reason")
    table["value"] = table["value"].map(number)
    return table[LABEL_COLUMNS].sort_values(KEY).reset_index(drop=True)


def score(labels: pd.DataFrame, corrected: set, listed: set) -> dict:
    """Precision and recall of a screen on the labelled cells (keys are (city, year, column)).

    precision = labelled cells corrected that are labelled misprint / labelled cells corrected;
    recall = labelled misprints that are listed / labelled misprints. NaN where a denominator is 0."""
    keys = list(zip(labels["city"], labels["year"].astype(int), labels["column"]))
    misprint = labels["label"].to_numpy() == "misprint"
    is_corrected = np.array([k in corrected for k in keys], dtype=bool)
    is_listed = np.array([k in listed for k in keys], dtype=bool)
    n_corrected, n_misprint = int(is_corrected.sum()), int(misprint.sum())
    hits, found = int((is_corrected & misprint).sum()), int((is_listed & misprint).sum())
    return {
        "labelled": len(keys),
        "corrected": n_corrected,
        "corrected_misprint": hits,
        "precision": hits / n_corrected if n_corrected else math.nan,
        "misprints": n_misprint,
        "misprints_listed": found,
        "recall": found / n_misprint if n_misprint else math.nan,
    }
