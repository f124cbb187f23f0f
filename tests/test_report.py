"""Rendered tables, the comparison, the audit, and `make all` end to end."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from replication.compare import audit
from replication.config import Options
from replication.published import parse_claims, parse_published
from replication.registry import REGISTRY
from replication.render import MINUS, grid, to_markdown

from conftest import ROOT

REFERENCE = ROOT / "data" / "reference"


@pytest.fixture(scope="module")
def outputs(complete_set):
    """`python -m replication all` on the committed panel (the session's one run, tests/conftest.py)."""
    return complete_set


def test_all_runs_every_step_make_all_runs(outputs):
    """`python -m replication all` is `make all`: indices, models, report and the Guangxi case."""
    for step in ("indices", "models", "report", "guangxi"):
        assert (outputs / f"{step}.manifest.json").is_file(), step
    assert (outputs / "reports" / "guangxi.md").is_file()


def test_markdown_table5_holds_the_estimates_of_table5_csv(outputs):
    markdown = (outputs / "tables" / "table5.md").read_text(encoding="utf-8")
    tidy = pd.read_csv(outputs / "tables" / "table5.csv")
    for row in tidy[tidy["term"] != "_cons"].itertuples():
        assert f"{row.estimate:.4f}".replace("-", MINUS) in markdown, row
        assert f"({row.t_stat:.2f})".replace("-", MINUS) in markdown, row
    assert "The constant is not shown" in markdown
    assert re.search(r"\| N +\| +2827 +\| +2827 +\| +2827 +\| +2827 +\|", markdown)


@pytest.mark.parametrize("name", ["table1", "table3", "table4", "table5", "table6", "table7", "table8", "table9"])
def test_latex_is_a_fragment_to_input(outputs, name):
    """Structure here; tests/test_render.py compiles every fragment with pdflatex."""
    text = (outputs / "tables" / f"{name}.tex").read_text(encoding="utf-8")
    assert "\\documentclass" not in text and "\\begin{document}" not in text
    for begin, end in (("\\begin{table}", "\\end{table}"), ("\\begin{tabular}", "\\end{tabular}")):
        assert text.count(begin) == text.count(end) == 1
    assert text.count("{") == text.count("}")
    spec = text.split("\\begin{tabular}{", 1)[1].split("\n", 1)[0]
    width = len(re.sub(r"D\{\.\}\{\.\}\{[\d.]+\}", "D", spec.replace("@{}", "")).rstrip("}"))
    body = text.split("\\begin{tabular}", 1)[1].split("\\end{tabular}")[0]
    rows = [line for line in body.splitlines() if line.endswith("\\\\")]

    def width_of(line):
        return line.count(" & ") + 1 + sum(int(n) - 1 for n in re.findall(r"\\multicolumn\{(\d+)\}", line))

    assert rows and all(width_of(line) == width for line in rows), spec
    assert body.index("\\toprule") < body.index("\\midrule") < body.index("\\bottomrule")
    assert text.isascii()


def test_stars_follow_the_chosen_thresholds(outputs):
    tidy = pd.read_csv(outputs / "tables" / "table5.csv")
    stats_ = pd.read_csv(outputs / "tables" / "table5_stats.csv")
    # a p between the two conventions' top thresholds (0.001 and 0.01), planted: the screened panel has none
    tidy.loc[(tidy["column"] == "(2)") & (tidy["term"] == "Ur"), "p_value"] = 0.0022
    frames = {"table5": tidy, "table5_stats": stats_}
    econ = to_markdown(grid(REGISTRY["table5"], frames, None, Options()))
    paper = to_markdown(grid(REGISTRY["table5"], frames, None, Options(stars="paper")))
    ur = tidy[(tidy["column"] == "(2)") & (tidy["term"] == "Ur")].iloc[0]
    shown = f"{ur.estimate:.4f}".replace("-", MINUS)
    assert f"{shown}***" in econ and f"{shown}**" in paper and f"{shown}***" not in paper
    assert "stars=paper" in paper and "* p<0.05, ** p<0.01, *** p<0.001" in paper


def test_comparison_covers_every_published_number(outputs):
    published = parse_published((REFERENCE / "published.csv").read_text(encoding="utf-8"))
    compared = pd.read_csv(outputs / "reports" / "comparison.csv")
    assert len(compared) == (published["stat"] != "stars").sum()
    report = (outputs / "reports" / "comparison.md").read_text(encoding="utf-8")
    assert "## Scorecard" in report and "## Why the numbers differ" in report


FABRICATED = """table,column,row,stat,value,printed,source
T1,weight,a,weight,0.6,0.6,x
T1,weight,b,weight,0.3,0.3,x
T5,(1),Dig,estimate,-0.10,-0.10** (-2.80),x
T5,(1),Dig,t,-2.80,-0.10** (-2.80),x
T5,(1),Dig,stars,2,-0.10** (-2.80),x
T5,(1),Ur,estimate,0.05,0.05** (1.20),x
T5,(1),Ur,t,1.20,0.05** (1.20),x
T5,(1),Ur,stars,2,0.05** (1.20),x
T5,(1),nobs,value,3000,3000,x
T6,East,nobs,value,1056,1056,x
T6,Central,nobs,value,1100,1100,x
T6,West,nobs,value,946,946,x
T6,All,nobs,value,3102,3102,x
T7,first_stage,L2.Dig,estimate,0.9,0.9*** (10.00),x
T7,first_stage,L2.Dig,t,10.00,0.9*** (10.00),x
T7,first_stage,L2.Dig,stars,3,0.9*** (10.00),x
T7,first_stage,F,value,150,150,x
T9,c,Dig,estimate,-0.2,-0.2** (-3.00),x
T9,c,Dig,t,-3.00,-0.2** (-3.00),x
T9,c,Dig,stars,2,-0.2** (-3.00),x
T9,a,Dig,estimate,0.5,0.5*** (5.00),x
T9,a,Dig,t,5.00,0.5*** (5.00),x
T9,a,Dig,stars,3,0.5*** (5.00),x
T9,b_cprime,Dig,estimate,-0.1,-0.1* (-2.10),x
T9,b_cprime,Dig,t,-2.10,-0.1* (-2.10),x
T9,b_cprime,Dig,stars,1,-0.1* (-2.10),x
T9,b_cprime,Isu,estimate,-0.1,-0.1*** (-5.00),x
T9,b_cprime,Isu,t,-5.00,-0.1*** (-5.00),x
T9,b_cprime,Isu,stars,3,-0.1*** (-5.00),x
T4,Ur,mean,value,0.5,0.5,x
T4,Ur,min,value,0.1,0.1,x
T4,Ur,max,value,1.2,1.2,x
"""
FABRICATED_CLAIMS = """claim_id,table,column,row,claim,level,printed
K1,T5,(1),Dig,significant,0.05,ok
K2,T5,(1),Ur,significant,0.05,wrong: t = 1.2
K3,T9,sobel,z,significant,0.01,ok
"""


def test_audit_finds_exactly_the_planted_inconsistencies():
    checks = audit(parse_published(FABRICATED), parse_claims(FABRICATED_CLAIMS))
    found = {(r.check, r.table, r.cell) for r in checks[checks["result"] == "inconsistent"].itertuples()}
    assert found == {
        ("weights sum to one", "T1", "weights"),  # 0.6 + 0.3 = 0.9
        ("stars", "T5", "(1) Ur"),  # t = 1.2 cannot carry two stars under either convention
        ("claim", "T5", "K2: (1) Ur significant at 0.05"),
        ("N = cities x years", "T5", "(1)"),  # 3000 != 282 x 11
        ("F vs t^2", "T7", "first stage"),  # F 150 against t^2 = 100
        ("c = c' + ab", "T9", "paths"),  # -0.1 + 0.5 x -0.1 = -0.15 against c = -0.2
        ("range", "T4", "Ur"),  # a share with maximum 1.2
    }
    assert (checks["result"] == "consistent").sum() >= 10  # the clean cells pass (e.g. Sobel claim K3)


def test_audit_of_the_paper(outputs):
    checks = pd.read_csv(outputs / "reports" / "audit.csv")
    bad = checks[checks["result"] == "inconsistent"]
    assert set(bad["cell"]) == {"second_stage Dig", "C7: Central Dig significant at 0.05",
                                "C15: sobel z significant at 0.01", "Stru"}


def _tracked_copy(target: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)


def _digest(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_make_all_in_a_fresh_copy_twice_gives_identical_bytes(tmp_path):
    clone = tmp_path / "clone"
    clone.mkdir()
    _tracked_copy(clone)
    venv = Path(sys.executable).parent.parent
    command = ["make", "all", f"VENV={venv}", "-o", f"{venv}/.installed", "-o", "requirements.lock",
               "-o", "pyproject.toml"]
    first = subprocess.run(command, cwd=clone, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    one = _digest(clone / "output")
    second = subprocess.run(command, cwd=clone, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _digest(clone / "output") == one
    expected = {"data/analysis.csv", "reports/comparison.md", "reports/comparison.html", "reports/audit.md",
                "reports/audit.html", "figures/dig_coefficients.png", "figures/dig_coefficients.pdf",
                "figures/indices_by_region.pdf", "figures/bootstrap_indirect.png",
                "reports/tables.tex", "reports/tables.md", "reports/tables.html",
                *(f"tables/table{n}{kind}" for n in (1, 3, 4, 5, 6, 7, 8, 9)
                  for kind in (".csv", ".md", ".tex", "_tabular.tex", ".html"))}
    assert expected <= set(one)
    assert not (clone / "data" / "raw").exists()


@pytest.mark.parametrize("name", ["01_indices.ipynb", "02_main_results.ipynb"])
def test_notebook_runs_and_its_committed_outputs_are_current(name):
    """Every code cell of the committed notebook has its outputs (a reader sees them on GitHub), and
    executing it again gives exactly those outputs: `make notebooks` was run after the last change."""
    import nbformat

    from replication.notebooks import execute, outputs

    committed = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    assert all(cell.get("outputs") for cell in committed.cells if cell.cell_type == "code"), "a cell has no output"
    fresh = execute(ROOT / "notebooks" / name, allow_errors=True)
    errors = [f"{o['ename']}: {o['evalue']}" for cell in outputs(fresh) for o in cell if o.get("output_type") == "error"]
    assert not errors, errors
    assert outputs(fresh) == outputs(committed), "the committed outputs are stale: run `make notebooks`"


def test_a_notebook_cell_that_raises_is_named(tmp_path):
    """What the test above relies on: executed with allow_errors, a failing cell is recorded as an error
    output (it does not raise before the assertion), and the cells after it still run."""
    import nbformat

    from replication.notebooks import execute, outputs

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0"), nbformat.v4.new_code_cell("2 + 3")])
    nbformat.write(notebook, tmp_path / "broken.ipynb")
    cells = outputs(execute(tmp_path / "broken.ipynb", allow_errors=True))
    assert [o["output_type"] for o in cells[0]] == ["error"] and cells[0][0]["ename"] == "ZeroDivisionError"
    assert cells[1][0]["data"]["text/plain"] == "5"
