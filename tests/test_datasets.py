"""Tests of the dataset registry and downloader (course_utils.datasets and the modules
behind it: registry, mirror, transfer, archives).

They run offline and fast: small fake mirrors are built in ``tmp_path``, an HTTP mirror
is a threaded ``http.server`` on 127.0.0.1 that honours ``Range`` (and can misbehave on
request), and nothing is ever written to the repository's ``data/`` folder.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import re
import tarfile
import threading
import types
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

import pooch
import pytest

from course_utils import config
from course_utils import datasets as ds
from course_utils.datasets import (
    ChecksumError,
    DamagedArchiveError,
    DataError,
    DatasetInfo,
    DownloadError,
    RemoteFile,
)
from course_utils.datasets import _transfer as transfer
from course_utils.datasets._archives import extract_archive
from course_utils.datasets._mirror import parse_checksums
from course_utils.datasets._transfer import ResumableDownloader

SHARED_MIRROR = config.REPO_ROOT.parent / "shared" / "data"
if not SHARED_MIRROR.is_dir():
    SHARED_MIRROR = Path("/work/shared/data")

NOTES_TEXT = "".join(
    f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(3000)
)
REVIEWS = {
    "aclImdb/README": b"Large Movie Review Dataset (fake)\n",
    "aclImdb/train/pos/0_9.txt": b"Bromwell High is a cartoon comedy.",
    "aclImdb/train/neg/1_1.txt": b"Dreadful.",
    "aclImdb/test/pos/2_8.txt": b"Lovely film.",
    "aclImdb/test/neg/3_2.txt": b"Not for me.",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_checksums(root: Path) -> None:
    lines = [
        f"{sha256(path.read_bytes())}  {path.relative_to(root).as_posix()}\n"
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "checksums.sha256"
    ]
    (root / "checksums.sha256").write_text("".join(lines))


@dataclass
class FakeMirror:
    root: Path
    notes: RemoteFile
    archive: RemoteFile

    def file(self, remote: RemoteFile) -> Path:
        return self.root / remote.path


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No real mirror or data dir leaks in from the environment; retries do not sleep."""
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "env-data"))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    # pooch waits 1 s, 2 s, ... between retries and has no setting for it.
    monkeypatch.setattr(pooch.core, "time", types.SimpleNamespace(sleep=lambda seconds: None))


FetchOne = Callable[..., Path]


