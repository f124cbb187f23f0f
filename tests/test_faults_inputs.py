"""Fault injection for every input besides the yearbook sheets (issue 21): the PKU index file, the
three crosswalk files, the hhwk GDP workbook, the committed misprint and raw-file lists, and a
user's own panel given to the later steps (`--panel`, `PANEL=` in make).

Table-driven, in-process (`replication.__main__.main`).  A raw case damages a copy of the raw
directory (symlinks to the real files; only the damaged file is a real, edited copy) and runs
`panel` into an output directory that already holds the committed panel set; a panel case damages
a copy of the committed panel and runs `indices`, `models` or `all` into a copy of a complete
output set.  Every case asserts the exit status, the words of the message (the file, the row, line
or city-year, the column and what was expected), that the message is one line with no traceback,
that the output directory is byte-identical to what it was when the input is refused, and that the
real raw directory is unchanged.

Outcomes: 'refused' (exit 2, one line, nothing written), 'flagged' (exit 0: the damage reaches the
run only as a recorded decision, e.g. a city-year missing from the PKU file drops that city by the
sample rule the build log names), 'accepted' (exit 0, and the result is exactly the undamaged one:
the damage touches nothing the build reads, e.g. a text cell in a year of the GDP workbook the
build does not use).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pyreadstat
import pytest

from replication.__main__ import main
from replication.data import build
from replication.data.cities import load_aliases, load_crosswalk
from replication.errors import BuildError
from replication.fetch import load_file_list

ROOT = Path(__file__).resolve().parent.parent
PROCESSED = ROOT / "data" / "processed"
TABLES = Path("ccsy_zeeny/key_tables")
PKU = Path("pku_dfiic/PKU_DFIIC_city.dta")
CROSSWALK = Path("crosswalk_fiersity")
ENTITIES, ROSTER, YEAR_END = "entities.csv", "legal_roster_2000_2024.csv", "entity_names_year_end_1987_2026.csv"
HHWK = Path("hhwk_gp/2000-2023地级市产业结构 .xlsx")
HHWK_SHEET = "面板数据2000-2023"
GDP_COLUMN, SHARE_COLUMN = 6, 12  # gdp（亿元人民币）, 第三产业占GDP比重


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- damaged copies of the raw directory -----------------------------------------------------

def linked_copy(raw_dir: Path, root: Path) -> Path:
    """root/ mirrors raw_dir with symlinks, one per top-level entry."""
    root.mkdir()
    for entry in raw_dir.iterdir():
        (root / entry.name).symlink_to(entry)
    return root


def own_file(root: Path, relative: Path) -> Path:
    """Turn the parent of `relative` into a real directory of symlinks and drop the link `relative`,
    so the case can write its damaged copy there; returns the real file it replaces."""
    folder = root / relative.parent.parts[0]
    target = folder.resolve()
    folder.unlink()
    folder.mkdir()
    for entry in target.iterdir():
        (folder / entry.name).symlink_to(entry)
    real = (root / relative).resolve()
    (root / relative).unlink()
    return real


def pku(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        frame, _ = pyreadstat.read_dta(str(own_file(root, PKU)))
        pyreadstat.write_dta(change(frame), str(root / PKU))
    return damage


def pku_bytes(data: bytes) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        own_file(root, PKU)
        (root / PKU).write_bytes(data)
    return damage


def at(frame: pd.DataFrame, city: str, year: int) -> pd.Series:
    return (frame["pref_name_year18"] == city) & (frame["year"] == year)


def set_pku(city: str, year: int, column: str, value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame):
        if isinstance(value, str):
            frame[column] = frame[column].astype(object)
        frame.loc[at(frame, city, year), column] = value
        return frame
    return change


def csv_file(name: str, change: Callable[[str], str], encoding: str = "utf-8") -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        real = own_file(root, CROSSWALK / name)
        (root / CROSSWALK / name).write_bytes(change(real.read_text(encoding="utf-8")).encode(encoding))
    return damage


def repeat_line(number: int) -> Callable[[str], str]:
    """Append a copy of line `number` (1 = the header)."""
    def change(text):
        lines = text.splitlines(keepends=True)
        return "".join([*lines, lines[number - 1]])
    return change


def edit_field(line: int, column: str, value: str) -> Callable[[str], str]:
    def change(text):
        frame = pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False)
        frame.loc[line - 2, column] = value
        return frame.to_csv(index=False, lineterminator="\n")
    return change


def hhwk(change: Callable) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        real = own_file(root, HHWK)
        workbook = openpyxl.load_workbook(real)
        change(workbook[HHWK_SHEET])
        workbook.save(root / HHWK)
    return damage


def hhwk_row(sheet, city: str, year: int) -> int:
    for row in sheet.iter_rows(min_col=1, max_col=2):
        if row[0].value == year and row[1].value == city:
            return row[0].row
    raise AssertionError(f"{city} {year} not in the hhwk sheet")


def hhwk_cell(city: str, year: int, column: int, value) -> Callable:
    return lambda sheet: sheet.cell(hhwk_row(sheet, city, year), column, value)


def hhwk_scale(city: str, year: int, column: int, factor: float) -> Callable:
    def change(sheet):
        cell = sheet.cell(hhwk_row(sheet, city, year), column)
        cell.value = float(cell.value) * factor
    return change


def hhwk_scale_year(year: int, column: int, factor: float) -> Callable:
    def change(sheet):
        for row in sheet.iter_rows(min_row=2):
            if row[0].value == year and isinstance(row[column - 1].value, (int, float)):
                row[column - 1].value = row[column - 1].value * factor
    return change


def hhwk_repeat(city: str, year: int) -> Callable:
    def change(sheet):
        sheet.append([c.value for c in sheet[hhwk_row(sheet, city, year)]])
    return change


def hhwk_header(old: str, new: str) -> Callable:
    def change(sheet):
        for cell in sheet[1]:
            if cell.value == old:
                cell.value = new
    return change


@dataclass(frozen=True)
class Case:
    name: str
    damage: Callable[[Path], None]
    outcome: str  # 'refused', 'flagged', 'accepted'
    words: tuple[str, ...]  # in the error (refused) or the build log (flagged, accepted)


P = "pku_dfiic/PKU_DFIIC_city.dta"
E, R, Y = (f"crosswalk_fiersity/{n}" for n in (ENTITIES, ROSTER, YEAR_END))
H = f"hhwk_gp/2000-2023地级市产业结构 .xlsx sheet '{HHWK_SHEET}'"

RAW_CASES = (
    # -- the PKU index file
    Case("PKU: a year missing", pku(lambda f: f[f["year"] != 2016]), "refused",
         (f"{P}: no rows for year 2016; expected index_aggregate for every year 2011-2021",)),
    Case("PKU: the index stored as text", pku(lambda f: f.assign(
        index_aggregate=f["index_aggregate"].map(lambda v: f"{v:.2f}"))), "refused",
         (f"{P} row 1 (北京市 2011): column index_aggregate: stored as text ('80.78'); expected a numeric Stata "
          "variable",)),
    Case("PKU: the year stored as text", pku(lambda f: f.assign(year=f["year"].map(lambda v: f"{v:.0f}"))), "refused",
         (f"{P} row 1 (北京市): column year: stored as text ('2011'); expected a numeric Stata variable",)),
    Case("PKU: the index variable renamed", pku(lambda f: f.rename(columns={"index_aggregate": "index_total"})),
         "refused", (f"{P}: missing column index_aggregate",
                     "expected in the PKU-DFIIC city file: year, pref_name_year18, index_aggregate")),
    Case("PKU: a fractional year", pku(set_pku("唐山市", 2016, "year", 2016.5)), "refused",
         (f"{P} row 45: 唐山市, column year: 2016.5; expected a whole year",)),
    Case("PKU: a city-year twice", pku(lambda f: pd.concat([f, f[at(f, "唐山市", 2016)]], ignore_index=True)),
         "refused", (f"{P} row 4370: duplicate city-year 唐山市 2016; expected each city-year once",)),
    Case("PKU: an unknown city name", pku(set_pku("唐山市", 2016, "pref_name_year18", "唐朝市")), "refused",
         (f"{P} row 45 (唐朝市, 2016): city '唐朝市' (printed under no province, data year 2016) matches no "
          "prefecture in the crosswalk; expected a legal or former prefecture name, or an entry in "
          "replication/data/city_aliases.csv",)),
    Case("PKU: an empty city name", pku(set_pku("唐山市", 2016, "pref_name_year18", "")), "refused",
         (f"{P} row 45: year 2016, column pref_name_year18: empty; expected the city's name",)),
    Case("PKU: a negative index", pku(set_pku("唐山市", 2016, "index_aggregate", -5.0)), "refused",
         (f"{P} row 45: 唐山市 2016, index_aggregate: expected > 0, found -5",)),
    Case("PKU: not a Stata file", pku_bytes(b"PK\x03\x04 not a dta file"), "refused",
         (f"{P}: cannot be read as a Stata file",)),
    Case("PKU: one city-year missing", pku(lambda f: f[~at(f, "唐山市", 2016)]), "flagged",
         ("cities  PKU index for every year",)),
    # -- the crosswalk
    Case("crosswalk: a duplicated entity id", csv_file(ENTITIES, repeat_line(5)), "refused",
         (f"{E}: duplicate (entity_id): expected each once; first duplicated rows: entity CNUR-000004 (line 5); "
          "entity CNUR-000004 (line 342)",)),
    Case("crosswalk: a missing column", csv_file(ENTITIES, lambda t: t.replace("legacy_entity_id", "legacy_id", 1)),
         "refused", (f"{E}: missing column legacy_entity_id (expected in the crosswalk entities",)),
    Case("crosswalk: saved in GBK", csv_file(ENTITIES, lambda t: t, encoding="gbk"), "refused",
         (f"{E} line 2: not UTF-8 text (byte 0xb1 is not UTF-8); expected the crosswalk's entities in UTF-8",
          "GBK?")),
    Case("crosswalk: a malformed legacy code", csv_file(ENTITIES, lambda t: t.replace("E130200", "E13O200")),
         "refused", (f"{E}: column legacy_entity_id: expected a legacy id: E and the six-digit administrative code "
                     "(E130200); first offending rows: entity CNUR-000004 (line 5): 'E13O200'",)),
    Case("crosswalk: two entities with one legacy code", csv_file(ENTITIES, lambda t: t.replace("E130300", "E130200")),
         "refused", (f"{E}: column legacy_entity_id: E130200 on lines 5, 6; expected each legacy id once",)),
    Case("crosswalk: an empty city name", csv_file(ENTITIES, edit_field(5, "canonical_name_zh", "")), "refused",
         (f"{E}: column canonical_name_zh: expected a value, found empty cells; first rows: entity CNUR-000004 "
          "(line 5)",)),
    Case("crosswalk: a year that is not a number", csv_file(ROSTER, edit_field(3, "year", "2O01")), "refused",
         (f"{R}: column year: expected a number; first bad rows: entity CNUR-000001 2O01 (line 3): '2O01'",)),
    Case("crosswalk: a roster entity that does not exist", csv_file(ROSTER, edit_field(3, "entity_id", "CNUR-999999")),
         "refused", (f"{R} line 3: entity CNUR-999999 2001, column entity_id: not in entities.csv",)),
    Case("crosswalk: a roster city-year twice", csv_file(ROSTER, repeat_line(3)), "refused",
         (f"{R}: duplicate (entity_id, year): expected each once; first duplicated rows: entity CNUR-000001 2001 "
          "(line 3)",)),
    Case("crosswalk: a name that ends before it starts", csv_file(YEAR_END, edit_field(2, "start_year", "2030")),
         "refused", (f"{Y}: expected start_year <= end_year; first offending rows: entity CNUR-000001 (line 2)",)),
    Case("crosswalk: an empty roster file", csv_file(ROSTER, lambda t: ""), "refused",
         (f"{R}: cannot be read as a CSV file (No columns to parse from file); expected the crosswalk's legal roster",)),
    Case("crosswalk: a byte-order mark", csv_file(ENTITIES, lambda t: "\ufeff" + t), "accepted", ()),
    # -- the hhwk GDP workbook
    Case("GDP workbook: text in a number cell", hhwk(hhwk_cell("唐山市", 2017, GDP_COLUMN, "abc")), "refused",
         (f"{H} row 91: 唐山市 2017, column gdp（亿元人民币）: 'abc' is not a number",)),
    Case("GDP workbook: ten times too large in the year it fills", hhwk(hhwk_scale("唐山市", 2017, GDP_COLUMN, 10)),
         "refused", (f"{H} row 91: 唐山市 2017, gdp_whole: 65301.5 (filled from this source, the yearbook does not "
                     "print it) is a factor of 9.82 from the city's own yearbook values (2016: 6354.87, 2018: "
                     "6954.97); expected less than 3, the yearbook's rule for adjacent years (ten times too large, "
                     "or a unit error?)",)),
    Case("GDP workbook: the whole year it fills ten times too large", hhwk(hhwk_scale_year(2017, GDP_COLUMN, 10)),
         "refused", (f"{H} row 19: 北京市 2017, gdp_whole: 298830 (filled from this source, the yearbook does not "
                     "print it) is a factor of 10.7 from the city's own yearbook values (2016: 25669.1, 2018: "
                     "30320); expected less than 3",)),
    Case("GDP workbook: a share stored as a percentage", hhwk(hhwk_cell("唐山市", 2017, SHARE_COLUMN, 37.1)),
         "refused", (f"{H} row 91: 唐山市 2017, column 第三产业占GDP比重: 37.1; expected a fraction between 0 and 1 "
                     "(the compilation stores shares as fractions; a percentage?)",)),
    Case("GDP workbook: a share a hundred times too small", hhwk(hhwk_scale("唐山市", 2017, SHARE_COLUMN, 0.01)),
         "refused", (f"{H} row 91: 唐山市 2017, tertiary_share_whole: 0.371166 % (filled from this source); a "
                     "fraction of a percent where the yearbook's smallest real value of any city-year is above 10; "
                     "expected more than 1",)),
    Case("GDP workbook: a negative GDP", hhwk(hhwk_cell("唐山市", 2017, GDP_COLUMN, -6530.0)), "refused",
         (f"{H} row 91: 唐山市 2017, column gdp（亿元人民币）: -6530; expected > 0 (100m yuan)",)),
    Case("GDP workbook: a city-year twice", hhwk(hhwk_repeat("唐山市", 2017)), "refused",
         (f"{H} rows 91, 7993: 唐山市 2017 twice; expected each city-year once",)),
    Case("GDP workbook: a header renamed", hhwk(hhwk_header("gdp（亿元人民币）", "gdp（万元）")), "refused",
         (f"{H}: header not found for ['gdp（亿元人民币）']",)),
    Case("GDP workbook: text in a year the build does not read", hhwk(hhwk_cell("唐山市", 2005, GDP_COLUMN, "abc")),
         "accepted", ()),
    Case("GDP workbook: ten times too large in a year the yearbook prints",
         hhwk(hhwk_scale("唐山市", 2015, GDP_COLUMN, 10)), "accepted", ()),
)


_EDITIONS: dict[tuple[int, Path], tuple] = {}


@pytest.fixture
def read_editions_once(monkeypatch):
    """Memoise extract_edition: no case here damages a yearbook sheet, so every edition is read once
    per session instead of three times per case (the default panel and its two variants)."""
    original = build.extract_edition

    def extract(directory, edition, crosswalk, raw_root):
        key = (edition, directory.resolve())
        if key not in _EDITIONS:
            _EDITIONS[key] = original(directory, edition, crosswalk, raw_root)
        frame, files, repairs = _EDITIONS[key]
        return frame.copy(), [directory / f.name for f in files], list(repairs)

    monkeypatch.setattr(build, "extract_edition", extract)


@pytest.fixture(scope="module")
def raw_digest(raw_dir):
    return {p: hashlib.sha256((raw_dir / p).read_bytes()).hexdigest()
            for p in (PKU, HHWK, *(CROSSWALK / n for n in (ENTITIES, ROSTER, YEAR_END)))}


def previous_panel_set(out: Path) -> None:
    """The committed panel set, as `make data` published it, in `out`."""
    shutil.copytree(PROCESSED, out)


@pytest.mark.raw
@pytest.mark.slow
@pytest.mark.parametrize("case", RAW_CASES, ids=[c.name for c in RAW_CASES])
def test_raw_fault(case, raw_dir, raw_digest, read_editions_once, tmp_path, capsys):
    root = linked_copy(raw_dir, tmp_path / "raw")
    case.damage(root)
    out = tmp_path / "out"
    previous_panel_set(out)
    before = digest(out)
    code = main(["panel", "--raw", str(root), "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    message = captured.err.replace(f"{root}/", "")
    if case.outcome == "refused":
        assert code == 2, captured.out
        assert message.startswith("error: ") and message.count("\n") == 1, message
        for words in case.words:
            assert words in message, f"{words!r} not in {message!r}"
        assert digest(out) == before, "a refused build must leave the previous panel set as it was"
    else:
        assert code == 0, captured.err
        for words in case.words:
            assert words in captured.out, f"{words!r} not in the build log"
        panel = (out / "panel.csv").read_bytes()
        if case.outcome == "accepted":
            assert panel == (PROCESSED / "panel.csv").read_bytes()
        else:  # one city-year missing from the PKU file: the city leaves the sample by the named rule
            manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
            rule = next(r for r in manifest["sample_rules"] if r["rule"] == "PKU index for every year")
            assert {"city": "唐山市", "reason": "PKU index for 10 of 11 years"} in rule["dropped"]
            assert "唐山市" not in pd.read_csv(out / "panel.csv")["city"].tolist()
    assert {p: hashlib.sha256((raw_dir / p).read_bytes()).hexdigest() for p in raw_digest} == raw_digest


# --- the committed lists beside the package: misprinted names, raw files ----------------------

ALIASES_TEXT = (ROOT / "replication" / "data" / "city_aliases.csv").read_text(encoding="utf-8")
RAW_FILES_TEXT = (ROOT / "replication" / "data" / "raw_files.csv").read_text(encoding="utf-8")


@dataclass(frozen=True)
class ListCase:
    name: str
    load: Callable[[], object]
    message: str  # the whole message, or its start


def _with_crosswalk(raw_dir, aliases_text):
    return lambda: load_crosswalk(raw_dir / CROSSWALK, aliases=load_aliases(aliases_text))


LIST_CASES = (
    ListCase("aliases: a missing column", lambda: load_aliases(ALIASES_TEXT.replace("name,name_en,", "name,english,")),
             "replication/data/city_aliases.csv: missing column name_en (expected in the list of misprinted names"),
    ListCase("aliases: an extra column", lambda: load_aliases(ALIASES_TEXT.replace(",reason\n", ",reason,note\n")
                                                              .replace("misprint of 头\n", "misprint of 头,x\n")),
             "replication/data/city_aliases.csv: "),
    ListCase("aliases: one misprint listed twice", lambda: load_aliases(
        ALIASES_TEXT + "包投市,Baotou,包头市,again\n"),
             "replication/data/city_aliases.csv: duplicate (name, name_en): expected each once; first duplicated "
             "rows: alias 包投市 (Baotou)"),
    ListCase("raw files: a size that is not a number", lambda: load_file_list(
        RAW_FILES_TEXT.replace(",2292944,", ",22929x4,", 1)),
             "replication/data/raw_files.csv: column bytes: expected a number; first bad rows: file "
             "ccsy_zeeny/rar_excel/ccsy_2012_excel.rar (line 2): '22929x4'"),
    ListCase("raw files: a truncated sha256", lambda: load_file_list(RAW_FILES_TEXT.replace(
        "9ad20c2f5b7df5144e70ac749b2cf71409eb9b686db570a971d701faebbc0296", "9ad20c2f")),
             "replication/data/raw_files.csv: column sha256: expected a sha256 of 64 hexadecimal digits; first "
             "offending rows: file ccsy_zeeny/rar_excel/ccsy_2012_excel.rar (line 2): '9ad20c2f'"),
    ListCase("raw files: a path listed twice", lambda: load_file_list(
        RAW_FILES_TEXT + RAW_FILES_TEXT.splitlines(keepends=True)[1]),
             "replication/data/raw_files.csv: duplicate (path): expected each once; first duplicated rows: file "
             "ccsy_zeeny/rar_excel/ccsy_2012_excel.rar (line 2)"),
)


@pytest.mark.parametrize("case", LIST_CASES, ids=[c.name for c in LIST_CASES])
def test_list_fault(case):
    with pytest.raises(BuildError) as error:
        case.load()
    assert str(error.value).startswith(case.message), str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.raw
def test_an_alias_to_no_known_name_is_refused(raw_dir):
    with pytest.raises(BuildError, match=r"^replication/data/city_aliases\.csv: alias 包投市 \(Baotou\), column "
                                         r"canonical: '包投头市' is no name in .*crosswalk_fiersity; expected a legal "
                                         r"or former prefecture name$"):
        _with_crosswalk(raw_dir, ALIASES_TEXT.replace("包投市,Baotou,包头市", "包投市,Baotou,包投头市"))()


def test_the_committed_lists_pass():
    assert len(load_aliases()) == len(ALIASES_TEXT.splitlines()) - 3  # two comment lines and the header
    assert len(load_file_list()) == len(RAW_FILES_TEXT.splitlines()) - 1


# --- a user's own panel given to the later steps ----------------------------------------------

def scale(city: str, year: int, column: str, factor: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame):
        at = (frame["city"] == city) & (frame["year"] == str(year))
        frame.loc[at, column] = frame.loc[at, column].map(lambda v: f"{float(v) * factor:.10g}")
        return frame
    return change


def scale_column(column: str, factor: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame):
        frame[column] = frame[column].map(lambda v: f"{float(v) * factor:.10g}")
        return frame
    return change


def set_value(city: str, year: int, column: str, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame):
        frame.loc[(frame["city"] == city) & (frame["year"] == str(year)), column] = value
        return frame
    return change


def keep_cities(rule: Callable[[pd.DataFrame], pd.Series]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda frame: frame[rule(frame)]


def first_cities(n: int) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda f: f["city_code"].isin(f["city_code"].unique()[:n])


def one_west_city(frame: pd.DataFrame) -> pd.Series:
    west = frame.loc[frame["region"] == "West", "city_code"].unique()
    return (frame["region"] != "West") | (frame["city_code"] == west[0])


def no_flags(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c.endswith("_fill")])


def unchanged(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


@dataclass(frozen=True)
class PanelCase:
    name: str
    command: str
    damage: Callable[[pd.DataFrame], pd.DataFrame] | None  # None: the committed file given as it is
    outcome: str  # 'refused', 'accepted'
    words: tuple[str, ...]
    options: tuple[str, ...] = ()
    source: str = "panel.csv"  # under data/processed
    same: tuple[str, ...] = ()  # outputs that must equal the complete set's (accepted cases)


SHRINKS = "the indices standardise and weight each indicator across cities"
REGION_NEED = "Table 6 fits each region with errors clustered by city"
PANEL_CASES = (
    PanelCase("population ten times too large in one city-year", "models", scale("秦皇岛市", 2015, "pop_whole", 10),
              "refused", ("panel.csv line 28: 秦皇岛市 (130300) 2015, pop_whole: 2956.4 is a factor of 9.97 from the "
                          "geometric mean of the city's neighbouring years (2014: 295.1, 2016: 298), which agree; "
                          "expected a factor below 5 (the panel build's anomaly screen sets such a cell missing and "
                          "refills it: a misprint or a unit error?)",)),
    PanelCase("population ten times too large, make all", "all", scale("秦皇岛市", 2015, "pop_whole", 10),
              "refused", ("panel.csv line 28: 秦皇岛市 (130300) 2015, pop_whole: 2956.4 is a factor of 9.97",)),
    PanelCase("population above any prefecture's", "indices", scale("唐山市", 2015, "pop_whole", 10), "refused",
              ("panel.csv line 17: 唐山市 (130200) 2015, pop_whole: 7549.6 10k persons; expected at most 5000 (the "
               "largest prefecture, Chongqing, prints 3416)",)),
    PanelCase("annual average population ten times too large", "indices", scale("秦皇岛市", 2015, "pop_avg_whole", 10),
              "refused", ("panel.csv line 28: 秦皇岛市 (130300) 2015, pop_avg_whole: ", "is a factor of 10",
                          "expected a factor below 5")),
    PanelCase("hospital beds ten times too large in one city-year", "models", scale("唐山市", 2015, "beds_whole", 10),
              "refused", ("panel.csv line 17: 唐山市 (130200) 2015, beds_whole: ", "expected a factor below 8",
                          "a panel built with anomaly_rule=keep is accepted with the manifest.json")),
    PanelCase("PKU index a hundred times too large", "indices", scale("唐山市", 2015, "pku_index", 100), "refused",
              ("panel.csv line 17: 唐山市 (130200) 2015, pku_index: 17082; expected a value in (0, 1000] (the real "
               "index runs from 11 to 360 in 2011-2021; 100 times too large?)",)),
    PanelCase("a tertiary share as a fraction", "indices", set_value("唐山市", 2015, "tertiary_share_whole", "0.3555"),
              "refused", ("panel.csv line 17: 唐山市 (130200) 2015, tertiary_share_whole: 0.3555; a fraction where a "
                          "percentage is expected (the smallest real value of any city-year is above 10)",)),
    PanelCase("GDP in 10k yuan in every city-year", "indices", scale_column("gdp_whole", 1e4), "refused",
              ("panel.csv: year 2011: median GDP per person across cities (gdp_whole / pop_whole) is ",
               "yuan; expected between 9000 and 170000 (the range the panel build applies to the yearbook: a unit "
               "error in a column?)")),
    PanelCase("drop_filled without fill flags", "models", no_flags, "refused",
              ("option drop_filled=true: the panel ", "panel.csv has no fill flags (no *_fill column), so no filled "
               "city-year can be dropped; expected a panel written by `make data` (which flags every filled cell), "
               "or drop_filled=false"), options=("--set", "drop_filled=true")),
    PanelCase("a header only", "indices", lambda f: f.iloc[:0], "refused",
              ("panel.csv: no rows (only a header); expected one row per city-year, of at least 2 cities (the "
               "indices compare cities)",)),
    PanelCase("a header only, make all", "all", lambda f: f.iloc[:0], "refused", ("panel.csv: no rows (only a header)",)),
    PanelCase("a single city", "indices", keep_cities(first_cities(1)), "refused",
              (f"panel.csv: 1 city (石家庄市); expected at least 2: {SHRINKS}",)),
    PanelCase("a region with no cities, make all", "all", keep_cities(lambda f: f["region"] != "West"), "refused",
              ("panel.csv: too few cities in region West (0); expected at least 2 cities in each of East, Central, "
               f"West: {REGION_NEED}",)),
    PanelCase("a region with no cities, models", "models", keep_cities(lambda f: f["region"] != "West"), "refused",
              ("panel.csv: too few cities in region West (0)",)),
    PanelCase("a region with one city", "models", keep_cities(one_west_city), "refused",
              ("panel.csv: too few cities in region West (1)",)),
    PanelCase("two cities of one region", "models", keep_cities(first_cities(2)), "refused",
              ("panel.csv: too few cities in region Central (0), West (0)",)),
    PanelCase("the anomaly_keep variant without its record", "indices", unchanged, "refused",
              ("panel.csv line 365: 丹东市 (210600) 2011, teachers_primary_district: 147 is a factor of 13.7 from the "
               "geometric mean of the city's neighbouring years (2012: 2057, 2013: 1971), which agree; expected a "
               "factor below 8", "a panel built with anomaly_rule=keep is accepted with the manifest.json `make "
               "data` writes beside it"),
              source="variants/anomaly_keep.csv"),
    PanelCase("a region with no cities, indices only", "indices", keep_cities(lambda f: f["region"] != "West"),
              "accepted", ("wrote analysis.csv and Tables 1, 3, 4",)),
    PanelCase("two cities, indices only", "indices", keep_cities(first_cities(2)), "accepted",
              ("wrote analysis.csv and Tables 1, 3, 4 (22 city-years)",)),
    PanelCase("no fill flags, drop_filled=false", "models", no_flags, "accepted", ("wrote Tables 5-9",),
              same=("tables/table5.csv", "tables/table6.csv", "tables/table9.csv")),
    PanelCase("drop_filled with fill flags", "models", unchanged, "accepted", ("wrote Tables 5-9",),
              options=("--set", "drop_filled=true")),
    PanelCase("the committed panel", "indices", None, "accepted", ("wrote analysis.csv",),
              same=("data/analysis.csv", "tables/table1.csv", "tables/table4.csv", "indices.manifest.json")),
    PanelCase("the anomaly_keep variant, with variants.json beside it", "indices", None, "accepted",
              ("wrote analysis.csv",), source="variants/anomaly_keep.csv"),
    PanelCase("the edge2 variant", "indices", None, "accepted", ("wrote analysis.csv",), source="variants/edge2.csv"),
)


@pytest.mark.slow
@pytest.mark.parametrize("case", PANEL_CASES, ids=[c.name for c in PANEL_CASES])
def test_panel_fault(case, complete_set, tmp_path, capsys):
    """`complete_set` (tests/conftest.py, the session's `make all`) is the previous output set of every case."""
    capsys.readouterr()
    out = tmp_path / "output"
    shutil.copytree(complete_set, out)
    if case.damage is None:
        panel = PROCESSED / case.source
    else:
        panel = tmp_path / "mine" / "panel.csv"  # a panel of one's own: no build manifest beside it
        panel.parent.mkdir()
        case.damage(pd.read_csv(PROCESSED / case.source, dtype=str, keep_default_na=False)).to_csv(panel, index=False)
    before, panel_bytes = digest(out), panel.read_bytes()
    code = main([case.command, "--panel", str(panel), "--out", str(out), *case.options])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    message = captured.err.replace(f"{panel.parent}/", "")
    if case.command == "all" and case.outcome == "refused":  # `all` names the step, then the step's error
        note = f"note: all: the indices step failed; every step's previous outputs in {out} are unchanged\n"
        assert message.startswith(note), message
        message = message[len(note):]
    if case.outcome == "refused":
        assert code == 2, captured.out
        assert message.startswith("error: ") and message.count("\n") == 1, message
        for words in case.words:
            assert words in message, f"{words!r} not in {message!r}"
        assert digest(out) == before, "a refused run must leave the previous output set as it was"
    else:
        assert code == 0, captured.err
        for words in case.words:
            assert words in captured.out, f"{words!r} not in {captured.out!r}"
        after = digest(out)
        for relative in case.same:
            assert after[relative] == before[relative], relative
    assert panel.read_bytes() == panel_bytes, "the panel must never be written"
    assert not (out / ".publish").exists()
