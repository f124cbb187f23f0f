"""Command line: python -m replication [--set name=value ...] <command> [--set name=value ...] [arguments].

The only module that decides where files go.  Each step publishes its whole output set at once
(``publish``): the files are written into a staging directory first, the previous set is kept
(hard links) until the new one is in place, and ``<step>.manifest.json`` (the sha256 of every file,
the options used and the inputs read) is written last.  A failure, a full disk or SIGTERM rolls back
to the previous complete set; a run killed outright leaves a journal that the next command rolls
back.  The next step reads its inputs only through their manifest, so it never reads a mixed set,
and it refuses options that differ from the ones its inputs were made with.  The raw directory is
only ever read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from replication import schemas
from replication.config import RULES, Options, Paths, describe_options, parse_overrides
from replication.data.plausibility import check_panel
from replication.errors import BuildError
from replication.publish import json_text, manifest_name, publish, read_set, recover, sha256, write_atomic  # noqa: F401

PANEL_MANIFEST = "manifest.json"  # the build manifest beside panel.csv (sources, sample rules, options)


def progress(message: str) -> None:
    """Progress on an interactive terminal; silent in CI and when output is redirected."""
    if sys.stderr.isatty() and not os.environ.get("CI"):
        print(f"\r{message:<60}", end="", file=sys.stderr, flush=True)


def note(message: str) -> None:
    progress("")
    print(f"note: {message}", file=sys.stderr)


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")


class Interrupted(BaseException):
    """SIGTERM (or SIGHUP) received: raised where the program is, so a publish can roll back."""


# ---------------------------------------------------------------------------- inputs and options


def output_dir(path: Path) -> Path:
    """The output directory, created; one clear line when it cannot be."""
    if path.exists() and not path.is_dir():
        raise BuildError(f"--out {path}: is a file, expected a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"--out {path}: cannot create the output directory ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise BuildError(f"--out {path}: not writable")
    return path


def read_panel(path: Path) -> tuple[pd.DataFrame, dict]:
    """The panel (schema-checked) and the options it was built with ({} when no build manifest is beside it)."""
    from replication.data import load_panel

    if path.is_dir():
        raise BuildError(f"--panel {path}: is a directory; expected the panel CSV (e.g. data/processed/panel.csv)")
    if path.is_symlink() and not path.exists():
        raise BuildError(f"--panel {path}: a broken symbolic link or a symlink loop")
    if not path.is_file():
        raise BuildError(f"--panel {path}: file not found")
    folder = path.parent
    if (folder / manifest_name("panel")).is_file() and path.name == "panel.csv":
        read_set(folder, "panel", "make data")
    try:
        panel = load_panel(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path}: cannot be read as a CSV file ({str(exc).splitlines()[0]})") from None
    built: dict = {}
    if (folder / PANEL_MANIFEST).is_file() and path.name == "panel.csv":
        try:
            built = dict(json.loads((folder / PANEL_MANIFEST).read_text(encoding="utf-8")).get("options", {}))
        except (ValueError, AttributeError, TypeError):
            raise BuildError(f"{folder / PANEL_MANIFEST}: not a panel build manifest; run `make data`") from None
    check_panel(panel, str(path), _anomaly_rule(path, built))
    return panel, built


def _anomaly_rule(path: Path, built: dict) -> str:
    """The anomaly_rule a panel was built with: its build manifest, or the variants.json beside a variant
    (data/processed/variants/<name>.csv), else the default (a panel of one's own is held to the default build)."""
    if "anomaly_rule" in built:
        return str(built["anomaly_rule"])
    listing = path.parent / "variants.json"
    try:
        variants = json.loads(listing.read_text(encoding="utf-8")) if listing.is_file() else {}
        return str(variants.get(path.stem, {}).get("anomaly_rule", Options().anomaly_rule))
    except (ValueError, AttributeError, TypeError):
        raise BuildError(f"{listing}: not the variants list `make data` writes; run `make data`") from None


def adopt(options: Options, explicit: dict, recorded: dict, steps: tuple[str, ...], made: str,
          remedy: dict[str, str]) -> Options:
    """The options of a step whose inputs were made with `recorded`: for every option that those
    steps apply, the recorded value, unless --set asks for another, which is refused."""
    changes = {}
    for name, rule in RULES.items():
        if rule.step not in steps:
            continue
        if name not in recorded:
            if name in explicit and rule.step == "panel":
                raise BuildError(f"option {name}: applies when the panel is built, and {made} records no build "
                                 f"options (no {name}); run `make data SET=\"{name}={explicit[name]}\"` to build a "
                                 "panel with it")
            continue
        value = recorded[name]
        if name in explicit and explicit[name] != value:
            raise BuildError(f"option {name}: {made} was made with {name}={value!r}, this run asks for "
                             f"{name}={explicit[name]!r}; {remedy[rule.step].format(name=name, value=explicit[name])}")
        changes[name] = value
    try:
        return dataclasses.replace(options, **changes)
    except ValueError as exc:
        raise BuildError(f"{made}: recorded options are not valid ({exc})") from None


REMEDY = {
    "panel": "options of the panel build take effect with `make data SET=\"{name}={value}\"`",
    "index": "rerun `make indices models SET=\"{name}={value}\"` first",
    "model": "rerun `make models SET=\"{name}={value}\"` first",
}


def _options_record(options: Options, *steps: str) -> dict:
    return {"options": options.of_step(*steps),
            "non_default": {k: v for k, v in options.non_default().items() if RULES[k].step in steps}}


# Commands that fit the models (Table 6 fits each region; drop_filled applies): checked before any output.
MODEL_COMMANDS = ("models", "all", "bench", "multiverse", "verify")  # bench: python -m benchmarks


def _panel_options(args, options: Options) -> tuple[pd.DataFrame, Options, str]:
    """The panel of --panel, the options it was built with adopted, refused when a step of this command
    cannot apply to it (too small, or an option that needs what it lacks) before anything is written."""
    path = Path(args.panel)
    panel, built = read_panel(path)
    options = adopt(options, args.explicit, built, ("panel",), f"the panel {path}", REMEDY)
    schemas.check_shares_present(panel, options.share_end_rule, str(path))
    models = args.command in MODEL_COMMANDS
    schemas.check_panel_size(panel, str(path), regions=models)
    if models and options.drop_filled and not any(c.endswith("_fill") for c in panel.columns):
        raise BuildError(f"option drop_filled=true: the panel {path} has no fill flags (no *_fill column), so no "
                         "filled city-year can be dropped; expected a panel written by `make data` (which flags every "
                         "filled cell), or drop_filled=false")
    return panel, options, sha256(path.read_bytes())


def _analysis(args, options):
    from replication.indices import analysis_frame

    panel, options, _ = _panel_options(args, options)
    return panel, analysis_frame(panel, options)


def _published(paths: Paths):
    from replication.published import parse_claims, parse_published

    return (parse_published((paths.reference / "published.csv").read_text(encoding="utf-8")),
            parse_claims((paths.reference / "claims.csv").read_text(encoding="utf-8")))


def _checked_csv(frame: pd.DataFrame, relative: str, out: Path, float_format: str = "%.10g") -> str:
    """The CSV text of a frame after its schema check (a failure here is a bug: it names the file)."""
    schemas.check(frame, Path(relative).stem, str(out / relative))
    return frame.to_csv(index=False, float_format=float_format, lineterminator="\n")


def _draws_frame(draws: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = [pd.DataFrame({"key": key, "draw": np.arange(len(values)), "value": np.asarray(values, float)})
             for key, values in sorted(draws.items())]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["key", "draw", "value"])


# ---------------------------------------------------------------------------- the steps


def command_options(args: argparse.Namespace, options: Options) -> int:
    """Every option, the step that applies it, its default, the values it accepts and why."""
    rows = describe_options()
    width = max(len(r["name"]) for r in rows)
    print("Options (change with --set name=value, or make ... SET=\"name=value ...\"):\n")
    for step, text in {"panel": "panel build", "index": "indices", "model": "models", "rendering": "report"}.items():
        print(f"[{step}] {text}")
        for row in (r for r in rows if r["step"] == step):
            print(f"  {row['name']:<{width}}  default {row['default']}; {row['allowed']}")
            print(textwrap.fill(row["why"], 100, initial_indent=" " * (width + 4), subsequent_indent=" " * (width + 4)))
        print()
    return 0


def command_panel(args: argparse.Namespace, options: Options) -> int:
    from replication.data import build_panel, codebook

    raw = Path(args.raw)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out}: is a file, expected a directory")
    built = build_panel(raw, options, progress=progress)
    progress("")
    out = output_dir(out)
    files = {
        "panel.csv": _checked_csv(built.panel, "panel.csv", out),
        PANEL_MANIFEST: json_text(built.manifest),
        "CODEBOOK.md": codebook(built.panel, built.manifest),
        "anomalies.csv": csv_text(built.anomalies),
    }
    files |= panel_variants(raw, options)
    publish(out, "panel", files, _options_record(options, "panel"))
    for line in built.log:
        print(line)
    print(f"wrote {', '.join(files)} to {out}")
    return 0