@pytest.fixture
def fetch_one(monkeypatch) -> FetchOne:
    """``fetch_one(remote, data_dir=..., **download_kwargs)``: download one file, return it.

    It registers a dataset made of that file alone, so the file goes through the same
    public ``download`` that lessons call.
    """

    def fetch(remote: RemoteFile, *, data_dir: Path, **kwargs) -> Path:
        info = DatasetInfo("single", "One file", (remote,), "https://example.invalid", "-", "-")
        monkeypatch.setitem(ds.REGISTRY, "single", info)
        ds.download("single", data_dir=data_dir, **kwargs)
        return data_dir / remote.path

    return fetch


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> FakeMirror:
    """A folder mirror with a text file and an IMDb-like archive, registered as 'fake'."""
    root = tmp_path / "mirror"
    (root / "fake").mkdir(parents=True)
    notes_bytes = NOTES_TEXT.encode()
    archive_bytes = make_tar_gz(REVIEWS)
    (root / "fake" / "notes.txt").write_bytes(notes_bytes)
    (root / "fake" / "reviews.tar.gz").write_bytes(archive_bytes)
    write_checksums(root)
    notes = RemoteFile(
        path="fake/notes.txt",
        url="https://example.invalid/fake/notes.txt",
        size=len(notes_bytes),
        sha256=sha256(notes_bytes),
    )
    archive = RemoteFile(
        path="fake/reviews.tar.gz",
        url="https://example.invalid/fake/reviews.tar.gz",
        size=len(archive_bytes),
        sha256=sha256(archive_bytes),
        extract_to="fake/aclImdb",
    )
    info = DatasetInfo("fake", "Fake data", (notes, archive), "https://example.invalid", "-", "-")
    monkeypatch.setitem(ds.REGISTRY, "fake", info)
    return FakeMirror(root, notes, archive)


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files under ``server.root``; honours ``Range: bytes=N-`` unless told not to."""

    server: RangeServer

    def do_GET(self) -> None:
        rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        range_header = self.headers.get("Range")
        self.server.requests.append((rel, range_header))
        path = self.server.root / rel
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match and not self.server.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if rel in self.server.drop:
            # Promise the whole body, send half, hang up: a connection lost mid-file.
            self.server.drop[rel] -= 1
            if self.server.drop[rel] <= 0:
                del self.server.drop[rel]
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # keep pytest output clean
        pass


class RangeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.ignore_range = False
        self.drop: dict[str, int] = {}  # path -> how many more responses to cut short

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server(mirror):
    srv = RangeServer(mirror.root)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def assert_fake_dataset(data_dir: Path) -> None:
    assert (data_dir / "fake" / "notes.txt").read_text() == NOTES_TEXT
    extracted = data_dir / "fake" / "aclImdb"
    for name, content in REVIEWS.items():
        assert (extracted / name.removeprefix("aclImdb/")).read_bytes() == content
    assert not list((data_dir / "fake").glob("*.part"))
    assert not list((data_dir / "fake").glob("*.extracting-*"))


# --------------------------------------------------------------------------- happy paths


def test_folder_mirror_downloads_verifies_extracts_and_second_call_is_cheap(
    mirror, tmp_path, monkeypatch
):
    data = tmp_path / "data"
    result = ds.download("fake", data_dir=data, mirror=str(mirror.root), progress=False)

    assert result == data / "fake" == ds.dataset_dir("fake", data)
    assert_fake_dataset(data)
    assert (data / "fake" / "reviews.tar.gz").is_file(), "the archive is kept"
    stamp = json.loads((data / "fake" / ".notes.txt.verified").read_text())
    assert stamp["digest"] == mirror.notes.sha256
    assert stamp["size"] == len(NOTES_TEXT)

    before = {p: p.stat().st_mtime_ns for p in (data / "fake").rglob("*")}

    def no_hashing(*args, **kwargs):
        raise AssertionError("a verified, unchanged file must not be hashed again")

    def no_copying(*args, **kwargs):
        raise AssertionError("a verified file must not be transferred again")

    monkeypatch.setattr(transfer, "file_digests", no_hashing)
    monkeypatch.setattr(pooch, "file_hash", no_hashing)
    monkeypatch.setattr(pooch.hashes, "file_hash", no_hashing)
    monkeypatch.setattr(ResumableDownloader, "open", no_copying)
    monkeypatch.setattr(pooch.Pooch, "fetch", no_copying)
    assert ds.download("fake", data_dir=data, mirror=str(mirror.root), progress=False) == result
    assert {p: p.stat().st_mtime_ns for p in (data / "fake").rglob("*")} == before


def test_mirror_and_data_dir_come_from_the_environment(mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_MIRROR", mirror.root.as_uri())  # the file:// form
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "from-env"))
    assert ds.download("fake", progress=False) == (tmp_path / "from-env" / "fake").resolve()
    assert_fake_dataset((tmp_path / "from-env").resolve())


def test_http_mirror_downloads_and_verifies(mirror, server, tmp_path):
    data = tmp_path / "data"
    ds.download("fake", data_dir=data, mirror=server.url + "/", progress=False)
    assert_fake_dataset(data)
    requested = [path for path, _ in server.requests]
    assert requested[0] == "checksums.sha256"
    assert {"fake/notes.txt", "fake/reviews.tar.gz"} <= set(requested)


def test_mirror_repack_is_verified_against_the_mirror_digest(mirror, tmp_path, fetch_one):
    # Like IMDb: the mirror serves a repack whose digest differs from the official one.
    official = RemoteFile(path=mirror.notes.path, url=mirror.notes.url, size=None, sha256="0" * 64)
    path = fetch_one(official, data_dir=tmp_path / "d", mirror=mirror.root, progress=False)
    assert path.read_text() == NOTES_TEXT


def test_official_url_is_verified_against_the_official_digest(mirror, server, tmp_path, fetch_one):
    data = NOTES_TEXT.encode()
    good = RemoteFile("fake/notes.txt", f"{server.url}/fake/notes.txt", len(data), sha256(data))
    path = fetch_one(good, data_dir=tmp_path / "a", mirror=None, progress=False)
    assert path.read_bytes() == data

    # md5 only (GloVe's case): accepted when it matches, a ChecksumError when it does not.
    md5 = hashlib.md5(data).hexdigest()
    md5_only = RemoteFile("fake/notes.txt", good.url, len(data), None, md5=md5)
    assert fetch_one(md5_only, data_dir=tmp_path / "b", mirror=None, progress=False).is_file()
    wrong = RemoteFile("fake/notes.txt", good.url, len(data), None, md5="f" * 32)
    with pytest.raises(ChecksumError) as err:
        fetch_one(wrong, data_dir=tmp_path / "c", mirror=None, progress=False)
    assert "expected md5: " + "f" * 32 in str(err.value)
    assert md5 in str(err.value) and sha256(data) in str(err.value)
    assert not list((tmp_path / "c" / "fake").iterdir()), "nothing is left behind"


def test_progress_bar_shows_only_when_asked(mirror, tmp_path, capsys, fetch_one):
    fetch_one(mirror.notes, data_dir=tmp_path / "quiet", mirror=mirror.root, progress=False)
    assert capsys.readouterr().err == ""
    fetch_one(mirror.notes, data_dir=tmp_path / "loud", mirror=mirror.root, progress=True)
    err = capsys.readouterr().err
    assert "notes.txt" in err and "100%" in err
    assert str(tmp_path) not in err, "pooch's log lines (machine paths) stay quiet"


# --------------------------------------------------------------------------- corruption


def test_corrupt_mirror_file_raises_and_leaves_nothing_behind(mirror, tmp_path):
    mirror.file(mirror.notes).write_text("tampered after the checksums were written\n")
    data = tmp_path / "data"
    with pytest.raises(ChecksumError) as err:
        ds.download("fake", data_dir=data, mirror=mirror.root, progress=False)

    message = str(err.value)
    assert "fake/notes.txt" in message
    assert str(mirror.root) in message
    assert mirror.notes.sha256 in message, "the expected digest"
    assert sha256(b"tampered after the checksums were written\n") in message, "the actual one"
    assert "report" in message
    assert err.value.expected == mirror.notes.sha256
    assert not (data / "fake" / "notes.txt").exists()
    assert not (data / "fake" / "notes.txt.part").exists()
    assert not [p for p in (data / "fake").iterdir() if p.name.startswith("tmp")], "pooch's temp"


def test_verified_file_is_untouched_when_another_file_fails(mirror, tmp_path):
    data = tmp_path / "data"
    ds.download("fake", data_dir=data, mirror=mirror.root, progress=False)
    archive = data / "fake" / "reviews.tar.gz"
    archive_state = (archive.read_bytes(), archive.stat().st_mtime_ns)

    (data / "fake" / "notes.txt").unlink()
    mirror.file(mirror.notes).write_bytes(b"corrupt")
    with pytest.raises(ChecksumError):
        ds.download("fake", data_dir=data, mirror=mirror.root, progress=False)

    assert (archive.read_bytes(), archive.stat().st_mtime_ns) == archive_state
    assert (data / "fake" / "aclImdb" / "README").is_file()
    assert not (data / "fake" / "notes.txt").exists()


def test_existing_file_matching_nothing_is_reported_not_deleted(mirror, tmp_path, fetch_one):
    dest = tmp_path / "data" / "fake" / "notes.txt"
    dest.parent.mkdir(parents=True)
    dest.write_text("my own edits")
    with pytest.raises(ChecksumError, match="delete it"):
        fetch_one(mirror.notes, data_dir=tmp_path / "data", mirror=mirror.root)
    assert dest.read_text() == "my own edits"


def test_unstamped_good_file_is_adopted_and_a_touched_one_rehashed(
    mirror, tmp_path, monkeypatch, fetch_one
):
    dest = tmp_path / "data" / "fake" / "notes.txt"
    dest.parent.mkdir(parents=True)
    dest.write_text(NOTES_TEXT)  # e.g. copied by hand: right bytes, no stamp yet
    monkeypatch.setattr(ResumableDownloader, "open", lambda *a: pytest.fail("must not download"))
    fetch_one(mirror.notes, data_dir=tmp_path / "data", mirror=None, progress=False)
    assert (dest.parent / ".notes.txt.verified").is_file()

    dest.write_text(NOTES_TEXT.upper())  # changed since it was stamped: checked again
    with pytest.raises(ChecksumError):
        fetch_one(mirror.notes, data_dir=tmp_path / "data", mirror=None, progress=False)


# --------------------------------------------------------------------------- interruptions


def test_truncated_part_is_completed_from_a_folder_mirror(mirror, tmp_path, monkeypatch, fetch_one):
    data = tmp_path / "data"
    part = data / "fake" / "notes.txt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(NOTES_TEXT.encode()[:10_000])

    starts = []
    real_open = ResumableDownloader.open

    def spy(self, offset):
        stream = real_open(self, offset)
        starts.append(stream.start)
        return stream

    monkeypatch.setattr(ResumableDownloader, "open", spy)
    path = fetch_one(mirror.notes, data_dir=data, mirror=mirror.root, progress=False)
    assert path.read_text() == NOTES_TEXT
    assert starts == [10_000], "only the missing bytes were copied"
    assert not part.exists()


def test_truncated_part_is_completed_with_an_http_range_request(
    mirror, server, tmp_path, fetch_one
):
    data = tmp_path / "data"
    part = data / "fake" / "notes.txt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(NOTES_TEXT.encode()[:12_345])
    fetch_one(mirror.notes, data_dir=data, mirror=server.url, progress=False)
    assert (data / "fake" / "notes.txt").read_text() == NOTES_TEXT
    assert ("fake/notes.txt", "bytes=12345-") in server.requests


def test_server_ignoring_range_starts_over(mirror, server, tmp_path, fetch_one):
    server.ignore_range = True
    data = tmp_path / "data"
    part = data / "fake" / "notes.txt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(NOTES_TEXT.encode()[:5_000])
    fetch_one(mirror.notes, data_dir=data, mirror=server.url, progress=False)
    assert (data / "fake" / "notes.txt").read_text() == NOTES_TEXT
    notes_requests = [r for r in server.requests if r[0] == "fake/notes.txt"]
    assert notes_requests == [("fake/notes.txt", "bytes=5000-")], "one request, answered 200"


def test_dropped_connection_is_retried_and_continued(mirror, server, tmp_path):
    server.drop["fake/reviews.tar.gz"] = 1
    data = tmp_path / "data"
    ds.download("fake", data_dir=data, mirror=server.url, progress=False)
    assert_fake_dataset(data)
    archive_requests = [r for r in server.requests if r[0] == "fake/reviews.tar.gz"]
    assert len(archive_requests) == 2
    assert archive_requests[0][1] is None
    half = len(mirror.file(mirror.archive).read_bytes()) // 2
    assert archive_requests[1][1] == f"bytes={half}-"


def test_connection_that_keeps_dropping_gives_up_and_keeps_the_part(
    mirror, server, tmp_path, fetch_one
):
    server.drop["fake/notes.txt"] = 10
    data = tmp_path / "data"
    with pytest.raises(DownloadError, match="after 3 attempts"):
        fetch_one(mirror.notes, data_dir=data, mirror=server.url, progress=False, retries=2)
    assert (data / "fake" / "notes.txt.part").stat().st_size > 0
    assert not (data / "fake" / "notes.txt").exists()
    server.drop.clear()
    fetch_one(mirror.notes, data_dir=data, mirror=server.url, progress=False)
    assert (data / "fake" / "notes.txt").read_text() == NOTES_TEXT


@pytest.mark.parametrize("garbage_size", [100, len(NOTES_TEXT), len(NOTES_TEXT) + 7])
@pytest.mark.parametrize("over_http", [False, True])
def test_stale_part_is_discarded_and_downloaded_afresh(
    mirror, server, tmp_path, fetch_one, garbage_size, over_http
):
    data = tmp_path / "data"
    part = data / "fake" / "notes.txt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\xde\xad" * (garbage_size // 2) + b"!" * (garbage_size % 2))
    source = server.url if over_http else mirror.root
    fetch_one(mirror.notes, data_dir=data, mirror=source, progress=False)
    assert (data / "fake" / "notes.txt").read_text() == NOTES_TEXT
    assert not part.exists()


# --------------------------------------------------------------------------- extraction


def test_interrupted_extraction_leaves_no_folder_and_the_next_call_completes(
    mirror, tmp_path, monkeypatch
):
    data = tmp_path / "data"
    real_extractall = tarfile.TarFile.extractall
    calls = []

    def crash_halfway(tar, path=".", members=None, **kwargs):
        def until_the_third():
            for member in tar if members is None else members:
                calls.append(member.name)
                if len(calls) == 3:
                    raise KeyboardInterrupt  # a learner's interrupt, mid-extraction
                yield member

        real_extractall(tar, path, members=until_the_third(), **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "extractall", crash_halfway)
    with pytest.raises(KeyboardInterrupt):
        ds.download("fake", data_dir=data, mirror=mirror.root, progress=False)
    assert len(calls) == 3
    assert not (data / "fake" / "aclImdb").exists()
    assert not list((data / "fake").glob("aclImdb.extracting-*"))
    assert (data / "fake" / "reviews.tar.gz").is_file(), "the verified archive is kept"

    monkeypatch.setattr(tarfile.TarFile, "extractall", real_extractall)
    ds.download("fake", data_dir=data, mirror=mirror.root, progress=False)
    assert_fake_dataset(data)


def test_leftover_extraction_folder_of_a_crashed_run_is_removed(mirror, tmp_path):
    data = tmp_path / "data"
    leftover = data / "fake" / "aclImdb.extracting-abc123"
    (leftover / "aclImdb").mkdir(parents=True)
    (leftover / "aclImdb" / "half.txt").write_text("half")
    ds.download("fake", data_dir=data, mirror=mirror.root, progress=False)
    assert not leftover.exists()
    assert not (data / "fake" / "aclImdb" / "half.txt").exists()
    assert_fake_dataset(data)


def test_zip_without_top_folder_becomes_the_target(tmp_path):
    archive = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("glove.6B.50d.txt", "the 0.1 0.2\n")
        zf.writestr("glove.6B.100d.txt", "the 0.3 0.4\n")
    target = extract_archive(archive, tmp_path / "glove" / "glove.6B")
    assert sorted(p.name for p in target.iterdir()) == ["glove.6B.100d.txt", "glove.6B.50d.txt"]
    assert not list((tmp_path / "glove").glob("*.extracting-*"))


@pytest.mark.parametrize("bad_name", ["../escape.txt", "/etc/evil.txt", "a/../../up.txt"])
def test_unsafe_archive_members_are_rejected(tmp_path, bad_name):
    tar_path = tmp_path / "bad.tar.gz"
    tar_path.write_bytes(make_tar_gz({"ok/fine.txt": b"ok", bad_name: b"evil"}))
    with pytest.raises(DataError, match="Refusing to extract"):
        extract_archive(tar_path, tmp_path / "out" / "ok")
    assert not (tmp_path / "out" / "ok").exists()

    zip_path = tmp_path / "bad.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr(bad_name, "evil")
    with pytest.raises(DataError, match="Refusing to extract"):
        extract_archive(zip_path, tmp_path / "out" / "z")
    assert not (tmp_path / "out" / "z").exists()
    assert not (tmp_path / "escape.txt").exists()
    assert not list((tmp_path / "out").glob("*.extracting-*"))


def test_tar_link_out_of_the_folder_is_rejected(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("pkg/passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../../etc/passwd"
        tar.addfile(link)
    archive = tmp_path / "link.tar.gz"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(DataError):
        extract_archive(archive, tmp_path / "out" / "pkg")
    assert not (tmp_path / "out" / "pkg").exists()


def _cut_in_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 16]) + data[middle + 16 :]


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


# Enough text that cutting or flipping the middle lands inside compressed member data.
BIG_REVIEWS = {
    f"aclImdb/train/pos/{i}_9.txt": (
        f"review {i}: {hashlib.sha256(str(i).encode()).hexdigest()}\n".encode() * 40
    )
    for i in range(40)
}
DAMAGED_ARCHIVES = {
    "truncated tar.gz": ("reviews.tar.gz", _cut_in_half(make_tar_gz(BIG_REVIEWS)), EOFError),
    # tarfile alone would stop at the garbled header and unpack half of it, silently.
    "corrupt tar.gz": ("reviews.tar.gz", _flip_middle(make_tar_gz(BIG_REVIEWS)), gzip.BadGzipFile),
    "truncated zip": ("reviews.zip", _cut_in_half(_zip_bytes(BIG_REVIEWS)), zipfile.BadZipFile),
}


@pytest.mark.parametrize("case", sorted(DAMAGED_ARCHIVES))
def test_damaged_archive_that_matches_the_mirror_checksum_is_reported_not_trusted(
    tmp_path, monkeypatch, case
):
    """A mirror whose checksums.sha256 was made from a cut-off archive: the digest matches."""
    file_name, damaged, cause = DAMAGED_ARCHIVES[case]
    good = make_tar_gz(BIG_REVIEWS) if file_name.endswith(".tar.gz") else _zip_bytes(BIG_REVIEWS)
    root = tmp_path / "mirror"
    (root / "broken").mkdir(parents=True)
    (root / "broken" / file_name).write_bytes(damaged)
    write_checksums(root)
    remote = RemoteFile(
        path=f"broken/{file_name}",
        url=f"https://example.invalid/{file_name}",
        size=len(good),
        sha256=sha256(good),
        extract_to="broken/aclImdb",
    )
    info = DatasetInfo("broken", "Broken", (remote,), "https://example.invalid", "-", "-")
    monkeypatch.setitem(ds.REGISTRY, "broken", info)
    data = tmp_path / "data"
    archive = data / "broken" / file_name

    for _attempt in range(2):  # the stamp must not make the second call trust the file
        with pytest.raises(DamagedArchiveError) as err:
            ds.download("broken", data_dir=data, mirror=root, progress=False)
        message = str(err.value)
        assert isinstance(err.value, DataError)
        assert f"Delete {archive}" in message and "downloaded again" in message
        assert "COURSE_DATA_MIRROR" in message
        assert err.value.archive == str(archive)
        assert isinstance(err.value.__cause__, cause)
        assert not (data / "broken" / "aclImdb").exists(), "no partial extraction"
        assert not list((data / "broken").glob("aclImdb.extracting-*"))
        assert not (data / "broken" / f".{file_name}.verified").exists(), "no stamp vouches"
        assert archive.read_bytes() == damaged, "left for the learner to delete, as told"

    # Doing what the message says, once the mirror is fixed, works.
    (root / "broken" / file_name).write_bytes(good)
    write_checksums(root)
    archive.unlink()
    ds.download("broken", data_dir=data, mirror=root, progress=False)
    for name, content in BIG_REVIEWS.items():
        assert (data / "broken" / "aclImdb" / name.removeprefix("aclImdb/")).read_bytes() == content


@pytest.mark.parametrize("case", sorted(DAMAGED_ARCHIVES))
def test_extract_archive_reports_a_damaged_archive(tmp_path, case):
    file_name, damaged, _cause = DAMAGED_ARCHIVES[case]
    archive = tmp_path / file_name
    archive.write_bytes(damaged)
    with pytest.raises(DamagedArchiveError, match="cut off or damaged"):
        extract_archive(archive, tmp_path / "out" / "aclImdb")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


# --------------------------------------------------------------------------- bad input


def test_unknown_dataset_lists_the_known_ones(tmp_path):
    with pytest.raises(DataError) as err:
        ds.download("imbd", data_dir=tmp_path, mirror=None)
    assert "imbd" in str(err.value)
    for name in ("imdb", "tinyshakespeare", "multi30k", "ud_english_ewt", "glove_6b"):
        assert name in str(err.value)
    assert ds.get_info("UD-English-EWT").name == "ud_english_ewt"


def test_missing_mirror_folder_is_a_clear_error(mirror, tmp_path, monkeypatch):
    missing = tmp_path / "no-such-mirror"
    with pytest.raises(DataError, match="does not exist") as err:
        ds.download("fake", data_dir=tmp_path / "d", mirror=str(missing))
    assert str(missing) in str(err.value)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(missing))
    with pytest.raises(DataError, match="COURSE_DATA_MIRROR"):
        ds.download("fake", data_dir=tmp_path / "d")


def test_file_missing_from_the_mirror_is_a_clear_error(mirror, server, tmp_path, fetch_one):
    unlisted = RemoteFile("fake/other.txt", "https://example.invalid/o", None, "a" * 64)
    for where in (mirror.root, server.url):
        with pytest.raises(DataError, match=r"does not list fake/other\.txt") as err:
            fetch_one(unlisted, data_dir=tmp_path / "d", mirror=where)
        assert "mirror=None" in str(err.value) and unlisted.url in str(err.value)

    mirror.file(mirror.notes).unlink()  # listed in checksums.sha256, but gone
    with pytest.raises(DataError, match="has no such file"):
        fetch_one(mirror.notes, data_dir=tmp_path / "d", mirror=mirror.root)
    with pytest.raises(DownloadError, match="404"):
        fetch_one(mirror.notes, data_dir=tmp_path / "d", mirror=server.url)
    requests_for_it = [r for r in server.requests if r[0] == "fake/notes.txt"]
    assert len(requests_for_it) == 1, "a 404 is final: not retried"


def test_mirror_without_checksums_file_is_a_clear_error(mirror, tmp_path):
    (mirror.root / "checksums.sha256").unlink()
    with pytest.raises(DataError, match=r"no checksums\.sha256"):
        ds.download("fake", data_dir=tmp_path / "d", mirror=mirror.root)


# --------------------------------------------------------------------------- the registry


def test_registry_entries_are_complete():
    assert sorted(ds.REGISTRY) == sorted(
        ["imdb", "tinyshakespeare", "multi30k", "ud_english_ewt", "glove_6b"]
    )
    for name, info in ds.REGISTRY.items():
        assert info.name == name
        assert info.title and info.license and info.citation
        assert info.homepage.startswith("https://")
        assert {PurePath(f.path).parts[0] for f in info.files} == {info.folder}
        for remote in info.files:
            assert remote.url.startswith("https://"), remote.url
            if remote.sha256 is not None:
                assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256), remote.path
            else:  # only where the publisher gave no sha256: GloVe, with a published md5
                assert name == "glove_6b"
                assert re.fullmatch(r"[0-9a-f]{32}", remote.md5 or ""), remote.path
            assert remote.size and remote.size > 0
        assert info.title in ds.describe(name) and info.citation in ds.describe(name)
    assert len(ds.REGISTRY["multi30k"].files) == 9
    assert ds.REGISTRY["imdb"].files[0].extract_to == "imdb/aclImdb"
    assert ds.REGISTRY["glove_6b"].files[0].extract_to == "glove/glove.6B"
    assert all("LICENSE" not in f.path for f in ds.REGISTRY["ud_english_ewt"].files)


def test_data_checksums_file_matches_the_registry():
    manifest = config.REPO_ROOT / "data" / "checksums.sha256"
    assert manifest.read_text() == ds.checksums_manifest()
    listed = parse_checksums(manifest.read_text(), where=str(manifest))
    expected = {f.path: f.sha256 for i in ds.REGISTRY.values() for f in i.files if f.sha256}
    assert listed == expected


@pytest.mark.skipif(not SHARED_MIRROR.is_dir(), reason=f"no local data mirror at {SHARED_MIRROR}")
def test_registry_agrees_with_the_shared_mirror():
    mirror_digests = parse_checksums(
        (SHARED_MIRROR / "checksums.sha256").read_text(), where="shared mirror"
    )
    for info in ds.REGISTRY.values():
        for remote in info.files:
            if info.name == "glove_6b":
                assert remote.path not in mirror_digests
            elif info.name == "imdb":  # a repack: its own digest and size (SOURCES.md)
                assert mirror_digests[remote.path] != remote.sha256
            else:  # byte-identical copies of the official files
                assert mirror_digests[remote.path] == remote.sha256, remote.path
                assert (SHARED_MIRROR / remote.path).stat().st_size == remote.size


@pytest.mark.skipif(not SHARED_MIRROR.is_dir(), reason=f"no local data mirror at {SHARED_MIRROR}")
def test_real_mirror_tinyshakespeare_and_multi30k(tmp_path):
    data = tmp_path / "data"
    folder = ds.download("tinyshakespeare", data_dir=data, mirror=SHARED_MIRROR, progress=False)
    text = (folder / "input.txt").read_text(encoding="utf-8")
    assert text.startswith("First Citizen:")
    assert text.count("\n") == 40_000

    folder = ds.download("multi30k", data_dir=data, mirror=str(SHARED_MIRROR), progress=False)
    counts = {}
    for path in sorted(folder.glob("*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            counts[path.name] = sum(1 for _ in fh)
    assert counts["train.en.gz"] == 29_000
    assert counts["val.de.gz"] == 1_014 and counts["test_2016_flickr.fr.gz"] == 1_000
    assert len(counts) == 9
