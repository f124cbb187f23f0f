"""Fixed-effects OLS and 2SLS with Stata's inference conventions.

The slopes are OLS on the within-transformed data: a closed form for a
balanced panel (x - x_i. - x_.t + x..) and, for an unbalanced one, an exact
transformation without iteration (`within_exact`: city means, then the year
effects from the T x T system of city-demeaned year indicators, by
Frisch-Waugh-Lovell).  It is hand-written because pyhdfe and pyfixest iterate
to a tolerance (pyfixest's default 1e-8 leaves differences near 1e-8 in the
Table 5-9 standard errors on unbalanced samples) and are slower on few periods; pyhdfe's alternating
projections (reghdfe's algorithm) remain the fallback when both dimensions have
more than EXACT_MAX_LEVELS levels.  ``tests/test_fast.py`` pins the exact path
to pyhdfe, linearmodels' PanelOLS and pyfixest at 1e-10 on ragged panels.  The
constant is Stata's fixed-effects constant, ybar - xbar'b, from the regression
of the within-transformed data with the grand means added back (as ``xtreg, fe``).

Speed: a balanced panel sorted by entity and time (the usual layout) is recognised by comparisons
(no hashing) and reshaped to the G x T grid (no scatter), with the arithmetic of the scatter, so
the bits do not depend on the path; y's entity-demeaned values for the R² come from the same pass.

Samples: rows with a missing value in a model variable are dropped and counted
(``n_dropped_missing``); with ``drop_singletons`` (the tables) rows alone in a
city or a year are dropped, iteratively, as reghdfe does (``n_singletons``).

R-squared: ``rsquared_within`` is reghdfe's and fixest's within R², 1 - SSR over
the sum of squares of y with every absorbed effect partialled out;
``rsquared_within_entity`` partials out the entity only (``xtreg, fe``'s
"within", which counts the year effects as explained); ``rsquared`` is the
overall R² about the mean with the dummies counted (LSDV, ``ivregress`` with
``i.city i.year``).

Covariances (``cov_type``):

* ``cluster``: (Z'Z)^-1 sum_g Z_g'e_g e_g'Z_g (Z'Z)^-1 x G/(G-1) x (N-1)/(N-K), where Z is the
  regressors with the constant and K counts them plus every absorbed effect *not* nested in
  the clusters (the year effects; city effects are nested in city and in province clusters).
  t and F use G-1 denominator degrees of freedom.  This is ``xtreg, fe vce(cluster)`` and
  ``reghdfe, absorb(city year) vce(cluster)``; linearmodels' own options give a different
  factor (docs/METHODS.md section 5), so its unadjusted sandwich is scaled here.
* ``unadjusted``: s^2 (Z'Z)^-1 with s^2 = SSR/(N-K), K counting every absorbed effect
  (``xtreg, fe`` conventional); with ``small=False``, SSR/N (``ivregress`` without ``small``).
* ``robust``: HC1, N/(N-K) with K counting every absorbed effect (``reghdfe, vce(robust)``).
* ``driscoll_kraay``: Bartlett-kernel sum of the cross-sectional score sums over lags
  0..bandwidth, no small-sample factor (linearmodels' ``kernel`` covariance), t with T-1 df.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import pyhdfe
from scipy import stats

CONSTANT = "_cons"


@dataclass(frozen=True)
class FitResult:
    """One regression, with the names linearmodels uses."""

    params: pd.Series
    cov: pd.DataFrame
    nobs: int
    df_resid: int  # denominator degrees of freedom of t and F
    rsquared_within: float  # 1 - SSR / (y after partialling out every absorbed effect)^2, as reghdfe/fixest
    cov_type: str
    nclusters: int | None
    extra: dict = field(default_factory=dict)
    rsquared: float = float("nan")  # overall: 1 - SSR / TSS about the mean, the dummies counted (LSDV)
    rsquared_within_entity: float = float("nan")  # 1 - SSR / (y demeaned by entity)^2, as xtreg, fe
    mean_dep: float = float("nan")  # mean of the dependent variable in the estimation sample
    n_dropped_missing: int = 0  # rows dropped for a missing value in a model variable
    n_singletons: int = 0  # rows dropped as singletons (reghdfe's rule)

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov)), index=self.params.index)

    @property
    def tstats(self) -> pd.Series:
        return self.params / self.std_errors

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * stats.t.sf(np.abs(self.tstats), self.df_resid), index=self.params.index)

    def wald(self, restriction: np.ndarray) -> tuple[float, float]:
        """F statistic and p-value of R b = 0 (rows of `restriction` against params)."""
        r = np.atleast_2d(restriction)
        value = r @ self.params.to_numpy()
        middle = r @ self.cov.to_numpy() @ r.T
        f = float(value @ np.linalg.solve(middle, value) / r.shape[0])
        return f, float(stats.f.sf(f, r.shape[0], self.df_resid))

    def tidy(self) -> pd.DataFrame:
        return pd.DataFrame({
            "term": self.params.index, "estimate": self.params.to_numpy(),
            "std_error": self.std_errors.to_numpy(), "t_stat": self.tstats.to_numpy(),
            "p_value": self.pvalues.to_numpy(),
        })


# ---------------------------------------------------------------------------- within transformation

#: Above this many levels in the smaller of the two absorbed dimensions the exact T x T system is
#: no longer cheap (T^3 and a T x T dense matrix); pyhdfe's alternating projections take over.
EXACT_MAX_LEVELS = 2_000


def level_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes 0..n-1 of the levels of `values` (in order of appearance; hashing, not sorting)."""
    index, levels = pd.factorize(values)
    return index, len(levels)


