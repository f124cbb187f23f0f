"""`make bench`: resampling speed and the wall time of Tables 5-9 (figures, not a test)."""

from __future__ import annotations

import os
import platform
import time

import numpy as np
import pandas as pd

from benchmarks.bench_wild import benchmark_wild
from benchmarks.bench_multiverse import benchmark_multiverse
from replication.config import Options
from replication.models import CONTROLS, TABLES
from replication.resampling import bootstrap_weights, panel_moments


def run_benchmark(data: pd.DataFrame, options: Options, draws: int = 20_000, repeats: int = 3) -> dict:
    x = ["Dig", *CONTROLS]
    variables = ["Dist", "Isu", *x]
    sample = data.dropna(subset=variables)  # any panel: balanced or not (panel_moments picks the path)
    moments = panel_moments(sample, variables)
    rng = np.random.default_rng(options.seed)
    weights = bootstrap_weights(len(moments.cities), draws, rng)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for chunk in np.array_split(weights, max(1, draws // 2000)):
            moments.coefficients(chunk, "Isu", x)
            moments.coefficients(chunk, "Dist", ["Dig", "Isu", *CONTROLS])
        best = min(best, time.perf_counter() - start)
    tables = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for function in TABLES.values():
            function(data, options)
        tables = min(tables, time.perf_counter() - start)
    return {
        "draws_per_second": round(draws / best),
        "draw": "one cluster-bootstrap draw = both mediation regressions (paths a and b) refitted",
        "panel_rows": len(data),
        "bootstrap_rows": len(sample),
        "bootstrap_moments": type(moments).__name__,
        "tables_5_9_seconds": round(tables, 3),
        "tables_5_9_resampling": f"{options.bootstrap_draws} bootstrap draws, "
                                 f"3 x {options.permutation_draws} permutation draws",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "fast": benchmark_fast(),
        "wild_bootstrap": benchmark_wild(data, options),
        "multiverse": benchmark_multiverse(options=options),
    }
