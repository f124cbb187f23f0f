"""Inference a referee asks for beyond the tables' cluster-robust t (issue 23, items 1-5).

Every estimator takes the design (the regressors with the effects partialled out, the residuals,
the clusters, the coordinates) and returns a covariance or a test, so that the kernel
(``estimation``) can call it; the fits themselves come from ``estimation`` and ``models``.

* **Conley spatial HAC** (Conley 1999; Hsiang 2010's panel form).  With scores s_it = z_it u_it,

      meat = sum_t sum_{i,j} K(d_ij / c) s_it s_jt'                       (space, within a period)
           + sum_i sum_{t != s, |t-s| <= L} (1 - |t-s|/(L+1)) s_it s_is'   (time, within a unit)

  where d_ij is the great-circle distance between the units' centroids, c the cutoff, K the
  uniform (1 for d <= c) or Bartlett (1 - d/c) kernel; V = (Z'Z)^-1 meat (Z'Z)^-1, no
  small-sample factor (as Hsiang's ``ols_spatial_HAC``, acreg and conleyreg), normal p-values.
  Z is the within-transformed regressors (OLS) or their first-stage fit (2SLS), exactly as
  the sandwich of ``estimation``.  Neighbours come from a k-d tree on the unit sphere (chord
  radius 2 sin(c / 2R)); scores are summed by location and period first, so the cost grows
  with the neighbour pairs of the locations, never with N x N.
* **The cluster jackknife** (MacKinnon, Nielsen and Webb 2023; summclust).  On the design with
  the effects nested in the clusters partialled out and the others (the year effects) kept as
  dummies, b_(g) is the estimate without cluster g and

      CV3 = (G-1)/G sum_g (b_(g) - b)(b_(g) - b)',

  the leverage of cluster g is tr(X_g (X'X)^-1 X_g'), the partial leverage for a coefficient j is
  x~_g'x~_g / x~'x~ (x~: regressor j residualised on the others), and the effective number of
  clusters is G*(rho) = G / (1 + Gamma), Gamma = the squared coefficient of variation of
  gamma_g = w_g'[(1-rho) I + rho 11']w_g, w_g = X_g (X'X)^-1 e_j (Carter, Schnepel and
  Steigerwald 2017).
* **WRE** (Davidson and MacKinnon 2010), the wild restricted efficient bootstrap of a 2SLS
  coefficient with one endogenous regressor and one instrument, reduced to cluster sums
  (``wre_test``), with the confidence set by test inversion.
* **Wild restrictions** of Table 6's interacted model and the wild bootstrap of Table 9's a x b
  (``wild.py`` does the bootstrap), and ``inference_table``, "Table 5 (4) under other assumptions".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from scipy.spatial import cKDTree

from replication.config import Options
from replication.estimation import fit_iv, within
from replication.models import (CONTROLS, INSTRUMENT, REGIONS, complete_sample, fit, shared_control,
                                with_instrument)
from replication.wild import Clusters, enumerates, weight_blocks, wild_bootstrap, within_pieces

EARTH_RADIUS_KM = 6371.0
KERNELS = ("uniform", "bartlett")
CUTOFFS_KM = (100, 250, 500)
MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")  # province-level cities: the province's centroid


# ---------------------------------------------------------------------------- coordinates


def load_adcodes() -> pd.DataFrame:
    """cpca's table of Chinese divisions (adcode, name, longitude, latitude), a package resource."""
    with resources.files("cpca").joinpath("resources/adcodes.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype={"adcode": str})


def prefecture_coordinates(cities: pd.DataFrame, adcodes: pd.DataFrame) -> pd.DataFrame:
    """Centroid (longitude, latitude) of every city of `cities` (columns city_code, city, province),
    matched by name: the province by its name among cpca's province rows, the city by its name among
    that province's prefecture rows (a province-level municipality by the province's own row).
    Raises ValueError naming every city that does not match exactly one row."""
    codes = adcodes["adcode"].str.zfill(12)
    is_province = codes.str[2:] == "0" * 10
    is_prefecture = (codes.str[4:] == "0" * 8) & ~is_province
    province_prefix = dict(zip(adcodes.loc[is_province, "name"], codes[is_province].str[:2]))
    units = cities[["city_code", "city", "province"]].drop_duplicates("city_code")
    rows, unmatched = [], []
    for code, city, province in units.itertuples(index=False):
        prefix = province_prefix.get(province)
        if city == province and city in MUNICIPALITIES:
            hit = adcodes[is_province & (adcodes["name"] == city)]
        else:
            hit = adcodes[is_prefecture & (codes.str[:2] == prefix) & (adcodes["name"] == city)]
        if len(hit) != 1:
            unmatched.append(f"{city} ({province}, {code}): {len(hit)} matches")
            continue
        rows.append((code, float(hit["longitude"].iloc[0]), float(hit["latitude"].iloc[0])))
    if unmatched:
        raise ValueError(f"prefecture coordinates: {len(unmatched)} cities not matched to cpca's adcodes: "
                         + "; ".join(unmatched))
    return pd.DataFrame(rows, columns=["city_code", "longitude", "latitude"])


def unit_sphere(longitude: np.ndarray, latitude: np.ndarray) -> np.ndarray:
    """Points on the unit sphere (x, y, z) of degrees of longitude and latitude."""
    lon, lat = np.radians(longitude), np.radians(latitude)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def neighbour_pairs(longitude: np.ndarray, latitude: np.ndarray,
                    cutoff_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (a, b), a < b, of locations within `cutoff_km` along the great circle, and their
    distance in km: a k-d tree on the unit sphere queried at the chord 2 sin(c / 2R)."""
    points = unit_sphere(np.asarray(longitude, float), np.asarray(latitude, float))
    angle = min(cutoff_km / EARTH_RADIUS_KM, np.pi)
    chord = 2 * np.sin(angle / 2)
    pairs = cKDTree(points).query_pairs(chord * (1 + 1e-12), output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    gap = np.linalg.norm(points[a] - points[b], axis=1)
    distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(gap / 2, 1.0))
    keep = distance <= cutoff_km
    return a[keep], b[keep], distance[keep]


def kernel_weights(distance: np.ndarray, cutoff_km: float, kernel: str) -> np.ndarray:
    """K(d / c): 'uniform' 1, 'bartlett' 1 - d / c, for d <= c (pairs beyond c are not passed)."""
    if kernel == "uniform":
        return np.ones_like(distance)
    if kernel == "bartlett":
        return 1.0 - distance / cutoff_km
    raise ValueError(f"Conley kernel {kernel!r}: expected one of {KERNELS}")


# ---------------------------------------------------------------------------- Conley


def cell_sums(scores: np.ndarray, unit: np.ndarray, n_units: int, period: np.ndarray,
              n_periods: int) -> np.ndarray:
    """Scores summed by (unit, period): n_units x n_periods x k."""
    cell = unit * n_periods + period
    return np.stack([np.bincount(cell, scores[:, j], n_units * n_periods) for j in range(scores.shape[1])],
                    axis=1).reshape(n_units, n_periods, scores.shape[1])


def conley_meat(scores: np.ndarray, location: np.ndarray, coordinates: np.ndarray, time: np.ndarray,
                cutoff_km: float, kernel: str = "bartlett", lag: int = 0,
                entity: np.ndarray | None = None) -> np.ndarray:
    """The meat of the module docstring for scores (N x k); `location` gives each row's location
    code 0..L-1, `coordinates` (L x 2) the locations' longitude and latitude, `time` each row's
    period (lags count positions in the sorted periods), `entity` the unit of the serial part
    (default: the location)."""
    if lag < 0:
        raise ValueError(f"Conley: lag={lag}; expected 0 or more")
    location = np.asarray(location)
    n_locations = len(coordinates)
    period, periods = pd.factorize(np.asarray(time), sort=True)
    n_periods = len(periods)
    by_cell = cell_sums(scores, location, n_locations, period, n_periods)
    a, b, distance = neighbour_pairs(coordinates[:, 0], coordinates[:, 1], cutoff_km)
    w = kernel_weights(distance, cutoff_km, kernel)
    spatial = sp.csr_matrix((np.concatenate([w, w, np.ones(n_locations)]),
                             (np.concatenate([a, b, np.arange(n_locations)]),
                              np.concatenate([b, a, np.arange(n_locations)]))), shape=(n_locations,) * 2)
    k = scores.shape[1]
    lagged = (spatial @ by_cell.reshape(n_locations, -1)).reshape(n_locations, n_periods, k)
    meat = np.einsum("ltk,ltm->km", by_cell, lagged)
    if lag:
        if entity is None:
            series = by_cell
        else:
            units, labels = pd.factorize(np.asarray(entity))
            series = cell_sums(scores, units, len(labels), period, n_periods)
        for step in range(1, min(lag, n_periods - 1) + 1):
            gamma = np.einsum("utk,utm->km", series[:, step:], series[:, :-step])
            meat += (1 - step / (lag + 1)) * (gamma + gamma.T)
    return meat


def conley_cov(z: np.ndarray, resid: np.ndarray, location: np.ndarray, coordinates: np.ndarray,
               time: np.ndarray, cutoff_km: float, kernel: str = "bartlett", lag: int = 0,
               entity: np.ndarray | None = None) -> np.ndarray:
    """Conley covariance (Z'Z)^-1 meat (Z'Z)^-1 of the slopes; `z` the regressors of the bread
    (within-transformed X for OLS, their first-stage fit for 2SLS), `resid` the structural residuals."""
    bread = np.linalg.inv(z.T @ z)
    return bread @ conley_meat(z * resid[:, None], location, coordinates, time, cutoff_km, kernel, lag,
                               entity) @ bread


# ---------------------------------------------------------------------------- cluster jackknife


@dataclass(frozen=True)
class Jackknife:
    """CV3 and the cluster diagnostics of one regression (summclust's output)."""

    names: list[str]
    params: np.ndarray
    cov_cv3: np.ndarray  # (G-1)/G sum_g (b_(g) - b)(b_(g) - b)'
    clusters: pd.DataFrame  # cluster, nobs, leverage, partial_leverage, beta_loo (of `term`)
    term: str
    g_star: dict[float, float]  # rho -> G*(rho)

    @property
    def nclusters(self) -> int:
        return len(self.clusters)

    def std_error(self, term: str | None = None) -> float:
        j = self.names.index(term or self.term)
        return float(np.sqrt(self.cov_cv3[j, j]))


def cluster_jackknife(x: np.ndarray, y: np.ndarray, cluster: np.ndarray, names: list[str], term: str,
                      rhos: tuple[float, ...] = (0.0, 1.0)) -> Jackknife:
    """CV3, per-cluster leverage, partial leverage and leave-one-out coefficient of `term`, and G*,
    for the regression of y on x (the effects nested in the clusters already partialled out)."""
    codes, labels = pd.factorize(cluster)
    n_g = len(labels)
    if n_g < 2:
        raise ValueError(f"cluster jackknife: {n_g} cluster; need at least 2")
    j = names.index(term)
    xx, xy = x.T @ x, x.T @ y
    xx_inv = np.linalg.inv(xx)
    beta = xx_inv @ xy
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_g + 1))
    w = x @ xx_inv[:, j]  # w_i = x_i'(X'X)^-1 e_j; x~ / x~'x~ for the regressor j
    leave_out, leverage, partial, gammas, sizes = [], [], [], {rho: [] for rho in rhos}, []
    for g in range(n_g):
        rows = order[bounds[g] : bounds[g + 1]]
        xg, yg = x[rows], y[rows]
        leave_out.append(np.linalg.solve(xx - xg.T @ xg, xy - xg.T @ yg))
        leverage.append(float(np.einsum("ik,kl,il->", xg, xx_inv, xg)))
        wg = w[rows]
        partial.append(float(wg @ wg / xx_inv[j, j]))
        for rho in rhos:
            gammas[rho].append((1 - rho) * float(wg @ wg) + rho * float(wg.sum()) ** 2)
        sizes.append(len(rows))
    deviations = np.array(leave_out) - beta
    cv3 = (n_g - 1) / n_g * deviations.T @ deviations
    g_star = {rho: g_effective(np.array(values)) for rho, values in gammas.items()}
    table = pd.DataFrame({"cluster": labels, "nobs": sizes, "leverage": leverage, "partial_leverage": partial,
                          "beta_loo": np.array(leave_out)[:, j]})
    return Jackknife(list(names), beta, cv3, table, term, g_star)


def g_effective(gamma: np.ndarray) -> float:
    """G* = G / (1 + Gamma), Gamma = mean((gamma_g - mean gamma)^2) / mean(gamma)^2."""
    spread = np.mean((gamma - gamma.mean()) ** 2) / gamma.mean() ** 2
    return float(len(gamma) / (1 + spread))


# ---------------------------------------------------------------------------- WRE for 2SLS


def partial_out(w: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """M_W c for each column c: the residual of its projection on the exogenous regressors W."""
    if w.shape[1] == 0:
        return list(columns)
    stacked = np.column_stack(columns)
    return list((stacked - w @ np.linalg.lstsq(w, stacked, rcond=None)[0]).T)


@dataclass(frozen=True)
class WREPieces:
    """The cluster sums of one 2SLS regression (one endogenous y2, one instrument z, exogenous W
    partialled out: y1.., y2.., z..) from which WRE's t*(beta0) of any draw follows."""

    y1: np.ndarray  # M_W y1
    y2: np.ndarray  # M_W y2
    z: np.ndarray  # M_W z
    w: np.ndarray  # W (N x kW)
    ww_inv: np.ndarray
    n_clusters: int
    by_cluster: sp.csr_matrix  # G x N

    @classmethod
    def build(cls, y1, y2, z, w, cluster) -> WREPieces:
        codes, labels = pd.factorize(cluster)
        w = np.asarray(w, float).reshape(len(y1), -1)
        y1d, y2d, zd = partial_out(w, np.asarray(y1, float), np.asarray(y2, float), np.asarray(z, float))
        by_cluster = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                                   shape=(len(labels), len(codes)))
        ww_inv = np.linalg.pinv(w.T @ w) if w.shape[1] else np.zeros((0, 0))
        return cls(y1d, y2d, zd, w, ww_inv, len(labels), by_cluster)

    @property
    def estimate(self) -> float:
        return float(self.z @ self.y1 / (self.z @ self.y2))

    def std_error(self, ssc: float) -> float:
        """Cluster-robust SE of b, sqrt(ssc sum_g (z_g'u^_g)^2) / |z'y2|, u^ = y1.. - b y2.."""
        scores = self.by_cluster @ (self.z * (self.y1 - self.estimate * self.y2))
        return float(np.sqrt(ssc * scores @ scores) / abs(self.z @ self.y2))

    def wald_t(self, beta0: float, ssc: float) -> float:
        return (self.estimate - beta0) / self.std_error(ssc)

    def restricted_dgp(self, beta0: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(u~, v~, pi~) of WRE: u~ = M_W(y1 - beta0 y2); pi~ from y2.. on [z.., u~];
        v~ = y2.. - pi~ z.. (the u~ term kept in v~, as Davidson and MacKinnon 2010)."""
        u = self.y1 - beta0 * self.y2
        design = np.column_stack([self.z, u])
        pi = float(np.linalg.lstsq(design, self.y2, rcond=None)[0][0])
        return u, self.y2 - pi * self.z, pi


@dataclass(frozen=True)
class WREDraws:
    """The draws of WRE reduced, once, to what t*(beta0) needs at every null value beta0.

    With y2* = z pi~ + W d~ + v~ o v and y1* = beta0 y2* + W g~ + u~ o v re-estimated by 2SLS (z..'W
    = 0, so every term is a cluster sum), u~ = y1.. - beta0 y2.. and v~ = y2.. - pi~ z.. are affine in
    beta0 and pi~: b* - beta0 = v'(a0 + beta0 a1) / (pi~ z..'z.. + v'(b0 + pi~ b1)) with a = z_g'u~_g
    and b = z_g'v~_g, and the cluster scores z_g'(M_W y1* - b* M_W y2*) are a combination, with
    coefficients (1, beta0, -d pi~, -d, -d pi~), d = b* - beta0, of five draws x G arrays
    E0, E1, (z_g'z_g), F0, F1 (E = v o a - (v'S_u) Q', F = v o b - (v'S_v) Q', Q the rows
    (z_g'W_g)(W'W)^-1); their 5 x 5 Gram matrix per draw gives sum_g score_g^2 at any beta0."""

    pieces: WREPieces
    linear: np.ndarray  # draws x 4: v'a0, v'a1, v'b0, v'b1
    gram: np.ndarray  # draws x 5 x 5

    @classmethod
    def build(cls, pieces: WREPieces, v: np.ndarray, block: int = 1000) -> WREDraws:
        g, z, w = pieces.by_cluster, pieces.z, pieces.w
        a0, a1 = g @ (z * pieces.y1), -(g @ (z * pieces.y2))
        b0, b1 = g @ (z * pieces.y2), -(g @ (z * z))
        s = [g @ (w * column[:, None]) for column in (pieces.y1, -pieces.y2, pieces.y2, -z)]
        q = g @ (z[:, None] * w) @ pieces.ww_inv
        zz = g @ (z * z)
        linear = v @ np.column_stack([a0, a1, b0, b1])
        grams = []
        for first in range(0, len(v), block):
            part = v[first : first + block]
            basis = np.stack([part * a0 - (part @ s[0]) @ q.T, part * a1 - (part @ s[1]) @ q.T,
                              np.broadcast_to(zz, part.shape), part * b0 - (part @ s[2]) @ q.T,
                              part * b1 - (part @ s[3]) @ q.T], axis=2)
            grams.append(np.einsum("bgi,bgj->bij", basis, basis))
        return cls(pieces, linear, np.concatenate(grams))

    def t(self, beta0: float) -> np.ndarray:
        """t*(beta0) of every draw (no small-sample factor)."""
        pi = self.pieces.restricted_dgp(beta0)[2]
        zz_total = float(self.pieces.z @ self.pieces.z)
        numerator = self.linear[:, 0] + beta0 * self.linear[:, 1]
        denominator = pi * zz_total + self.linear[:, 2] + pi * self.linear[:, 3]
        delta = numerator / denominator
        ones = np.ones_like(delta)
        c = np.column_stack([ones, beta0 * ones, -delta * pi, -delta, -delta * pi])
        squares = np.einsum("bi,bij,bj->b", c, self.gram, c)
        return delta / (np.sqrt(np.maximum(squares, 0.0)) / np.abs(denominator))


@dataclass(frozen=True)
class WREResult:
    estimate: float
    std_error: float
    t_stat: float
    p_wald: float  # t(G-1)
    p_wre: float  # symmetric: share of |t*| > |t|
    p_wre_equal_tailed: float
    confidence_set: list[tuple[float, float]]  # union of intervals; +-inf when unbounded
    level: float
    draws: int
    enumerated: bool
    nclusters: int


def wre_p(draws: WREDraws, beta0: float) -> tuple[float, float, float]:
    """(t, symmetric p, equal-tailed p) of beta = beta0 (t without the small-sample factor, which
    cancels), the ties rule of ``wild.py``."""
    t = draws.pieces.wald_t(beta0, 1.0)
    t_star = draws.t(beta0)
    tol = 1e-9 * max(abs(t), 1e-300)
    p_sym = float(np.mean(np.abs(t_star) > abs(t) + tol))
    p_et = float(2 * min(np.mean(t_star > t + tol), np.mean(t_star < t - tol)))
    return t, p_sym, p_et


def wre_confidence_set(draws: WREDraws, level: float, se: float,
                       span: float = 20.0, grid: int = 81) -> list[tuple[float, float]]:
    """The set of beta0 with p_wre(beta0) > 1 - level: a grid over estimate +- span SE, each change
    of decision refined by bisection; an end still accepted at the grid's edge is unbounded."""
    alpha = 1 - level
    b = draws.pieces.estimate
    points = b + se * np.linspace(-span, span, grid)
    accept = np.array([wre_p(draws, r)[1] > alpha for r in points])

    def boundary(inside: float, outside: float) -> float:
        for _ in range(40):
            middle = 0.5 * (inside + outside)
            if wre_p(draws, middle)[1] > alpha:
                inside = middle
            else:
                outside = middle
        return 0.5 * (inside + outside)

    intervals, start = [], None
    for i, ok in enumerate(accept):
        if ok and start is None:
            start = -np.inf if i == 0 else boundary(points[i], points[i - 1])
        if not ok and start is not None:
            intervals.append((float(start), float(boundary(points[i - 1], points[i]))))
            start = None
    if start is not None:
        intervals.append((float(start), float(np.inf)))
    return intervals


