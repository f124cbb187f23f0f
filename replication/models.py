"""One function per table family of the paper (Tables 5-9), each returning a TableResult.

All models have city and year fixed effects and Stata's fixed-effects constant;
inference follows ``Options.cov_type`` (estimation.py describes each).  The
tidy output is one row per coefficient (column, term, estimate, std_error,
t_stat, p_value) and one row per statistic (column, stat, value).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from replication.config import Options
from replication.estimation import CONSTANT, Design, FitResult, fit_fe, fit_iv, fit_within, singletons, within
from replication.resampling import bootstrap_weights, panel_moments, permutation_weights
from replication.wild import table_rows as wild_rows
from replication.indices import SHARED

CONTROLS = ["Ur", "Stru", "lnexpense", "lnper_gdp"]
MODEL = ["Dig", *CONTROLS]  # Table 5 (4)'s regressors: the model of Tables 6-9, Guangxi and the influence checks
STEPS = {"(1)": ["Dig"], "(2)": ["Dig", "Ur"], "(3)": ["Dig", "Ur", "Stru"], "(4)": MODEL}
REGIONS = ("East", "Central", "West")
INSTRUMENT = "L2.Dig"


@dataclass(frozen=True)
class TableResult:
    coefficients: pd.DataFrame  # column, term, estimate, std_error, t_stat, p_value
    stats: pd.DataFrame  # column, stat, value
    fits: dict = field(default_factory=dict)  # column -> FitResult
    draws: dict[str, np.ndarray] = field(default_factory=dict)  # resampling draws: bootstrap_ab, perm_<A>_<B>


def cov_spec(options: Options) -> tuple[str, str | None]:
    return {
        "cluster_city": ("cluster", None),
        "cluster_province": ("cluster", "province"),
        "robust": ("robust", None),
        "driscoll_kraay": ("driscoll_kraay", None),
    }[options.cov_type]


def estimation_sample(data: pd.DataFrame, variables: list[str], options: Options) -> pd.DataFrame:
    """The rows a model uses: all of them, or with drop_filled those where none of `variables` was filled."""
    if not options.drop_filled:
        return data
    filled = np.zeros(len(data), dtype=bool)
    for variable in variables:
        column = f"{variable}_fill"
        if column in data.columns:
            filled |= data[column].fillna("").astype(str).ne("").to_numpy()
    return data[~filled]


def complete_sample(data: pd.DataFrame, variables: list[str],
                    options: Options) -> tuple[pd.DataFrame, int, int]:
    """The estimation sample with the rows missing a model variable and then the singletons
    (reghdfe's rule, city and year) dropped: (sample, rows dropped as missing, singletons)."""
    return drop_incomplete(estimation_sample(data, variables, options), variables)


def drop_incomplete(sample: pd.DataFrame, variables: list[str]) -> tuple[pd.DataFrame, int, int]:
    missing = ~np.isfinite(sample[variables].to_numpy(float)).all(axis=1)
    if missing.any():
        sample = sample[~missing]
    alone = singletons(sample["city_code"].to_numpy(), sample["year"].to_numpy(), "twoway")
    if alone.any():
        sample = sample[~alone]
    return sample, int(missing.sum()), int(alone.sum())


def shared_control(options: Options) -> list[str]:
    """The six-indicator Dist's shared whole-city term c, a regressor of every model under
    dist_indicators='six_shared_controlled' (indices.dist_index)."""
    return [SHARED] if options.dist_indicators == "six_shared_controlled" else []


def fit(data: pd.DataFrame, y: str, x: list[str], options: Options) -> FitResult:
    """Two-way FE of y on x: rows missing a variable and singletons dropped (and counted)."""
    x = [*x, *(name for name in shared_control(options) if name not in x)]
    cov_type, cluster = cov_spec(options)
    sample = estimation_sample(data, [y, *x], options)
    design = Design.from_frame(sample, y, x, cluster=cluster)
    return fit_fe(design, cov_type, "twoway", options.dk_bandwidth, drop_singletons=True)


FE_COLUMNS = {"entity": "city_code", "time": "year"}  # estimation.Design's effects, as the panel names them


def collect(fits: dict[str, FitResult], extra: list[tuple[str, str, float]] = (),
            draws: dict[str, np.ndarray] | None = None) -> TableResult:
    """Tidy coefficients and the statistics of every column: N, within R² (both effects partialled
    out, as reghdfe/fixest), overall R² (dummies counted), mean of y, clusters, rows dropped."""
    coefficients = pd.concat(
        [f.tidy().assign(column=column) for column, f in fits.items()], ignore_index=True
    )[["column", "term", "estimate", "std_error", "t_stat", "p_value"]]
    rows = []
    for column, f in fits.items():
        rows += [(column, "nobs", f.nobs), (column, "r2_within", f.rsquared_within),
                 (column, "r2_overall", f.rsquared), (column, "mean_dep", f.mean_dep)]
        if f.nclusters is not None:
            rows.append((column, "nclusters", f.nclusters))
        rows.append((column, "df_t", float(f.df_resid) if f.df_resid < 10**9 else np.nan))  # blank: the normal
        rows += [(column, f"fe_levels_{FE_COLUMNS[effect]}", count)
                 for effect, count in f.extra.get("levels", {}).items()]
        rows += [(column, "n_dropped_missing", f.n_dropped_missing), (column, "n_singletons", f.n_singletons)]
    rows += list(extra)
    return TableResult(coefficients, pd.DataFrame(rows, columns=["column", "stat", "value"]), dict(fits),
                       dict(draws or {}))


# ---------------------------------------------------------------------------- Table 5, Table 8


def baseline(data: pd.DataFrame, options: Options) -> TableResult:
    """Table 5: Dist on Dig with the controls added step by step."""
    full = STEPS["(4)"]
    wild = wild_rows(complete_sample(data, ["Dist", *full], options)[0], "Dist", full, "(4)", options)
    return collect({column: fit(data, "Dist", x, options) for column, x in STEPS.items()}, wild)


def robustness(data: pd.DataFrame, options: Options, table5: TableResult | None = None) -> TableResult:
    """Table 8: Table 5 column 4 (PCA Dig) beside the same model with the entropy-weighted Dig.

    Column (1) is Table 5 (4): given `table5` (baseline's result on the same data and options), its
    fit and wild bootstrap are reused instead of being run a second time."""
    if table5 is None:
        first = fit(data, "Dist", MODEL, options)
        wild = wild_rows(complete_sample(data, ["Dist", *MODEL], options)[0], "Dist", MODEL, "(1)", options)
    else:
        first = table5.fits["(4)"]
        rows = table5.stats[(table5.stats["column"] == "(4)") & table5.stats["stat"].str.startswith("wild_")]
        wild = [("(1)", stat, value) for stat, value in zip(rows["stat"], rows["value"])]
    entropy = ["Dig_entropy", *CONTROLS]
    wild += wild_rows(complete_sample(data, ["Dist", *entropy], options)[0], "Dist", entropy, "(2)", options,
                      term="Dig_entropy")
    return collect({"(1)": first, "(2)": fit(data, "Dist", entropy, options)}, wild)


# ---------------------------------------------------------------------------- Table 6


def heterogeneity(data: pd.DataFrame, options: Options) -> TableResult:
    """Table 6: column 4 on every region, and tests that the Dig coefficient differs between regions."""
    x = ["Dig", *CONTROLS, *shared_control(options)]
    fits = {"All": fit(data, "Dist", x, options)}
    for region in REGIONS:
        fits[region] = fit(data[data["region"] == region], "Dist", x, options)
    extra, draws = [], {}
    rng = np.random.default_rng(options.seed)
    for a, b in combinations(REGIONS, 2):
        pair = f"{a}_{b}"
        diff = fits[a].params["Dig"] - fits[b].params["Dig"]
        _, f_stat, p = interacted_test(estimation_sample(data, ["Dist", *x], options), "Dist", x, a, b)
        extra += [("tests", f"diff_{pair}", diff), ("tests", f"interact_F_{pair}", f_stat),
                  ("tests", f"interact_p_{pair}", p)]
        observed, permuted = permutation_differences(data, "Dist", x, a, b, options, rng)
        extra.append(("tests", f"perm_p_{pair}", permutation_p(observed, permuted)))
        draws[f"perm_{pair}"] = permuted
    extra.append(("tests", "permutation_draws", options.permutation_draws))
    for region in REGIONS:
        part, _, _ = complete_sample(data[data["region"] == region], ["Dist", *x], options)
        extra += wild_rows(part, "Dist", x, region, options)
    return collect(fits, extra, draws)


def interacted_test(data: pd.DataFrame, y: str, x: list[str], a: str, b: str) -> tuple[float, float, float]:
    """Wald test of Dig(a) = Dig(b) in the fully interacted model on the cities of a and b:
    (difference, F, p).

    Every slope and the year effects are region-specific, so the estimates equal the separate
    regressions of Table 6: one two-way fit (``estimation.fit_within``) whose time effect is the
    region x year, on the data within-transformed region by region (the design is block-diagonal).
    The covariance is clustered by city (cities nest in regions) with Stata's factor, K counting
    each region's slopes, constant and year effects; F(1, G-1).
    """
    k = len(x)
    raw, transformed, cities, periods = [], [], [], []
    for position, region in enumerate((a, b)):
        part = data[data["region"] == region]
        part = part[np.isfinite(part[[y, *x]].to_numpy(float)).all(axis=1)]
        part = part[~singletons(part["city_code"].to_numpy(), part["year"].to_numpy(), "twoway")]
        values = part[[y, *x]].to_numpy(float)
        within_region = within(values, part["city_code"].to_numpy(), part["year"].to_numpy(), "twoway")
        for target, source in ((raw, values), (transformed, within_region)):
            block = np.zeros((len(part), 1 + 2 * k))
            block[:, 0] = source[:, 0]
            block[:, 1 + position * k : 1 + (position + 1) * k] = source[:, 1:]
            target.append(block)
        cities.append(part["city_code"].to_numpy())
        periods.append(position * 10**6 + part["year"].to_numpy())  # the region x year effect
    raw = np.vstack(raw)
    names = [f"{v}#{region}" for region in (a, b) for v in x]
    design = Design(raw[:, 0], raw[:, 1:], names, np.concatenate(cities), np.concatenate(periods))
    result = fit_within(np.vstack(transformed), raw.mean(axis=0), design, "cluster", "twoway")
    r = np.zeros(2 * k + 1)
    r[0], r[k] = 1.0, -1.0
    f_stat, p = result.wald(r)
    return float(r @ result.params.to_numpy()), f_stat, p


def permutation_p(observed: float, permuted: np.ndarray) -> float:
    """Two-sided permutation p-value: the share of draws at least as far from 0 as the observed,
    the observed counted among them."""
    return float((1 + np.sum(np.abs(permuted) >= abs(observed))) / (1 + len(permuted)))


def permutation_differences(data, y, x, a, b, options, rng) -> tuple[float, np.ndarray]:
    """Dig(a) - Dig(b) and its value under `permutation_draws` relabellings of the cities of a and b
    (group sizes kept), both regressions refitted from the cities' sufficient statistics for every
    draw (exact on balanced and unbalanced panels alike; resampling.py)."""
    sample, _, _ = complete_sample(data, [y, *x], options)
    pair = sample[sample["region"].isin((a, b))]
    moments = panel_moments(pair, [y, *x])
    labels = pair.drop_duplicates("city_code").set_index("city_code").loc[moments.cities, "region"]
    in_a = (labels == a).to_numpy(float)
    size_a = int(in_a.sum())

    def difference(weights):
        return (moments.coefficients(weights, y, x)[:, 0]
                - moments.coefficients(1 - weights, y, x)[:, 0])

    observed = difference(in_a[None, :])[0]
    draws = permutation_weights(size_a, len(in_a), options.permutation_draws, rng)
    return float(observed), difference(draws)


# ---------------------------------------------------------------------------- Table 7


def with_instrument(data: pd.DataFrame) -> pd.DataFrame:
    """Adds Dig's second lag within each city and keeps the years that have it (2013-2021)."""
    frame = data.sort_values(["city_code", "year"]).copy()
    frame[INSTRUMENT] = frame.groupby("city_code")["Dig"].shift(2)
    lag_gap = frame["year"] - frame.groupby("city_code")["year"].shift(2)
    frame.loc[lag_gap != 2, INSTRUMENT] = np.nan
    return frame[frame[INSTRUMENT].notna()].reset_index(drop=True)


def instrumental(data: pd.DataFrame, options: Options) -> TableResult:
    """Table 7: 2SLS, Dig instrumented by its second lag; first stage and diagnostics."""
    cov_type, cluster = cov_spec(options)
    exog = [*CONTROLS, *shared_control(options)]
    sample = estimation_sample(with_instrument(data), ["Dist", "Dig", *exog], options)
    result = fit_iv(sample, "Dist", "Dig", [INSTRUMENT], exog, cov_type, "twoway",
                    options.dk_bandwidth, cluster, drop_singletons=True)
    diagnostics = {k: v for k, v in result.diagnostics.items() if not k.startswith("r2_")}
    extra = [("first_stage", name, value) for name, value in diagnostics.items()]
    extra += [("first_stage", "r2_lsdv", result.diagnostics["r2_lsdv_first"]),
              ("second_stage", "r2_lsdv", result.diagnostics["r2_lsdv_second"])]
    return collect({"first_stage": result.first, "second_stage": result.second}, extra)


# ---------------------------------------------------------------------------- Table 9


def sobel_variance(a: float, sa: float, b: float, sb: float) -> float:
    """Sobel's first-order variance of the indirect effect a*b: b² s_a² + a² s_b²."""
    return b**2 * sa**2 + a**2 * sb**2


def sobel(a: float, sa: float, b: float, sb: float) -> dict[str, float]:
    """Sobel, Aroian and Goodman z for the indirect effect a*b, with two-sided normal p-values."""
    base = sobel_variance(a, sa, b, sb)
    out = {}
    for name, variance in (("sobel", base), ("aroian", base + sa**2 * sb**2), ("goodman", base - sa**2 * sb**2)):
        z = a * b / np.sqrt(variance) if variance > 0 else float("nan")
        out[f"{name}_z"] = float(z)
        out[f"{name}_p"] = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")
    return out


def mediation(data: pd.DataFrame, options: Options) -> TableResult:
    """Table 9: paths c, a, b and c' through Isu; Sobel-type tests; cluster bootstrap of a*b."""
    x = ["Dig", *CONTROLS, *shared_control(options)]
    sample, missing, alone = complete_sample(data, ["Dist", "Isu", *x], options)  # one sample for all paths
    counts = {"n_dropped_missing": missing, "n_singletons": alone}
    fits = {
        "c": replace(fit(sample, "Dist", x, options), **counts),
        "a": replace(fit(sample, "Isu", x, options), **counts),
        "b_cprime": replace(fit(sample, "Dist", ["Dig", "Isu", *x[1:]], options), **counts),
    }
    a, sa = fits["a"].params["Dig"], fits["a"].std_errors["Dig"]
    b, sb = fits["b_cprime"].params["Isu"], fits["b_cprime"].std_errors["Isu"]
    c, c_prime = fits["c"].params["Dig"], fits["b_cprime"].params["Dig"]
    extra = [("mediation", "ab", a * b), ("mediation", "share_mediated", a * b / c),
             ("mediation", "identity_c_minus_cprime_minus_ab", c - c_prime - a * b)]
    extra += [("mediation", name, value) for name, value in sobel(a, sa, b, sb).items()]
    ab_draws = indirect_draws(sample, x, options)
    low, high = percentile_interval(ab_draws)
    extra += [("mediation", "boot_ci_low", low), ("mediation", "boot_ci_high", high),
              ("mediation", "boot_draws", options.bootstrap_draws)]
    extra += wild_rows(sample, "Isu", x, "a", options)
    extra += wild_rows(sample, "Dist", ["Dig", "Isu", *x[1:]], "b_cprime", options, term="Isu")
    return collect(fits, extra, {"bootstrap_ab": ab_draws})


def percentile_interval(draws: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_indirect(sample: pd.DataFrame, x: list[str], options: Options) -> tuple[float, float]:
    """Percentile 95% interval of a*b from a cluster bootstrap resampling cities (seeded)."""
    return percentile_interval(indirect_draws(sample, x, options))


def indirect_draws(sample: pd.DataFrame, x: list[str], options: Options) -> np.ndarray:
    """a*b in each of `bootstrap_draws` cluster-bootstrap samples, from the cities' sufficient
    statistics (closed form on any panel, resampling.py); rows missing a variable, and singletons,
    are left out first (mediation's sample has none left)."""
    rng = np.random.default_rng(options.seed)
    sample, _, _ = drop_incomplete(sample, ["Dist", "Isu", *x])
    moments = panel_moments(sample, ["Dist", "Isu", *x])
    weights = bootstrap_weights(len(moments.cities), options.bootstrap_draws, rng)
    a = moments.coefficients(weights, "Isu", x)[:, 0]
    b = moments.coefficients(weights, "Dist", ["Dig", "Isu", *x[1:]])[:, 1]
    return a * b


TABLES = {"table5": baseline, "table6": heterogeneity, "table7": instrumental, "table8": robustness,
          "table9": mediation}
__all__ = ["CONSTANT", "TABLES", "TableResult"]
