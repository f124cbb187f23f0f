"""python -m benchmarks [--set name=value ...] [--panel PANEL] [--out OUT]: OUT/bench.json (what `make bench` runs).

The panel is read, checked and its build options adopted as for `python -m replication models`; the
figures are published as the output set `bench` (OUT/bench.json and OUT/bench.manifest.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.bench import run_benchmark
from replication import __main__ as cli
from replication.config import Options, Paths, parse_overrides
from replication.errors import BuildError
from replication.publish import json_text, publish


def parser() -> argparse.ArgumentParser:
    paths = Paths()
    top = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    top.add_argument("--set", dest="set_before", action="append", default=[], metavar="NAME=VALUE",
                     help="change an option (`python -m replication options` lists them)")
    top.add_argument("--panel", default=str(paths.processed / "panel.csv"), help="the panel CSV")
    top.add_argument("--out", default=str(paths.output), help="output directory (default output/)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.command = "bench"  # the panel checks of a command that fits the models
    try:
        args.explicit = parse_overrides(args.set_before)
        options = Options(**args.explicit)
        out = cli.output_dir(Path(args.out))
        panel, options, _ = cli._panel_options(args, options)
        from replication.indices import analysis_frame

        figures = run_benchmark(analysis_frame(panel, options).data, options)
    except (BuildError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    publish(out, "bench", {"bench.json": json_text(figures)}, cli._options_record(options, "panel", "index", "model"))
    for key, value in figures.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
