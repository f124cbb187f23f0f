"""Matching the yearbook's city rows to stable prefecture entities.

The FIERsity crosswalk gives every prefecture-level unit a stable research id
(CNUR-...), its legacy administrative code and its legal name in each year.
A yearbook row is matched by name to the entity whose legal name, or any
recorded former name, equals it; the province printed above the row only
breaks ties, because the scanned yearbooks misprint province rows as well
('折江省', '[西省', and a missing 黑龙江省 row in one table).  Misprinted city
names (鸡两市 for 鸡西市) are listed, with the English name printed beside them
as evidence, in ``city_aliases.csv`` beside this module.  A row that matches
no entity, or more than one, is an error; the province, city name and code
written to the panel always come from the crosswalk.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pandas as pd

from replication.data.errors import BuildError

STRAY = ".。，,‘’'\"[]【】 "
CROSSWALK_FILES = ("entities.csv", "legal_roster_2000_2024.csv", "entity_names_year_end_1987_2026.csv")


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", str(text).lower())


def load_aliases() -> pd.DataFrame:
    """The committed list of misprinted yearbook names: name, name_en, canonical, reason."""
    with resources.files("replication.data").joinpath("city_aliases.csv").open(encoding="utf-8") as handle:
        aliases = pd.read_csv(handle, dtype=str, comment="#", keep_default_na=False)
    aliases["key_en"] = aliases["name_en"].map(_letters)
    return aliases


class Crosswalk:
    """Prefecture entities (entity_id, city_code, city, province) and every name they have borne."""

    def __init__(self, entities: pd.DataFrame, names: pd.DataFrame, aliases: pd.DataFrame):
        self.entities = entities
        self.names = names  # entity_id, name, first_year, last_year, province
        self.aliases = aliases  # name, name_en, canonical, reason, key_en
        self._by_name = {name: group for name, group in names.groupby("name")}
        self._alias = {(a.name, a.key_en): a.canonical for a in aliases.itertuples()}
        self._cache: dict[tuple, str] = {}

    def match(self, name: str, name_en: str, province: str, year: int, where: str) -> str:
        """The entity id of one yearbook row; BuildError (naming `where`) if none or several."""
        key = (name, _letters(name_en), province, year)
        if key not in self._cache:
            self._cache[key] = self._match(name, name_en, province, year, where)
        return self._cache[key]

    def _match(self, name: str, name_en: str, province: str, year: int, where: str) -> str:
        canonical = self.canonical_name(name, name_en)
        same = self._by_name.get(canonical, self.names.iloc[0:0])
        if same["entity_id"].nunique() > 1:
            same = same[same["province"] == province]
        if same["entity_id"].nunique() > 1:
            same = same[(same["first_year"] <= year) & (same["last_year"] >= year)]
        ids = same["entity_id"].unique()
        if len(ids) == 1:
            return str(ids[0])
        if len(ids) == 0:
            raise BuildError(
                f"{where}: city {name!r} (printed under {province or 'no province'}, data year {year}) "
                "matches no prefecture in the crosswalk; expected a legal or former prefecture name, "
                "or an entry in replication/data/city_aliases.csv"
            )
        raise BuildError(f"{where}: city {name!r} ({province}, {year}) matches several prefectures: {sorted(ids)}")

    def canonical_name(self, name: str, name_en: str) -> str:
        """The name with stray punctuation removed and listed misprints corrected.

        An alias applies only where the English name printed in the same row is the one listed,
        so that a correction cannot silently rename some other row.
        """
        text = name.strip(STRAY).replace("巿", "市")
        return self._alias.get((text, _letters(name_en)), text)


def load_crosswalk(directory: Path) -> Crosswalk:
    for file in CROSSWALK_FILES:
        if not (directory / file).is_file():
            raise BuildError(f"{directory / file}: crosswalk file missing")
    entities = pd.read_csv(directory / "entities.csv", dtype=str)
    entities = entities.rename(columns={"canonical_name_zh": "city", "province_name_zh": "province"})
    entities["city_code"] = entities["legacy_entity_id"].str.lstrip("E").astype(int)
    province_of = entities.set_index("entity_id")["province"]
    roster = pd.read_csv(directory / "legal_roster_2000_2024.csv", dtype={"year": int})
    roster = roster[roster["legal_name_zh"].notna()]
    legal = (
        roster.groupby(["entity_id", "legal_name_zh"])["year"].agg(["min", "max"]).reset_index()
        .rename(columns={"legal_name_zh": "name", "min": "first_year", "max": "last_year"})
    )
    year_end = pd.read_csv(directory / "entity_names_year_end_1987_2026.csv")
    year_end = year_end[year_end["name_zh"].notna()].rename(
        columns={"name_zh": "name", "start_year": "first_year", "end_year": "last_year"}
    )[["entity_id", "name", "first_year", "last_year"]]
    names = pd.concat([legal, year_end]).drop_duplicates(["entity_id", "name"])
    names["province"] = names["entity_id"].map(province_of)
    return Crosswalk(
        entities=entities[["entity_id", "city_code", "city", "province"]],
        names=names.reset_index(drop=True),
        aliases=load_aliases(),
    )
