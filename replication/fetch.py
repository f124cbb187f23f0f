"""Fetching the raw files the panel build reads from their public origins, verified.

The list of files is data, committed beside the package: ``replication/data/raw_files.csv``, one
row per file with its local path (the layout of the project's shared raw directory), the origin
repository, the commit, the path in that repository, its size and sha256.  A row whose ``archive``
is set is a member of that RAR archive (the yearbook's per-table workbooks arrive inside one RAR5
archive per edition): it is not downloaded but extracted from the verified archive with ``bsdtar``
(Debian package ``libarchive-tools``; Debian's 7zip cannot open RAR5), then verified in turn.

The list holds exactly the files ``build_panel`` reads (the ``inputs`` of
``data/processed/manifest.json``) plus the RAR archives the key tables come from; it was generated
once from the shared directory's ``PROVENANCE_FILES.csv`` by :func:`file_list` (a test checks that
regenerating it gives the committed file).

Every file is downloaded (``urllib``, nothing else) to a temporary name beside its destination,
its size and sha256 are checked, and only then is it renamed into place; a mismatch deletes the
download and stops with the file's name.  A file already present with the listed size and sha256
is not fetched again, so an interrupted run resumes where it stopped.  By default each file comes
from ``https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>``; ``mirror`` replaces
that with ``<mirror>/<local path>`` for an institution's own copy laid out like the raw directory.

This module writes files by nature (it is the step that creates the raw directory); it is called
only from the command line (``python -m replication fetch``) and from tests.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

import pandas as pd

from replication.data.build import sha256
from replication.errors import BuildError
from replication.schemas import check

FILE_LIST = "raw_files.csv"
FIELDS = ("path", "repo", "commit", "origin_path", "archive", "member", "bytes", "sha256")
ORIGIN = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
EXTRACTOR = "bsdtar"
EXTRACTOR_PACKAGE = "libarchive-tools"
TIMEOUT = 60  # seconds without data before a download is abandoned as unreachable
BLOCK = 1 << 16


class FetchError(BuildError):
    """A file could not be fetched, verified or extracted; the message names it."""


@dataclass(frozen=True)
class RawFile:
    path: str  # local path under the raw directory (POSIX)
    repo: str  # owner/name on GitHub
    commit: str
    origin_path: str  # path in the repository (for a member: the archive's path)
    archive: str  # local path of the archive holding it, or '' for a downloaded file
    member: str  # path inside the archive, or ''
    bytes: int
    sha256: str


@dataclass(frozen=True)
class FetchResult:
    downloaded: tuple[str, ...]
    extracted: tuple[str, ...]
    present: tuple[str, ...]  # already there and verified
    bytes_downloaded: int


def load_file_list(text: str | None = None) -> list[RawFile]:
    """The committed file list (or `text` in its format), checked for the columns it needs."""
    if text is None:
        text = resources.files("replication.data").joinpath(FILE_LIST).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != FIELDS:
        raise FetchError(f"{FILE_LIST}: columns {reader.fieldnames}; expected {list(FIELDS)}")
    check(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False), "raw_files", f"replication/data/{FILE_LIST}")
    rows = [RawFile(**{**r, "bytes": int(r["bytes"])}) for r in reader]
    paths = {r.path for r in rows}
    for r in rows:
        if r.archive and r.archive not in paths:
            raise FetchError(f"{FILE_LIST}: {r.path}: archive {r.archive} is not in the list")
        if PurePosixPath(r.path).is_absolute() or ".." in PurePosixPath(r.path).parts:
            raise FetchError(f"{FILE_LIST}: {r.path}: expected a relative path inside the raw directory")
    return rows


def file_list(provenance: list[dict], inputs: list[str]) -> str:
    """The file list as CSV text: the `inputs` (local paths the build reads) from PROVENANCE_FILES.csv
    rows, plus the archives their members come from, archives first, each group sorted by path."""
    by_path = {r["local_path"]: r for r in provenance}
    by_origin = {r["origin_path"]: r for r in provenance}
    archives, files = {}, []
    for path in sorted(inputs):
        if path not in by_path:
            raise FetchError(f"PROVENANCE_FILES.csv: no row for {path}")
        row = by_path[path]
        origin, _, member = row["origin_path"].partition(" :: ")
        archive = ""
        if member:
            container = by_origin.get(origin)
            if container is None:
                raise FetchError(f"PROVENANCE_FILES.csv: {path}: no row for its archive {origin}")
            archive = container["local_path"]
            archives[archive] = _row(container, "", "")
        files.append(_row(row, archive, member))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    writer.writerows([archives[k] for k in sorted(archives)] + files)
    return out.getvalue()


def _row(row: dict, archive: str, member: str) -> list:
    origin = row["origin_path"].partition(" :: ")[0]
    repo = row["origin_repo"].split()[0]  # 'owner/name (commit authored by ...)' -> 'owner/name'
    return [row["local_path"], repo, row["commit"], origin, archive, member, row["size_bytes"], row["sha256"]]


def url_of(item: RawFile, mirror: str | None) -> str:
    if mirror:
        return mirror.rstrip("/") + "/" + urllib.parse.quote(item.path)
    return ORIGIN.format(repo=item.repo, commit=item.commit, path=urllib.parse.quote(item.origin_path))


sha256_of = sha256  # the panel build's streaming sha256 (replication/data/build.py)


def verified(path: Path, item: RawFile) -> bool:
    """The file is there, a regular file, with the listed size and sha256."""
    return path.is_file() and path.stat().st_size == item.bytes and sha256_of(path) == item.sha256


def fetch_raw(
    raw: Path,
    mirror: str | None = None,
    files: list[RawFile] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> FetchResult:
    """Download, verify and extract every listed file into `raw`; FetchError naming the file on failure."""
    files = load_file_list() if files is None else files
    if raw.exists() and not raw.is_dir():
        raise FetchError(f"{raw}: exists and is not a directory; expected the raw directory to fill")
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"{raw}: cannot create the raw directory ({exc.strerror})") from None
    downloaded, extracted, present, total = [], [], [], 0
    members = [f for f in files if f.archive]
    direct = [f for f in files if not f.archive]
    for i, item in enumerate(direct, start=1):
        target = raw / item.path
        if verified(target, item):
            present.append(item.path)
            continue
        progress(f"fetch {i}/{len(direct)} {item.path}")
        total += _download(url_of(item, mirror), target, item, progress)
        downloaded.append(item.path)
    by_archive: dict[str, list[RawFile]] = {}
    for item in members:
        if verified(raw / item.path, item):
            present.append(item.path)
        else:
            by_archive.setdefault(item.archive, []).append(item)
    for i, (archive, wanted) in enumerate(sorted(by_archive.items()), start=1):
        progress(f"extract {i}/{len(by_archive)} {archive} ({len(wanted)} tables)")
        extracted += _extract(raw, raw / archive, wanted)
    progress("")
    return FetchResult(tuple(downloaded), tuple(extracted), tuple(present), total)


def _download(url: str, target: Path, item: RawFile, progress: Callable[[str], None]) -> int:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"{target.parent}: cannot create the directory ({exc.strerror})") from None
    partial = target.with_name(f".{target.name}.part")
    got = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "replication-fetch"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response, partial.open("wb") as out:
            announced = response.headers.get("Content-Length")
            digest = hashlib.sha256()
            while block := response.read(BLOCK):
                got += len(block)
                if got > item.bytes:
                    break
                digest.update(block)
                out.write(block)
                progress(f"fetch {item.path} {got // 1024:,} / {item.bytes // 1024:,} KiB")
        if got < item.bytes and announced == str(item.bytes):
            raise FetchError(
                f"{item.path}: download from {url} interrupted after {got} of {item.bytes} bytes; "
                "the partial file was deleted, run the fetch again to resume"
            )
        if got != item.bytes:
            size = f"more than {item.bytes}" if got > item.bytes else str(got)
            raise FetchError(
                f"{item.path}: size mismatch from {url}: got {size} bytes, expected {item.bytes}; "
                "the download was deleted"
            )
        if digest.hexdigest() != item.sha256:
            raise FetchError(
                f"{item.path}: checksum mismatch from {url}: sha256 {digest.hexdigest()}, expected "
                f"{item.sha256}; the download was deleted"
            )
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    except FetchError:
        partial.unlink(missing_ok=True)
        raise
    except urllib.error.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(f"{item.path}: download failed from {url}: HTTP {exc.code} {exc.reason}") from None
    except (http.client.HTTPException, ConnectionResetError) as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(
            f"{item.path}: download from {url} interrupted after {got} of {item.bytes} bytes "
            f"({type(exc).__name__}); the partial file was deleted, run the fetch again to resume"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        host = urllib.parse.urlsplit(url).netloc
        raise FetchError(
            f"{item.path}: cannot reach {host} ({reason}); check the network or --mirror"
        ) from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(f"{target}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return got


def _extract(raw: Path, archive: Path, wanted: list[RawFile]) -> list[str]:
    """Extract the wanted members of one verified archive, verify each, move them into place."""
    tool = shutil.which(EXTRACTOR)
    if tool is None:
        raise FetchError(
            f"{archive.relative_to(raw)}: cannot extract the yearbook tables: '{EXTRACTOR}' not found "
            f"(install the Debian/Ubuntu package {EXTRACTOR_PACKAGE}: apt-get install {EXTRACTOR_PACKAGE})"
        )
    if not archive.is_file():
        raise FetchError(f"{archive}: archive missing; it is fetched before its members are extracted")
    with tempfile.TemporaryDirectory(dir=raw, prefix=".extract-") as scratch:
        env = {**os.environ, "LC_ALL": "C.UTF-8"}  # member names are UTF-8 (Chinese)
        done = subprocess.run([tool, "-xf", str(archive), "-C", scratch], env=env,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise FetchError(f"{archive.relative_to(raw)}: {EXTRACTOR} failed: {done.stderr.strip()}")
        out = []
        for item in wanted:
            source = Path(scratch) / item.member
            if not source.is_file():
                raise FetchError(f"{item.path}: member {item.member} not found in {item.archive}")
            if not verified(source, item):
                raise FetchError(
                    f"{item.path}: member {item.member} of {item.archive} does not match the listed size "
                    f"{item.bytes} and sha256 {item.sha256}"
                )
            target = raw / item.path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(source, 0o644)
            os.replace(source, target)
            out.append(item.path)
    return out
