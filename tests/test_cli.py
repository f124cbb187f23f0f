"""The command line's own parts, in process: option parsing and listing, the schemas' messages,
publishing an output set all or nothing, and the options record between steps."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from replication import schemas
from replication.__main__ import REMEDY, adopt, main, parser
from replication.config import RULES, STEPS, Options, describe_options, parse_overrides
from replication.errors import BuildError
from replication.publish import publish, read_set, recover, sha256, write_atomic

from conftest import PROCESSED, ROOT


# ---------------------------------------------------------------------------- options


@pytest.mark.parametrize("pairs, message", [
    (["seed=abc"], "option seed: expected an integer, got 'abc'"),
    (["seed=1.5"], "option seed: expected an integer, got '1.5'"),
    (["seed=-1"], "option seed: expected a value >= 0, got '-1'"),
    (["bootstrap_draws=0"], "option bootstrap_draws: expected a value in [40, 10000000], got '0'"),
    (["permutation_draws=0"], "option permutation_draws: expected a value in [1, 10000000], got '0'"),
    (["dk_bandwidth=-3"], "option dk_bandwidth: expected a value in [0, 10], got '-3'"),
    (["winsorize=0.5"], "option winsorize: expected a value in [0, 0.5), got '0.5'"),
    (["winsorize=nan"], "option winsorize: expected a value in [0, 0.5), got 'nan'"),
    (["pca_variance_target=0"], "option pca_variance_target: expected a value in (0, 1], got '0'"),
    (["winsorize=abc"], "option winsorize: expected a number, got 'abc'"),
    (["drop_filled=yes"], "option drop_filled: expected true or false, got 'yes'"),
    (["cov_type=hc3"], "option cov_type: expected one of cluster_city, robust, cluster_province, driscoll_kraay, "
                       "got 'hc3'"),
    (["edge_fill_years=-1"], "option edge_fill_years: expected a value in [0, 10], got '-1'"),
    (["sed=1"], "option sed: no such option (did you mean seed?)"),
    (["seed"], "--set 'seed': expected name=value"),
    (["seed=1", "stars=paper", "seed=2"], "option seed: given twice (--set seed=1 and --set seed=2)"),
])
def test_bad_options_are_named(pairs, message):
    with pytest.raises(ValueError) as error:
        parse_overrides(pairs)
    assert message in str(error.value)


def test_good_options_are_typed():
    assert parse_overrides(["seed=7", "winsorize=0", "drop_filled=TRUE", "stars=paper"]) == \
        {"seed": 7, "winsorize": 0.0, "drop_filled": True, "stars": "paper"}


@pytest.mark.parametrize("field, value, message", [
    ("seed", "1", "option seed: expected an integer, got '1'"),
    ("drop_filled", 1, "option drop_filled: expected true or false, got 1"),
    ("bootstrap_draws", 10, "option bootstrap_draws: expected a value in [40, 10000000], got 10"),
])
def test_options_checked_when_built_in_python(field, value, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Options(**{field: value})


def test_every_option_has_a_rule_and_a_reason():
    """A new field of Options needs one line in RULES (its step and values) and a docstring."""
    fields = [f.name for f in dataclasses.fields(Options)]
    assert set(RULES) == set(fields)
    assert {rule.step for rule in RULES.values()} <= set(STEPS)
    rows = {row["name"]: row for row in describe_options()}
    for name in fields:
        assert len(rows[name]["why"]) > 20, name
        assert RULES[name].check(getattr(Options(), name)) is None, name  # the default is allowed


def test_options_command_lists_every_option(capsys):
    assert main(["options"]) == 0
    text = capsys.readouterr().out
    for f in dataclasses.fields(Options):
        assert f"  {f.name} " in text
    assert "cov_type" in text and "default cluster_city; one of cluster_city, robust" in text
    assert "[panel] panel build" in text and "share_end_rule" in text.split("[index]")[0]


def test_set_before_or_after_the_subcommand():
    before = parser().parse_args(["--set", "seed=1", "models"])
    after = parser().parse_args(["models", "--set", "seed=1"])
    assert before.set_before + before.set_after == after.set_before + after.set_after == ["seed=1"]


def test_adopt_takes_the_recorded_options_and_refuses_others():
    recorded = {"cov_type": "robust", "winsorize": 0.02, "stars": "paper"}
    options = adopt(Options(), {}, recorded, ("index", "model"), "models.manifest.json", REMEDY)
    assert (options.cov_type, options.winsorize, options.stars) == ("robust", 0.02, "econ")  # rendering is free
    with pytest.raises(BuildError, match=r"option cov_type: models\.manifest\.json was made with cov_type='robust', "
                                         r"this run asks for cov_type='cluster_city'; rerun `make models"):
        adopt(Options(), {"cov_type": "cluster_city"}, recorded, ("model",), "models.manifest.json", REMEDY)
    with pytest.raises(BuildError, match=r"option edge_fill_years: .*records no build options \(no edge_fill_years\); run `make data"):
        adopt(Options(), {"edge_fill_years": 0}, {}, ("panel",), "the panel x.csv", REMEDY)


# ---------------------------------------------------------------------------- schemas


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return pd.read_csv(PROCESSED / "panel.csv", keep_default_na=False, na_values=[""])


@pytest.mark.parametrize("column, value, message", [
    ("region", "North", "x.csv: column region: expected one of East, Central, West; first offending rows: "
                        "石家庄市 (130100) 2014 (line 5): 'North'"),
    ("year", 2030, "x.csv: column year: expected a year in 2011-2021; first offending rows: 石家庄市 (130100) 2030 "
                   "(line 5): 2030"),
    ("gdp_whole", np.nan, "x.csv: column gdp_whole: expected a number, found missing values (NaN); first rows: "
                          "石家庄市 (130100) 2014 (line 5)"),
    ("gdp_whole", np.inf, "x.csv: column gdp_whole: expected a finite number (not inf)"),
    ("gdp_whole", "n/a", "x.csv: column gdp_whole: expected a number; first bad rows: 石家庄市 (130100) 2014 "
                         "(line 5): 'n/a'"),
    ("beds_whole", -1.0, "x.csv: column beds_whole: expected >= 0"),
    ("ict_share_whole", 101.0, "x.csv: column ict_share_whole: expected <= 100"),
    ("doctors_district", 1e9, "x.csv: expected doctors_district <= doctors_whole (districts are part of the whole "
                              "city); first offending rows: 石家庄市 (130100) 2014 (line 5)"),
])
def test_panel_schema_names_file_column_and_city_year(panel, column, value, message):
    damaged = panel.copy()
    if isinstance(value, str):
        damaged[column] = damaged[column].astype(object)
    damaged.loc[3, column] = value
    with pytest.raises(schemas.SchemaError) as error:
        schemas.check(damaged, "panel", "x.csv")
    assert str(error.value).startswith(message)


def test_panel_schema_duplicates_and_missing_columns(panel):
    with pytest.raises(schemas.SchemaError, match=r"x\.csv: duplicate \(city_code, year\): expected each once; "
                                                  r"first duplicated rows: 石家庄市 \(130100\) 2012 \(line 3\)"):
        schemas.check(pd.concat([panel, panel.iloc[[1]]], ignore_index=True), "panel", "x.csv")
    with pytest.raises(schemas.SchemaError, match=r"x\.csv: missing column beds_whole, pku_index"):
        schemas.check(panel.drop(columns=["beds_whole", "pku_index"]), "panel", "x.csv")


def test_the_committed_panel_follows_its_schema(panel):
    checked = schemas.check(panel, "panel", "panel.csv")
    assert checked["city_code"].dtype == np.int64 and checked["year"].between(2011, 2021).all()


def test_tidy_table_schema():
    good = pd.DataFrame({"column": ["(1)", "(1)"], "term": ["Dig", "Ur"], "estimate": [0.1, 0.2],
                         "std_error": [0.05, 0.1], "t_stat": [2.0, 2.0], "p_value": [0.05, 0.05]})
    schemas.check(good, "table5", "t5.csv")
    with pytest.raises(schemas.SchemaError, match=r"t5\.csv: column p_value: expected <= 1; first offending rows: "
                                                  r"column \(1\), term Ur \(line 3\): 2\.0"):
        schemas.check(good.assign(p_value=[0.05, 2.0]), "table5", "t5.csv")
    with pytest.raises(schemas.SchemaError, match=r"t5\.csv: duplicate \(column, term\)"):
        schemas.check(pd.concat([good, good.iloc[[0]]], ignore_index=True), "table5", "t5.csv")


# ---------------------------------------------------------------------------- publishing


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_publish_writes_the_set_and_its_manifest_last(tmp_path):
    manifest = publish(tmp_path, "demo", {"a.csv": "1\n", "sub/b.txt": b"two"}, {"options": {"seed": 1}})
    assert manifest["files"] == {"a.csv": sha256(b"1\n"), "sub/b.txt": sha256(b"two")}
    assert json.loads((tmp_path / "demo.manifest.json").read_text()) == manifest
    assert read_set(tmp_path, "demo", "make demo") == manifest
    publish(tmp_path, "demo", {"a.csv": "one\n"})  # b.txt is not in the new set: it goes with the old one
    assert set(_files(tmp_path)) == {"a.csv", "demo.manifest.json"}
    (tmp_path / "a.csv").write_text("edited\n")
    with pytest.raises(BuildError, match=r"a\.csv: changed since `demo` wrote it .*run `make demo` again"):
        read_set(tmp_path, "demo", "make demo")


def disk_full(monkeypatch, where: str, step: str = "") -> None:
    """A full disk, injected by the test: while a set is staged (`stage`: writing its files) or after
    the first file of it was renamed into place (`publish`); `step` limits it to that step's publish."""
    import errno
    import os
    from pathlib import Path

    staging = f"{os.sep}.publish{os.sep}{step}" if step else f"{os.sep}.publish{os.sep}"
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"<{where}>")
    if where == "stage":
        real_write = Path.write_bytes

        def write_bytes(self, data):
            if staging in str(self) and f"{os.sep}staging{os.sep}" in str(self):
                raise full
            return real_write(self, data)
        monkeypatch.setattr(Path, "write_bytes", write_bytes)
        return
    fail_after_first(monkeypatch, staging, full)