def panel_variants(raw: Path, options: Options) -> dict[str, str]:
    """variants/<name>.csv for each entry of data.VARIANTS, and variants/variants.json naming the
    panel-build options that made each (a contract: the multiverse and the report read these files)."""
    from replication.data import VARIANTS, build_panel

    files = {}
    for name, changes in VARIANTS.items():
        progress(f"variant {name}")
        files[f"variants/{name}.csv"] = csv_text(build_panel(raw, dataclasses.replace(options, **changes)).panel)
    progress("")
    files["variants/variants.json"] = json_text(VARIANTS)
    return files


def _variants(processed: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame | None]:
    """The variant panels listed in <processed>/variants/variants.json and <processed>/anomalies.csv, if written."""
    from replication.data import load_panel

    listing = processed / "variants" / "variants.json"
    names = sorted(json.loads(listing.read_text(encoding="utf-8"))) if listing.is_file() else []
    for name in names:
        if not (processed / "variants" / f"{name}.csv").is_file():
            raise BuildError(f"{listing}: variant {name!r} has no panel {processed / 'variants' / f'{name}.csv'}; "
                             "run `make data`")
    anomalies = processed / "anomalies.csv"
    return ({name: load_panel(processed / "variants" / f"{name}.csv") for name in names},
            pd.read_csv(anomalies) if anomalies.is_file() else None)


