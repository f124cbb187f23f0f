"""`python -m replication fetch`: download, verify, extract, resume; never the internet.

Every test serves a mirror of the raw directory (or of a damaged copy) from an HTTP server on the
loopback address that the test starts itself (port 0, a thread), and fetches from it with --mirror.
"""

from __future__ import annotations

import csv
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import threading
import urllib.parse
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

from replication import fetch
from replication.__main__ import main
from replication.fetch import FetchError, fetch_raw, file_list, load_file_list, url_of

pytestmark = pytest.mark.raw
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent
EDITION_RAR = "ccsy_zeeny/rar_excel/ccsy_2013_excel.rar"


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves `directory`; `limit` requests at most (then 503); `truncate` paths get half their bytes."""

    limit: int | None = None
    truncate: tuple[str, ...] = ()
    served: list[str]

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def do_GET(self):
        if self.limit is not None and len(self.served) >= self.limit:
            self.send_error(503, "stopped")
            return
        self.served.append(self.path)
        local = Path(self.translate_path(self.path))
        if any(self.path.endswith(t) for t in self.truncate) and local.is_file():
            data = local.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().do_GET()


@contextmanager
def serve(directory: Path, **behaviour):
    served: list[str] = []
    handler = type("H", (Handler,), {"served": served, **behaviour})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(directory: Path) -> dict[str, str]:
    """Every entry under directory (hidden ones included): relative path -> sha256 (or 'dir')."""
    return {
        p.relative_to(directory).as_posix(): digest(p) if p.is_file() else "dir"
        for p in sorted(directory.rglob("*"))
    }


@pytest.fixture(scope="module")
def files():
    return load_file_list()


@pytest.fixture(scope="session")
def extractor() -> str:
    """bsdtar, which extracts the edition archives: a test that extracts one skips without it on a
    developer's machine and fails under CI=true (.ci/run installs libarchive-tools)."""
    found = shutil.which(fetch.EXTRACTOR)
    if found is None:
        message = f"{fetch.EXTRACTOR} not found (Debian package {fetch.EXTRACTOR_PACKAGE})"
        if CI:
            pytest.fail(message + "; CI requires it (.ci/run installs it)")
        pytest.skip(message)
    return found


@pytest.fixture
def subset(files, extractor):
    return small_list(files)


def small_list(files):
    """Three crosswalk files, one edition archive and three of its tables: a small list of its own."""
    direct = [f for f in files if f.path.startswith("crosswalk_fiersity/") or f.path == EDITION_RAR]
    members = [f for f in files if f.archive == EDITION_RAR][:3]
    assert len(direct) == 4 and len(members) == 3
    return direct + members


def test_file_list_is_the_build_inputs_plus_their_archives(raw_dir, files):
    """The committed list regenerates from PROVENANCE_FILES.csv and the manifest's inputs, byte for byte."""
    with (raw_dir / "PROVENANCE_FILES.csv").open(encoding="utf-8") as handle:
        provenance = list(csv.DictReader(handle))
    manifest = json.loads((ROOT / "data" / "processed" / "manifest.json").read_text(encoding="utf-8"))
    inputs = [i["path"] for i in manifest["inputs"]]
    committed = (ROOT / "replication" / "data" / "raw_files.csv").read_text(encoding="utf-8")
    assert file_list(provenance, inputs) == committed
    archives = [f for f in files if not f.archive and f.path.endswith(".rar")]
    assert len(files) == len(inputs) + len(archives) == 235 + 11
    assert {f.path for f in files if f.archive} == {p for p in inputs if p.startswith("ccsy_zeeny/key_tables/")}
    by_path = {i["path"]: i for i in manifest["inputs"]}
    assert all((f.bytes, f.sha256) == (by_path[f.path]["bytes"], by_path[f.path]["sha256"])
               for f in files if f.path in by_path)


def test_origin_url_is_quoted_at_the_pinned_commit(files):
    hhwk = next(f for f in files if f.path.startswith("hhwk_gp/"))
    assert url_of(hhwk, None) == (
        "https://raw.githubusercontent.com/biechouwo-coder/G-P/620eba99be66f22289ff05d79b893793c84d1421/"
        "%E5%8E%9F%E5%A7%8B%E6%95%B0%E6%8D%AE/2000-2023%E5%9C%B0%E7%BA%A7%E5%B8%82%E4%BA%A7%E4%B8%9A"
        "%E7%BB%93%E6%9E%84%20.xlsx"
    )
    assert url_of(hhwk, "http://mirror.example/raw/") == (
        "http://mirror.example/raw/hhwk_gp/2000-2023%E5%9C%B0%E7%BA%A7%E5%B8%82%E4%BA%A7%E4%B8%9A"
        "%E7%BB%93%E6%9E%84%20.xlsx"
    )


