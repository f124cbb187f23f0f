"""The multiverse (issue 9): every open decision run together, the specification curve, what moves it.

The grid is data (``GRID``: decision -> values, the package default first).  A specification is one
combination; its estimands are Table 5's Dig (the column given by the control set), Table 6's three
regional Dig coefficients, Table 7's 2SLS Dig and Table 9's indirect effect a x b with its Sobel
standard error.  Table 6's permutation test and Table 9's bootstrap are not run per specification:
estimates and analytic standard errors suffice to place a specification on the curve.  The OLS estimands (Tables 5 and 6) of
a specification clustered by city or province also carry the p-value of the wild cluster restricted
bootstrap clustered the same way (``wild_p``, ``wild_replications``; Options.multiverse_wild_draws,
wild_weights and seed): ``wild.within_pieces`` on the columns the task has already transformed, with
one ``wild.Clusters`` and one set of weights per sample, so each bootstrap is one small matrix
product; dig_rescale (a rescaling of Dig, under which t and t* do not change) shares one bootstrap.

How it is fast and exact:

* Index variants (Dist, the shared term c, Dig) are computed once per panel, one task per distinct
  Dist and per distinct Dig, with the functions ``indices.analysis_frame`` composes (``index_panel``,
  ``dist_index``, ``pca_index``, ``entropy_by``, ``dig_score``) on the rows it takes.  Every
  specification that uses a variant shares its column.
* A task is one estimation sample (full, a region, the 2SLS years, each with drop_filled's rows for
  each control set): it within-transforms every variant column at once with
  ``estimation.within`` (linear and column by column, so one call serves every specification),
  forms the cross-product matrix once, and then each regression is a small solve.  Stata's
  clustered covariance (the factor and the G - 1 degrees of freedom of ``estimation.fit_fe``) and
  the Driscoll-Kraay covariance are computed from the transformed regressors: the constant that
  ``fit_fe`` adds does not change the slopes' covariance, because the transformed columns sum to
  zero.  ``tests/test_multiverse.py`` pins sampled rows to direct calls of the table functions.
* Tasks run through joblib (``--jobs``) or, with ``--scheduler``, on a Dask cluster through joblib's
  Dask backend.  Results are merged by key and sorted by specification id, so the output does not
  depend on the backend, the number of jobs or the order in which tasks finish.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from replication.figures import CLUSTERING, specification_curve

from replication import estimation, wild
from replication.config import Options
from replication.indices import (
    SHARED, analysis_frame, dig_indicators, dig_score, dist_index, entropy_by, index_panel, pca_index, winsorize,
)
from replication.mechanism import SIGNIFICANCE, mechanism_section
from replication.models import REGIONS, STEPS, estimation_sample, sobel_variance, with_instrument

DEFAULT = "default"  # the Options field's own default (for options another branch adds)
NOT_APPLICABLE = "-"

# decision -> values (the package default first).  'panel' is filled from data/processed/variants/.
GRID: dict[str, tuple] = {
    "panel": (DEFAULT,),
    "min_nonurban_share": (DEFAULT, 0.0),
    "winsorize": (0.01, 0.0, 0.05),
    "pooling": ("pooled", "by_year"),
    "dist_indicators": ("four", "six", "six_shared_fixed", "six_shared_controlled"),
    "dig_recipe": ("pca", "pca_first", "entropy"),
    "pca_variance_target": (0.85, 0.95),
    "pca_sign_rule": ("loadings_sum_positive", "largest_loading_positive"),
    "dig_rescale": ("none", "minmax"),
    "controls": ("(4)", "(1)", "(2)", "(3)"),
    "cov_type": ("cluster_city", "cluster_province", "driscoll_kraay"),
    "drop_filled": (False, True),
}
# a decision that only matters for some values of another: elsewhere it is NOT_APPLICABLE
APPLIES = {"pca_variance_target": ("dig_recipe", ("pca",)), "pca_sign_rule": ("dig_recipe", ("pca",))}
INDEX_DECISIONS = ("winsorize", "pooling", "dist_indicators", "dig_recipe", "pca_variance_target",
                   "pca_sign_rule", "dig_rescale")
MODEL_DECISIONS = ("controls", "cov_type", "drop_filled")
# why the other options of Options are not decisions of the grid
OUTSIDE_GRID = {
    "share_end_rule": "the committed panel already carries the 2019 shares forward (flagged), so 'none' at the "
                      "index stage changes no row: it enters through variant panels; drop_filled removes the "
                      "carried cells",
    "edge_fill_years": "a panel-build rule: enters through the variant panels of `make data` (decision 'panel')",
    "anomaly_rule": "a panel-build rule: enters through the variant panels of `make data` (decision 'panel')",
    "dist_indicators='six_shared_removed'": "identical to 'four' (entropy weights are column-wise; the "
                                            "ratio cancels their common factor): the summary reports the gap",
    "pca_weighting": "one method is defined",
    "dk_bandwidth": "held at its default (2 lags)",
    "robust (cov_type)": "heteroskedasticity-robust only: the grid's errors are clustered or Driscoll-Kraay",
    "seed, bootstrap_draws, permutation_draws, stars": "do not change an estimate or its analytic error",
}
ESTIMANDS = ("T5_Dig", "T6_East", "T6_Central", "T6_West", "T7_Dig_2SLS", "T9_ab")
FIXED = ["Isu", "Ur", "Stru", "lnexpense", "lnper_gdp"]
COV = {"cluster_city": "city", "cluster_province": "province", "driscoll_kraay": "time"}
WILD_COLUMNS = ("wild_p", "wild_replications")
PUBLISHED_MOMENTS = ("Dist", "Dig")


# ---------------------------------------------------------------------------- the grid


def grid_decisions(grid: dict[str, tuple], variants: dict[str, dict] | None = None) -> tuple[dict, list[str]]:
    """The grid with the panel variants added and the decisions whose option is not a field of
    Options left out (a note says so); DEFAULT resolved and duplicate values dropped."""
    fields = {f.name: f.default for f in dataclasses.fields(Options)}
    notes, out = [], {}
    for name, values in grid.items():
        if name == "panel":
            values = (DEFAULT, *sorted(variants or {}))
        elif name not in fields and name not in MODEL_DECISIONS:
            notes.append(f"decision {name!r} skipped: not an option of replication.config.Options on this branch")
            continue
        elif name in fields:
            values = tuple(dict.fromkeys(fields[name] if v == DEFAULT else v for v in values))
        out[name] = values
    return out, notes


def specifications(grid: dict[str, tuple]) -> pd.DataFrame:
    """One row per specification (spec_id from 1, in the grid's order); decisions that do not apply
    are NOT_APPLICABLE and the duplicates they would create are dropped."""
    names = list(grid)
    rows = []
    for combination in itertools.product(*grid.values()):
        row = dict(zip(names, combination))
        for name, (parent, values) in APPLIES.items():
            if name in row and parent in row and row[parent] not in values:
                row[name] = NOT_APPLICABLE
        rows.append(row)
    frame = pd.DataFrame(rows, dtype=object).drop_duplicates(ignore_index=True)
    frame.insert(0, "spec_id", np.arange(1, len(frame) + 1))
    return frame


def spec_options(row: dict, variants: dict[str, dict] | None = None, base: Options | None = None) -> Options:
    """The Options of one specification: `base` (the command line's options) with the panel
    variant's options and the specification's decisions applied."""
    fields = {f.name for f in dataclasses.fields(Options)}
    changes = {k: v for k, v in (variants or {}).get(row.get("panel", DEFAULT), {}).items() if k in fields}
    changes |= {k: v for k, v in row.items() if k in fields and v != NOT_APPLICABLE}
    return dataclasses.replace(base or Options(), **changes)


def _dist_key(options: Options) -> tuple:
    return options.winsorize, options.pooling, options.dist_indicators


def _dig_key(options: Options) -> tuple:  # dig_rescale last (run_task drops it for the wild bootstrap)
    pca = options.dig_recipe == "pca"
    return (options.winsorize, options.pooling if options.dig_recipe == "entropy" else NOT_APPLICABLE,
            options.dig_recipe, options.pca_variance_target if pca else NOT_APPLICABLE,
            options.pca_sign_rule if pca else NOT_APPLICABLE, options.dig_rescale)


# ---------------------------------------------------------------------------- index variants


@dataclass
class Base:
    """One panel with its base options: the estimation rows, and every index variant as a column."""

    data: pd.DataFrame  # analysis_frame's data (fixed variables and fill flags), sorted province, city, year
    columns: dict  # column name -> values (aligned with data)
    dist: dict  # dist key -> column name
    shared: dict  # dist key -> column name of c (six_shared_controlled)
    dig: dict  # dig key -> column name
    lag: dict  # dig key -> column name of its second lag
    moments: dict  # (dist key, dig key) -> Table 4 moments
    removed_gap: float  # max |Dist(six_shared_removed) - Dist(four)|: zero up to rounding (config.py says why)


@dataclass
class IndexRows:
    """The panel rows behind an estimation frame, as analysis_frame uses them: Dig is standardised over
    every row of the panel (`panel`, sorted by city and year), Dist over the rows that stay in the
    models (`kept`, e.g. after min_nonurban_share); `order` puts the kept rows in the frame's order."""

    panel: pd.DataFrame
    kept: np.ndarray  # positions in `panel` of the kept rows, in panel order
    order: np.ndarray  # for each row of the estimation frame, its position among the kept rows


def _panel_rows(panel: pd.DataFrame, data: pd.DataFrame, options: Options) -> IndexRows:
    """The panel rows behind analysis_frame's data (indices.index_panel, as analysis_frame takes them)."""
    ordered, _ = index_panel(panel, options)
    position = pd.Series(np.arange(len(ordered)), index=pd.MultiIndex.from_frame(ordered[["city_code", "year"]]))
    wanted = position.reindex(pd.MultiIndex.from_frame(data[["city_code", "year"]])).to_numpy()
    if np.isnan(wanted).any():
        raise ValueError("multiverse: an estimation row has no panel row; expected analysis_frame's rows to come "
                         "from the panel")
    wanted = wanted.astype(int)
    kept = np.sort(wanted)
    return IndexRows(ordered, kept, np.searchsorted(kept, wanted))


def _index_values(rows: IndexRows, options: Options, which=("Dist", "Dig")) -> dict[str, np.ndarray]:
    """Dist (with c) and/or Dig of one index variant, from the package's index functions, in the
    estimation frame's order."""
    out = {}
    if "Dist" in which:
        dist = dist_index(rows.panel.iloc[rows.kept], options)
        out["Dist"] = dist.dist.to_numpy(float)[rows.order]
        if dist.shared is not None:
            out[SHARED] = dist.shared.to_numpy(float)[rows.order]
    if "Dig" in which:
        digital = winsorize(dig_indicators(rows.panel), options.winsorize)
        dig = pca_index(digital, options) if options.dig_recipe != "entropy" else None
        dig_entropy = entropy_by(digital, rows.panel["year"], options.pooling) if options.dig_recipe == "entropy" else None
        out["Dig"] = dig_score(dig, dig_entropy, options).to_numpy(float)[rows.kept][rows.order]
    return out


def index_task(rows: IndexRows, options: Options, which: tuple) -> dict[str, np.ndarray]:
    """One index variant (Dist and c, and/or Dig) on a base's panel rows."""
    return _index_values(rows, options, which)


def base_frame(panel: pd.DataFrame, base_options: Options) -> tuple[pd.DataFrame, IndexRows]:
    """analysis_frame's rows for one panel and base options (sorted so that provinces and cities are
    contiguous blocks: cluster sums are then segment sums) and the panel rows behind them."""
    data = analysis_frame(panel, base_options).data.sort_values(["province", "city_code", "year"])
    data = data.reset_index(drop=True)
    return data, _panel_rows(panel, data, base_options)


def index_jobs(index_options: list[Options]) -> list[tuple[Options, tuple]]:
    """The distinct index computations: each Dist key and each Dig key once."""
    jobs, dists, digs = [], set(), set()
    for options in index_options:
        dk, gk = _dist_key(options), _dig_key(options)
        which = tuple(v for v, new in (("Dist", dk not in dists), ("Dig", gk not in digs)) if new)
        if which:
            jobs.append((options, which))
            dists.add(dk)
            digs.add(gk)
    return jobs


def assemble_base(data, rows, jobs, results, base_options) -> Base:
    """The index columns of one base, their second lags and Table 4 moments."""
    columns = {name: data[name].to_numpy(float) for name in FIXED}
    dist, shared, dig, moments = {}, {}, {}, {}
    for (options, which), got in zip(jobs, results):
        dk, gk = _dist_key(options), _dig_key(options)
        if "Dist" in which:
            dist[dk] = f"Dist#{len(dist)}"
            columns[dist[dk]] = got["Dist"]
            if options.dist_indicators == "six_shared_controlled":
                shared[dk] = f"c#{len(shared)}"
                columns[shared[dk]] = got[SHARED]
        if "Dig" in which:
            dig[gk] = f"Dig#{len(dig)}"
            columns[dig[gk]] = got["Dig"]
    for name, column in columns.items():
        if np.isnan(column).any():
            row = data.iloc[int(np.flatnonzero(np.isnan(column))[0])]
            raise ValueError(f"multiverse: {name} is missing for city {row['city_code']} in {row['year']} "
                             "(a zero district score?); expected a value in every city-year")
    # second lags of every Dig variant (models.with_instrument's rule: the city's value two years before)
    position = pd.Series(np.arange(len(data)), index=pd.MultiIndex.from_frame(data[["city_code", "year"]]))
    source = position.reindex(pd.MultiIndex.from_arrays([data["city_code"], data["year"] - 2])).to_numpy()
    found = ~np.isnan(source)
    lag = {}
    for gk, name in dig.items():
        lag[gk] = f"L2.{name}"
        lagged = np.full(len(data), np.nan)
        lagged[found] = columns[name][source[found].astype(int)]
        columns[lag[gk]] = lagged
    for dk, dname in dist.items():
        for gk, gname in dig.items():
            if dk[0] == gk[0]:  # one winsorising decision for both indices
                moments[(dk, gk)] = {"Dist_mean": columns[dname].mean(), "Dist_sd": columns[dname].std(ddof=1),
                                     "Dig_mean": columns[gname].mean(), "Dig_sd": columns[gname].std(ddof=1)}
    removed = dataclasses.replace(base_options, dist_indicators="six_shared_removed")
    four = dataclasses.replace(base_options, dist_indicators="four")
    gap = np.nanmax(np.abs(_index_values(rows, removed, ("Dist",))["Dist"]
                           - _index_values(rows, four, ("Dist",))["Dist"]))
    return Base(data, columns, dist, shared, dig, lag, moments, float(gap))


# ---------------------------------------------------------------------------- samples and tasks


@dataclass(frozen=True)
class WildSettings:
    """The multiverse's wild cluster restricted bootstrap: Options.multiverse_wild_draws, wild_weights, seed."""

    draws: int
    weights: str
    seed: int


@dataclass
class Task:
    """One estimation sample: the raw matrix of its rows (every variant column) and the jobs to run."""

    key: tuple  # (base id, sample name)
    matrix: np.ndarray  # rows x columns, sorted by province, city, year
    names: list[str]
    city: np.ndarray
    province: np.ndarray
    year: np.ndarray
    jobs: list  # (estimand group, drop_filled, controls)
    variants: list  # (dist column, shared column or None, dig column, lag column, dist key, dig key)
    cov_types: tuple
    bandwidth: int
    wild: WildSettings | None = None  # the wild bootstrap of the OLS estimands (None: not run)


def _samples(base: Base, drops, controls_sets) -> dict[bytes, tuple[np.ndarray, list]]:
    """Row masks of every estimation sample, deduplicated: mask bytes -> (mask, jobs)."""
    data = base.data
    has_lag = np.isin(np.arange(len(data)), _lag_rows(data))
    out: dict[bytes, tuple[np.ndarray, list]] = {}

    def add(mask, job):
        key = mask.tobytes()
        out.setdefault(key, (mask, []))[1].append(job)

    for drop in drops:
        options = Options(drop_filled=drop)
        for controls in controls_sets:
            x = STEPS[controls]
            main = data.index.isin(estimation_sample(data, ["Dist", *x], options).index)
            add(main, ("T5", drop, controls))
            for region in REGIONS:
                add(main & (data["region"] == region).to_numpy(), (f"T6_{region}", drop, controls))
            add(data.index.isin(estimation_sample(data, ["Dist", "Isu", *x], options).index), ("T9", drop, controls))
            add(main & has_lag, ("T7", drop, controls))
    return out


def _lag_rows(data: pd.DataFrame) -> np.ndarray:
    """Positions of the rows models.with_instrument keeps (the city has the year two before)."""
    kept = with_instrument(data.assign(_row=np.arange(len(data))))
    return kept["_row"].to_numpy()


def tasks_for(base_id: int, base: Base, index_variants: list[Options], drops, controls_sets, cov_types,
              bandwidth: int, wild_settings: WildSettings | None = None) -> list[Task]:
    variants = []
    seen = set()
    for options in index_variants:
        dk, gk = _dist_key(options), _dig_key(options)
        if (dk, gk) in seen:
            continue
        seen.add((dk, gk))
        variants.append((base.dist[dk], base.shared.get(dk), base.dig[gk], base.lag[gk], dk, gk))
    tasks = []
    data = base.data
    for number, (mask, jobs) in enumerate(_samples(base, drops, controls_sets).values()):
        iv = any(job[0] == "T7" for job in jobs)
        names = [*FIXED, *sorted(set(base.dist.values()) | set(base.shared.values()) | set(base.dig.values())
                                 | (set(base.lag.values()) if iv else set()))]
        matrix = np.column_stack([base.columns[n][mask] for n in names])
        part = data[mask]
        tasks.append(Task((base_id, number), matrix, names, part["city_code"].to_numpy(),
                          part["province"].to_numpy(), part["year"].to_numpy(), jobs, variants,
                          tuple(cov_types), bandwidth, wild_settings))
    return tasks


# ---------------------------------------------------------------------------- the regressions


@dataclass
class _Sample:
    """A task's sample: demeaned once (estimation.Demeaned), and the wild bootstraps' clusters and weights."""

    demeaned: estimation.Demeaned
    wild: dict  # cov_type -> (wild.Clusters, weight blocks) of the wild bootstrap clustered as cov_type


def _prepare(task: Task) -> _Sample:
    demeaned = estimation.Demeaned.build(task.matrix, task.names, task.city, task.year,
                                         {"city": task.city, "province": task.province}, task.bandwidth)
    boot = {}
    if task.wild is not None:
        for cov_type, ids in (("cluster_city", task.city), ("cluster_province", task.province)):
            if cov_type in task.cov_types:
                clusters = wild.Clusters.build(ids, task.city, task.year, "twoway")
                enumerated = wild.enumerates(clusters.n_clusters, task.wild.weights, task.wild.draws)
                blocks = list(wild.weight_blocks(clusters.n_clusters, task.wild.weights, task.wild.draws,
                                                 task.wild.seed, enumerated))
                boot[cov_type] = (clusters, blocks)
    return _Sample(demeaned, boot)


def _wild(sample: _Sample, settings: WildSettings, y: str, x: list[str]) -> dict:
    """cov_type -> (wild bootstrap p of x[0] = 0, draws) for the clustered cov_types: the WCR test of
    wild.wild_bootstrap on the sample's transformed columns, with the weights drawn once per sample."""
    out = {}
    w, index = sample.demeaned.w, sample.demeaned.index
    for cov_type, (clusters, blocks) in sample.wild.items():
        pieces = wild.within_pieces(w[:, index[y]], w[:, [index[v] for v in x]], 0, clusters, True)
        result = wild.wild_test(pieces, cluster=COV[cov_type], weights=settings.weights, draws=settings.draws,
                                seed=settings.seed, ci=False, blocks=blocks)
        out[cov_type] = (result.p_symmetric, result.draws)
    return out


def _row(estimand, job, variant, cov_type, estimate, se, df, clusters, n, boot=(np.nan, np.nan)) -> dict:
    """One result; df NaN means a normal reference distribution (Sobel); `boot` the wild bootstrap's
    (p, draws), NaN where it does not apply."""
    return {"estimand": estimand, "_model": _model_key(job[2], cov_type, job[1]),
            "_dist": repr(variant[4]), "_dig": repr(variant[5]), "estimate": estimate, "std_error": se,
            "t_stat": estimate / se, "nobs": n, "clusters": clusters, "df": df, "wild_p": boot[0],
            "wild_replications": boot[1]}


def run_task(task: Task) -> pd.DataFrame:
    """Every regression of one estimation sample -> one row per (index variant, job, cov_type)."""
    sample = _prepare(task)
    covariances = {cov_type: COV[cov_type] for cov_type in task.cov_types}
    n = len(task.year)
    rows, wild_done = [], {}
    for job in task.jobs:
        group, _, controls = job
        for variant in task.variants:
            dist, shared, dig, lag = variant[:4]
            extra = [shared] if shared else []
            controls_x = [*STEPS[controls][1:], *extra]
            if group == "T9":
                a, cov_a = sample.demeaned.ols("Isu", [dig, *controls_x], covariances)
                b, cov_b = sample.demeaned.ols(dist, [dig, "Isu", *controls_x], covariances)
                for cov_type in task.cov_types:
                    sa, sb = np.sqrt(cov_a[cov_type][0][0, 0]), np.sqrt(cov_b[cov_type][0][1, 1])
                    se = np.sqrt(sobel_variance(a[0], sa, b[1], sb))
                    rows.append(_row("T9_ab", job, variant, cov_type, a[0] * b[1], se, np.nan,
                                     cov_a[cov_type][2], n))
                continue
            if group == "T7":
                beta, covs = sample.demeaned.iv(dist, dig, lag, controls_x, covariances)
                estimand, boot = "T7_Dig_2SLS", {}  # the wild bootstrap here is of OLS only
            else:
                beta, covs = sample.demeaned.ols(dist, [dig, *controls_x], covariances)
                estimand = "T5_Dig" if group == "T5" else group
                # dig_rescale only rescales Dig, which leaves t and the wild p unchanged: one bootstrap
                # serves both scales (and both drop_filled jobs when their rows are the same)
                key = (group, controls, dist, shared, variant[5][:-1])
                if key not in wild_done:
                    wild_done[key] = _wild(sample, task.wild, dist, [dig, *controls_x]) if task.wild else {}
                boot = wild_done[key]
            for cov_type, (cov, df, clusters) in covs.items():
                rows.append(_row(estimand, job, variant, cov_type, beta[0], np.sqrt(cov[0, 0]), df, clusters, n,
                                 boot.get(cov_type, (np.nan, np.nan))))
    frame = pd.DataFrame(rows)
    t, df = frame["t_stat"].to_numpy(), frame["df"].to_numpy()
    # scipy.stats.t.sf and norm.sf, vectorised (the same special functions)
    frame["p_value"] = 2 * np.where(np.isnan(df), special.ndtr(-np.abs(t)), special.stdtr(np.nan_to_num(df, nan=1), -np.abs(t)))
    return frame.assign(_base=task.key[0])


def _model_key(controls, cov_type, drop_filled) -> str:
    return f"{controls}|{cov_type}|{bool(drop_filled)}"


# ---------------------------------------------------------------------------- running the grid


@dataclass
class Multiverse:
    specs: pd.DataFrame  # one row per specification and estimand
    moments: pd.DataFrame  # Table 4 moments of every index variant, per specification
    notes: list
    removed_gap: float  # max |Dist(six_shared_removed) - Dist(four)| over the panels
    wild: WildSettings | None = None  # the wild bootstrap's settings (None: not run)


@contextlib.contextmanager
def engine(jobs: int = 1, scheduler: str | None = None):
    """joblib.Parallel over `jobs` local processes, or over the Dask cluster at `scheduler` through
    joblib's Dask backend; results come back in submission order whatever finishes first."""
    import joblib

    if scheduler:
        client = cluster_client(scheduler)
        try:
            with joblib.parallel_config(backend="dask"):
                yield joblib.Parallel(n_jobs=-1, return_as="generator")
        finally:
            client.close()
    else:
        yield joblib.Parallel(n_jobs=jobs, return_as="generator")


CLUSTER_SECONDS = 15  # how long a scheduler, its first worker and the workers' import check may take


def worker_imports() -> str:
    """Run on every worker before the grid: the package imports there (its path, for the error)."""
    import replication

    return replication.__file__


def cluster_client(address: str, seconds: float = CLUSTER_SECONDS):
    """A distributed.Client of the scheduler at `address`, once it answers, has a worker and every
    worker imports this package, each within `seconds`; otherwise a BuildError in one line, so the run
    ends in bounded time (a task the workers cannot deserialize would otherwise wait for ever)."""
    from distributed import Client

    from replication.errors import BuildError

    where = f"--scheduler {address}"
    try:
        client = Client(address, timeout=seconds)
    except (OSError, TimeoutError) as exc:
        raise BuildError(f"{where}: no Dask scheduler answered within {seconds:g} s ({type(exc).__name__}); "
                         "start one with `dask scheduler` (README: A Dask cluster)") from None
    try:
        client.wait_for_workers(1, timeout=seconds)
    except (OSError, TimeoutError):
        client.close()
        raise BuildError(f"{where}: the scheduler has no worker after {seconds:g} s; start workers with "
                         "`.venv/bin/dask worker <address>` (README: A Dask cluster)") from None
    try:
        client.run(worker_imports)
    except Exception as exc:  # noqa: BLE001 - whatever the worker raised, it is said in the one line
        client.close()
        raise BuildError(f"{where}: a worker cannot import the replication package ({type(exc).__name__}: {exc}); "
                         "start the workers from this project's .venv, where `make` installs it") from None
    return client


def _map(parallel, function, items: list, sizes: list[int], what: str, progress) -> list:
    import joblib

    total, done, start, out = sum(sizes), 0, time.perf_counter(), []
    for size, result in zip(sizes, parallel(joblib.delayed(function)(*item) for item in items)):
        out.append(result)
        done += size
        if progress is not None:
            rate = done / max(time.perf_counter() - start, 1e-9)
            progress(f"multiverse: {done}/{total} {what} ({rate:,.0f}/s)")
    return out


def run(panels: dict[str, pd.DataFrame], variants: dict[str, dict] | None = None, grid: dict | None = None,
        jobs: int = 1, scheduler: str | None = None, progress=None, base: Options | None = None) -> Multiverse:
    """The whole grid on `panels` ({'default': panel, variant name: panel}); `variants` maps each
    variant name to its panel-build options (data/processed/variants/variants.json)."""
    decisions, notes = grid_decisions(GRID if grid is None else grid, variants)
    specs = specifications(decisions)
    base_names = [d for d in decisions if d not in (*INDEX_DECISIONS, *MODEL_DECISIONS)]
    base = base or Options()
    options = [spec_options(row, variants, base) for row in specs.to_dict("records")]
    specs["_dist"] = [repr(_dist_key(o)) for o in options]
    specs["_dig"] = [repr(_dig_key(o)) for o in options]
    specs["_model"] = [_model_key(row.get("controls", "(4)"), o.cov_type, o.drop_filled)
                       for row, o in zip(specs.to_dict("records"), options)]
    base_keys = _joined(specs[base_names], "|") if base_names else pd.Series("", specs.index)
    specs["_base"] = pd.factorize(base_keys)[0]
    bases = []
    for base_id, part in specs.groupby("_base", sort=True):
        first = part.iloc[0].to_dict()
        panel = panels[first.get("panel", DEFAULT)]
        base_options = dataclasses.replace(spec_options({k: first[k] for k in base_names}, variants, base),
                                           drop_filled=False)
        index_variants = [options[i] for i in part.index]
        data, rows = base_frame(panel, base_options)
        bases.append((base_id, base_options, index_variants, data, rows, index_jobs(index_variants)))
    tasks, moments, removed_gap = [], [], 0.0
    wild_settings = WildSettings(base.multiverse_wild_draws, base.wild_weights, base.seed) \
        if base.multiverse_wild_draws else None
    with engine(jobs, scheduler) as parallel:
        items = [(rows, options, which) for _, _, _, _, rows, jobs_ in bases for options, which in jobs_]
        computed = iter(_map(parallel, index_task, items, [1] * len(items), "index variants", progress))
        for base_id, base_options, index_variants, data, rows, jobs_ in bases:
            built = assemble_base(data, rows, jobs_, [next(computed) for _ in jobs_], base_options)
            removed_gap = max(removed_gap, built.removed_gap)
            tasks += tasks_for(base_id, built, index_variants, decisions.get("drop_filled", (False,)),
                               decisions.get("controls", ("(4)",)), decisions.get("cov_type", ("cluster_city",)),
                               base.dk_bandwidth, wild_settings)
            for (dk, gk), values in built.moments.items():
                moments.append({"_base": base_id, "_dist": repr(dk), "_dig": repr(gk), **values})
        sizes = [len(t.jobs) * len(t.variants) * len(t.cov_types) for t in tasks]
        results = pd.concat(_map(parallel, run_task, [(t,) for t in tasks], sizes, "estimates", progress),
                            ignore_index=True)
    merged = specs.merge(results, on=["_base", "_dist", "_dig", "_model"], how="left", validate="1:m")
    merged["_order"] = merged["estimand"].map({e: i for i, e in enumerate(ESTIMANDS)})
    merged = merged.sort_values(["spec_id", "_order"], kind="stable").reset_index(drop=True)
    if merged["estimate"].isna().any():
        raise ValueError("multiverse: a specification has no estimate; the tasks did not cover the grid")
    moments_frame = specs[["spec_id", "_base", "_dist", "_dig"]].merge(
        pd.DataFrame(moments), on=["_base", "_dist", "_dig"], how="left")
    columns = ["spec_id", "estimand", *decisions, "estimate", "std_error", "t_stat", "p_value", "nobs",
               "clusters", "df", "wild_p", "wild_replications"]
    return Multiverse(merged[columns], moments_frame.drop(columns=["_base", "_dist", "_dig"]), notes, removed_gap,
                      wild_settings)



# ---------------------------------------------------------------------------- what the grid shows

def shares(specs: pd.DataFrame, by: str | None = "dist_indicators") -> pd.DataFrame:
    """Per estimand (and per value of `by`): how many specifications are significantly negative or
    positive at 5%, and the median estimate and t."""
    groups = [("all", specs)]
    if by is not None and by in specs.columns:
        groups += [(f"{by}={value}", part) for value, part in specs.groupby(by, sort=False)]
    rows = []
    for group, frame in groups:
        for estimand in ESTIMANDS:
            part = frame[frame["estimand"] == estimand]
            if not len(part):
                continue
            significant = part["p_value"] < SIGNIFICANCE
            rows.append({
                "estimand": estimand, "group": group, "specifications": len(part),
                "share_negative_5": float((significant & (part["estimate"] < 0)).mean()),
                "share_positive_5": float((significant & (part["estimate"] > 0)).mean()),
                "median_estimate": float(part["estimate"].median()), "median_t": float(part["t_stat"].median()),
                "min_t": float(part["t_stat"].min()), "max_t": float(part["t_stat"].max()),
            })
    return pd.DataFrame(rows)


WILD_ESTIMANDS = ("T5_Dig", "T6_East", "T6_Central", "T6_West")
WILD_NOT_APPLICABLE = {
    "T7_Dig_2SLS": "2SLS: the wild restricted bootstrap of an IV estimate (Davidson and MacKinnon's WRE) is not "
                   "what replication/wild.py implements (OLS with absorbed effects)",
    "T9_ab": "a x b is a product of two coefficients from two regressions, not a linear restriction on one: no "
             "single WCR null to impose (Table 9's own cluster bootstrap is its resampling test)",
    "driscoll_kraay": "Driscoll-Kraay rows have no cluster wild analogue here (their clusters would be the 11 years "
                      "with cross-sectional dependence, which the wild cluster bootstrap does not model)",
}


def wild_shares(specs: pd.DataFrame, by: str | None = "panel") -> pd.DataFrame:
    """Per OLS estimand and clustering (cov_type city or province), over all specifications and per
    value of `by`: the share significantly negative / positive at 5% by the cluster-robust t test and
    by the wild cluster restricted bootstrap, side by side on the same rows, and the share classified
    alike by both."""
    if "wild_p" not in specs.columns or specs["wild_p"].isna().all():
        return pd.DataFrame()
    rows = []
    tested = specs[specs["wild_p"].notna()]
    groups = [("all", tested)]
    if by is not None and by in tested.columns and tested[by].nunique() > 1:
        groups += [(f"{by}={value}", part) for value, part in tested.groupby(by, sort=False)]
    # without a cov_type decision every task clusters by city (tasks_for's default)
    cov_types = ("cluster_city", "cluster_province") if "cov_type" in tested.columns else ("cluster_city",)
    for (group, part), estimand, cov_type in itertools.product(groups, WILD_ESTIMANDS, cov_types):
        frame = part[(part["estimand"] == estimand) & (part.get("cov_type", cov_type) == cov_type)]
        if not len(frame):
            continue
        sign = np.sign(frame["estimate"].to_numpy(float))
        by_t = np.where(frame["p_value"].to_numpy(float) < SIGNIFICANCE, sign, 0)
        by_wild = np.where(frame["wild_p"].to_numpy(float) < SIGNIFICANCE, sign, 0)
        draws = frame["wild_replications"].astype(int)
        rows.append({
            "estimand": estimand, "clusters": COV[cov_type], "group": group, "specifications": len(frame),
            "share_negative_5_t": float((by_t < 0).mean()), "share_negative_5_wild": float((by_wild < 0).mean()),
            "share_positive_5_t": float((by_t > 0).mean()), "share_positive_5_wild": float((by_wild > 0).mean()),
            "share_significant_5_t": float((by_t != 0).mean()),
            "share_significant_5_wild": float((by_wild != 0).mean()),
            "share_same_verdict": float((by_t == by_wild).mean()),
            "median_G": float(frame["clusters"].median()),
            "draws": "; ".join(f"{d}" for d in sorted(draws.unique())),
        })
    return pd.DataFrame(rows)


def interaction(specs: pd.DataFrame, estimand: str = "T5_Dig", rows: str = "dist_indicators",
                columns: tuple[str, ...] = ("winsorize", "pooling")) -> pd.DataFrame:
    """Share of specifications significantly negative at 5%, by `rows` x `columns` (the decisions
    whose effects are not additive: the main effects leave part of the variance of t unexplained)."""
    part = specs[specs["estimand"] == estimand]
    present = [c for c in columns if c in part.columns]
    if rows not in part.columns or not present:
        return pd.DataFrame()
    negative = (part["p_value"] < SIGNIFICANCE) & (part["estimate"] < 0)
    keys = _joined(part[present], ", ")
    table = negative.groupby([part[rows], keys], sort=False).mean().unstack()
    table.columns = [f"{', '.join(present)} = {c}" for c in table.columns]
    return table.reset_index()


def _joined(frame: pd.DataFrame, separator: str) -> pd.Series:
    """Each row's values as strings joined by `separator` (column-wise, not row by row)."""
    columns = [frame[c].astype(str) for c in frame.columns]
    out = columns[0]
    for column in columns[1:]:
        out = out + separator + column
    return out


def _values(column: pd.Series) -> list[str]:
    """The distinct values of a column as strings, in order of first appearance."""
    return list(pd.unique(column.astype(str)))


def varying(specs: pd.DataFrame, decisions) -> list[str]:
    return [d for d in decisions if d in specs.columns and specs[d].astype(str).nunique() > 1]


def importance(specs: pd.DataFrame, decisions) -> pd.DataFrame:
    """How much each decision moves t: the share of the variance of t across specifications explained
    by the decision alone (between-value sum of squares / total), per estimand; and, as the row
    'all decisions', the R-squared of t on every decision's dummies together (main effects)."""
    rows = []
    names = varying(specs, decisions)
    for estimand in ESTIMANDS:
        part = specs[specs["estimand"] == estimand]
        if not len(part):
            continue
        t = part["t_stat"].to_numpy(float)
        total = float(((t - t.mean()) ** 2).sum())
        dummies = [np.ones(len(part))]
        for name in names:
            labels = part[name].astype(str).to_numpy()
            values, codes = np.unique(labels, return_inverse=True)
            means = np.bincount(codes, weights=t) / np.bincount(codes)
            # a nested decision (NOT_APPLICABLE elsewhere) is measured among the rows it applies to,
            # so that it does not inherit the effect of the decision it depends on
            applies = values != NOT_APPLICABLE
            centre = t[labels != NOT_APPLICABLE].mean()
            between = float((np.bincount(codes)[applies] * (means[applies] - centre) ** 2).sum())
            spread = {value: float(mean) for value, mean in zip(values, means)}
            rows.append({"estimand": estimand, "decision": name, "share_of_variance_t": between / total,
                         "mean_t_by_value": "; ".join(f"{v}: {m:.2f}" for v, m in spread.items())})
            dummies += [(codes == i).astype(float) for i in range(1, len(values))]
        design = np.column_stack(dummies)
        fitted = design @ np.linalg.lstsq(design, t, rcond=None)[0]
        rows.append({"estimand": estimand, "decision": "all decisions (main effects)",
                     "share_of_variance_t": float(((fitted - t.mean()) ** 2).sum() / total), "mean_t_by_value": ""})
    return pd.DataFrame(rows)


def ranking(table: pd.DataFrame) -> pd.DataFrame:
    """Decisions by their mean share of the variance of t over the estimands."""
    single = table[table["decision"] != "all decisions (main effects)"]
    return (single.groupby("decision")["share_of_variance_t"].mean().sort_values(ascending=False, kind="stable")
            .rename("mean_share_of_variance_t").reset_index())


def closest(result: Multiverse, published: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The index variants whose Table 4 moments (mean and sd of Dist and Dig) are nearest the paper's
    (sum of squared relative gaps): a description of the grid, never a target."""
    from replication.published import cell

    paper = {f"{v}_{s}": cell(published, "T4", v, s, "value") for v in PUBLISHED_MOMENTS for s in ("mean", "sd")}
    moments = result.moments.copy()
    moments["distance"] = sum(((moments[k] - v) / v) ** 2 for k, v in paper.items())
    headline = result.specs[(result.specs["estimand"] == "T5_Dig")]
    index_names = [c for c in headline.columns if c in ("panel", "share_end_rule", *INDEX_DECISIONS)
                   or c not in (*MODEL_DECISIONS, "spec_id", "estimand", "estimate", "std_error", "t_stat",
                                "p_value", "nobs", "clusters", "df", *WILD_COLUMNS)]
    frame = headline.merge(moments, on="spec_id")
    default_model = np.ones(len(frame), dtype=bool)
    for name, value in (("controls", "(4)"), ("cov_type", "cluster_city"), ("drop_filled", False)):
        if name in frame.columns:
            default_model &= frame[name].astype(str).eq(str(value)).to_numpy()
    frame = frame[default_model].sort_values(["distance", "spec_id"], kind="stable").head(top)
    out = frame[[*index_names, *paper, "distance", "estimate", "t_stat", "p_value"]].copy()
    for key, value in paper.items():
        out[f"{key}_paper"] = value
    return out.rename(columns={"estimate": "T5_Dig", "t_stat": "T5_t", "p_value": "T5_p"}).reset_index(drop=True)


# ---------------------------------------------------------------------------- the files


def outputs(result: Multiverse, published: pd.DataFrame, mechanism: pd.DataFrame | None = None,
            grid: dict | None = None, options=None) -> dict[str, str | bytes]:
    """{relative path: content} of output/multiverse/ (the command line writes them). `options`: the run's
    options, whose values the curves mark as the default specification (None: the package defaults)."""

    specs = result.specs
    decisions = [c for c in specs.columns if c not in ("spec_id", "estimand", "estimate", "std_error", "t_stat",
                                                       "p_value", "nobs", "clusters", "df", *WILD_COLUMNS)]
    share_table = shares(specs)
    wild_table = wild_shares(specs)
    effect = importance(specs, decisions)
    ranked = ranking(effect)
    near = closest(result, published)
    out: dict[str, str | bytes] = {
        "specs.csv": _csv(specs), "summary.csv": _csv(share_table), "decisions.csv": _csv(effect),
        "closest.csv": _csv(near),
    }
    if len(wild_table):
        out["wild.csv"] = _csv(wild_table)
    for estimand in ESTIMANDS:
        for kind, content in specification_curve(specs, estimand, decisions, published, options).items():
            out[f"curve_{estimand}.{kind}"] = content
    if mechanism is not None:
        out["mechanism.csv"] = _csv(mechanism)
    out["summary.md"] = summary_markdown(result, share_table, effect, ranked, near, mechanism, decisions, wild_table,
                                         options)
    return out


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")


def _md(frame: pd.DataFrame, digits: int = 3) -> str:
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "|".join("---" for _ in frame.columns) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def wild_section(result: Multiverse, table: pd.DataFrame) -> list[str]:
    """summary.md's lines on the wild cluster bootstrap beside the cluster-robust t."""
    settings = result.wild
    if settings is None or not len(table):
        return ["## Cluster-robust t and the wild cluster bootstrap", "",
                "Not run (Options.multiverse_wild_draws = 0).", ""]
    def shown(frame):
        return _md(frame.drop(columns=["median_G", "group"])
                   .rename(columns=lambda c: c.replace("share_", "").replace("_5", "")))

    by_group = [line for group in dict.fromkeys(table["group"]) if group != "all"
                for line in (f"{group}:", "", shown(table[table["group"] == group]), "")]
    return [
        "## Cluster-robust t and the wild cluster bootstrap", "",
        f"Every OLS estimand of a specification clustered by city or by province also carries the p-value of the "
        f"wild cluster restricted bootstrap (WCR) of Dig = 0 (replication/wild.py), clustered the same way: "
        f"{settings.weights} weights, {settings.draws} draws (Options.multiverse_wild_draws; the Monte Carlo "
        f"standard error of a p-value near 0.05 is then {np.sqrt(0.05 * 0.95 / settings.draws):.3f}), all 2^G "
        f"sign vectors instead when 2^G <= {settings.draws} (the few-province regions), the same seed "
        f"({settings.seed}, Options.seed) for every specification, so that specifications differ by their data, "
        "not by their draws (specs.csv: wild_p, wild_replications). The shares below are over the same rows under "
        "both inferences (wild.csv):", "",
        shown(table[table["group"] == "all"]), "",
        *(["By panel (compare same_verdict across panels and clusterings: with few or very unequal clusters the "
           "cluster-robust t test's t(G - 1) reference is least reliable and the wild bootstrap is the one to "
           "trust, after MacKinnon and Webb):", "", *by_group] if by_group else []),
        "Where the wild bootstrap does not apply (wild_p empty):", "",
        *[f"- {k}: {v}" for k, v in WILD_NOT_APPLICABLE.items()], "",
    ]


def six_by_winsorize(specs: pd.DataFrame, estimand: str = "T5_Dig") -> list[str]:
    """Markdown lines: how far the six-indicator Dist's significantly negative Dig rests on winsorising
    (nothing when the grid has no six-indicator Dist or a single winsorising value)."""
    if "dist_indicators" not in specs.columns or "winsorize" not in specs.columns:
        return []
    six = specs[(specs["dist_indicators"].astype(str) == "six") & (specs["estimand"] == estimand)]
    if not len(six) or six["winsorize"].nunique() < 2:
        return []
    table = shares(six, by="winsorize")
    table = table[(table["estimand"] == estimand) & (table["group"] != "all")]
    negative = ((six["p_value"] < SIGNIFICANCE) & (six["estimate"] < 0)).mean()
    parts = ", ".join(f"{r.share_negative_5:.0%} at winsorize = {r.group.split('=', 1)[1]}" for r in table.itertuples())
    return [f"With the six-indicator Dist, {ESTIMAND_LABELS.get(estimand, estimand)} is significantly negative at 5% "
            f"in {negative:.0%} of its {len(six)} specifications: {parts}.", "", _md(table), ""]


ESTIMAND_LABELS = {"T5_Dig": "Table 5's Dig"}


def summary_markdown(result, share_table, effect, ranked, near, mechanism, decisions, wild_table=None,
                     options=None) -> str:
    specs = result.specs
    n = specs["spec_id"].nunique()
    values = {d: list(_values(specs[d])) for d in decisions}
    overall = share_table[share_table["group"] == "all"]
    lines = [
        "# The multiverse", "",
        f"{n} specifications x {len(ESTIMANDS)} estimands = {len(specs)} estimates (specs.csv). Estimands: Table 5's Dig "
        "(the column given by the control set), Table 6's Dig in East, Central and West, Table 7's 2SLS Dig, "
        "Table 9's indirect effect a x b (Sobel standard error, normal p). Table 6's permutation test and "
        "Table 9's bootstrap are not run per specification: estimates and analytic errors place a "
        "specification on the curve. Significance: p < 0.05 with each specification's own errors. Estimates "
        "are in the units of each specification's Dist and Dig (dig_rescale changes the scale, not t): "
        "compare through t and p. The curves (curve_<estimand>.png and .pdf) plot t, mark this run's default "
        "specification and the paper's t, and, where the wild bootstrap ran, the specifications it rejects.", "",
        "## The grid", "",
        *[f"- **{d}**: {', '.join(v)}" for d, v in values.items()], "",
        "Not in the grid:", "",
        *[f"- {k}: {v}" for k, v in OUTSIDE_GRID.items()],
        *[f"- {note}" for note in dict.fromkeys(result.notes)],
        f"- max |Dist(six_shared_removed) - Dist(four)| over the panels: {result.removed_gap:.1e}", "",
        "## Share of specifications significant at 5%", "",
        _md(overall.drop(columns="group")), "",
        "By Dist indicator set:", "",
        _md(share_table[share_table["group"] != "all"]), "",
        *six_by_winsorize(specs),
        *wild_section(result, wild_table if wild_table is not None else wild_shares(specs)),
        "## What moves the estimate", "",
        "Share of the variance of t across specifications explained by each decision alone (per estimand; a "
        "decision that applies to one Dig recipe only is measured among those specifications), and by all "
        "decisions together (main effects). Decisions ranked by their mean share over the estimands:", "",
        _md(ranked), "",
        _md(effect.pivot(index="decision", columns="estimand", values="share_of_variance_t")
            .reindex(columns=[e for e in ESTIMANDS if e in set(effect["estimand"])]).reset_index()), "",
        "The effects are not additive. Share of specifications significantly negative at 5%, by Dist "
        "indicator set and by winsorising and pooling, per estimand:", "",
        *[line for estimand in ESTIMANDS if len(interaction(specs, estimand))
          for line in (f"{estimand}:", "", _md(interaction(specs, estimand), 2), "")],
        "Mean t by value (decisions.csv has every estimand):", "",
        *[f"- {r.decision} ({r.estimand}): {r.mean_t_by_value}" for r in effect.itertuples()
          if r.estimand == "T5_Dig" and r.mean_t_by_value], "",
        "## The specifications closest to the paper's Table 4", "",
        "The index variants whose mean and standard deviation of Dist and Dig come nearest the paper's "
        "(sum of squared relative gaps), with Table 5 column 4's Dig (always city-clustered, all rows, "
        "whatever the option). A description of the grid, never a target: no estimate is chosen by it.", "",
        _md(near, 4), "",
    ]
    if mechanism is not None:
        lines += [mechanism_section(mechanism, options)[0], ""]
    return "\n".join(lines)