def command_indices(args: argparse.Namespace, options: Options) -> int:
    """analysis.csv and the tidy Tables 1, 3 and 4."""
    from replication.indices import analysis_frame
    from replication.tables import table1, table3, table4

    out = output_dir(Path(args.out))
    panel, options, panel_digest = _panel_options(args, options)
    analysis = analysis_frame(panel, options)
    six = analysis_frame(panel, dataclasses.replace(options, dist_indicators="six"))
    published, _ = _published(Paths())
    components, summary, weights = table3(analysis, published)
    frames = {
        "data/analysis.csv": analysis.data,
        "tables/table1.csv": table1(analysis, six, published),
        "tables/table3.csv": components,
        "tables/table3_stats.csv": summary,
        "tables/table3_weights.csv": weights,
        "tables/table4.csv": table4(analysis, published),
    }
    files = {relative: _checked_csv(frame, relative, out) for relative, frame in frames.items()}
    publish(out, "indices", files, {**_options_record(options, "panel", "index"), "inputs": {"panel.csv": panel_digest}})
    small = analysis.small_nonurban
    if len(small):
        print(f"min_nonurban_share={options.min_nonurban_share:g}: {len(small)} city-years left out "
              f"({', '.join(f'{c} {n}' for c, n in small.groupby('city').size().items())})")
    print(f"wrote analysis.csv and Tables 1, 3, 4 ({len(analysis.data)} city-years) under {out}")
    return 0