def group_sums(index: np.ndarray, matrix: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of `matrix` (rows x k) by group code -> n_groups x k."""
    return np.column_stack([np.bincount(index, weights=matrix[:, j], minlength=n_groups)
                            for j in range(matrix.shape[1])]) if matrix.shape[1] else np.zeros((n_groups, 0))


Codes = tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]  # (entity codes, levels), (time codes, levels)


def panel_codes(entity: np.ndarray, time: np.ndarray) -> Codes:
    """level_codes of both identifiers; a panel sorted by entity and time (the usual layout) is
    recognised in a few vectorised comparisons instead of two hash passes, with the same codes."""
    return _sorted_grid_codes(entity, time) or (level_codes(entity), level_codes(time))


def _sorted_grid_codes(entity: np.ndarray, time: np.ndarray) -> Codes | None:
    """The codes of a balanced panel whose rows are sorted by entity and then time, both strictly
    ascending within their blocks (what level_codes gives: 0,0,..,1,1,.. and 0..T-1 repeated),
    or None when the rows are laid out otherwise."""
    n = len(entity)
    if n < 2 or len(time) != n:
        return None
    try:
        changes = np.flatnonzero(entity[1:] != entity[:-1])
        t = int(changes[0]) + 1 if len(changes) else n
        if n % t or len(changes) != n // t - 1:
            return None
        g = n // t
        first_times, first_entities = time[:t], entity[::t]
        ordered = (bool((first_times[1:] > first_times[:-1]).all())
                   and bool((first_entities[1:] > first_entities[:-1]).all())
                   and bool((changes == np.arange(t - 1, n - 1, t)).all())
                   and bool((time.reshape(g, t) == first_times).all()))
    except TypeError:  # identifiers without an order
        return None
    if not ordered:
        return None
    return (np.repeat(np.arange(g), t), g), (np.tile(np.arange(t), g), t)


def is_balanced(entity: np.ndarray, time: np.ndarray, codes: Codes | None = None) -> bool:
    (e_index, g), (t_index, t) = codes or panel_codes(entity, time)
    if len(entity) != g * t:
        return False
    return bool((np.bincount(e_index * t + t_index, minlength=g * t) == 1).all())


def grid_order(entity: np.ndarray, time: np.ndarray, codes: Codes) -> bool:
    """True when the rows are a balanced panel sorted by entity and then by time, both ascending
    (entity codes 0,0,..,1,1,.. and time codes 0..T-1 repeated, in order of appearance), so that
    the data reshape to the G x T grid without a scatter, with the grid's rows and columns in
    sorted order (the order the scatter uses, so the two give the same bits)."""
    (e_index, g), (t_index, t) = codes
    n_rows = len(e_index)
    if n_rows != g * t or n_rows == 0:
        return False
    if not ((e_index.reshape(g, t) == np.arange(g)[:, None]).all()
            and (t_index.reshape(g, t) == np.arange(t)).all()):
        return False
    first_entities, first_times = entity[::t], time[:t]
    return bool((first_entities[1:] > first_entities[:-1]).all()
                and (first_times[1:] > first_times[:-1]).all())


def _within_grid(matrix: np.ndarray, g: int, t: int, effects: str) -> tuple[np.ndarray, np.ndarray]:
    """(within-transformed, first column demeaned by entity only) of rows laid out as the G x T
    grid: the closed form's arithmetic, (x - x_i.) - x_.t + x.., on a C-order reshape (the order
    of the sums of the scatter), in place where the reshape had to copy."""
    view = matrix.reshape(g, t, matrix.shape[1])
    grid = np.ascontiguousarray(view)
    entity_means = grid.mean(axis=1, keepdims=True)
    if effects == "twoway":
        time_means, grand_mean = grid.mean(axis=0, keepdims=True), grid.mean(axis=(0, 1), keepdims=True)
    out = np.subtract(grid, entity_means, out=grid if grid is not view else None)
    first_by_entity = out[:, :, 0].ravel().copy() if out.shape[2] else None
    if effects == "twoway":
        out -= time_means
        out += grand_mean
    return out.reshape(g * t, -1), first_by_entity


def within_balanced(matrix: np.ndarray, entity: np.ndarray, time: np.ndarray, effects: str,
                    codes: Codes | None = None) -> np.ndarray:
    """Closed-form within transformation of a balanced panel (rows in any order; rows sorted by
    entity and time are reshaped in place of the scatter into the grid, with the same arithmetic)."""
    codes = codes or panel_codes(entity, time)
    if grid_order(entity, time, codes):
        return _within_grid(matrix, codes[0][1], codes[1][1], effects)[0]
    e_index, e_codes = pd.factorize(entity, sort=True)
    t_index, t_codes = pd.factorize(time, sort=True)
    g, t = len(e_codes), len(t_codes)
    grid = np.full((g, t, matrix.shape[1]), np.nan)
    grid[e_index, t_index] = matrix
    out = grid - grid.mean(axis=1, keepdims=True)
    if effects == "twoway":
        out = out - grid.mean(axis=0, keepdims=True) + grid.mean(axis=(0, 1), keepdims=True)
    return out[e_index, t_index]


def group_demean(matrix: np.ndarray, index: np.ndarray, n_groups: int) -> np.ndarray:
    """matrix minus its group means (`index` holds group codes 0..n_groups-1)."""
    if len(index) and n_groups and (index[1:] >= index[:-1]).all() and index[0] == 0:
        # rows sorted by group (the usual layout): contiguous sums and a repeat, no scatter
        counts = np.bincount(index, minlength=n_groups)
        if counts.all():
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            means = np.add.reduceat(matrix, starts, axis=0) / counts[:, None]
            out = np.empty(matrix.shape)  # C order; column by column, no N x k temporary
            for j in range(matrix.shape[1]):
                np.subtract(matrix[:, j], np.repeat(means[:, j], counts), out=out[:, j])
            return out
    counts = np.bincount(index, minlength=n_groups).astype(float)
    return matrix - (group_sums(index, matrix, n_groups) / np.maximum(counts, 1)[:, None])[index]


def symmetric_pinv_apply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A^+ b for a symmetric positive semi-definite A (its null space, e.g. the constant vector of
    a two-way design, is cut by an eigenvalue threshold far below any real eigenvalue)."""
    w, v = np.linalg.eigh(a)
    keep = w > w.max() * 1e-11 if w.size else w > 0
    return (v[:, keep] / w[keep]) @ (v[:, keep].T @ b)


