"""Plausibility of the extracted series across editions and cities, before they enter the panel.

The reader (``yearbook.py``) checks each cell on its own: a number, a share within 0-100, a count
not negative, a unit it knows how to convert.  A wrong number that passes all of these still
passes silently: a header that says 亿元 over figures in 万元 rescales a whole edition by 10^4.
These checks compare each edition with the others and each value with what a city of that size
can hold.  Every threshold below was set from the real data (editions 2012-2022, every city the
yearbook lists, 2,600-2,900 city-years per ratio), well outside what the data show, so that the
real yearbook passes and a unit error (a factor of 10 at the least) does not.

Errors (BuildError naming the file, the city-year or the edition, the series and the unit label):

1. **Unit mislabel across editions.**  For every series and area, the cross-city median of each
   data year is compared with the nearest earlier printed year.  The largest factor between
   adjacent years in the real data is 1.25 (broadband subscribers, a definition change in 2012;
   GDP 1.13, beds 1.15, expenditure 1.21, all others below 1.16); a factor above ``JUMP`` = 3
   stops the build, naming the edition whose median lies farthest from the series' own median
   of medians (the mislabelled one), the file and column it came from and the unit label read.
2. **Per-capita medians.**  For each edition the cross-city median of each per-capita ratio in
   ``PER_CAPITA`` must lie in its range: one third of the lowest to three times the highest
   yearly median of the real data (measured values in the table).  This catches a series whose
   conversion factor is wrong in every edition, which check 1 cannot see.
3. **Impossible cells.**  A population (year-end or annual average) above ``POP_MAX`` = 5,000
   (10k persons; the largest prefecture, Chongqing, prints 3,416) is refused, as is a share in
   a column labelled % that is at most ``FRACTION_MAX`` = 1 (a fraction printed where a
   percentage is expected: the smallest real tertiary share of GDP is 10.2 %, of employment
   15.4 %), and a PKU index outside ``PKU_RANGE`` = (0, 1000] (real range 11.3-359.7 in
   2011-2021; an index 100 times too large is at least 1,130).
4. **English name contradicting the Chinese name.**  Each yearbook row prints the city's English
   name beside the Chinese one.  The English name most often printed for a prefecture across all
   tables and editions is its reference.  A row whose English name is another prefecture's
   reference and is not close to its own (similarity below ``NAME_SIMILARITY`` = 0.8, so OCR
   slips such as 'Tiding' for 'Tieling' pass) is an error: the Chinese names of two rows were
   swapped or a row was mislabelled.  Prefectures that share a romanisation (苏州/宿州 'Suzhou',
   台州/泰州, 抚州/福州, 伊春/宜春, 玉林/榆林) are told apart only by the Chinese name and pass;
   renamed cities printed under their old English name (Simao for 普洱, Changdu for 昌都) pass,
   because no other prefecture bears that name.  The real data have no row this rule refuses.

The same rules hold beyond the yearbook's own cells.  ``check_secondary``: a value the hhwk
compilation fills in (GDP and the tertiary share of 2017, which edition 2018 does not print) must
pass the rules of its series and lie within a factor ``JUMP`` of its city's own yearbook values in
the neighbouring years.  ``check_panel``: a panel given to a later step (``--panel``) gets the
panel-level rules (the ranges above, one-year jumps of population and of Dist's counts within a
city, the per-capita medians), with messages naming the file, the line, the city-year and the column.

Not checked here: a single implausible cell of a count (hospital beds with one extra digit, 5,357
10k mobile subscribers in a city of 780,000 people).  The real data hold such cells (beds per
1,000 people reach 75 in Sansha, whose registered population is a few hundred), so a per-cell
per-capita bound would either refuse the real yearbook or be too loose to matter; they are the
anomaly screen's job (flagged city-year outliers), and the fault suite records that they pass here.
"""

from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd

from replication.errors import BuildError
from replication.data.series import BY_NAME
from replication.data.sources import PKU_FILE

JUMP = 3.0
POP_MAX = 5000.0
FRACTION_MAX = 1.0
PKU_RANGE = (0.0, 1000.0)
NAME_SIMILARITY = 0.8

