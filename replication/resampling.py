"""Closed-form two-way fixed-effects coefficients for many resampled balanced panels at once.

A city-resampled (bootstrap) or city-subset (permutation) panel of a balanced
panel is still balanced, so its two-way within transformation has a closed
form.  Write each city's entity-demeaned variables as E_g (T x v) and
C_g = E_g'E_g.  For city weights m (multiplicities, or 0/1 for a subset) with
n = sum m_g, the time means of the demeaned data are M_t = sum_g m_g E_g / n and

    X~'X~ = sum_g m_g C_g - n M'M,

so every regression among the v variables for every draw needs only two matrix
products with the G x v^2 and G x Tv arrays computed once.  ``coefficients``
takes a (draws x G) weight matrix and returns the slope of every draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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
        if len(frame) != len(cities) * n_time:
            raise ValueError("BalancedMoments needs a balanced panel (every city in every year)")
        values = frame[variables].to_numpy(float).reshape(len(cities), n_time, len(variables))
        demeaned = values - values.mean(axis=1, keepdims=True)
        return cls(list(variables), cities, demeaned, np.einsum("gtv,gtw->gvw", demeaned, demeaned))

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


def bootstrap_weights(n_cities: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """City multiplicities of `draws` cluster-bootstrap samples (each draws n_cities with replacement)."""
    return rng.multinomial(n_cities, np.full(n_cities, 1 / n_cities), size=draws).astype(float)


def permutation_weights(size_a: int, n_cities: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """0/1 membership of group A for `draws` random relabellings keeping |A| = size_a."""
    keys = rng.random((draws, n_cities))
    ranks = keys.argsort(axis=1).argsort(axis=1)
    return (ranks < size_a).astype(float)
