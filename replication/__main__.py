"""Command line: python -m replication {panel,indices,models,report,all,bench} [options].

The only module that decides where files go.  Every output is written to a
temporary file and renamed into place, and nothing is written until the step
that produces it has succeeded, so a failed run leaves the previous outputs
as they were.  The raw directory is only ever read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from replication.config import Options, Paths
from replication.data.errors import BuildError


def progress(message: str) -> None:
    """Progress on an interactive terminal; silent in CI and when output is redirected."""
    if sys.stderr.isatty() and not os.environ.get("CI"):
        print(f"\r{message:<60}", end="", file=sys.stderr, flush=True)


def write_atomic(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")


def json_text(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def command_panel(args: argparse.Namespace, options: Options) -> int:
    from replication.data import build_panel, codebook

    raw, out = Path(args.raw), Path(args.out)
    built = build_panel(raw, options, progress=progress)
    progress("")
    files = {
        "panel.csv": csv_text(built.panel),
        "manifest.json": json_text(built.manifest),
        "CODEBOOK.md": codebook(built.panel, built.manifest),
        "anomalies.csv": csv_text(built.anomalies),
    }
    files |= panel_variants(raw, options)
    for name, text in files.items():
        write_atomic(out / name, text)
    for line in built.log:
        print(line)
    print(f"wrote {', '.join(files)} to {out}")
    return 0


def panel_variants(raw: Path, options: Options) -> dict[str, str]:
    """variants/<name>.csv for each entry of data.VARIANTS, and variants/variants.json naming the
    panel-build options that made each (a contract: the multiverse reads these files)."""
    import dataclasses

    from replication.data import VARIANTS, build_panel

    files = {}
    for name, changes in VARIANTS.items():
        progress(f"variant {name}")
        files[f"variants/{name}.csv"] = csv_text(build_panel(raw, dataclasses.replace(options, **changes)).panel)
    progress("")
    files["variants/variants.json"] = json_text(VARIANTS)
    return files


def _analysis(args, options):
    from replication.data import load_panel
    from replication.indices import analysis_frame

    panel = load_panel(Path(args.panel))
    return panel, analysis_frame(panel, options)


def _published(paths: Paths):
    from replication.published import parse_claims, parse_published

    return (parse_published((paths.reference / "published.csv").read_text(encoding="utf-8")),
            parse_claims((paths.reference / "claims.csv").read_text(encoding="utf-8")))


def command_indices(args: argparse.Namespace, options: Options) -> int:
    """analysis.csv and the tidy Tables 1, 3 and 4."""
    import dataclasses

    from replication.indices import analysis_frame
    from replication.tables import table1, table3, table4

    panel, analysis = _analysis(args, options)
    six = analysis_frame(panel, dataclasses.replace(options, dist_indicators="six"))
    published, _ = _published(Paths())
    out = Path(args.out)
    components, summary, weights = table3(analysis, published)
    files = {
        out / "data" / "analysis.csv": analysis.data,
        out / "tables" / "table1.csv": table1(analysis, six, published),
        out / "tables" / "table3.csv": components,
        out / "tables" / "table3_stats.csv": summary,
        out / "tables" / "table3_weights.csv": weights,
        out / "tables" / "table4.csv": table4(analysis, published),
    }
    for path, frame in files.items():
        write_atomic(path, csv_text(frame))
    write_atomic(out / "tables" / "options.json", json_text(_options_record(options)))
    small = analysis.small_nonurban
    if len(small):
        print(f"min_nonurban_share={options.min_nonurban_share:g}: {len(small)} city-years left out "
              f"({', '.join(f'{c} {n}' for c, n in small.groupby('city').size().items())})")
    print(f"wrote analysis.csv and Tables 1, 3, 4 ({len(analysis.data)} city-years) under {out}")
    return 0


def _options_record(options: Options) -> dict:
    import dataclasses

    return {"options": dataclasses.asdict(options), "non_default": options.non_default()}


def command_models(args: argparse.Namespace, options: Options) -> int:
    """Tables 5-9 as tidy CSVs (coefficients and statistics)."""
    from replication.models import TABLES

    panel, analysis = _analysis(args, options)
    out = Path(args.out) / "tables"
    results = {}
    for name, function in TABLES.items():
        progress(f"{name}")
        results[name] = function(analysis.data, options)
    progress("")
    for name, result in results.items():
        write_atomic(out / f"{name}.csv", csv_text(result.coefficients))
        write_atomic(out / f"{name}_stats.csv", csv_text(result.stats))
    from replication.multiverse import mechanism_table

    write_atomic(out / "mechanism.csv", csv_text(mechanism_table(panel, options)))
    print(f"wrote Tables 5-9 under {out}")
    return 0


def command_all(args: argparse.Namespace, options: Options) -> int:
    for step in (command_indices, command_models, command_report):
        code = step(args, options)
        if code:
            return code
    return 0


def command_report(args: argparse.Namespace, options: Options) -> int:
    """Rendered tables, comparison, audit and figures, from the tidy CSVs the other steps wrote."""
    from replication.report import TIDY, build

    out = Path(args.out)
    missing = [f"{name}.csv" for name in TIDY if not (out / "tables" / f"{name}.csv").is_file()]
    if missing or not (out / "data" / "analysis.csv").is_file():
        raise BuildError(f"{out}: run `indices` and `models` first (missing {missing or ['data/analysis.csv']})")
    tables = {name: pd.read_csv(out / "tables" / f"{name}.csv") for name in TIDY}
    if (out / "tables" / "mechanism.csv").is_file():  # the six-indicator section (written by `models`)
        tables["mechanism"] = pd.read_csv(out / "tables" / "mechanism.csv")
    data = pd.read_csv(out / "data" / "analysis.csv", keep_default_na=False, na_values=[""])
    published, claims = _published(Paths())
    variants, anomalies = _variants(Path(args.panel).parent)
    from replication.data import load_panel

    files = build(published, claims, tables, data, options, variants, anomalies, load_panel(Path(args.panel)))
    for relative, content in files.items():
        write_atomic(out / relative, content)
    print(f"wrote {len(files)} rendered tables, reports and figures under {out}")
    return 0


def command_guangxi(args: argparse.Namespace, options: Options) -> int:
    """The Guangxi case (seed 000's figures beside the yearbook; Table 5 column 4 within Guangxi)."""
    from replication.guangxi import build
    from replication.published import parse_guangxi_seed

    panel, analysis = _analysis(args, options)
    reference = parse_guangxi_seed((Paths().reference / "guangxi_seed.csv").read_text(encoding="utf-8"))
    progress("guangxi: 2^14 wild bootstrap sign vectors")
    files = build(panel, analysis, reference, options)
    progress("")
    out = Path(args.out)
    for relative, content in files.items():
        write_atomic(out / relative, content)
    print(f"wrote the Guangxi report, {len(files) - 2} tables and figures under {out}")
    return 0


def command_multiverse(args: argparse.Namespace, options: Options) -> int:
    """output/multiverse/: every specification of the grid, the curves, what moves them (issue 9)."""
    from replication.data import load_panel
    from replication.multiverse import mechanism_table, outputs, run

    panel = load_panel(Path(args.panel))
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
    files = outputs(result, published, mechanism_table(panel, options))
    files["options.json"] = json_text(_options_record(options) | {"variants": variants})
    out = Path(args.out) / "multiverse"
    for name, content in files.items():
        write_atomic(out / name, content)
    for note in dict.fromkeys(result.notes):
        print(note)
    print(f"wrote {result.specs['spec_id'].nunique()} specifications x {result.specs['estimand'].nunique()} "
          f"estimands ({len(files)} files) under {out}")
    return 0
def _variants(processed: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame | None]:
    """The variant panels listed in <processed>/variants/variants.json and <processed>/anomalies.csv, if written."""
    from replication.data import load_panel

    listing = processed / "variants" / "variants.json"
    names = sorted(json.loads(listing.read_text(encoding="utf-8"))) if listing.is_file() else []
    anomalies = processed / "anomalies.csv"
    return ({name: load_panel(processed / "variants" / f"{name}.csv") for name in names},
            pd.read_csv(anomalies) if anomalies.is_file() else None)


def command_bench(args: argparse.Namespace, options: Options) -> int:
    from replication.bench import run_benchmark

    _, analysis = _analysis(args, options)
    figures = run_benchmark(analysis.data, options)
    write_atomic(Path(args.out) / "bench.json", json_text(figures))
    for key, value in figures.items():
        print(f"{key}: {value}")
    return 0


def command_fetch(args: argparse.Namespace, options: Options) -> int:
    """Download the raw files the panel build reads (replication/data/raw_files.csv), verified."""
    import time

    from replication.fetch import fetch_raw

    start = time.monotonic()
    done = fetch_raw(Path(args.raw), mirror=args.mirror, progress=progress)
    print(f"fetched {len(done.downloaded)} files ({done.bytes_downloaded / 1e6:.1f} MB), extracted "
          f"{len(done.extracted)} tables, {len(done.present)} already present and verified, into {args.raw} "
          f"in {time.monotonic() - start:.1f} s")
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


def main(argv: list[str] | None = None) -> int:
    paths = Paths()
    parser = argparse.ArgumentParser(prog="python -m replication", description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="change an option of replication.config.Options (repeatable)")
    commands = parser.add_subparsers(dest="command", required=True)
    panel = commands.add_parser("panel", help="build the city-year panel from the raw files")
    panel.add_argument("--raw", default="data/raw", help="raw directory (read only; default data/raw)")
    panel.add_argument("--out", default=str(paths.processed), help="output directory (default data/processed)")
    for name, text in (("indices", "analysis.csv and Tables 1, 3, 4"), ("models", "Tables 5-9"),
                       ("report", "rendered tables, comparison, audit, figures (from the tidy CSVs)"),
                       ("all", "indices, models and report"), ("bench", "resampling speed and Tables 5-9 time"),
                       ("guangxi", "the Guangxi case: seed 000 beside the yearbook, Table 5 (4) within Guangxi"),
                       ("verify", "Tables 5-9 recomputed by linearmodels and pyfixest (differences)")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--panel", default=str(paths.processed / "panel.csv"), help="the panel CSV")
        sub.add_argument("--out", default=str(paths.output), help="output directory (default output/)")
    fetch = commands.add_parser("fetch", help="download and verify the raw files the panel build reads")
    fetch.add_argument("--raw", default="data/raw", help="raw directory to fill (default data/raw)")
    fetch.add_argument("--mirror", default=None, help="base URL of a copy laid out like the raw directory")
    multiverse = commands.add_parser("multiverse", help="every specification of the grid (replication/multiverse.py)")
    multiverse.add_argument("--panel", default=str(paths.processed / "panel.csv"), help="the panel CSV")
    multiverse.add_argument("--variants", default=str(paths.processed / "variants"),
                            help="variant panels and variants.json (default data/processed/variants)")
    multiverse.add_argument("--out", default=str(paths.output), help="output directory (default output/)")
    multiverse.add_argument("--jobs", type=int, default=1, help="local worker processes (joblib)")
    multiverse.add_argument("--scheduler", default=None, help="address of a Dask scheduler (joblib's Dask backend)")
    args = parser.parse_args(argv)
    try:
        options = Options().with_overrides(args.set)
        return {"panel": command_panel, "indices": command_indices, "models": command_models,
                "report": command_report, "all": command_all, "bench": command_bench,
                "fetch": command_fetch, "guangxi": command_guangxi, "verify": command_verify,
                "multiverse": command_multiverse}[args.command](args, options)
    except (BuildError, ValueError) as exc:
        progress("")
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
