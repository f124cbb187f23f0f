"""From the raw directory to the city-year panel: extraction, validation, sample rules, gap filling.

``build_panel`` is pure apart from reading the raw files: it returns the panel,
a manifest (inputs and their sha256, rule counts, filled cells) and a log; the
command line writes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from replication.config import REGIONS, YEARS, Options
from replication.data.anomalies import screen, treat
from replication.data.cities import CROSSWALK_FILES, load_crosswalk
from replication.errors import BuildError
from replication.data.plausibility import check_plausibility, check_secondary
from replication.data.series import BY_NAME, EDITIONS
from replication.data.sources import HHWK_FILE, HHWK_SHEET, PKU_FILE, read_hhwk, read_pku, read_pku_names
from replication.data.yearbook import extract_edition

KEY_TABLES = Path("ccsy_zeeny/key_tables")
CROSSWALK_DIR = Path("crosswalk_fiersity")

# Series with both areas: the non-urban area is whole city minus districts.
SPLIT = ("pop", "teachers_primary", "pupils_primary", "library", "beds", "doctors")
# Variables every city must have in every year (after the fill rules) to stay in the sample.
REQUIRED = (
    "pop_whole", "pop_district", "pop_avg_whole", "gdp_whole", "tertiary_share_whole",
    "expenditure_whole", "telecom_revenue_whole", "mobile_whole", "internet_whole",
    "ict_share_whole", "emp_tertiary_share_whole",
    *(f"{s}_{a}" for s in SPLIT[1:] for a in ("whole", "district")),
    "pku_index",
)
SECONDARY = {"gdp_whole": "gdp", "tertiary_share_whole": "tertiary_share"}
SHARE_RULE = ("ict_share_whole", "emp_tertiary_share_whole")
SHARE_RULE_YEARS = (2020, 2021)
# The options that change the panel (recorded in the manifest; the variants of `make data` vary them).
PANEL_OPTIONS = ("edge_fill_years", "share_end_rule", "anomaly_rule", "anomaly_factor", "anomaly_agreement",
                 "stale_expected", "boundary_step", "identity_share", "level_break_quantile", "correct_level_breaks")
CORRECTED = "set missing and refilled by the fill rules (flag 'anomaly')"
KNOWN_ACTIONS = {
    "district_exceeds_whole": "both cells set missing and refilled (known_anomalies.csv)",
    "population_missing": "not printed; stays missing (known_anomalies.csv)",
}


@dataclass(frozen=True)
class PanelBuild:
    panel: pd.DataFrame
    manifest: dict
    log: tuple[str, ...]
    anomalies: pd.DataFrame  # data/processed/anomalies.csv: every flagged cell and what was done


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_panel(raw: Path, options: Options, progress: Callable[[str], None] = lambda _: None) -> PanelBuild:
    """Build the panel from the raw directory; BuildError for any input the rules do not accept."""
    if not raw.is_dir():
        raise BuildError(f"{raw}: raw directory not found (expected ccsy_zeeny/, pku_dfiic/, ...)")
    log: list[str] = []
    crosswalk = load_crosswalk(raw / CROSSWALK_DIR)
    read: list[Path] = [raw / CROSSWALK_DIR / f for f in CROSSWALK_FILES]

    frames, repairs = [], []
    for i, edition in enumerate(EDITIONS, start=1):
        progress(f"edition {edition} ({i}/{len(EDITIONS)})")
        frame, files, fixed = extract_edition(raw / KEY_TABLES / str(edition), edition, crosswalk, raw)
        frames.append(frame)
        read += files
        repairs += fixed
    long = pd.concat(frames, ignore_index=True)
    names = crosswalk.entities.set_index("entity_id")["city"]

    listed = long.groupby("entity_id")["year"].unique()
    wide = long.pivot_table(index=["entity_id", "year"], columns=["series", "area"], values="value", dropna=False)
    wide.columns = [f"{s}_{a}" for s, a in wide.columns]
    wide = wide.reindex(pd.MultiIndex.from_product([sorted(listed.index), YEARS], names=["entity_id", "year"]))
    sources = long.set_index(["entity_id", "year", "series", "area"])["source"]

    anomalies = load_anomalies()
    printed = wide.copy()
    wide, handled = apply_district_rule(wide, anomalies, sources, names)
    handled += check_population(wide, listed, anomalies, sources, names)
    unused = anomalies[~anomalies.index.isin(handled)]
    if len(unused):
        first = unused.iloc[0]
        raise BuildError(
            f"known_anomalies.csv: entry {first['rule']} {first['city']} {first['year']} {first['series']} "
            "no longer occurs in the raw data; remove it"
        )
    log += [f"known anomaly: {a.rule} {a.city} {a.year} {a.series}: {a.reason}" for a in anomalies.itertuples()]

    progress("anomaly screen")
    screened = screen(wide, options)
    wide, treated = treat(wide, corrected_cells(screened.flags, options))

    hhwk = read_hhwk(raw, crosswalk, YEARS).set_index(["entity_id", "year"])
    pku = read_pku(raw, crosswalk, YEARS).set_index(["entity_id", "year"])
    read += [raw / HHWK_FILE, raw / PKU_FILE]
    log += check_plausibility(long, pku["pku_index"], names)
    wide["pku_index"] = pku["pku_index"].reindex(wide.index)
    wide["ict_share_whole"] = 100 * wide["emp_ict_whole"] / wide["emp_whole"]
    treated["ict_share_whole"] = treated["emp_ict_whole"] | treated["emp_whole"]
    flags = pd.DataFrame("", index=wide.index, columns=list(REQUIRED))
    checks = {"hhwk_vs_yearbook": cross_check_hhwk(wide, hhwk)}
    before = wide[list(SECONDARY)].copy()
    for column, source in SECONDARY.items():
        gap = wide[column].isna() & wide.index.get_level_values("year").isin(absent_years(column))
        fill = hhwk[source].reindex(wide.index)
        take = gap & fill.notna()
        wide.loc[take, column] = fill[take]
        flags.loc[take, column] = "hhwk"
    check_secondary(before, wide, flags[list(SECONDARY)] == "hhwk", hhwk["row"], names,
                    f"{HHWK_FILE} sheet {HHWK_SHEET!r}")

    # --- sample rules ---
    rules: list[dict] = []
    cities = sorted(listed.index)
    rules.append({"rule": "prefecture-level cities in the yearbook's city tables, editions 2012-2022",
                  "cities": len(cities), "dropped": []})
    keep = [c for c in cities if len(listed[c]) == len(YEARS)]
    rules.append(_rule("listed in every edition 2012-2022 (data years 2011-2021)", cities, keep, names,
                       lambda c: f"listed for {min(listed[c])}-{max(listed[c])} only"))
    cities = keep
    pop = wide[["pop_whole", "pop_district"]]
    equal = (pop["pop_whole"] <= pop["pop_district"]).groupby(level=0).apply(
        lambda s: sorted(s.index.get_level_values(1)[s.to_numpy()]))
    keep = [c for c in cities if not equal[c]]
    rules.append(_rule("has a non-urban area: whole-city population above district population in every year",
                       cities, keep, names, lambda c: "no non-urban area in " + _years(equal[c])))
    cities = keep
    pku_years = wide["pku_index"].notna().groupby(level=0).sum()
    keep = [c for c in cities if pku_years[c] == len(YEARS)]
    rules.append(_rule("PKU index for every year", cities, keep, names,
                       lambda c: f"PKU index for {pku_years[c]} of {len(YEARS)} years"))
    cities = keep

    sample = wide.loc[cities].copy()
    sample_flags = flags.loc[cities].copy()
    rounding_before = sample["pupils_primary_district"].isna()
    log += unmeasured_pupils(sample, names)
    rounded = sample["pupils_primary_district"].isna() & ~rounding_before
    fill_gaps(sample, sample_flags, options)
    anomaly_cells = treated.reindex(index=sample.index, columns=list(REQUIRED), fill_value=False).astype(bool)
    filled_anomaly = anomaly_cells & sample[list(REQUIRED)].notna()
    sample_flags = sample_flags.mask(filled_anomaly, "anomaly")
    why = {("pupils_primary_district", c, y): "printed equal to the whole city: blanked by the pupils rounding rule"
           for c, y in rounded[rounded].index}
    ids = {v: k for k, v in names.items()}
    above = "district above whole city (known_anomalies.csv): set missing"
    why |= {(f"{series}_{area}", ids[city], year): above for rule, city, year, series in handled
            if rule == "district_exceeds_whole" for area in ("whole", "district")}
    why |= {(v, c, y): SCREEN_REASON
            for v in REQUIRED for c, y in anomaly_cells.index[anomaly_cells[v].to_numpy()]}
    incomplete = sample[list(REQUIRED)].isna()
    gaps = {
        c: {v: sorted(int(y) for y in incomplete.loc[c].index[incomplete.loc[c][v]]) for v in REQUIRED
            if incomplete.loc[c][v].any()}
        for c in cities
    }
    keep = [c for c in cities if not gaps[c]]
    rules.append(_rule(
        f"every required variable present after interpolation and the named end rules "
        f"(edge_fill_years={options.edge_fill_years}, share_end_rule={options.share_end_rule})",
        cities, keep, names, lambda c: "; ".join(_gap_reason(v, c, ys, why) for v, ys in gaps[c].items())))
    cities = keep
    sample, sample_flags = sample.loc[cities], sample_flags.loc[cities]

    for series in SPLIT:
        sample[f"{series}_nonurban"] = sample[f"{series}_whole"] - sample[f"{series}_district"]
        sample_flags[f"{series}_nonurban"] = sample_flags[f"{series}_whole"].where(
            sample_flags[f"{series}_whole"] != "", sample_flags[f"{series}_district"])
        negative = sample[f"{series}_nonurban"] < 0
        if negative.any():
            city, year = negative[negative].index[0]
            raise BuildError(
                f"{series}: after filling, the district value exceeds the whole-city value for "
                f"{names[city]} {year}; expected whole city >= districts"
            )

    english = read_pku_names(raw, crosswalk)
    panel = _assemble(sample, sample_flags, crosswalk, english)
    for rule in rules:
        log.append(f"{rule['cities']:4d} cities  {rule['rule']}")
    log.append(f"final panel: {panel['city_code'].nunique()} cities x {len(YEARS)} years = {len(panel)} rows")
    manifest = {
        "inputs": [
            {"path": p.relative_to(raw).as_posix(), "sha256": sha256(p), "bytes": p.stat().st_size}
            for p in sorted(set(read))
        ],
        "package_data": {
            name: sha256(Path(str(resources.files("replication.data").joinpath(name))))
            for name in ("city_aliases.csv", "city_names_en.csv", "cell_fixes.csv", "known_anomalies.csv")
        },
        "options": {k: getattr(options, k) for k in PANEL_OPTIONS},
        "rows": len(panel),
        "cities": int(panel["city_code"].nunique()),
        "columns": list(panel.columns),
        "sample_rules": rules,
        "filled_cells": _filled_counts(panel),
        "repairs": repairs,
        "sources": {
            f"{s}_{a}": {str(y + 1): src for y, src in group.set_index("year")["source"].items()}
            for (s, a), group in long.drop_duplicates(["series", "area", "year"]).groupby(["series", "area"])
        },
        "known_anomalies": [f"{a.rule} {a.city} {a.year} {a.series}" for a in anomalies.itertuples()],
        "checks": checks | {"avg_population_rule": check_avg_rule(wide)},
    }
    left = {d["city"]: d["reason"] for d in rules[-1]["dropped"] if SCREEN_REASON in d["reason"]}
    listing = anomaly_list(screened.flags, printed, anomalies, handled, options, names, english,
                           set(panel["city"]), left)
    manifest["anomalies"] = anomaly_counts(listing) | {"screen": screened.stats}
    log += [f"anomaly screen: {n} cells flagged {rule}" for rule, n in manifest["anomalies"]["cells_by_rule"].items()]
    return PanelBuild(panel=panel, manifest=manifest, log=tuple(log + repairs), anomalies=listing)


SCREEN_REASON = "corrected by the anomaly screen: set missing"


def corrected_cells(flags: pd.DataFrame, options: Options) -> pd.DataFrame:
    """The listed cells this build's anomaly_rule sets missing: 'confirmed' those corrected_by_default,
    'screen' those corrected_by_screen, 'keep' none."""
    column = {"confirmed": "corrected_by_default", "screen": "corrected_by_screen"}.get(options.anomaly_rule)
    return flags[flags[column]] if column else flags.iloc[:0]


def anomaly_list(flags, printed, known, handled, options, names, english, in_panel, left) -> pd.DataFrame:
    """The screen's flags and the known anomalies the build handled, one row per cell, with the action
    under this build's anomaly_rule and, for a corrected cell of a city that leaves the sample because of a
    correction, the manifest's reason (`left`: city -> reason)."""
    ids = {v: k for k, v in names.items()}
    extra = []
    for rule, city, year, series in handled:
        column = series if rule == "population_missing" else None
        for col in ([column] if column else [f"{series}_whole", f"{series}_district"]):
            entity = ids[city]
            extra.append({"entity_id": entity, "year": int(year), "column": col,
                          "value": printed.loc[(entity, year), col],
                          "neighbours": _neighbours(printed[col], entity, int(year)),
                          "log_departure": np.nan, "rule": rule,
                          "detail": known.loc[(rule, city, year, series), "reason"], "signals": "",
                          "corrected_by_default": False, "corrected_by_screen": False})
    table = pd.concat([flags, pd.DataFrame(extra, columns=flags.columns)], ignore_index=True)
    corrected = table.index.isin(table.reset_index().merge(
        corrected_cells(flags, options), on=["entity_id", "year", "column", "rule"])["index"])
    table.insert(0, "city", table["entity_id"].map(names))
    table.insert(1, "city_en", table["entity_id"].map(english).fillna(""))
    table["action"] = [KNOWN_ACTIONS.get(r, CORRECTED if c else f"kept as printed (anomaly_rule={options.anomaly_rule})")
                       for r, c in zip(table["rule"], corrected)]
    table["in_panel"] = table["city"].isin(in_panel)
    table["leaves_sample"] = [left.get(city, "") if c else "" for city, c in zip(table["city"], corrected)]
    table = table.drop(columns="entity_id").sort_values(["city", "year", "column", "rule"], kind="stable")
    return table.reset_index(drop=True)


