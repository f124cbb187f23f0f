"""Bad input is refused with a message that names the file, the city-year and the column.

Most cases copy one real edition (as symlinks), damage one table in the copy with openpyxl, and
extract that edition; the real raw files are never opened for writing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from replication.__main__ import main
from replication.data.build import apply_district_rule, check_population, load_anomalies
from replication.errors import BuildError
from replication.data.sheets import read_table
from replication.data.yearbook import extract_edition

pytestmark = pytest.mark.raw
EDITION = 2015  # data year 2014
POP = "2-1_人口状况.xlsx"
GDP = "2-13_地区生产总值.xlsx"
TEACHERS = "2-33_专任教师数(二).xlsx"


def copy_edition(raw_dir: Path, target_root: Path, edition: int) -> Path:
    """A copy of one edition directory under target_root, every table a symlink to the raw file."""
    target = target_root / str(edition)
    target.mkdir(parents=True)
    for path in (raw_dir / "ccsy_zeeny" / "key_tables" / str(edition)).glob("*.xlsx"):
        (target / path.name).symlink_to(path)
    return target


@pytest.fixture
def edition(raw_dir, tmp_path):
    return copy_edition(raw_dir, tmp_path / "key_tables", EDITION)


def damage(directory: Path, name: str, change) -> None:
    """Replace the symlink `name` by an edited copy of the real table."""
    path = directory / name
    workbook = openpyxl.load_workbook(path.resolve())
    change(workbook[workbook.sheetnames[0]])
    path.unlink()
    workbook.save(path)


def find_row(sheet, name: str) -> int:
    for row in sheet.iter_rows(min_col=1, max_col=1):
        if row[0].value and str(row[0].value).strip() == name:
            return row[0].row
    raise AssertionError(f"{name} not in sheet")


def extract(directory, crosswalk, raw_dir):
    return extract_edition(directory, EDITION, crosswalk, directory.parent.parent)


def test_missing_table(edition, crosswalk, raw_dir):
    (edition / POP).unlink()
    with pytest.raises(BuildError, match=r"header not found for series pop \(whole, edition 2015\)"):
        extract(edition, crosswalk, raw_dir)


def test_missing_file():
    with pytest.raises(BuildError, match=r"nowhere\.xlsx: file not found"):
        read_table(Path("/nonexistent/nowhere.xlsx"))


def test_unreadable_file(edition, crosswalk, raw_dir):
    (edition / POP).unlink()
    (edition / POP).write_bytes(b"not a workbook")
    with pytest.raises(BuildError, match=r"2-1_人口状况\.xlsx: cannot be read as an \.xlsx workbook"):
        extract(edition, crosswalk, raw_dir)


def test_header_not_found(edition, crosswalk, raw_dir):
    def erase(sheet):
        for row in sheet.iter_rows():
            if row[0].value and str(row[0].value).replace(" ", "") == "城市":
                row[0].value, row[1].value = "地区", "Region"

    damage(edition, POP, erase)
    with pytest.raises(BuildError, match=r"2-1_人口状况\.xlsx: no header row found"):
        extract(edition, crosswalk, raw_dir)


def test_unit_cannot_be_determined(edition, crosswalk, raw_dir):
    def thousand_yuan(sheet):
        for row in sheet.iter_rows():
            for c in row:
                if isinstance(c.value, str) and "地区生产总值(当年价格)" in c.value:
                    c.value = c.value.replace("(万元)", "(千元)")

    damage(edition, GDP, thousand_yuan)
    with pytest.raises(BuildError, match=r"2-13_地区生产总值\.xlsx: column 2 .* series gdp: unit '千元' "
                                         r"cannot be converted; expected one of \['万元', '亿元'\]"):
        extract(edition, crosswalk, raw_dir)


def test_duplicate_city_year(edition, crosswalk, raw_dir):
    damage(edition, POP, lambda s: s.cell(find_row(s, "唐山市"), 1, "  石家庄市"))
    with pytest.raises(BuildError, match=r"2-1_人口状况\.xlsx: duplicate city-year for 石家庄市 \(2014\)"):
        extract(edition, crosswalk, raw_dir)


def test_non_numeric_cell(edition, crosswalk, raw_dir):
    damage(edition, POP, lambda s: s.cell(find_row(s, "唐山市"), 3, "n/a"))
    with pytest.raises(BuildError, match=r"2-1_人口状况\.xlsx sheet '1-7' row \d+: 唐山市 2014, column "
                                         r"\[年末总人口.*全市.*\]: 'n/a' is not a number"):
        extract(edition, crosswalk, raw_dir)


def test_negative_count(edition, crosswalk, raw_dir):
    damage(edition, TEACHERS, lambda s: s.cell(find_row(s, "唐山市"), 5, "-12"))
    with pytest.raises(BuildError, match=r"唐山市 2014, column \[.*小学.*全市.*\]: negative count -12"):
        extract(edition, crosswalk, raw_dir)


def test_city_not_matched(edition, crosswalk, raw_dir):
    damage(edition, POP, lambda s: s.cell(find_row(s, "唐山市"), 1, "  唐朝市"))
    with pytest.raises(BuildError, match=r"2-1_人口状况\.xlsx sheet '1-7' row \d+: city '唐朝市' .*matches no "
                                         r"prefecture in the crosswalk"):
        extract(edition, crosswalk, raw_dir)


def _wide(values: dict[str, list[float]]) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([["E1"], range(2011, 2022)], names=["entity_id", "year"])
    frame = pd.DataFrame(index=index, dtype=float)
    for column in [f"{s}_{a}" for s in ("pop", "teachers_primary", "pupils_primary", "library", "beds",
                                        "doctors") for a in ("whole", "district")]:
        frame[column] = 10.0 if column.endswith("whole") else 5.0
    for column, series in values.items():
        frame[column] = series
    return frame


NAMES = pd.Series({"E1": "测试市"})
SOURCES = pd.Series({("E1", 2013, "beds", "district"): "ccsy_zeeny/key_tables/2014/beds.xlsx col 5"})


def test_district_exceeding_whole_city():
    beds = [5.0] * 11
    beds[2] = 12.0  # 2013: districts 12 > whole city 10
    with pytest.raises(BuildError, match=r"beds\.xlsx col 5: 测试市 2013, beds: district value 12 exceeds "
                                         r"the whole-city value 10; expected districts <= whole city"):
        apply_district_rule(_wide({"beds_district": beds}), load_anomalies(), SOURCES, NAMES)


@pytest.mark.parametrize("value", [0.0, np.nan])
def test_zero_or_missing_population(value):
    pop = [10.0] * 11
    pop[3] = value  # 2014
    listed = pd.Series({"E1": list(range(2011, 2022))})
    with pytest.raises(BuildError, match=r"测试市 2014, population \(whole\): .*expected a positive number"):
        check_population(_wide({"pop_whole": pop}), listed, load_anomalies(), pd.Series(dtype=str), NAMES)


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*")) if p.is_file()
    }


def test_command_fails_cleanly(raw_dir, tmp_path, capsys):
    """Non-zero exit, an error naming file/city-year/column, no output written, inputs untouched."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for entry in raw_dir.iterdir():
        if entry.name != "ccsy_zeeny":
            (raw / entry.name).symlink_to(entry)
    tables = raw / "ccsy_zeeny" / "key_tables"
    tables.mkdir(parents=True)
    for edition_dir in (raw_dir / "ccsy_zeeny" / "key_tables").iterdir():
        if edition_dir.name != str(EDITION):
            (tables / edition_dir.name).symlink_to(edition_dir)
    broken = copy_edition(raw_dir, tables, EDITION)
    damage(broken, POP, lambda s: s.cell(find_row(s, "唐山市"), 3, "n/a"))
    before = _digest(raw)
    out = tmp_path / "out"
    assert main(["panel", "--raw", str(raw), "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert "2-1_人口状况.xlsx" in message and "唐山市 2014" in message and "年末总人口" in message
    assert not out.exists(), "nothing may be written when the build fails"
    assert _digest(raw) == before


def test_missing_raw_directory(tmp_path, capsys):
    assert main(["panel", "--raw", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 2
    assert "raw directory not found" in capsys.readouterr().err


SHARES = "2-14_地区生产总值构成.xlsx"


def test_share_outside_percent_range(edition, crosswalk, raw_dir):
    damage(edition, SHARES, lambda s: s.cell(find_row(s, "唐山市"), 7, "137.5"))
    with pytest.raises(BuildError, match=r"唐山市 2014, column \[第三产业.*全市.*\]: share 137\.5 outside 0-100"):
        extract(edition, crosswalk, raw_dir)


def test_decimal_comma_is_refused(edition, crosswalk, raw_dir):
    damage(edition, POP, lambda s: s.cell(find_row(s, "唐山市"), 3, "757,8"))
    with pytest.raises(BuildError, match=r"唐山市 2014, column \[年末总人口.*\]: '757,8' is not a number"):
        extract(edition, crosswalk, raw_dir)


def test_stale_cell_fix_stops_the_build(raw_dir, crosswalk, tmp_path):
    """cell_fixes.csv applies only where the cell still holds the printed value it corrects."""
    target = copy_edition(raw_dir, tmp_path / "key_tables", 2013)
    damage(target, SHARES, lambda s: s.cell(93, 7, "43.90"))  # 常州市: the misprint '0.43.90' repaired upstream
    with pytest.raises(BuildError, match=r"row 93: cell_fixes\.csv expects '0\.43\.90' in column 6"):
        extract_edition(target, 2013, crosswalk, tmp_path)