def within_exact(matrix: np.ndarray, entity: np.ndarray, time: np.ndarray,
                 codes: Codes | None = None) -> np.ndarray:
    """Exact two-way within transformation of any panel, without iteration (Frisch-Waugh-Lovell).

    The dimension with more levels ("units") is swept out by group means; the other ("periods",
    P levels) through the P x P system of the unit-demeaned period indicators D~:
    x.. = x~ - D~ (D~'D~)^+ D~'x~, where x~ is x demeaned by unit, D~'x~ sums x~ by period and
    D~'D~ = diag(count_p) - sum_i o_i o_i' / n_i (o_i: the unit's rows per period, n_i its rows).
    Cost O(N k + G P^2 + P^3); rows may repeat a (unit, period) pair.
    """
    return _within_exact_parts(matrix, codes or panel_codes(entity, time))[0]


def _within_exact_parts(matrix: np.ndarray, codes: Codes) -> tuple[np.ndarray, np.ndarray | None]:
    """`within_exact` and, when the entity is the dimension swept by means, the first column
    demeaned by entity only (else None).  The effects are taken out in place, column by column
    (no N x k temporaries: on large panels fresh memory costs more than the arithmetic)."""
    (e_index, g), (t_index, p) = codes
    swapped = p > g
    if swapped:  # sweep the larger dimension by means, solve in the smaller
        e_index, g, t_index, p = t_index, p, e_index, g
    demeaned = group_demean(matrix, e_index, g)
    occupancy = np.bincount(e_index * p + t_index, minlength=g * p).reshape(g, p).astype(float)
    size = occupancy.sum(axis=1)
    system = np.diag(occupancy.sum(axis=0)) - (occupancy / size[:, None]).T @ occupancy
    by_period = group_sums(t_index, demeaned, p)
    effect = symmetric_pinv_apply(system, by_period)  # P x k period coefficients
    unit_mean = (occupancy / size[:, None]) @ effect  # the unit means of D effect
    first_by_entity = None if swapped or not demeaned.shape[1] else demeaned[:, 0].copy()
    for j in range(demeaned.shape[1]):  # (x~ - D effect) + unit mean, as one expression would
        column = demeaned[:, j]
        column -= effect[t_index, j]
        column += unit_mean[e_index, j]
    return demeaned, first_by_entity


def within_general(matrix: np.ndarray, entity: np.ndarray, time: np.ndarray, effects: str,
                   codes: Codes | None = None) -> np.ndarray:
    """Within transformation of any panel: exact (group means, or `within_exact`) when the smaller
    absorbed dimension has at most EXACT_MAX_LEVELS levels, else pyhdfe's alternating projections
    (the algorithm of reghdfe) at a tolerance that agrees with the exact result to about 1e-12."""
    codes = codes or panel_codes(entity, time)
    if effects == "entity":
        return group_demean(matrix, *codes[0])
    if min(codes[0][1], codes[1][1]) <= EXACT_MAX_LEVELS:
        return within_exact(matrix, entity, time, codes)
    return within_pyhdfe(matrix, entity, time, effects)


