"""The paper against this replication (comparison) and against itself (audit).

Both are pure functions of data frames: the published numbers and claims
(data/reference/), and for the comparison the tidy tables this package writes.
The audit needs no data at all.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

from replication.config import STAR_THRESHOLDS, Options
from replication.data.build import REQUIRED, SPLIT, fill_gaps
from replication.estimation import CONSTANT
from replication.indices import analysis_frame, dist_index

# The paper's sample (docs/METHODS.md section 1): cities per column, used for degrees of freedom and counts.
PAPER_CITIES = {"All": 282, "East": 96, "Central": 100, "West": 86}
PAPER_YEARS = 11
IV_YEARS = 9  # 2013-2021


def paper_cities(table: str, column: str) -> int:
    return PAPER_CITIES.get(column, PAPER_CITIES["All"]) if table == "T6" else PAPER_CITIES["All"]


def p_from_t(t: float, df: int | None) -> float:
    return float(2 * (stats.norm.sf(abs(t)) if df is None else stats.t.sf(abs(t), df)))


# ---------------------------------------------------------------------------- comparison


def comparison(published: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per published number with this replication's counterpart.

    `tables` holds the tidy CSVs by file stem (table1, table3, table3_stats, table4, tableN, tableN_stats).
    """
    rows = []

    def add(table, column, row, stat, paper, ours, note=""):
        rows.append({"table": table, "column": column, "row": row, "stat": stat, "paper": paper,
                     "replication": ours, "note": note})

    t1 = tables["table1"].set_index("indicator")
    for r in published[published["table"] == "T1"].itertuples():
        used = t1.loc[r.row, "weight"]
        ours, note = (used, "") if np.isfinite(used) else (t1.loc[r.row, "weight_six"], "six-indicator option")
        add("T1", r.column, r.row, r.stat, r.value, ours, note)
    t3 = tables["table3"].set_index("component")
    t3s = tables["table3_stats"].set_index("stat")["value"]
    for r in published[published["table"] == "T3"].itertuples():
        if r.column == "all":
            key = {"kept": "components_kept"}.get(r.row, r.row)
            add("T3", r.column, r.row, r.stat, r.value, t3s.get(key, np.nan))
        else:
            add("T3", r.column, r.row, r.stat, r.value, t3.loc[r.column, r.row])
    t4 = tables["table4"].set_index("variable")
    for r in published[published["table"] == "T4"].itertuples():
        ours = t4.loc[r.column, r.row] if r.column in t4.index else np.nan
        add("T4", r.column, r.row, r.stat, r.value, ours, "" if r.column in t4.index else "not constructed")
    for number in (5, 6, 7, 8, 9):
        name = f"table{number}"
        coefficients = tables[name].set_index(["column", "term"])
        values = tables[f"{name}_stats"].set_index(["column", "stat"])["value"]
        for r in published[published["table"] == f"T{number}"].itertuples():
            if r.stat in ("estimate", "t"):
                key = (r.column, r.row)
                field = "estimate" if r.stat == "estimate" else "t_stat"
                ours = coefficients.loc[key, field] if key in coefficients.index else np.nan
                p = coefficients.loc[key, "p_value"] if key in coefficients.index else np.nan
                add(f"T{number}", r.column, r.row, r.stat, r.value, ours)
                rows[-1]["replication_p"] = p
            elif r.stat == "value":
                stat = {"r2": "r2_lsdv" if number == 7 else "r2_within", "F": "first_stage_F_kp"}.get(r.row, r.row)
                add(f"T{number}", r.column, r.row, r.row, r.value, values.get((r.column, stat), np.nan),
                    {"r2_lsdv": "R² with city and year dummies", "r2_within": "within R²"}.get(stat, ""))
    frame = pd.DataFrame(rows)
    frame["difference"] = frame["replication"] - frame["paper"]
    printed = frame.merge(published, on=["table", "column", "row", "stat"], how="left")["printed"]
    frame["tolerance"] = [rounding(text, stat) for text, stat in zip(printed, frame["stat"])]
    frame["within_rounding"] = np.where(frame["replication"].notna(),
                                        frame["difference"].abs() <= frame["tolerance"], np.nan)
    coefficient = frame["stat"] == "estimate"
    frame["constant"] = coefficient & (frame["row"] == CONSTANT)
    frame["same_sign"] = np.where(coefficient, np.sign(frame["paper"]) == np.sign(frame["replication"]), np.nan)
    paper_t = frame.merge(published[published["stat"] == "t"][["table", "column", "row", "value"]],
                          on=["table", "column", "row"], how="left")["value"].to_numpy()
    frame["paper_t"] = np.where(coefficient, paper_t, np.nan)
    paper_p = [p_from_t(t, paper_cities(tb, c) - 1) if np.isfinite(t) else np.nan
               for t, tb, c in zip(paper_t, frame["table"], frame["column"])]
    frame["paper_p"] = np.where(coefficient, paper_p, np.nan)
    # significance is compared only between estimates of the same sign: a significant estimate of the
    # opposite sign contradicts the paper, it does not agree with it
    both = coefficient & frame["replication_p"].notna()
    frame["same_significance_5"] = np.where(
        both, frame["same_sign"].eq(1) & ((frame["paper_p"] < 0.05) == (frame["replication_p"] < 0.05)), np.nan)
    low, high = interval_95(frame, tables)
    frame["replication_ci_low"], frame["replication_ci_high"] = low, high
    frame["paper_in_ci_95"] = np.where(np.isfinite(low), (low <= frame["paper"]) & (frame["paper"] <= high), np.nan)
    frame["repeat_of"] = repeats(frame)
    return frame


NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def rounding(printed: object, stat: str) -> float:
    """Half a unit of the last digit the paper prints for this number: the estimate is the first number
    of a coefficient cell such as '-0.134** (-3.26)', t the one in parentheses, any other cell its only
    number.  A difference within it is no difference at the paper's precision."""
    numbers = NUMBER.findall(str(printed))
    if not numbers:
        return np.nan
    text = numbers[-1] if stat == "t" else numbers[0]
    decimals = len(text.partition(".")[2])
    return 0.5 * 10.0 ** -decimals * (1 + 1e-9)  # the factor keeps an exact half on the agreeing side


def column_degrees_of_freedom(statistics: pd.DataFrame, source: str = "") -> dict[str, float | None]:
    """Each column's t degrees of freedom as the models step wrote them (stat df_t, blank for the
    normal); `source` names the file in the error when a column lacks them (an output of an older run)."""
    values = statistics[statistics["stat"] == "df_t"].set_index("column")["value"]
    fitted = statistics.loc[statistics["stat"] == "nobs", "column"]
    missing = sorted(set(fitted) - set(values.index))
    if missing:
        raise ValueError(f"{source or 'statistics'}: no df_t for column(s) {', '.join(missing)}; "
                         "expected the t degrees of freedom the models step writes (rerun `make models`)")
    return {column: (float(v) if np.isfinite(v) else None) for column, v in values.items()}


CI_TABLES = ("T5", "T6", "T7", "T8", "T9")