# ratio: (numerator column, denominator column, scale, unit, lowest and highest yearly median in
# the real data, plausible range of a yearly median = (lowest / 3, highest * 3), rounded)
PER_CAPITA = {
    "GDP per person": ("gdp_whole", "pop_whole", 1e4, "yuan", 29_820, 56_060, (9_000, 170_000)),
    "budget expenditure per person": ("expenditure_whole", "pop_whole", 1.0, "yuan", 4_906, 10_710,
                                      (1_600, 32_000)),
    "telecom revenue per person": ("telecom_revenue_whole", "pop_whole", 1.0, "yuan", 525.6, 718,
                                   (175, 2_150)),
    "mobile subscribers per person": ("mobile_whole", "pop_whole", 1.0, "", 0.711, 1.001, (0.24, 3.0)),
    "broadband subscribers per person": ("internet_whole", "pop_whole", 1.0, "", 0.0946, 0.341, (0.03, 1.0)),
    "unit employment per person": ("emp_whole", "pop_whole", 1e-4, "", 0.0831, 0.104, (0.028, 0.31)),
    "ICT share of unit employment": ("emp_ict_whole", "emp_whole", 1.0, "", 0.0107, 0.0115, (0.0036, 0.034)),
    "annual average / year-end population": ("pop_avg_whole", "pop_whole", 1.0, "", 0.997, 1.0, (0.33, 3.0)),
    "hospital beds per 1,000 (whole city)": ("beds_whole", "pop_whole", 0.1, "", 3.44, 4.87, (1.1, 15)),
    "hospital beds per 1,000 (districts)": ("beds_district", "pop_district", 0.1, "", 6.03, 8.13, (2.0, 24)),
    "doctors per 1,000 (whole city)": ("doctors_whole", "pop_whole", 0.1, "", 1.76, 2.62, (0.58, 7.9)),
    "doctors per 1,000 (districts)": ("doctors_district", "pop_district", 0.1, "", 3.04, 4.23, (1.0, 13)),
    "primary teachers per 1,000 (whole city)": ("teachers_primary_whole", "pop_whole", 0.1, "", 3.92, 4.40,
                                                (1.3, 13)),
    "primary teachers per 1,000 (districts)": ("teachers_primary_district", "pop_district", 0.1, "", 3.94,
                                               4.64, (1.3, 14)),
    "primary pupils per 1,000 (whole city)": ("pupils_primary_whole", "pop_whole", 0.1, "", 64.4, 72.7,
                                              (21, 220)),
    "primary pupils per 1,000 (districts)": ("pupils_primary_district", "pop_district", 0.1, "", 69.8, 83.3,
                                             (23, 250)),
    "library volumes per person (whole city)": ("library_whole", "pop_whole", 1.0, "", 0.284, 0.603,
                                                (0.095, 1.8)),
    "library volumes per person (districts)": ("library_district", "pop_district", 1.0, "", 0.541, 0.894,
                                               (0.18, 2.7)),
}


def check_plausibility(long: pd.DataFrame, pku: pd.Series, names: pd.Series) -> list[str]:
    """Raise BuildError for the first implausible input; return the build-log lines of the checks.

    `long` is the frame of extracted series (entity_id, year, series, area, value, source, unit,
    name_en, row), `pku` the PKU index by (entity_id, year), `names` the Chinese name by entity.
    """
    check_english_names(long, names)
    check_cells(long, names)
    check_pku(pku, names)
    check_unit_jumps(long)
    check_per_capita(long)
    return [
        f"plausibility: English names, populations <= {POP_MAX:g} (10k), % shares > {FRACTION_MAX:g}, "
        f"PKU index in ({PKU_RANGE[0]:g}, {PKU_RANGE[1]:g}], year-on-year median factors < {JUMP:g}, "
        f"{len(PER_CAPITA)} per-capita medians in range: passed"
    ]


def _letters(text: object) -> str:
    return re.sub(r"[^a-z]", "", str(text).lower())


def _file(source: str) -> str:
    return source.rsplit(" col ", 1)[0]


