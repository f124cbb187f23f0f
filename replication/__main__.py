"""Command line: python -m replication {panel,analysis,bench} [options].

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
    }
    for name, text in files.items():
        write_atomic(out / name, text)
    for line in built.log:
        print(line)
    print(f"wrote {', '.join(files)} to {out}")
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
    args = parser.parse_args(argv)
    try:
        options = Options().with_overrides(args.set)
        return {"panel": command_panel}[args.command](args, options)
    except (BuildError, ValueError) as exc:
        progress("")
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
