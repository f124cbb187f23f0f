"""Reading one China City Statistical Yearbook table (.xlsx) into a tidy frame.

The per-table workbooks split a printed table over several sheets (one per page
or group of pages), repeat the header block on every page, and move columns
between editions.  Nothing here relies on fixed positions: header rows are
found from their text, each column is labelled by joining the header cells
above it, and its area (whole city / districts) and unit are read from that
label or from the page's "单位" line.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from python_calamine import CalamineWorkbook

from replication.errors import BuildError

JUNK_SHEETS = ("CNKI", "马克数据网")
MISSING_TOKENS = {"", "-", "--", "—", "…", "...", "/", "－", "x", "X"}
SKIP_ROWS = {"城市合计", "全国", "全国合计", "合计", "地级以上城市"}

_WS = re.compile(r"\s+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_UNIT_LINE = re.compile(r"^单位[:：]?(.+)$")


def clean(cell: object) -> str:
    """One header or name cell as plain text: no carriage-return escapes, single spaces."""
    if cell is None:
        return ""
    text = str(cell).replace("_x000D_", " ")
    return _WS.sub(" ", text).strip()


def squash(text: str) -> str:
    """Text with every space removed (for matching labels such as '城 市')."""
    return _WS.sub("", text)


@dataclass(frozen=True)
class Column:
    index: int
    label: str  # header cells above the column joined by ' / '
    area: str | None  # 'whole', 'district' or None
    unit: str | None  # unit text from the label, else from the page's 单位 line


@dataclass(frozen=True)
class Table:
    path: Path
    title: str
    columns: tuple[Column, ...]
    rows: pd.DataFrame  # name, name_en, province, sheet, row, then one column per Column.index (raw text)
    repairs: tuple[str, ...] = ()  # what was mended while reading, for the build log


def _is_header_start(row: list[str]) -> bool:
    first = squash(row[0]) if row else ""
    second = row[1].strip() if len(row) > 1 else ""
    return first == "城市" or second == "City"


def _area_of(label: str, title: str) -> str | None:
    """Area from the sub-header cells (some are garbled, e.g. 'Tota 全l Cit市y'), else from the title."""
    text = squash(label.split(" / ", 1)[1]) if " / " in label else ""
    if "辖" in text or "District" in text:
        return "district"
    if "全" in text or "Total" in text:
        return "whole"
    title = squash(title)
    if "(全市)" in title or "（全市）" in title:
        return "whole"
    if "(市辖区)" in title or "（市辖区）" in title:
        return "district"
    return None


_UNIT_IN_LABEL = re.compile(r"[（(]\s*([^()（）]*?(?:人|元|户|册|件|张|个|处|%|‰|公里)[^()（）]*?)\s*[)）]")


def _unit_of(label: str, page_unit: str | None) -> str | None:
    for match in _UNIT_IN_LABEL.finditer(label):
        text = squash(match.group(1))
        if re.search(r"[\u4e00-\u9fff%‰]", text):
            return text
    return page_unit


def _parse_unit_line(text: str) -> str | None:
    """'单位：万人' or '单位:人' -> the unit; None for any other line."""
    match = _UNIT_LINE.match(squash(text))
    return match.group(1).strip("()（）") if match else None


def check_path(path: Path, what: str, directory: bool = False) -> None:
    """BuildError naming `path` unless it is a readable file (or directory): a missing entry, a
    dangling symlink, a symlink loop and the wrong kind of entry each say so."""
    try:
        mode = path.stat().st_mode  # follows symlinks
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BuildError(f"{path}: symlink loop (a link that leads back to itself); expected {what}") from None
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise BuildError(f"{path}: dangling symlink to {os.readlink(path)}; expected {what}") from None
        if exc.errno == errno.ENOENT:
            what_missing = "directory missing" if directory else "file not found"
            raise BuildError(f"{path}: {what_missing}; expected {what}") from None
        raise BuildError(f"{path}: cannot be opened ({exc.strerror}); expected {what}") from None
    if directory and not stat.S_ISDIR(mode):
        raise BuildError(f"{path}: not a directory; expected {what}")
    if not directory and not stat.S_ISREG(mode):
        raise BuildError(f"{path}: not a regular file; expected {what}")


def read_table(path: Path) -> Table:
    """Read every page of one yearbook table; raise BuildError naming the file if it cannot."""
    check_path(path, "a yearbook table .xlsx")
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheets = [name for name in workbook.sheet_names if not any(junk in name for junk in JUNK_SHEETS)]
        pages = {name: workbook.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in sheets}
    except Exception as exc:  # calamine raises its own error types for a damaged file
        raise BuildError(f"{path}: cannot be read as an .xlsx workbook ({type(exc).__name__}: {exc})") from None
    if not sheets:
        raise BuildError(f"{path}: no data sheet (only {workbook.sheet_names})")
    title = ""
    columns: dict[int, Column] = {}
    records: list[dict] = []
    province = ""
    for sheet in sheets:
        page_unit: str | None = None
        header: list[list[str]] | None = None
        in_header = False
        for row_number, raw in enumerate(pages[sheet], start=1):
            raw = [None if cell == "" else cell for cell in raw]
            row = [clean(cell) for cell in raw]
            if not any(row):
                continue
            if not title and row[0] and not _is_header_start(row):
                title = row[0]
            if _is_header_start(row):
                header, in_header = [row], True
                continue
            if in_header and not row[0]:
                header.append(row)
                continue
            if in_header:
                in_header = False
                _merge_columns(path, sheet, row_number, columns, header, title, page_unit)
            if header is None:
                unit = _parse_unit_line(row[0]) if row[0] else None
                if unit:
                    page_unit = unit
                continue
            name = row[0]
            if squash(name) in SKIP_ROWS or not _CJK.search(name):
                continue  # totals, and English unit lines such as '(10000persons)' on later pages
            if _is_province(name):
                province = squash(name)
                if not _is_municipality(name):
                    continue
            elif _is_unit_or_note(name):
                unit = _parse_unit_line(name)
                if unit:
                    page_unit = unit
                continue
            record = {
                "name": squash(name),
                "name_en": row[1].strip() if len(row) > 1 else "",
                "province": province if not _is_municipality(name) else squash(name),
                "sheet": sheet,
                "row": row_number,
            }
            for index in columns:
                record[index] = raw[index] if index < len(raw) else None
            records.append(record)
    if not columns:
        raise BuildError(f"{path}: no header row found (expected a row starting with '城市' / 'City')")
    repairs = _unstack_rows(path, records, sorted(columns))
    frame = pd.DataFrame.from_records(records)
    return Table(
        path=path, title=title, columns=tuple(columns[i] for i in sorted(columns)), rows=frame,
        repairs=tuple(repairs),
    )


def _unstack_rows(path: Path, records: list[dict], indexes: list[int]) -> list[str]:
    """Split cells that hold the values of two consecutive cities, one per line.

    The conversion sometimes stacks a row's figures onto the row above it (edition 2012: 佳木斯市
    holds '6253089\n3080590' and 七台河市 below it is empty).  Where every filled cell of a row has
    the same number k > 1 of lines and the next k - 1 rows are empty, line i goes to row i.
    """
    repairs = []
    for i, record in enumerate(records):
        cells = [record[j] for j in indexes if record[j] is not None]
        lines = [clean_lines(c) for c in cells]
        if not lines or len(lines[0]) < 2 or any(len(v) != len(lines[0]) for v in lines):
            continue
        k = len(lines[0])
        below = records[i + 1 : i + k]
        if len(below) != k - 1 or any(r[j] is not None for r in below for j in indexes):
            raise BuildError(
                f"{path} sheet {record['sheet']!r} row {record['row']}: {record['name']}: cells hold {k} "
                "lines each but the rows below are not empty; cannot tell which city each line belongs to"
            )
        for j in indexes:
            if record[j] is None:
                continue
            parts = clean_lines(record[j])
            record[j] = parts[0]
            for r, part in zip(below, parts[1:]):
                r[j] = part
        repairs.append(
            f"{path.name} sheet {record['sheet']!r} rows {record['row']}-{record['row'] + k - 1}: "
            f"values of {', '.join(r['name'] for r in [record, *below])} were stacked in one row; split by line"
        )
    return repairs


def clean_lines(cell: object) -> list[str]:
    """The non-empty lines of a cell (a single-line cell gives one line)."""
    text = str(cell).replace("_x000D_", "")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _merge_columns(path, sheet, row_number, columns, header, title, page_unit) -> None:
    """Label the columns of one header block; a repeated block must agree with the first."""
    width = max(len(r) for r in header)
    rows = [r + [""] * (width - len(r)) for r in header]
    # Merged cells span to the right: fill every header row but the last (the leaf row).
    for r in rows[:-1] if len(rows) > 1 else rows:
        for j in range(3, width):
            if not r[j]:
                r[j] = r[j - 1]
    for j in range(2, width):
        label = " / ".join(r[j] for r in rows if r[j])
        if not label:
            continue
        column = Column(index=j, label=label, area=_area_of(label, title), unit=_unit_of(label, page_unit))
        if j not in columns:
            columns[j] = column
        elif columns[j].area != column.area and column.area is not None and columns[j].area is not None:
            raise BuildError(
                f"{path} sheet {sheet!r} row {row_number}: column {j} is {column.area} here "
                f"but {columns[j].area} on an earlier page (header layout changes within one table)"
            )


MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")


def _is_municipality(name: str) -> bool:
    return squash(name) in MUNICIPALITIES


def _is_province(name: str) -> bool:
    """Province rows end in 省 or carry 自治 (some are misprinted: '折江省', '新疆维吾尔自治E')."""
    text = squash(name)
    return text.endswith("省") or ("自治" in text and not text.endswith("市")) or text in MUNICIPALITIES


def _is_unit_or_note(name: str) -> bool:
    text = squash(name)
    return text.startswith(("单位", "注", "续表")) or "续表" in text or text.startswith("(") and "续" in text


def to_number(value: object) -> float:
    """A data cell as a float; NaN for the yearbook's empty markers; ValueError otherwise."""
    if value is None:
        return np.nan
    if isinstance(value, (int, float)):
        return float(value)
    text = squash(str(value))
    if text in MISSING_TOKENS:
        return np.nan
    if not _NUMBER.match(text):  # the yearbook prints no thousands separators; '36,00' is a misprint
        raise ValueError(text)
    return float(text)


def read_sheet(path: Path, sheet: str) -> list[list[object]]:
    """The raw cells of one named sheet (for the non-yearbook workbooks)."""
    check_path(path, "an .xlsx workbook")
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        if sheet not in workbook.sheet_names:
            raise BuildError(f"{path}: sheet {sheet!r} missing (found {workbook.sheet_names})")
        return workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except BuildError:
        raise
    except Exception as exc:
        raise BuildError(f"{path}: cannot be read as an .xlsx workbook ({type(exc).__name__}: {exc})") from None
