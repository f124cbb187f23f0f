"""The schema of every frame that crosses a boundary between steps, declared once (pandera).

The panel (data/processed/panel.csv or a user's --panel), the estimation data (analysis.csv) and
each tidy table CSV are checked when a step reads them and before a step writes them: types, unique
keys, years and regions in their sets, documented ranges, and no NaN or inf where a model needs a
number.  ``check`` returns the frame with its types coerced, or raises ``SchemaError`` (a
BuildError, so the command line prints one line and exits with 2) naming the file, the column,
what was expected and the first offending rows by city and year (or by table cell).

The raw inputs the panel build reads besides the yearbook sheets have their schemas here too: the
three files of the FIERsity crosswalk (``ENTITIES``, ``ROSTER``, ``YEAR_END``) and the committed
``city_aliases.csv`` (``ALIASES``) and ``raw_files.csv`` (``RAW_FILES``, read by ``fetch``); their
failures name the file, the line, the entity (alias, file) and the column.

pandera does the checking; this module only declares the schemas and words the failures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from replication.config import REGIONS, YEARS
from replication.errors import BuildError

REGION_NAMES = ("East", "Central", "West")
AREAS = ("pop", "teachers_primary", "pupils_primary", "library", "beds", "doctors")
# Shares printed in percent (0-100) by the yearbook and kept in percent in the panel.
PERCENT = ("tertiary_share_whole", "emp_tertiary_share_whole", "ict_share_whole")
# Panel columns the indices and models read: after the documented fills they must be finite
# numbers (ict_share_whole and emp_tertiary_share_whole may be missing in 2020-2021 when the panel
# was built with share_end_rule=none; the indices then drop those years).
MODEL_INPUTS = (
    *(f"{s}_{a}" for s in AREAS for a in ("whole", "district", "nonurban")),
    "pop_avg_whole", "gdp_whole", "tertiary_share_whole", "expenditure_whole", "telecom_revenue_whole",
    "mobile_whole", "internet_whole", "pku_index",
)
POSITIVE = ("pop_whole", "pop_avg_whole", "gdp_whole", "expenditure_whole")  # divided by or logged
MAY_BE_MISSING = ("ict_share_whole", "emp_tertiary_share_whole", "emp_whole", "emp_ict_whole")
SHOWN = 3  # offending rows named in a message


class SchemaError(BuildError):
    """A frame that does not follow its schema; the message names file, column, rows and expectation."""


def _finite(series: pd.Series) -> pd.Series:
    return pd.Series(np.isfinite(series.to_numpy(float)), index=series.index)


def _number(low=None, high=None, nullable=False, finite=True, positive=False, required=True) -> pa.Column:
    checks = []
    if finite:
        checks.append(pa.Check(lambda s: _finite(s) | s.isna(), error="a finite number (not inf)"))
    if positive:
        checks.append(pa.Check.gt(0, error="> 0 (it is divided by or logged)"))
    elif low is not None:
        checks.append(pa.Check.ge(low, error=f">= {low:g}"))
    if high is not None:
        checks.append(pa.Check.le(high, error=f"<= {high:g}"))
    return pa.Column(float, checks=checks, nullable=nullable, coerce=True, required=required)


def _keys() -> dict[str, pa.Column]:
    return {
        "city_code": pa.Column(int, pa.Check.gt(0, error="a positive city code"), coerce=True),
        "city": pa.Column(str, coerce=True),
        "province": pa.Column(str, coerce=True),
        "region": pa.Column(str, pa.Check.isin(REGION_NAMES, error="one of East, Central, West")),
        "year": pa.Column(int, pa.Check.in_range(YEARS[0], YEARS[-1], error=f"a year in {YEARS[0]}-{YEARS[-1]}"),
                          coerce=True),
    }


def _district_within_whole(series: str):
    def check(frame: pd.DataFrame) -> pd.Series:
        whole, district = frame[f"{series}_whole"], frame[f"{series}_district"]
        return whole.isna() | district.isna() | (district <= whole * (1 + 1e-9))

    return pa.Check(check, error=f"{series}_district <= {series}_whole (districts are part of the whole city)")


PANEL = pa.DataFrameSchema(
    {
        **_keys(),
        "city_en": pa.Column(str, coerce=True),
        **{c: _number(low=0, nullable=c in MAY_BE_MISSING, positive=c in POSITIVE)
           for c in MODEL_INPUTS if c not in PERCENT},
        **{c: _number(low=0, high=100, nullable=c in MAY_BE_MISSING) for c in PERCENT},
        **{c: _number(low=0, nullable=True, required=False) for c in ("emp_whole", "emp_ict_whole")},
        # fill flags: '' where observed, else the rule that filled the cell
        r"^.+_fill$": pa.Column(str, nullable=True, regex=True, required=False, coerce=True),
    },
    checks=[_district_within_whole(s) for s in AREAS],
    unique=["city_code", "year"],
    name="panel",
)

ANALYSIS = pa.DataFrameSchema(
    {
        **_keys(),
        "city_en": pa.Column(str, coerce=True, required=False),
        "Dist": _number(low=0),
        "Dig": _number(low=0, high=1),
        "Dig_entropy": _number(low=0, high=1),
        "Isu": _number(low=0, high=1),
        "Ur": _number(low=0, high=1),
        "Stru": _number(low=0, high=1),
        "lnper_gdp": _number(),
        "lnexpense": _number(),
        r"^.+_fill$": pa.Column(str, nullable=True, regex=True, required=False, coerce=True),
    },
    unique=["city_code", "year"],
    name="analysis data",
)

COEFFICIENTS = pa.DataFrameSchema(
    {
        "column": pa.Column(str, coerce=True),
        "term": pa.Column(str, coerce=True),
        "estimate": _number(),
        "std_error": _number(low=0, nullable=True),
        "t_stat": _number(nullable=True),
        "p_value": _number(low=0, high=1, nullable=True),
    },
    unique=["column", "term"],
    strict=True,
    name="coefficients",
)

STATS = pa.DataFrameSchema(
    {"column": pa.Column(str, coerce=True), "stat": pa.Column(str, coerce=True), "value": _number(nullable=True)},
    unique=["column", "stat"],
    strict=True,
    name="statistics",
)

DRAWS = pa.DataFrameSchema(
    {"key": pa.Column(str, coerce=True), "draw": pa.Column(int, pa.Check.ge(0), coerce=True),
     "value": _number()},
    unique=["key", "draw"],
    strict=True,
    name="resampling draws",
)


def _descriptive(key: str, numbers: tuple[str, ...]) -> pa.DataFrameSchema:
    """Tables 1, 3, 4: a unique key and numeric columns (blank where a cell does not apply, never inf)."""
    return pa.DataFrameSchema(
        {key: pa.Column(str, coerce=True), **{c: _number(nullable=True) for c in numbers}},
        unique=[key],
        name="table",
    )


DESCRIPTIVE = {
    "table1": _descriptive("indicator", ("weight", "weight_six", "weight_paper")),
    "table3": _descriptive("component", ("eigenvalue", "variance_share", "cumulative_share")),
    "table3_stats": _descriptive("stat", ("value",)),
    "table3_weights": _descriptive("indicator", ("weight_pca", "weight_entropy")),
    "table4": _descriptive("variable", ("mean", "sd", "min", "max", "n")),
}


# --- the raw inputs besides the yearbook sheets (read in replication/data/cities.py) -------------
ENTITY_ID = r"^CNUR-\d{6}$"


def _text(pattern: str | None = None, error: str = "", nullable: bool = False) -> pa.Column:
    checks = [pa.Check.str_matches(pattern, error=error)] if pattern else []
    checks.append(pa.Check(lambda s: s.str.strip() != "", element_wise=False, error="a non-blank value"))
    return pa.Column(str, checks=checks, nullable=nullable, coerce=True)


def _year(low: int = 1949, high: int = 2100) -> pa.Column:
    return pa.Column(int, pa.Check.in_range(low, high, error=f"a year in {low}-{high}"), coerce=True)


ENTITIES = pa.DataFrameSchema(
    {
        "entity_id": _text(ENTITY_ID, "an entity id CNUR-nnnnnn"),
        "legacy_entity_id": _text(r"^E\d{6}$", "a legacy id: E and the six-digit administrative code (E130200)"),
        "canonical_name_zh": _text(),
        "province_name_zh": _text(),
    },
    unique=["entity_id"],
    name="crosswalk entities (entity_id, legacy_entity_id, canonical_name_zh, province_name_zh)",
)
ROSTER = pa.DataFrameSchema(
    {"entity_id": _text(ENTITY_ID, "an entity id CNUR-nnnnnn"), "year": _year(),
     "legal_name_zh": _text(nullable=True)},
    unique=["entity_id", "year"],
    name="legal roster (entity_id, year, legal_name_zh)",
)
YEAR_END = pa.DataFrameSchema(
    {"entity_id": _text(ENTITY_ID, "an entity id CNUR-nnnnnn"), "name_zh": _text(nullable=True),
     "start_year": _year(), "end_year": _year()},
    checks=[pa.Check(lambda f: f["start_year"] <= f["end_year"], error="start_year <= end_year")],
    name="year-end names (entity_id, name_zh, start_year, end_year)",
)
ALIASES = pa.DataFrameSchema(
    {"name": _text(), "name_en": _text(), "canonical": _text(), "reason": _text()},
    unique=["name", "name_en"],
    strict=True,
    name="list of misprinted names (name, name_en, canonical, reason)",
)
RAW_FILES = pa.DataFrameSchema(
    {
        "path": _text(r"^[^/]", "a relative path inside the raw directory"),
        "repo": _text(r"^[\w.-]+/[\w.-]+$", "a GitHub repository owner/name"),
        "commit": _text(r"^[0-9a-f]{40}$", "a commit of 40 hexadecimal digits"),
        "origin_path": _text(),
        "archive": pa.Column(str, coerce=True),  # '' for a file downloaded as it is
        "member": pa.Column(str, coerce=True),
        "bytes": pa.Column(int, pa.Check.gt(0, error="a size in bytes > 0"), coerce=True),
        "sha256": _text(r"^[0-9a-f]{64}$", "a sha256 of 64 hexadecimal digits"),
    },
    unique=["path"],
    strict=True,
    name="list of raw files (path, repo, commit, origin_path, archive, member, bytes, sha256)",
)
NAMES_EN = pa.DataFrameSchema(
    {"name": _text(), "pku": _text(), "english": _text(r"^[A-Z][A-Za-z' -]*[a-z]$", "a capitalised English name"),
     "reason": _text()},
    unique=["name"],
    strict=True,
    name="list of corrected English names (name, pku, english, reason)",
)
INPUTS = {"entities": ENTITIES, "roster": ROSTER, "year_end": YEAR_END, "aliases": ALIASES, "raw_files": RAW_FILES,
          "names_en": NAMES_EN}


def schema_for(name: str) -> pa.DataFrameSchema:
    """The schema of a frame by its file stem: panel, analysis, tableN, tableN_stats, tableN_draws."""
    if name == "panel":
        return PANEL
    if name == "analysis":
        return ANALYSIS
    if name in DESCRIPTIVE:
        return DESCRIPTIVE[name]
    if name in INPUTS:
        return INPUTS[name]
    if name.endswith("_stats"):
        return STATS
    if name == "draws" or name.endswith("_draws"):
        return DRAWS
    return COEFFICIENTS


def _row_label(frame: pd.DataFrame, index) -> str:
    try:
        row = frame.loc[index]
    except (KeyError, TypeError):
        return f"row {index}"
    if "year" in frame.columns and ("city" in frame.columns or "city_code" in frame.columns):
        city = row.get("city", "")
        return f"{city} ({row.get('city_code', '?')}) {row.get('year', '?')}".strip()
    if "entity_id" in frame.columns:  # the crosswalk files
        return f"entity {row['entity_id']}" + (f" {row['year']}" if "year" in frame.columns else "")
    if "name_en" in frame.columns:  # city_aliases.csv
        return f"alias {row['name']} ({row['name_en']})"
    if "sha256" in frame.columns:  # raw_files.csv
        return f"file {row['path']}"
    for key in ("column", "key", "indicator", "component", "variable", "stat"):
        if key in frame.columns:
            label = f"{key} {row[key]}"
            for second in ("term", "stat", "draw"):
                if second in frame.columns and second != key:
                    label += f", {second} {row[second]}"
                    break
            return label
    return f"row {index}"


def _line(index) -> str:
    return f" (line {int(index) + 2})" if isinstance(index, (int, np.integer)) else ""


def describe_failures(errors: pa.errors.SchemaErrors, frame: pd.DataFrame, source: str) -> str:
    """One message for the first failure (missing columns, then types, then column checks, then
    checks across columns): the column, what was expected and the first offending rows."""
    cases = errors.failure_cases.copy()
    order = {"column_in_dataframe": 0, "coerce_dtype": 1, "dtype": 1}
    cases["rank"] = [order.get(str(c).split("(")[0], 2 if ctx == "Column" else 3)
                     for c, ctx in zip(cases["check"], cases["schema_context"])]
    cases = cases.sort_values("rank", kind="stable")
    first = cases.iloc[0]
    column, check, rank = first["column"], str(first["check"]), first["rank"]
    same = cases[cases["check"] == first["check"]]
    if rank == 0:
        missing = ", ".join(str(c) for c in same["failure_case"])
        return f"{source}: missing column {missing} (expected in the {errors.schema.name or 'frame'})"
    if rank == 3:  # a check across columns: keys or district <= whole
        if check == "multiple_fields_uniqueness" or "unique" in check:
            keys = list(errors.schema.unique)
            dup = frame[frame.duplicated(keys, keep=False)].head(SHOWN)
            rows = "; ".join(_row_label(frame, i) + _line(i) for i in dup.index)
            return f"{source}: duplicate ({', '.join(keys)}): expected each once; first duplicated rows: {rows}"
        bad = same.dropna(subset=["index"]).drop_duplicates("index").head(SHOWN)
        rows = "; ".join(_row_label(frame, i) + _line(i) for i in bad["index"])
        return f"{source}: expected {check}; first offending rows: {rows}"
    same = same[same["column"] == column]
    if rank == 1:
        bad = same.dropna(subset=["index"]).head(SHOWN)
        rows = "; ".join(f"{_row_label(frame, i)}{_line(i)}: {frame.loc[i, column]!r}" for i in bad["index"])
        kind = check.split("(", 1)[-1].rstrip(")").strip("'\"")
        what = "a number" if kind.startswith(("float", "int")) else kind
        return f"{source}: column {column}: expected {what}; first bad rows: {rows or 'the column type'}"
    if check == "not_nullable":
        rows = "; ".join(_row_label(frame, i) + _line(i) for i in same["index"].head(SHOWN))
        kind = str(errors.schema.columns[column].dtype) if column in errors.schema.columns else ""
        numeric = not kind.startswith(("str", "object"))
        found = "missing values (NaN)" if numeric else "empty cells"
        return f"{source}: column {column}: expected {'a number' if numeric else 'a value'}, found {found}; first rows: {rows}"
    if "unique" in check:
        return f"{source}: column {column}: expected unique values; duplicated: {list(same['failure_case'].head(SHOWN))}"
    rows = "; ".join(f"{_row_label(frame, i)}{_line(i)}: {value!r}"
                     for i, value in zip(same["index"].head(SHOWN), same["failure_case"].head(SHOWN)))
    return f"{source}: column {column}: expected {check}; first offending rows: {rows}"


def check_shares_present(panel: pd.DataFrame, share_end_rule: str, source: str) -> None:
    """The employment shares may be missing only in a panel built with share_end_rule=none."""
    if share_end_rule == "none":
        return
    for column in ("ict_share_whole", "emp_tertiary_share_whole"):
        missing = panel.index[panel[column].isna()]
        if len(missing):
            rows = "; ".join(_row_label(panel, i) + _line(i) for i in missing[:SHOWN])
            raise SchemaError(f"{source}: column {column}: expected a number (it may be missing only in a panel "
                              f"built with share_end_rule=none); first rows: {rows}")


# What the steps need of a panel beyond its schema: the indices standardise every indicator across
# city-years and weight it by its dispersion across cities, so they need two cities at least; the
# models fit Table 6 on each region, with errors clustered by city, so every region of
# config.REGIONS needs two cities at least.
MIN_CITIES = 2
MIN_CITIES_PER_REGION = 2


def check_panel_size(panel: pd.DataFrame, source: str, regions: bool = False) -> None:
    """SchemaError naming `source` when the panel is too small for the step (`regions`: the models)."""
    if len(panel) == 0:
        raise SchemaError(f"{source}: no rows (only a header); expected one row per city-year, of at least "
                          f"{MIN_CITIES} cities (the indices compare cities)")
    cities = panel.drop_duplicates("city_code")
    if len(cities) < MIN_CITIES:
        raise SchemaError(f"{source}: {len(cities)} city ({', '.join(map(str, cities['city']))}); expected at least "
                          f"{MIN_CITIES}: the indices standardise and weight each indicator across cities")
    if regions:
        counts = cities["region"].value_counts()
        short = [f"{r} ({int(counts.get(r, 0))})" for r in REGIONS if counts.get(r, 0) < MIN_CITIES_PER_REGION]
        if short:
            raise SchemaError(f"{source}: too few cities in region {', '.join(short)}; expected at least "
                              f"{MIN_CITIES_PER_REGION} cities in each of {', '.join(REGIONS)}: Table 6 fits each "
                              "region with errors clustered by city")


def check(frame: pd.DataFrame, name: str, source: str) -> pd.DataFrame:
    """`frame` validated against the schema `name` (coerced types), or SchemaError naming `source`."""
    schema = schema_for(name)
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        raise SchemaError(describe_failures(errors, frame, source)) from None
    except pa.errors.SchemaError as error:  # raised eagerly by some checks
        raise SchemaError(f"{source}: {error}") from None


__all__ = ["ALIASES", "ANALYSIS", "ENTITIES", "PANEL", "ROSTER", "YEAR_END", "SchemaError", "check", "schema_for"]