def interval_95(frame: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> tuple[np.ndarray, np.ndarray]:
    """This run's 95% interval of each compared coefficient: estimate +- t_0.975(d) x se, with d the
    degrees of freedom of the run's own p-value (stat df_t; the normal where it is blank) and se the
    tidy std_error (|estimate / t| where it is missing)."""
    low, high = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    cache = {}
    for i, r in enumerate(frame.itertuples()):
        if r.stat != "estimate" or r.table not in CI_TABLES:
            continue
        name = f"table{r.table[1:]}"
        if name not in cache:
            coefficients = tables[name]
            cache[name] = (coefficients.set_index(["column", "term"]),
                           column_degrees_of_freedom(tables[f"{name}_stats"], f"{name}_stats.csv"))
        indexed, dfs = cache[name]
        if (r.column, r.row) not in indexed.index:
            continue
        row = indexed.loc[(r.column, r.row)]
        se = row["std_error"] if np.isfinite(row["std_error"]) else abs(row["estimate"] / row["t_stat"])
        df = dfs.get(r.column)
        critical = stats.norm.ppf(0.975) if df is None else stats.t.ppf(0.975, df)
        low[i], high[i] = row["estimate"] - critical * se, row["estimate"] + critical * se
    return low, high


def repeats(frame: pd.DataFrame) -> pd.Series:
    """For each row, the column of an earlier table ('T5 (4)') that printed the same estimate, else ''.

    A column repeats an earlier table's column when each of its coefficient cells (estimate and t of
    each term) equals that column's cell of the same term, in the paper and in this run (to 9
    significant digits): one regression printed in several tables (Table 5 (4), Table 6 All, Table 8
    (1) and Table 9 c).  Every row of it that the earlier column has with the same values is then a
    repeat; its other rows stay its own.
    """
    def key(r):
        return f"{r.paper:.9g}|{r.replication:.9g}"

    cells: dict[str, dict[tuple[str, str], str]] = {}
    for r in frame.itertuples():
        cells.setdefault(f"{r.table} {r.column}", {})[(r.row, r.stat)] = key(r)
    original: dict[str, str] = {}  # column -> the earlier table's column it repeats
    names = list(cells)
    for position, name in enumerate(names):
        signature = {k: v for k, v in cells[name].items() if k[1] in ("estimate", "t")}
        for candidate in names[:position]:
            other_table = candidate.split()[0] != name.split()[0]
            if signature and other_table and candidate not in original and \
                    all(cells[candidate].get(k) == v for k, v in signature.items()):
                original[name] = candidate
                break
    out = []
    for r in frame.itertuples():
        first = original.get(f"{r.table} {r.column}", "")
        out.append(first if first and cells[first].get((r.row, r.stat)) == key(r) else "")
    return pd.Series(out, index=frame.index, dtype=object)


# ---------------------------------------------------------------------------- the anomaly rules

HEADLINE = ("T5", "(4)", "Dig")  # Table 5 column (4): Dist on Dig with every control
RULE_LABELS = {"keep": "as printed (keep)", "confirmed": "two signals (confirmed)", "screen": "time series (screen)"}


def correct_alone(panel: pd.DataFrame, city: str, year: int, column: str, options: Options) -> pd.DataFrame:
    """The panel with one listed cell corrected as the build corrects it: set missing (a whole-city cell with
    its district cell) and refilled by the build's fill rules (build.fill_gaps) within its city; the
    non-urban remainder recomputed."""
    rows = panel["city"] == city
    part = panel.loc[rows].set_index(["city_code", "year"])
    series, _, area = column.rpartition("_")
    blank = [column] + ([f"{series}_district"] if area == "whole" else [])
    part.loc[(part.index.get_level_values("year") == year), blank] = np.nan
    flags = pd.DataFrame("", index=part.index, columns=list(REQUIRED))
    fill_gaps(part, flags, options)
    part[f"{series}_nonurban"] = part[f"{series}_whole"] - part[f"{series}_district"]
    out = panel.copy()
    out.loc[rows, part.columns] = part.to_numpy()
    return out


def panel_dist(panel: pd.DataFrame, options: Options) -> pd.Series:
    """Dist of every trusted city-year (option min_nonurban_share), indexed by (city, year)."""
    panel = panel.sort_values(["city_code", "year"]).reset_index(drop=True)
    trusted = panel[panel["pop_nonurban"] >= options.min_nonurban_share * panel["pop_whole"]]
    dist = dist_index(trusted, options).dist
    return dist.set_axis(pd.MultiIndex.from_frame(trusted[["city", "year"]]))


def dist_drivers(kept: pd.DataFrame, listing: pd.DataFrame, options: Options, above: float = 1.0) -> pd.DataFrame:
    """For every city-year with Dist above `above` in the panel as printed (`kept`, anomaly_rule=keep), the
    single listed cell (anomalies.csv) that drives it: Dist recomputed with each listed cell of that
    city-year corrected alone (correct_alone), the cell that brings it lowest.  One row per city-year:
    Dist as printed, the driving cell with its rule, signals and default action, Dist with it corrected,
    whether that brings Dist to `above` or below (``explained``: no single listed cell explains 陇南 2011,
    whose district library is low in three years), and the number of listed cells tried."""
    dist = panel_dist(kept, options)
    cells = listing[listing["column"].isin([f"{s}_{a}" for s in SPLIT for a in ("whole", "district")])]
    rows = []
    for (city, year), value in dist[dist > above].sort_values(ascending=False).items():
        tried = cells[(cells["city"] == city) & (cells["year"] == year)].drop_duplicates("column")
        after = {r.column: float(panel_dist(correct_alone(kept, city, year, r.column, options), options)[(city, year)])
                 for r in tried.itertuples()}
        best = min(after, key=after.get) if after else ""
        row = tried.set_index("column").loc[best] if best else None
        rows.append({"city": city, "year": int(year), "Dist": float(value), "listed_cells": len(tried),
                     "driver": best, "rule": row["rule"] if best else "", "signals": row["signals"] if best else "",
                     "corrected_by_default": bool(row["corrected_by_default"]) if best else False,
                     "Dist_driver_corrected": after.get(best, np.nan),
                     "explained": bool(after.get(best, np.inf) <= above)})
    return pd.DataFrame(rows, columns=["city", "year", "Dist", "listed_cells", "driver", "rule", "signals",
                                       "corrected_by_default", "Dist_driver_corrected", "explained"])


def rule_headlines(panels: dict[str, pd.DataFrame], options: Options) -> pd.DataFrame:
    """The headline (Table 5 (4), Dist on Dig with every control) on the panel of each anomaly_rule
    (`panels`: rule -> panel), side by side: estimate, t, cities, city-years and Dist's maximum."""
    from replication.models import STEPS, fit

    rows = []
    for rule, panel in panels.items():
        data = analysis_frame(panel, options).data
        result = fit(data, "Dist", STEPS[HEADLINE[1]], options)
        top = data.loc[data["Dist"].idxmax()]
        rows.append({"anomaly_rule": rule, "label": RULE_LABELS.get(rule, rule),
                     "estimate": float(result.params[HEADLINE[2]]), "t": float(result.tstats[HEADLINE[2]]),
                     "nobs": int(result.nobs), "cities": int(data["city_code"].nunique()),
                     "Dist_max": float(top["Dist"]), "Dist_max_at": f"{top['city']} {int(top['year'])}"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- scorecard

# The classes of the AEA Data Editor's reproducibility reports and the rules that assign them
# (docs/METHODS.md section 6, "The scorecard and the classes"), set from what each class means.
CLASSES = ("reproduced", "minor discrepancies", "partially reproduced", "not reproduced")
MAJORITY = 0.5  # partially reproduced: more than this share of a table's cells agree
NUMBER_TOLERANCE = 0.10  # a number without a standard error agrees within this relative difference


def agreement(part: pd.DataFrame) -> pd.Series:
    """Whether each cell that decides a table's class agrees with the paper.

    A table with coefficients is judged on them (constants apart): a coefficient agrees when it has
    the paper's sign and, with it, the paper's significance at 5%.  A table without coefficients
    (weights, eigenvalues, moments) is judged on every number: it agrees within rounding or within
    NUMBER_TOLERANCE of the paper's value.  A number the replication does not produce never agrees.
    """
    coefficients = part[(part["stat"] == "estimate") & ~part["constant"].astype(bool)]
    if len(coefficients):
        return coefficients["same_sign"].eq(1) & coefficients["same_significance_5"].eq(1)
    relative = part["difference"].abs() / part["paper"].abs().replace(0, np.nan)
    return part["within_rounding"].eq(1) | (relative <= NUMBER_TOLERANCE * (1 + 1e-9))  # 10% itself agrees


def classify(part: pd.DataFrame) -> str:
    """One table's class (CLASSES):

    - reproduced: every number the paper prints is produced and equals it at the printed precision;
    - minor discrepancies: not every number equal, but every cell agrees (agreement) and, for
      coefficients, the paper's value lies inside this run's 95% interval: the differences are within
      sampling error and change no conclusion;
    - partially reproduced: more than half of the cells agree (MAJORITY);
    - not reproduced: half or fewer agree.
    """
    if len(part) and part["within_rounding"].eq(1).all():
        return CLASSES[0]
    agrees = agreement(part)
    coefficients = part[(part["stat"] == "estimate") & ~part["constant"].astype(bool)]
    inside = coefficients["paper_in_ci_95"].eq(1).all()
    if len(agrees) and agrees.all() and inside:
        return CLASSES[1]
    if len(agrees) and agrees.mean() > MAJORITY:
        return CLASSES[2]
    return CLASSES[3]


def scorecard(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per table and one for all tables: its numbers and how many equal the paper's at the
    printed precision; for the coefficients (constants apart) sign, significance given the sign, and the
    paper's value inside this run's 95% interval; the constants; the table's class.  'repeated' counts
    a table's coefficients that an earlier table prints too; the 'All' row counts each estimate once."""
    rows = []
    frame = frame.assign(repeat_of=frame["repeat_of"].fillna(""))  # read back from comparison.csv: NaN
    distinct = frame[frame["repeat_of"] == ""]
    for table, part in [*frame.groupby("table", sort=True), ("All", distinct)]:
        numbers = part[part["replication"].notna()]
        estimates = numbers[numbers["stat"] == "estimate"]
        constant = estimates["constant"].astype(bool)
        coefficients, constants = estimates[~constant], estimates[constant]
        relative = (numbers["difference"].abs() / numbers["paper"].abs().replace(0, np.nan)).median()
        agrees = agreement(part) if table != "All" else pd.Series(dtype=bool)
        rows.append({
            "table": table, "numbers": len(part), "compared": len(numbers),
            "within_rounding": int(numbers["within_rounding"].eq(1).sum()),
            "median_relative_difference": relative,
            "coefficients": len(coefficients),
            "repeated": int((coefficients["repeat_of"] != "").sum()),
            "same_sign": int(coefficients["same_sign"].eq(1).sum()),
            "same_significance_5": int(coefficients["same_significance_5"].eq(1).sum()),
            "paper_in_ci_95": int(coefficients["paper_in_ci_95"].eq(1).sum()),
            "constants": len(constants),
            "constants_same_significance_5": int(constants["same_significance_5"].eq(1).sum()),
            "agreeing_share": float(agrees.mean()) if len(agrees) else np.nan,
            "class": classify(part) if table != "All" else "",
        })
    return pd.DataFrame(rows)


def verdict(card: pd.DataFrame) -> str:
    """The classes in one line, the tables of a class together: 'Table 3: minor discrepancies; Tables
    5-9: not reproduced.'"""
    tables = card[card["table"] != "All"]
    parts = []
    for name in CLASSES:
        numbers = sorted(int(t[1:]) for t in tables.loc[tables["class"] == name, "table"])
        if numbers:
            parts.append(f"{'Table' if len(numbers) == 1 else 'Tables'} {_ranges(numbers)}: {name}")
    return "; ".join(parts) + "."


def _ranges(numbers: list[int]) -> str:
    """[1, 3, 4, 5, 6] -> '1, 3-6'; two in a row stay a list ('3, 4')."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


# ---------------------------------------------------------------------------- audit


def audit(published: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """Every check of docs/METHODS.md section 6 applied to the stored published numbers and claims."""
    rows: list[dict] = []

    def check(name, table, cell, computation, consistent):
        rows.append({"check": name, "table": table, "cell": cell, "computation": computation,
                     "result": "consistent" if consistent else "inconsistent"})

    def value(table, column, row, stat):
        hit = published[(published["table"] == table) & (published["column"] == column)
                        & (published["row"] == row) & (published["stat"] == stat)]
        return float(hit["value"].iloc[0]) if len(hit) else np.nan

    coefficients = published[published["stat"] == "estimate"]
    # 1. stars implied by each printed t, under both threshold sets; a cell must follow the convention
    #    the paper follows in most cells
    implied_rows = []
    for r in coefficients.itertuples():
        t = value(r.table, r.column, r.row, "t")
        printed = int(value(r.table, r.column, r.row, "stars"))
        df = paper_cities(r.table, r.column) - 1
        p = p_from_t(t, df)
        implied = {name: sum(p < c for c in cut) for name, cut in STAR_THRESHOLDS.items()}
        implied_rows.append((r, t, printed, df, p, implied))
    votes = {name: sum(i[name] == printed for *_, printed, _, _, i in
                       [(x[0], x[1], x[2], x[3], x[4], x[5]) for x in implied_rows]) for name in STAR_THRESHOLDS}
    usual = max(votes, key=votes.get)
    for r, t, printed, df, p, implied in implied_rows:
        matches = [name for name, n in implied.items() if n == printed]
        text = (f"t = {t:g} -> p = {p:.4f} (t with {df} df); stars printed {printed}, implied {implied['paper']} "
                f"at 0.05/0.01/0.001 and {implied['econ']} at 0.10/0.05/0.01")
        if usual not in matches:
            text += (f"; the paper's usual convention ({usual}) implies {implied[usual]}"
                     + (f", only the {matches[0]} convention matches" if matches else ""))
        check("stars", r.table, f"{r.column} {r.row}", text, usual in matches)
    # 2. the text's significance claims against the tables
    for c in claims.itertuples():
        if c.claim == "abs_smaller_than_c":
            c_value, c_prime = value("T9", "c", "Dig", "estimate"), value(c.table, c.column, c.row, "estimate")
            check("claim", c.table, f"{c.claim_id}: |c'| < |c|", f"|{c_prime:g}| < |{c_value:g}|",
                  abs(c_prime) < abs(c_value))
            continue
        if c.table == "T9" and c.column == "sobel":
            z = _sobel_from_published(value)
            p = 2 * stats.norm.sf(abs(z))
        else:
            t = value(c.table, c.column, c.row, "t")
            z, p = t, p_from_t(t, paper_cities(c.table, c.column) - 1)
        level = float(c.level)
        if c.claim == "not_significant":
            ok, text = p >= level, f"p = {p:.4f}; the claim needs p >= {level:g}"
        else:
            ok, text = p < level, f"p = {p:.4f}; the claim needs p < {level:g}"
            if ok and c.claim == "significant_only_at":
                stricter = [x for x in (0.05, 0.01, 0.001) if x < level and p < x]
                text += f"; also below {min(stricter):g}, the text understates it" if stricter else ""
        words = c.claim.replace("_", " ").removesuffix(" at")  # significant_only_at: "... only at 0.1"
        check("claim", c.table, f"{c.claim_id}: {c.column} {c.row} {words} at {level:g}",
              f"statistic {z:.3f}, {text}", ok)
    # 3. first-stage F against t^2 for the single instrument
    t = value("T7", "first_stage", "L2.Dig", "t")
    f = value("T7", "first_stage", "F", "value")
    low, high = (abs(t) - 0.005) ** 2, (abs(t) + 0.005) ** 2
    check("F vs t^2", "T7", "first stage", f"t = {t:g}: t^2 in [{low:.2f}, {high:.2f}] (t rounded); F = {f:g}",
          low <= f <= high)
    # 4. c against c' + a*b
    c_value, c_prime = value("T9", "c", "Dig", "estimate"), value("T9", "b_cprime", "Dig", "estimate")
    a, b = value("T9", "a", "Dig", "estimate"), value("T9", "b_cprime", "Isu", "estimate")
    tolerance = 0.0005 + 0.00005 * (1 + abs(a) + abs(b))  # rounding of three printed decimals
    check("c = c' + ab", "T9", "paths", f"c' + a*b = {c_prime:g} + {a:g} x {b:g} = {c_prime + a * b:.5f} vs "
          f"c = {c_value:g}", abs(c_prime + a * b - c_value) <= tolerance)
    # 5. Sobel z from the printed a, t_a, b, t_b
    z = _sobel_from_published(value)
    check("Sobel z", "T9", "indirect effect",
          f"z = ab / sqrt(b²s_a² + a²s_b²) with s = estimate / t: {z:.3f}, p = {2 * stats.norm.sf(abs(z)):.4f}",
          np.isfinite(z))
    # 6. observation counts
    for r in published[(published["row"] == "nobs")].itertuples():
        years = IV_YEARS if r.table == "T7" else PAPER_YEARS
        cities = paper_cities(r.table, r.column)
        check("N = cities x years", r.table, r.column, f"{cities} x {years} = {cities * years}; printed {r.value:g}",
              cities * years == r.value)
    regions = [value("T6", g, "nobs", "value") for g in ("East", "Central", "West")]
    if all(np.isfinite(regions)):
        total = value("T6", "All", "nobs", "value")
        check("group sums", "T6", "N", f"{' + '.join(f'{x:g}' for x in regions)} = {sum(regions):g}; all {total:g}",
              sum(regions) == total)
    # 7. weights sum to one
    weights = published[(published["table"] == "T1") & (published["stat"] == "weight")]["value"]
    if len(weights):
        check("weights sum to one", "T1", "weights", f"sum = {weights.sum():.7f}", abs(weights.sum() - 1) < 1e-6)
    # 8. eigenvalue shares
    eigen = published[(published["table"] == "T3") & (published["row"] == "eigenvalue")].set_index("column")["value"]
    if len(eigen):
        k = len(eigen)
        check("eigenvalues sum to k", "T3", "eigenvalues", f"sum = {eigen.sum():.6f}, k = {k}",
              abs(eigen.sum() - k) < 1e-4)
        cumulative = 0.0
        for component, lam in eigen.items():
            share = value("T3", component, "variance_share", "value")
            cumulative_printed = value("T3", component, "cumulative_share", "value")
            cumulative += share
            check("variance share", "T3", component,
                  f"{lam:g} / {k} = {lam / k:.4f} vs {share:g}; cumulative {cumulative:.4f} vs {cumulative_printed:g}",
                  abs(lam / k - share) <= 0.00006 and abs(cumulative - cumulative_printed) <= 0.0002)
    # 9. descriptive ranges against each variable's definition
    bounds = {"Stru": (0, 1, "a share"), "Ur": (0, 1, "a share"), "Isu": (0, 1, "a share"),
              "Dig": (0, 1, "a min-max composite with non-negative weights"), "Dist": (0, np.inf, "a square")}
    for variable, (low_, high_, what) in bounds.items():
        lo, hi, mean = (value("T4", variable, s, "value") for s in ("min", "max", "mean"))
        if np.isfinite(lo):
            check("range", "T4", variable, f"{what} must lie in [{low_:g}, {high_:g}]: min {lo:g}, max {hi:g}, "
                  f"mean {mean:g}", low_ <= lo <= mean <= hi <= high_)
    return pd.DataFrame(rows)


def _sobel_from_published(value) -> float:
    a, ta = value("T9", "a", "Dig", "estimate"), value("T9", "a", "Dig", "t")
    b, tb = value("T9", "b_cprime", "Isu", "estimate"), value("T9", "b_cprime", "Isu", "t")
    sa, sb = a / ta, b / tb
    return a * b / np.sqrt(b**2 * sa**2 + a**2 * sb**2)