def _neighbours(column: pd.Series, entity, year: int) -> str:
    values = column.loc[entity]
    return "; ".join(f"{y}: {values[y]:g}" for y in (year - 1, year + 1) if y in values.index and pd.notna(values[y]))


def anomaly_counts(listing: pd.DataFrame) -> dict:
    """Flagged cells per rule and column, and the cells each rule corrects per rule, over every screened city
    and over the panel's cities; the cities a correction of this build removes from the sample."""
    def count(frame):
        return {rule: {column: int(n) for column, n in part.groupby("column").size().items()}
                for rule, part in frame.groupby("rule")}
    def corrected(frame, column):
        return {rule: int(n) for rule, n in frame[frame[column]].groupby("rule").size().items()}

    return {"cells_by_rule": {rule: int(n) for rule, n in listing.groupby("rule").size().items()},
            "cells_by_rule_and_column": count(listing),
            "panel_cells_by_rule_and_column": count(listing[listing["in_panel"]]),
            "corrected_by_default": corrected(listing, "corrected_by_default"),
            "panel_corrected_by_default": corrected(listing[listing["in_panel"]], "corrected_by_default"),
            "corrected_by_screen": corrected(listing, "corrected_by_screen"),
            "panel_corrected_by_screen": corrected(listing[listing["in_panel"]], "corrected_by_screen"),
            "cities_leaving_by_correction": sorted(set(listing.loc[listing["leaves_sample"] != "", "city"]))}