def within_pyhdfe(matrix: np.ndarray, entity: np.ndarray, time: np.ndarray, effects: str) -> np.ndarray:
    """Alternating projections (pyhdfe), the fallback of `within_general` and its reference in tests."""
    ids = np.column_stack([entity, time]) if effects == "twoway" else entity[:, None]
    algorithm = pyhdfe.create(ids, drop_singletons=False, residualize_method="map",
                              options={"tol": 1e-14, "iteration_limit": 100_000})
    return algorithm.residualize(matrix)


def within(matrix, entity, time, effects="twoway", codes: Codes | None = None):
    """Within transformation (entity, or entity and time): the closed form on a balanced panel,
    `within_general` otherwise.  `codes` (panel_codes) may be passed to save recomputing them."""
    codes = codes or panel_codes(entity, time)
    if is_balanced(entity, time, codes):
        return within_balanced(matrix, entity, time, effects, codes)
    return within_general(matrix, entity, time, effects, codes)


def singletons(entity: np.ndarray, time: np.ndarray, effects: str, codes: Codes | None = None) -> np.ndarray:
    """Rows reghdfe drops as singletons: alone in a level of an absorbed effect, iterated until
    none is left (dropping a one-row city can leave a one-row year).  Boolean mask."""
    drop = np.zeros(len(entity), dtype=bool)
    if effects == "none":
        return drop
    both = codes or panel_codes(entity, time)
    while True:
        changed = False
        for index, _ in both[: 2 if effects == "twoway" else 1]:
            counts = np.bincount(index[~drop], minlength=index.max() + 1)
            alone = ~drop & (counts[index] == 1)
            if alone.any():
                drop |= alone
                changed = True
        if not changed:
            return drop


# ---------------------------------------------------------------------------- covariance


def sum_of_squares(vector: np.ndarray) -> float:
    """v'v without BLAS: OpenBLAS runs a long dot product on its thread pool, whose wake-up costs
    milliseconds on a busy machine, a hundred times the sum itself (einsum's loop is one thread)."""
    return float(np.einsum("i,i->", vector, vector))


def sandwich(z: np.ndarray, resid: np.ndarray, groups: np.ndarray | None,
             index: tuple[np.ndarray, int] | None = None, overwrite_z: bool = False) -> np.ndarray:
    """Unadjusted cluster sandwich (Z'Z)^-1 sum_g s_g s_g' (Z'Z)^-1; `index` (group codes, number of
    groups) may be passed in place of `groups`; `overwrite_z` lets the scores reuse z's memory."""
    bread = np.linalg.inv(z.T @ z)
    scores = np.multiply(z, resid[:, None], out=z if overwrite_z else None)
    return score_sandwich(bread, scores, index or level_codes(groups))


def score_sandwich(bread: np.ndarray, scores: np.ndarray, index: tuple[np.ndarray, int]) -> np.ndarray:
    """bread (sum_g s_g s_g') bread from the scores (rows x k) and the group codes (codes, groups)."""
    index, n_groups = index
    if n_groups == len(index):  # one row per group (HC): no sums
        sums = scores
    else:
        sums = _sorted_group_sums(index, scores, n_groups)
        if sums is None:
            sums = group_sums(index, scores, n_groups)
    return bread @ (sums.T @ sums) @ bread


def _sorted_group_sums(index: np.ndarray, matrix: np.ndarray, n_groups: int) -> np.ndarray | None:
    """group_sums by contiguous reductions when the rows are sorted by group code 0..n-1, else None."""
    if not len(index) or index[0] != 0 or not (index[1:] >= index[:-1]).all():
        return None
    counts = np.bincount(index, minlength=n_groups)
    if not counts.all():
        return None
    return np.add.reduceat(matrix, np.concatenate([[0], np.cumsum(counts)[:-1]]), axis=0)


def cluster_factor(n_clusters: int, nobs: int, k: int) -> float:
    """Stata's small-sample factor of the clustered covariance, G/(G-1) x (N-1)/(N-K), with K the
    regressors, the constant and every absorbed effect not nested in the clusters (module docstring)."""
    return n_clusters / (n_clusters - 1) * (nobs - 1) / (nobs - k)


def bartlett_meat(h: np.ndarray, bandwidth: int) -> np.ndarray:
    """The Driscoll-Kraay meat from the per-period score sums h (T x k, periods in order):
    sum over lags l = 0..L of (1 - l/(L+1)) (Gamma_l + Gamma_l'), Gamma_0 counted once."""
    meat = h.T @ h
    for lag in range(1, bandwidth + 1):
        gamma = h[lag:].T @ h[:-lag]
        meat += (1 - lag / (bandwidth + 1)) * (gamma + gamma.T)
    return meat


