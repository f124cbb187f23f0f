"""Closed-form two-way fixed-effects coefficients for many resampled panels at once.

Balanced panels (``BalancedMoments``):

A city-resampled (bootstrap) or city-subset (permutation) panel of a balanced
panel is still balanced, so its two-way within transformation has a closed
form.  Write each city's entity-demeaned variables as E_g (T x v) and
C_g = E_g'E_g.  For city weights m (multiplicities, or 0/1 for a subset) with
n = sum m_g, the time means of the demeaned data are M_t = sum_g m_g E_g / n and

    X~'X~ = sum_g m_g C_g - n M'M,

so every regression among the v variables for every draw needs only two matrix
products with the G x v^2 and G x Tv arrays computed once.  ``coefficients``
takes a (draws x G) weight matrix and returns the slope of every draw.

Any panel (``PanelMoments``, the same interface): by Frisch-Waugh-Lovell the
two-way within cross-products are the entity-demeaned ones minus the part the
period effects explain.  With E_g the city's entity-demeaned rows, D~_g its
entity-demeaned period indicators (n_g x T), C_g = E_g'E_g, B_g = D~_g'E_g (the
sums of E_g by period) and A_g = D~_g'D~_g = diag(o_g) - o_g o_g'/n_g (o_g: the
city's rows per period), a draw with city weights m has

    X~'X~ = sum_g m_g C_g - B'A^+B,   B = sum_g m_g B_g,   A = sum_g m_g A_g.

A copy of a city in a bootstrap draw is a new entity with the same E_g, D~_g, so
this is exactly the refit of the resampled panel.  A_g depends on the city's
pattern of observed periods only, so A is summed over the few distinct patterns.
A draw costs O(G (v^2 + T v) + T^3): no refit.  A has the constant vector (and
any period no city of the draw covers) in its null space, and B is orthogonal to
it, so A^+B is solved as (A + c 11'/T + I_empty)^-1 B; when the full sample's
periods are not connected through its cities, a pseudo-inverse is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from replication.estimation import group_demean, group_sums


@dataclass(frozen=True)
class BalancedMoments:
    variables: list[str]
    cities: np.ndarray
    demeaned: np.ndarray  # G x T x v
    cross: np.ndarray  # G x v x v

    @classmethod
    def from_frame(cls, data: pd.DataFrame, variables: list[str], entity="city_code", time="year"):
        frame = data.sort_values([entity, time])
        cities = frame[entity].unique()
        n_time = frame[time].nunique()
        if len(frame) != len(cities) * n_time or frame.duplicated([entity, time]).any():
            raise ValueError("BalancedMoments needs a balanced panel (every city in every year)")
        values = frame[variables].to_numpy(float).reshape(len(cities), n_time, len(variables))
        demeaned = values - values.mean(axis=1, keepdims=True)
        cross = np.einsum("gtv,gtw->gvw", demeaned, demeaned)
        # C order, so that every draw's reshape to G x (T v) and G x v^2 is a view, not a copy
        return cls(list(variables), cities, np.ascontiguousarray(demeaned), np.ascontiguousarray(cross))

    def crossproducts(self, weights: np.ndarray) -> np.ndarray:
        """X~'X~ of all variables for each row of `weights` (draws x G) -> draws x v x v."""
        weights = np.atleast_2d(weights).astype(float)
        g, t, v = self.demeaned.shape
        n = weights.sum(axis=1)
        total = weights @ self.cross.reshape(g, v * v)
        means = (weights @ self.demeaned.reshape(g, t * v)).reshape(-1, t, v) / n[:, None, None]
        return total.reshape(-1, v, v) - n[:, None, None] * np.einsum("btv,btw->bvw", means, means)

    def coefficients(self, weights: np.ndarray, y: str, x: list[str]) -> np.ndarray:
        """Slopes of y on x (two-way fixed effects) for each draw -> draws x len(x)."""
        s = self.crossproducts(weights)
        iy = self.variables.index(y)
        ix = [self.variables.index(name) for name in x]
        return np.linalg.solve(s[:, ix][:, :, ix], s[:, ix, iy][..., None])[..., 0]


