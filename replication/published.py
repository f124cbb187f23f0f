"""The paper's published numbers and claims, entered once as data in data/reference/.

``published.csv``: one row per printed number: table, column, row, stat, value, and the text as
printed.  ``claims.csv``: the significance statements of the text, with the cell they refer to.
``guangxi_seed.csv``: the figures of the Guangxi case study (seed 000: its Tables 1-3 and the numbers
of its text), one row per printed figure, with the section or table and the words as printed.
``ethnic_study.csv``: the figures of the ethnic-regions study (seed 004, Ren, Qi and Tong) for the
eight ethnic provinces and regions or for China, one row per printed figure, with its section, the
area (a province's short name, the eight together, China or Northwest China), the place within it,
the year, value, unit and the words as printed.
``ethnic_prefectures.csv``: every prefecture-level division of those eight provinces, whether the
committed panel holds it and, if not, the sample rule and reason (derived once from the raw crosswalk
and the build manifest by ``replication.ethnic.prefectures``).
"""

from __future__ import annotations

import csv
import re
from io import StringIO

import numpy as np
import pandas as pd

PUBLISHED_COLUMNS = ["table", "column", "row", "stat", "value", "printed", "source"]
CLAIM_COLUMNS = ["claim_id", "table", "column", "row", "claim", "level", "printed"]
GUANGXI_COLUMNS = ["source", "quantity", "year", "group", "value", "qualifier", "unit", "printed"]
QUALIFIERS = ("exact", "over", "nearly")  # "98%", "exceeding 95%" / "over 200", "nearly 50%"
ETHNIC_COLUMNS = ["section", "quantity", "area", "place", "year", "value", "qualifier", "unit", "printed"]
ETHNIC_PROVINCES = {  # the eight ethnic provinces and regions, short name -> the panel's province name
    "内蒙古": "内蒙古自治区", "广西": "广西壮族自治区", "西藏": "西藏自治区", "宁夏": "宁夏回族自治区",
    "新疆": "新疆维吾尔自治区", "贵州": "贵州省", "云南": "云南省", "青海": "青海省",
}
ETHNIC_AREAS = ("eight ethnic provinces", "China", "Northwest China")  # beside a province's short name or several
ETHNIC_QUALIFIERS = ("exact", "over", "under")  # "58.7%", "more than 100 mu", "less than 80%"
PREFECTURE_COLUMNS = ["province", "city", "status", "rule", "reason"]
PREFECTURE_STATUS = ("in the panel", "dropped", "not a city of the yearbook")


def parse_published(text: str) -> pd.DataFrame:
    frame = pd.read_csv(StringIO(text), dtype={"value": float, "column": str, "row": str})
    missing = set(PUBLISHED_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"published.csv: columns {sorted(missing)} missing")
    duplicated = frame.duplicated(["table", "column", "row", "stat"])
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise ValueError(f"published.csv: cell {first['table']} {first['column']} {first['row']} {first['stat']} twice")
    return frame


def parse_claims(text: str) -> pd.DataFrame:
    frame = pd.read_csv(StringIO(text), dtype={"column": str, "row": str})
    missing = set(CLAIM_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"claims.csv: columns {sorted(missing)} missing")
    return frame


def parse_guangxi_seed(text: str) -> pd.DataFrame:
    """guangxi_seed.csv: source, quantity, year (blank where the seed gives none), group, value,
    qualifier, unit, printed (the phrase of the text, or a table's column heading)."""
    frame = pd.read_csv(StringIO(text), dtype={"year": "Int64", "value": float, "group": str},
                        keep_default_na=False, na_values={"year": [""], "value": [""]})
    missing = set(GUANGXI_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"guangxi_seed.csv: columns {sorted(missing)} missing")
    for row, record in frame.iterrows():
        line = row + 2  # the header is line 1
        if pd.isna(record["value"]):
            raise ValueError(f"guangxi_seed.csv line {line}: column 'value' is empty; expected a number")
        if record["qualifier"] not in QUALIFIERS:
            raise ValueError(f"guangxi_seed.csv line {line}: qualifier {record['qualifier']!r}; "
                             f"expected one of {QUALIFIERS}")
        if not record["printed"]:
            raise ValueError(f"guangxi_seed.csv line {line}: column 'printed' is empty; "
                             "expected the words as printed")
    duplicated = frame.duplicated(["source", "quantity", "year", "group"])
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise ValueError(f"guangxi_seed.csv: {first['source']} {first['quantity']} {first['year']} "
                         f"{first['group']} twice")
    return frame


