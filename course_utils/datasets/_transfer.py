"""Getting one verified file into the data folder: pooch does the checking, this adds the rest.

pooch's ``Pooch.fetch`` streams a download to a temporary file beside its destination,
checks the digest, moves the file into place only when it matches (deleting it when it
does not) and retries failed attempts. :func:`fetch` hands each file to it and adds what
pooch does not do:

* :class:`ResumableDownloader`, a pooch downloader that keeps the bytes received so far
  in ``<file>.part`` and continues after them (an HTTP ``Range`` request, or a seek in a
  mirror folder's file). pooch starts every attempt from byte 0 and deletes what it got,
  so on a connection that drops every few minutes an 84 MB IMDb or 862 MB GloVe
  download would never finish; with the part kept, each retry (and each re-run of the
  notebook) gets further;
* a stamp (``.<file>.verified``) written after verification, because pooch re-hashes an
  existing file on every fetch and a lesson calls ``download`` every time it starts;
* a file already in place that matches no known digest is reported and left alone
  (pooch would download over it), since it may be the learner's own;
* messages that name the file, both digests and what to do.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pooch
import requests
import urllib3

from course_utils.datasets._mirror import Mirror, Source, http_get, official_source
from course_utils.datasets._registry import RemoteFile
from course_utils.datasets.errors import ChecksumError, DownloadError
from course_utils.files import atomic_write
from course_utils.progress import tqdm

__all__ = [
    "IncompleteTransfer",
    "ResumableDownloader",
    "fetch",
    "file_digests",
    "forget_stamp",
    "is_verified",
    "quiet_pooch",
]

_CHUNK: Final = 1 << 20
_CONTENT_RANGE: Final = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
#: HTTP statuses worth retrying: the server is busy or briefly broken, not "no such file".
_RETRY_HTTP_CODES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


class IncompleteTransfer(requests.ConnectionError):
    """The source closed the stream before sending the whole file.

    A requests exception, so pooch's retry loop treats it as the network error it is.
    """


@dataclass
class Stream:
    """An open source, positioned at byte ``start`` of a file of ``total`` bytes (if known)."""

    chunks: Iterator[bytes]
    start: int
    total: int | None
    close: Callable[[], None]


class ResumableDownloader:
    """A pooch downloader that continues ``part`` instead of starting again from byte 0.

    pooch calls it once per attempt with a fresh temporary ``output_file``; the bytes
    live in ``part`` between attempts (and between runs), and only the complete file is
    moved to ``output_file`` for pooch to verify. :attr:`digests` records what was
    delivered, for the mismatch message (pooch deletes the file it rejects).
    """

    def __init__(self, source: Source, part: Path, *, progress: bool) -> None:
        self.source = source
        self.part = part
        self.progress = progress
        self.digests: dict[str, str] = {}

    def __call__(
        self, url: str, output_file: str, caller: object, check_only: bool = False
    ) -> None:
        """pooch's downloader protocol: leave the whole file at ``output_file``."""
        if check_only:
            raise NotImplementedError("only used to download, not to probe availability")
        resumed = self.transfer()
        self.digests = file_digests(self.part, {self.source.algorithm})
        if resumed and self.digests[self.source.algorithm] != self.source.expected:
            # The kept part may be the start of another version of the file: begin afresh.
            self.part.unlink()
            self.transfer()
            self.digests = file_digests(self.part, {self.source.algorithm})
        os.replace(self.part, output_file)

    def transfer(self) -> bool:
        """Bring the part up to the whole file; True if it continued bytes kept from before."""
        offset = self.part.stat().st_size if self.part.exists() else 0
        stream = self.open(offset)
        written = stream.start
        try:
            with (
                self.part.open("ab" if stream.start else "wb") as out,
                tqdm(
                    total=stream.total,
                    initial=stream.start,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=self.source.name,
                    disable=not self.progress,
                ) as bar,
            ):
                for chunk in stream.chunks:
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
        finally:
            stream.close()
        if stream.total is not None and written < stream.total:
            raise IncompleteTransfer(
                f"the connection closed after {written} of {stream.total} bytes"
            )
        return stream.start > 0

    def open(self, offset: int) -> Stream:
        """Open the source to continue at ``offset``, or from the start where it cannot."""
        return self._open_url(offset) if self.source.is_url else self._open_file(offset)

    def _open_file(self, offset: int) -> Stream:
        fileobj = open(self.source.location, "rb")  # noqa: SIM115 - closed by transfer()
        size = os.fstat(fileobj.fileno()).st_size
        start = offset if 0 < offset <= size else 0
        fileobj.seek(start)
        return Stream(
            iter(functools.partial(fileobj.read, _CHUNK), b""), start, size, fileobj.close
        )

    def _open_url(self, offset: int) -> Stream:
        response = http_get(self.source.location, {"Range": f"bytes={offset}-"} if offset else None)
        if response.status_code == 416 and offset:  # the part is as long as the file, or longer
            response.close()
            return self._open_url(0)
        if response.status_code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match is None or int(match.group(1)) != offset:
                response.close()  # a range we did not ask for: safer to start over
                return self._open_url(0)
            total = match.group(3)
            size = int(total) if total.isdigit() else None
            return Stream(_raw_body(response), offset, size, response.close)
        if response.status_code != 200:
            response.close()
            raise self._http_error(response)
        # 200: the server ignored Range (or none was sent), so this is the whole file.
        length = response.headers.get("Content-Length", "")
        size = int(length) if length.isdigit() else None
        return Stream(_raw_body(response), 0, size, response.close)

    def _http_error(self, response: requests.Response) -> Exception:
        """A retryable requests error for pooch, or a final :class:`DownloadError`."""
        status = f"HTTP {response.status_code} {response.reason}"
        if response.status_code in _RETRY_HTTP_CODES:
            return requests.HTTPError(status, response=response)
        hint = (
            "The mirror does not serve this file: fix the mirror, or unset "
            "COURSE_DATA_MIRROR to download from the official URL."
            if self.source.from_mirror
            else "The file may have moved: check the dataset's homepage (see "
            "describe(name)), or set COURSE_DATA_MIRROR to a copy."
        )
        return DownloadError(
            f"Could not download {self.source.name} from {self.source.label}: {status}. {hint}"
        )