def driscoll_kraay(z: np.ndarray, resid: np.ndarray, time: np.ndarray, bandwidth: int) -> np.ndarray:
    bread = np.linalg.inv(z.T @ z)
    _, index = np.unique(time, return_inverse=True)
    h = np.zeros((index.max() + 1, z.shape[1]))
    np.add.at(h, index, z * resid[:, None])
    return bread @ bartlett_meat(h, bandwidth) @ bread


@dataclass(frozen=True)
class Design:
    """A panel regression problem: variables and the identifiers behind them."""

    y: np.ndarray
    x: np.ndarray
    names: list[str]
    entity: np.ndarray
    time: np.ndarray
    cluster: np.ndarray | None = None  # defaults to the entity
    n_dropped_missing: int = 0  # rows of the source frame left out for a missing value

    @classmethod
    def from_frame(cls, data: pd.DataFrame, y: str, x: list[str], entity="city_code", time="year",
                   cluster: str | None = None) -> Design:
        """The design of y on x; rows with a missing value in y, x or an identifier are dropped
        (counted in `n_dropped_missing`), as reghdfe and pyfixest do."""
        ids = [entity, time] + ([cluster] if cluster is not None else [])
        values = data[[y, *x]].to_numpy(float)  # one copy; y and x are views of it
        keep = np.isfinite(values).all(axis=1)
        id_values = {}
        for name in dict.fromkeys(ids):
            column = data[name].to_numpy()
            if column.dtype.kind not in "iub":  # integer codes cannot be missing
                keep &= pd.notna(column)
            id_values[name] = column
        if not keep.all():
            values = values[keep]
            id_values = {name: column[keep] for name, column in id_values.items()}
        return cls(
            y=values[:, 0], x=values[:, 1:], names=list(x),
            entity=id_values[entity], time=id_values[time],
            cluster=None if cluster is None else id_values[cluster],
            n_dropped_missing=int(len(keep) - keep.sum()),
        )

    @cached_property
    def codes(self) -> Codes:
        return panel_codes(self.entity, self.time)

    @cached_property
    def layout(self) -> str:
        """'grid' (balanced, rows sorted by entity then time: see grid_order), 'balanced' or
        'unbalanced'."""
        if grid_order(self.entity, self.time, self.codes):
            return "grid"
        return "balanced" if is_balanced(self.entity, self.time, self.codes) else "unbalanced"

    @cached_property
    def cluster_codes(self) -> tuple[np.ndarray, int]:
        return self.codes[0] if self.cluster is None else level_codes(self.cluster)

    def subset(self, keep: np.ndarray) -> Design:
        return Design(self.y[keep], self.x[keep], self.names, self.entity[keep], self.time[keep],
                      None if self.cluster is None else self.cluster[keep], self.n_dropped_missing)


def transform(matrix: np.ndarray, design: Design, effects: str) -> np.ndarray:
    return _transform_parts(matrix, design, effects)[0]