def check_english_names(long: pd.DataFrame, names: pd.Series) -> None:
    rows = long.drop_duplicates(["source", "row"])[["entity_id", "year", "name_en", "source", "row"]].copy()
    rows["key"] = rows["name_en"].map(_letters)
    rows = rows[rows["key"] != ""]
    if rows.empty:
        return
    reference = rows.groupby("entity_id")["key"].agg(lambda keys: keys.value_counts().index[0])
    owners: dict[str, set] = {}
    for entity, key in reference.items():
        owners.setdefault(key, set()).add(entity)
    rows["own"] = rows["entity_id"].map(reference)
    suspect = rows[(rows["key"] != rows["own"]) & rows["key"].isin(owners)]
    for r in suspect.itertuples():
        others = owners[r.key] - {r.entity_id}
        if not others or difflib.SequenceMatcher(None, r.key, r.own).ratio() >= NAME_SIMILARITY:
            continue
        other = sorted(others)[0]
        raise BuildError(
            f"{_file(r.source)} {r.row}: {names.get(r.entity_id, r.entity_id)} {r.year}: the English name "
            f"printed beside it, {r.name_en!r}, is that of {names.get(other, other)}; "
            f"{names.get(r.entity_id, r.entity_id)} is printed {r.own!r} elsewhere in the yearbook: "
            "expected the English name of the city in the Chinese column (names swapped or mislabelled?)"
        )


def check_cells(long: pd.DataFrame, names: pd.Series) -> None:
    """Populations no prefecture can have; percentages printed as fractions."""
    pop = long[long["series"].isin(["pop", "pop_avg"]) & (long["value"] > POP_MAX)]
    if len(pop):
        r = pop.iloc[0]
        raise BuildError(
            f"{_file(r['source'])} {r['row']}: {names.get(r['entity_id'], r['entity_id'])} {r['year']}, "
            f"{r['series']} ({r['area']}): {r['value']:g} 10k persons; expected at most {POP_MAX:g} (the "
            "largest prefecture, Chongqing, prints 3416)"
        )
    shares = long[long["series"].map(lambda s: not BY_NAME[s].count) & (long["unit"] == "%")]
    fraction = shares[shares["value"] <= FRACTION_MAX]
    if len(fraction):
        r = fraction.iloc[0]
        raise BuildError(
            f"{_file(r['source'])} {r['row']}: {names.get(r['entity_id'], r['entity_id'])} {r['year']}, "
            f"{r['series']}: {r['value']:g} in a column labelled %; a fraction printed where a percentage is "
            f"expected (the smallest real value of any city-year is above 10)"
        )


def check_pku(pku: pd.Series, names: pd.Series) -> None:
    low, high = PKU_RANGE
    bad = pku[(pku <= low) | (pku > high)]
    if len(bad):
        (entity, year), value = bad.index[0], bad.iloc[0]
        raise BuildError(
            f"{PKU_FILE}: {names.get(entity, entity)} {year}, index_aggregate: {value:g}; "
            f"expected a value in ({low:g}, {high:g}] (the real index runs from 11 to 360 in 2011-2021; 100 times too large?)"
        )


def check_unit_jumps(long: pd.DataFrame) -> None:
    """A factor of JUMP or more between the cross-city medians of adjacent printed years."""
    medians = long.dropna(subset=["value"]).groupby(["series", "area", "year"])["value"].median()
    for (series, area), yearly in medians.groupby(level=[0, 1]):
        yearly = yearly.droplevel([0, 1]).sort_index()
        logs = np.log10(yearly.clip(lower=1e-300))
        steps = logs.diff().abs()
        if not (steps > np.log10(JUMP)).any():
            continue
        culprit = int((logs - logs.median()).abs().idxmax())
        year = int(steps.idxmax())
        before = yearly.index[yearly.index.get_loc(year) - 1]
        cells = long[(long["series"] == series) & (long["area"] == area) & (long["year"] == culprit)]
        unit = cells["unit"].iloc[0]
        spec = BY_NAME[series]
        raise BuildError(
            f"{_file(cells['source'].iloc[0])}: edition {culprit + 1} (data year {culprit}), series {series} "
            f"({area}), unit label read {unit!r} (converted to {spec.unit} with factor "
            f"{spec.units.get(unit, float('nan')):g}): the cross-city median moves from "
            f"{yearly[before]:.4g} in {before} to {yearly[year]:.4g} in {year} ({spec.unit}), a factor of "
            f"{10 ** steps[year]:.3g}; expected less than {JUMP:g} (the largest real year-on-year factor of "
            "any series is 1.25): the unit label does not match the figures"
        )