def command_models(args: argparse.Namespace, options: Options) -> int:
    """Tables 5-9 as tidy CSVs (coefficients and statistics) and the resampling draws behind them."""
    from replication.indices import analysis_frame
    from replication.models import TABLES
    from replication.multiverse import mechanism_table

    out = output_dir(Path(args.out))
    panel, options, panel_digest = _panel_options(args, options)
    analysis = analysis_frame(panel, options)
    results = {}
    for name, function in TABLES.items():
        progress(f"{name}")
        results[name] = function(analysis.data, options)
    progress("")
    files = {}
    for name, result in results.items():
        files[f"tables/{name}.csv"] = _checked_csv(result.coefficients, f"tables/{name}.csv", out)
        files[f"tables/{name}_stats.csv"] = _checked_csv(result.stats, f"tables/{name}_stats.csv", out)
        if result.draws:
            files[f"tables/{name}_draws.csv"] = _checked_csv(_draws_frame(result.draws), f"tables/{name}_draws.csv", out,
                                                                 float_format="%.17g")
    files["tables/mechanism.csv"] = csv_text(mechanism_table(panel, options))
    record = {**_options_record(options, "panel", "index", "model"), "inputs": {"panel.csv": panel_digest}}
    publish(out, "models", files, record)
    for name, result in results.items():
        dropped = result.stats[result.stats["stat"].isin(["n_dropped_missing", "n_singletons"])
                               & (result.stats["value"] > 0)]
        for row in dropped.itertuples():
            what = "rows with a missing value" if row.stat == "n_dropped_missing" else "singleton city-years"
            print(f"{name} {row.column}: {int(row.value)} {what} dropped")
    print(f"wrote Tables 5-9 under {out / 'tables'}")
    mismatch = _mismatch(out, record)
    if mismatch:
        note(f"Tables 5-9 and the analysis.csv beside them now differ ({mismatch}); run `make indices` with the "
             "same options, or `report` will refuse")
    return 0


