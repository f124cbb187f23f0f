"""The paper's published numbers and claims, entered once as data in data/reference/.

``published.csv``: one row per printed number: table, column, row, stat, value, and the text as
printed.  ``claims.csv``: the significance statements of the text, with the cell they refer to.
"""

from __future__ import annotations

from io import StringIO

import pandas as pd

PUBLISHED_COLUMNS = ["table", "column", "row", "stat", "value", "printed", "source"]
CLAIM_COLUMNS = ["claim_id", "table", "column", "row", "claim", "level", "printed"]


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


def cell(published: pd.DataFrame, table: str, column: str, row: str, stat: str) -> float:
    hit = published[(published["table"] == table) & (published["column"] == column)
                    & (published["row"] == row) & (published["stat"] == stat)]
    return float(hit["value"].iloc[0]) if len(hit) else float("nan")