def per_capita_outside(wide: pd.DataFrame) -> tuple | None:
    """The first (label, year, median, unit, low, high, numerator, denominator) whose cross-city median
    lies outside its PER_CAPITA range; `wide` has one row per city-year (index or column 'year') and
    the panel's column names."""
    years = wide.index.get_level_values("year") if "year" in wide.index.names else wide["year"]
    for label, (top, bottom, scale, unit, _, _, (low, high)) in PER_CAPITA.items():
        if top not in wide or bottom not in wide:
            continue
        ratio = (wide[top] * scale / wide[bottom]).replace([np.inf, -np.inf], np.nan)
        yearly = ratio.groupby(np.asarray(years)).median().dropna()
        bad = yearly[(yearly < low) | (yearly > high)]
        if len(bad):
            return label, int(bad.index[0]), float(bad.iloc[0]), unit, low, high, top, bottom
    return None


def check_per_capita(long: pd.DataFrame) -> None:
    wide = long.pivot_table(index=["entity_id", "year"], columns=["series", "area"], values="value")
    wide.columns = [f"{s}_{a}" for s, a in wide.columns]
    units = long.drop_duplicates(["series", "area", "year"]).set_index(["series", "area", "year"])
    found = per_capita_outside(wide)
    if found:
        label, year, value, unit, low, high, top, bottom = found
        parts = []
        for column in (top, bottom):
            series, _, area = column.rpartition("_")
            row = units.loc[(series, area, year)]
            parts.append(f"{series} ({area}) unit label {row['unit']!r} from {_file(row['source'])}")
        raise BuildError(
            f"edition {year + 1} (data year {year}): median {label} across cities is {value:.4g}"
            f"{' ' + unit if unit else ''}; expected between {low:g} and {high:g}: "
            + "; ".join(parts)
        )


# --- values a secondary source fills in -------------------------------------------------------

def check_secondary(before: pd.DataFrame, after: pd.DataFrame, filled: pd.DataFrame, rows: pd.Series,
                    names: pd.Series, source: str) -> None:
    """The cells the secondary source (hhwk) fills must pass the yearbook's rules for their series.

    `before` and `after` are the wide frames (entity_id, year) x columns before and after the fill,
    `filled` the boolean mask of the cells filled, `rows` the sheet row of each (entity_id, year).
    1. A share filled in a % column must be above FRACTION_MAX (check_cells' rule).
    2. A filled cell must lie within a factor JUMP of the geometric mean of its city's own nearest
       yearbook values on either side (one side at the ends): the yearbook's largest year-on-year
       factor is 1.25 between cross-city medians, and in the committed panel every filled GDP lies
       within a factor of 1.48 of its neighbours (Baotou 2017), every filled tertiary share within
       1.33 (Jieyang 2017); a value ten times too large does not.  A whole year filled in the wrong
       unit fails here city by city, so check_unit_jumps' rule for the cross-city median (a factor of
       JUMP) and check_per_capita's ranges (three times the real extremes) hold for it as well.
    """
    for column in filled.columns[filled.any().to_numpy()]:
        cells = filled.index[filled[column].to_numpy()]
        values = after[column]
        if column.endswith("share_whole"):
            low = values[cells][values[cells] <= FRACTION_MAX]
            if len(low):
                entity, year = low.index[0]
                raise BuildError(
                    f"{source} row {rows.get((entity, year), '?')}: {names.get(entity, entity)} {year}, {column}: "
                    f"{low.iloc[0]:g} % (filled from this source); a fraction of a percent where the yearbook's "
                    f"smallest real value of any city-year is above 10; expected more than {FRACTION_MAX:g}"
                )
        own = before[column].unstack()
        for entity, year in cells:
            series = own.loc[entity].dropna()
            series = series[series > 0]
            earlier, later = series.index[series.index < year], series.index[series.index > year]
            near = [earlier[-1], later[0]] if len(earlier) and len(later) else [*earlier[-2:], *later[:2]]
            if not near:
                continue
            reference = float(np.exp(np.mean(np.log(series[near].to_numpy(float)))))
            value = float(values[(entity, year)])
            factor = max(value / reference, reference / value) if value > 0 else np.inf
            if factor > JUMP:
                shown = ", ".join(f"{int(y)}: {series[y]:g}" for y in near)
                raise BuildError(
                    f"{source} row {rows.get((entity, year), '?')}: {names.get(entity, entity)} {year}, {column}: "
                    f"{value:g} (filled from this source, the yearbook does not print it) is a factor of {factor:.3g} "
                    f"from the city's own yearbook values ({shown}); expected less than {JUMP:g}, the yearbook's "
                    "rule for adjacent years (ten times too large, or a unit error?)"
                )


