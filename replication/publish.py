"""Output sets published all or nothing, and read back only when whole.

A step's output set is a dict {path relative to the output directory: content}.  ``publish`` writes
it into a staging directory first, keeps the previous set (hard links) until the new one is in
place, and writes ``<step>.manifest.json`` (the sha256 of every file and the step's record: options
and inputs) last.  An error or a signal while the files move restores the previous set; a process
killed outright leaves a journal that ``recover`` (run by every publish and every read) rolls back.
``read_set`` returns a set's manifest after checking every file it lists, so a step never reads a
mixed or edited set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from replication.errors import BuildError

Content = str | bytes


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_text(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def manifest_name(step: str) -> str:
    return f"{step}.manifest.json"


def write_atomic(path: Path, content: Content) -> None:
    """One file, whole or not at all (a temporary file beside it, renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(_as_bytes(content))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def publish(out: Path, step: str, files: dict[str, Content], record: dict | None = None) -> dict:
    """Publish `files` as the output set of `step`, all or nothing; returns the manifest.

    1. every file is written under out/.publish/<step>/staging (a full disk fails here, nothing moved);
    2. the files of the previous set are hard-linked into .../backup and a journal lists the paths;
    3. each file is renamed into place, then `<step>.manifest.json` (sha256 of every file, and
       `record`: options and inputs) last; files of the previous set that the new one lacks go;
    4. the journal is removed: the new set is published.
    Any error or signal during 2-3 restores the previous set; `recover` does it after a kill.
    """
    recover(out)
    payload = {relative: _as_bytes(content) for relative, content in files.items()}
    manifest = {"step": step, "files": {r: sha256(b) for r, b in sorted(payload.items())}, **(record or {})}
    name = manifest_name(step)
    previous = _manifest_files(out, step)
    payload[name] = json_text(manifest).encode("utf-8")
    order = [*sorted(r for r in payload if r != name), name]
    stale = sorted(set(previous) - set(payload))
    base = out / ".publish" / step
    shutil.rmtree(base, ignore_errors=True)
    _stage(base, payload, order)
    touched = [*order, *stale]
    try:
        _back_up(out, base, touched)
        write_atomic(base / "journal.json", json_text({"step": step, "files": touched}))
        for relative in order:
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(base / "staging" / relative, out / relative)
        for relative in stale:
            (out / relative).unlink(missing_ok=True)
    except BaseException:
        _rollback(out, base, touched)
        raise
    (base / "journal.json").unlink()
    shutil.rmtree(base, ignore_errors=True)
    _remove_if_empty(out / ".publish")
    return manifest


def recover(out: Path) -> list[str]:
    """Roll back every publish that was killed before it finished (its journal is still there); the
    steps rolled back, each said on stderr."""
    folder = out / ".publish"
    if not folder.is_dir():
        return []
    steps = []
    for journal in sorted(folder.glob("*/journal.json")):
        entries = json.loads(journal.read_text(encoding="utf-8"))
        _rollback(out, journal.parent, entries["files"])
        steps.append(entries["step"])
        print(f"note: an interrupted publish of `{entries['step']}` under {out} was rolled back; "
              "the previous complete set is in place", file=sys.stderr)
    shutil.rmtree(folder, ignore_errors=True)
    return steps


def read_set(out: Path, step: str, command: str) -> dict:
    """The manifest of a published set, after checking every file it lists (sha256); `command` is
    what the messages tell the reader to run."""
    recover(out)
    path = out / manifest_name(step)
    if not path.is_file():
        raise BuildError(f"{path}: not found; run `{command}` first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        listed = dict(manifest["files"])
    except (ValueError, KeyError, TypeError):
        raise BuildError(f"{path}: not a manifest written by `{step}`; run `{command}` again") from None
    for relative, digest in listed.items():
        target = out / relative
        if not target.is_file():
            raise BuildError(f"{target}: listed in {path.name} but missing; run `{command}` again")
        if sha256(target.read_bytes()) != digest:
            raise BuildError(f"{target}: changed since `{step}` wrote it (sha256 differs from {path.name}); "
                             f"run `{command}` again")
    return manifest


def _as_bytes(content: Content) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _stage(base: Path, payload: dict[str, bytes], order: list[str]) -> None:
    """Every file of the new set under base/staging; on any failure nothing is left there."""
    try:
        for relative in order:
            target = base / "staging" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(payload[relative])
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        _remove_if_empty(base.parent)
        raise


def _back_up(out: Path, base: Path, touched: list[str]) -> None:
    for relative in touched:
        if (out / relative).is_file():
            (base / "backup" / relative).parent.mkdir(parents=True, exist_ok=True)
            os.link(out / relative, base / "backup" / relative)


def _rollback(out: Path, base: Path, files: list[str]) -> None:
    backup = base / "backup"
    for relative in files:
        saved, target = backup / relative, out / relative
        if saved.exists():
            os.replace(saved, target)
        else:
            target.unlink(missing_ok=True)
    (base / "journal.json").unlink(missing_ok=True)
    shutil.rmtree(base, ignore_errors=True)
    _remove_if_empty(base.parent)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _manifest_files(out: Path, step: str) -> list[str]:
    try:
        return list(json.loads((out / manifest_name(step)).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