def _mismatch(out: Path, models: dict) -> str:
    """How the indices set under `out` differs from what the models set was made from ('' if not)."""
    try:
        indices = json.loads((out / manifest_name("indices")).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no indices set"
    if indices.get("inputs") != models.get("inputs"):
        return "made from different panels"
    index_options = {k: v for k, v in models["options"].items() if RULES.get(k) and RULES[k].step in ("panel", "index")}
    for name, value in index_options.items():
        if indices["options"].get(name) != value:
            return f"analysis.csv has {name}={indices['options'].get(name)!r}, Tables 5-9 {name}={value!r}"
    return ""


def command_report(args: argparse.Namespace, options: Options) -> int:
    """Rendered tables, comparison, audit and figures, from the sets `indices` and `models` published."""
    from replication.report import TIDY, build

    out = output_dir(Path(args.out))
    indices = read_set(out, "indices", "make indices")
    models = read_set(out, "models", "make models")
    mismatch = _mismatch(out, models)
    if mismatch:
        raise BuildError(f"{out}: Tables 5-9 ({manifest_name('models')}) do not belong to the analysis.csv beside "
                         f"them ({manifest_name('indices')}): {mismatch}; run `make indices models` with the same options")
    options = adopt(options, args.explicit, models["options"], ("panel", "index", "model"),
                    f"{out / manifest_name('models')}", REMEDY)
    tables = {}
    for name in TIDY:
        relative = f"tables/{name}.csv"
        if relative not in indices["files"] and relative not in models["files"]:
            raise BuildError(f"{out / relative}: not in the published sets; run `make indices models` again")
        tables[name] = pd.read_csv(out / relative)
        schemas.check(tables[name], name, str(out / relative))
    data = pd.read_csv(out / "data" / "analysis.csv", keep_default_na=False, na_values=[""])
    schemas.check(data, "analysis", str(out / "data" / "analysis.csv"))
    draws = {}
    for relative in (r for r in models["files"] if r.endswith("_draws.csv")):
        frame = schemas.check(pd.read_csv(out / relative), "draws", str(out / relative))
        draws.update({key: part.sort_values("draw")["value"].to_numpy(float) for key, part in frame.groupby("key")})
    if "tables/mechanism.csv" in models["files"]:  # the six-indicator section (replication/multiverse.py)
        tables["mechanism"] = pd.read_csv(out / "tables" / "mechanism.csv")
    panel, _ = read_panel(Path(args.panel))
    variants, anomalies = _variants(Path(args.panel).parent)
    published, claims = _published(Paths())
    files = build(published, claims, tables, data, options, draws=draws, variants=variants, anomalies=anomalies,
                  panel=panel, multiverse=_multiverse_summary(out, options, sha256(Path(args.panel).read_bytes())))
    record = {**_options_record(options, "panel", "index", "model", "rendering"),
              "inputs": {manifest_name(s): sha256((out / manifest_name(s)).read_bytes()) for s in ("indices", "models")}}
    publish(out, "report", files, record)
    print(f"wrote {len(files)} rendered tables, reports and figures under {out}")
    return 0


ALL_STEPS = ("indices", "models", "report", "guangxi")


def command_all(args: argparse.Namespace, options: Options) -> int:
    """What `make all` runs: indices, models, report and the Guangxi case, as one set.

    The steps run into a staging directory (out/.staging-all), each reading the sets the earlier ones
    wrote there; only when all four succeeded is each set published into `out` (each all or nothing,
    in the order of the steps). A failing step leaves every step's previous set in `out` untouched,
    so a report never shows tables of two runs. The steps' own lines name `out`, not the staging
    directory."""
    import contextlib
    import io

    out = output_dir(Path(args.out))
    staging = out / ".staging-all"
    shutil.rmtree(staging, ignore_errors=True)
    steps = dict(zip(ALL_STEPS, (command_indices, command_models, command_report, command_guangxi)))
    try:
        for name, step in steps.items():
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    code = step(argparse.Namespace(**{**vars(args), "out": str(staging)}), options)
            except (BuildError, ValueError, OSError):
                note(f"all: the {name} step failed; every step's previous outputs in {out} are unchanged")
                raise
            finally:
                sys.stdout.write(printed.getvalue().replace(str(staging), str(out)))
            if code:
                return code
        sets = {}
        for name in ALL_STEPS:
            record = json.loads((staging / manifest_name(name)).read_text(encoding="utf-8"))
            files = {relative: (staging / relative).read_bytes() for relative in record.pop("files")}
            record.pop("step", None)
            sets[name] = (files, record)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for name, (files, record) in sets.items():
        publish(out, name, files, record)
    chosen = options.non_default()
    print(f"all: every table, figure and report is under {out}"
          + (" (options: " + ", ".join(f"{k}={v}" for k, v in chosen.items()) + ")" if chosen else ""))
    return 0


def _multiverse_summary(out: Path, options: Options, panel_digest: str) -> pd.DataFrame | None:
    """multiverse/summary.csv when `make multiverse` ran in `out` on this panel with these options (its
    manifest says so), else None: the report then says the multiverse was not run for this directory."""
    manifest = out / manifest_name("multiverse")
    if not manifest.is_file():
        return None
    record = json.loads(manifest.read_text(encoding="utf-8"))
    same = (record.get("non_default") == _options_record(options, "panel", "index", "model")["non_default"]
            and record.get("inputs", {}).get("panel.csv") == panel_digest)
    return pd.read_csv(out / "multiverse" / "summary.csv") if same else None


def command_notebooks(args: argparse.Namespace, options: Options) -> int:
    """Execute notebooks/*.ipynb in place, so the committed notebooks carry their outputs."""
    from replication.notebooks import NOTEBOOKS, execute, text

    folder = Path(args.notebooks)
    for name in NOTEBOOKS:
        path = folder / name
        if not path.is_file():
            raise BuildError(f"{path}: notebook not found")
        content = text(execute(path))
        temporary = path.with_suffix(".ipynb.tmp")
        temporary.write_text(content, encoding="utf-8")
        temporary.replace(path)  # whole or not at all
        print(f"executed {path}")
    return 0


def command_ethnic(args: argparse.Namespace, options: Options) -> int:
    """The ethnic regions (seed 004's figures beside the panel; Table 5 column 4 for the ethnic provinces)."""
    from replication.data.cities import load_crosswalk
    from replication.ethnic import build
    from replication.indices import analysis_frame
    from replication.published import parse_ethnic_study

    out = output_dir(Path(args.out))
    panel, options, panel_digest = _panel_options(args, options)
    analysis = analysis_frame(panel, options)
    reference = parse_ethnic_study((Paths().reference / "ethnic_study.csv").read_text(encoding="utf-8"))
    inputs = {"panel.csv": panel_digest}
    manifest_path = Path(args.panel).with_name("manifest.json")  # why cities left the panel (make data writes it)
    manifest = None
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        inputs["manifest.json"] = sha256(manifest_path.read_bytes())
    crosswalk = Path(args.raw) / "crosswalk_fiersity"  # every prefecture-level division of the eight
    entities = (load_crosswalk(crosswalk).entities[["city", "province"]]
                if (crosswalk / "entities.csv").is_file() else None)
    if manifest is None or entities is None:
        note(f"ethnic: no {'manifest.json beside the panel' if manifest is None else crosswalk}; the coverage "
             "names the panel's cities only")
    progress("ethnic: wild bootstrap by province")
    files = build(panel, analysis, reference, options, manifest, entities)
    progress("")
    publish(out, "ethnic", files, {**_options_record(options, "panel", "index", "model"), "inputs": inputs})
    print(f"wrote the ethnic-regions report, {len(files) - 2} tables and figures under {out}")
    return 0


def command_guangxi(args: argparse.Namespace, options: Options) -> int:
    """The Guangxi case (seed 000's figures beside the yearbook; Table 5 column 4 within Guangxi)."""
    from replication.guangxi import build
    from replication.published import parse_guangxi_seed

    out = output_dir(Path(args.out))
    panel, options, panel_digest = _panel_options(args, options)
    from replication.indices import analysis_frame

    analysis = analysis_frame(panel, options)
    reference = parse_guangxi_seed((Paths().reference / "guangxi_seed.csv").read_text(encoding="utf-8"))
    progress("guangxi: 2^14 wild bootstrap sign vectors")
    files = build(panel, analysis, reference, options)
    progress("")
    publish(out, "guangxi", files, {**_options_record(options, "panel", "index", "model"),
                                    "inputs": {"panel.csv": panel_digest}})
    print(f"wrote the Guangxi report, {len(files) - 2} tables and figures under {out}")
    return 0


def command_multiverse(args: argparse.Namespace, options: Options) -> int:
    """output/multiverse/: every specification of the grid, the curves, what moves them."""
    from replication.data import load_panel
    from replication.multiverse import mechanism_table, outputs, run

    out = output_dir(Path(args.out))
    panel, options, panel_digest = _panel_options(args, options)
    folder = Path(args.variants)
    variants = json.loads((folder / "variants.json").read_text(encoding="utf-8")) \
        if (folder / "variants.json").is_file() else {}
    panels = {"default": panel}
    for name in sorted(variants):
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise BuildError(f"{folder / 'variants.json'}: variant {name!r} has no panel {path}; run `make data`")
        panels[name] = load_panel(path)
    result = run(panels, variants, jobs=args.jobs, scheduler=args.scheduler, progress=progress, base=options)
    progress("")
    published, _ = _published(Paths())
    files = outputs(result, published, mechanism_table(panel, options), options=options)
    files["options.json"] = json_text(_options_record(options, "panel", "index", "model") | {"variants": variants})
    publish(out, "multiverse", {f"multiverse/{name}": content for name, content in files.items()},
            {**_options_record(options, "panel", "index", "model"), "inputs": {"panel.csv": panel_digest}})
    for line in dict.fromkeys(result.notes):
        print(line)
    print(f"wrote {result.specs['spec_id'].nunique()} specifications x {result.specs['estimand'].nunique()} "
          f"estimands ({len(files)} files) under {out / 'multiverse'}")
    return 0


def command_verify(args: argparse.Namespace, options: Options) -> int:
    """Tables 5-9 recomputed by linearmodels and pyfixest; exit 1 if any cell differs by > 1e-8."""
    from replication.verify import verify

    _, analysis = _analysis(args, options)
    progress("verify: Tables 5-9 in linearmodels and pyfixest")
    frame = verify(analysis.data, options)
    progress("")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.2e}"))
    failed = frame[frame["max_abs_diff"] > 1e-8]
    if len(failed):
        print(f"verify: {len(failed)} table-engine pairs differ by more than 1e-8", file=sys.stderr)
        return 1
    print("verify: every estimate and standard error of Tables 5-9 agrees within 1e-8")
    return 0


