"""The paper's published numbers and claims, entered once as data in data/reference/.

``published.csv``: one row per printed number: table, column, row, stat, value, and the text as
printed.  ``claims.csv``: the significance statements of the text, with the cell they refer to.
``guangxi_seed.csv``: the figures of the Guangxi case study (seed 000: its Tables 1-3 and the numbers
of its text), one row per printed figure, with the section or table and the words as printed.
"""

from __future__ import annotations

from io import StringIO

import pandas as pd

PUBLISHED_COLUMNS = ["table", "column", "row", "stat", "value", "printed", "source"]
CLAIM_COLUMNS = ["claim_id", "table", "column", "row", "claim", "level", "printed"]
GUANGXI_COLUMNS = ["source", "quantity", "year", "group", "value", "qualifier", "unit", "printed"]
QUALIFIERS = ("exact", "over", "nearly")  # "98%", "exceeding 95%" / "over 200", "nearly 50%"


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


def cell(published: pd.DataFrame, table: str, column: str, row: str, stat: str) -> float:
    hit = published[(published["table"] == table) & (published["column"] == column)
                    & (published["row"] == row) & (published["stat"] == stat)]
    return float(hit["value"].iloc[0]) if len(hit) else float("nan")
