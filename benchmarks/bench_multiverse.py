"""`make bench`, the multiverse's part: specifications per second on the full grid (serial and two
jobs), and a 48-specification subgrid timed against the `specification_curve` package (PyPI).

The subgrid is what that package can express: 2 outcomes (the four- and six-indicator Dist) x 3
regressors (Dig from components to 85%, the first component, the entropy Dig) x the 8 subsets of
{Ur, Stru, lnexpense}, with lnper_gdp and the city and year effects always in.  The package fits each
by statsmodels OLS with the effects as dummy columns (conventional errors); this engine fits the same
48 by the within transformation with city-clustered errors.  Both get the same DataFrame of
variables; the coefficients are compared (max_abs_difference) so that the rates are of the same work.
The package lives in the benchmark's own environment (.venv-bench, made by `make bench`), not in the
runtime lock; where it cannot be imported the benchmark says so instead of failing.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time

import numpy as np
import pandas as pd

from replication.config import Options
from replication.indices import analysis_frame

SUBGRID_Y = {"Dist_four": "four", "Dist_six": "six"}
SUBGRID_X = {"Dig_pca": "pca", "Dig_first": "pca_first", "Dig_entropy": "entropy"}
SUBGRID_CONTROLS = ["Ur", "Stru", "lnexpense"]
SUBGRID_ALWAYS = ["lnper_gdp"]


def subgrid_frame(panel: pd.DataFrame, options: Options) -> pd.DataFrame:
    """The variables of the 48-specification subgrid, one row per city-year."""
    base = analysis_frame(panel, options).data
    frame = base[["city_code", "year", "province", *SUBGRID_CONTROLS, *SUBGRID_ALWAYS]].copy()
    for name, indicators in SUBGRID_Y.items():
        frame[name] = analysis_frame(panel, dataclasses.replace(options, dist_indicators=indicators)).data["Dist"]
    for name, recipe in SUBGRID_X.items():
        frame[name] = analysis_frame(panel, dataclasses.replace(options, dig_recipe=recipe)).data["Dig"]
    return frame.sort_values(["province", "city_code", "year"]).reset_index(drop=True)


def subgrid_specifications() -> list[tuple[str, str, list[str]]]:
    subsets = [list(c) for k in range(len(SUBGRID_CONTROLS) + 1) for c in itertools.combinations(SUBGRID_CONTROLS, k)]
    return [(y, x, [*controls, *SUBGRID_ALWAYS]) for y in SUBGRID_Y for x in SUBGRID_X for controls in subsets]


def ours(frame: pd.DataFrame) -> pd.DataFrame:
    """The subgrid through the multiverse engine: one within transformation, then 48 small solves
    with city-clustered (Stata) errors."""
    from replication.multiverse import Task, _prepare

    names = [*SUBGRID_Y, *SUBGRID_X, *SUBGRID_CONTROLS, *SUBGRID_ALWAYS]
    task = Task((0, 0), frame[names].to_numpy(float), names, frame["city_code"].to_numpy(),
                frame["province"].to_numpy(), frame["year"].to_numpy(), [], [], ("cluster_city",), 2)
    sample = _prepare(task)
    rows = []
    for y, x, controls in subgrid_specifications():
        beta, covs = sample.demeaned.ols(y, [x, *controls], {"cluster_city": "city"})
        shown = "+".join(c for c in controls if c in SUBGRID_CONTROLS)
        rows.append((y, x, shown, beta[0], float(np.sqrt(covs["cluster_city"][0][0, 0]))))
    return pd.DataFrame(rows, columns=["y", "x", "controls", "estimate", "std_error"])


def theirs(frame: pd.DataFrame):
    """The subgrid through specification_curve.SpecificationCurve (statsmodels OLS, dummies)."""
    import specification_curve as specy
    import statsmodels.api as sm

    dummies = pd.concat([  # the package adds a constant: one city and one year dummy out
        pd.get_dummies(frame["city_code"], prefix="city", dtype=float).iloc[:, 1:],
        pd.get_dummies(frame["year"], prefix="year", dtype=float).iloc[:, 1:],
    ], axis=1)
    data = pd.concat([frame[[*SUBGRID_Y, *SUBGRID_X, *SUBGRID_CONTROLS, *SUBGRID_ALWAYS]], dummies], axis=1)
    curve = specy.SpecificationCurve(data, list(SUBGRID_Y), list(SUBGRID_X), list(SUBGRID_CONTROLS),
                                     always_include=[*SUBGRID_ALWAYS, *dummies.columns])
    curve.fit(estimator=sm.OLS)
    result = curve.df_r
    controls = result["Specification"].apply(lambda spec: "+".join(c for c in SUBGRID_CONTROLS if c in spec) or "")
    return pd.DataFrame({"y": result["y_endog"], "x": result["x_exog"], "controls": controls,
                         "estimate": result["Coefficient"].astype(float)})


def benchmark_multiverse(panel: pd.DataFrame | None = None, options: Options | None = None) -> dict:
    """Specifications per second (full grid, serial and two jobs) and the subgrid ratio."""
    import contextlib
    import io
    import warnings

    from replication import multiverse as mv

    options = options or Options()
    if panel is None:
        from replication.config import Paths
        from replication.data import load_panel

        panel = load_panel(Paths().processed / "panel.csv")
    out: dict[str, object] = {"machine_cores": os.cpu_count()}
    for jobs in (1, 2):
        start = time.perf_counter()
        result = mv.run({"default": panel}, {}, jobs=jobs, base=options)
        seconds = time.perf_counter() - start
        n = result.specs["spec_id"].nunique()
        out[f"full_grid_jobs{jobs}"] = {"specifications": n, "estimates": len(result.specs),
                                         "seconds": round(seconds, 2), "specifications_per_second": round(n / seconds, 1)}
    frame = subgrid_frame(panel, options)
    start = time.perf_counter()
    mine = ours(frame)
    our_seconds = time.perf_counter() - start
    out["subgrid"] = {"specifications": len(mine), "ours_seconds": round(our_seconds, 4),
                      "ours_specifications_per_second": round(len(mine) / our_seconds, 1)}
    try:
        import specification_curve

        version = getattr(specification_curve, "__version__", "unknown")
    except ImportError as exc:
        out["subgrid"]["specification_curve"] = (f"not installed in this environment ({exc}); `make bench` runs "
                                                 "in .venv-bench, which installs it")
        return out
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = theirs(frame)
    their_seconds = time.perf_counter() - start
    merged = mine.merge(other, on=["y", "x", "controls"], suffixes=("", "_theirs"))
    out["subgrid"] |= {
        "specification_curve_version": version, "specification_curve_seconds": round(their_seconds, 3),
        "specification_curve_specifications_per_second": round(len(other) / their_seconds, 2),
        "ratio": round(their_seconds / our_seconds, 1), "matched": len(merged),
        "max_abs_difference": float(np.abs(merged["estimate"] - merged["estimate_theirs"]).max()),
        "note": "ours: within transformation, city-clustered errors; specification_curve: statsmodels OLS "
                "with city and year dummies, conventional errors",
    }
    return out