def command_fetch(args: argparse.Namespace, options: Options) -> int:
    """Download the raw files the panel build reads (replication/data/raw_files.csv), verified."""
    from replication.fetch import fetch_raw

    start = time.monotonic()
    done = fetch_raw(Path(args.raw), mirror=args.mirror, progress=progress)
    print(f"fetched {len(done.downloaded)} files ({done.bytes_downloaded / 1e6:.1f} MB), extracted "
          f"{len(done.extracted)} tables, {len(done.present)} already present and verified, into {args.raw} "
          f"in {time.monotonic() - start:.1f} s")
    return 0


def command_side_by_side(args: argparse.Namespace, options: Options) -> int:
    """One column of a paper table from several output directories, the options that differ as heads."""
    from replication.etable import side_by_side
    from replication.registry import REGISTRY
    from replication.render import to_docx, to_html, to_latex, to_markdown

    entries = {e.number: e for e in REGISTRY.values() if e.regression}
    if args.table not in entries:
        raise BuildError(f"--table {args.table}: expected one of {', '.join(entries)} (the regression tables)")
    entry = entries[args.table]
    if len(args.runs) < 2:
        raise BuildError("--runs: give two or more output directories")
    runs = {}
    for folder in map(Path, args.runs):
        manifest = read_set(folder, "models", f"make models OUT={folder}")
        frames = []
        for source in entry.sources:
            path = folder / "tables" / f"{source}.csv"
            frames.append(schemas.check(pd.read_csv(path), source, str(path)))
        runs[str(folder)] = (*frames, manifest.get("options", {}))
    table = side_by_side(runs, entry, args.column, options)
    writers = {".md": to_markdown, ".tex": to_latex, ".html": to_html, ".docx": to_docx}
    if args.to:
        target = Path(args.to)
        if target.suffix not in writers:
            raise BuildError(f"--to {target}: expected a file ending in {', '.join(writers)}")
        write_atomic(target, writers[target.suffix](table))
        print(f"wrote {target}")
    else:
        print(to_markdown(table), end="")
    return 0