def fail_after_first(monkeypatch, staging: str, error: BaseException) -> None:
    """os.replace raises `error` once one staged file (of a path containing `staging`) has moved."""
    import os

    real_replace, moved = os.replace, []

    def replace(source, target, *args, **kwargs):
        if staging in str(source) and f"{os.sep}staging{os.sep}" in str(source):
            if moved:
                raise error
            moved.append(target)
        return real_replace(source, target, *args, **kwargs)
    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("fault", ["stage", "publish"])
def test_a_full_disk_leaves_the_previous_set(tmp_path, monkeypatch, fault):
    publish(tmp_path, "demo", {"a.csv": "old a\n", "b.csv": "old b\n"})
    before = _files(tmp_path)
    disk_full(monkeypatch, fault)
    with pytest.raises(OSError, match="No space left on device"):
        publish(tmp_path, "demo", {"a.csv": "new a\n", "b.csv": "new b\n", "c.csv": "new c\n"})
    assert _files(tmp_path) == before and not (tmp_path / ".publish").exists()


def test_a_first_publish_that_fails_leaves_nothing(tmp_path, monkeypatch):
    disk_full(monkeypatch, "publish")
    with pytest.raises(OSError, match="No space left on device"):
        publish(tmp_path, "demo", {"a.csv": "a\n", "b.csv": "b\n"})
    assert _files(tmp_path) == {} and not (tmp_path / ".publish").exists()


