"""The two non-yearbook inputs: the PKU Digital Financial Inclusion Index and the hhwk GDP compilation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from replication.data.cities import Crosswalk
from replication.errors import BuildError
from replication.data.sheets import read_sheet

PKU_FILE = Path("pku_dfiic/PKU_DFIIC_city.dta")
PKU_COLUMNS = ("year", "pref_name_year18", "index_aggregate")
HHWK_FILE = Path("hhwk_gp/2000-2023地级市产业结构 .xlsx")
HHWK_SHEET = "面板数据2000-2023"
HHWK_COLUMNS = {"年度标识": "year", "城市名称": "name", "省份名称": "province",
                "gdp（亿元人民币）": "gdp", "第三产业占GDP比重": "tertiary_share"}


def _read_dta(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """The named variables of the PKU Stata file, each of the type the build needs (a number or text)."""
    try:
        _, meta = pyreadstat.read_dta(str(path), metadataonly=True)
        missing = [c for c in columns if c not in meta.column_names]
        if missing:
            raise BuildError(f"{path}: missing column {', '.join(missing)} (expected in the PKU-DFIIC city file: "
                             f"{', '.join(columns)})")
        frame, _ = pyreadstat.read_dta(str(path), usecols=list(columns))
    except FileNotFoundError:
        raise BuildError(f"{path}: file not found (the PKU-DFIIC city file)") from None
    except BuildError:
        raise
    except Exception as exc:
        raise BuildError(f"{path}: cannot be read as a Stata file ({type(exc).__name__}: {exc})") from None
    for column in columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        if numeric != (column in ("year", "index_aggregate")):
            first = frame[column].dropna()
            value = repr(first.iloc[0]) if len(first) else "no values"
            row = first.index[0] if len(first) else 0
            city = " ".join(f"{frame.loc[row, c]:g}" if isinstance(frame.loc[row, c], float) else str(frame.loc[row, c])
                            for c in ("pref_name_year18", "year") if c in frame and c != column and len(frame))
            raise BuildError(f"{path} row {row + 1}{' (' + city + ')' if city else ''}: column {column}: stored as "
                             f"{'a number' if numeric else 'text'} ({value}); expected "
                             f"{'text (a city name)' if numeric else 'a numeric Stata variable'}")
    return frame


def read_pku(raw: Path, crosswalk: Crosswalk, years: tuple[int, ...]) -> pd.DataFrame:
    """entity_id, year, pku_index (total index, 'index_aggregate') for the given years.

    BuildError for a missing variable, a variable of the wrong type, a year with no rows, a year that
    is not a whole number, a city-year twice or an index <= 0 (the upper bound is plausibility's)."""
    path = raw / PKU_FILE
    frame = _read_dta(path, PKU_COLUMNS)
    fractional = frame["year"].notna() & (frame["year"] != frame["year"].round())
    if fractional.any():
        row = frame.index[fractional][0]
        raise BuildError(f"{path} row {row + 1}: {frame.loc[row, 'pref_name_year18']}, column year: "
                         f"{frame.loc[row, 'year']:g}; expected a whole year")
    frame = frame[frame["year"].isin(years)].copy()
    frame["year"] = frame["year"].astype(int)
    absent = [y for y in years if y not in set(frame["year"])]
    if absent:
        raise BuildError(f"{path}: no rows for year {', '.join(map(str, absent))}; expected index_aggregate for "
                         f"every year {years[0]}-{years[-1]}")
    nameless = frame["pref_name_year18"].isna() | (frame["pref_name_year18"].astype(str).str.strip() == "")
    if nameless.any():
        row = frame.index[nameless][0]
        raise BuildError(f"{path} row {row + 1}: year {frame.loc[row, 'year']}, column pref_name_year18: empty; "
                         "expected the city's name")
    frame["entity_id"] = [
        crosswalk.match(name, "", "", year, f"{path} row {row + 1} ({name}, {year})")
        for row, name, year in zip(frame.index, frame["pref_name_year18"], frame["year"])
    ]
    duplicated = frame.duplicated(["entity_id", "year"])
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise BuildError(f"{path} row {frame.index[duplicated][0] + 1}: duplicate city-year "
                         f"{first['pref_name_year18']} {first['year']}; expected each city-year once")
    if (frame["index_aggregate"] <= 0).any():
        row = frame.index[frame["index_aggregate"] <= 0][0]
        bad = frame.loc[row]
        raise BuildError(f"{path} row {row + 1}: {bad['pref_name_year18']} {bad['year']}, index_aggregate: "
                         f"expected > 0, found {bad['index_aggregate']:g}")
    return frame.rename(columns={"index_aggregate": "pku_index"})[["entity_id", "year", "pku_index"]]


def _number(value: object) -> float:
    """A cell of the hhwk workbook as a number (NaN when empty); ValueError when it is not one."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return np.nan
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value.strip() if isinstance(value, str) else value)


def read_hhwk(raw: Path, crosswalk: Crosswalk, years: tuple[int, ...]) -> pd.DataFrame:
    """entity_id, year, gdp (100m yuan), tertiary_share (percent), row (of the sheet) from the hhwk
    compilation.  BuildError, naming the sheet row, city-year and column, for a cell that is not a
    number, a GDP <= 0, a share outside 0-1 (the compilation stores shares as fractions) or a city-year
    printed twice."""
    path = raw / HHWK_FILE
    rows = read_sheet(path, HHWK_SHEET)
    if not rows:
        raise BuildError(f"{path} sheet {HHWK_SHEET!r}: empty; expected a header row and one row per city-year")
    header = [str(c).strip() for c in rows[0]]
    missing = [k for k in HHWK_COLUMNS if k not in header]
    if missing:
        raise BuildError(f"{path} sheet {HHWK_SHEET!r}: header not found for {missing}; found {header}")
    frame = pd.DataFrame(rows[1:], columns=header)[list(HHWK_COLUMNS)].rename(columns=HHWK_COLUMNS)
    frame["row"] = np.arange(2, len(frame) + 2)  # the sheet's row number (the header is row 1)
    frame["year"] = pd.to_numeric(frame["year"], errors="coerce")
    frame = frame[frame["year"].isin(years)].copy()
    frame["year"] = frame["year"].astype(int)
    heads = {v: k for k, v in HHWK_COLUMNS.items()}
    for column, low, high, unit in (("gdp", 0.0, np.inf, "100m yuan"), ("tertiary_share", 0.0, 1.0, "a fraction")):
        values = []
        for r, name, year, value in zip(frame["row"], frame["name"], frame["year"], frame[column]):
            where = f"{path} sheet {HHWK_SHEET!r} row {r}: {name} {year}, column {heads[column]}"
            try:
                number = _number(value)
            except (TypeError, ValueError):
                raise BuildError(f"{where}: {value!r} is not a number") from None
            if not np.isnan(number) and not (low < number <= high if column == "gdp" else low <= number <= high):
                expected = "> 0 (100m yuan)" if column == "gdp" else \
                    "a fraction between 0 and 1 (the compilation stores shares as fractions; a percentage?)"
                raise BuildError(f"{where}: {number:g}; expected {expected}")
            values.append(number)
        frame[column] = values
    frame["tertiary_share"] = 100 * frame["tertiary_share"]  # fraction -> percent, as the yearbook
    frame["entity_id"] = [
        crosswalk.match(n, "", p, y, f"{path} sheet {HHWK_SHEET!r} row {r} ({n}, {y})")
        for n, p, y, r in zip(frame["name"], frame["province"], frame["year"], frame["row"])
    ]
    twice = frame[frame.duplicated(["entity_id", "year"], keep=False)]
    if len(twice):
        first = twice[(twice["entity_id"] == twice["entity_id"].iloc[0]) & (twice["year"] == twice["year"].iloc[0])]
        raise BuildError(f"{path} sheet {HHWK_SHEET!r} rows {', '.join(map(str, first['row']))}: {first['name'].iloc[0]} "
                         f"{first['year'].iloc[0]} twice; expected each city-year once")
    return frame[["entity_id", "year", "gdp", "tertiary_share", "row"]]


NAMES_EN_FILE = "city_names_en.csv"


def english_corrections(text: str | None = None) -> pd.DataFrame:
    """replication/data/city_names_en.csv (or `text` in its format): the English names the PKU file
    misspells (name, pku, english, reason), checked against schemas.NAMES_EN."""
    from importlib import resources

    from replication.data.cities import read_csv_input
    from replication.schemas import check

    where = f"replication/data/{NAMES_EN_FILE}"
    if text is None:
        text = resources.files("replication.data").joinpath(NAMES_EN_FILE).read_text(encoding="utf-8")
    frame = read_csv_input(where, "the list of corrected English names", text=text, comment="#",
                           keep_default_na=False)
    return check(frame, "names_en", where)


def read_pku_names(raw: Path, crosswalk: Crosswalk) -> pd.Series:
    """English city names by entity id: the PKU file's (pref_name_year18_eng) without surrounding
    spaces, corrected where city_names_en.csv lists a misspelling; a listed correction whose
    misspelling the file no longer prints is refused (the list would be stale)."""
    path = raw / PKU_FILE
    frame = _read_dta(path, ("year", "pref_name_year18", "pref_name_year18_eng"))
    frame = frame.dropna(subset=["year", "pref_name_year18"])
    frame = frame.sort_values("year").drop_duplicates("pref_name_year18", keep="last")
    printed = frame["pref_name_year18_eng"].astype(str).str.strip()
    corrections = english_corrections()
    by_name = dict(zip(frame["pref_name_year18"], printed))
    for r in corrections.itertuples():
        if by_name.get(r.name) != r.pku:
            raise BuildError(f"replication/data/{NAMES_EN_FILE}: {r.name}, column pku: {r.pku!r}, but {path} "
                             f"prints {by_name.get(r.name, 'no such city')!r}; expected the spelling the file prints")
    fixed = [dict(zip(corrections["name"], corrections["english"])).get(n, f)
             for n, f in zip(frame["pref_name_year18"], printed)]
    ids = [crosswalk.match(n, "", "", int(y), str(path)) for n, y in zip(frame["pref_name_year18"], frame["year"])]
    return pd.Series(fixed, index=ids).groupby(level=0).last()
