"""CODEBOOK.md for the panel, written from SERIES and the build manifest so that it cannot drift."""

from __future__ import annotations

import pandas as pd

from replication.data.series import BY_NAME

IDENTIFIERS = {
    "city_code": "stable prefecture code (the crosswalk's legacy administrative code, e.g. 130100)",
    "city": "city name (Chinese, crosswalk canonical name)",
    "city_en": "city name in English/pinyin as the PKU-DFIIC file spells it",
    "province": "province (Chinese), from the crosswalk",
    "region": "East / Central / West (National Bureau of Statistics split by province, docs/METHODS.md section 1)",
    "year": "data year (edition year - 1)",
}
DERIVED = {
    "ict_share_whole": ("percent", "employees in information transmission, computer services and software "
                        "(emp_ict_whole) / employees in urban units (emp_whole) x 100"),
    "pku_index": ("index", "PKU Digital Financial Inclusion Index, total (index_aggregate), "
                  "pku_dfiic/PKU_DFIIC_city.dta"),
}
FILL_RULES = {
    "interpolated": "linear interpolation between the nearest observed years of the same city",
    "avg_year_end": "mean of the year-end registered population of t-1 and t (the yearbook's definition "
                    "of annual average population; checked against printed values in manifest.json)",
    "carry_forward": "2019 value carried to 2020-2021 (sector employment not printed in editions 2021-2022)",
    "edge_nearest": "end-of-period gap of at most `edge_fill_years` years: nearest observed value",
    "hhwk": "data year 2017 from the hhwk compilation (edition 2018 prints districts only)",
    "anomaly": "listed by the anomaly screen (`anomalies.csv`) and corrected under this build's "
               "anomaly_rule (confirmed: a second signal confirms it; screen: every spike and stale copy): "
               "set missing and refilled by the rules above",
}
AREAS = {"whole": "whole city (全市)", "district": "municipal districts (市辖区)",
         "nonurban": "non-urban area = whole city - districts"}


def codebook(panel: pd.DataFrame, manifest: dict) -> str:
    rules = manifest["sample_rules"]
    lines = [
        "# Codebook: data/processed/panel.csv",
        "",
        f"One row per city-year: {manifest['cities']} prefecture-level cities x 2011-2021 = "
        f"{manifest['rows']} rows, keyed by `city_code` and `year`. Built by `make data` "
        "(`python -m replication panel`) from the raw files listed with their sha256 in `manifest.json`.",
        "",
        "## Sample",
        "",
        "| cities | rule |",
        "|---:|---|",
        *(f"| {r['cities']} | {r['rule']} |" for r in rules),
        "",
        "The cities each rule removes, with the reason, are listed in `manifest.json` (`sample_rules`).",
        "",
        "## Identifiers",
        "",
        "| column | definition |",
        "|---|---|",
        *(f"| `{c}` | {d} |" for c, d in IDENTIFIERS.items()),
        "",
        "## Series",
        "",
        "Values are in one unit per series; every unit printed in a yearbook header is converted "
        "(the conversions are listed under each series). `source` gives the yearbook table (by "
        "edition) the column was read from.",
        "",
    ]
    fills = manifest["filled_cells"]
    for column in panel.columns:
        if column in IDENTIFIERS or column.endswith("_fill"):
            continue
        series, _, area = column.rpartition("_")
        if column in DERIVED:
            unit, text = DERIVED[column]
            lines += [f"### `{column}`", "", f"{text}. Unit: {unit}.", ""]
        else:
            spec = BY_NAME[series]
            lines += [f"### `{column}`", "",
                      f"{spec.description}, {AREAS[area]}. Unit: {spec.unit}."]
            conversions = ", ".join(f"{u} x {f:g}" for u, f in spec.units.items())
            lines += [f"Printed units: {conversions}."]
            if spec.note:
                lines += [spec.note]
            if area != "nonurban":
                sources = manifest["sources"].get(column, {})
                lines += ["", "Source by edition: " + "; ".join(f"{e}: `{s}`" for e, s in sorted(sources.items()))]
            lines += [""]
        if column in fills:
            counts = "; ".join(
                f"{how}: {sum(by_year.values())} cells ({', '.join(f'{y}: {n}' for y, n in sorted(by_year.items()))})"
                for how, by_year in sorted(fills[column].items())
            )
            lines += [f"Filled (column `{column}_fill` names the rule): {counts}.", ""]
    lines += anomaly_section(manifest) + nonurban_section(panel)
    lines += ["## Fill rules", "", "| flag | rule |", "|---|---|",
              *(f"| `{k}` | {v} |" for k, v in FILL_RULES.items()), "",
              "An empty `_fill` cell means the value is as printed (after unit conversion).", ""]
    return "\n".join(lines)