def _raw_body(response: requests.Response) -> Iterator[bytes]:
    """The body's bytes exactly as sent, with a broken connection as a requests error.

    Not ``iter_content``: it would decode a body that a server labels gzip (a ``.tar.gz``
    served with ``Content-Encoding: gzip`` would arrive unpacked, failing its digest), and
    it drops the bytes of the chunk in progress when the connection breaks, so a resume
    would fetch them again. The requests error lets pooch's retry loop see a network error.
    """
    try:
        yield from response.raw.stream(_CHUNK, decode_content=False)
    except urllib3.exceptions.HTTPError as exc:
        raise requests.ConnectionError(f"the connection broke: {exc}") from exc


def fetch(
    remote: RemoteFile, root: Path, mirror: Mirror | None, *, progress: bool, retries: int
) -> Path:
    """Return the verified copy of ``remote`` under ``root``, downloading it if needed.

    ``retries`` applies to network sources only: copying a mirror folder's file again
    would give the same bytes, so a mismatch there is reported at once.
    """
    dest = root / remote.path
    if _existing_file_is_good(remote, dest, mirror):
        return dest
    source = mirror.source_for(remote) if mirror is not None else official_source(remote)
    part = dest.with_name(dest.name + ".part")
    downloader = ResumableDownloader(source, part, progress=progress)
    attempts = 1 + max(retries, 0) if source.is_url else 1
    fetcher = pooch.Pooch(
        path=root,
        base_url="",
        registry={remote.path: source.known_hash},
        urls={remote.path: source.location},
        retry_if_failed=attempts - 1,
        allow_updates=False,  # never replace a file in place: _existing_file_is_good decides
    )
    try:
        with quiet_pooch():
            fetcher.fetch(remote.path, downloader=downloader)
    except ValueError:  # pooch's "hash does not match"; it deleted the download
        if downloader.digests.get(source.algorithm, source.expected) == source.expected:
            raise
        raise _mismatch_error(remote, source, downloader.digests) from None
    except requests.RequestException as exc:
        kept = f" The partial file {part} was kept;" if part.exists() else ""
        raise DownloadError(
            f"Could not download from {source.label} after {attempts} attempts: {exc}."
            f"{kept} run the download again to continue where it stopped. Check your "
            "internet connection, or set COURSE_DATA_MIRROR to a local copy."
        ) from exc
    _write_stamp(dest, source.algorithm, source.expected, source.label)
    return dest


