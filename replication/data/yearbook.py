"""Extracting the raw series of SERIES from one yearbook edition, in canonical units."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from replication.data.cities import Crosswalk
from replication.errors import BuildError
from replication.data.series import SERIES, Series, matches
from replication.data.sheets import Table, check_path, read_table, squash, to_number

LONG_COLUMNS = ["entity_id", "year", "series", "area", "value", "source", "unit", "name_en", "row"]


def load_cell_fixes() -> dict[tuple, tuple[str, str]]:
    """(edition, file, sheet, row, column) -> (printed, corrected), from cell_fixes.csv beside this module."""
    with resources.files("replication.data").joinpath("cell_fixes.csv").open(encoding="utf-8") as handle:
        fixes = pd.read_csv(handle, dtype=str, comment="#", keep_default_na=False)
    return {
        (int(f.edition), f.file, f.sheet, int(f.row), int(f.column)): (f.printed, f.corrected)
        for f in fixes.itertuples()
    }


def edition_tables(directory: Path) -> tuple[list[Table], list[str]]:
    """Every table of one edition directory whose title some series looks for, and a log line for each
    entry that is not a table and was ignored (Excel lock files '~$....xlsx', hidden files, other types)."""
    check_path(directory, "an edition directory key_tables/<edition>/", directory=True)
    wanted, ignored = [], []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("~$", ".")) or path.suffix.lower() != ".xlsx":
            kind = ("an Excel lock file" if path.name.startswith("~$") else
                    "a hidden file" if path.name.startswith(".") else "not an .xlsx table")
            ignored.append(f"ignored {path.name} in {directory.name}/ ({kind})")
        elif any(matches(s.table, path.stem) for s in SERIES):
            wanted.append(path)
    return [read_table(path) for path in wanted], ignored


def find_column(tables: list[Table], series: Series, area: str, edition: int):
    """The one (table, column) holding `series` for `area` in this edition, or None if documented absent."""
    hits = [
        (table, column)
        for table in tables
        if matches(series.table, squash(table.title)) or matches(series.table, table.path.stem)
        for column in table.columns
        if column.area == area
        and matches(series.column, squash(column.label))
        and not matches(series.exclude, squash(column.label))
    ]
    absent = edition in series.absent.get(area, ())
    if absent and not hits:
        return None
    directory = tables[0].path.parent if tables else f"edition {edition}"
    if absent:
        found = ", ".join(f"{t.path.name} [{c.label}]" for t, c in hits)
        raise BuildError(
            f"{directory}: series {series.name} ({area}) was expected to be absent from edition {edition} "
            f"but was found in {found}; update SERIES if the raw files changed"
        )
    if not hits:
        raise BuildError(
            f"{directory}: header not found for series {series.name} ({area}, edition {edition}): expected "
            f"a table titled /{series.table}/ with a {area} column labelled /{series.column}/"
        )
    if len(hits) > 1:
        found = "; ".join(f"{t.path.name} column {c.index} [{c.label}]" for t, c in hits)
        raise BuildError(f"{directory}: series {series.name} ({area}) matches several columns: {found}")
    return hits[0]


def extract_edition(
    directory: Path, edition: int, crosswalk: Crosswalk, raw_root: Path
) -> tuple[pd.DataFrame, list[Path], list[str]]:
    """Every series of one edition as a long frame (entity_id, year, series, area, value, source, and
    the unit label, printed English name and sheet row it was read from),
    with the files read and the repairs made while reading them (and the entries ignored)."""
    tables, ignored = edition_tables(directory)
    fixes = load_cell_fixes()
    year = edition - 1
    frames = []
    matched: dict[Path, list[str]] = {}
    for table in tables:
        where = str(table.path)
        rows = table.rows
        matched[table.path] = [
            crosswalk.match(r.name, r.name_en, r.province, year, f"{where} sheet {r.sheet!r} row {r.row}")
            for r in rows.itertuples()
        ]
    for series in SERIES:
        for area in series.areas:
            hit = find_column(tables, series, area, edition)
            if hit is None:
                continue
            table, column = hit
            if column.unit not in series.units:
                raise BuildError(
                    f"{table.path}: column {column.index} [{column.label}] of series {series.name}: unit "
                    f"{column.unit!r} cannot be converted; expected one of {sorted(series.units)}"
                )
            factor = series.units[column.unit]
            ids = matched[table.path]
            values = []
            for entity, r, cell in zip(ids, table.rows.itertuples(), table.rows[column.index]):
                fix = fixes.get((edition, table.path.name, r.sheet, r.row, column.index))
                if fix is not None:
                    if str(cell) != fix[0]:
                        raise BuildError(
                            f"{table.path} sheet {r.sheet!r} row {r.row}: cell_fixes.csv expects "
                            f"{fix[0]!r} in column {column.index} but the file holds {cell!r}"
                        )
                    cell = fix[1]
                try:
                    value = to_number(cell)
                except ValueError:
                    raise BuildError(
                        f"{table.path} sheet {r.sheet!r} row {r.row}: {r.name} {year}, column "
                        f"[{column.label}]: {cell!r} is not a number"
                    ) from None
                if not series.count and value == value and not 0 <= value <= 100:
                    raise BuildError(
                        f"{table.path} sheet {r.sheet!r} row {r.row}: {r.name} {year}, column "
                        f"[{column.label}]: share {value:g} outside 0-100 (percent)"
                    )
                if series.count and value < 0:
                    raise BuildError(
                        f"{table.path} sheet {r.sheet!r} row {r.row}: {r.name} {year}, column "
                        f"[{column.label}]: negative count {value}"
                    )
                values.append(value * factor)
            source = f"{table.path.relative_to(raw_root).as_posix()} col {column.index}"
            frame = pd.DataFrame(
                {"entity_id": ids, "year": year, "series": series.name, "area": area, "value": values,
                 "source": source, "unit": column.unit, "name_en": table.rows["name_en"].to_numpy(),
                 "row": [f"sheet {r.sheet!r} row {r.row}" for r in table.rows.itertuples()]}
            )
            duplicated = frame["entity_id"][frame["entity_id"].duplicated()]
            if len(duplicated):
                names = crosswalk.entities.set_index("entity_id").loc[duplicated.unique(), "city"]
                raise BuildError(
                    f"{table.path}: duplicate city-year for {', '.join(names)} ({year}) in column "
                    f"[{column.label}]: each city may appear once per table"
                )
            frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["value"] = out["value"].astype(float)
    out.loc[~np.isfinite(out["value"]), "value"] = np.nan
    repairs = [f"edition {edition}: {r}" for r in ignored] + [
        f"edition {edition}: {r}" for t in tables for r in t.repairs]
    return out[LONG_COLUMNS], [t.path for t in tables], repairs
