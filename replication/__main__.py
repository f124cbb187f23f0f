"""Command line: python -m replication [--set name=value ...] <command> [--set name=value ...] [arguments].

The only module that decides where files go.  The pipeline is one table, ``STEPS``: each step
declares what it reads (readers that load and schema-check its inputs and adopt the options they
were made with), a ``compute(frames, options)`` that returns its output set as data, the option
steps its manifest records, and what it says.  ``run_step`` does the rest the same way for every
step: it reads, computes, checks every frame against its schema, and publishes the set all or
nothing (replication/publish.py: a failure, a full disk or SIGTERM rolls back to the previous
complete set, and a run killed outright is rolled back by the next command).  The next step reads
its inputs only through their manifest, so it never reads a mixed set, and it refuses options that
differ from the ones its inputs were made with.  The raw directory is only ever read.
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
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from replication import schemas
from replication.config import RULES, Options, Paths, describe_options, parse_overrides
from replication.data.plausibility import check_panel
from replication.errors import BuildError
from replication.publish import json_text, manifest_name, publish, read_set, sha256, write_atomic

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


def _draws_frame(draws: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = [pd.DataFrame({"key": key, "draw": np.arange(len(values)), "value": np.asarray(values, float)})
             for key, values in sorted(draws.items())]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["key", "draw", "value"])


# ---------------------------------------------------------------------------- what the steps read
# Each reader takes what a step declares it reads into `frames` (and the digest of each input file into
# `inputs`), checked against its schema, and returns the options with those its inputs were made with
# adopted. Readers run in the declared order, so the first problem found is the one reported.


def read_raw(args, options: Options, frames: dict, inputs: dict) -> Options:
    frames["raw"] = Path(args.raw)  # read by the panel build itself (replication/data), never written
    return options


def read_panel_step(args, options: Options, frames: dict, inputs: dict) -> Options:
    frames["panel"], options, inputs["panel.csv"] = _panel_options(args, options)
    return options


def read_published(args, options: Options, frames: dict, inputs: dict) -> Options:
    frames["published"], frames["claims"] = _published(Paths())
    return options


def read_guangxi_seed(args, options: Options, frames: dict, inputs: dict) -> Options:
    from replication.published import parse_guangxi_seed

    frames["guangxi_seed"] = parse_guangxi_seed((Paths().reference / "guangxi_seed.csv").read_text(encoding="utf-8"))
    return options


def read_ethnic_inputs(args, options: Options, frames: dict, inputs: dict) -> Options:
    """Seed 004's figures and the committed list of every prefecture-level division of the ethnic
    provinces with whether the panel holds it (data/reference/ethnic_prefectures.csv): no raw file."""
    from replication.published import parse_ethnic_prefectures, parse_ethnic_study

    reference = Paths().reference
    frames["ethnic_study"] = parse_ethnic_study((reference / "ethnic_study.csv").read_text(encoding="utf-8"))
    frames["divisions"] = parse_ethnic_prefectures((reference / "ethnic_prefectures.csv").read_text(encoding="utf-8"))
    return options


def read_variant_panels(args, options: Options, frames: dict, inputs: dict) -> Options:
    """The variant panels of --variants (variants.json and one CSV per variant) for the multiverse."""
    from replication.data import load_panel

    folder = Path(args.variants)
    variants = json.loads((folder / "variants.json").read_text(encoding="utf-8")) \
        if (folder / "variants.json").is_file() else {}
    panels = {}
    for name in sorted(variants):
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise BuildError(f"{folder / 'variants.json'}: variant {name!r} has no panel {path}; run `make data`")
        panels[name] = load_panel(path)
    frames["variants"], frames["variant_panels"] = variants, panels
    return options


def read_jobs(args, options: Options, frames: dict, inputs: dict) -> Options:
    """How the multiverse runs (--jobs, --scheduler): not an input, so not in its record."""
    frames["jobs"], frames["scheduler"] = args.jobs, args.scheduler
    return options


def read_model_sets(args, options: Options, frames: dict, inputs: dict) -> Options:
    """The sets `indices` and `models` published under --out, whole and made together: the tidy tables,
    analysis.csv and the resampling draws; the options they were made with are adopted."""
    from replication.report import TIDY

    out = Path(args.out)
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
    if "tables/mechanism.csv" in models["files"]:  # the six-indicator section
        tables["mechanism"] = pd.read_csv(out / "tables" / "mechanism.csv")
    if "tables/inference.csv" in models["files"]:  # Table 5 (4) under other assumptions
        tables["inference"] = pd.read_csv(out / "tables" / "inference.csv", keep_default_na=False, na_values=[""])
    frames.update(tables=tables, data=data, draws=draws)
    inputs.update({manifest_name(s): sha256((out / manifest_name(s)).read_bytes()) for s in ("indices", "models")})
    return options


def read_report_panel(args, options: Options, frames: dict, inputs: dict) -> Options:
    """The panel of --panel, the variant panels and anomalies.csv beside it, and the multiverse's
    summary when `make multiverse` ran under --out on this panel with these options."""
    path = Path(args.panel)
    frames["panel"], _ = read_panel(path)
    frames["variant_panels"], frames["anomalies"] = _variants(path.parent)
    frames["multiverse"] = _multiverse_summary(Path(args.out), options, sha256(path.read_bytes()))
    return options


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


# ---------------------------------------------------------------------------- what the steps compute
# compute(frames, options) -> Made: the output set ({path relative to --out: content}; a DataFrame is
# checked against the schema of its file stem and written as CSV by the runner) and the facts the
# step's lines print. No paths are read or written here, except the panel build's raw directory.


@dataclasses.dataclass(frozen=True)
class Made:
    files: dict[str, str | bytes | pd.DataFrame]
    facts: dict = dataclasses.field(default_factory=dict)


def compute_panel(frames: dict, options: Options) -> Made:
    from replication.data import build_panel, codebook

    built = build_panel(frames["raw"], options, progress=progress)
    progress("")
    files = {"panel.csv": built.panel, PANEL_MANIFEST: json_text(built.manifest),
             "CODEBOOK.md": codebook(built.panel, built.manifest), "anomalies.csv": csv_text(built.anomalies)}
    return Made(files | panel_variants(frames["raw"], options), {"log": built.log})


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


def compute_indices(frames: dict, options: Options) -> Made:
    """analysis.csv and the tidy Tables 1, 3 and 4."""
    from replication.indices import analysis_frame
    from replication.tables import table1, table3, table4

    analysis = analysis_frame(frames["panel"], options)
    six = analysis_frame(frames["panel"], dataclasses.replace(options, dist_indicators="six"))
    components, summary, weights = table3(analysis, frames["published"])
    files = {"data/analysis.csv": analysis.data, "tables/table1.csv": table1(analysis, six, frames["published"]),
             "tables/table3.csv": components, "tables/table3_stats.csv": summary,
             "tables/table3_weights.csv": weights, "tables/table4.csv": table4(analysis, frames["published"])}
    return Made(files, {"analysis": analysis})


def compute_models(frames: dict, options: Options) -> Made:
    """Tables 5-9 as tidy CSVs (coefficients and statistics) and the resampling draws behind them."""
    from replication.indices import analysis_frame
    from replication import inference
    from replication.mechanism import mechanism_table
    from replication.models import TABLES

    analysis = analysis_frame(frames["panel"], options)
    results = {}
    for name, function in TABLES.items():
        progress(f"{name}")
        # Table 8 (1) is Table 5 (4): its fit and wild bootstrap are taken over, not redone
        reuse = {"table5": results["table5"]} if name == "table8" and "table5" in results else {}
        results[name] = function(analysis.data, options, **reuse)
    progress("")
    files = {}
    for name, result in results.items():
        files[f"tables/{name}.csv"] = result.coefficients
        files[f"tables/{name}_stats.csv"] = result.stats
        if result.draws:
            files[f"tables/{name}_draws.csv"] = _draws_frame(result.draws)
    files["tables/mechanism.csv"] = csv_text(mechanism_table(frames["panel"], options))
    progress("Table 5 (4) under other assumptions (Conley, CV3, WCR, WRE)")
    coordinates = inference.prefecture_coordinates(analysis.data, inference.load_adcodes())
    files["tables/inference.csv"] = csv_text(inference.inference_table(analysis.data, options, coordinates))
    progress("")
    return Made(files, {"results": results})


def compute_report(frames: dict, options: Options) -> Made:
    """Rendered tables, comparison, audit and figures, from the sets `indices` and `models` published."""
    from replication.report import build

    return Made(build(frames["published"], frames["claims"], frames["tables"], frames["data"], options,
                      draws=frames["draws"], variants=frames["variant_panels"], anomalies=frames["anomalies"],
                      panel=frames["panel"], multiverse=frames["multiverse"]))


def compute_guangxi(frames: dict, options: Options) -> Made:
    """The Guangxi case (seed 000's figures beside the yearbook; Table 5 column 4 within Guangxi)."""
    from replication.guangxi import report_files
    from replication.indices import analysis_frame

    analysis = analysis_frame(frames["panel"], options)
    progress("guangxi: 2^14 wild bootstrap sign vectors")
    files = report_files(frames["panel"], analysis, frames["guangxi_seed"], frames["published"], options)
    progress("")
    return Made(files)


def compute_ethnic(frames: dict, options: Options) -> Made:
    """The ethnic regions (seed 004's figures beside the panel; Table 5 column 4 for the ethnic provinces)."""
    from replication.ethnic import report_files
    from replication.indices import analysis_frame

    analysis = analysis_frame(frames["panel"], options)
    progress("ethnic: wild bootstrap by province")
    files = report_files(frames["panel"], analysis, frames["ethnic_study"], frames["divisions"], frames["published"],
                         options)
    progress("")
    return Made(files)


def compute_multiverse(frames: dict, options: Options) -> Made:
    """multiverse/: every specification of the grid, the curves, what moves them."""
    from replication.mechanism import mechanism_table
    from replication.multiverse import outputs, run

    panels = {"default": frames["panel"], **frames["variant_panels"]}
    result = run(panels, frames["variants"], jobs=frames["jobs"], scheduler=frames["scheduler"], progress=progress,
                 base=options)
    progress("")
    files = outputs(result, frames["published"], mechanism_table(frames["panel"], options), options=options)
    files["options.json"] = json_text(_options_record(options, "panel", "index", "model")
                                      | {"variants": frames["variants"]})
    return Made({f"multiverse/{name}": content for name, content in files.items()},
                {"notes": result.notes, "specs": result.specs["spec_id"].nunique(),
                 "estimands": result.specs["estimand"].nunique(), "count": len(files)})


# ---------------------------------------------------------------------------- what the steps say
# say(made, out, options, manifest): the lines a step prints once its set is published.


def say_panel(made: Made, out: Path, options: Options, manifest: dict) -> None:
    for line in made.facts["log"]:
        print(line)
    print(f"wrote {', '.join(made.files)} to {out}")


def say_indices(made: Made, out: Path, options: Options, manifest: dict) -> None:
    analysis = made.facts["analysis"]
    small = analysis.small_nonurban
    if len(small):
        print(f"min_nonurban_share={options.min_nonurban_share:g}: {len(small)} city-years left out "
              f"({', '.join(f'{c} {n}' for c, n in small.groupby('city').size().items())})")
    print(f"wrote analysis.csv and Tables 1, 3, 4 ({len(analysis.data)} city-years) under {out}")


def say_models(made: Made, out: Path, options: Options, manifest: dict) -> None:
    for name, result in made.facts["results"].items():
        dropped = result.stats[result.stats["stat"].isin(["n_dropped_missing", "n_singletons"])
                               & (result.stats["value"] > 0)]
        for row in dropped.itertuples():
            what = "rows with a missing value" if row.stat == "n_dropped_missing" else "singleton city-years"
            print(f"{name} {row.column}: {int(row.value)} {what} dropped")
    print(f"wrote Tables 5-9 under {out / 'tables'}")
    mismatch = _mismatch(out, manifest)
    if mismatch:
        note(f"Tables 5-9 and the analysis.csv beside them now differ ({mismatch}); run `make indices` with the "
             "same options, or `report` will refuse")


def say_report(made: Made, out: Path, options: Options, manifest: dict) -> None:
    print(f"wrote {len(made.files)} rendered tables, reports and figures under {out}")


def say_guangxi(made: Made, out: Path, options: Options, manifest: dict) -> None:
    print(f"wrote the Guangxi report, {len(made.files) - 2} tables and figures under {out}")


def say_ethnic(made: Made, out: Path, options: Options, manifest: dict) -> None:
    print(f"wrote the ethnic-regions report, {len(made.files) - 2} tables and figures under {out}")


def say_multiverse(made: Made, out: Path, options: Options, manifest: dict) -> None:
    for line in dict.fromkeys(made.facts["notes"]):
        print(line)
    print(f"wrote {made.facts['specs']} specifications x {made.facts['estimands']} estimands "
          f"({made.facts['count']} files) under {out / 'multiverse'}")


# ---------------------------------------------------------------------------- the pipeline


@dataclasses.dataclass(frozen=True)
class Step:
    reads: tuple[Callable, ...]  # readers, in order: each takes its inputs into frames, adopts their options
    compute: Callable[[dict, Options], Made]
    options: tuple[str, ...]  # the option steps (config.STEPS) its manifest records
    say: Callable[[Made, Path, Options, dict], None]  # its lines, once its set is published
    out_first: bool = True  # create --out before reading (the panel build creates it only when it succeeded)


PANEL = (read_panel_step,)
STEPS = {
    "panel": Step((read_raw,), compute_panel, ("panel",), say_panel, out_first=False),
    "indices": Step((*PANEL, read_published), compute_indices, ("panel", "index"), say_indices),
    "models": Step(PANEL, compute_models, ("panel", "index", "model"), say_models),
    "report": Step((read_model_sets, read_report_panel, read_published), compute_report,
                   ("panel", "index", "model", "rendering"), say_report),
    "guangxi": Step((*PANEL, read_guangxi_seed, read_published), compute_guangxi, ("panel", "index", "model"), say_guangxi),
    "ethnic": Step((*PANEL, read_ethnic_inputs, read_published), compute_ethnic, ("panel", "index", "model"), say_ethnic),
    "multiverse": Step((*PANEL, read_variant_panels, read_published, read_jobs), compute_multiverse,
                       ("panel", "index", "model"), say_multiverse),
}


def run_step(name: str, args: argparse.Namespace, options: Options) -> int:
    """One step: read what it declares (schemas checked, options adopted), compute, publish its set
    all or nothing with its record (the options of its option steps, the digests of its inputs), say."""
    step = STEPS[name]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out}: is a file, expected a directory")
    if step.out_first:
        output_dir(out)
    frames: dict = {}
    inputs: dict = {}
    for reader in step.reads:
        options = reader(args, options, frames, inputs)
    made = step.compute(frames, options)
    out = output_dir(out)
    files = {relative: _serialised(content, relative, out) for relative, content in made.files.items()}
    record = _options_record(options, *step.options) | ({"inputs": inputs} if inputs else {})
    manifest = publish(out, name, files, record)
    step.say(made, out, options, manifest)
    return 0


