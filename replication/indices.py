"""The two indices: Dist (entropy weights, docs/METHODS.md section 3) and Dig (principal components, section 4).

Everything here is a pure function of a DataFrame.  ``analysis_frame`` turns
the panel into the estimation data (Dist, Dig, Dig_entropy, the mediator and
the controls) and keeps the index results for Tables 1, 3 and 4.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from statsmodels.stats.multivariate import test_cov_diagonal

from replication.config import Options


class IndexError_(ValueError):
    """Input an index cannot be computed from (named for what it is, not Python's IndexError)."""


# ---------------------------------------------------------------------------- entropy weights


@dataclass(frozen=True)
class EntropyResult:
    weights: pd.Series  # w_j, sum to one
    entropy: pd.Series  # e_j
    standardized: pd.DataFrame  # x'_rj in [0, 1]
    scores: pd.Series  # sum_j w_j x'_rj


def _check_matrix(data: pd.DataFrame, what: str) -> None:
    if len(data) < 2:
        raise IndexError_(f"{what}: needs at least two rows, got {len(data)}")
    missing = data.columns[data.isna().any()].tolist()
    if missing:
        row = data.index[data[missing[0]].isna()][0]
        raise IndexError_(f"{what}: missing value in indicator {missing[0]!r} (row {row!r}); expected none")
    negative = data.columns[(data < 0).any()].tolist()
    if negative:
        row = data.index[data[negative[0]] < 0][0]
        raise IndexError_(f"{what}: negative value in indicator {negative[0]!r} (row {row!r}); expected >= 0")
    constant = data.columns[data.max() == data.min()].tolist()
    if constant:
        raise IndexError_(f"{what}: indicator {constant[0]!r} is constant; min-max standardisation undefined")


def minmax(data: pd.DataFrame, negative: tuple[str, ...] = ()) -> pd.DataFrame:
    """x' = (x - min) / (max - min), or (max - x) / (max - min) for a negative indicator."""
    low, high = data.min(), data.max()
    out = (data - low) / (high - low)
    for column in negative:
        out[column] = (high[column] - data[column]) / (high[column] - low[column])
    return out


def entropy_weights(data: pd.DataFrame, negative: tuple[str, ...] = ()) -> EntropyResult:
    """Entropy-weight method of docs/METHODS.md section 3 on the rows of `data` (pooled).

    x' = min-max standardised x (reversed for `negative` indicators); p = x' / sum_r x';
    e_j = -(1 / ln m) sum_r p ln p with 0 ln 0 = 0; d_j = 1 - e_j; w_j = d_j / sum d_j;
    score_r = sum_j w_j x'_rj.
    """
    _check_matrix(data, "entropy_weights")
    unknown = set(negative) - set(data.columns)
    if unknown:
        raise IndexError_(f"entropy_weights: negative indicators {sorted(unknown)} are not columns of the data")
    x = minmax(data, negative)
    p = x / x.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    entropy = pd.Series(-plogp.sum(axis=0) / np.log(len(data)), index=data.columns)
    divergence = 1 - entropy
    weights = divergence / divergence.sum()
    return EntropyResult(weights=weights, entropy=entropy, standardized=x, scores=x @ weights)


def entropy_by(data: pd.DataFrame, years: pd.Series, pooling: str) -> EntropyResult:
    """Entropy weights over all rows ('pooled') or within each year ('by_year'; weights averaged
    over years for reporting, scores from each year's own weights)."""
    if pooling == "pooled":
        return entropy_weights(data)
    parts = {year: entropy_weights(data[years.to_numpy() == year]) for year in sorted(years.unique())}
    return EntropyResult(
        weights=pd.concat([p.weights for p in parts.values()], axis=1).mean(axis=1),
        entropy=pd.concat([p.entropy for p in parts.values()], axis=1).mean(axis=1),
        standardized=pd.concat([p.standardized for p in parts.values()]).reindex(data.index),
        scores=pd.concat([p.scores for p in parts.values()]).reindex(data.index),
    )


# ---------------------------------------------------------------------------- PCA


@dataclass(frozen=True)
class PCAResult:
    eigenvalues: pd.Series  # descending, sum to the number of indicators
    eigenvectors: pd.DataFrame  # indicators x components, sign-fixed
    variance_share: pd.Series
    cumulative_share: pd.Series
    kept: int
    weights: pd.Series  # indicator weights, sum to one
    kmo: float
    kmo_per_item: pd.Series
    bartlett_chi2: float
    bartlett_df: int
    bartlett_p: float
    standardized: pd.DataFrame
    scores: pd.Series


def kmo(data: pd.DataFrame) -> tuple[float, pd.Series]:
    """Kaiser-Meyer-Olkin measure of sampling adequacy (overall and per indicator).

    KMO = sum_{i!=j} r_ij^2 / (sum_{i!=j} r_ij^2 + sum_{i!=j} q_ij^2), with r the correlations and
    q the partial correlations from the inverse correlation matrix, q_ij = -P_ij / sqrt(P_ii P_jj).
    """
    r = np.corrcoef(data.to_numpy(), rowvar=False)
    inverse = np.linalg.inv(r)
    scale = np.sqrt(np.outer(np.diag(inverse), np.diag(inverse)))
    q = -inverse / scale
    off = ~np.eye(len(r), dtype=bool)
    r2, q2 = np.where(off, r**2, 0.0), np.where(off, q**2, 0.0)
    overall = r2.sum() / (r2.sum() + q2.sum())
    per_item = r2.sum(axis=0) / (r2.sum(axis=0) + q2.sum(axis=0))
    return float(overall), pd.Series(per_item, index=data.columns)


def pca_index(data: pd.DataFrame, options: Options) -> PCAResult:
    """Principal-component index of docs/METHODS.md section 4 on the rows of `data` (pooled city-years)."""
    _check_matrix(data, "pca_index")
    x = minmax(data)
    corr = np.corrcoef(x.to_numpy(), rowvar=False)
    values, vectors = np.linalg.eigh(corr)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    if options.pca_sign_rule == "loadings_sum_positive":
        flip = vectors.sum(axis=0) < 0
    else:
        flip = vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])] < 0
    vectors = vectors * np.where(flip, -1.0, 1.0)
    components = [f"PC{i + 1}" for i in range(len(values))]
    share = values / values.sum()
    cumulative = np.cumsum(share)
    kept = int(np.searchsorted(cumulative, options.pca_variance_target - 1e-12) + 1)
    if options.dig_recipe == "pca_first":
        kept = 1
    # coefficient = loading / sqrt(eigenvalue) = eigenvector entry; weight by variance share of kept
    raw = vectors[:, :kept] @ (share[:kept] / share[:kept].sum())
    weights = pd.Series(raw / raw.sum(), index=data.columns)
    overall, per_item = kmo(x)
    bartlett = test_cov_diagonal(np.cov(x.to_numpy(), rowvar=False), len(x))
    scores = x @ weights
    if options.dig_rescale == "minmax":
        scores = (scores - scores.min()) / (scores.max() - scores.min())
    return PCAResult(
        eigenvalues=pd.Series(values, index=components),
        eigenvectors=pd.DataFrame(vectors, index=data.columns, columns=components),
        variance_share=pd.Series(share, index=components),
        cumulative_share=pd.Series(cumulative, index=components),
        kept=kept,
        weights=weights,
        kmo=overall,
        kmo_per_item=per_item,
        bartlett_chi2=float(bartlett.statistic),
        bartlett_df=int(bartlett.df),
        bartlett_p=float(bartlett.pvalue),
        standardized=x,
        scores=scores,
    )