# ---------------------------------------------------------------------------- the command line

# name -> (function, help, arguments): "build" takes --raw/--out, "pipeline" --panel/--out, "multiverse" those
# and --variants/--jobs/--scheduler, "fetch" --raw/--mirror, "none" nothing.
# A new subcommand adds one line here.
COMMANDS = {
    "options": (command_options, "list every option: default, allowed values, the step that applies it, why", "none"),
    "panel": (command_panel, "build the city-year panel from the raw files", "build"),
    "indices": (command_indices, "analysis.csv and Tables 1, 3, 4", "pipeline"),
    "models": (command_models, "Tables 5-9 and their resampling draws", "pipeline"),
    "report": (command_report, "rendered tables, comparison, audit, figures (from the published sets)", "pipeline"),
    "all": (command_all, "indices, models, report and the Guangxi case (what `make all` runs)", "pipeline"),
    "guangxi": (command_guangxi, "the Guangxi case: seed 000 beside the yearbook, Table 5 (4) within Guangxi",
                "pipeline"),
    "multiverse": (command_multiverse, "every specification of the grid (replication/multiverse.py)", "multiverse"),
    "verify": (command_verify, "Tables 5-9 recomputed by linearmodels and pyfixest (differences)", "pipeline"),
    "fetch": (command_fetch, "download and verify the raw files the panel build reads", "fetch"),
    "side-by-side": (command_side_by_side, "one column of a table from several runs, the options that differ as "
                     "heads", "side"),
    "ethnic": (command_ethnic, "the ethnic regions: seed 004 beside the panel, Table 5 (4) for the ethnic provinces",
               "pipeline"),
    "notebooks": (command_notebooks, "execute notebooks/*.ipynb in place, so they are committed with their outputs",
                  "notebooks"),
}


