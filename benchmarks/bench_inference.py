"""Benchmarks of replication/inference.py (issue 23): Conley on the paper panel; Conley on 1,000,000
rows with 10,000 locations at 250 km (goal under 30 s and 2 GB on 2 cores); CV3 and leverage
beside R's sandwich/clubSandwich on the paper panel; WRE for Table 7 at the tables' draws.

    python benchmarks/bench_inference.py [--skip-r]

Each case prints seconds and the peak of memory that numpy and Python allocated in it
(tracemalloc); the process's peak resident size is printed at the end."""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from replication import inference as inf
from replication.config import Options
from replication.data import load_panel
from replication.indices import analysis_frame
from replication.models import CONTROLS

ROOT = Path(__file__).resolve().parent.parent
SANDWICH = ROOT / "tests" / "reference" / "sandwich"


def measured(label: str, work):
    """Runs work(), prints its seconds and peak traced memory, returns its value."""
    tracemalloc.start()
    start = time.perf_counter()
    value = work()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{label:<58} {seconds:9.3f} s {peak / 2**20:9.1f} MB")
    return value


def conley_paper(data) -> None:
    coordinates = inf.prefecture_coordinates(data, inf.load_adcodes())
    fitted = inf.panel_fit(data, "Dist", ["Dig", *CONTROLS], Options())
    estimate = float(fitted.fit.params["Dig"])
    rows = measured("Conley, Table 5 (4), 2 kernels x 3 cutoffs, lag 2",
                    lambda: inf.conley_rows(fitted.sample, fitted.xt, fitted.resid, fitted.x, "Dig", estimate,
                                            coordinates))
    for row in rows:
        print(f"    {row['method']:<30} SE {row['std_error']:.6f}")


def conley_large(rows: int = 1_000_000, locations: int = 10_000, k: int = 5, seed: int = 1) -> None:
    """Locations uniform over eastern China (100-122 E, 20-42 N: denser than the country, about 370
    neighbours each at 250 km), 100 periods, k regressors, serial lag 2."""
    rng = np.random.default_rng(seed)
    lonlat = np.column_stack([rng.uniform(100, 122, locations), rng.uniform(20, 42, locations)])
    periods = rows // locations
    location = np.repeat(np.arange(locations), periods)
    time_index = np.tile(np.arange(periods), locations)
    z = rng.normal(size=(rows, k))
    resid = rng.normal(size=rows)
    pairs = len(inf.neighbour_pairs(lonlat[:, 0], lonlat[:, 1], 250.0)[0])
    print(f"    {rows:,} rows, {locations:,} locations, {periods} periods, {pairs:,} pairs within 250 km")
    measured("Conley, 1,000,000 rows, 10,000 locations, 250 km, Bartlett, lag 2",
             lambda: inf.conley_cov(z, resid, location, lonlat, time_index, 250.0, "bartlett", 2))


def cv3_paper(data, skip_r: bool) -> None:
    spec = importlib.util.spec_from_file_location("designs", SANDWICH / "designs.py")
    designs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(designs)
    cases = designs.cases(data, Options())

    def jackknives():
        out = {}
        for name, (sample, term) in cases.items():
            x, y, names = inf.jackknife_arrays(sample, "Dist", [term, *CONTROLS])
            for cluster in ("city_code", "province"):
                out[name, cluster] = inf.cluster_jackknife(x, y, sample[cluster].to_numpy(), names, term)
        return out

    results = measured("CV3, leverage, G*: 5 table columns x 2 clusterings", jackknives)
    if skip_r or shutil.which("Rscript") is None:
        print("    R: skipped" if skip_r else "    R: Rscript not found")
        return
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "designs.csv"
        designs.main(str(csv))
        start = time.perf_counter()
        output = subprocess.run(["Rscript", str(SANDWICH / "cv3.R"), str(csv)], check=True,
                                capture_output=True, text=True).stdout
        print(f"{'R sandwich HC3 + clubSandwich CR3, same cases (Rscript)':<58} "
              f"{time.perf_counter() - start:9.3f} s")
    worst = 0.0
    for line in output.splitlines()[2:]:
        case, cluster, term, *_, se_hc3, _ = line.split("\t")
        result = results[case, cluster]
        worst = max(worst, abs(result.std_error(term) / float(se_hc3) - 1))
    print(f"    largest relative difference of a CV3 SE from R's: {worst:.2e}")


def wre_table7(data) -> None:
    fitted = inf.iv_fit(data, Options())
    for label, cluster in inf.CLUSTERINGS:
        result = measured(f"WRE, Table 7 Dig, {label} clusters, 9,999 draws, confidence set",
                          lambda cluster=cluster: inf.iv_wre(fitted, cluster, Options()))
        interval = inf.confidence_note(result.confidence_set)
        print(f"    p = {result.p_wre:.4f}, set {interval}, G = {result.nclusters}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-r", action="store_true", help="do not run R's reference")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, numpy {np.__version__}")
    data = analysis_frame(load_panel(ROOT / "data" / "processed" / "panel.csv"), Options()).data
    conley_paper(data)
    conley_large()
    cv3_paper(data, args.skip_r)
    wre_table7(data)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"peak resident memory of the process: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