# ---------------------------------------------------------------------------- the paper's variables

DIST_FOUR = ("library", "teachers_per_pupil", "doctors", "beds")
DIST_SIX = ("mobile", "internet", *DIST_FOUR)
SHARED_INDICATORS = ("mobile", "internet")  # whole-city rates, the same in both areas
SHARED = "c_shared"  # their part of both area scores: a regressor under dist_indicators='six_shared_controlled'
DIG_INDICATORS = ("telecom_per_capita", "pku_index", "internet", "mobile", "ict_share")
# which panel columns feed each analysis variable (their fill flags are carried over)
SOURCES = {
    "Dist": ("pop_district", "pop_nonurban", "library_district", "library_nonurban",
             "teachers_primary_district", "teachers_primary_nonurban", "pupils_primary_district",
             "pupils_primary_nonurban", "doctors_district", "doctors_nonurban", "beds_district",
             "beds_nonurban"),
    "Dig": ("telecom_revenue_whole", "pop_whole", "pku_index", "internet_whole", "mobile_whole",
            "ict_share_whole"),
    "Isu": ("tertiary_share_whole",),
    "Ur": ("pop_whole", "pop_district"),
    "Stru": ("emp_tertiary_share_whole",),
    "lnper_gdp": ("gdp_whole", "pop_avg_whole"),
    "lnexpense": ("expenditure_whole",),
}
SOURCES["Dig_entropy"] = SOURCES["Dig"]


def winsorize(data: pd.DataFrame, share: float) -> pd.DataFrame:
    """Clip every column at its `share` and 1 - `share` quantiles (pooled over all rows)."""
    if share == 0:
        return data
    return data.clip(data.quantile(share), data.quantile(1 - share), axis=1)


