"""How much the headline rests on a few city-years and cities, and how it moves between panel variants.

Pure functions of the estimation data (``indices.analysis_frame(...).data``):

- ``headline_cells``: the headline coefficients (Table 5 column 4, Table 6 regions, Table 7 second
  stage, Table 8, Table 9 a, b and ab) with the estimators of ``models`` (no resampling: the
  bootstrap and permutation statistics are not headline cells).
- ``dist_moments``: Table 4's Dist row.
- ``tail_influence``: the share of Dist's variance (sum of squared deviations from the mean) carried
  by the city-years above the paper's maximum of Dist and by the top 1%, and Table 5 column 4
  without them.
- ``leave_one_city_out``: Dig's coefficient with each city left out in turn (Tables 5, 6 and 9):
  its range and the cities at the two ends.  A leave-one-cluster-out refit is exact where a
  DFBETA is a linear approximation, and at about a thousand small fixed-effects fits it is cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from replication.config import Options
from replication.models import CONTROLS, MODEL, REGIONS, fit, instrumental, sobel

def headline_cells(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    rows = []

    def add(table, column, term, result):
        rows.append({"table": table, "column": column, "term": term, "estimate": result.params[term],
                     "t_stat": result.tstats[term], "p_value": result.pvalues[term]})

    add("T5", "(4)", "Dig", fit(data, "Dist", MODEL, options))
    for region in REGIONS:
        add("T6", region, "Dig", fit(data[data["region"] == region], "Dist", MODEL, options))
    iv = instrumental(data, options).coefficients.set_index(["column", "term"]).loc[("second_stage", "Dig")]
    rows.append({"table": "T7", "column": "second_stage", "term": "Dig", "estimate": iv["estimate"],
                 "t_stat": iv["t_stat"], "p_value": iv["p_value"]})
    add("T8", "(1)", "Dig", fit(data, "Dist", MODEL, options))
    add("T8", "(2)", "Dig_entropy", fit(data, "Dist", ["Dig_entropy", *CONTROLS], options))
    a = fit(data, "Isu", MODEL, options)
    b = fit(data, "Dist", ["Dig", "Isu", *CONTROLS], options)
    add("T9", "a", "Dig", a)
    add("T9", "b_cprime", "Isu", b)
    test = sobel(a.params["Dig"], a.std_errors["Dig"], b.params["Isu"], b.std_errors["Isu"])
    rows.append({"table": "T9", "column": "ab", "term": "Dig x Isu", "estimate": a.params["Dig"] * b.params["Isu"],
                 "t_stat": test["sobel_z"], "p_value": test["sobel_p"]})
    return pd.DataFrame(rows)


def dist_moments(data: pd.DataFrame) -> dict[str, float]:
    dist = data["Dist"]
    return {"mean": float(dist.mean()), "sd": float(dist.std()), "min": float(dist.min()),
            "max": float(dist.max()), "n": int(dist.notna().sum())}


def compare_variants(datasets: dict[str, pd.DataFrame], options: Options) -> pd.DataFrame:
    """Headline cells and Dist's moments, one column pair (estimate, t) per dataset."""
    parts = []
    for name, data in datasets.items():
        cells = headline_cells(data, options)
        cells["cell"] = cells["table"] + " " + cells["column"] + " " + cells["term"]
        moments = dist_moments(data)
        extra = pd.DataFrame({"cell": [f"T4 Dist {k}" for k in moments], "estimate": list(moments.values()),
                              "t_stat": np.nan})
        frame = pd.concat([cells[["cell", "estimate", "t_stat"]], extra], ignore_index=True).set_index("cell")
        parts.append(frame.rename(columns={"estimate": f"{name}", "t_stat": f"{name} t"}))
    return pd.concat(parts, axis=1).reset_index()


def tail_influence(data: pd.DataFrame, options: Options, paper_max: float) -> pd.DataFrame:
    dist = data["Dist"]
    squares = (dist - dist.mean()) ** 2
    rows = []
    for label, chosen in (
        (f"Dist above the paper's maximum ({paper_max:g})", dist > paper_max),
        ("largest 1% of Dist", dist >= dist.quantile(0.99)),
        ("largest 10 city-years of Dist", dist.rank(ascending=False, method="first") <= 10),
    ):
        n = int(chosen.sum())
        without = fit(data[~chosen], "Dist", MODEL, options) if n else None
        rows.append({"city-years": label, "n": n, "share_of_variance": float(squares[chosen].sum() / squares.sum()),
                     "T5 (4) Dig without them": without.params["Dig"] if n else np.nan,
                     "t": without.tstats["Dig"] if n else np.nan})
    return pd.DataFrame(rows)


LOCO_CITIES = 3  # leave one city out needs two cities left in the sample