def _transform_parts(matrix: np.ndarray, design: Design,
                     effects: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(transformed, first column demeaned by entity only, or None when not a by-product)."""
    if effects == "none":
        return matrix - matrix.mean(axis=0), None
    (_, g), (_, t) = design.codes
    if design.layout == "grid":
        return _within_grid(matrix, g, t, effects)
    if design.layout == "balanced":
        return within_balanced(matrix, design.entity, design.time, effects, design.codes), None
    if effects == "entity":
        out = group_demean(matrix, *design.codes[0])
        return out, out[:, 0]
    if min(g, t) <= EXACT_MAX_LEVELS:
        return _within_exact_parts(matrix, design.codes)
    return within_pyhdfe(matrix, design.entity, design.time, effects), None


def fit_fe(design: Design, cov_type: str = "cluster", effects: str = "twoway", bandwidth: int = 2,
           small: bool = True, drop_singletons: bool = False) -> FitResult:
    """Fixed-effects OLS with Stata's constant and one of the covariances of the module docstring.

    ``effects`` is 'twoway' (entity and time), 'entity' or 'none' (plain OLS with a constant);
    ``small=False`` gives Stata's large-sample variants (no degrees-of-freedom factor, z tests);
    ``drop_singletons`` drops the rows alone in a level of an absorbed effect first (reghdfe; they
    add nothing to the slopes but count in N, K and the clusters), ``xtreg, fe`` keeps them.
    """
    n_singletons = 0
    (_, n_entity), (_, n_time) = design.codes
    balanced = design.layout != "unbalanced"
    none_alone = balanced and n_time > 1 and (effects != "twoway" or n_entity > 1)
    if drop_singletons and not none_alone:  # a balanced panel of 2+ cities and years has none
        alone = singletons(design.entity, design.time, effects, design.codes)
        n_singletons = int(alone.sum())
        if n_singletons:
            design = design.subset(~alone)
    if len(design.y) == 0:
        raise ValueError("no observations left in the estimation sample (missing values or singletons)")
    data = np.column_stack([design.y, design.x])
    transformed, by_entity = _transform_parts(data, design, effects)
    result = _solve(transformed, data.mean(axis=0), design, cov_type, effects, bandwidth, small,
                    y_by_entity=by_entity)
    return replace(result, n_singletons=n_singletons)


def _levels(effects: str, n_entity: int, n_time: int) -> dict[str, int]:
    """The levels of each absorbed effect in the estimation sample (the table's fixed-effect rows)."""
    return {"twoway": {"entity": n_entity, "time": n_time}, "entity": {"entity": n_entity}}.get(effects, {})


def fit_within(transformed: np.ndarray, means: np.ndarray, design: Design, cov_type: str = "cluster",
               effects: str = "twoway", bandwidth: int = 2, small: bool = True) -> FitResult:
    """OLS of the first column of `transformed` (y, x within-transformed by the caller, e.g. block
    by block) on the others, with the constant from `means` (of y and x before the transformation)
    and the covariance of `cov_type`: `fit_fe` for data whose transformation is already done."""
    return _solve(transformed, means, design, cov_type, effects, bandwidth, small)


def _solve(transformed, means, design, cov_type, effects, bandwidth, small, fitted=None, y_by_entity=None):
    """(2S)LS on transformed data; `fitted` replaces the regressors by their first-stage fit;
    `y_by_entity` (y demeaned by entity, for the R-squared) is computed here when not given."""
    yt, xt = transformed[:, 0], transformed[:, 1:]
    n, k = xt.shape
    regressors = xt if fitted is None else fitted
    beta = np.linalg.lstsq(regressors, yt, rcond=None)[0]
    resid = yt - xt @ beta
    params = pd.Series(np.append(beta, means[0] - means[1:] @ beta), index=[*design.names, CONSTANT])
    z = np.empty((n, k + 1))  # [regressors + means, 1], filled in place
    np.add(regressors, means[1:], out=z[:, :k])
    z[:, k] = 1.0
    n_entity = design.codes[0][1] if effects != "none" else 1
    n_time = design.codes[1][1]
    absorbed_time = n_time - 1 if effects == "twoway" else 0
    absorbed_all = absorbed_time + n_entity - 1
    nclusters = None
    if cov_type == "unadjusted":
        big_k = k + 1 + absorbed_all
        cov = np.linalg.inv(z.T @ z) * sum_of_squares(resid) / ((n - big_k) if small else n)
        df = n - big_k
    elif cov_type == "robust":
        big_k = k + 1 + absorbed_all
        cov = sandwich(z, resid, None, (np.arange(n), n)) * (n / (n - big_k) if small else 1.0)
        df = n - big_k
    elif cov_type == "cluster":
        nclusters = design.cluster_codes[1]
        big_k = k + 1 + absorbed_time
        factor = cluster_factor(nclusters, n, big_k) if small else 1.0
        cov = sandwich(z, resid, None, design.cluster_codes, overwrite_z=True) * factor  # z not used after
        df = nclusters - 1
    elif cov_type == "driscoll_kraay":
        cov = driscoll_kraay(z, resid, design.time, bandwidth)
        df = n_time - 1
    else:
        raise ValueError(f"cov_type {cov_type!r}: expected unadjusted, robust, cluster or driscoll_kraay")
    ssr = sum_of_squares(resid)
    overall = design.y - design.y.mean()
    if effects == "none":
        by_entity = overall
    elif y_by_entity is not None:
        by_entity = y_by_entity
    else:
        by_entity = group_demean(design.y[:, None], *design.codes[0])[:, 0]
    return FitResult(
        params=params, cov=pd.DataFrame(cov, index=params.index, columns=params.index), nobs=n,
        df_resid=df if small else 10**9, rsquared_within=1 - ssr / sum_of_squares(yt),
        cov_type=cov_type, nclusters=nclusters,
        extra={"resid": resid, "ssr": ssr, "levels": _levels(effects, n_entity, n_time)},
        rsquared=1 - ssr / sum_of_squares(overall),
        rsquared_within_entity=1 - ssr / sum_of_squares(by_entity), mean_dep=float(design.y.mean()),
        n_dropped_missing=design.n_dropped_missing,
    )


# ---------------------------------------------------------------------------- many regressions on one sample


@dataclass
class Demeaned:
    """One estimation sample within-transformed once for every regression on it, the way pyfixest's
    multiple-estimation plan groups the specifications that share a sample: the transformed columns
    and their cross-products, then each regression (`ols`, `iv`) is a small solve on the Gram matrix.

    Rows must be contiguous by every clustering (e.g. sorted by province, city, year). The slopes and
    their covariances are those of `fit_fe` (two-way effects, Stata's cluster factor with K counting
    the slopes, the constant and the year effects, t with G - 1 df; Driscoll-Kraay with the Bartlett
    kernel and T - 1 df): the constant `fit_fe` adds does not change the slopes' covariance, because
    the transformed columns sum to zero.  `covariances` name each one: label -> 'time' (Driscoll-Kraay)
    or the name of a clustering given to `build`.
    """

    w: np.ndarray  # within-transformed matrix, one column per name
    gram: np.ndarray  # w'w
    index: dict[str, int]  # column name -> position
    groups: dict[str, tuple[np.ndarray, int]]  # clustering -> (codes 0..G-1 in row order, G)
    time_onehot: np.ndarray  # periods x rows
    bandwidth: int

    @classmethod
    def build(cls, matrix: np.ndarray, names: list[str], entity: np.ndarray, time: np.ndarray,
              clusters: dict[str, np.ndarray], bandwidth: int = 2) -> Demeaned:
        w = within(matrix, entity, time, "twoway")
        years, inverse = np.unique(time, return_inverse=True)
        onehot = np.zeros((len(years), len(time)))
        onehot[inverse, np.arange(len(time))] = 1.0
        return cls(w, w.T @ w, {n: i for i, n in enumerate(names)},
                   {name: level_codes(ids) for name, ids in clusters.items()}, onehot, bandwidth)

    def ols(self, y: str, x: list[str], covariances: dict[str, str]) -> tuple[np.ndarray, dict]:
        """Slopes of y on x and {label: (covariance of the slopes, df, clusters or NaN)}."""
        iy, ix = self.index[y], [self.index[v] for v in x]
        xx = self.gram[np.ix_(ix, ix)]
        beta = np.linalg.solve(xx, self.gram[ix, iy])
        resid = self.w[:, iy] - self.w[:, ix] @ beta
        return beta, self.covariances(self.w[:, ix] * resid[:, None], np.linalg.inv(xx), covariances)

    def iv(self, y: str, endog: str, instrument: str, exog: list[str], covariances: dict[str, str]):
        """2SLS with one endogenous regressor (`fit_iv`'s second stage): slopes and covariances."""
        iy = self.index[y]
        iz = [self.index[v] for v in (instrument, *exog)]
        ix = [self.index[v] for v in (endog, *exog)]
        g = self.gram
        pi = np.linalg.solve(g[np.ix_(iz, iz)], g[np.ix_(iz, ix)])
        a = g[np.ix_(iz, ix)].T @ pi
        beta = np.linalg.solve(a, pi.T @ g[iz, iy])
        resid = self.w[:, iy] - self.w[:, ix] @ beta
        fitted = self.w[:, iz] @ pi
        return beta, self.covariances(fitted * resid[:, None], np.linalg.inv(a), covariances)

    def covariances(self, scores: np.ndarray, bread: np.ndarray, covariances: dict[str, str]) -> dict:
        n, k = scores.shape
        n_time = self.time_onehot.shape[0]
        out = {}
        for label, kind in covariances.items():
            if kind == "time":
                meat = bartlett_meat(self.time_onehot @ scores, self.bandwidth)
                out[label] = (bread @ meat @ bread, n_time - 1, np.nan)
            else:
                g = self.groups[kind][1]
                factor = cluster_factor(g, n, k + 1 + n_time - 1)
                out[label] = (score_sandwich(bread, scores, self.groups[kind]) * factor, g - 1, g)
        return out


# ---------------------------------------------------------------------------- 2SLS


@dataclass(frozen=True)
class IVResult:
    second: FitResult
    first: FitResult
    reduced_form: FitResult
    control_function: FitResult
    diagnostics: dict


def fit_iv(data: pd.DataFrame, y: str, endog: str, instruments: list[str], exog: list[str],
           cov_type: str = "cluster", effects: str = "twoway", bandwidth: int = 2, cluster: str | None = None,
           small: bool = True, entity: str = "city_code", time: str = "year",
           drop_singletons: bool = False) -> IVResult:
    """2SLS with one endogenous regressor, the effects partialled out; first stage, reduced form,
    and the diagnostics of Table 7 (the rank statistics for one excluded instrument).

    Rows with a missing value in a model variable, and with ``drop_singletons`` the singletons,
    are dropped first, so that every stage uses one sample; each FitResult counts them."""
    ids = [entity, time] + ([cluster] if cluster is not None else [])
    data, counts = _iv_sample(data, [y, endog, *instruments, *exog], ids, effects, drop_singletons)

    def design(frame, dep, regs):
        return Design.from_frame(frame, dep, regs, entity=entity, time=time, cluster=cluster)

    def fit(frame, dep, regs):
        return fit_fe(design(frame, dep, regs), cov_type, effects, bandwidth, small)

    first = fit(data, endog, [*instruments, *exog])
    reduced = fit(data, y, [*instruments, *exog])
    base = design(data, y, [endog, *exog])
    values = np.column_stack([base.y, base.x, data[instruments].to_numpy(float)])
    transformed = transform(values, base, effects)
    means = values.mean(axis=0)
    k = 1 + len(exog)
    xt, zt = transformed[:, 1 : 1 + k], transformed[:, 1 + k :]
    exog_t = xt[:, 1:]
    first_stage = np.column_stack([zt, exog_t])
    fitted = first_stage @ np.linalg.lstsq(first_stage, xt[:, 0], rcond=None)[0]
    second = _solve(transformed[:, : 1 + k], means[: 1 + k], base, cov_type, effects, bandwidth, small,
                    fitted=np.column_stack([fitted, exog_t]))
    control = fit(data.assign(first_stage_residual=first.extra["resid"]), y,
                  [endog, *exog, "first_stage_residual"])

    diagnostics: dict[str, float] = {}
    if len(instruments) == 1:
        n_entity = data[entity].nunique() if effects != "none" else 1
        n_time = data[time].nunique() if effects == "twoway" else 1
        df_first = len(data) - (len(exog) + 2) - (n_entity - 1) - (n_time - 1)
        diagnostics |= _rank_diagnostics(xt[:, 0], zt[:, 0], exog_t, data[cluster or entity].to_numpy(),
                                         df_first, first, reduced, instruments[0])
    endog_f = float(control.tstats["first_stage_residual"] ** 2)
    diagnostics |= {
        "endog_F": endog_f, "endog_F_p": float(stats.f.sf(endog_f, 1, control.df_resid)),
        "r2_within_second": second.rsquared_within,
        "r2_lsdv_second": _lsdv_r2(data[y].to_numpy(float), second.extra["ssr"]),
        "r2_within_first": first.rsquared_within,
        "r2_lsdv_first": _lsdv_r2(data[endog].to_numpy(float), first.extra["ssr"]),
    }
    return IVResult(second=replace(second, **counts), first=replace(first, **counts),
                    reduced_form=replace(reduced, **counts), control_function=replace(control, **counts),
                    diagnostics=diagnostics)


def _iv_sample(data: pd.DataFrame, columns: list[str], ids: list[str], effects: str,
               drop_singletons: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    """The one 2SLS sample of every stage: rows missing a model variable or an identifier dropped, then
    (`drop_singletons`) the singletons; with the counts of both."""
    keep = np.isfinite(data[columns].to_numpy(float)).all(axis=1) & data[ids].notna().all(axis=1).to_numpy()
    n_missing = int((~keep).sum())
    data = data[keep]
    n_singletons = 0
    if drop_singletons:
        alone = singletons(data[ids[0]].to_numpy(), data[ids[1]].to_numpy(), effects)
        n_singletons = int(alone.sum())
        data = data[~alone]
    if len(data) == 0:
        raise ValueError("no observations left in the 2SLS sample (missing values or singletons)")
    return data, {"n_dropped_missing": n_missing, "n_singletons": n_singletons}


def _rank_diagnostics(x: np.ndarray, z: np.ndarray, exog: np.ndarray, groups: np.ndarray, df_first: int,
                      first: FitResult, reduced: FitResult, instrument: str) -> dict[str, float]:
    """Table 7's diagnostics for one excluded instrument z of the endogenous x (both transformed):
    Kleibergen-Paap F (the clustered first-stage t squared), Cragg-Donald F, the KP LM statistic of
    underidentification, Anderson-Rubin F, and the Stock-Yogo critical values."""
    partial = np.column_stack([exog, np.ones(len(x))])
    x_perp = x - partial @ np.linalg.lstsq(partial, x, rcond=None)[0]
    z_perp = z - partial @ np.linalg.lstsq(partial, z, rcond=None)[0]
    pi = (z_perp @ x_perp) / (z_perp @ z_perp)
    cd_f = pi**2 * (z_perp @ z_perp) / (first.extra["ssr"] / df_first)
    _, index = np.unique(groups, return_inverse=True)
    s = np.zeros(index.max() + 1)
    np.add.at(s, index, z_perp * x_perp)
    kp_lm = float(s.sum() ** 2 / (s @ s))
    first_f = float(first.tstats[instrument] ** 2)
    ar_f = float(reduced.tstats[instrument] ** 2)
    return {
        "first_stage_F_kp": first_f, "first_stage_F_kp_p": float(stats.f.sf(first_f, 1, first.df_resid)),
        "cd_F": float(cd_f),
        "stock_yogo_10": 16.38, "stock_yogo_15": 8.96, "stock_yogo_20": 6.66, "stock_yogo_25": 5.53,
        "underid_kp_lm": kp_lm, "underid_kp_lm_p": float(stats.chi2.sf(kp_lm, 1)),
        "ar_F": ar_f, "ar_F_p": float(stats.f.sf(ar_f, 1, reduced.df_resid)),
    }


def _lsdv_r2(y: np.ndarray, ssr: float) -> float:
    """R-squared with the city and year dummies counted as regressors (what ivregress with
    i.city i.year reports): 1 - SSR / total sum of squares about the mean."""
    centered = y - y.mean()
    return float(1 - ssr / (centered @ centered))