def area_indicators(panel: pd.DataFrame, area: str, options: Options) -> pd.DataFrame:
    """The Dist indicators of one area ('district' or 'nonurban'), per 100 people where so defined."""
    pop = panel[f"pop_{area}"] * 1e4  # persons
    out = pd.DataFrame(index=panel.index)
    if options.dist_indicators.startswith("six"):
        # no split after 2011: both areas take the whole-city rate (METHODS section 3, the six-indicator option)
        people = panel["pop_whole"] * 1e4
        out["mobile"] = panel["mobile_whole"] * 1e4 / people * 100
        out["internet"] = panel["internet_whole"] * 1e4 / people * 100
    out["library"] = panel[f"library_{area}"] * 1e4 / pop * 100
    out["teachers_per_pupil"] = panel[f"teachers_primary_{area}"] / panel[f"pupils_primary_{area}"]
    out["doctors"] = panel[f"doctors_{area}"] / pop * 100
    out["beds"] = panel[f"beds_{area}"] / pop * 100
    return out


def dig_indicators(panel: pd.DataFrame) -> pd.DataFrame:
    people = panel["pop_whole"] * 1e4
    return pd.DataFrame({
        "telecom_per_capita": panel["telecom_revenue_whole"] * 1e4 / people,
        "pku_index": panel["pku_index"],
        "internet": panel["internet_whole"] * 1e4 / people * 100,
        "mobile": panel["mobile_whole"] * 1e4 / people * 100,
        "ict_share": panel["ict_share_whole"],
    }, index=panel.index)


@dataclass(frozen=True)
class DistResult:
    entropy: EntropyResult  # on the pooled district and non-urban rows
    score_district: pd.Series
    score_nonurban: pd.Series
    ratio: pd.Series  # R = non-urban / district; NaN where the district score is zero
    dist: pd.Series  # (R - 1)^2
    zero_district: pd.Index  # rows whose district score is zero (R undefined)
    shared: pd.Series | None = None  # six indicators: c, the shared whole-city part of both scores


def shared_term(pooled: pd.DataFrame, years: pd.Series, result: EntropyResult, pooling: str) -> pd.Series:
    """c = sum over the shared indicators of w_j x'_j, row by row (each year's own weights under 'by_year').

    Both areas take the whole-city rate, so after the pooled winsorising and min-max both rows of a
    city-year have the same x'_j and the same c: s_n = a_n + c and s_d = a_d + c."""
    columns = list(SHARED_INDICATORS)
    if pooling == "pooled":
        return result.standardized[columns] @ result.weights[columns]
    parts = []
    for year in sorted(years.unique()):
        rows = years.to_numpy() == year
        parts.append(result.standardized.loc[rows, columns] @ entropy_weights(pooled[rows]).weights[columns])
    return pd.concat(parts).reindex(pooled.index)


def dist_index(panel: pd.DataFrame, options: Options) -> DistResult:
    """Dist of docs/METHODS.md section 3: one entropy standardisation over both areas' rows."""
    district = area_indicators(panel, "district", options)
    nonurban = area_indicators(panel, "nonurban", options)
    pooled = winsorize(pd.concat([district, nonurban], keys=["district", "nonurban"]), options.winsorize)
    years = pd.concat([panel["year"], panel["year"]], keys=["district", "nonurban"])
    result = entropy_by(pooled, years, options.pooling)
    score_d = result.scores.loc["district"]
    score_n = result.scores.loc["nonurban"]
    shared = None
    if options.dist_indicators.startswith("six"):
        shared = shared_term(pooled, years, result, options.pooling).loc["district"].rename(SHARED)
        if options.dist_indicators == "six_shared_removed":
            score_d, score_n = score_d - shared, score_n - shared
        elif options.dist_indicators == "six_shared_fixed":
            level = shared.groupby(panel["city_code"].to_numpy()).transform("mean")
            score_d, score_n = score_d - shared + level, score_n - shared + level
    zero = score_d.index[score_d <= 0]
    ratio = (score_n / score_d.where(score_d > 0)).rename("R")
    return DistResult(result, score_d, score_n, ratio, ((ratio - 1) ** 2).rename("Dist"), zero, shared)


def dig_score(dig: PCAResult, dig_entropy: EntropyResult, options: Options) -> pd.Series:
    """Dig under options.dig_recipe: the PCA scores (kept components and rescaling set in pca_index),
    or the entropy composite, min-max rescaled under dig_rescale='minmax'."""
    if options.dig_recipe != "entropy":
        return dig.scores
    scores = dig_entropy.scores
    if options.dig_rescale == "minmax":
        scores = (scores - scores.min()) / (scores.max() - scores.min())
    return scores


@dataclass(frozen=True)
class Analysis:
    data: pd.DataFrame  # one row per city-year of the estimation sample
    dist: DistResult
    dig: PCAResult
    dig_entropy: EntropyResult
    options: Options
    small_nonurban: pd.DataFrame | None = None  # city-years min_nonurban_share leaves out (city, year, share)