def test_an_interruption_between_two_renames_restores_the_previous_set(tmp_path, monkeypatch):
    """KeyboardInterrupt (as SIGINT raises it, and Interrupted as SIGTERM does) after the first rename."""
    publish(tmp_path, "demo", {"a.csv": "old a\n", "gone.csv": "old\n"})
    before = _files(tmp_path)
    fail_after_first(monkeypatch, "demo", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        publish(tmp_path, "demo", {"a.csv": "new a\n", "b.csv": "new b\n"})
    assert _files(tmp_path) == before and not (tmp_path / ".publish").exists()


def test_sigterm_mid_publish_is_one_line_and_exit_143(tmp_path, monkeypatch, capsys):
    """A real SIGTERM, sent to this process once the first file of the indices set has moved: main's
    handler raises where the program is, the publish rolls back, one line on stderr, 128 + 15."""
    import os
    import signal

    out = tmp_path / "out"
    out.mkdir()
    (out / "indices.manifest.json").write_text("{}\n")  # a previous set: its manifest only
    before = _files(out)
    real_replace, moved = os.replace, []

    def replace(source, target, *args, **kwargs):
        result = real_replace(source, target, *args, **kwargs)
        if f"{os.sep}staging{os.sep}" in str(source) and not moved:
            moved.append(target)
            os.kill(os.getpid(), signal.SIGTERM)
        return result
    monkeypatch.setattr(os, "replace", replace)
    assert main(["indices", "--out", str(out)]) == 128 + signal.SIGTERM
    assert moved and _files(out) == before and not (out / ".publish").exists()
    assert capsys.readouterr().err == ("error: interrupted by SIGTERM; outputs being published were rolled back, "
                                       "the previous ones are unchanged\n")


KILLED = """
import os, signal, sys
from pathlib import Path
from replication.publish import publish
real = os.replace
def replace(source, target):
    real(source, target)
    os.kill(os.getpid(), signal.SIGKILL)  # killed outright after the first rename: no rollback runs
os.replace = replace
publish(Path(sys.argv[1]), "demo", {"a.csv": "new a\\n", "b.csv": "new b\\n"})
"""


def test_a_publish_killed_outright_is_rolled_back_by_the_next_read(tmp_path, capsys):
    """The one case that needs a process of its own: SIGKILL after the first rename leaves a mixed set
    and its journal; the next read of the set rolls it back and says so."""
    import signal
    import subprocess
    import sys

    publish(tmp_path, "demo", {"a.csv": "old a\n"})
    before = _files(tmp_path)
    killed = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _files(tmp_path) != before and (tmp_path / ".publish" / "demo" / "journal.json").is_file()
    assert read_set(tmp_path, "demo", "make demo")["files"] == {"a.csv": sha256(b"old a\n")}
    assert _files(tmp_path) == before
    assert capsys.readouterr().err == (f"note: an interrupted publish of `demo` under {tmp_path} was rolled back; "
                                       "the previous complete set is in place\n")


def test_recover_rolls_back_a_killed_publish(tmp_path, capsys):
    publish(tmp_path, "demo", {"a.csv": "old a\n"})
    before = _files(tmp_path)
    # what a publish killed after its first rename leaves: a backup, a journal, a new file in place
    base = tmp_path / ".publish" / "demo"
    (base / "backup").mkdir(parents=True)
    (tmp_path / "a.csv").rename(base / "backup" / "a.csv")
    (tmp_path / "a.csv").write_text("new a\n")
    (tmp_path / "new.csv").write_text("new\n")
    write_atomic(base / "journal.json", json.dumps({"step": "demo", "files": ["a.csv", "new.csv",
                                                                              "demo.manifest.json"]}))
    (base / "backup" / "demo.manifest.json").write_bytes((tmp_path / "demo.manifest.json").read_bytes())
    recover(tmp_path)
    assert _files(tmp_path) == before
    assert "an interrupted publish of `demo`" in capsys.readouterr().err


def test_out_that_is_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["report", "--out", str(target)]) == 2
    assert capsys.readouterr().err == f"error: --out {target}: is a file, expected a directory\n"


