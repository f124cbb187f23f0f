"""Wild cluster bootstrap (WCR and WCU) of one coefficient of a fixed-effects regression.

Why hand-written: the maintained Python implementation, ``wildboottest`` (also what
pyfixest's ``Feols.wildboottest`` calls), takes the regressors as one dense matrix, so
absorbed effects have to enter as dense dummy columns; it then loops over the clusters in
Python and fills a G x G matrix.  Measured here: 5.6 s for 9,999 replications on the
3,102-row panel, and killed for memory at 57,000 rows with 3,000 clusters.  Stata's
``boottest`` and R's ``fwildclusterboot`` are not Python.  This module implements the same
bootstrap in the space of cluster sums (Roodman, MacKinnon, Nielsen and Webb, "Fast and
wild: bootstrap inference in Stata using boottest", Stata Journal 2019), with the effects
partialled out once by the package's own within transformation; ``tests/test_wild.py``
pins it to ``wildboottest`` (run on dense dummies) to 1e-12 under full enumeration.

Layers: ``wild_bootstrap`` (a DataFrame: checks, within transformation) -> ``cluster_pieces`` ->
``within_pieces`` (the lower-level entry point: within-transformed arrays and a ``Clusters``, the
sample's cluster, entity and time structure built once) -> ``wild_test`` (weights, p-values, the
inversion).  The multiverse calls ``within_pieces`` and ``wild_test`` directly, many regressions per
``Clusters`` and per set of weights.

The algebra.  Let X~ and y~ be the within-transformed regressors and outcome (two-way:
entity and time effects; the entity effects must be nested in the clusters, as city effects
are in city and in province clusters), rho = (X~'X~)^-1 e_j for the tested coefficient j,
and u~ the residuals of the bootstrap DGP: restricted (WCR, the null beta_j = r imposed:
beta~ = beta^ - rho (beta^_j - r) / rho_j, u~ = y~ - X~ beta~) or unrestricted (WCU, u^).
A draw multiplies the residuals of cluster g by v_g; y* = X~ beta~ + D alpha~ + u~ o v
is regressed again with the effects.  Because X~ is orthogonal to the dummies D,

    beta*_j - beta~_j = sum_g v_g c_g,        c_g = rho' X~_g' u~_g,

and the cluster scores of the bootstrap residuals u* = M_D(u~ o v) - X~ (beta* - beta~) are

    s*_g = v_g c_g - a_g' (X~'X~)^-1 S'v - q_g' b(v),

with S the G x k cluster sums X~_g'u~_g, a_g = X~_g'X~_g rho, q_g the T-vector of time sums of
X~ rho within cluster g, and b(v) the time effects of the projection of u~ o v on the dummies:
the entity sums of u~ o v are zero (the entity effects are nested in the clusters), so
b(v) = A_T^+ U'v with U the G x T time sums of u~ within each cluster and
A_T = diag(N_t) - sum_i d_i d_i' / T_i the time block of D'D with the entity effects
partialled out (d_i: the years entity i is observed).  The year term is what dense dummies
would give for the year effects, which are not nested in the clusters.  Each draw is
therefore a product of the draws x G weight matrix with G x (k + T) arrays computed once;
no N x G or N x (number of effects) matrix is ever formed and the memory of the bootstrap
grows with G (k + T), not N.  As functions of the null value r, c, S and U are affine, so
each draw yields five numbers from which t*(r) follows in closed form: the confidence
interval is found by test inversion at no further cost over the draws.

Conventions, as ``wildboottest`` and ``fwildclusterboot`` (boottest's defaults):
* the bootstrapped statistic is the cluster-robust t (WCR: of beta*_j - r; WCU: of
  beta*_j - beta^_j), with the same small-sample factor in t and t* (here Stata's,
  G/(G-1) (N-1)/(N-K) with K as in ``estimation.py``; it cancels in every p-value);
* p_symmetric = share of draws with |t*| > |t|, p_equal_tailed = 2 min(share t* > t,
  share t* < t), out of the draws (the original sample is not added); a draw whose |t*|
  equals |t| to a relative 1e-9 is a tie and does not count as more extreme (under WCR the
  all-plus and all-minus sign vectors of a full enumeration reproduce +-t exactly, and
  floating rounding would otherwise decide them);
* Rademacher weights +-1 (one bit of the seeded generator's raw 64-bit output per cluster) and
  Webb's six points +-sqrt(1/2), +-1, +-sqrt(3/2), equally likely; the draws do not depend on
  the block size in which they are processed; full enumeration of the 2^G Rademacher sign vectors when 2^G <= draws ('auto', as
  boottest and wildboottest decide it: every G <= 13 at 9,999 draws), which makes the
  p-value exact and free of the seed;
* the confidence interval is the set of nulls r with p_symmetric(r) > 1 - level, each end
  found by bisection between the estimate and the first rejected point of a doubling
  search (in steps of the cluster-robust standard error).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special

from replication.estimation import cluster_factor, within

WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
TIE = 1e-9  # relative tolerance under which |t*| and |t| are the same number
MAX_ENUMERATION = 24  # 2^24 sign vectors; beyond that enumeration is a mistake
CHUNK_CELLS = 4_000_000  # draws x clusters per block of weights (32 MB of float64)


@dataclass(frozen=True)
class WildResult:
    term: str
    estimate: float
    std_error: float  # cluster-robust, Stata's small-sample factor
    t_stat: float
    p_t: float  # the cluster-robust t test's p-value, t(G-1)
    p_symmetric: float
    p_equal_tailed: float
    ci_low: float
    ci_high: float
    level: float
    draws: int
    enumerated: bool
    nclusters: int
    nobs: int
    weights: str
    restricted: bool
    cluster: str

    def as_rows(self, prefix: str = "wild_") -> list[tuple[str, float]]:
        """(stat, value) pairs for a table's stats: <prefix>p (symmetric), p_et (equal-tailed),
        ci_low, ci_high, t_p (the cluster-robust t test's p beside it), draws, G."""
        return [(f"{prefix}p", self.p_symmetric), (f"{prefix}p_et", self.p_equal_tailed),
                (f"{prefix}ci_low", self.ci_low), (f"{prefix}ci_high", self.ci_high),
                (f"{prefix}t_p", self.p_t), (f"{prefix}draws", self.draws), (f"{prefix}G", self.nclusters)]


# ---------------------------------------------------------------------------- cluster-level pieces


@dataclass(frozen=True)
class ClusterPieces:
    """Everything a draw needs, as G-row arrays; c, M affine in the null value r (c0 + r c1)."""

    estimate: float
    scale: float  # sqrt(sum_g (rho' X~_g' u^_g)^2): the unadjusted cluster-robust SE
    ssc: float
    c0: np.ndarray  # G
    c1: np.ndarray  # G
    m0: np.ndarray  # G x m: [S (X~'X~)^-1, U A_T^+]
    m1: np.ndarray  # G x m
    n: np.ndarray  # G x m: [a, q]
    nobs: int

    @property
    def nclusters(self) -> int:
        return len(self.c0)

    @cached_property
    def _stacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """[c0, c1, M0, M1, c0 o N, c1 o N] (G x (2 + 4m)), N'N, and [c0^2, c0 c1, c1^2] (G x 3)."""
        stacked = np.column_stack([self.c0, self.c1, self.m0, self.m1, self.c0[:, None] * self.n,
                                   self.c1[:, None] * self.n])
        squares = np.column_stack([self.c0**2, self.c0 * self.c1, self.c1**2])
        return stacked, self.n.T @ self.n, squares

    @cached_property
    def _stacked_null(self) -> tuple[np.ndarray, np.ndarray, float]:
        """[c0, M0, c0 o N] (G x (1 + 2m)), N'N and sum c0^2: the part of `_stacked` at the null r = 0."""
        stacked = np.column_stack([self.c0, self.m0, self.c0[:, None] * self.n])
        return stacked, self.n.T @ self.n, float(np.sum(self.c0**2))

    def null_moments(self, v: np.ndarray, unit_weights: bool) -> np.ndarray:
        """``draw_moments`` at the null value r = 0 only (what the p-value needs; no inversion):
        [a, 0, pp, 0, 0], from one product of the weights with a G x (1 + 2m) array."""
        stacked, nn, square = self._stacked_null
        m = self.m0.shape[1]
        z = v @ stacked
        w0, y0 = z[:, 1 : 1 + m], z[:, 1 + m :]
        base = square if unit_weights else (v * v) @ (self.c0**2)
        out = np.zeros((len(v), 5))
        out[:, 0] = z[:, 0]
        out[:, 2] = base - 2 * np.einsum("bj,bj->b", w0, y0) + np.einsum("bj,bj->b", w0 @ nn, w0)
        return out

    def draw_moments(self, v: np.ndarray, unit_weights: bool) -> np.ndarray:
        """For a block of weights (draws x G): per draw the numerator (a + r d) and the sums of
        squares of the bootstrap scores (pp + 2 r pq + r^2 qq) -> draws x 5 [a, d, pp, pq, qq].

        With P = v o c0 - N W0, W0 = M0'v (and Q likewise from c1, M1), ||P||^2 = sum v^2 c0^2
        - 2 W0'Y0 + W0'N'N W0 with Y0 = (c0 o N)'v: one product of the weights with a G x (2 + 4m)
        array, never a draws x G intermediate.  `unit_weights` (Rademacher): v^2 = 1."""
        stacked, nn, squares = self._stacked
        m = self.m0.shape[1]
        z = v @ stacked
        a, d = z[:, 0], z[:, 1]
        w0, w1, y0, y1 = (z[:, 2 + i * m : 2 + (i + 1) * m] for i in range(4))
        base = np.broadcast_to(squares.sum(axis=0), (len(v), 3)) if unit_weights else (v * v) @ squares
        w0n, w1n = w0 @ nn, w1 @ nn
        out = np.empty((len(v), 5))
        out[:, 0], out[:, 1] = a, d
        out[:, 2] = base[:, 0] - 2 * np.einsum("bj,bj->b", w0, y0) + np.einsum("bj,bj->b", w0n, w0)
        out[:, 3] = (base[:, 1] - np.einsum("bj,bj->b", w0, y1) - np.einsum("bj,bj->b", w1, y0)
                     + np.einsum("bj,bj->b", w0n, w1))
        out[:, 4] = base[:, 2] - 2 * np.einsum("bj,bj->b", w1, y1) + np.einsum("bj,bj->b", w1n, w1)
        return out


def cluster_pieces(data: pd.DataFrame, y: str, x: list[str], term: str, cluster: str, entity: str,
                   time: str, effects: str, restricted: bool) -> ClusterPieces:
    """Partial out the effects once and reduce the regression to G-row arrays."""
    if term not in x:
        raise ValueError(f"wild bootstrap: term {term!r} is not among the regressors {x}")
    if effects not in ("twoway", "entity"):
        raise ValueError(f"wild bootstrap: effects={effects!r}; expected 'twoway' or 'entity'")
    columns = [y, *x, cluster, entity, time]
    missing = [c for c in dict.fromkeys(columns) if c not in data.columns]
    if missing:
        raise ValueError(f"wild bootstrap: columns {missing} not in the data")
    values = data[[y, *x]].to_numpy(float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"wild bootstrap: column {[y, *x][col]!r} is missing or infinite in "
                         f"{int(bad.any(axis=1).sum())} rows "
                         f"(first: {data.iloc[row][[entity, time]].to_dict()})")
    for name in dict.fromkeys([cluster, entity, time]):
        if data[name].isna().any():
            raise ValueError(f"wild bootstrap: identifier column {name!r} is missing in "
                             f"{int(data[name].isna().sum())} rows")
    structure = Clusters.build(data[cluster].to_numpy(), data[entity].to_numpy(), data[time].to_numpy(), effects,
                               names=(cluster, entity))
    transformed = within(values, data[entity].to_numpy(), data[time].to_numpy(), effects)
    return within_pieces(transformed[:, 0], transformed[:, 1:], x.index(term), structure, restricted)


@dataclass(frozen=True)
class Clusters:
    """The cluster, entity and time structure of one estimation sample: what every regression on the
    sample shares (built once, then ``within_pieces`` per regression).  Clusters are numbered in order
    of first appearance (the weights' columns follow that order), periods in sorted order."""

    cluster: np.ndarray  # cluster code of each row, 0..G-1
    time: np.ndarray  # period code of each row, 0..T-1
    n_clusters: int
    n_time: int
    effects: str
    by_cluster: sp.csr_matrix  # G x N: cluster sums
    time_inverse: np.ndarray | None  # A_T^+ (two-way effects only)

    @classmethod
    def build(cls, cluster: np.ndarray, entity: np.ndarray, time: np.ndarray, effects: str = "twoway",
              names: tuple[str, str] = ("cluster", "entity")) -> Clusters:
        """From the cluster, entity and period of each row; the entity effects must be nested in the
        clusters (`names` name the two columns in the error)."""
        if effects not in ("twoway", "entity"):
            raise ValueError(f"wild bootstrap: effects={effects!r}; expected 'twoway' or 'entity'")
        g_index = pd.factorize(cluster)[0]
        ent = pd.factorize(entity)[0]
        per_entity = pd.DataFrame({"e": ent, "g": g_index}).groupby("e")["g"].nunique()
        if (per_entity > 1).any():
            raise ValueError(f"wild bootstrap: the {names[1]} effects must be nested in the {names[0]} clusters; "
                             f"{int((per_entity > 1).sum())} {names[1]} values lie in more than one cluster")
        t_index = pd.factorize(time, sort=True)[0]
        n_obs = len(g_index)
        n_g, n_t = int(g_index.max()) + 1, int(t_index.max()) + 1
        by_cluster = sp.csr_matrix((np.ones(n_obs), (g_index, np.arange(n_obs))), shape=(n_g, n_obs))
        inverse = np.linalg.pinv(_time_block(ent, t_index, n_t)) if effects == "twoway" else None
        return cls(g_index, t_index, n_g, n_t, effects, by_cluster, inverse)

    def time_sums(self, columns: np.ndarray) -> np.ndarray:
        """G x T sums of `columns` (N, or N x c: G x T x c) within cluster and period."""
        cell = self.cluster * self.n_time + self.time
        if columns.ndim == 1:
            return np.bincount(cell, columns, self.n_clusters * self.n_time).reshape(self.n_clusters, self.n_time)
        sums = np.stack([np.bincount(cell, column, self.n_clusters * self.n_time) for column in columns.T], axis=1)
        return sums.reshape(self.n_clusters, self.n_time, columns.shape[1])


def within_pieces(yt: np.ndarray, xt: np.ndarray, j: int, clusters: Clusters, restricted: bool) -> ClusterPieces:
    """The lower-level entry point: one regression of the within-transformed (effects partialled out)
    outcome `yt` (N) on the within-transformed regressors `xt` (N x k), tested on column `j`, reduced
    to G-row arrays.  ``cluster_pieces`` (and so ``wild_bootstrap``) partial out and call it; the
    multiverse calls it on the columns it has already transformed, with one ``Clusters`` per sample."""
    n_obs, k = xt.shape
    n_g, n_t = clusters.n_clusters, clusters.n_time
    xx_inv = np.linalg.inv(xt.T @ xt)
    beta = xx_inv @ (xt.T @ yt)
    rho = xx_inv[:, j]
    resid = yt - xt @ beta
    x_rho = xt @ rho
    # bootstrap DGP residuals u~(r) = base + r slope
    if restricted:
        z = x_rho / rho[j]
        base, slope = resid + beta[j] * z, -z
    else:
        base, slope = resid, np.zeros(n_obs)
    # every cluster sum in one sparse product: x_rho o (resid, base, slope), X~ o x_rho, X~ o base, X~ o slope
    weighted = np.column_stack([x_rho * resid, x_rho * base, x_rho * slope, xt * x_rho[:, None],
                                xt * base[:, None], xt * slope[:, None]])
    sums = clusters.by_cluster @ weighted
    score_scale = float(np.sqrt(np.sum(sums[:, 0] ** 2)))
    n_cols = [sums[:, 3 : 3 + k]]
    m0 = [sums[:, 3 + k : 3 + 2 * k] @ xx_inv]
    m1 = [sums[:, 3 + 2 * k :] @ xx_inv]
    if clusters.effects == "twoway":
        a_inv = clusters.time_inverse
        by_time = clusters.time_sums(np.column_stack([x_rho, base, slope]))
        n_cols.append(by_time[:, :, 0])
        m0.append(by_time[:, :, 1] @ a_inv)
        m1.append(by_time[:, :, 2] @ a_inv)
    absorbed_time = n_t - 1 if clusters.effects == "twoway" else 0
    big_k = k + 1 + absorbed_time
    ssc = cluster_factor(n_g, n_obs, big_k) if n_g > 1 else float("nan")
    return ClusterPieces(
        estimate=float(beta[j]), scale=score_scale, ssc=ssc, c0=sums[:, 1], c1=sums[:, 2],
        m0=np.hstack(m0), m1=np.hstack(m1), n=np.hstack(n_cols), nobs=n_obs,
    )


def _time_block(entity_index: np.ndarray, t_index: np.ndarray, n_t: int) -> np.ndarray:
    """A_T = diag(N_t) - sum_i d_i d_i' / T_i: the time-effect block of D'D with the entity effects
    partialled out (T x T, from a sparse entity-by-time incidence matrix)."""
    n_e = entity_index.max() + 1
    incidence = sp.csr_matrix((np.ones(len(t_index)), (t_index, entity_index)), shape=(n_t, n_e))
    per_entity = np.asarray(incidence.sum(axis=0)).ravel()
    per_time = np.asarray(incidence.sum(axis=1)).ravel()
    scaled = incidence @ sp.diags(1.0 / per_entity)
    return np.diag(per_time) - (scaled @ incidence.T).toarray()


# ---------------------------------------------------------------------------- weights


def weight_blocks(n_clusters: int, weights: str, draws: int, seed: int, enumerate_all: bool):
    """Blocks (draws x G) of wild weights; the same draws whatever the block size."""
    block = max(1, CHUNK_CELLS // max(n_clusters, 1))
    if enumerate_all:
        total = 2**n_clusters
        bits = np.arange(n_clusters)
        for start in range(0, total, block):
            codes = np.arange(start, min(total, start + block))
            yield 1.0 - 2.0 * ((codes[:, None] >> bits) & 1)
        return
    rng = np.random.default_rng(seed)
    words = -(-n_clusters // 64)
    for start in range(0, draws, block):
        rows = min(block, draws - start)
        if weights == "rademacher":  # one 64-bit output of the generator per 64 clusters of a draw
            raw = rng.bit_generator.random_raw(rows * words).reshape(rows, words)
            bits = np.unpackbits(raw.view(np.uint8), axis=1, bitorder="little")[:, :n_clusters]
            yield 1.0 - 2.0 * bits
        else:  # one uniform per cluster and draw, cut into six equal parts
            yield WEBB[(rng.random((rows, n_clusters)) * 6).astype(int)]


# ---------------------------------------------------------------------------- p-values and inversion


def _t_boot(moments: np.ndarray, ssc: float, r: float) -> np.ndarray:
    a, d, pp, pq, qq = moments.T
    denom = ssc * (pp + 2 * r * pq + r * r * qq)
    return (a + r * d) / np.sqrt(np.maximum(denom, 0.0))


def _p_values(t: float, t_boot: np.ndarray) -> tuple[float, float]:
    tol = TIE * max(abs(t), 1e-300)
    p_sym = float(np.mean(np.abs(t_boot) > abs(t) + tol))
    above = np.mean(t_boot > t + tol)
    below = np.mean(t_boot < t - tol)
    return p_sym, float(2 * min(above, below))


def _invert(pieces: ClusterPieces, moments: np.ndarray, alpha: float) -> tuple[float, float]:
    se = pieces.scale * np.sqrt(pieces.ssc)

    def accepted(r: float) -> bool:
        t = (pieces.estimate - r) / se
        return _p_values(t, _t_boot(moments, pieces.ssc, r))[0] > alpha

    if not accepted(pieces.estimate):
        return float("nan"), float("nan")
    ends = []
    for sign in (-1.0, 1.0):
        inside, step = pieces.estimate, se
        outside = pieces.estimate + sign * step
        while accepted(outside):
            inside, step = outside, step * 2
            outside = pieces.estimate + sign * step
            if step > 1e12 * max(se, 1e-300):
                outside = float(sign * np.inf)
                break
        if np.isinf(outside):
            ends.append(outside)
            continue
        for _ in range(200):
            middle = 0.5 * (inside + outside)
            if middle in (inside, outside) or abs(outside - inside) <= 1e-13 * max(se, abs(middle)):
                break
            if accepted(middle):
                inside = middle
            else:
                outside = middle
        ends.append(0.5 * (inside + outside))
    return float(ends[0]), float(ends[1])


# ---------------------------------------------------------------------------- the public function


def wild_bootstrap(data: pd.DataFrame, y: str, x: list[str], term: str = "Dig", cluster: str = "city_code",
                   entity: str = "city_code", time: str = "year", effects: str = "twoway",
                   restricted: bool = True, weights: str = "rademacher", draws: int = 9999,
                   seed: int = 20240517, enumerate: str | bool = "auto", ci: bool = True,
                   level: float = 0.95) -> WildResult:
    """Wild cluster bootstrap test of `term` = 0 in the regression of y on x with absorbed effects.

    ``restricted`` True is WCR (the null imposed on the bootstrap DGP), False WCU.  ``weights``
    'rademacher' or 'webb'.  ``enumerate`` 'auto' enumerates all 2^G Rademacher sign vectors when
    2^G <= draws; True forces it (Rademacher only); False never.  The confidence interval (by test
    inversion of the symmetric p-value) is NaN when ``ci`` is False.
    """
    _check_settings(weights, enumerate, level)
    pieces = cluster_pieces(data, y, list(x), term, cluster, entity, time, effects, restricted)
    return wild_test(pieces, term=term, cluster=cluster, restricted=restricted, weights=weights, draws=draws,
                     seed=seed, enumerate=enumerate, ci=ci, level=level)


def _check_settings(weights: str, enumerate: str | bool, level: float) -> None:
    if weights not in ("rademacher", "webb"):
        raise ValueError(f"wild bootstrap: weights={weights!r}; expected 'rademacher' or 'webb'")
    if enumerate not in ("auto", True, False):
        raise ValueError(f"wild bootstrap: enumerate={enumerate!r}; expected 'auto', True or False")
    if not 0 < level < 1:
        raise ValueError(f"wild bootstrap: level={level}; expected a number in (0, 1)")


def enumerates(n_clusters: int, weights: str, draws: int, enumerate: str | bool = "auto") -> bool:
    """Whether the 2^G Rademacher sign vectors are enumerated instead of drawn."""
    if enumerate is True and weights != "rademacher":
        raise ValueError("wild bootstrap: full enumeration needs Rademacher weights")
    if enumerate is True and n_clusters > MAX_ENUMERATION:
        raise ValueError(f"wild bootstrap: full enumeration of 2^{n_clusters} sign vectors is too many "
                         f"(at most 2^{MAX_ENUMERATION})")
    enumerated = bool(enumerate is True or (enumerate == "auto" and weights == "rademacher"
                                            and n_clusters <= MAX_ENUMERATION and 2**n_clusters <= draws))
    if not enumerated and draws < 1:
        raise ValueError(f"wild bootstrap: draws={draws}; expected a positive number")
    return enumerated


def wild_test(pieces: ClusterPieces, term: str = "Dig", cluster: str = "city_code", restricted: bool = True,
              weights: str = "rademacher", draws: int = 9999, seed: int = 20240517, enumerate: str | bool = "auto",
              ci: bool = True, level: float = 0.95, blocks: list[np.ndarray] | None = None) -> WildResult:
    """The bootstrap of one regression already reduced to cluster pieces (``cluster_pieces`` or
    ``within_pieces``); `blocks` are the weight blocks of ``weight_blocks`` for these settings when the
    caller draws them once for many regressions on the same clusters (the same numbers either way)."""
    _check_settings(weights, enumerate, level)
    n_g = pieces.nclusters
    if n_g < 2:
        raise ValueError(f"wild bootstrap: {n_g} cluster in {cluster!r}; need at least 2")
    enumerated = enumerates(n_g, weights, draws, enumerate)
    if blocks is None:
        blocks = weight_blocks(n_g, weights, draws, seed, enumerated)
    moments_of = pieces.draw_moments if ci else pieces.null_moments
    moments = np.vstack([moments_of(v, weights == "rademacher") for v in blocks])
    se = pieces.scale * np.sqrt(pieces.ssc)
    t = pieces.estimate / se  # p_t below: t(G - 1) by scipy.stats.t.sf's own special function
    p_sym, p_et = _p_values(t, _t_boot(moments, pieces.ssc, 0.0))
    low, high = _invert(pieces, moments, 1 - level) if ci else (float("nan"), float("nan"))
    return WildResult(
        term=term, estimate=pieces.estimate, std_error=float(se), t_stat=float(t),
        p_t=float(2 * special.stdtr(n_g - 1, -abs(t))), p_symmetric=p_sym, p_equal_tailed=p_et,
        ci_low=low, ci_high=high, level=level, draws=len(moments), enumerated=enumerated,
        nclusters=n_g, nobs=pieces.nobs, weights=weights, restricted=restricted, cluster=cluster,
    )


# ---------------------------------------------------------------------------- the tables' rows

TABLE_CLUSTERS = (("city", "city_code"), ("province", "province"))


def table_rows(sample: pd.DataFrame, y: str, x: list[str], column: str, options, term: str = "Dig"
               ) -> list[tuple[str, str, float]]:
    """Stats rows (column, stat, value) of the wild cluster bootstrap (WCR) of `term` = 0 in one
    table column, clustered by city and by province: wild_<term>_<city|province>_<p, p_et, ci_low,
    ci_high, t_p, draws, G>.  Draws, weights and seed from ``Options`` (wild_draws, wild_weights,
    seed)."""
    rows = []
    for label, cluster in TABLE_CLUSTERS:
        if sample[cluster].nunique() < 2:  # one province (a small or regional sample): nothing to resample
            continue
        result = wild_bootstrap(sample, y, x, term=term, cluster=cluster, draws=options.wild_draws,
                                weights=options.wild_weights, seed=options.seed)
        # an interval unbounded on a side (too few clusters to reject any value there) is written blank;
        # the table's note says what a blank bound means
        rows += [(column, stat, value if np.isfinite(value) else np.nan)
                 for stat, value in result.as_rows(f"wild_{term}_{label}_")]
    return rows
