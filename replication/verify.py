"""`make verify`: every coefficient and standard error of Tables 5-9 recomputed by two maintained
packages, and the largest absolute difference from ours per table and engine.

* linearmodels: ``PanelOLS`` with entity and time effects (Tables 5, 6, 8, 9 and Table 7's first
  stage) and ``IV2SLS`` with city and year dummies (Table 7's second stage), both with their
  unadjusted cluster sandwich (``debiased=False``, no effect counting) multiplied by Stata's factor
  G/(G-1) x (N-1)/(N-K), K counting the regressors, the constant and the year effects (the city
  effects nest in the clusters), as estimation.py's docstring describes.  PanelOLS's constant is
  Stata's fixed-effects constant, so it is compared too.
* pyfixest: ``feols`` with ``| city_code + year`` and ``vcov={"CRV1": <cluster>}``; its default
  small-sample correction (``k_fixef="nonnested"``: effects nested in the clusters not counted,
  G/(G-1)) is reghdfe's, so no rescaling; its demeaning runs at tolerance 1e-14 (default 1e-8, which
  shows as differences near 1e-8 on unbalanced samples).  fixest reports no constant with absorbed effects.

The samples are the ones models.py estimates on (``complete_sample``); the check is of the
estimation, not of the sample rules.  Clustered covariances only (``cluster_city``,
``cluster_province``); the other covariances are pinned to linearmodels in the tests.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from replication.config import Options
from replication.estimation import CONSTANT
from replication.models import (
    CONTROLS, INSTRUMENT, REGIONS, STEPS, TABLES, complete_sample, cov_spec, estimation_sample,
    with_instrument,
)

ENGINES = ("linearmodels", "pyfixest")


def model_specs(data: pd.DataFrame, options: Options) -> list[dict]:
    """One entry per fitted column of Tables 5-9: table, column, sample, y, x, and the instrument."""
    x = ["Dig", *CONTROLS]
    specs = []

    def add(table, column, frame, y, regressors, instrument=None):
        variables = [y, *regressors] + ([instrument] if instrument else [])
        sample, _, _ = complete_sample(frame, variables, options)
        specs.append({"table": table, "column": column, "sample": sample, "y": y, "x": regressors,
                      "instrument": instrument})

    for column, regressors in STEPS.items():
        add("table5", column, data, "Dist", regressors)
    add("table6", "All", data, "Dist", x)
    for region in REGIONS:
        add("table6", region, data[data["region"] == region], "Dist", x)
    iv_sample = estimation_sample(with_instrument(data), ["Dist", "Dig", *CONTROLS], options)
    add("table7", "first_stage", iv_sample, "Dig", [INSTRUMENT, *CONTROLS])
    add("table7", "second_stage", iv_sample, "Dist", x, instrument=INSTRUMENT)
    add("table8", "(1)", data, "Dist", x)
    add("table8", "(2)", data, "Dist", ["Dig_entropy", *CONTROLS])
    mediation_sample, _, _ = complete_sample(data, ["Dist", "Isu", *x], options)
    add("table9", "c", mediation_sample, "Dist", x)
    add("table9", "a", mediation_sample, "Isu", x)
    add("table9", "b_cprime", mediation_sample, "Dist", ["Dig", "Isu", *CONTROLS])
    return specs


def _stata_factor(sample: pd.DataFrame, n_regressors: int, clusters: np.ndarray) -> float:
    n, g = len(sample), len(np.unique(clusters))
    k = n_regressors + 1 + sample["year"].nunique() - 1
    return g / (g - 1) * (n - 1) / (n - k)


def linearmodels_fit(spec: dict, cluster: str) -> tuple[pd.Series, pd.Series]:
    """Coefficients and Stata-scaled clustered standard errors from linearmodels."""
    from linearmodels import PanelOLS
    from linearmodels.iv import IV2SLS

    sample, y, x = spec["sample"], spec["y"], spec["x"]
    clusters = sample[cluster].to_numpy()
    factor = _stata_factor(sample, len(x), clusters)
    if spec["instrument"] is None:
        frame = sample.set_index(["city_code", "year"])
        exog = frame[x].assign(**{CONSTANT: 1.0})
        codes = pd.Series(pd.factorize(clusters)[0], index=frame.index, name="cluster")
        result = PanelOLS(frame[y], exog, entity_effects=True, time_effects=True).fit(
            cov_type="clustered", clusters=codes, debiased=False, group_debias=False, count_effects=False,
            auto_df=False)
        return result.params, np.sqrt(np.diag(result.cov) * factor)
    endog, exog_names = x[0], x[1:]
    dummies = pd.get_dummies(sample[["city_code", "year"]].astype(str), drop_first=True).astype(float)
    exog = pd.concat([sample[exog_names], dummies], axis=1).assign(const=1.0)
    result = IV2SLS(sample[y], exog, sample[endog], sample[spec["instrument"]]).fit(
        cov_type="clustered", clusters=pd.factorize(clusters)[0], debiased=False)
    params = result.params[x]
    return params, np.sqrt(np.diag(result.cov.loc[x, x]) * factor)


def pyfixest_fit(spec: dict, cluster: str) -> tuple[pd.Series, pd.Series]:
    """Coefficients and CRV1 standard errors from pyfixest (names with dots are renamed)."""
    import pyfixest as pf

    names = [spec["y"], *spec["x"]] + ([spec["instrument"]] if spec["instrument"] else [])
    rename = {name: name.replace(".", "_") for name in names}
    sample = spec["sample"].rename(columns=rename)
    x = [rename[name] for name in spec["x"]]
    if spec["instrument"] is None:
        formula = f"{rename[spec['y']]} ~ {' + '.join(x)} | city_code + year"
    else:
        formula = (f"{rename[spec['y']]} ~ {' + '.join(x[1:])} | city_code + year | "
                   f"{x[0]} ~ {rename[spec['instrument']]}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pf.feols(formula, data=sample, vcov={"CRV1": cluster}, fixef_tol=1e-14, fixef_maxiter=100_000)
    back = {v: k for k, v in rename.items()}
    return model.coef().rename(index=back), model.se().rename(index=back)


def verify(data: pd.DataFrame, options: Options) -> pd.DataFrame:
    """Largest absolute difference between our Tables 5-9 (estimate and std_error of every
    coefficient) and each engine: one row per table and engine (table, engine, cells, max_abs_diff)."""
    cov_type, cluster = cov_spec(options)
    if cov_type != "cluster":
        raise ValueError(f"verify: option cov_type={options.cov_type!r}: expected cluster_city or "
                         "cluster_province (the other covariances are pinned to linearmodels in the tests)")
    cluster = cluster or "city_code"
    ours = {name: function(data, options).coefficients for name, function in TABLES.items()
            if name in ("table5", "table6", "table7", "table8", "table9")}
    worst: dict[tuple[str, str], list[float]] = {}
    for spec in model_specs(data, options):
        table = ours[spec["table"]]
        mine = table[table["column"] == spec["column"]].set_index("term")
        for engine, function in (("linearmodels", linearmodels_fit), ("pyfixest", pyfixest_fit)):
            params, errors = function(spec, cluster)
            errors = pd.Series(np.asarray(errors), index=params.index)
            terms = [t for t in params.index if t in mine.index]
            lacking = set(spec["x"]) - set(terms)
            if lacking:
                raise ValueError(f"verify: {spec['table']} {spec['column']}: "
                                 f"{engine} lacks {sorted(lacking)}")
            differences = np.concatenate([
                np.abs(params[terms].to_numpy() - mine.loc[terms, "estimate"].to_numpy()),
                np.abs(errors[terms].to_numpy() - mine.loc[terms, "std_error"].to_numpy()),
            ])
            worst.setdefault((spec["table"], engine), []).extend(differences.tolist())
    return pd.DataFrame([
        {"table": table, "engine": engine, "cells": len(values), "max_abs_diff": max(values)}
        for (table, engine), values in worst.items()
    ])