@contextlib.contextmanager
def quiet_pooch() -> Iterator[None]:
    """Keep pooch's INFO lines (they print machine paths) out of notebook outputs.

    pooch logs every download and extraction at INFO to stderr; our own progress bar
    already names the file, and committed notebook outputs must hold no machine paths.
    """
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _mismatch_error(remote: RemoteFile, source: Source, actual: dict[str, str]) -> ChecksumError:
    lines = [f"Checksum mismatch for {remote.path} downloaded from {source.label}."]
    if source.algorithm != "sha256":
        lines.append(f"  expected {source.algorithm}: {source.expected}")
        lines.append(f"  actual {source.algorithm}:   {actual[source.algorithm]}")
        lines.append("  expected sha256: (none published)")
    else:
        lines.append(f"  expected sha256: {source.expected}")
    lines.append(f"  actual sha256:   {actual['sha256']}")
    lines.append(
        "The damaged download was deleted; nothing was stored under that name. What to do: "
        "run the download again (a flaky connection can corrupt a transfer); if you use a "
        "mirror (COURSE_DATA_MIRROR), check that its file and its checksums.sha256 agree; "
        "if it keeps failing, report it to the course maintainers with this message."
    )
    return ChecksumError(
        "\n".join(lines),
        path=remote.path,
        source=source.label,
        algorithm=source.algorithm,
        expected=source.expected,
        actual=actual[source.algorithm],
    )


def _existing_file_is_good(remote: RemoteFile, dest: Path, mirror: Mirror | None) -> bool:
    """True when ``dest`` already holds a verified copy; raise when it holds something else.

    A file is never deleted here: if it matches no known digest, the learner decides.
    """
    if not dest.exists():
        return False
    if is_verified(dest):
        return True
    candidates = [remote.official_digest()]
    mirror_digest = mirror.digest_for(remote) if mirror is not None else None
    if mirror_digest:
        candidates.append(("sha256", mirror_digest))
    actual = file_digests(dest, {algorithm for algorithm, _ in candidates})
    for algorithm, digest in candidates:
        if actual[algorithm] == digest:
            _write_stamp(dest, algorithm, digest, "existing file")
            return True
    algorithm, digest = candidates[0]
    raise ChecksumError(
        f"{dest} already exists but is not a verified copy of {remote.path}: its sha256 is "
        f"{actual['sha256']}, which matches neither the official {algorithm} ({digest})"
        + (f" nor the mirror's sha256 ({mirror_digest})" if mirror_digest else "")
        + ". It may be truncated or another version of the file. It was left untouched: "
        "delete it (and any .part beside it) and run the download again.",
        path=remote.path,
        source=str(dest),
        algorithm=algorithm,
        expected=digest,
        actual=actual[algorithm],
    )


def file_digests(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of ``path`` for ``algorithms`` and always sha256 (what messages show)."""
    return {name: pooch.file_hash(str(path), alg=name) for name in {*algorithms, "sha256"}}


def _stamp_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.verified")


def is_verified(dest: Path) -> bool:
    """True when a stamp says ``dest`` was verified and its size and mtime are unchanged."""
    try:
        stamp = json.loads(_stamp_path(dest).read_text(encoding="utf-8"))
        stat = dest.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and bool(stamp.get("digest"))
        and stamp.get("size") == stat.st_size
        and stamp.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_stamp(dest: Path, algorithm: str, digest: str, source: str) -> None:
    stat = dest.stat()
    payload = {
        "file": dest.name,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "algorithm": algorithm,
        "digest": digest,
        "source": source,
    }
    with atomic_write(_stamp_path(dest), "w") as fh:
        fh.write(json.dumps(payload, indent=1) + "\n")


def forget_stamp(dest: Path) -> None:
    """Remove ``dest``'s stamp, so the file is checked again before it is trusted."""
    _stamp_path(dest).unlink(missing_ok=True)