def _gap_reason(column: str, city, years, why: dict) -> str:
    causes: dict[str, list[int]] = {}
    for year in years:
        causes.setdefault(why.get((column, city, year), "not printed"), []).append(year)
    if len(causes) == 1:
        return f"{column} missing in {_years(years)} ({next(iter(causes))})"
    return f"{column} missing in {_years(years)} (" + "; ".join(
        f"{cause}: {_years(ys)}" for cause, ys in causes.items()) + ")"


def absent_years(column: str) -> tuple[int, ...]:
    """Data years an edition-wide gap leaves empty for this column (from SERIES.absent)."""
    series, _, area = column.rpartition("_")
    return tuple(e - 1 for e in BY_NAME[series].absent.get(area, ()))


def load_anomalies() -> pd.DataFrame:
    with resources.files("replication.data").joinpath("known_anomalies.csv").open(encoding="utf-8") as handle:
        anomalies = pd.read_csv(handle, comment="#", dtype={"year": int})
    return anomalies.set_index(["rule", "city", "year", "series"], drop=False)


def apply_district_rule(wide, anomalies, sources, names):
    """District above whole city is an error, unless listed; listed cells are set missing."""
    handled = []
    for series in SPLIT:
        whole, district = wide[f"{series}_whole"], wide[f"{series}_district"]
        above = district > whole * (1 + 1e-9)
        for entity, year in above[above].index:
            key = ("district_exceeds_whole", names[entity], year, series)
            if key not in anomalies.index:
                where = sources.get((entity, year, series, "district"), "?")
                raise BuildError(
                    f"{where}: {names[entity]} {year}, {series}: district value {district[(entity, year)]:g} "
                    f"exceeds the whole-city value {whole[(entity, year)]:g}; expected districts <= whole city "
                    "(list it in replication/data/known_anomalies.csv if it is a feature of the data)"
                )
            wide.loc[(entity, year), [f"{series}_whole", f"{series}_district"]] = np.nan
            handled.append(key)
    return wide, handled