@pytest.mark.slow
def test_full_fetch_rebuilds_the_committed_panel(raw_dir, files, extractor, tmp_path, capsys):
    """Every listed file, from a mirror of the raw directory: same layout and bytes, and `panel` on the
    fetched directory writes the committed data/processed/ byte for byte."""
    target = tmp_path / "raw"
    with serve(raw_dir) as (url, served):
        assert main(["fetch", "--raw", str(target), "--mirror", url]) == 0
    direct = [f for f in files if not f.archive]
    assert len(served) == len(direct) == 16
    fetched = tree(target)
    expected = {f.path: f.sha256 for f in files}
    assert {k: v for k, v in fetched.items() if v != "dir"} == expected
    assert all(expected[p] == digest(raw_dir / p) for p in expected)
    line = capsys.readouterr().out
    assert "fetched 16 files (25.9 MB), extracted 230 tables, 0 already present" in line
    out = tmp_path / "processed"
    assert main(["panel", "--raw", str(target), "--out", str(out)]) == 0
    for name in ("panel.csv", "manifest.json", "CODEBOOK.md"):
        assert (out / name).read_bytes() == (ROOT / "data" / "processed" / name).read_bytes(), name


def test_subset_fetch_layout_and_second_run_fetches_nothing(raw_dir, subset, tmp_path):
    target = tmp_path / "raw"
    with serve(raw_dir) as (url, served):
        result = fetch_raw(target, mirror=url, files=subset)
        assert len(served) == 4 and len(result.extracted) == 3 and result.present == ()
        assert result.bytes_downloaded == sum(f.bytes for f in subset if not f.archive)
        again = fetch_raw(target, mirror=url, files=subset)
        assert len(served) == 4, "a verified file is not fetched again"
    assert again.downloaded == again.extracted == () and len(again.present) == 7
    assert tree(target) == {**{p: "dir" for p in ("ccsy_zeeny", "ccsy_zeeny/key_tables", "ccsy_zeeny/key_tables/2013",
                                                    "ccsy_zeeny/rar_excel", "crosswalk_fiersity")},
                            **{f.path: digest(raw_dir / f.path) for f in subset}}


def test_interrupted_fetch_resumes(raw_dir, subset, tmp_path):
    """The server stops after two files: the run fails naming the third; the rerun fetches only the rest."""
    target = tmp_path / "raw"
    direct = [f for f in subset if not f.archive]
    with serve(raw_dir, limit=2) as (url, served):
        with pytest.raises(FetchError, match=rf"^{direct[2].path}: download failed from .*: HTTP 503"):
            fetch_raw(target, mirror=url, files=subset)
    assert sorted(p for p, v in tree(target).items() if v != "dir") == sorted(f.path for f in direct[:2])
    # a partial download left by a killed run is overwritten, never trusted
    (target / direct[2].path).parent.mkdir(parents=True, exist_ok=True)
    (target / direct[2].path).with_name("." + Path(direct[2].path).name + ".part").write_bytes(b"half")
    (target / direct[3].path).parent.mkdir(parents=True, exist_ok=True)
    (target / direct[3].path).write_bytes(b"truncated by a crash")  # wrong size: fetched again
    with serve(raw_dir) as (url, served):
        result = fetch_raw(target, mirror=url, files=subset)
    assert served == ["/" + urllib.parse.quote(f.path) for f in direct[2:]]
    assert sorted(result.downloaded) == sorted(f.path for f in direct[2:])
    assert sorted(result.present) == sorted(f.path for f in direct[:2])
    assert {p: v for p, v in tree(target).items() if v != "dir"} == {f.path: f.sha256 for f in subset}


def test_connection_dropped_mid_file(raw_dir, subset, tmp_path):
    target = tmp_path / "raw"
    with serve(raw_dir, truncate=("entities.csv",)) as (url, _):
        with pytest.raises(FetchError, match=r"^crosswalk_fiersity/entities\.csv: download from .* interrupted "
                                             r"after 30981 of 61962 bytes; the partial file was deleted"):
            fetch_raw(target, mirror=url, files=subset)
    assert not any(p.name.startswith(".") or p.name == "entities.csv" for p in target.rglob("*"))


def mirror_copy(raw_dir: Path, target: Path, items) -> Path:
    """A mirror directory of symlinks to the raw files (so that one can be replaced by a damaged copy)."""
    for item in items:
        path = target / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(raw_dir / item.path)
    return target


def test_corrupted_file_is_refused_by_name(raw_dir, subset, tmp_path):
    mirror = mirror_copy(raw_dir, tmp_path / "mirror", [f for f in subset if not f.archive])
    bad = mirror / EDITION_RAR
    data = bytearray(bad.read_bytes())
    data[1000] ^= 0xFF  # same size, one byte flipped
    bad.unlink()
    bad.write_bytes(bytes(data))
    before = tree(mirror)
    target = tmp_path / "raw"
    with serve(mirror) as (url, _):
        with pytest.raises(FetchError, match=rf"^{EDITION_RAR}: checksum mismatch from .*: sha256 "
                                             rf"{hashlib.sha256(data).hexdigest()}, expected "
                                             r"8cc32b1f8ea5d23d2e2cc94b98835cf21c5df4e17295b7c38ccfe9ccd7d858dd; "
                                             r"the download was deleted"):
            fetch_raw(target, mirror=url, files=subset)
    left = tree(target)
    assert not [p for p in left if p.startswith("ccsy_zeeny/rar_excel/") or "/." in "/" + p]
    assert not [p for p in left if "key_tables" in p], "nothing is extracted from an unverified archive"
    assert tree(mirror) == before