# --- a panel given to a later step (``--panel``, ``PANEL=``) -------------------------------------

# A one-year departure (the anomaly screen's d: log ratio to the geometric mean of the nearest
# years, whose two values agree to within half of it) larger than these factors is refused in a
# given panel.  Measured in the committed panel and its two variants: population (year-end, both
# areas, and the annual average) at most 3.8 (Tieling's districts 2017, anomaly_keep; 2.1 in the
# default panel); the counts of Dist (teachers, pupils, library, beds, doctors; both areas) at most
# 6.8 in the panel built with anomaly_rule=screen (Liaocheng's district library 2011, an edge year).
# In a panel built with anomaly_rule=keep the screen's spikes are kept as printed (up to 135 times,
# Hezhou's district pupils 2014), so the counts rule does not apply to it; the population rule does.
# The confirmed rule (the default) keeps as printed the departures no second signal confirms: at most
# 4.9 in the counts other than library holdings (Qinzhou's district pupils 2011, an edge year), but up
# to 16.8 in library holdings, where both areas often depart together (Yan'an's district library 2019,
# Baotou's 2019-2021), so in its panels the counts rule leaves library holdings out.
POP_JUMP = 5.0
COUNT_JUMP = 8.0
AGREEMENT = 0.5  # the screen's default anomaly_agreement
# The per-capita ranges are for cross-city medians: a panel of fewer cities is held to the others only.
MEDIAN_CITIES = 30
POPULATION = ("pop_whole", "pop_district", "pop_avg_whole")
COUNTS = tuple(f"{s}_{a}" for s in ("teachers_primary", "pupils_primary", "library", "beds", "doctors")
               for a in ("whole", "district"))
PERCENT_SHARES = ("tertiary_share_whole", "emp_tertiary_share_whole")


def _label(panel: pd.DataFrame, i) -> str:
    return f"line {int(i) + 2}: {panel.loc[i, 'city']} ({panel.loc[i, 'city_code']}) {panel.loc[i, 'year']}"