def check_population(wide, listed, anomalies, sources, names):
    """Zero or missing population of a city listed in every edition is an error, unless listed."""
    handled = []
    complete = [c for c in listed.index if len(listed[c]) == len(YEARS)]
    for area in ("whole", "district"):
        column = wide.loc[complete, f"pop_{area}"]
        printed = ~column.index.get_level_values("year").isin(absent_years(f"pop_{area}"))
        bad = printed & (column.isna() | (column <= 0))
        for entity, year in column[bad].index:
            key = ("population_missing", names[entity], year, f"pop_{area}")
            if key not in anomalies.index:
                where = sources.get((entity, year, "pop", area), f"edition {year + 1} population table")
                raise BuildError(
                    f"{where}: {names[entity]} {year}, population ({area}): "
                    f"{column[(entity, year)]!r}; expected a positive number"
                )
            handled.append(key)
    return handled


def unmeasured_pupils(frame: pd.DataFrame, names) -> list[str]:
    """Blank district pupils where rounding leaves the non-urban area none (whole == districts).

    From data year 2016 the yearbook prints primary enrolment in 10k, rounded to a whole number,
    so a non-urban area of a few thousand pupils can print as zero: a denominator that is an
    artefact of rounding, not a measurement.  The cell is set missing and filled by the rules.
    """
    zero = frame["pupils_primary_whole"] <= frame["pupils_primary_district"]  # every city here has a non-urban area
    frame.loc[zero, "pupils_primary_district"] = np.nan
    return [
        f"rounding: {names[c]} {y}: primary pupils printed equal for the whole city and its districts "
        "(10k, rounded); district value set missing and filled" for c, y in zero[zero].index
    ]