def leave_one_city_out(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Dig's (and Table 9 b's Isu) coefficient with each city left out: full value, range, the cities at the ends."""
    models = [("T5", "(4)", "Dig", None, "Dist", MODEL)]
    models += [("T6", r, "Dig", r, "Dist", MODEL) for r in REGIONS]
    models += [("T9", "a", "Dig", None, "Isu", MODEL), ("T9", "b_cprime", "Isu", None, "Dist", ["Dig", "Isu", *CONTROLS])]
    first = data.drop_duplicates("city_code").set_index("city_code")
    english = first["city_en"].fillna("").astype(str).str.strip() if "city_en" in first else ""
    names = (first["city"] + " " + english).str.strip()  # 钦州市 Qinzhou: readable with or without Chinese
    rows = []
    for table, column, term, region, y, x in models:
        sample = data if region is None else data[data["region"] == region]
        cities = sorted(sample["city_code"].unique())
        full = fit(sample, y, x, options).params[term]
        if len(cities) < LOCO_CITIES:  # one city left: the city and year effects absorb every row
            rows.append({"table": table, "column": column, "term": term, "estimate": full, "min": np.nan,
                         "city_at_min": f"not run: {len(cities)} cities, it needs {LOCO_CITIES}", "max": np.nan,
                         "city_at_max": "", "cities": len(cities)})
            continue
        left = pd.Series({c: fit(sample[sample["city_code"] != c], y, x, options).params[term] for c in cities})
        rows.append({"table": table, "column": column, "term": term, "estimate": full, "min": left.min(),
                     "city_at_min": names[left.idxmin()], "max": left.max(), "city_at_max": names[left.idxmax()],
                     "cities": len(left)})
    return pd.DataFrame(rows)


def flagged_tail(data: pd.DataFrame, panel: pd.DataFrame, anomalies: pd.DataFrame,
                 above: float = 1.0) -> pd.DataFrame:
    """City-years with Dist above `above` in `data` (a panel built with anomaly_rule=keep), with the cells the
    screen flags in them and the non-urban share of registered population."""
    tail = data[data["Dist"] > above].sort_values("Dist", ascending=False)
    share = (panel["pop_nonurban"] / panel["pop_whole"]).set_axis(pd.MultiIndex.from_frame(panel[["city", "year"]]))
    misprint = anomalies[anomalies["rule"].isin(["spike", "stale_copy"])]
    rows = []
    for r in tail.itertuples():
        cells = misprint[(misprint["city"] == r.city) & (misprint["year"] == r.year)]
        rows.append({"city": r.city, "city_en": r.city_en, "year": r.year, "Dist": r.Dist,
                     "nonurban_share": float(share[(r.city, r.year)]),
                     "flagged": "; ".join(f"{c} ({k})" for c, k in zip(cells["column"], cells["rule"]))})
    return pd.DataFrame(rows, columns=["city", "city_en", "year", "Dist", "nonurban_share", "flagged"])


def robustness_tables(data: pd.DataFrame, variants: dict[str, pd.DataFrame], anomalies: pd.DataFrame | None,
                      options: Options, paper_max: float,
                      panel: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Everything the comparison's robustness section shows. `variants`: panel-variant name -> panel;
    `panel`: the panel `data` was built from (for the coverage table)."""
    from replication.indices import analysis_frame

    label = "this run's panel"  # a panel of the user's own has no anomaly rule of ours; the variants say theirs
    datasets = {label: data} | {name: analysis_frame(panel, options).data for name, panel in variants.items()}
    out = {"variants": compare_variants(datasets, options),
           "tail": tail_influence(data, options, paper_max),
           "loco": leave_one_city_out(data, options)}
    if panel is not None and variants:
        out["coverage"] = coverage(panel, variants)
    if "anomaly_keep" in variants:
        out["loco_keep"] = leave_one_city_out(datasets["anomaly_keep"], options)
        if anomalies is not None:
            out["flagged_tail"] = flagged_tail(datasets["anomaly_keep"], variants["anomaly_keep"], anomalies)
    return out


def coverage(panel: pd.DataFrame, variants: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """What each variant panel adds to or removes from the committed panel: cities, and filled cells by rule."""
    def flags(frame):
        columns = [c for c in frame.columns if c.endswith("_fill") and "_nonurban" not in c]
        values = frame[columns].to_numpy().ravel()
        return pd.Series(values[values != ""]).value_counts()

    base_cities, base_flags = set(panel["city"]), flags(panel)
    rows = []
    for name, other in variants.items():
        cities, other_flags = set(other["city"]), flags(other)
        row = {"variant": name, "cities": len(cities), "cities_added": ", ".join(sorted(cities - base_cities)),
               "cities_removed": ", ".join(sorted(base_cities - cities))}
        for how in sorted(set(base_flags.index) | set(other_flags.index)):
            n, before = int(other_flags.get(how, 0)), int(base_flags.get(how, 0))
            row[f"{how} cells"] = f"{n} ({n - before:+d})"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")