def joined_flags(flags: pd.DataFrame) -> pd.Series:
    """Each row's distinct non-empty fill flags, sorted and joined by ';' ('' when none): the
    label is built once per distinct combination of flags (a few dozen), not once per row."""
    codes = flags.groupby(list(flags.columns), sort=False, dropna=False).ngroup().to_numpy()
    firsts = flags.iloc[np.unique(codes, return_index=True)[1]]  # ngroup numbers in order of appearance
    labels = np.array([";".join(sorted({v for v in row if v})) for row in firsts.itertuples(index=False)],
                      dtype=object)
    return pd.Series(labels[codes], index=flags.index)


def index_panel(panel: pd.DataFrame, options: Options) -> tuple[pd.DataFrame, pd.Series]:
    """The panel rows behind the indices, sorted by city and year (share_end_rule='none' leaves out
    the rows without the two carried shares), and which of them stay in the models
    (min_nonurban_share): Dig is standardised over all the rows, Dist over the kept ones."""
    panel = panel.sort_values(["city_code", "year"]).reset_index(drop=True)
    if options.share_end_rule == "none":
        panel = panel[panel["ict_share_whole"].notna() & panel["emp_tertiary_share_whole"].notna()]
        panel = panel.reset_index(drop=True)
    return panel, panel["pop_nonurban"] >= options.min_nonurban_share * panel["pop_whole"]


def analysis_frame(panel: pd.DataFrame, options: Options) -> Analysis:
    """Panel -> estimation data with Dist, Dig, Dig_entropy, Isu, Ur, Stru, lnper_gdp, lnexpense."""
    panel, trusted = index_panel(panel, options)
    dist = dist_index(panel[trusted], options)
    digital = winsorize(dig_indicators(panel), options.winsorize)
    dig = pca_index(digital, options)
    dig_entropy = entropy_by(digital, panel["year"], options.pooling)
    data = panel[["city_code", "city", "city_en", "province", "region", "year"]].copy()
    data["Dist"] = dist.dist.reindex(panel.index)
    if options.dist_indicators == "six_shared_controlled":
        data[SHARED] = dist.shared.reindex(panel.index)  # its fills are Dig's (mobile and broadband users): no flag of its own
    data["Dig"] = dig_score(dig, dig_entropy, options)
    data["Dig_entropy"] = dig_entropy.scores
    data["Isu"] = panel["tertiary_share_whole"] / 100
    data["Ur"] = panel["pop_district"] / panel["pop_whole"]
    data["Stru"] = panel["emp_tertiary_share_whole"] / 100
    data["lnper_gdp"] = np.log(panel["gdp_whole"] * 1e8 / (panel["pop_avg_whole"] * 1e4))
    data["lnexpense"] = np.log(panel["expenditure_whole"])
    for variable, columns in SOURCES.items():
        flags = [f"{c}_fill" for c in columns if f"{c}_fill" in panel.columns]
        data[f"{variable}_fill"] = joined_flags(panel[flags]) if flags else pd.Series("", index=panel.index)
    # min_nonurban_share: Dist is not computed for a sliver of a non-urban area, and the row leaves
    # every model (Dig is standardised over all rows, as before)
    share = panel["pop_nonurban"] / panel["pop_whole"]
    small = pd.DataFrame({"city": panel.loc[~trusted, "city"], "year": panel.loc[~trusted, "year"],
                          "nonurban_share": share[~trusted]}).reset_index(drop=True)  # empty when none is small
    data = data[trusted.to_numpy()].reset_index(drop=True)
    return Analysis(data=data, dist=dist, dig=dig, dig_entropy=dig_entropy, options=options, small_nonurban=small)


def with_dist(analysis: Analysis, panel: pd.DataFrame, options: Options) -> Analysis:
    """`analysis` (analysis_frame of `panel`) with Dist, and the shared term c, under `options`, which
    differ from analysis.options in dist_indicators only: Dig, Dig_entropy and the other columns are
    reused, the rows are analysis_frame's (index_panel)."""
    if replace(options, dist_indicators=analysis.options.dist_indicators) != analysis.options:
        raise ValueError("with_dist: the options differ in more than dist_indicators; call analysis_frame")
    rows, trusted = index_panel(panel, options)
    dist = dist_index(rows[trusted], options)
    kept = trusted.to_numpy()
    data = analysis.data.drop(columns=[SHARED], errors="ignore")
    data["Dist"] = dist.dist.reindex(rows.index).to_numpy()[kept]
    if options.dist_indicators == "six_shared_controlled":
        data.insert(data.columns.get_loc("Dist") + 1, SHARED, dist.shared.reindex(rows.index).to_numpy()[kept])
    return replace(analysis, data=data, dist=dist, options=options)
