"""Fixed-effects OLS and 2SLS with Stata's inference conventions.

The slopes are OLS on the within-transformed data: a closed form for a
balanced panel (x - x_i. - x_.t + x..), pyhdfe's alternating projections
(the algorithm of reghdfe) for an unbalanced one; ``tests/`` shows both agree
with each other and with linearmodels' PanelOLS.  The constant is Stata's
fixed-effects constant, ybar - xbar'b, from the regression of the
within-transformed data with the grand means added back (as ``xtreg, fe``).

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

from dataclasses import dataclass, field

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
    rsquared_within: float
    cov_type: str
    nclusters: int | None
    extra: dict = field(default_factory=dict)

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


def is_balanced(entity: np.ndarray, time: np.ndarray) -> bool:
    g, t = len(np.unique(entity)), len(np.unique(time))
    return len(entity) == g * t and not pd.DataFrame({"e": entity, "t": time}).duplicated().any()


def within_balanced(matrix: np.ndarray, entity: np.ndarray, time: np.ndarray, effects: str) -> np.ndarray:
    """Closed-form within transformation of a balanced panel (rows in any order)."""
    e_codes, e_index = np.unique(entity, return_inverse=True)
    t_codes, t_index = np.unique(time, return_inverse=True)
    grid = np.full((len(e_codes), len(t_codes), matrix.shape[1]), np.nan)
    grid[e_index, t_index] = matrix
    out = grid - grid.mean(axis=1, keepdims=True)
    if effects == "twoway":
        out = out - grid.mean(axis=0, keepdims=True) + grid.mean(axis=(0, 1), keepdims=True)
    return out[e_index, t_index]


def within_general(matrix: np.ndarray, entity: np.ndarray, time: np.ndarray, effects: str) -> np.ndarray:
    """Within transformation by alternating projections (pyhdfe), for any panel."""
    ids = np.column_stack([entity, time]) if effects == "twoway" else entity[:, None]
    algorithm = pyhdfe.create(ids, drop_singletons=False, residualize_method="map",
                              options={"tol": 1e-14, "iteration_limit": 100_000})
    return algorithm.residualize(matrix)


def within(matrix, entity, time, effects="twoway"):
    if is_balanced(entity, time):
        return within_balanced(matrix, entity, time, effects)
    return within_general(matrix, entity, time, effects)


# ---------------------------------------------------------------------------- covariance


def sandwich(z: np.ndarray, resid: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Unadjusted cluster sandwich (Z'Z)^-1 sum_g s_g s_g' (Z'Z)^-1."""
    bread = np.linalg.inv(z.T @ z)
    scores = z * resid[:, None]
    _, index = np.unique(groups, return_inverse=True)
    sums = np.zeros((index.max() + 1, z.shape[1]))
    np.add.at(sums, index, scores)
    return bread @ (sums.T @ sums) @ bread


def driscoll_kraay(z: np.ndarray, resid: np.ndarray, time: np.ndarray, bandwidth: int) -> np.ndarray:
    bread = np.linalg.inv(z.T @ z)
    _, index = np.unique(time, return_inverse=True)
    h = np.zeros((index.max() + 1, z.shape[1]))
    np.add.at(h, index, z * resid[:, None])
    meat = h.T @ h
    for lag in range(1, bandwidth + 1):
        gamma = h[lag:].T @ h[:-lag]
        meat += (1 - lag / (bandwidth + 1)) * (gamma + gamma.T)
    return bread @ meat @ bread


@dataclass(frozen=True)
class Design:
    """A panel regression problem: variables and the identifiers behind them."""

    y: np.ndarray
    x: np.ndarray
    names: list[str]
    entity: np.ndarray
    time: np.ndarray
    cluster: np.ndarray | None = None  # defaults to the entity

    @classmethod
    def from_frame(cls, data: pd.DataFrame, y: str, x: list[str], entity="city_code", time="year",
                   cluster: str | None = None) -> Design:
        return cls(
            y=data[y].to_numpy(float), x=data[x].to_numpy(float), names=list(x),
            entity=data[entity].to_numpy(), time=data[time].to_numpy(),
            cluster=None if cluster is None else data[cluster].to_numpy(),
        )


def transform(matrix: np.ndarray, design: Design, effects: str) -> np.ndarray:
    if effects == "none":
        return matrix - matrix.mean(axis=0)
    return within(matrix, design.entity, design.time, effects)


def fit_fe(design: Design, cov_type: str = "cluster", effects: str = "twoway", bandwidth: int = 2,
           small: bool = True) -> FitResult:
    """Fixed-effects OLS with Stata's constant and one of the covariances of the module docstring.

    ``effects`` is 'twoway' (entity and time), 'entity' or 'none' (plain OLS with a constant);
    ``small=False`` gives Stata's large-sample variants (no degrees-of-freedom factor, z tests).
    """
    data = np.column_stack([design.y, design.x])
    return _solve(transform(data, design, effects), data.mean(axis=0), design, cov_type, effects,
                  bandwidth, small)


