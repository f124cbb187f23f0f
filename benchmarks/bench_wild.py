"""`make bench`: 9,999 WCR replications by replication.wild beside wildboottest (through pyfixest,
which builds the fixed effects as dense dummy columns), on the paper's panel and on synthetic
balanced panels of 57,000 rows (3,000 cities x 19 years) and 1,000,000 rows (10,000 cities x 100
years), clustered by city.

Every run is a child process (``python -m benchmarks.bench_wild``) with its address space capped
(RLIMIT_AS) and a time limit, so a run that needs more cannot take the machine down: its failure is
recorded instead.  Reported per run: wall time of the call (the model's data already in memory;
wildboottest's numba compilation excluded by a warm-up call), peak resident memory of the child
and its resident memory before the call.
"""

from __future__ import annotations

import json
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REGRESSORS = ["Dig", "Ur", "Stru", "lnexpense", "lnper_gdp"]
SYNTHETIC = {"57k_rows_3000_clusters": (3000, 19), "1m_rows_10000_clusters": (10_000, 100)}
ADDRESS_SPACE_GB = 4
TIME_LIMIT = {"wild": 600, "wildboottest": 120}


def synthetic_panel(cities: int, years: int, seed: int) -> pd.DataFrame:
    """Balanced city-year panel with the paper's regressors' names, city and year effects and
    city-level error correlation; the coefficient of Dig is zero."""
    rng = np.random.default_rng(seed)
    n = cities * years
    frame = pd.DataFrame({"city_code": np.repeat(np.arange(cities), years),
                          "year": np.tile(np.arange(years), cities)})
    city_effect, year_effect = rng.normal(size=cities), rng.normal(size=years)
    for name in REGRESSORS:
        frame[name] = rng.normal(size=n) + 0.5 * city_effect[frame["city_code"]]
    shock = rng.normal(size=cities)[frame["city_code"]]
    frame["Dist"] = (frame[REGRESSORS[1:]].to_numpy() @ np.full(4, 0.1) + city_effect[frame["city_code"]]
                     + year_effect[frame["year"]] + shock + rng.normal(size=n))
    return frame


def _rss_mb() -> float:
    """Peak resident memory of this process image (VmHWM). getrusage's ru_maxrss would also count the
    parent's pages from before the fork and exec that started this child."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_ours(data: pd.DataFrame, draws: int, seed: int) -> dict:
    from replication.wild import wild_bootstrap

    start = time.perf_counter()
    result = wild_bootstrap(data, "Dist", REGRESSORS, cluster="city_code", draws=draws, seed=seed)
    return {"seconds": time.perf_counter() - start, "p": result.p_symmetric, "G": result.nclusters,
            "ci": [result.ci_low, result.ci_high]}


def _run_wildboottest(data: pd.DataFrame, draws: int, seed: int) -> dict:
    import pyfixest as pf

    formula = f"Dist ~ {' + '.join(REGRESSORS)} | city_code + year"
    warm = synthetic_panel(5, 3, seed)  # numba compiles on first use; not part of the timing
    pf.feols(formula, warm, vcov={"CRV1": "city_code"}).wildboottest(param="Dig", reps=9, seed=seed)
    start = time.perf_counter()
    fit = pf.feols(formula, data, vcov={"CRV1": "city_code"})
    out = fit.wildboottest(param="Dig", reps=draws, seed=seed)
    return {"seconds": time.perf_counter() - start, "p": float(out["Pr(>|t|)"]),
            "G": int(data["city_code"].nunique())}


def _child() -> None:
    """python -m benchmarks.bench_wild <wild|wildboottest> <case> <draws> <seed>; the paper's data
    (case 'paper') arrive pickled on stdin.  Prints one JSON line."""
    implementation, case, draws, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if case == "paper":
        data = pickle.loads(sys.stdin.buffer.read())
    else:
        data = synthetic_panel(*SYNTHETIC[case], seed=seed)
    before = _rss_mb()
    runner = _run_ours if implementation == "wild" else _run_wildboottest
    figures = runner(data, draws, seed)
    figures |= {"rows": len(data), "rss_before_call_mb": round(before), "peak_rss_mb": round(_rss_mb())}
    print(json.dumps(figures))


def _limit_address_space() -> None:
    limit = ADDRESS_SPACE_GB * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_case(implementation: str, case: str, data: pd.DataFrame | None, draws: int, seed: int) -> dict:
    """One run in a capped child process -> its figures, or the way it failed."""
    payload = pickle.dumps(data[["city_code", "year", "Dist", *REGRESSORS]]) if data is not None else b""
    command = [sys.executable, "-m", "benchmarks.bench_wild", implementation, case, str(draws), str(seed)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, input=payload, capture_output=True, timeout=TIME_LIMIT[implementation],
                              preexec_fn=_limit_address_space, cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        return {"failed": f"killed after the {TIME_LIMIT[implementation]} s time limit"}
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or [f"exit {done.returncode}"]
        return {"failed": f"exit {done.returncode} under a {ADDRESS_SPACE_GB} GB address-space limit: "
                          f"{lines[-1][:200]}",
                "seconds_until_failure": round(time.perf_counter() - start, 1)}
    figures = json.loads(done.stdout.decode().strip().splitlines()[-1])
    figures["seconds"] = round(figures["seconds"], 3)
    return figures


def benchmark_wild(data: pd.DataFrame, options) -> dict:
    """Figures for bench.json: per panel, replication.wild and wildboottest (9,999 WCR draws,
    Rademacher, city clusters)."""
    draws, seed = 9999, options.seed
    figures: dict[str, object] = {
        "draws": f"{draws} WCR replications of the Dig coefficient, Rademacher weights, city clusters, "
                 "with the confidence interval by test inversion (replication.wild)",
        "limits": f"each run in a child process, {ADDRESS_SPACE_GB} GB address space, "
                  f"time limit {TIME_LIMIT['wild']} s (ours) / {TIME_LIMIT['wildboottest']} s (wildboottest)",
    }
    cases = {"paper_panel": ("paper", data)} | {name: (name, None) for name in SYNTHETIC}
    for name, (case, frame) in cases.items():
        figures[name] = {implementation: run_case(implementation, case, frame, draws, seed)
                         for implementation in ("wild", "wildboottest")}
    return figures


if __name__ == "__main__":
    _child()
