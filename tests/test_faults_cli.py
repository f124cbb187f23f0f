"""Fault injection at the command line: damaged panels, bad options, mismatched steps, damaged output
sets, unusable output paths, a full disk in the middle of a publish (SIGTERM and SIGKILL mid-publish:
tests/test_cli.py).

Table-driven: each case damages copies (under tmp_path) of the committed panel or of a complete output
set, runs the command line in process (`main(argv)`; a full disk is injected by monkeypatching the
file system calls, tests/test_cli.py's `disk_full`) and asserts the exit code, the words of the message,
that no partial or mixed output exists (the output set is byte-identical to what it was, no staging
left behind) and that the inputs are unchanged.  The committed files and the raw directory are never
touched.  The build-side cases (damaged yearbook sheets) are in tests/test_panel_errors.py and the
build helper's own fault file.  One case runs `python -m replication` in a real process, where the
process is the point: the exit code of a refused run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from conftest import PROCESSED, ROOT
from replication.__main__ import main
from test_cli import disk_full

TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys):
    """`python -m replication <args>` in this process: its exit code and what it printed."""
    def command(*args: str) -> Run:
        capsys.readouterr()
        code = main(list(args))
        printed = capsys.readouterr()
        return Run(code, printed.out, printed.err)
    return command


def digest(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def work(tmp_path, complete_set):
    """A copy of the committed panel (with its build manifest) and of the complete output set."""
    panel_dir = tmp_path / "processed"
    panel_dir.mkdir()
    for name in ("panel.csv", "manifest.json", "CODEBOOK.md"):
        shutil.copy2(PROCESSED / name, panel_dir / name)
    out = tmp_path / "output"
    shutil.copytree(complete_set, out)
    return panel_dir, out


# ---------------------------------------------------------------------------- damages


def edit_panel(change: Callable[[pd.DataFrame], pd.DataFrame]):
    def damage(panel_dir: Path, out: Path) -> None:
        path = panel_dir / "panel.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        change(frame).to_csv(path, index=False)
    return damage


def set_cell(column: str, value: str, row: int = 3):
    def change(frame):
        frame.loc[row, column] = value
        return frame
    return edit_panel(change)


def write_panel(text: bytes):
    def damage(panel_dir, out):
        (panel_dir / "panel.csv").write_bytes(text)
    return damage


def edit_output(relative: str, change: Callable[[bytes], bytes | None]):
    def damage(panel_dir, out):
        path = out / relative
        new = change(path.read_bytes())
        if new is None:
            path.unlink()
        else:
            path.write_bytes(new)
    return damage


def blank_shares(panel_dir, out):
    """The employment shares of 2020-2021 left empty, as a panel built with share_end_rule=none has them."""
    def change(frame):
        late = frame["year"].isin(["2020", "2021"])
        frame.loc[late, ["ict_share_whole", "emp_tertiary_share_whole"]] = ""
        return frame
    edit_panel(change)(panel_dir, out)


def blank_shares_built_with_none(panel_dir, out):
    blank_shares(panel_dir, out)
    manifest = panel_dir / "manifest.json"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('"share_end_rule": "carry_forward"',
                                                                     '"share_end_rule": "none"'), encoding="utf-8")


def symlink_loop(panel_dir, out):
    (panel_dir / "panel.csv").unlink()
    (panel_dir / "panel.csv").symlink_to(panel_dir / "panel.csv")


def nothing(panel_dir, out):
    return None


@dataclass
class Case:
    id: str
    args: list[str]  # {panel} and {out} are replaced by the copies' paths
    code: int
    words: list[str]
    damage: Callable = nothing
    outputs: str = "unchanged"  # the output set must be byte-identical afterwards ("changed": a step ran)
    fault: tuple[str, ...] = ()  # a full disk: disk_full's arguments (where, and optionally the step)
    absent: list[str] = field(default_factory=list)  # words that must not appear in stderr


P, O = "{panel}", "{out}"
INDICES = ["indices", "--panel", P, "--out", O]
MODELS = ["models", "--panel", P, "--out", O]
REPORT = ["report", "--out", O]

CASES = [
    # -- the panel given to a step (issue 13: duplicates, regions, NaN, inf, years, columns, text)
    Case("duplicate-city-year", INDICES, 2, ["panel.csv", "duplicate (city_code, year)", "石家庄市 (130100) 2016"],
         edit_panel(lambda f: pd.concat([f, f.iloc[[5]]], ignore_index=True))),
    Case("region-outside-set", MODELS, 2, ["column region", "one of East, Central, West", "'North'", "2014"],
         set_cell("region", "North")),
    Case("nan-in-model-input", INDICES, 2, ["column gdp_whole", "missing values", "石家庄市 (130100) 2014"],
         set_cell("gdp_whole", "")),
    Case("inf-in-model-input", MODELS, 2, ["column pku_index", "finite number", "石家庄市 (130100) 2014"],
         set_cell("pku_index", "inf")),
    Case("year-outside-range", INDICES, 2, ["column year", "a year in 2011-2021", "2030"], set_cell("year", "2030")),
    Case("year-before-range", INDICES, 2, ["column year", "a year in 2011-2021", "2009"], set_cell("year", "2009")),
    Case("missing-column", INDICES, 2, ["panel.csv", "missing column pku_index"],
         edit_panel(lambda f: f.drop(columns=["pku_index"]))),
    Case("text-in-numeric-column", INDICES, 2, ["column gdp_whole", "expected a number", "'n/a'", "(line 5)"],
         set_cell("gdp_whole", "n/a")),
    Case("decimal-comma", MODELS, 2, ["column beds_whole", "expected a number", "'1,5'"], set_cell("beds_whole", "1,5")),
    Case("text-city-code", INDICES, 2, ["column city_code", "expected a number", "'X1'"], set_cell("city_code", "X1")),
    Case("negative-count", INDICES, 2, ["column beds_whole", ">= 0", "-1"], set_cell("beds_whole", "-1")),
    Case("zero-population", INDICES, 2, ["column pop_whole", "> 0", "石家庄市 (130100) 2014"], set_cell("pop_whole", "0")),
    Case("missing-city-name-column", MODELS, 2, ["missing column city_en"], edit_panel(lambda f: f.drop(columns=["city_en"]))),
    Case("share-above-100", INDICES, 2, ["column tertiary_share_whole", "<= 100", "140"],
         set_cell("tertiary_share_whole", "140")),
    Case("district-above-whole", INDICES, 2, ["beds_district <= beds_whole", "石家庄市 (130100) 2014"],
         set_cell("beds_district", "999999999")),
    Case("empty-panel-file", INDICES, 2, ["panel.csv", "cannot be read as a CSV file"], write_panel(b"")),
    Case("binary-panel-file", INDICES, 2, ["panel.csv", "cannot be read as a CSV file"],
         write_panel(bytes(range(256)) * 40)),
    Case("panel-symlink-loop", INDICES, 2, ["--panel", "symlink loop"], symlink_loop),
    Case("missing-panel", ["indices", "--panel", "{panel}/../absent.csv", "--out", O], 2, ["--panel", "file not found"]),
    Case("panel-is-directory", ["models", "--panel", "{panel}/..", "--out", O], 2, ["--panel", "is a directory"]),
    # -- options: type and range, named (issue 10.6, 13.4)
    Case("seed-not-integer", ["--set", "seed=abc", *MODELS], 2, ["option seed: expected an integer, got 'abc'"]),
    Case("seed-negative", [*MODELS, "--set", "seed=-1"], 2, ["option seed: expected a value >= 0, got '-1'"]),
    Case("bootstrap-draws-zero", [*MODELS, "--set", "bootstrap_draws=0"], 2, ["option bootstrap_draws", "[40,"]),
    Case("bootstrap-draws-negative", [*MODELS, "--set", "bootstrap_draws=-5"], 2, ["option bootstrap_draws", "'-5'"]),
    Case("permutation-draws-zero", [*MODELS, "--set", "permutation_draws=0"], 2, ["option permutation_draws", "[1,"]),
    Case("dk-bandwidth-negative", [*MODELS, "--set", "dk_bandwidth=-3"], 2, ["option dk_bandwidth", "'-3'"]),
    Case("winsorize-too-large", [*INDICES, "--set", "winsorize=0.7"], 2, ["option winsorize", "[0, 0.5)"]),
    Case("winsorize-nan", [*INDICES, "--set", "winsorize=nan"], 2, ["option winsorize", "'nan'"]),
    Case("cov-type-unknown", [*MODELS, "--set", "cov_type=hc3"], 2, ["option cov_type", "one of cluster_city"]),
    Case("bool-not-bool", [*MODELS, "--set", "drop_filled=maybe"], 2, ["option drop_filled: expected true or false"]),
    Case("unknown-option", [*MODELS, "--set", "sed=1"], 2, ["option sed: no such option", "did you mean seed"]),
    Case("set-without-value", [*MODELS, "--set", "seed"], 2, ["--set 'seed'", "expected name=value"]),
    Case("repeated-set", [*MODELS, "--set", "seed=1", "--set", "seed=2"], 2, ["option seed: given twice"]),
    Case("repeated-set-before-and-after", ["--set", "stars=paper", *REPORT, "--set", "stars=econ"], 2,
         ["option stars: given twice"]),
    # -- options of the panel build given to a later step (issue 10.1)
    Case("panel-option-to-indices", [*INDICES, "--set", "edge_fill_years=0"], 2,
         ["option edge_fill_years", "edge_fill_years=1", "make data"]),
    Case("panel-option-to-report", [*REPORT, "--set", "share_end_rule=none"], 2,
         ["option share_end_rule", "make data"]),
    Case("panel-option-without-build-record", [*MODELS, "--set", "share_end_rule=none"], 2,
         ["option share_end_rule", "records no build options", "make data"],
         lambda panel_dir, out: (panel_dir / "manifest.json").unlink()),
    Case("share-missing-without-rule", INDICES, 2,
         ["column ict_share_whole", "only in a panel built with share_end_rule=none", "2020"], blank_shares),
    Case("share-missing-with-rule", MODELS, 0, ["wrote Tables 5-9"], blank_shares_built_with_none, outputs="changed"),
    # -- a step whose inputs were made with other options (issue 10.1)
    Case("report-model-option-differs", [*REPORT, "--set", "cov_type=robust"], 2,
         ["option cov_type", "cov_type='cluster_city'", "cov_type='robust'", "make models"]),
    Case("report-index-option-differs", [*REPORT, "--set", "winsorize=0.05"], 2,
         ["option winsorize", "winsorize=0.01", "make indices models"]),
    Case("report-draws-option-differs", [*REPORT, "--set", "bootstrap_draws=500"], 2,
         ["option bootstrap_draws", "bootstrap_draws=2000"]),
    # -- damaged or missing output sets
    Case("table-edited-after-models", REPORT, 2, ["table5.csv", "changed since `models` wrote it", "make models"],
         edit_output("tables/table5.csv", lambda b: b.replace(b"0.", b"0.9", 1))),
    Case("draws-deleted", REPORT, 2, ["table9_draws.csv", "missing"], edit_output("tables/table9_draws.csv", lambda b: None)),
    Case("analysis-edited-after-indices", REPORT, 2, ["analysis.csv", "changed since `indices` wrote it"],
         edit_output("data/analysis.csv", lambda b: b.replace(b",East,", b",North,", 1))),
    Case("models-manifest-deleted", REPORT, 2, ["models.manifest.json: not found", "make models"],
         edit_output("models.manifest.json", lambda b: None)),
    Case("models-manifest-garbage", REPORT, 2, ["models.manifest.json: not a manifest"],
         edit_output("models.manifest.json", lambda b: b"{not json")),
    Case("indices-from-another-panel", REPORT, 2, ["do not belong", "different panels", "make indices models"],
         edit_output("indices.manifest.json", lambda b: b.replace(b'"panel.csv": "', b'"panel.csv": "0', 1))),
    # -- the output path and the disk (issue 13.3)
    Case("out-is-a-file", ["indices", "--panel", P, "--out", "{out}/indices.manifest.json"], 2,
         ["--out", "is a file, expected a directory"]),
    Case("out-under-a-file", ["models", "--panel", P, "--out", "{out}/indices.manifest.json/sub"], 2,
         ["--out", "cannot create the output directory"]),
    Case("panel-out-is-a-file", ["panel", "--raw", "{panel}", "--out", "{panel}/panel.csv"], 2,
         ["--out", "is a file"]),
    Case("disk-full-while-staging", MODELS, 2, ["No space left on device", "previous outputs are unchanged"],
         fault=("stage",)),
    Case("disk-full-between-renames", MODELS, 2, ["No space left on device", "previous outputs are unchanged"],
         fault=("publish",)),
    Case("disk-full-publishing-report", REPORT, 2, ["No space left on device"], fault=("publish",)),
    # -- accepted correctly
    Case("set-after-subcommand", [*INDICES, "--set", "winsorize=0.02"], 0, ["wrote analysis.csv"], outputs="changed"),
    Case("panel-option-equal-to-build", [*INDICES, "--set", "edge_fill_years=1"], 0, ["wrote analysis.csv"],
         outputs="changed"),
    Case("report-adopts-model-options", REPORT, 0, ["wrote"], outputs="changed"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, work, run, monkeypatch):
    panel_dir, out = work
    case.damage(panel_dir, out)
    inputs, outputs = digest(panel_dir), digest(out)
    args = [a.replace("{panel}", str(panel_dir / "panel.csv") if a == P else str(panel_dir)).replace("{out}", str(out))
            for a in case.args]
    if case.fault:
        disk_full(monkeypatch, *case.fault)
    result = run(*args)
    message = result.stderr
    assert result.returncode == case.code, message
    assert TRACEBACK not in message, message
    for word in case.words:
        assert word in message + result.stdout, (word, message)
    if case.code:
        assert message.count("\n") <= 2 and message.startswith("error: "), message  # one clear line
    assert digest(panel_dir) == inputs, "the inputs must be unchanged"
    if case.outputs == "unchanged":
        assert digest(out) == outputs, "a refused run must leave the previous output set as it was"
    assert not (out / ".publish").exists(), "no staging or journal may be left behind"


def test_a_refused_run_exits_2_with_one_line_and_no_traceback(tmp_path):
    """A real process: `python -m replication report` without the sets it reads exits with 2."""
    result = subprocess.run([sys.executable, "-m", "replication", "report", "--out", str(tmp_path / "empty")],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CI": "true"}, timeout=600)
    assert result.returncode == 2 and TRACEBACK not in result.stderr
    assert result.stderr == (f"error: {tmp_path / 'empty' / 'indices.manifest.json'}: not found; "
                             "run `make indices` first\n")


def test_models_with_other_index_options_says_so_and_report_refuses(work, run):
    panel_dir, out = work
    before = digest(out)
    result = run(*[a.replace("{panel}", str(panel_dir / "panel.csv")).replace("{out}", str(out)) for a in MODELS],
                 "--set", "winsorize=0.05")
    assert result.returncode == 0 and "Tables 5-9 and the analysis.csv beside them now differ" in result.stderr
    assert "winsorize" in result.stderr
    report = run("report", "--out", str(out))
    assert report.returncode == 2 and "do not belong to the analysis.csv beside them" in report.stderr
    after = digest(out)
    models_files = ("models.manifest.json", "tables/mechanism.csv", "tables/inference.csv")
    assert {k for k in after if after[k] != before.get(k)} <= {f for f in after if f.startswith("tables/table")
                                                               and f.endswith(".csv") or f in models_files}


@pytest.mark.parametrize("step", ["indices", "models", "report", "guangxi"])
def test_all_publishes_one_set_or_leaves_every_previous_set(work, run, monkeypatch, step):
    """`make all` whose step fails (each of the four in turn), a full disk injected where it publishes,
    leaves every step's previous set in place, the earlier steps' new sets included, and says which step
    failed; the report then still matches the tables beside it."""
    panel_dir, out = work
    before = digest(out)
    with monkeypatch.context() as patch:
        disk_full(patch, "publish", step)
        result = run("all", "--panel", str(panel_dir / "panel.csv"), "--out", str(out), "--set", "winsorize=0.02")
    assert result.returncode == 2 and TRACEBACK not in result.stderr
    assert f"all: the {step} step failed; every step's previous outputs in {out} are unchanged" in result.stderr
    assert "No space left on device" in result.stderr
    assert digest(out) == before  # nothing of the new run, not even its indices
    assert not (out / ".staging-all").exists()
    assert run("report", "--out", str(out)).returncode == 0


def test_report_adopts_the_model_options_of_its_inputs(work, run):
    """`make models SET=cov_type=robust` then `make report`: the notes say HC1, as the numbers are."""
    panel_dir, out = work
    assert run("models", "--panel", str(panel_dir / "panel.csv"), "--out", str(out), "--set",
               "cov_type=robust").returncode == 0
    report = run("report", "--out", str(out))
    assert report.returncode == 0, report.stderr
    table5 = (out / "tables" / "table5.md").read_text(encoding="utf-8")
    assert "heteroskedasticity-robust (HC1)" in table5 and "Non-default options: cov_type=robust" in table5
    assert '"cov_type": "robust"' in (out / "report.manifest.json").read_text(encoding="utf-8")


def test_a_rerun_is_byte_identical_and_stale_files_go(work, run):
    """Publishing the same set twice changes nothing; a file the new set lacks is removed with the set."""
    panel_dir, out = work
    before = digest(out)
    assert run("models", "--panel", str(panel_dir / "panel.csv"), "--out", str(out)).returncode == 0
    assert digest(out) == before
    draws = pd.read_csv(out / "tables" / "table9_draws.csv")
    assert list(draws.columns) == ["key", "draw", "value"] and set(draws["key"]) == {"bootstrap_ab"}
    assert len(draws) == 2000 and np.isfinite(draws["value"]).all()

