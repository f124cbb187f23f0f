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

import io
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from replication.errors import BuildError

STRAY = ".。，,‘’'\"[]【】 "
CROSSWALK_FILES = ("entities.csv", "legal_roster_2000_2024.csv", "entity_names_year_end_1987_2026.csv")
ALIASES_FILE = "city_aliases.csv"
NEWLINE = b"\n"
ALIASES_PATH = f"replication/data/{ALIASES_FILE}"


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", str(text).lower())


def read_csv_input(path, what: str, text: str | None = None, **kwargs) -> pd.DataFrame:
    """A raw or committed CSV input as text columns; BuildError naming the file when it is not UTF-8
    text, empty or not CSV (a file re-saved in GBK by a spreadsheet is the usual case)."""
    try:
        if text is not None:
            return pd.read_csv(io.StringIO(text), dtype=str, **kwargs)
        return pd.read_csv(path, dtype=str, encoding="utf-8", **kwargs)
    except FileNotFoundError:
        raise BuildError(f"{path}: file not found ({what})") from None
    except UnicodeDecodeError:
        data = Path(path).read_bytes()
        try:
            data.decode("utf-8")
            where = ""
        except UnicodeDecodeError as exc:
            where = f" line {data[:exc.start].count(NEWLINE) + 1}"
            byte = f" (byte 0x{data[exc.start]:02x} is not UTF-8)"
        raise BuildError(
            f"{path}{where}: not UTF-8 text{byte if where else ''}; expected {what} in UTF-8, as published "
            "(re-saved in another encoding, e.g. GBK?)"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BuildError(f"{path}: cannot be read as a CSV file ({str(exc).splitlines()[0]}); expected {what}") from None


def load_aliases(text: str | None = None) -> pd.DataFrame:
    """The committed list of misprinted yearbook names (or `text` in its format): name, name_en,
    canonical, reason, checked against schemas.ALIASES."""
    from replication.schemas import check

    if text is None:
        text = resources.files("replication.data").joinpath(ALIASES_FILE).read_text(encoding="utf-8")
    frame = read_csv_input(ALIASES_PATH, "the list of misprinted city names", text=text, comment="#",
                           keep_default_na=False)
    aliases = check(frame, "aliases", ALIASES_PATH)
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


def load_crosswalk(directory: Path, aliases: pd.DataFrame | None = None) -> Crosswalk:
    """The FIERsity crosswalk in `directory`, each file checked against its schema (replication.schemas:
    ENTITIES, ROSTER, YEAR_END), and the misprint list (`aliases`, default the committed one)."""
    from replication.schemas import check

    for file in CROSSWALK_FILES:
        if not (directory / file).is_file():
            raise BuildError(f"{directory / file}: crosswalk file missing")
    entities_file, roster_file, year_end_file = (directory / f for f in CROSSWALK_FILES)
    entities = check(read_csv_input(entities_file, "the crosswalk's entities"), "entities", str(entities_file))
    entities = entities.rename(columns={"canonical_name_zh": "city", "province_name_zh": "province"})
    entities["city_code"] = entities["legacy_entity_id"].str.lstrip("E").astype(int)
    duplicated = entities[entities.duplicated("city_code", keep=False)]
    if len(duplicated):
        lines = ", ".join(str(i + 2) for i in duplicated.index[:3])
        raise BuildError(f"{entities_file}: column legacy_entity_id: {duplicated['legacy_entity_id'].iloc[0]} on lines "
                         f"{lines}; expected each legacy id once (it is the panel's city_code)")
    province_of = entities.set_index("entity_id")["province"]
    roster = check(read_csv_input(roster_file, "the crosswalk's legal roster"), "roster", str(roster_file))
    unknown = roster[~roster["entity_id"].isin(province_of.index)]
    if len(unknown):
        first = unknown.index[0]
        raise BuildError(f"{roster_file} line {first + 2}: entity {unknown['entity_id'].iloc[0]} {unknown['year'].iloc[0]}, "
                         f"column entity_id: not in {entities_file.name}; expected an entity of the crosswalk")
    roster = roster[roster["legal_name_zh"].notna()]
    legal = (
        roster.groupby(["entity_id", "legal_name_zh"])["year"].agg(["min", "max"]).reset_index()
        .rename(columns={"legal_name_zh": "name", "min": "first_year", "max": "last_year"})
    )
    year_end = check(read_csv_input(year_end_file, "the crosswalk's year-end names"), "year_end", str(year_end_file))
    year_end = year_end[year_end["name_zh"].notna()].rename(
        columns={"name_zh": "name", "start_year": "first_year", "end_year": "last_year"}
    )[["entity_id", "name", "first_year", "last_year"]]
    names = pd.concat([legal, year_end]).drop_duplicates(["entity_id", "name"])
    names["province"] = names["entity_id"].map(province_of)
    aliases = load_aliases() if aliases is None else aliases
    known = set(names["name"])
    unknown = aliases[~aliases["canonical"].isin(known)]
    if len(unknown):
        a = unknown.iloc[0]
        raise BuildError(f"{ALIASES_PATH}: alias {a['name']} ({a['name_en']}), column canonical: {a['canonical']!r} is "
                         f"no name in {directory}; expected a legal or former prefecture name")
    return Crosswalk(
        entities=entities[["entity_id", "city_code", "city", "province"]],
        names=names.reset_index(drop=True),
        aliases=aliases,
    )
