"""The headline numbers pinned: every estimate, standard error and statistic of Tables 5-9 on the
committed panel with the default options, against tests/results/headline.csv (1e-6).

The file also records the sha256 of data/processed/panel.csv and the default options it was made
with, so that a failure says what moved the numbers: the panel, a default, or the code.
Regenerate it (after an intended change) with:

    .venv/bin/python -m tests.test_headline
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PANEL = ROOT / "data" / "processed" / "panel.csv"
HEADLINE = Path(__file__).resolve().parent / "results" / "headline.csv"
TOLERANCE = 1e-6  # absolute, or relative to values above 1 in magnitude
REGENERATE = ".venv/bin/python -m tests.test_headline"


def panel_sha256() -> str:
    return hashlib.sha256(PANEL.read_bytes()).hexdigest()


def current_cells() -> pd.DataFrame:
    """table, column, name, field, value for every cell of Tables 5-9 with the default options."""
    from replication.config import Options
    from replication.data import load_panel
    from replication.indices import analysis_frame
    from replication.models import TABLES

    options = Options()
    data = analysis_frame(load_panel(PANEL), options).data
    frames = []
    for table, function in TABLES.items():
        result = function(data, options)
        coefficients = result.coefficients.melt(id_vars=["column", "term"],
                                                value_vars=["estimate", "std_error"],
                                                var_name="field", value_name="value")
        frames.append(coefficients.rename(columns={"term": "name"}).assign(table=table))
        frames.append(result.stats.rename(columns={"stat": "name"}).assign(table=table, field="stat"))
    cells = pd.concat(frames, ignore_index=True)[["table", "column", "name", "field", "value"]]
    return cells.assign(value=cells["value"].astype(float))


def default_options() -> dict[str, str]:
    from replication.config import Options

    return {f.name: str(getattr(Options(), f.name)) for f in dataclasses.fields(Options)}


def headline_text() -> str:
    meta = [("_meta", "", "panel_sha256", "", panel_sha256())]
    meta += [("_meta", "", "option", name, value) for name, value in default_options().items()]
    cells = current_cells()
    rows = pd.concat([pd.DataFrame(meta, columns=cells.columns),
                      cells.assign(value=[repr(float(v)) for v in cells["value"]])], ignore_index=True)
    return rows.to_csv(index=False, lineterminator="\n")


def read_headline() -> tuple[str, dict[str, str], pd.DataFrame]:
    frame = pd.read_csv(io.StringIO(HEADLINE.read_text(encoding="utf-8")), dtype=str, keep_default_na=False)
    meta = frame[frame["table"] == "_meta"]
    sha = meta.loc[meta["name"] == "panel_sha256", "value"].iloc[0]
    rows = meta[meta["name"] == "option"]
    options = dict(zip(rows["field"], rows["value"]))
    cells = frame[frame["table"] != "_meta"].assign(value=lambda d: d["value"].astype(float))
    return sha, options, cells


def explain(recorded_sha: str, recorded_options: dict[str, str]) -> str:
    """What moved the numbers: the panel, a default option, or (neither) the code."""
    reasons = []
    if panel_sha256() != recorded_sha:
        reasons.append(f"data/processed/panel.csv changed (sha256 {panel_sha256()[:12]} != recorded "
                       f"{recorded_sha[:12]}): if the panel was rebuilt on purpose, rerun `{REGENERATE}`")
    now = default_options()
    names = set(now) | set(recorded_options)
    moved = sorted(name for name in names if now.get(name) != recorded_options.get(name))
    if moved:
        described = ", ".join(f"{n}: {recorded_options.get(n, '(absent)')} -> {now.get(n, '(absent)')}"
                              for n in moved)
        reasons.append(f"default options changed ({described}): if intended, rerun `{REGENERATE}`")
    if not reasons:
        reasons.append("same panel and same default options: the code changed the estimates")
    return "; ".join(reasons)


def test_tables_5_to_9_match_the_pinned_headline_numbers():
    recorded_sha, recorded_options, recorded = read_headline()
    current = current_cells()
    key = ["table", "column", "name", "field"]
    merged = recorded.merge(current, on=key, how="outer", suffixes=("_pinned", "_now"), indicator="side")
    missing = merged[merged["side"] != "both"]
    both = merged[merged["side"] == "both"]
    pinned, now = both["value_pinned"].to_numpy(), both["value_now"].to_numpy()
    same_nan = np.isnan(pinned) & np.isnan(now)
    off = ~same_nan & ~(np.abs(pinned - now) <= TOLERANCE * np.maximum(1.0, np.abs(pinned)))
    moved = both[off]
    if len(missing) or len(moved):
        lines = [f"{r.table} {r.column} {r.name} {r.field}: pinned {r.value_pinned!r}, now {r.value_now!r}"
                 for r in moved.head(10).itertuples()]
        lines += [f"{r.table} {r.column} {r.name} {r.field}: only in the "
                  f"{'pinned file' if r.side == 'left_only' else 'current tables'}"
                  for r in missing.head(10).itertuples()]
        raise AssertionError(f"{len(moved)} headline cells moved, {len(missing)} appeared or disappeared. "
                             f"Cause: {explain(recorded_sha, recorded_options)}\n" + "\n".join(lines))


def test_the_failure_message_names_the_cause():
    sha, options, _ = read_headline()
    assert panel_sha256() == sha, f"tests/results/headline.csv records another panel: rerun `{REGENERATE}`"
    assert explain(sha, options) == "same panel and same default options: the code changed the estimates"
    changed = dict(options, seed="1")
    assert f"seed: 1 -> {default_options()['seed']}" in explain(sha, changed)
    assert "panel.csv changed" in explain("0" * 64, options)


if __name__ == "__main__":
    HEADLINE.write_text(headline_text(), encoding="utf-8")
    print(f"wrote {HEADLINE.relative_to(ROOT)} (panel sha256 {panel_sha256()[:12]})")