def _solve(transformed, means, design, cov_type, effects, bandwidth, small, fitted=None):
    """(2S)LS on transformed data; `fitted` replaces the regressors by their first-stage fit."""
    yt, xt = transformed[:, 0], transformed[:, 1:]
    n, k = xt.shape
    regressors = xt if fitted is None else fitted
    beta = np.linalg.lstsq(regressors, yt, rcond=None)[0]
    resid = yt - xt @ beta
    params = pd.Series(np.append(beta, means[0] - means[1:] @ beta), index=[*design.names, CONSTANT])
    z = np.column_stack([regressors + means[1:], np.ones(n)])
    n_entity = len(np.unique(design.entity)) if effects != "none" else 1
    n_time = len(np.unique(design.time))
    absorbed_time = n_time - 1 if effects == "twoway" else 0
    absorbed_all = absorbed_time + n_entity - 1
    nclusters = None
    if cov_type == "unadjusted":
        big_k = k + 1 + absorbed_all
        cov = np.linalg.inv(z.T @ z) * (resid @ resid) / ((n - big_k) if small else n)
        df = n - big_k
    elif cov_type == "robust":
        big_k = k + 1 + absorbed_all
        cov = sandwich(z, resid, np.arange(n)) * (n / (n - big_k) if small else 1.0)
        df = n - big_k
    elif cov_type == "cluster":
        groups = design.entity if design.cluster is None else design.cluster
        nclusters = len(np.unique(groups))
        big_k = k + 1 + absorbed_time
        factor = nclusters / (nclusters - 1) * (n - 1) / (n - big_k) if small else 1.0
        cov = sandwich(z, resid, groups) * factor
        df = nclusters - 1
    elif cov_type == "driscoll_kraay":
        cov = driscoll_kraay(z, resid, design.time, bandwidth)
        df = n_time - 1
    else:
        raise ValueError(f"cov_type {cov_type!r}: expected unadjusted, robust, cluster or driscoll_kraay")
    if effects == "none":
        centered = design.y - design.y.mean()
    else:
        centered = design.y - pd.Series(design.y).groupby(design.entity).transform("mean").to_numpy()
    return FitResult(
        params=params, cov=pd.DataFrame(cov, index=params.index, columns=params.index), nobs=n,
        df_resid=df if small else 10**9, rsquared_within=float(1 - resid @ resid / (centered @ centered)),
        cov_type=cov_type, nclusters=nclusters, extra={"resid": resid, "ssr": float(resid @ resid)},
    )


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
           small: bool = True, entity: str = "city_code", time: str = "year") -> IVResult:
    """2SLS with one endogenous regressor, the effects partialled out; first stage, reduced form,
    and the diagnostics of Table 7 (the rank statistics for one excluded instrument)."""
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

    n = len(data)
    n_entity = data[entity].nunique() if effects != "none" else 1
    n_time = data[time].nunique() if effects == "twoway" else 1
    diagnostics: dict[str, float] = {}
    if len(instruments) == 1:
        partial = np.column_stack([exog_t, np.ones(n)])
        x_perp = xt[:, 0] - partial @ np.linalg.lstsq(partial, xt[:, 0], rcond=None)[0]
        z_perp = zt[:, 0] - partial @ np.linalg.lstsq(partial, zt[:, 0], rcond=None)[0]
        df_first = n - (len(exog) + 2) - (n_entity - 1) - (n_time - 1)
        pi = (z_perp @ x_perp) / (z_perp @ z_perp)
        cd_f = pi**2 * (z_perp @ z_perp) / (first.extra["ssr"] / df_first)
        groups = data[cluster or entity].to_numpy()
        _, index = np.unique(groups, return_inverse=True)
        s = np.zeros(index.max() + 1)
        np.add.at(s, index, z_perp * x_perp)
        kp_lm = float(s.sum() ** 2 / (s @ s))
        first_f = float(first.tstats[instruments[0]] ** 2)
        ar_f = float(reduced.tstats[instruments[0]] ** 2)
        diagnostics |= {
            "first_stage_F_kp": first_f, "first_stage_F_kp_p": float(stats.f.sf(first_f, 1, first.df_resid)),
            "cd_F": float(cd_f),
            "stock_yogo_10": 16.38, "stock_yogo_15": 8.96, "stock_yogo_20": 6.66, "stock_yogo_25": 5.53,
            "underid_kp_lm": kp_lm, "underid_kp_lm_p": float(stats.chi2.sf(kp_lm, 1)),
            "ar_F": ar_f, "ar_F_p": float(stats.f.sf(ar_f, 1, reduced.df_resid)),
        }
    endog_f = float(control.tstats["first_stage_residual"] ** 2)
    diagnostics |= {
        "endog_F": endog_f, "endog_F_p": float(stats.f.sf(endog_f, 1, control.df_resid)),
        "r2_within_second": second.rsquared_within,
        "r2_lsdv_second": _lsdv_r2(data[y].to_numpy(float), second.extra["ssr"]),
        "r2_within_first": first.rsquared_within,
        "r2_lsdv_first": _lsdv_r2(data[endog].to_numpy(float), first.extra["ssr"]),
    }
    return IVResult(second=second, first=first, reduced_form=reduced, control_function=control,
                    diagnostics=diagnostics)


def _lsdv_r2(y: np.ndarray, ssr: float) -> float:
    """R-squared with the city and year dummies counted as regressors (what ivregress with
    i.city i.year reports): 1 - SSR / total sum of squares about the mean."""
    centered = y - y.mean()
    return float(1 - ssr / (centered @ centered))