def parse_ethnic_study(text: str, name: str = "ethnic_study.csv") -> pd.DataFrame:
    """ethnic_study.csv: section (the study's heading, 'III.A'), quantity, area (a short name of
    ``ETHNIC_PROVINCES``, several separated by spaces, or one of ``ETHNIC_AREAS``), place (a city or
    prefecture within it, or blank), year (blank where the study gives none), value, qualifier, unit,
    printed (the words of the text, which a test finds in the study).  A malformed cell is refused
    with the file, line and column."""
    rows = list(csv.reader(StringIO(text)))
    if not rows:
        raise ValueError(f"{name}: empty; expected the header {','.join(ETHNIC_COLUMNS)}")
    header = rows[0]
    missing = [c for c in ETHNIC_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{name} line 1: columns {missing} missing; expected {','.join(ETHNIC_COLUMNS)}")
    records = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"{name} line {line}: {len(row)} cells; expected {len(header)} (quote a cell "
                             "that holds a comma)")
        record = dict(zip(header, row))

        def refuse(column: str, expected: str, line: int = line, record: dict = record) -> None:
            raise ValueError(f"{name} line {line}, column '{column}': {record[column]!r}; expected {expected}")

        if not re.fullmatch(r"[IVX]+\.[A-Z]", record["section"]):
            refuse("section", "a heading such as 'III.A'")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", record["quantity"]):
            refuse("quantity", "a lower-case identifier")
        areas = record["area"].split(" ")
        if record["area"] not in ETHNIC_AREAS and not all(a in ETHNIC_PROVINCES for a in areas):
            refuse("area", f"one of {ETHNIC_AREAS} or short names of {tuple(ETHNIC_PROVINCES)}")
        year = record["year"].strip()
        if year and not (year.isdigit() and 1990 <= int(year) <= 2030):
            refuse("year", "blank or a year 1990-2030")
        try:
            value = float(record["value"])
        except ValueError:
            refuse("value", "a number")
        if not np.isfinite(value):
            refuse("value", "a finite number")
        if record["qualifier"] not in ETHNIC_QUALIFIERS:
            refuse("qualifier", f"one of {ETHNIC_QUALIFIERS}")
        for column in ("unit", "printed"):
            if not record[column].strip():
                refuse(column, "the unit" if column == "unit" else "the words as printed")
        records.append({**record, "year": int(year) if year else pd.NA, "value": value, "line": line})
    frame = pd.DataFrame(records, columns=[*ETHNIC_COLUMNS, "line"])
    frame["year"] = frame["year"].astype("Int64")
    key = ["section", "quantity", "area", "place", "year"]
    duplicated = frame.duplicated(key, keep="first")
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        earlier = frame[(frame[key].astype(str) == first[key].astype(str)).all(axis=1)]["line"].iloc[0]
        raise ValueError(f"{name} line {first['line']}: {first['section']} {first['quantity']} {first['area']} "
                         f"{first['place']} {first['year']} already on line {earlier}")
    return frame.drop(columns="line")


def parse_ethnic_prefectures(text: str, name: str = "ethnic_prefectures.csv") -> pd.DataFrame:
    """ethnic_prefectures.csv: province (one of ``ETHNIC_PROVINCES``' full names), city, status (one of
    ``PREFECTURE_STATUS``), rule and reason (both set for a dropped city, the reason alone for a
    division that is not a city, both blank for a city in the panel); each city once."""
    frame = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
    if list(frame.columns) != PREFECTURE_COLUMNS:
        raise ValueError(f"{name} line 1: columns {list(frame.columns)}; expected {','.join(PREFECTURE_COLUMNS)}")
    for row, record in frame.iterrows():
        line = row + 2
        if record["province"] not in ETHNIC_PROVINCES.values():
            raise ValueError(f"{name} line {line}, column 'province': {record['province']!r}; expected the full "
                             "name of one of the eight ethnic provinces")
        if record["status"] not in PREFECTURE_STATUS:
            raise ValueError(f"{name} line {line}, column 'status': {record['status']!r}; expected one of "
                             f"{PREFECTURE_STATUS}")
        given = (bool(record["rule"]), bool(record["reason"]))
        expected = {"in the panel": (False, False), "dropped": (True, True),
                    "not a city of the yearbook": (False, True)}[record["status"]]
        if given != expected:
            raise ValueError(f"{name} line {line}: status {record['status']!r} with rule {record['rule']!r} and "
                             f"reason {record['reason']!r}; expected {'a' if expected[0] else 'no'} rule and "
                             f"{'a' if expected[1] else 'no'} reason")
    duplicated = frame.duplicated("city")
    if duplicated.any():
        raise ValueError(f"{name} line {int(frame.index[duplicated][0]) + 2}: {frame['city'][duplicated].iloc[0]} "
                         "twice; expected each division once")
    return frame


def cell(published: pd.DataFrame, table: str, column: str, row: str, stat: str) -> float:
    hit = published[(published["table"] == table) & (published["column"] == column)
                    & (published["row"] == row) & (published["stat"] == stat)]
    return float(hit["value"].iloc[0]) if len(hit) else float("nan")
