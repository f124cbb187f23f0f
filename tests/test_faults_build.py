"""Fault injection for the panel build, table-driven: each case damages a COPY of the raw inputs and
runs `python -m replication panel` on it.

The copy is a directory of symlinks to the real raw directory; only the entries a case damages are
replaced by edited files (openpyxl for the workbooks, pyreadstat for the PKU file).  For every case
the test checks the exit code, the words of the message (file, city-year or edition, column or
series, what was expected), that no output was written when the build is refused, that the error is
one line with no traceback, and that the real raw files are byte-for-byte unchanged.

Outcomes: 'refused' (exit 2, clear message, nothing written), 'accepted' (exit 0 and the committed
panel is reproduced exactly: the damage does not touch the data, e.g. an Excel lock file beside the
tables, which is ignored with a log line), 'accepted_unflagged' (exit 0 and the damaged value reaches
the panel: a single implausible count cell, which is the anomaly screen's job, not this build's
plausibility rules; the test pins that value so that the day a rule catches it, the case is
revisited).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

from replication.__main__ import main
from replication.data import build, load_panel, plausibility
from replication.errors import BuildError

pytestmark = [pytest.mark.raw, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
TABLES = Path("ccsy_zeeny/key_tables")
E = 2015  # edition damaged (data year 2014)
POP = "2-1_人口状况.xlsx"
GDP = "2-13_地区生产总值.xlsx"
SHARES = "2-14_地区生产总值构成.xlsx"
PUPILS = "2-36_在校学生数(三).xlsx"
EMP = "2-2_劳动力就业状况.xlsx"
LIBRARY = "2-38_剧场、影剧院数及公共图书馆图书藏量.xlsx"
HOSPITALS = "2-39_医院、卫生院数，床位数和医生数.xlsx"
PKU = Path("pku_dfiic/PKU_DFIIC_city.dta")


# --- building the damaged copy ---------------------------------------------------------------

def linked_copy(raw_dir: Path, root: Path) -> Path:
    """root/ mirrors raw_dir with symlinks; ccsy_zeeny/key_tables/<edition> are separate links."""
    root.mkdir()
    for entry in raw_dir.iterdir():
        if entry.name != "ccsy_zeeny":
            (root / entry.name).symlink_to(entry)
    (root / TABLES).mkdir(parents=True)
    for edition in (raw_dir / TABLES).iterdir():
        (root / TABLES / edition.name).symlink_to(edition)
    return root


def own_dir(root: Path, relative: Path) -> Path:
    """Turn the symlinked directory `relative` into a real directory of symlinks (parents too)."""
    path = root
    for part in relative.parts:
        path = path / part
        if path.is_symlink():
            target = path.resolve()
            path.unlink()
            path.mkdir()
            for entry in target.iterdir():
                (path / entry.name).symlink_to(entry)
    return path


def edit_table(root: Path, name: str, change: Callable, edition: int = E) -> None:
    """Replace the link to one table of `edition` by an edited copy (first sheet)."""
    path = own_dir(root, TABLES / str(edition)) / name
    workbook = openpyxl.load_workbook(path.resolve())
    change(workbook[workbook.sheetnames[0]])
    path.unlink()
    workbook.save(path)


def row_of(sheet, name: str) -> int:
    for row in sheet.iter_rows(min_col=1, max_col=1):
        if row[0].value and str(row[0].value).strip() == name:
            return row[0].row
    raise AssertionError(f"{name} not in sheet")


def replace_text(old: str, new: str, where: str = "") -> Callable:
    """Replace `old` by `new` in every header/unit cell (containing `where`)."""
    def change(sheet):
        hits = 0
        for row in sheet.iter_rows():
            for c in row:
                if isinstance(c.value, str) and old in c.value and where in c.value:
                    c.value = c.value.replace(old, new)
                    hits += 1
        assert hits, f"{old!r} not found"
    return change


def set_cell(city: str, column: int, value) -> Callable:
    return lambda sheet: sheet.cell(row_of(sheet, city), column, value)


def scale_cell(city: str, column: int, factor: float) -> Callable:
    def change(sheet):
        cell = sheet.cell(row_of(sheet, city), column)
        cell.value = f"{float(cell.value) * factor:g}"
    return change


def swap_names(a: str, b: str) -> Callable:
    def change(sheet):
        ra, rb = row_of(sheet, a), row_of(sheet, b)
        sheet.cell(ra, 1).value, sheet.cell(rb, 1).value = sheet.cell(rb, 1).value, sheet.cell(ra, 1).value
    return change


def divide_column(column: int, by: float) -> Callable:
    def change(sheet):
        for row in sheet.iter_rows(min_row=7):
            c = row[column - 1]
            try:
                c.value = f"{float(c.value) / by:.4f}"
            except (TypeError, ValueError):
                pass
    return change


def pku(change: Callable) -> Callable:
    def damage(root: Path):
        own_dir(root, PKU.parent)
        frame, _ = pyreadstat.read_dta(str((root / PKU).resolve()))
        change(frame)
        (root / PKU).unlink()
        pyreadstat.write_dta(frame, str(root / PKU))
    return damage


def table(name: str, change: Callable, edition: int = E) -> Callable:
    return lambda root: edit_table(root, name, change, edition)


def entry(make: Callable[[Path], None], edition: int = E) -> Callable:
    """Damage an entry of the edition directory: make(path_of_edition_directory)."""
    return lambda root: make(own_dir(root, TABLES / str(edition)))


def relink(name: str, target: str | None) -> Callable:
    def make(directory: Path):
        (directory / name).unlink()
        (directory / name).symlink_to(target if target is not None else directory / name)
    return make


def extra_files(directory: Path) -> None:
    (directory / "notes.txt").write_text("checked\n")
    (directory / ".DS_Store").write_bytes(b"\x00")


def edition_loop(root: Path) -> None:
    link = root / TABLES / str(E)
    link.unlink()
    link.symlink_to(link)


# --- the cases -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    damage: Callable[[Path], None]
    outcome: str  # 'refused', 'accepted', 'accepted_unflagged'
    words: tuple[str, ...]  # in the error (refused) or the build log (accepted)


CASES = (
    Case("GDP headed 亿元 while the figures stay in 万元", table(GDP, replace_text("(万元)", "(亿元)", "地区生产总值")),
         "refused", ("2015/2-13_地区生产总值.xlsx", "edition 2015 (data year 2014)", "series gdp (whole)",
                     "unit label read '亿元'", "from 1272 in 2013 to 1.342e+07 in 2014", "a factor of 1.05e+04", "the unit label does not match the figures")),
    Case("library holdings headed 万册 over 千册 figures", table(LIBRARY, replace_text("(千册、千件)", "(万册)")),
         "refused", ("2015/2-38_", "edition 2015 (data year 2014)", "series library (district)",
                     "unit label read '万册'", "from 53.5 in 2013 to 580 in 2014", "a factor of 10.8")),
    Case("primary pupils headed 人 over figures in 万人", table(PUPILS, replace_text("(万人)", "(人)", "小学")),
         "refused", ("2015/2-36_在校学生数(三).xlsx", "edition 2015 (data year 2014)", "series pupils_primary (district)",
                     "unit label read '人'", "a factor of 1.05e+04")),
    Case("employment page unit 万人 over figures in persons", table(EMP, replace_text("单位：人", "单位：万人")),
         "refused", ("2015/2-2_劳动力就业状况.xlsx", "series emp (whole)", "unit label read '万人'")),
    Case("population of 1e30", table(POP, set_cell("唐山市", 3, "1e30")),
         "refused", ("2015/2-1_人口状况.xlsx sheet '1-7' row 10", "唐山市 2014", "pop (whole)", "1e+30 10k persons",
                     "expected at most 5000")),
    Case("annual average population 100 times too large", table(POP, scale_cell("唐山市", 5, 100)),
         "refused", ("2-1_人口状况.xlsx", "唐山市 2014", "pop_avg (whole)", "expected at most 5000")),
    Case("a tertiary share printed as a fraction", table(SHARES, set_cell("唐山市", 7, "0.3327")),
         "refused", ("2015/2-14_地区生产总值构成.xlsx sheet '1-7' row 12", "唐山市 2014", "tertiary_share",
                     "0.3327 in a column labelled %", "a fraction printed where a percentage is expected")),
    Case("the whole tertiary-share column printed as fractions", table(SHARES, divide_column(7, 100)),
         "refused", ("2-14_地区生产总值构成.xlsx", "tertiary_share", "a fraction printed where a percentage")),
    Case("PKU index 100 times too large (every city)", pku(lambda f: f.__setitem__(
        "index_aggregate", f["index_aggregate"] * 100)),
         "refused", ("pku_dfiic/PKU_DFIIC_city.dta", "index_aggregate", "expected a value in (0, 1000]",
                     "100 times too large?")),
    Case("PKU index 100 times too large (one city-year)", pku(lambda f: f.__setitem__(
        "index_aggregate", f["index_aggregate"].where(~((f["pref_name_year18"] == "唐山市") & (f["year"] == 2016)),
                                                      f["index_aggregate"] * 100))),
         "refused", ("pku_dfiic/PKU_DFIIC_city.dta: 唐山市 2016, index_aggregate", "expected a value in (0, 1000]")),
    Case("PKU index negative", pku(lambda f: f.__setitem__(
        "index_aggregate", f["index_aggregate"].where(f["pref_name_year18"] != "唐山市", -5.0))),
         "refused", ("pku_dfiic/PKU_DFIIC_city.dta", "唐山市", "index_aggregate: expected > 0")),
    Case("two Chinese city names swapped, English names left", table(POP, swap_names("唐山市", "石家庄市")),
         "refused", ("2015/2-1_人口状况.xlsx sheet '1-7' row", "the English name printed beside it",
                     "is that of", "names swapped or mislabelled")),
    Case("a row's English name replaced by another city's", table(POP, set_cell("唐山市", 2, "  Shijiazhuang")),
         "refused", ("2015/2-1_人口状况.xlsx sheet '1-7' row 10", "唐山市 2014", "'Shijiazhuang'",
                     "is that of 石家庄市", "唐山市 is printed 'tangshan' elsewhere")),
    Case("district beds with one extra digit (above the whole city)", table(HOSPITALS, scale_cell("唐山市", 6, 10)),
         "refused", ("2015/2-39_", "唐山市 2014, beds", "district value 211330 exceeds the whole-city value 36881")),
    Case("an Excel lock file beside the tables", entry(lambda d: (d / f"~${POP}").write_bytes(b"\x00" * 165)),
         "accepted", ("edition 2015: ignored ~$2-1_人口状况.xlsx in 2015/ (an Excel lock file)",)),
    Case("a text file and a hidden file beside the tables", entry(extra_files),
         "accepted", ("ignored .DS_Store in 2015/ (a hidden file)", "ignored notes.txt in 2015/ (not an .xlsx table)")),
    Case("an OCR-like slip in one English name", table(POP, set_cell("唐山市", 2, "  Tangshen")),
         "accepted", ()),
    Case("a table that is a symlink to itself", entry(relink(POP, None)),
         "refused", ("2015/2-1_人口状况.xlsx: symlink loop", "expected a yearbook table .xlsx")),
    Case("a table that is a dangling symlink", entry(relink(POP, "/nonexistent/2-1.xlsx")),
         "refused", ("2015/2-1_人口状况.xlsx: dangling symlink to /nonexistent/2-1.xlsx",)),
    Case("an edition directory that is a symlink loop", edition_loop,
         "refused", ("key_tables/2015: symlink loop", "expected an edition directory")),
    Case("an empty table file", entry(lambda d: ((d / POP).unlink(), (d / POP).write_bytes(b""))),
         "refused", ("2015/2-1_人口状况.xlsx: cannot be read as an .xlsx workbook",)),
    Case("a directory in place of a table", entry(lambda d: ((d / GDP).unlink(), (d / GDP).mkdir())),
         "refused", ("2015/2-13_地区生产总值.xlsx: not a regular file",)),
    Case("whole-city beds with one extra digit (one cell)", table(HOSPITALS, scale_cell("唐山市", 5, 10)),
         "flagged", ("anomaly screen:",)),
)


_EDITIONS: dict[tuple[int, Path], tuple] = {}


@pytest.fixture(autouse=True)
def read_undamaged_editions_once(monkeypatch):
    """Memoise extract_edition for editions the case left alone (links to the real directory).

    A case damages at most one edition; the ten others are the real files, read once per session
    instead of once per case (a build per case would otherwise take minutes).  The damaged edition
    resolves to the case's own directory and is always read.
    """
    original = build.extract_edition

    def extract(directory, edition, crosswalk, raw_root):
        try:
            real = directory.resolve(strict=True)
        except (OSError, RuntimeError):
            return original(directory, edition, crosswalk, raw_root)
        if not directory.is_symlink():
            return original(directory, edition, crosswalk, raw_root)
        key = (edition, real)
        if key not in _EDITIONS:
            _EDITIONS[key] = original(directory, edition, crosswalk, raw_root)
        frame, files, repairs = _EDITIONS[key]
        return frame.copy(), [directory / f.name for f in files], list(repairs)

    monkeypatch.setattr(build, "extract_edition", extract)


@pytest.fixture(scope="module")
def inputs_digest(raw_dir):
    return _inputs_digest(raw_dir)


def _inputs_digest(raw_dir: Path) -> dict[str, str]:
    manifest = json.loads((ROOT / "data" / "processed" / "manifest.json").read_text(encoding="utf-8"))
    return {i["path"]: hashlib.sha256((raw_dir / i["path"]).read_bytes()).hexdigest() for i in manifest["inputs"]}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case, raw_dir, inputs_digest, tmp_path, capsys):
    root = linked_copy(raw_dir, tmp_path / "raw")
    case.damage(root)
    out = tmp_path / "out"
    code = main(["panel", "--raw", str(root), "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if case.outcome == "refused":
        assert code == 2, captured.out
        assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
        for words in case.words:
            assert words in captured.err, f"{words!r} not in {captured.err!r}"
        assert not out.exists(), "nothing may be written when the build is refused"
    else:
        assert code == 0, captured.err
        for words in case.words:
            assert words in captured.out, f"{words!r} not in the build log"
        panel = (out / "panel.csv").read_bytes()
        committed = (ROOT / "data" / "processed" / "panel.csv").read_bytes()
        if case.outcome == "accepted":
            assert panel == committed
        else:  # the damaged beds cell is caught by the anomaly screen: refilled, flagged, listed
            new = load_panel(out / "panel.csv")
            at = (new["city"] == "唐山市") & (new["year"] == 2014)
            assert new.loc[at, "beds_whole"].item() != 368810
            assert new.loc[at, "beds_whole_fill"].item() == "anomaly"
            listed = pd.read_csv(out / "anomalies.csv")
            hit = listed[(listed["city"] == "唐山市") & (listed["year"] == 2014) & (listed["column"] == "beds_whole")]
            assert hit["rule"].tolist() == ["spike"] and hit["value"].item() == 368810
    assert _inputs_digest(raw_dir) == inputs_digest, "the raw directory must never change"


# --- the thresholds of replication/data/plausibility.py, pinned to the real data -------------

@pytest.fixture(scope="module")
def real_long(raw_dir, crosswalk):
    from replication.data.series import EDITIONS

    frames = []
    for edition in EDITIONS:
        directory = (raw_dir / TABLES / str(edition)).resolve()
        key = (edition, directory)
        if key not in _EDITIONS:
            _EDITIONS[key] = build.extract_edition(directory, edition, crosswalk, raw_dir)
        frames.append(_EDITIONS[key][0])
    return pd.concat(frames, ignore_index=True)


def test_measured_year_on_year_factors_match_the_docstring(real_long):
    medians = real_long.groupby(["series", "area", "year"])["value"].median()
    factors = medians.groupby(level=[0, 1]).apply(
        lambda s: float((s / s.shift()).dropna().map(lambda f: max(f, 1 / f)).max()))
    assert factors.max() == pytest.approx(1.25, abs=0.005)
    assert factors.idxmax() == ("internet", "whole")
    assert factors.max() * 2 < plausibility.JUMP


def test_measured_per_capita_medians_match_the_table(real_long):
    wide = real_long.pivot_table(index=["entity_id", "year"], columns=["series", "area"], values="value")
    wide.columns = [f"{s}_{a}" for s, a in wide.columns]
    for label, (top, bottom, scale, _, lowest, highest, (low, high)) in plausibility.PER_CAPITA.items():
        yearly = (wide[top] * scale / wide[bottom]).replace([np.inf, -np.inf], np.nan).groupby(level="year").median()
        assert yearly.min() == pytest.approx(lowest, rel=0.005), label
        assert yearly.max() == pytest.approx(highest, rel=0.005), label
        assert low <= lowest / 2.9 and high >= highest * 2.9, label


def test_a_factor_wrong_in_every_edition_is_caught_by_the_per_capita_medians(real_long):
    """Beds ten times too large in every edition: no jump between years, but the median is implausible."""
    damaged = real_long.copy()
    beds = damaged["series"] == "beds"
    damaged.loc[beds, "value"] *= 10
    plausibility.check_unit_jumps(damaged)  # nothing moves between years
    with pytest.raises(BuildError, match=r"^edition 2012 \(data year 2011\): median hospital beds per 1,000 "
                                         r"\(whole city\) across cities is 34\.\d+; expected between 1\.1 and 15: "
                                         r"beds \(whole\) unit label '张' from ccsy_zeeny/key_tables/2012/"):
        plausibility.check_per_capita(damaged)


def test_the_real_long_frame_passes_every_check(real_long, crosswalk, raw_dir):
    from replication.config import YEARS
    from replication.data.sources import read_pku

    pku = read_pku(raw_dir, crosswalk, YEARS).set_index(["entity_id", "year"])["pku_index"]
    names = crosswalk.entities.set_index("entity_id")["city"]
    assert plausibility.check_plausibility(real_long, pku, names) == [
        "plausibility: English names, populations <= 5000 (10k), % shares > 1, PKU index in (0, 1000], "
        "year-on-year median factors < 3, 18 per-capita medians in range: passed"
    ]