def wre_test(y1, y2, z, w, cluster, beta0: float = 0.0, ssc: float | None = None, draws: int = 9999,
             seed: int = 20240517, weights: str = "rademacher", enumerate: str | bool = "auto",
             level: float = 0.95, confidence_set: bool = True) -> WREResult:
    """WRE test of beta = beta0 for the 2SLS coefficient of y2 (instrument z, exogenous W, the
    effects nested in the clusters partialled out beforehand), clustered by `cluster`; all 2^G
    sign vectors when 2^G <= draws ('auto', as ``wild.py``).  `ssc` is the small-sample factor of
    the reported SE and Wald p (default G/(G-1) (N-1)/(N-k), k = 1 + columns of W)."""
    pieces = WREPieces.build(y1, y2, z, w, cluster)
    n_g, n = pieces.n_clusters, len(pieces.y1)
    if n_g < 2:
        raise ValueError(f"WRE: {n_g} cluster; need at least 2")
    enumerated = enumerates(n_g, weights, draws, enumerate)
    v = np.vstack(list(weight_blocks(n_g, weights, draws, seed, enumerated)))
    ssc = n_g / (n_g - 1) * (n - 1) / (n - 1 - pieces.w.shape[1]) if ssc is None else ssc
    boot = WREDraws.build(pieces, v)
    t, p_sym, p_et = wre_p(boot, beta0)
    t_adjusted = t / np.sqrt(ssc)
    se = pieces.std_error(ssc)
    cs = wre_confidence_set(boot, level, se) if confidence_set else []
    return WREResult(estimate=pieces.estimate, std_error=se, t_stat=float(t_adjusted),
                     p_wald=float(2 * stats.t.sf(abs(t_adjusted), n_g - 1)), p_wre=p_sym,
                     p_wre_equal_tailed=p_et, confidence_set=cs, level=level, draws=len(v),
                     enumerated=enumerated, nclusters=n_g)