def parser() -> argparse.ArgumentParser:
    paths = Paths()
    top = argparse.ArgumentParser(prog="python -m replication", description=__doc__.splitlines()[0])
    set_help = "change an option (`python -m replication options` lists them); repeat for several options"
    top.add_argument("--set", dest="set_before", action="append", default=[], metavar="NAME=VALUE", help=set_help)
    commands = top.add_subparsers(dest="command", required=True)
    for name, (_, text, kind) in COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--set", dest="set_after", action="append", default=[], metavar="NAME=VALUE", help=set_help)
        if kind == "build":
            sub.add_argument("--raw", default="data/raw", help="raw directory (read only; default data/raw)")
            sub.add_argument("--out", default=str(paths.processed), help="output directory (default data/processed)")
        elif kind == "fetch":
            sub.add_argument("--raw", default="data/raw", help="raw directory to fill (default data/raw)")
            sub.add_argument("--mirror", default=None, help="base URL of a copy laid out like the raw directory")
        if kind in ("pipeline", "multiverse"):
            sub.add_argument("--panel", default=str(paths.processed / "panel.csv"),
                             help="the panel CSV (default data/processed/panel.csv; a panel of your own must have "
                                  "the columns of data/processed/CODEBOOK.md)")
            sub.add_argument("--out", default=str(paths.output), help="output directory (default output/)")
        if kind == "side":
            sub.add_argument("--runs", nargs="+", required=True, help="output directories of `make models` runs")
            sub.add_argument("--table", required=True, help="the paper's table number (5-9)")
            sub.add_argument("--column", required=True, help="the column, by key or head, e.g. \"(4)\" or All")
            sub.add_argument("--to", default=None, help="write to this .md, .tex, .html or .docx file (default: "
                                                        "Markdown on the terminal)")
        if name == "ethnic":
            sub.add_argument("--raw", default="data/raw", help="raw directory, for the crosswalk's list of every "
                                                                "prefecture-level division (read only; optional)")
        if kind == "notebooks":
            sub.add_argument("--notebooks", default=str(paths.root / "notebooks"), help="the notebooks' folder")
        if kind == "multiverse":
            sub.add_argument("--variants", default=str(paths.processed / "variants"),
                             help="variant panels and variants.json (default data/processed/variants)")
            sub.add_argument("--jobs", type=int, default=1, help="local worker processes (joblib)")
            sub.add_argument("--scheduler", default=None, help="address of a Dask scheduler (joblib's Dask backend)")
    return top


def _on_signal(number, frame):  # noqa: ARG001
    raise Interrupted(signal.Signals(number).name)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for number in previous:
        signal.signal(number, _on_signal)
    try:
        args.explicit = parse_overrides([*args.set_before, *args.set_after])
        options = Options(**args.explicit)
        return COMMANDS[args.command][0](args, options)
    except (BuildError, ValueError) as exc:
        progress("")
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `python -m replication options | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:
        progress("")
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}; the previous outputs are unchanged", file=sys.stderr)
        return 2
    except Interrupted as exc:
        progress("")
        print(f"error: interrupted by {exc}; outputs being published were rolled back, the previous ones are "
              "unchanged", file=sys.stderr)
        return 128 + signal.Signals[str(exc)].value
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":
    sys.exit(main())
