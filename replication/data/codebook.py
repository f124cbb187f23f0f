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
    lines += ["## Fill rules", "", "| flag | rule |", "|---|---|",
              *(f"| `{k}` | {v} |" for k, v in FILL_RULES.items()), "",
              "An empty `_fill` cell means the value is as printed (after unit conversion).", ""]
    return "\n".join(lines)