# ---------------------------------------------------------------------------- the paper's designs

CONLEY_LAG = 2  # years of serial correlation within a city in the Conley covariance (Bartlett weights)
RHOS = (0.0, 1.0)  # G*(rho): independent errors within a cluster, and perfectly correlated ones
CLUSTERINGS = (("city", "city_code"), ("province", "province"))


@dataclass(frozen=True)
class PanelFit:
    """A two-way FE regression of the tables with the arrays the variance estimators take."""

    sample: pd.DataFrame
    y: str
    x: list[str]
    fit: object  # estimation.FitResult, clustered by city
    xt: np.ndarray  # regressors with city and year effects partialled out (the bread's Z)
    resid: np.ndarray


def panel_fit(data: pd.DataFrame, y: str, x: list[str], options: Options) -> PanelFit:
    """The table's estimation sample (missing values and singletons dropped, models.complete_sample),
    the kernel's fit and the within-transformed regressors."""


    sample = complete_sample(data, [y, *x], options)[0].reset_index(drop=True)
    result = fit(sample, y, x, dataclasses.replace(options, cov_type="cluster_city"))
    entity, time = sample["city_code"].to_numpy(), sample["year"].to_numpy()
    xt = within(sample[x].to_numpy(float), entity, time, "twoway")
    return PanelFit(sample, y, list(x), result, xt, result.extra["resid"])