@dataclass(frozen=True)
class PanelMoments:
    """Per-city sufficient statistics of the two-way within regression on any (unbalanced) panel."""

    variables: list[str]
    cities: np.ndarray
    stacked: np.ndarray  # G x (v(v+1)/2 + T v): packed C_g, then B_g
    patterns: sparse.csr_matrix  # G x P indicator of each city's pattern of observed periods
    pattern_system: np.ndarray  # P x T x T: A of one city with that pattern
    pattern_counts: np.ndarray  # P x T: rows per period of one city with that pattern
    n_time: int
    connected: bool

    @classmethod
    def from_frame(cls, data: pd.DataFrame, variables: list[str], entity="city_code", time="year"):
        values = data[variables].to_numpy(float)
        if not np.isfinite(values).all():
            raise ValueError(f"PanelMoments: missing values in {variables}; drop those rows first")
        cities, e_index = np.unique(data[entity].to_numpy(), return_inverse=True)
        _, t_index = np.unique(data[time].to_numpy(), return_inverse=True)
        g, t, v = len(cities), t_index.max() + 1, len(variables)
        demeaned = group_demean(values, e_index, g)
        upper = np.triu_indices(v)
        packed = np.column_stack([np.bincount(e_index, weights=demeaned[:, i] * demeaned[:, j], minlength=g)
                                  for i, j in zip(*upper)])
        by_period = group_sums(e_index * t + t_index, demeaned, g * t).reshape(g, t, v)
        occupancy = np.bincount(e_index * t + t_index, minlength=g * t).reshape(g, t).astype(float)
        if t <= 52 and occupancy.max() <= 1:  # one row per city-period: patterns as bit codes
            bits = occupancy @ (2.0 ** np.arange(t))
            _, first, pattern_index = np.unique(bits, return_index=True, return_inverse=True)
            unique = occupancy[first]
        else:
            unique, pattern_index = np.unique(occupancy, axis=0, return_inverse=True)
        pattern_index = pattern_index.ravel()
        systems = np.stack([np.diag(o) - np.outer(o, o) / o.sum() for o in unique])
        indicator = sparse.csr_matrix((np.ones(g), (np.arange(g), pattern_index)), shape=(g, len(unique)))
        full = np.tensordot(np.bincount(pattern_index, minlength=len(unique)).astype(float), systems, axes=1)
        eigenvalues = np.linalg.eigvalsh(full)
        connected = int((eigenvalues <= eigenvalues.max() * 1e-11).sum()) == 1
        return cls(list(variables), cities, np.hstack([packed, by_period.reshape(g, t * v)]), indicator,
                   systems, unique, t, connected)

    def crossproducts(self, weights: np.ndarray) -> np.ndarray:
        """X~'X~ of all variables for each row of `weights` (draws x G) -> draws x v x v."""
        weights = np.atleast_2d(weights).astype(float)
        v, t = len(self.variables), self.n_time
        draws = len(weights)
        upper = np.triu_indices(v)
        n_packed = len(upper[0])
        stacked = weights @ self.stacked
        within = np.zeros((draws, v, v))
        within[:, upper[0], upper[1]] = stacked[:, :n_packed]
        within[:, upper[1], upper[0]] = stacked[:, :n_packed]
        b = stacked[:, n_packed:].reshape(draws, t, v)
        by_pattern = np.asarray((self.patterns.T @ weights.T).T)  # draws x P
        a = np.tensordot(by_pattern, self.pattern_system, axes=1)  # draws x T x T
        if self.connected:
            present = by_pattern @ self.pattern_counts  # draws x T rows per period
            scale = np.trace(a, axis1=1, axis2=2) / t
            m = a + scale[:, None, None] / t + np.eye(t)[None] * (present == 0)[:, :, None]
            solved = np.linalg.solve(m, b)
        else:
            w, vec = np.linalg.eigh(a)
            inverse = np.where(w > w.max(axis=1, keepdims=True) * 1e-11, 1 / np.where(w == 0, 1, w), 0.0)
            solved = vec @ (inverse[:, :, None] * (vec.transpose(0, 2, 1) @ b))
        return within - np.einsum("btv,btw->bvw", b, solved)

    def coefficients(self, weights: np.ndarray, y: str, x: list[str]) -> np.ndarray:
        """Slopes of y on x (two-way fixed effects) for each draw -> draws x len(x)."""
        s = self.crossproducts(weights)
        iy = self.variables.index(y)
        ix = [self.variables.index(name) for name in x]
        return np.linalg.solve(s[:, ix][:, :, ix], s[:, ix, iy][..., None])[..., 0]


def panel_moments(data: pd.DataFrame, variables: list[str], entity="city_code", time="year"):
    """BalancedMoments when every city has every period once (its results are kept bit for bit),
    PanelMoments otherwise."""
    try:
        return BalancedMoments.from_frame(data, variables, entity, time)
    except ValueError:
        return PanelMoments.from_frame(data, variables, entity, time)


def bootstrap_weights(n_cities: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """City multiplicities of `draws` cluster-bootstrap samples (each draws n_cities with replacement)."""
    return rng.multinomial(n_cities, np.full(n_cities, 1 / n_cities), size=draws).astype(float)


def permutation_weights(size_a: int, n_cities: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """0/1 membership of group A for `draws` random relabellings keeping |A| = size_a."""
    keys = rng.random((draws, n_cities))
    ranks = keys.argsort(axis=1).argsort(axis=1)
    return (ranks < size_a).astype(float)