def fill_gaps(frame: pd.DataFrame, flags: pd.DataFrame, options: Options) -> None:
    """Fill REQUIRED columns in place, city by city, recording the rule in `flags`.

    1. Interior gaps: linear interpolation between the nearest observed years ('interpolated').
    2. Annual average population: the mean of the year-end registered population of t-1 and t
       (the definition the yearbook uses), where the printed value is missing ('avg_year_end').
    3. ICT and tertiary employment shares, 2020-2021: carried forward from 2019 ('carry_forward').
    4. End-of-period gaps of at most `edge_fill_years`: the nearest observed value ('edge_nearest').
    District columns are filled through their share of the whole city (rules 1 and 4 applied to
    district / whole), so that a filled district never exceeds its whole city.
    """
    plain = [c for c in REQUIRED if not c.endswith("_district") and c != "pop_avg_whole"]
    for column in plain:
        values = frame[column].unstack()
        if column in SHARE_RULE:
            values.loc[:, list(SHARE_RULE_YEARS)] = np.nan  # not printed; never interpolate across them
        _set(frame, flags, column, values, _interior(values), "interpolated")
    pop = frame["pop_whole"].unstack()
    values = frame["pop_avg_whole"].unstack()
    _set(frame, flags, "pop_avg_whole", values, values.fillna((pop.shift(1, axis=1) + pop) / 2), "avg_year_end")
    if options.share_end_rule == "carry_forward":
        for column in SHARE_RULE:
            values = frame[column].unstack()
            carried = values.copy()
            carried.loc[:, list(SHARE_RULE_YEARS)] = values.ffill(axis=1).loc[:, list(SHARE_RULE_YEARS)]
            _set(frame, flags, column, values, carried, "carry_forward")
    for column in [*plain, "pop_avg_whole"]:
        values = frame[column].unstack()
        if column in SHARE_RULE and options.share_end_rule == "none":
            values = values.drop(columns=list(SHARE_RULE_YEARS))
        _set(frame, flags, column, values, _edge(values, options.edge_fill_years), "edge_nearest")
    for series in SPLIT:
        whole = frame[f"{series}_whole"].unstack()
        column = f"{series}_district"
        share = frame[column].unstack() / whole
        for how, filled in (("interpolated", _interior(share)), ("edge_nearest", _edge(share, options.edge_fill_years))):
            _set(frame, flags, column, share, filled * whole, how, before_values=share * whole)
            share = frame[column].unstack() / whole


