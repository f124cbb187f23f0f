"""The two non-yearbook inputs: the PKU Digital Financial Inclusion Index and the hhwk GDP compilation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from replication.data.cities import Crosswalk
from replication.data.errors import BuildError
from replication.data.sheets import read_sheet

PKU_FILE = Path("pku_dfiic/PKU_DFIIC_city.dta")
HHWK_FILE = Path("hhwk_gp/2000-2023地级市产业结构 .xlsx")
HHWK_SHEET = "面板数据2000-2023"


def read_pku(raw: Path, crosswalk: Crosswalk, years: tuple[int, ...]) -> pd.DataFrame:
    """entity_id, year, pku_index (total index, 'index_aggregate') for the given years."""
    path = raw / PKU_FILE
    try:
        frame, _ = pyreadstat.read_dta(str(path), usecols=["year", "pref_name_year18", "index_aggregate"])
    except FileNotFoundError:
        raise BuildError(f"{path}: file not found (the PKU-DFIIC city file)") from None
    except Exception as exc:
        raise BuildError(f"{path}: cannot be read as a Stata file ({type(exc).__name__}: {exc})") from None
    frame = frame[frame["year"].isin(years)].copy()
    frame["year"] = frame["year"].astype(int)
    frame["entity_id"] = [
        crosswalk.match(name, "", "", year, f"{path} ({name}, {year})")
        for name, year in zip(frame["pref_name_year18"], frame["year"])
    ]
    duplicated = frame.duplicated(["entity_id", "year"])
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise BuildError(f"{path}: duplicate city-year {first['pref_name_year18']} {first['year']}")
    if (frame["index_aggregate"] <= 0).any():
        bad = frame[frame["index_aggregate"] <= 0].iloc[0]
        raise BuildError(f"{path}: {bad['pref_name_year18']} {bad['year']}, index_aggregate: expected > 0")
    return frame.rename(columns={"index_aggregate": "pku_index"})[["entity_id", "year", "pku_index"]]


def read_hhwk(raw: Path, crosswalk: Crosswalk, years: tuple[int, ...]) -> pd.DataFrame:
    """entity_id, year, gdp (100m yuan), tertiary_share (percent) from the hhwk compilation."""
    path = raw / HHWK_FILE
    rows = read_sheet(path, HHWK_SHEET)
    header = [str(c).strip() for c in rows[0]]
    wanted = {"年度标识": "year", "城市名称": "name", "省份名称": "province",
              "gdp（亿元人民币）": "gdp", "第三产业占GDP比重": "tertiary_share"}
    missing = [k for k in wanted if k not in header]
    if missing:
        raise BuildError(f"{path} sheet {HHWK_SHEET!r}: header not found for {missing}; found {header}")
    frame = pd.DataFrame(rows[1:], columns=header)[list(wanted)].rename(columns=wanted)
    frame["year"] = pd.to_numeric(frame["year"], errors="coerce")
    frame = frame[frame["year"].isin(years)].copy()
    frame["year"] = frame["year"].astype(int)
    for column in ("gdp", "tertiary_share"):
        frame[column] = pd.to_numeric(frame[column].replace("", np.nan), errors="raise")
    frame["tertiary_share"] = 100 * frame["tertiary_share"]  # fraction -> percent, as the yearbook
    frame["entity_id"] = [
        crosswalk.match(n, "", p, y, f"{path} ({n}, {y})")
        for n, p, y in zip(frame["name"], frame["province"], frame["year"])
    ]
    return frame[["entity_id", "year", "gdp", "tertiary_share"]].drop_duplicates(["entity_id", "year"])


def read_pku_names(raw: Path, crosswalk: Crosswalk) -> pd.Series:
    """English city names as the PKU file spells them (pref_name_year18_eng), by entity id."""
    path = raw / PKU_FILE
    frame, _ = pyreadstat.read_dta(str(path), usecols=["year", "pref_name_year18", "pref_name_year18_eng"])
    frame = frame.sort_values("year").drop_duplicates("pref_name_year18", keep="last")
    ids = [crosswalk.match(n, "", "", int(y), str(path)) for n, y in zip(frame["pref_name_year18"], frame["year"])]
    return pd.Series(frame["pref_name_year18_eng"].to_numpy(), index=ids).groupby(level=0).last()