def _serialised(content: str | bytes | pd.DataFrame, relative: str, out: Path) -> str | bytes:
    """A frame as CSV after its schema check (a failure here is a bug: it names the file); draws keep
    every digit (%.17g), the rest ten significant digits."""
    if not isinstance(content, pd.DataFrame):
        return content
    schemas.check(content, Path(relative).stem, str(out / relative))
    digits = "%.17g" if relative.endswith("_draws.csv") else "%.10g"
    return content.to_csv(index=False, float_format=digits, lineterminator="\n")


# ---------------------------------------------------------------------------- the other commands


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


ALL_STEPS = ("indices", "models", "report", "guangxi", "ethnic")


def command_all(args: argparse.Namespace, options: Options) -> int:
    """What `make all` runs: indices, models, report and the two case studies, as one set.

    The steps run into a staging directory (out/.staging-all), each reading the sets the earlier ones
    wrote there; only when all five succeeded is each set published into `out` (each all or nothing,
    in the order of the steps). A failing step leaves every step's previous set in `out` untouched,
    so a report never shows tables of two runs. The steps' own lines name `out`, not the staging
    directory."""
    import contextlib
    import io

    out = output_dir(Path(args.out))
    staging = out / ".staging-all"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name in ALL_STEPS:
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    code = run_step(name, argparse.Namespace(**{**vars(args), "out": str(staging)}), options)
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
    "panel": (partial(run_step, "panel"), "build the city-year panel from the raw files", "build"),
    "indices": (partial(run_step, "indices"), "analysis.csv and Tables 1, 3, 4", "pipeline"),
    "models": (partial(run_step, "models"), "Tables 5-9 and their resampling draws", "pipeline"),
    "report": (partial(run_step, "report"), "rendered tables, comparison, audit, figures (from the published sets)", "pipeline"),
    "all": (command_all, "indices, models, report and the two case studies (what `make all` runs)", "pipeline"),
    "guangxi": (partial(run_step, "guangxi"), "the Guangxi case: seed 000 beside the yearbook, Table 5 (4) within Guangxi",
                "pipeline"),
    "multiverse": (partial(run_step, "multiverse"), "every specification of the grid (replication/multiverse.py)", "multiverse"),
    "verify": (command_verify, "Tables 5-9 recomputed by linearmodels and pyfixest (differences)", "pipeline"),
    "fetch": (command_fetch, "download and verify the raw files the panel build reads", "fetch"),
    "side-by-side": (command_side_by_side, "one column of a table from several runs, the options that differ as "
                     "heads", "side"),
    "ethnic": (partial(run_step, "ethnic"), "the ethnic regions: seed 004 beside the panel, Table 5 (4) for the ethnic provinces",
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