def test_wrong_size_is_refused_by_name(raw_dir, subset, tmp_path):
    mirror = mirror_copy(raw_dir, tmp_path / "mirror", [f for f in subset if not f.archive])
    roster = mirror / "crosswalk_fiersity/legal_roster_2000_2024.csv"
    text = roster.read_bytes()
    roster.unlink()
    roster.write_bytes(text + b"extra,row\n")
    with serve(mirror) as (url, _):
        with pytest.raises(FetchError, match=r"^crosswalk_fiersity/legal_roster_2000_2024\.csv: size mismatch "
                                             r"from .*: got more than 742248 bytes, expected 742248"):
            fetch_raw(tmp_path / "raw", mirror=url, files=subset)
    assert not (tmp_path / "raw" / "crosswalk_fiersity" / "legal_roster_2000_2024.csv").exists()
    assert not list((tmp_path / "raw").rglob(".*"))


def test_missing_file_on_the_mirror(raw_dir, subset, tmp_path):
    mirror = mirror_copy(raw_dir, tmp_path / "mirror", [f for f in subset if not f.archive][1:])
    with serve(mirror) as (url, _):
        with pytest.raises(FetchError, match=rf"^{subset[0].path}: download failed from {url}/"
                                             rf"{subset[0].path}: HTTP 404"):
            fetch_raw(tmp_path / "raw", mirror=url, files=subset)


def test_member_with_the_wrong_checksum_is_not_installed(raw_dir, subset, tmp_path):
    """A list whose member checksum disagrees with the verified archive: refused, nothing installed."""
    member = subset[-1]
    wrong = fetch.RawFile(**{**member.__dict__, "sha256": "0" * 64})
    with serve(raw_dir) as (url, _):
        with pytest.raises(FetchError, match=rf"^{member.path}: member .* of {EDITION_RAR} does not match "
                                             r"the listed size \d+ and sha256 0{64}"):
            fetch_raw(tmp_path / "raw", mirror=url, files=[*subset[:-1], wrong])
    assert not (tmp_path / "raw" / member.path).exists()
    assert not [p for p in (tmp_path / "raw").iterdir() if p.name.startswith(".extract-")]


def test_missing_extractor_names_it_and_its_package(raw_dir, files, tmp_path, monkeypatch):
    subset = small_list(files)
    monkeypatch.setattr(fetch, "EXTRACTOR", "bsdtar-not-installed")
    with serve(raw_dir) as (url, _):
        with pytest.raises(FetchError, match=rf"^{EDITION_RAR}: cannot extract the yearbook tables: "
                                             r"'bsdtar-not-installed' not found \(install the Debian/Ubuntu "
                                             r"package libarchive-tools"):
            fetch_raw(tmp_path / "raw", mirror=url, files=subset)
    assert (tmp_path / "raw" / EDITION_RAR).is_file(), "the verified archive is kept for the next run"


def test_bsdtar_is_installed(extractor):
    """CI installs it (.ci/run); the fetch of the yearbook tables needs it. Under CI=true a missing bsdtar
    fails here (the fixture does not skip), elsewhere it skips; when found, it is bsdtar and it runs."""
    import subprocess

    done = subprocess.run([extractor, "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.startswith("bsdtar "), done.stdout + done.stderr


def test_unreachable_server_is_one_clear_line(tmp_path, capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["fetch", "--raw", str(tmp_path / "raw"), "--mirror", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {load_file_list()[0].path}: cannot reach 127.0.0.1:{port} (")
    assert "Connection refused" in err and "check the network or --mirror" in err
    assert not list((tmp_path / "raw").rglob("*.part"))


def test_raw_path_that_is_a_file(tmp_path, capsys):
    (tmp_path / "raw").write_text("x")
    assert main(["fetch", "--raw", str(tmp_path / "raw"), "--mirror", "http://127.0.0.1:9"]) == 2
    assert "raw: exists and is not a directory" in capsys.readouterr().err


def test_file_list_with_wrong_columns_is_refused():
    with pytest.raises(FetchError, match=r"raw_files\.csv: columns \['path', 'url'\]; expected \['path', 'repo'"):
        load_file_list("path,url\na,b\n")
    text = io.StringIO()
    text.write(",".join(fetch.FIELDS) + "\n../outside,o/r," + "c" * 40 + ",p,,,1," + "0" * 64 + "\n")
    with pytest.raises(FetchError, match=r"\.\./outside: expected a relative path inside the raw directory"):
        load_file_list(text.getvalue())