# ---------------------------------------------------------------------------- the runner over STEPS


def _toy_step(draws: pd.DataFrame):
    """A step declared as the table declares one: a reader, a pure compute, its option steps, its lines."""
    from replication import __main__ as cli

    def read(args, options, frames, inputs):
        frames["n"] = len(draws)
        inputs["toy.csv"] = "digest of what it read"
        return options

    def compute(frames, options):
        return cli.Made({"tables/table5_draws.csv": draws, "notes/toy.txt": f"{frames['n']} draws\n"},
                        {"n": frames["n"]})

    def say(made, out, options, manifest):
        print(f"{made.facts['n']} draws under {out}: {', '.join(manifest['files'])}")
    return cli.Step((read,), compute, ("model",), say)


def test_the_runner_reads_checks_publishes_and_records_a_declared_step(tmp_path, monkeypatch, capsys):
    from replication import __main__ as cli

    draws = pd.DataFrame({"key": ["ab"] * 3, "draw": [0, 1, 2], "value": [1 / 3, 0.1, 2.0]})
    monkeypatch.setitem(cli.STEPS, "models", _toy_step(draws))
    assert main(["models", "--out", str(tmp_path), "--set", "seed=5", "--set", "stars=paper"]) == 0
    assert (tmp_path / "tables" / "table5_draws.csv").read_text() == \
        "key,draw,value\nab,0,0.33333333333333331\nab,1,0.10000000000000001\nab,2,2\n"  # draws keep 17 digits
    manifest = json.loads((tmp_path / "models.manifest.json").read_text())
    assert manifest["inputs"] == {"toy.csv": "digest of what it read"}
    assert manifest["non_default"] == {"seed": 5}  # the step records its option steps only (not stars)
    assert set(manifest["options"]) == {name for name, rule in RULES.items() if rule.step == "model"}
    assert manifest["files"] == {"notes/toy.txt": sha256(b"3 draws\n"),
                                 "tables/table5_draws.csv": sha256((tmp_path / "tables/table5_draws.csv").read_bytes())}
    assert capsys.readouterr().out == f"3 draws under {tmp_path}: notes/toy.txt, tables/table5_draws.csv\n"


def test_the_runner_refuses_a_frame_its_schema_rejects_and_publishes_nothing(tmp_path, monkeypatch, capsys):
    from replication import __main__ as cli

    monkeypatch.setitem(cli.STEPS, "models", _toy_step(pd.DataFrame({"key": ["ab"], "draw": [0], "value": ["x"]})))
    assert main(["models", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'tables' / 'table5_draws.csv'}: column value: expected a number"), err
    assert _files(tmp_path) == {}


def test_every_publishing_command_is_a_declared_step():
    from replication import __main__ as cli

    assert list(cli.STEPS) == ["panel", "indices", "models", "report", "guangxi", "ethnic", "multiverse"]
    assert cli.ALL_STEPS == ("indices", "models", "report", "guangxi", "ethnic") and set(cli.ALL_STEPS) <= set(cli.STEPS)
    for name in cli.STEPS:
        function = cli.COMMANDS[name][0]
        assert function.func is cli.run_step and function.args == (name,), name