def anomaly_section(manifest: dict) -> list[str]:
    """The anomaly screen: rules, thresholds and their reasons, counts (replication/data/anomalies.py)."""
    found = manifest["anomalies"]
    options = manifest["options"]
    quantiles = found["screen"]["abs_log_departure_quantiles"]
    lines = [
        "## Anomaly screen", "",
        "Every raw count printed for both areas (population, primary teachers and pupils, library holdings, "
        "beds, doctors; whole city and districts) is screened before any per-capita value, fill or index "
        "(`replication/data/anomalies.py` states the rules in full). Every flagged cell is listed in "
        "`anomalies.csv` with its printed value, its neighbouring years, the rule and the action.", "",
        f"- `spike`: the log ratio d of a cell to the geometric mean of its nearest printed neighbours "
        f"(first and last years: the two nearest years) exceeds ln({options['anomaly_factor']:g}) and the "
        f"neighbours agree within {options['anomaly_agreement']:g} |d| of each other. Over the "
        f"{found['screen']['cells_screened']} screened cells |d| has median {quantiles['0.5']:g}, 90th percentile "
        f"{quantiles['0.9']:g}, 99th {quantiles['0.99']:g}; the factor lies at the "
        f"{100 * found['screen']['spike_threshold_quantile']:.1f}th percentile. A persistent step gives "
        "neighbours twice |d| apart, so a level shift is never a spike.",
        f"- `stale_copy`: at least two series of a city-year and area repeat the year before exactly, "
        f"each moving at the transitions around it, and the block would arise by chance (each series' own "
        f"repetition rate that year, `manifest.json`) less often than {options['stale_expected']:g} "
        "time(s) in the whole screen.",
        f"- `boundary_change` / `area_change`: district population (or, for the confirmed rule, whole-city "
        f"population) steps by more than a factor {options['boundary_step']:g} and holds: a county turned into a "
        "district or moved between prefectures. Listed, never corrected, and the other series of that city-year "
        "are not read as spikes.",
        "- `level_break`: a persistent step in a service series where one side's per-capita level lies outside "
        f"the pooled {options['level_break_quantile']:g} quantiles; listed, corrected only with "
        "correct_level_breaks=true.",
        "- `district_exceeds_whole`, `population_missing`: the build's checks of `known_anomalies.csv`.", "",
        "Each listed cell carries the second signals that fired (`signals`: identity, stale_copy, per_capita, "
        f"edge, area_change) and `corrected_by_default`. The identity signal: the other area's same series moves "
        f"by at most {options['identity_share']:g} of the cell's departure, so whole = districts + non-urban "
        "breaks in that year only. Thresholds were fixed from these distributions before any coefficient was "
        f"computed. This build's anomaly_rule = `{options['anomaly_rule']}`: 'confirmed' corrects a listed cell "
        "only when a second signal confirms it (at an edge year only the per-capita signal, never in a year of "
        "an area change); 'screen' corrects every spike and stale copy of the time-series rule alone; 'keep' "
        "leaves every cell as printed (`variants/anomaly_keep.csv`). A corrected cell is set missing and "
        "refilled by the fill rules (flag `anomaly`; a whole-city cell takes its district cell with it, refilled "
        "through the district share). data/reference/anomaly_labels.md gives the rules' precision and recall "
        "on a labelled set of cells.", "",
        "| rule | column | cells (all screened cities) | cells (panel cities) |", "|---|---|---:|---:|",
    ]
    panel = found["panel_cells_by_rule_and_column"]
    for rule, columns in sorted(found["cells_by_rule_and_column"].items()):
        for column, n in sorted(columns.items()):
            lines.append(f"| {rule} | `{column}` | {n} | {panel.get(rule, {}).get(column, 0)} |")
    return lines + [""]


def nonurban_section(panel: pd.DataFrame) -> list[str]:
    """The distribution behind the index-stage option min_nonurban_share (config.Options)."""
    share = (panel["pop_nonurban"] / panel["pop_whole"]).groupby(panel["city"]).agg(["min", "max"])
    share = share.sort_values("min")
    first, second = share.iloc[0], share.iloc[1]
    return [
        "## Small non-urban areas", "",
        f"The non-urban share of registered population (`pop_nonurban / pop_whole`) is "
        f"{first['min']:.3f}-{first['max']:.3f} in {share.index[0]} and at least {second['min']:.3f} "
        f"({share.index[1]}) in every city-year of every other city. The index stage (option "
        "`min_nonurban_share`, replication/config.py) sets Dist missing and drops from every model the "
        "city-years below its threshold, whose non-urban per-capita values describe a sliver of the city; "
        "the panel keeps them.", "",
    ]