def city_locations(sample: pd.DataFrame, coordinates: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(location code of each row, L x 2 longitude-latitude) for the cities of `sample`."""
    codes, cities = pd.factorize(sample["city_code"])
    table = coordinates.set_index("city_code").reindex(cities)
    if table.isna().any().any():
        missing = [c for c, bad in zip(cities, table.isna().any(axis=1)) if bad]
        raise ValueError(f"Conley: no coordinates for cities {missing}")
    return codes, table[["longitude", "latitude"]].to_numpy(float)


def conley_rows(sample: pd.DataFrame, z: np.ndarray, resid: np.ndarray, names: list[str], term: str,
                estimate: float, coordinates: pd.DataFrame, cutoffs=CUTOFFS_KM, kernels=KERNELS,
                lag: int = CONLEY_LAG) -> list[dict]:
    """One row per kernel and cutoff: Conley SE of `term` and its normal p-value."""
    location, lonlat = city_locations(sample, coordinates)
    j = names.index(term)
    rows = []
    for kernel in kernels:
        for cutoff in cutoffs:
            cov = conley_cov(z, resid, location, lonlat, sample["year"].to_numpy(), cutoff, kernel, lag)
            se = float(np.sqrt(cov[j, j]))
            rows.append({"method": f"conley_{kernel}_{cutoff}km_lag{lag}", "estimate": estimate,
                         "std_error": se, "statistic": estimate / se,
                         "p_value": float(2 * stats.norm.sf(abs(estimate / se))), "nclusters": np.nan})
    return rows


def jackknife_arrays(sample: pd.DataFrame, y: str, x: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X, y, names) with the city effects (nested in city and in province clusters) partialled
    out and the year effects kept as dummies (the first year left out), as summclust needs."""
    years = pd.get_dummies(sample["year"], prefix="year", drop_first=True, dtype=float)
    values = np.column_stack([sample[[y, *x]].to_numpy(float), years.to_numpy()])
    demeaned = within(values, sample["city_code"].to_numpy(), sample["year"].to_numpy(), "entity")
    return demeaned[:, 1:], demeaned[:, 0], [*x, *years.columns]


def jackknife(fitted: PanelFit, cluster: str, term: str = "Dig") -> Jackknife:
    """cluster_jackknife of one table column, clustered by `cluster` (a column of the sample)."""
    x, y, names = jackknife_arrays(fitted.sample, fitted.y, fitted.x)
    return cluster_jackknife(x, y, fitted.sample[cluster].to_numpy(), names, term, RHOS)


def jackknife_rows(fitted: PanelFit, term: str = "Dig") -> list[dict]:
    """CV3 (t(G-1)) and G*(0), G*(1) rows, city and province clusters."""
    rows = []
    for label, cluster in CLUSTERINGS:
        result = jackknife(fitted, cluster, term)
        estimate, se, g = float(fitted.fit.params[term]), result.std_error(), result.nclusters
        rows.append({"method": f"cv3_{label}", "estimate": estimate, "std_error": se,
                     "statistic": estimate / se,
                     "p_value": float(2 * stats.t.sf(abs(estimate / se), g - 1)), "nclusters": g})
        rows += [{"method": f"g_star_rho{rho:g}_{label}", "statistic": value, "nclusters": g}
                 for rho, value in result.g_star.items()]
        top = int(result.clusters["partial_leverage"].to_numpy().argmax())
        rows.append({"method": f"max_partial_leverage_{label}",
                     "statistic": float(result.clusters["partial_leverage"].iloc[top]),
                     "nclusters": g, "note": str(result.clusters["cluster"].iloc[top])})
    return rows


def cluster_rows(fitted: PanelFit, options: Options, term: str = "Dig") -> list[dict]:
    """The kernel's cluster-robust t (city, province) and the WCR bootstrap (wild.py) of `term` = 0."""


    rows = []
    for label, cluster in CLUSTERINGS:
        clustered = dataclasses.replace(options, cov_type=f"cluster_{label}")
        result = fit(fitted.sample, fitted.y, fitted.x, clustered)
        rows.append({"method": f"cluster_{label}", "estimate": float(result.params[term]),
                     "std_error": float(result.std_errors[term]), "statistic": float(result.tstats[term]),
                     "p_value": float(result.pvalues[term]), "nclusters": result.nclusters})
        wild = wild_bootstrap(fitted.sample, fitted.y, fitted.x, term=term, cluster=cluster,
                              draws=options.wild_draws, weights=options.wild_weights, seed=options.seed)
        rows.append({"method": f"wcr_{label}", "estimate": wild.estimate, "std_error": np.nan,
                     "statistic": wild.t_stat, "p_value": wild.p_symmetric, "ci_low": wild.ci_low,
                     "ci_high": wild.ci_high, "nclusters": wild.nclusters})
    return rows


# ---------------------------------------------------------------------------- Table 7


@dataclass(frozen=True)
class IVFit:
    """Table 7's 2SLS with the arrays the variance estimators and WRE take."""

    sample: pd.DataFrame
    exog: list[str]
    result: object  # estimation.IVResult, clustered by city
    fitted: np.ndarray  # [first-stage fit of Dig, exog], within-transformed: the bread's Z
    resid: np.ndarray  # structural residuals


def iv_fit(data: pd.DataFrame, options: Options) -> IVFit:
    """Table 7's sample (models.with_instrument, missing values and singletons dropped) and 2SLS."""
    exog = [*CONTROLS, *shared_control(options)]
    sample = complete_sample(with_instrument(data), ["Dist", "Dig", INSTRUMENT, *exog], options)[0]
    sample = sample.reset_index(drop=True)
    result = fit_iv(sample, "Dist", "Dig", [INSTRUMENT], exog, "cluster", "twoway", options.dk_bandwidth,
                    None, drop_singletons=True)
    values = within(sample[[INSTRUMENT, *exog]].to_numpy(float), sample["city_code"].to_numpy(),
                    sample["year"].to_numpy(), "twoway")
    first = result.first.params[[INSTRUMENT, *exog]].to_numpy()
    fitted = np.column_stack([values @ first, values[:, 1:]])
    return IVFit(sample, exog, result, fitted, result.second.extra["resid"])


def iv_ssc(fitted: IVFit, n_clusters: int) -> float:
    """Stata's factor of the kernel's 2SLS: G/(G-1) (N-1)/(N-K), K = regressors + constant + years - 1."""
    n, years = len(fitted.sample), fitted.sample["year"].nunique()
    big_k = 1 + len(fitted.exog) + 1 + years - 1
    return n_clusters / (n_clusters - 1) * (n - 1) / (n - big_k)


def iv_wre(fitted: IVFit, cluster: str, options: Options, confidence_set: bool = True) -> WREResult:
    """WRE of Dig's 2SLS coefficient = 0 (Table 7), the city effects partialled out and the year
    effects as dummies among the exogenous regressors."""
    x, y, names = jackknife_arrays(fitted.sample, "Dist", ["Dig", INSTRUMENT, *fitted.exog])
    groups = fitted.sample[cluster].to_numpy()
    return wre_test(y, x[:, 0], x[:, 1], x[:, 2:], groups, 0.0, iv_ssc(fitted, pd.Series(groups).nunique()),
                    options.wild_draws, options.seed, options.wild_weights, confidence_set=confidence_set)


def iv_rows(data: pd.DataFrame, options: Options, coordinates: pd.DataFrame) -> list[dict]:
    """Table 7's Dig: Wald (the kernel's, city clusters), WRE (city, province), AR, Conley."""
    second = (fitted := iv_fit(data, options)).result.second
    estimate = float(second.params["Dig"])
    rows = [{"method": "cluster_city", "estimate": estimate, "std_error": float(second.std_errors["Dig"]),
             "statistic": float(second.tstats["Dig"]), "p_value": float(second.pvalues["Dig"]),
             "nclusters": second.nclusters}]
    for label, cluster in CLUSTERINGS:
        wre = iv_wre(fitted, cluster, options)
        if label != "city":
            rows.append({"method": f"cluster_{label}", "estimate": estimate, "std_error": wre.std_error,
                         "statistic": wre.t_stat, "p_value": wre.p_wald, "nclusters": wre.nclusters})
        ends = wre.confidence_set
        low, high = (ends[0][0], ends[-1][1]) if ends else (np.nan, np.nan)
        rows.append({"method": f"wre_{label}", "estimate": estimate, "statistic": wre.t_stat,
                     "p_value": wre.p_wre, "ci_low": low, "ci_high": high, "nclusters": wre.nclusters,
                     "note": confidence_note(wre.confidence_set)})
    diagnostics = fitted.result.diagnostics
    rows.append({"method": "anderson_rubin", "statistic": diagnostics["ar_F"],
                 "p_value": diagnostics["ar_F_p"],
                 "nclusters": second.nclusters, "note": "F(1, G-1) of L2.Dig in the reduced form"})
    rows += conley_rows(fitted.sample, fitted.fitted, fitted.resid, ["Dig", *fitted.exog], "Dig", estimate,
                        coordinates)
    return rows


def confidence_note(intervals: list[tuple[float, float]]) -> str:
    """The confidence set as text: a union of intervals, 'empty' when none."""
    return " U ".join(f"[{low:.6g}, {high:.6g}]" for low, high in intervals) or "empty"


# ---------------------------------------------------------------------------- Table 6 and Table 9


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest p times (m - i + 1), made monotone, capped at 1."""
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    out = np.empty(len(p))
    out[order] = adjusted
    return out.tolist()


def interacted_frame(data: pd.DataFrame, x: list[str], options: Options) -> pd.DataFrame:
    """Table 6's regions in one frame: each region's estimation sample (as its column of Table 6), a
    region-by-year identifier (region-specific year effects) and every regressor times each region
    (`<name>_<region>`), so that the fit is the three regional regressions at once."""
    parts = [complete_sample(data[data["region"] == region], ["Dist", *x], options)[0] for region in REGIONS]
    frame = pd.concat(parts, ignore_index=True)
    frame["region_year"] = frame["region"] + "_" + frame["year"].astype(str)
    for region in REGIONS:
        inside = (frame["region"] == region).to_numpy(float)
        for name in x:
            frame[f"{name}_{region}"] = frame[name].to_numpy(float) * inside
    return frame


def regional_differences(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """WCR tests of Dig(a) = Dig(b) for Table 6's three pairs, as restrictions of the interacted
    model (clustered by city and by province; the regions nest both), with Holm's adjustment
    across the three pairs within each clustering."""
    x = ["Dig", *CONTROLS, *shared_control(options)]
    frame = interacted_frame(data, x, options)
    rows = []
    for label, cluster in CLUSTERINGS:
        found = []
        for position, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
            first, second = REGIONS[a], REGIONS[b]
            third = REGIONS[3 - a - b]
            frame["Dig_pair"] = frame[f"Dig_{first}"] + frame[f"Dig_{second}"]
            slopes = [f"Dig_{first}", "Dig_pair", f"Dig_{third}"]  # Dig_<first> is Dig(a) - Dig(b)
            others = [f"{name}_{region}" for name in x[1:] for region in REGIONS]
            wild = wild_bootstrap(frame, "Dist", [*slopes, *others], term=f"Dig_{first}", cluster=cluster,
                                  time="region_year", draws=options.wild_draws, weights=options.wild_weights,
                                  seed=options.seed)
            found.append({"term": f"Dig({first}) - Dig({second})", "estimate": wild.estimate,
                          "std_error": wild.std_error, "statistic": wild.t_stat, "p_value": wild.p_t,
                          "wcr_p": wild.p_symmetric, "ci_low": wild.ci_low, "ci_high": wild.ci_high,
                          "nclusters": wild.nclusters})
        for method, key in ((f"cluster_{label}", "p_value"), (f"wcr_{label}", "wcr_p")):
            p_values = [row[key] for row in found]
            for row, p, adjusted in zip(found, p_values, holm(p_values)):
                base = {name: value for name, value in row.items() if name != "wcr_p"}
                if key == "p_value":
                    base |= {"ci_low": np.nan, "ci_high": np.nan}
                rows += [{**base, "method": method, "p_value": p},
                         {**base, "method": f"{method}_holm", "p_value": adjusted}]
    return pd.DataFrame(rows)


def indirect_effect(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Wild inference for Table 9's a x b, clustered by city and by province: the percentile
    interval and p-value of a* b* from the unrestricted wild cluster bootstrap (WCU) of both paths
    with the same weights, and the joint-significance (intersection-union) p = max(p_a, p_b) of
    the two WCR tests, valid for a x b = 0 since a x b = 0 whenever a = 0 or b = 0."""
    x = ["Dig", *CONTROLS, *shared_control(options)]
    paths = {"a": ("Isu", x, "Dig"), "b": ("Dist", ["Dig", "Isu", *x[1:]], "Isu")}
    sample = complete_sample(data, ["Dist", "Isu", *x], options)[0].reset_index(drop=True)
    entity, time = sample["city_code"].to_numpy(), sample["year"].to_numpy()
    rows = []
    for label, cluster in CLUSTERINGS:
        structure = Clusters.build(sample[cluster].to_numpy(), entity, time, "twoway")
        enumerated = enumerates(structure.n_clusters, options.wild_weights, options.wild_draws)
        v = np.vstack(list(weight_blocks(structure.n_clusters, options.wild_weights, options.wild_draws,
                                         options.seed, enumerated)))
        estimates, draws, p_wcr = {}, {}, {}
        for path, (y, regressors, term) in paths.items():
            values = within(sample[[y, *regressors]].to_numpy(float), entity, time, "twoway")
            pieces = within_pieces(values[:, 0], values[:, 1:], regressors.index(term), structure, False)
            estimates[path], draws[path] = pieces.estimate, pieces.estimate + v @ pieces.c0
            p_wcr[path] = wild_bootstrap(sample, y, regressors, term=term, cluster=cluster,
                                         draws=options.wild_draws, weights=options.wild_weights,
                                         seed=options.seed, ci=False).p_symmetric
        ab, product = estimates["a"] * estimates["b"], draws["a"] * draws["b"]
        low, high = np.percentile(product, [2.5, 97.5])
        p_percentile = float(min(1.0, 2 * min(np.mean(product <= 0), np.mean(product >= 0))))
        g = structure.n_clusters
        rows += [{"term": "a*b", "method": f"wcu_percentile_{label}", "estimate": ab, "p_value": p_percentile,
                  "ci_low": float(low), "ci_high": float(high), "nclusters": g},
                 {"term": "a*b", "method": f"joint_wcr_{label}", "estimate": ab,
                  "p_value": max(p_wcr.values()),
                  "nclusters": g, "note": f"p_a = {p_wcr['a']:.4g}, p_b = {p_wcr['b']:.4g}"}]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- the table

TABLE_COLUMNS = ["table", "term", "method", "estimate", "std_error", "statistic", "p_value", "ci_low",
                 "ci_high", "nclusters", "note"]


def inference_table(data: pd.DataFrame, options: Options, coordinates: pd.DataFrame, cutoffs=CUTOFFS_KM,
                    kernels=KERNELS, lag: int = CONLEY_LAG) -> pd.DataFrame:
    """"Table 5 (4) under other assumptions" and its companions, one row per (table, term, method):
    Table 5 (4)'s Dig clustered by city and by province, CV3, G*, Conley at each kernel and cutoff,
    WCR; Table 6's three regional differences (WCR, Holm); Table 7's Dig (Wald, WRE, AR, Conley);
    Table 9's a x b.  `data` is the analysis frame (indices.analysis_frame(...).data), `coordinates`
    prefecture_coordinates(...) of its cities."""
    x = ["Dig", *CONTROLS, *shared_control(options)]
    baseline = panel_fit(data, "Dist", x, options)
    estimate = float(baseline.fit.params["Dig"])
    table5 = [*cluster_rows(baseline, options), *jackknife_rows(baseline),
              *conley_rows(baseline.sample, baseline.xt, baseline.resid, x, "Dig", estimate, coordinates,
                           cutoffs, kernels, lag)]
    parts = [pd.DataFrame(table5).assign(table="Table 5 (4)", term="Dig"),
             regional_differences(data, options).assign(table="Table 6"),
             pd.DataFrame(iv_rows(data, options, coordinates)).assign(table="Table 7", term="Dig"),
             indirect_effect(data, options).assign(table="Table 9")]
    return pd.concat(parts, ignore_index=True).reindex(columns=TABLE_COLUMNS)


def cluster_diagnostics(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Per cluster (city and province) leverage, partial leverage for Dig (or Dig_entropy) and the
    leave-one-cluster-out coefficient, for Table 5 (4), Table 6's regions and Table 8 (2)."""
    extra = shared_control(options)
    columns = {"Table 5 (4)": (data, "Dig"), "Table 8 (2)": (data, "Dig_entropy")}
    columns |= {f"Table 6 {region}": (data[data["region"] == region], "Dig") for region in REGIONS}
    parts = []
    for name, (frame, term) in columns.items():
        fitted = panel_fit(frame, "Dist", [term, *CONTROLS, *extra], options)
        for label, cluster in CLUSTERINGS:
            if fitted.sample[cluster].nunique() < 2:
                continue
            result = jackknife(fitted, cluster, term)
            parts.append(result.clusters.assign(table=name, clustering=label, term=term,
                                                 g_star_rho0=result.g_star[0.0], cv3_se=result.std_error()))
    return pd.concat(parts, ignore_index=True)
