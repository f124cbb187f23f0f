"""The ethnic regions (seed 004, Ren, Qi and Tong): the study's figures against the study's text, the
parser's refusals, the coverage of the eight provinces against the panel, the ethnic-province model
against pyfixest and linearmodels, the fully interacted model against the separate regressions, and
the wild bootstrap's enumeration by province."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replication.config import Options
from replication.published import ETHNIC_PROVINCES, parse_ethnic_study

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "data" / "reference" / "ethnic_study.csv"
SEED = "004_ab0ff0eeda740457.txt"


def _seeds_dir() -> Path:
    value = os.environ.get("REPLICATION_SEEDS", "")
    return Path(value) if value else ROOT.parent / "shared" / "seeds"


@pytest.fixture(scope="module")
def seed_text() -> str:
    path = _seeds_dir() / SEED
    if not path.is_file():
        message = f"seed 004 not found at {path} (set REPLICATION_SEEDS)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return parse_ethnic_study(REFERENCE.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- the study's figures


def _normal(text: str) -> str:
    return " ".join(text.split())


NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
ROMAN = re.compile(r"^#+\s*\*?([IVX]+)\.\s")
LETTER = re.compile(r"^#+\s*\*?([A-H])\.\s")


def _numbers(phrase: str) -> tuple[list[int], list[float]]:
    """(years, other numbers) printed in a phrase; a year is a four-digit integer 1990-2030 without commas."""
    years, others = [], []
    for token in NUMBER.findall(phrase):
        token = token.rstrip(",")
        if re.fullmatch(r"\d{4}", token) and 1990 <= int(token) <= 2030:
            years.append(int(token))
        else:
            others.append(float(token.replace(",", "")))
    return years, others


def _sections(text: str) -> list[tuple[int, str]]:
    """(offset in the whitespace-normalised text, 'III.A') of every lettered heading under a numbered one."""
    normal, out, roman, position = _normal(text), [], "", 0
    for line in text.splitlines():
        if ROMAN.match(line):
            roman = ROMAN.match(line).group(1)
        elif LETTER.match(line) and roman:
            position = normal.index(_normal(line), position)
            out.append((position, f"{roman}.{LETTER.match(line).group(1)}"))
    return out


def test_every_figure_is_printed_once_in_its_section_with_that_value(seed_text, reference):
    text = _normal(seed_text)
    sections = _sections(seed_text)
    assert {"III.A", "III.B", "III.C", "III.D", "IV.B", "IV.C", "V.A", "V.B", "V.C"} <= {s for _, s in sections}
    assert len(reference) == 31
    for row in reference.itertuples():
        phrase = _normal(row.printed)
        assert text.count(phrase) == 1, f"{row.printed!r} is not printed (once) in seed 004"
        where = text.index(phrase)
        section = [name for offset, name in sections if offset <= where][-1]
        assert row.section == section, f"{row.printed!r} is in section {section}, not {row.section}"
        years, others = _numbers(phrase)
        assert others == [row.value], f"{row.printed!r}: printed {others}, stored {row.value}"
        if years:
            assert row.year in years, f"{row.printed!r}: year {row.year} not among {years}"


def test_the_study_names_the_eight_provinces_the_parser_knows(seed_text):
    assert len(ETHNIC_PROVINCES) == 8 and "the eight ethnic provinces and regions" in seed_text
    for english in ("Tibet", "Xinjiang", "Guangxi", "Ningxia", "Inner Mongolia", "Guizhou"):
        assert english in seed_text


def _with(line: int, column: str, value: str) -> str:
    """The committed file with one cell replaced (line numbers as an editor shows them)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(REFERENCE.read_text(encoding="utf-8"))))
    rows[line - 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize("column, value, expected", [
    ("section", "3A", r"line 4, column 'section': '3A'; expected a heading"),
    ("area", "Tibet", r"line 4, column 'area': 'Tibet'; expected one of"),
    ("year", "22", r"line 4, column 'year': '22'; expected blank or a year"),
    ("value", "58,7", r"line 4, column 'value': '58,7'; expected a number"),
    ("value", "nan", r"line 4, column 'value': 'nan'; expected a finite number"),
    ("qualifier", "about", r"line 4, column 'qualifier': 'about'; expected one of"),
    ("printed", " ", r"line 4, column 'printed': ' '; expected the words as printed"),
])
def test_parser_refuses_a_bad_cell_with_file_line_and_column(column, value, expected):
    with pytest.raises(ValueError, match=r"ethnic_study.csv " + expected):
        parse_ethnic_study(_with(4, column, value))


def test_parser_refuses_missing_columns_short_rows_and_duplicates():
    good = REFERENCE.read_text(encoding="utf-8").splitlines()
    with pytest.raises(ValueError, match=r"ethnic_study.csv line 1: columns \['printed'\] missing"):
        parse_ethnic_study(good[0].replace(",printed", "") + "\n")
    with pytest.raises(ValueError, match=r"ethnic_study.csv line 2: 8 cells; expected 9"):
        parse_ethnic_study("\n".join([good[0], good[1].rsplit(",", 1)[0]]))
    with pytest.raises(ValueError, match=r"line 3: III.A urbanisation_rate eight ethnic provinces  2022 already "
                                         r"on line 2"):
        parse_ethnic_study("\n".join([good[0], good[1], good[1]]))
    assert len(parse_ethnic_study("\n".join(good))) == len(good) - 1