def one_year_departures(values: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(d, agreement) for a cities x years frame with every year present: d is the log ratio of a cell
    to the geometric mean of its two neighbours (the two nearest years on one side at the ends, as
    the anomaly screen does), agreement |log ratio| of the neighbours; NaN where a value is missing
    or not positive."""
    x = np.log(values.where(values > 0).to_numpy(float))
    d, agreement = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    if x.shape[1] >= 3:
        d[:, 1:-1] = x[:, 1:-1] - (x[:, :-2] + x[:, 2:]) / 2
        agreement[:, 1:-1] = np.abs(x[:, :-2] - x[:, 2:])
        d[:, 0], agreement[:, 0] = x[:, 0] - (x[:, 1] + x[:, 2]) / 2, np.abs(x[:, 1] - x[:, 2])
        d[:, -1], agreement[:, -1] = x[:, -1] - (x[:, -2] + x[:, -3]) / 2, np.abs(x[:, -2] - x[:, -3])
    return (pd.DataFrame(d, index=values.index, columns=values.columns),
            pd.DataFrame(agreement, index=values.index, columns=values.columns))


def check_panel(panel: pd.DataFrame, source: str, anomaly_rule: str = "confirmed") -> None:
    """The panel-level rules of the build, applied to a given panel (already schema-checked: keys,
    types, >= 0, shares <= 100, districts <= whole city).  BuildError naming `source`, the line, the
    city-year and the column for the first value that fails:

    1. the documented ranges: population <= POP_MAX, PKU index in PKU_RANGE, a % share above
       FRACTION_MAX (check_cells and check_pku);
    2. one-year jumps within a city: population beyond POP_JUMP, the counts beyond COUNT_JUMP
       (not in a panel built with anomaly_rule=keep, and without library holdings in one built with
       anomaly_rule=confirmed), while the neighbours agree;
    3. the per-capita medians of every year (check_per_capita's ranges), in a panel of at least
       MEDIAN_CITIES cities.
    """
    for column in POPULATION:
        high = panel.index[panel[column] > POP_MAX]
        if len(high):
            raise BuildError(f"{source} {_label(panel, high[0])}, {column}: {panel.loc[high[0], column]:g} 10k persons; "
                             f"expected at most {POP_MAX:g} (the largest prefecture, Chongqing, prints 3416)")
    low, high = PKU_RANGE
    bad = panel.index[(panel["pku_index"] <= low) | (panel["pku_index"] > high)]
    if len(bad):
        raise BuildError(f"{source} {_label(panel, bad[0])}, pku_index: {panel.loc[bad[0], 'pku_index']:g}; expected a "
                         f"value in ({low:g}, {high:g}] (the real index runs from 11 to 360 in 2011-2021; 100 times "
                         "too large?)")
    for column in PERCENT_SHARES:
        bad = panel.index[panel[column] <= FRACTION_MAX]
        if len(bad):
            raise BuildError(f"{source} {_label(panel, bad[0])}, {column}: {panel.loc[bad[0], column]:g}; a fraction "
                             "where a percentage is expected (the smallest real value of any city-year is above 10)")
    rules = [(c, POP_JUMP) for c in POPULATION]
    if anomaly_rule != "keep":
        rules += [(c, COUNT_JUMP) for c in COUNTS if anomaly_rule == "screen" or not c.startswith("library_")]
    lines = pd.Series(panel.index, index=pd.MultiIndex.from_frame(panel[["city_code", "year"]]))
    for column, limit in rules:
        values = panel.pivot(index="city_code", columns="year", values=column).sort_index(axis=1)
        d, agreement = one_year_departures(values)
        jump = (d.abs() > np.log(limit)) & (agreement <= AGREEMENT * d.abs())
        if jump.to_numpy().any():
            code, year = jump.stack()[lambda s: s].index[0]
            i, position = lines[(code, year)], list(values.columns).index(year)
            near = [position - 1, position + 1] if 0 < position < len(values.columns) - 1 else \
                ([1, 2] if position == 0 else [position - 1, position - 2])
            shown = ", ".join(f"{values.columns[k]}: {values.iloc[values.index.get_loc(code), k]:g}" for k in near)
            raise BuildError(
                f"{source} {_label(panel, i)}, {column}: {panel.loc[i, column]:g} is a factor of "
                f"{np.exp(abs(d.loc[code, year])):.3g} from the geometric mean of the city's neighbouring years "
                f"({shown}), which agree; expected a factor below {limit:g} (the panel build's anomaly screen "
                "sets such a cell missing and refills it: a misprint or a unit error?"
                + ("" if column in POPULATION else "; a panel built with anomaly_rule=keep is accepted with the "
                   "manifest.json `make data` writes beside it") + ")"
            )
    found = per_capita_outside(panel) if panel["city_code"].nunique() >= MEDIAN_CITIES else None
    if found:
        label, year, value, unit, low, high, top, bottom = found
        raise BuildError(f"{source}: year {year}: median {label} across cities ({top} / {bottom}) is {value:.4g}"
                         f"{' ' + unit if unit else ''}; expected between {low:g} and {high:g} (the range the panel "
                         "build applies to the yearbook: a unit error in a column?)")