def _interior(values: pd.DataFrame) -> pd.DataFrame:
    return values.interpolate(axis=1, limit_area="inside")


def _edge(values: pd.DataFrame, years: int) -> pd.DataFrame:
    """Leading and trailing gaps of at most `years` filled with the nearest observed value."""
    seen = values.notna()
    after_first = seen.cummax(axis=1)
    before_last = seen.iloc[:, ::-1].cummax(axis=1).iloc[:, ::-1]
    short_lead = (~after_first).sum(axis=1) <= years
    short_trail = (~before_last).sum(axis=1) <= years
    lead = values.bfill(axis=1).where(~after_first & short_lead.to_numpy()[:, None])
    trail = values.ffill(axis=1).where(~before_last & short_trail.to_numpy()[:, None])
    return values.fillna(lead).fillna(trail)


def _set(frame, flags, column, before, after, how, before_values=None):
    """Write the cells that `after` fills and `before` lacks into frame[column]; flag them `how`."""
    new = before.isna() & after.notna()
    if not new.to_numpy().any():
        return
    stacked = after.stack(future_stack=True).reindex(frame.index)
    mask = new.stack(future_stack=True).reindex(frame.index).fillna(False).astype(bool)
    frame.loc[mask, column] = stacked[mask]
    flags.loc[mask, column] = how


