"""Screen the raw yearbook counts for misprints, stale copies and boundary changes.

The screen runs in the panel build on every raw count printed for both areas (population, primary
teachers and pupils, library holdings, beds, doctors; whole city and districts: the 12 series Dist
and the population shares are made of), after the district-above-whole check and before any
per-capita value, fill or index.  It is a rule, not a list of cities: every threshold is an option
of ``config.Options``.  The whole-city-only series (Dig's inputs, GDP, expenditure) are not
screened: a first run that included them read their definitional breaks at the edges of the period
(internet users in 2011; 2021 telecom figures against 2019 across the missing 2020 table) as
misprints, and the winsorising of Dig's indicators already bounds their tails.

Provenance of the choices: the four thresholds below were fixed from the distributions quoted here
before any coefficient was computed.  Two refinements came after a first run, with the thresholds
unchanged: the two-year runs (after Shijiazhuang's block was found at the top of Dist's remaining
tail) and the allowance for printed resolution (after 20,000-between-40,000 pupil cells were seen
flagged in anomalies.csv; it also leaves Longnan's district beds of 2011, a departure of a factor
2.0010 before and 1.9994 after the allowance, unflagged).

Rules of the time-series screen (``rule`` column of ``data/processed/anomalies.csv``; screen_rule,
today's ``anomaly_rule='screen'``, formerly 'treat'):

``spike``
    A one-year departure of a cell from its own city's neighbouring years.  With x = ln(value),
    the departure of an interior year is d = x_t - (x_prev + x_next) / 2, the log ratio to the
    geometric mean of the nearest printed years on either side; the first and last printed years
    are compared with the two nearest printed years on their one side.  A cell is flagged when
    |d| > ln(anomaly_factor) *and* the two neighbours agree with each other to within
    anomaly_agreement x |d|.  The second condition is what tells a misprint from a level shift:
    a step of size s between t and t+1 gives |d| = s/2 with neighbours s apart (ratio 2), so a
    persistent change is never a spike, however large.  The default factor 2 (|d| > 0.693) lies
    at the 98.3th percentile of |d| pooled over the 37,659 screened cells (median 0.025, 90th
    percentile 0.19, 99th 0.93; ``manifest.json`` records them): a count that is half or double
    what its own neighbours say, while they agree, is not a year-on-year movement of hospitals,
    teachers or residents.  The factor must be exceeded even with every value moved by half its
    printed resolution towards the other side (``conservative``; the resolution of a series in a
    year is read off all its printed values, ``resolution``): primary pupils are printed in whole
    10,000s from 2016, and 20,000 between two 40,000s is a rounding artefact, not a misprint.
    The same test applies to an interior run of two years that depart together (their mean log
    against the years around them, the two run values agreeing as the two neighbours must; sought
    after the one-year spikes are removed, so that its neighbours are unflagged cells): a
    misprinted block such as Shijiazhuang's district beds and doctors of 2015-2016 (5,602 and
    3,058 in both years between 24,855 / 17,727 before and 31,179 / 22,680 after) is one misprint
    printed twice.
``stale_copy``
    A block of series of one city-year and area repeated exactly from the year before.  Exact
    repetition is common in rounded series (pupils printed in whole 10,000s from 2016, population
    in whole 10,000s from 2017) and rare in series printed to the unit (beds, doctors, teachers:
    about 1% of city-years).  Each repeated series s is scored by its own frequency of exact
    repetition in that year across all cities, f_s (counted from the data, (hits + 1) / (cells + 1));
    a repeated value counts only if the city's series moves at the transitions before and after
    (a constant run is not a copy).  The city-year is flagged when at least two series repeat and
    prod f_s x (number of city-year-areas screened) < stale_expected: under independence, a block
    that improbable would be seen by chance less than `stale_expected` times in the whole screen.
    The repeated cells of the later year are flagged.
``boundary_change`` (the time-series screen only)
    A step in district population of more than ln(boundary_step) between consecutive printed years,
    holding on both sides (each adjacent year-on-year change within half the step) or, where one side
    is the edge of the period, matched by at least two of the four district service series stepping
    the same way by half as much.  Spike flags of the districts at the edge year that such a step
    creates are relabelled ``boundary_change`` and kept.  The confirmed rule lists these as
    ``area_change`` (below).
``district_exceeds_whole`` / ``population_missing``
    The build's existing checks (``known_anomalies.csv``), listed here so that the anomaly list is
    complete; their action does not depend on ``anomaly_rule``.

The confirmed rule (``screen``; ``Options.anomaly_rule='confirmed'``, the default).  A time-series
departure says that a series breaks in a year, not that the year is the wrong one (issue 18: about
30% of the screen's corrections were not clear misprints), so a ``spike`` cell is corrected only when
a second, independent signal confirms it (``signals``; signals_of, confirmed):

- ``identity``: the other area's same series moves, over the same years against the same
  neighbours, by at most ``identity_share`` of the cell's departure: whole = districts + non-urban
  breaks in that year only, where a real change in the districts shows in the whole city too;
- ``stale_copy``: the cell is part of a ``stale_copy`` block;
- ``per_capita``: its value per person of its area, or the non-urban remainder's, lies outside every
  city-year of that series whose own count departs in no year (per_capita, outside_every_other);
- ``edge``: a first or last printed year, where only ``per_capita`` corrects;
- ``area_change``: the year is covered by an area change; never corrected.

Runs are sought with only the interior one-year spikes removed, so that an edge year compared with a
two-year dip beside it (石嘴山's district library 2021 against 2019-2020) does not hide the dip, and
the dip, which breaks the identity, is what is corrected.  Two more rules list cells and keep them:

``area_change``
    A persistent step of district or whole-city population (area_changes: the population identity;
    at the edges of the period too); no series of the city is corrected in the years it covers.
``level_break``
    A persistent step of a service count with an implausible per-capita level on one side
    (level_breaks); corrected only with ``correct_level_breaks``.

A district above its whole city never reaches the screen (``known_anomalies.csv`` blanks both cells
first), so it is not a signal here.  ``screen`` returns every listed cell with ``signals``,
``corrected_by_default`` (the confirmed rule) and ``corrected_by_screen`` (the time-series rule alone:
every ``spike`` and ``stale_copy`` of screen_rule).  ``Options.anomaly_rule`` picks the cells the build
sets missing and refills through the ordinary fill rules, flagged 'anomaly': 'confirmed', 'screen' or,
with 'keep', none (the panel is then the one built before the screen existed); a whole-city cell of a
series with both areas takes its district cell with it, refilled through the district's share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from replication.config import Options

# The raw counts printed for both areas: Dist's inputs and population.
SPLIT = ("pop", "teachers_primary", "pupils_primary", "library", "beds", "doctors")
SCREENED = tuple(f"{s}_{a}" for s in SPLIT for a in ("whole", "district"))
SERVICES = ("teachers_primary", "pupils_primary", "beds", "doctors")
TREATED_RULES = ("spike", "stale_copy")
COLUMNS = ["entity_id", "year", "column", "value", "neighbours", "log_departure", "rule", "detail"]


@dataclass(frozen=True)
class Screen:
    flags: pd.DataFrame  # one row per flagged cell, COLUMNS
    stats: dict  # distribution of |d| and the repetition rates the thresholds rest on


def departures(values: pd.DataFrame) -> pd.DataFrame:
    """Log departure of every printed positive cell from its nearest printed neighbours.

    `values`: entities x years.  Returns one row per cell with at least three printed positive
    years in its row: entity_id, year, d, agreement (|x_n1 - x_n2|), and the two neighbours' years
    and values.
    """
    rows = []
    years = np.asarray(values.columns)
    steps = resolution(values).to_numpy(float)
    matrix = values.to_numpy(float)
    for entity, row in zip(values.index, matrix):
        seen = np.flatnonzero(np.isfinite(row) & (row > 0))
        if len(seen) < 3:
            continue
        logs = np.log(row[seen])
        for k, position in enumerate(seen):
            if k == 0:
                a, b = 1, 2
            elif k == len(seen) - 1:
                a, b = k - 1, k - 2
            else:
                a, b = k - 1, k + 1
            d = logs[k] - (logs[a] + logs[b]) / 2
            rows.append((entity, int(years[position]), d, abs(logs[a] - logs[b]),
                         conservative(d, [(row[position], steps[position])],
                                      [(row[seen[i]], steps[seen[i]]) for i in (a, b)]),
                         int(years[seen[a]]), row[seen[a]], int(years[seen[b]]), row[seen[b]]))
    return pd.DataFrame(rows, columns=["entity_id", "year", "d", "agreement", "d_conservative", "year_1", "value_1",
                                       "year_2", "value_2"])


def resolution(values: pd.DataFrame) -> pd.Series:
    """The unit each year's values are printed to (entities x years in, one number per year out): the
    largest power of ten from 0.01 to 10,000 that divides every printed value of that year.  Primary
    pupils are printed in whole 10,000s from 2016 (resolution 10,000), beds and doctors to the unit."""
    out = {}
    for year, column in values.items():
        printed = column.dropna().to_numpy(float)
        step = 0.01
        while step < 1e4 and len(printed) and np.allclose(np.round(printed / (step * 10)) * step * 10, printed,
                                                          rtol=0, atol=1e-6):
            step *= 10
        out[year] = step
    return pd.Series(out)


def conservative(d: float, inner: list[tuple[float, float]], outer: list[tuple[float, float]]) -> float:
    """The log departure with every (value, resolution) moved by half its resolution towards the other
    side: a departure that rounding alone could produce (20,000 printed between two 40,000s, in whole
    10,000s) shrinks below the threshold. Returns 0 when the bounds overlap."""
    sign = 1.0 if d > 0 else -1.0
    near_in = [v - sign * r / 2 for v, r in inner]
    near_out = [v + sign * r / 2 for v, r in outer]
    shrunk = np.mean(np.log(near_in)) - np.mean(np.log(near_out))
    return float(shrunk) if np.sign(shrunk) == sign else 0.0


def spikes(wide: pd.DataFrame, options: Options, edges_hide_runs: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    """Spike flags over every screened column, and |d| of every screened cell (for the thresholds).

    Runs are sought with the one-year spikes removed; with `edges_hide_runs` false (the confirmed rule)
    only the interior ones, so that an edge year compared with a two-year dip beside it does not hide the
    dip.  Besides COLUMNS each row has ``near`` (the neighbours' years) and ``edge`` (an end year)."""
    limit = np.log(options.anomaly_factor)
    found, spread = [], []
    for column in SCREENED:
        table = departures(wide[column].unstack())
        if table.empty:
            continue
        spread.append(table["d"].abs())
        hit = table[(table["d_conservative"].abs() > limit)
                    & (table["agreement"] <= options.anomaly_agreement * table["d"].abs())]
        for r in hit.itertuples():
            found.append({"entity_id": r.entity_id, "year": r.year, "column": column,
                          "value": wide.loc[(r.entity_id, r.year), column],
                          "neighbours": f"{r.year_1}: {r.value_1:g}; {r.year_2}: {r.value_2:g}",
                          "log_departure": round(float(r.d), 4), "rule": "spike",
                          "detail": f"value / geometric mean of neighbours = {np.exp(r.d):.3g}",
                          "near": (r.year_1, r.year_2), "edge": (r.year_1 - r.year) * (r.year_2 - r.year) > 0})
        # runs are sought with the one-year spikes removed, so that a run's neighbours are cells no rule flags
        hiding = hit if edges_hide_runs else hit[(hit["year_1"] - hit["year"]) * (hit["year_2"] - hit["year"]) < 0]
        single = pd.Series(True, index=pd.MultiIndex.from_arrays([hiding["entity_id"], hiding["year"]]))
        cleaned = wide[column].mask(single.reindex(wide.index, fill_value=False).to_numpy())
        for r in two_year_runs(cleaned.unstack(), limit, options.anomaly_agreement).itertuples():
            for year in (r.year, r.year_b):
                found.append({"entity_id": r.entity_id, "year": year, "column": column,
                              "value": wide.loc[(r.entity_id, year), column],
                              "neighbours": f"{r.year_1}: {r.value_1:g}; {r.year_2}: {r.value_2:g}",
                              "log_departure": round(float(r.d), 4), "rule": "spike",
                              "detail": f"two-year run {r.year}-{r.year_b}: geometric mean / geometric mean of "
                                        f"neighbours = {np.exp(r.d):.3g}",
                              "near": (r.year_1, r.year_2), "edge": False, "run": (r.year, r.year_b)})
    flags = pd.DataFrame(found, columns=[*COLUMNS, "near", "edge", "run"])
    flags = flags.drop_duplicates(["entity_id", "year", "column"], keep="first")
    return flags, pd.concat(spread, ignore_index=True)


def two_year_runs(values: pd.DataFrame, limit: float, agreement: float) -> pd.DataFrame:
    """Interior runs of two printed years that depart together from the printed years around them.

    d = mean(x_t, x_t+1) - mean(x_before, x_after); flagged when |d| > limit, the two run values
    agree within agreement x |d|, and so do the two outer neighbours (so a step is never a run).
    """
    rows = []
    years = np.asarray(values.columns)
    steps = resolution(values).to_numpy(float)
    for entity, row in zip(values.index, values.to_numpy(float)):
        seen = np.flatnonzero(np.isfinite(row) & (row > 0))
        logs = np.log(row[seen])
        for k in range(1, len(seen) - 2):
            d = (logs[k] + logs[k + 1]) / 2 - (logs[k - 1] + logs[k + 2]) / 2
            shrunk = conservative(d, [(row[seen[i]], steps[seen[i]]) for i in (k, k + 1)],
                                  [(row[seen[i]], steps[seen[i]]) for i in (k - 1, k + 2)])
            if (abs(shrunk) > limit and abs(logs[k] - logs[k + 1]) <= agreement * abs(d)
                    and abs(logs[k - 1] - logs[k + 2]) <= agreement * abs(d)):
                rows.append((entity, int(years[seen[k]]), int(years[seen[k + 1]]), d, int(years[seen[k - 1]]),
                             row[seen[k - 1]], int(years[seen[k + 2]]), row[seen[k + 2]]))
    return pd.DataFrame(rows, columns=["entity_id", "year", "year_b", "d", "year_1", "value_1", "year_2", "value_2"])


def stale_copies(wide: pd.DataFrame, options: Options) -> tuple[pd.DataFrame, dict]:
    """City-years whose block of repeated series is too improbable to be chance (module docstring)."""
    found = []
    rates: dict[str, dict[str, float]] = {}
    for area in ("whole", "district"):
        repeated, log_rate = {}, {}
        for series in SPLIT:
            values = wide[f"{series}_{area}"].unstack()
            before, after, earlier = values.shift(1, axis=1), values.shift(-1, axis=1), values.shift(2, axis=1)
            same = (values == before) & values.notna()
            both = values.notna() & before.notna()
            rate = (same.sum() + 1) / (both.sum() + 1)
            rates[f"{series}_{area}"] = {str(y): round(float(r), 4) for y, r in rate.items() if both[y].any()}
            moving = (after.isna() | (after != values)) & (earlier.isna() | (earlier != before))
            repeated[series] = same & moving
            log_rate[series] = np.log(rate)
        count = sum(r.astype(int) for r in repeated.values())
        score = sum(r * lr for (s, r), lr in zip(repeated.items(), log_rate.values()))
        tests = int(wide[[f"{s}_{area}" for s in SPLIT]].notna().any(axis=1).sum())
        limit = np.log(options.stale_expected / tests)
        hit = (count >= 2) & (score < limit)
        for entity, year in hit.stack()[hit.stack()].index:
            expected = float(np.exp(score.loc[entity, year]) * tests)
            for series in SPLIT:
                if repeated[series].loc[entity, year]:
                    column = f"{series}_{area}"
                    value = wide.loc[(entity, year), column]
                    found.append({
                        "entity_id": entity, "year": int(year), "column": column, "value": value,
                        "neighbours": _around(wide[column], entity, int(year)),
                        "log_departure": np.nan, "rule": "stale_copy",
                        "detail": f"{int(count.loc[entity, year])} {area} series repeat {int(year) - 1} exactly; "
                                  f"expected by chance {expected:.2g} times in {tests} city-years"})
    return pd.DataFrame(found, columns=COLUMNS), rates


def boundary_changes(wide: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Persistent steps in district population (module docstring), one row per city-year."""
    limit = np.log(options.boundary_step)
    pop = np.log(wide["pop_district"].where(wide["pop_district"] > 0).unstack())
    services = {s: np.log(wide[f"{s}_district"].where(wide[f"{s}_district"] > 0).unstack()) for s in SERVICES}
    found = []
    years = list(pop.columns)
    for entity, row in pop.iterrows():
        seen = [y for y in years if np.isfinite(row[y])]
        for k in range(1, len(seen)):
            t0, t1 = seen[k - 1], seen[k]
            step = row[t1] - row[t0]
            if abs(step) <= limit:
                continue
            sides = []
            if k >= 2:
                sides.append(abs(row[t0] - row[seen[k - 2]]) <= abs(step) / 2)
            if k + 1 < len(seen):
                sides.append(abs(row[seen[k + 1]] - row[t1]) <= abs(step) / 2)
            if not all(sides):
                continue
            if len(sides) < 2:  # one side is the edge of the period: the services must move too
                moved = sum(np.sign(services[s].loc[entity, t1] - services[s].loc[entity, t0]) == np.sign(step)
                            and abs(services[s].loc[entity, t1] - services[s].loc[entity, t0]) >= abs(step) / 2
                            for s in SERVICES)
                if moved < 2:
                    continue
            edge = seen[0] if k == 1 else (t1 if k == len(seen) - 1 else None)
            found.append({"entity_id": entity, "year": int(t1), "column": "pop_district",
                          "value": wide.loc[(entity, t1), "pop_district"],
                          "neighbours": f"{t0}: {np.exp(row[t0]):g}", "log_departure": round(float(step), 4),
                          "rule": "boundary_change",
                          "detail": f"district population steps x{np.exp(step):.3g} from {t0} and holds"
                                    + (f"; edge year {edge}" if edge is not None else ""),
                          "edge": edge})
    return pd.DataFrame(found, columns=[*COLUMNS, "edge"])


def screen_rule(wide: pd.DataFrame, options: Options) -> Screen:
    """The flags of the time-series screen alone (anomaly_rule=screen; module docstring) on the raw wide
    frame (index entity_id, year)."""
    spike, spread = spikes(wide, options)
    spike = spike[COLUMNS].copy()
    stale, rates = stale_copies(wide, options)
    steps = boundary_changes(wide, options)
    # spikes of the districts at the edge year a confirmed step creates are the step, not a misprint
    edges = {(r.entity_id, r.edge) for r in steps.itertuples() if r.edge is not None and not pd.isna(r.edge)}
    district = spike["column"].str.endswith("_district")
    relabel = district & pd.Series([(e, y) in edges for e, y in zip(spike["entity_id"], spike["year"])],
                                   index=spike.index, dtype=bool)
    spike.loc[relabel, "rule"] = "boundary_change"
    spike.loc[relabel, "detail"] = spike.loc[relabel, "detail"] + "; at the edge of a district boundary step"
    # a cell caught by both rules is listed once, as a spike
    stale = stale[~stale.set_index(["entity_id", "year", "column"]).index.isin(
        spike.set_index(["entity_id", "year", "column"]).index)]
    flags = pd.concat([spike, stale, steps[COLUMNS]], ignore_index=True)
    flags = flags.drop_duplicates(["entity_id", "year", "column"], keep="first")  # a relabelled edge spike
    quantiles = spread.quantile([0.5, 0.9, 0.95, 0.99, 0.995, 0.999])
    stats = {
        "abs_log_departure_quantiles": {f"{q:g}": round(float(v), 4) for q, v in quantiles.items()},
        "cells_screened": int(len(spread)),
        "spike_threshold_quantile": round(float((spread <= np.log(options.anomaly_factor)).mean()), 4),
        "repetition_rates": rates,
    }
    return Screen(flags=flags.sort_values(["entity_id", "year", "column", "rule"]).reset_index(drop=True),
                  stats=stats)


# ---------------------------------------------------------------------------- the confirmed rule

LISTED = [*COLUMNS, "signals", "corrected_by_default", "corrected_by_screen"]
SERVICE_COLUMNS = tuple(c for c in SCREENED if not c.startswith("pop_"))


def holding_steps(row: pd.Series, limit: float, sides: int = 1):
    """Persistent steps of one city's log series (years as index): (t0, t1, step, years before, years after)
    for consecutive printed years whose change exceeds `limit` while the adjacent change on either side
    stays within half of it; each side needs at least `sides` printed years."""
    seen = [y for y in row.index if np.isfinite(row[y])]
    for k in range(max(1, sides), len(seen) - sides + 1):
        t0, t1 = seen[k - 1], seen[k]
        step = row[t1] - row[t0]
        near = ([row[t0] - row[seen[k - 2]]] if k >= 2 else []) + ([row[seen[k + 1]] - row[t1]]
                                                                   if k + 1 < len(seen) else [])
        if abs(step) > limit and all(abs(change) <= abs(step) / 2 for change in near):
            yield int(t0), int(t1), float(step), seen[:k], seen[k:]


def area_changes(wide: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Boundary changes read from the population identity pop_whole = pop_district + pop_nonurban.

    A persistent step of more than ln(boundary_step) in district population (a county turned into a
    district: the non-urban area loses what the districts gain) or in whole-city population (a county
    moving between prefectures) is an area change, at the edges of the period too, where only one side
    can show that it holds.  It covers the years after the last printed year before the step up to the
    first at the new level, and the first year of the period when the step follows it (a step in 2012
    makes 2011 look like a spike): no series of the city is corrected in a covered year.
    """
    rows = []
    for column in ("pop_district", "pop_whole"):
        logs = np.log(wide[column].where(wide[column] > 0).unstack())
        for entity, row in logs.iterrows():
            for t0, t1, step, before, after in holding_steps(row, np.log(options.boundary_step)):
                moved = {a: wide.loc[(entity, t1), f"pop_{a}"] - wide.loc[(entity, t0), f"pop_{a}"]
                         for a in ("whole", "district")}
                moved["non-urban"] = moved["whole"] - moved["district"]
                covered = tuple(range(t0 + 1, t1 + 1)) + ((t0,) if len(before) == 1 else ())
                rows.append({"entity_id": entity, "year": t1, "column": column,
                             "value": wide.loc[(entity, t1), column],
                             "neighbours": f"{t0}: {np.exp(row[t0]):g}", "log_departure": round(step, 4),
                             "rule": "area_change", "covered": covered,
                             "detail": f"{column} steps x{np.exp(step):.3g} from {t0} and holds"
                                       + ("" if len(after) > 1 and len(before) > 1 else " (edge of the period)")
                                       + "; population moves " + ", ".join(f"{a} {v:+.4g}" for a, v in moved.items())})
    return pd.DataFrame(rows, columns=[*COLUMNS, "covered"])


def per_capita(wide: pd.DataFrame) -> dict[str, pd.Series]:
    """Each service count per 10k persons of its area, and of the non-urban remainder (whole - districts),
    population interpolated inside a city's printed years (2020 is not printed)."""
    pop = {a: wide[f"pop_{a}"].unstack().interpolate(axis=1, limit_area="inside").stack().reindex(wide.index)
           for a in ("whole", "district")}
    pop["nonurban"] = pop["whole"] - pop["district"]
    out = {}
    for column in SERVICE_COLUMNS:
        series, _, area = column.rpartition("_")
        out[column] = wide[column] / pop[area]
        out[f"{series}_nonurban"] = (wide[f"{series}_whole"] - wide[f"{series}_district"]) / pop["nonurban"]
    return {k: v.where(np.isfinite(v) & (v > 0)) for k, v in out.items()}


def outside_every_other(rates: pd.Series, entity, years, departing: pd.Index) -> bool:
    """Whether a city's per-capita value in `years` lies outside the range of every other city-year of the
    series whose own count departs from its neighbours in no year (`departing`: the (entity, year) pairs that
    do; two misprints of one series do not hide each other)."""
    own = rates.loc[[(entity, y) for y in years]].dropna()
    others = rates[~rates.index.isin(departing)].dropna()
    return bool(len(own) and len(others) and ((own > others.max()).any() or (own < others.min()).any()))


def signals_of(c, wide: pd.DataFrame, rates: dict[str, pd.Series], departing: dict[str, pd.Index], stale: set,
               covered: set, options: Options) -> tuple[list[str], float]:
    """The second signals that fire for one time-series departure `c` (a row of spikes(): entity_id, year,
    column, log_departure, near, run, edge; see screen()), and the other area's departure over the same
    years as a share of the cell's own (the identity's ratio)."""
    years = list(c.run) if isinstance(c.run, tuple) else [c.year]
    series, _, area = c.column.rpartition("_")
    other = np.log(wide[f"{series}_{'district' if area == 'whole' else 'whole'}"].loc[c.entity_id])
    moved = np.mean([other.get(y, np.nan) for y in years]) - np.mean([other.get(y, np.nan) for y in c.near])
    ratio = abs(moved) / abs(c.log_departure)
    found = []
    if np.isfinite(ratio) and ratio <= options.identity_share:
        found.append("identity")
    if (c.entity_id, c.year, c.column) in stale:
        found.append("stale_copy")
    if series != "pop" and any(outside_every_other(rates[k], c.entity_id, years, departing[k])
                               for k in (c.column, f"{series}_nonurban")):
        found.append("per_capita")
    if c.edge:
        found.append("edge")
    if any((c.entity_id, y) in covered for y in years):
        found.append("area_change")
    return found, float(ratio)


def confirmed(found: list[str]) -> bool:
    """The default correction: an interior departure with a second signal, an edge one only with the
    per-capita signal (an edge step and a boundary change look alike in one year), never in an area change."""
    if "area_change" in found:
        return False
    return "per_capita" in found if "edge" in found else bool({"identity", "stale_copy", "per_capita"} & set(found))


def level_breaks(wide: pd.DataFrame, rates: dict[str, pd.Series], covered: set, options: Options) -> pd.DataFrame:
    """Persistent level breaks of a service series whose per-capita level on one side is implausible.

    A step of more than ln(anomaly_factor) that holds (holding_steps, at least two printed years on each
    side) is a level break when the mean per-capita value of one side lies outside the central
    1 - 2 x level_break_quantile of that series pooled over every city-year and the other side's inside it
    (陇南's district library: 1.2-1.6 10k volumes for 58 10k persons in 2011-2013, 17.5 from 2014).  The
    cells of the implausible side are listed; no area change may cover the step.
    """
    rows = []
    for column in SERVICE_COLUMNS:
        logs = np.log(wide[column].where(wide[column] > 0).unstack())
        low, high = rates[column].quantile([options.level_break_quantile, 1 - options.level_break_quantile])
        for entity, row in logs.iterrows():
            for t0, t1, step, before, after in holding_steps(row, np.log(options.anomaly_factor), sides=2):
                if (entity, t1) in covered:
                    continue
                level = {tuple(ys): float(rates[column].loc[entity].reindex(ys).mean()) for ys in (before, after)}
                bad = [ys for ys, v in level.items() if not low <= v <= high]
                if len(bad) != 1:
                    continue
                good = next(v for ys, v in level.items() if ys != bad[0])
                for year in bad[0]:
                    rows.append({"entity_id": entity, "year": int(year), "column": column,
                                 "value": wide.loc[(entity, year), column],
                                 "neighbours": _around(wide[column], entity, int(year)),
                                 "log_departure": round(step, 4), "rule": "level_break",
                                 "detail": f"steps x{np.exp(step):.3g} from {t0} to {t1} and holds; per capita "
                                           f"{level[bad[0]]:.3g} on this side, {good:.3g} on the other, the pooled "
                                           f"series' central range {low:.3g}-{high:.3g}"})
    return pd.DataFrame(rows, columns=COLUMNS)


def screen(wide: pd.DataFrame, options: Options) -> Screen:
    """Every listed cell of the raw wide frame (index entity_id, year), with the signals that fired and
    whether the confirmed rule and the time-series screen correct it (module docstring)."""
    today = screen_rule(wide, options)
    spike, _ = spikes(wide, options, edges_hide_runs=False)
    stale, _ = stale_copies(wide, options)
    changes = area_changes(wide, options)
    covered = {(e, y) for e, years in zip(changes["entity_id"], changes["covered"]) for y in years}
    rates = per_capita(wide)
    stale_cells = set(zip(stale["entity_id"], stale["year"], stale["column"]))
    departing = {column: pd.MultiIndex.from_frame(part[["entity_id", "year"]])
                 for column, part in spike.groupby("column")}
    for series in SPLIT[1:]:
        both = spike[spike["column"].isin([f"{series}_whole", f"{series}_district"])]
        departing[f"{series}_nonurban"] = pd.MultiIndex.from_frame(both[["entity_id", "year"]])
    empty = pd.MultiIndex.from_tuples([], names=["entity_id", "year"])
    departing = {k: departing.get(k, empty) for k in rates}
    found = [signals_of(c, wide, rates, departing, stale_cells, covered, options) for c in spike.itertuples()]
    fired, ratios = [f for f, _ in found], [r for _, r in found]
    spike = spike[COLUMNS].assign(signals=["+".join(f) for f in fired],
                                  corrected_by_default=[confirmed(f) for f in fired])
    stale = stale.assign(signals=["stale_copy" + ("+area_change" if (e, y) in covered else "")
                                  for e, y in zip(stale["entity_id"], stale["year"])], corrected_by_default=False)
    breaks = level_breaks(wide, rates, covered, options).assign(signals="per_capita_level",
                                                               corrected_by_default=options.correct_level_breaks)
    # an area change's own population cell is listed as the area change, not as the spike it also makes
    listing = pd.concat([changes[COLUMNS].assign(signals="", corrected_by_default=False), spike, stale, breaks],
                        ignore_index=True)
    key = ["entity_id", "year", "column"]
    listing = listing.drop_duplicates(key, keep="first")
    only_today = today.flags[~today.flags.set_index(key).index.isin(listing.set_index(key).index)]
    listing = pd.concat([listing, only_today.assign(signals="", corrected_by_default=False)], ignore_index=True)
    treated = today.flags[today.flags["rule"].isin(TREATED_RULES)].set_index(key).index
    listing["corrected_by_screen"] = listing.set_index(key).index.isin(treated)
    listing["corrected_by_default"] = listing["corrected_by_default"].astype(bool)
    ratios = pd.Series(ratios).dropna()
    stats = today.stats | {"identity_ratio": {
        "departures": len(ratios), "quantiles": {f"{q:g}": round(float(v), 4) for q, v in
                                                ratios.quantile([0.1, 0.25, 0.5, 0.75, 0.9]).items()},
        f"at_most_{options.identity_share:g}": int((ratios <= options.identity_share).sum())}}
    return Screen(flags=listing[LISTED].sort_values([*key, "rule"]).reset_index(drop=True), stats=stats)


def treat(wide: pd.DataFrame, cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Set the listed `cells` (rows with entity_id, year, column) missing; returns the frame and a boolean mask.

    A treated whole-city cell of a series with both areas takes its district cell with it: the
    district is then refilled through its share of the refilled whole city (build.fill_gaps), so
    that the non-urban remainder is never a refilled whole minus a printed part.
    """
    mask = pd.DataFrame(False, index=wide.index, columns=wide.columns)
    for r in cells.itertuples():
        mask.loc[(r.entity_id, r.year), r.column] = True
        series, _, area = r.column.rpartition("_")
        if area == "whole" and series in SPLIT:
            mask.loc[(r.entity_id, r.year), f"{series}_district"] = True
    return wide.mask(mask), mask


def _around(column: pd.Series, entity, year: int) -> str:
    values = column.loc[entity]
    return "; ".join(f"{y}: {values[y]:g}" for y in (year - 1, year + 1) if y in values.index and pd.notna(values[y]))