def cross_check_hhwk(wide: pd.DataFrame, hhwk: pd.DataFrame) -> dict:
    """How closely the secondary source agrees with the yearbook where both exist."""
    out = {}
    for column, source in SECONDARY.items():
        both = pd.concat([wide[column], hhwk[source].reindex(wide.index)], axis=1).dropna()
        if column == "gdp_whole":
            diff = (both.iloc[:, 1] / both.iloc[:, 0] - 1).abs()
            out[column] = {"cells": len(both), "median_abs_rel_diff": round(float(diff.median()), 6),
                           "p90_abs_rel_diff": round(float(diff.quantile(0.9)), 6)}
        else:
            diff = (both.iloc[:, 1] - both.iloc[:, 0]).abs()
            out[column] = {"cells": len(both), "median_abs_diff_pp": round(float(diff.median()), 4),
                           "p90_abs_diff_pp": round(float(diff.quantile(0.9)), 4)}
    return out


def check_avg_rule(wide: pd.DataFrame) -> dict:
    """How well mean(year-end population t-1, t) reproduces the printed annual average population."""
    pop = wide["pop_whole"].unstack()
    estimate = ((pop.shift(1, axis=1) + pop) / 2).stack()
    error = (estimate / wide["pop_avg_whole"] - 1).abs().dropna()
    return {"cells": len(error), "median_abs_rel_error": round(float(error.median()), 6),
            "p90_abs_rel_error": round(float(error.quantile(0.9)), 6)}


def _rule(text, before, after, names, reason):
    gone = sorted(set(before) - set(after), key=lambda c: names[c])
    return {"rule": text, "cities": len(after),
            "dropped": [{"city": names[c], "reason": reason(c)} for c in gone]}


def _years(years) -> str:
    return ", ".join(str(int(y)) for y in years)


def region_of(province: str) -> str:
    for region, provinces in REGIONS.items():
        if province in provinces:
            return region
    raise BuildError(f"province {province!r} is in no region of config.REGIONS")


def _assemble(sample, flags, crosswalk, english) -> pd.DataFrame:
    entities = crosswalk.entities.set_index("entity_id")
    frame = sample.reset_index()
    ids = frame["entity_id"]
    front = pd.DataFrame({
        "city_code": ids.map(entities["city_code"]).astype(int),
        "city": ids.map(entities["city"]),
        "city_en": ids.map(english),
        "province": ids.map(entities["province"]),
    })
    front["region"] = front["province"].map(region_of)
    front["year"] = frame["year"].astype(int)
    values = [
        *(f"{s}_{a}" for s in SPLIT for a in ("whole", "district", "nonurban")),
        "pop_avg_whole", "gdp_whole", "tertiary_share_whole", "expenditure_whole",
        "telecom_revenue_whole", "mobile_whole", "internet_whole", "emp_whole", "emp_ict_whole",
        "ict_share_whole", "emp_tertiary_share_whole", "pku_index",
    ]
    body = frame[values].reset_index(drop=True)
    fill = flags.reset_index(drop=True)
    fill = fill[[c for c in values if c in fill.columns and (fill[c] != "").any()]]
    fill.columns = [f"{c}_fill" for c in fill.columns]
    panel = pd.concat([front, body, fill], axis=1)
    return panel.sort_values(["city_code", "year"]).reset_index(drop=True)


def _filled_counts(panel: pd.DataFrame) -> dict:
    out = {}
    for column in [c for c in panel.columns if c.endswith("_fill")]:
        counts = panel[panel[column] != ""].groupby([column, "year"]).size()
        out[column[: -len("_fill")]] = {
            how: {str(year): int(n) for year, n in group.droplevel(0).items()}
            for how, group in counts.groupby(level=0)
        }
    return out
