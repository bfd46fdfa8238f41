"""Where a dataset file is fetched from: its official URL, or a mirror with its own checksums.

pooch knows one base URL per registry and checks every file against the digest in that
registry. The course needs more: ``COURSE_DATA_MIRROR`` may be a local folder (pooch has
no downloader for local paths) or an ``http(s)://`` prefix, and a mirror may hold a
repack that differs byte for byte from the official file. So a mirror carries its own
``checksums.sha256`` (what ``sha256sum`` prints) and each of its files is verified
against that list, while a download from the official URL is verified against the
registry. This module turns "which file, from where" into a :class:`Source`: a location
plus the digest its bytes must have.
"""

from __future__ import annotations

import enum
import os
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import requests

from course_utils import config
from course_utils.datasets._registry import RemoteFile
from course_utils.datasets.errors import DataError, DownloadError

__all__ = [
    "TIMEOUT_S",
    "USE_CONFIG",
    "Mirror",
    "MirrorArg",
    "Source",
    "http_get",
    "official_source",
    "parse_checksums",
    "resolve_mirror",
]

#: Socket timeout for one HTTP request; a stalled connection counts as a network error.
TIMEOUT_S: float = 60.0

_HEADERS: Final = {
    "User-Agent": "rnn-course-downloader/0.2 (+python requests)",
    # Byte offsets must mean the file's bytes: a server that gzips text on the fly (as
    # raw.githubusercontent.com does when asked) would make a Range resume and the
    # Content-Length refer to the compressed stream instead.
    "Accept-Encoding": "identity",
}
_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")


class _UseConfig(enum.Enum):
    """Type of :data:`USE_CONFIG` (an enum member, so type checkers can tell it apart)."""

    TOKEN = "use config.data_mirror()"


#: Default of the ``mirror`` arguments: take the mirror from ``COURSE_DATA_MIRROR``.
USE_CONFIG: Final = _UseConfig.TOKEN

MirrorArg = str | os.PathLike | None | _UseConfig


def http_get(url: str, headers: dict[str, str] | None = None) -> requests.Response:
    """Start a streamed GET of ``url`` with the course's headers and timeout.

    One place for them, so the mirror's checksum list and the files themselves are
    requested the same way (proxies come from the environment, as requests does it).
    """
    return requests.get(
        url, headers={**_HEADERS, **(headers or {})}, stream=True, timeout=TIMEOUT_S
    )


@dataclass(frozen=True)
class Source:
    """Where one file is fetched from and what its bytes must hash to."""

    name: str  # the file name, for the progress bar
    location: str  # a local path, or an http(s) URL
    is_url: bool
    algorithm: str
    expected: str
    label: str  # for messages: "mirror /x (/x/a/b)" or "official URL https://..."
    from_mirror: bool

    @property
    def known_hash(self) -> str:
        """The digest in pooch's ``algorithm:hex`` form."""
        return f"{self.algorithm}:{self.expected}"


class Mirror:
    """A folder or URL prefix serving files under the registry's relative paths.

    Its ``checksums.sha256`` is read once, when first needed.
    """

    def __init__(self, spec: str | os.PathLike) -> None:
        text = os.fspath(spec).strip()
        parsed = urllib.parse.urlparse(text)
        self.folder: Path | None = None
        self.prefix: str | None = None
        if parsed.scheme in ("http", "https"):
            self.prefix = text.rstrip("/") + "/"
            self.label = self.prefix
        else:
            self.folder = _mirror_folder(text, parsed)
            self.label = str(self.folder)
        self._checksums: dict[str, str] | None = None

    def checksums(self) -> dict[str, str]:
        """The mirror's ``checksums.sha256`` as ``{relative path: sha256}``."""
        if self._checksums is None:
            where = f"checksums.sha256 of the data mirror {self.label}"
            self._checksums = parse_checksums(self._read_manifest(), where=where)
        return self._checksums

    def source_for(self, remote: RemoteFile) -> Source:
        """The mirror's copy of ``remote``; a :class:`DataError` if it cannot serve it."""
        digest = self.checksums().get(remote.path)
        if digest is None:
            raise DataError(
                f"The data mirror {self.label} does not list {remote.path} in its "
                f"checksums.sha256, so it cannot serve that file. Either unset "
                f"COURSE_DATA_MIRROR (or pass mirror=None) to download it from its official "
                f"URL {remote.url}, or add the file and its sha256 line to the mirror."
            )
        if self.folder is not None:
            local = self.folder / remote.path
            if not local.is_file():
                raise DataError(
                    f"The data mirror {self.label} lists {remote.path} in its checksums.sha256 "
                    f"but has no such file ({local}). Copy the file into the mirror, or unset "
                    f"COURSE_DATA_MIRROR to download it from {remote.url}."
                )
            label = f"mirror {self.label} ({local})"
            return Source(remote.name, str(local), False, "sha256", digest, label, True)
        url = f"{self.prefix}{urllib.parse.quote(remote.path)}"
        return Source(remote.name, url, True, "sha256", digest, f"mirror {url}", True)

    def digest_for(self, remote: RemoteFile) -> str | None:
        """The mirror's sha256 for ``remote``, or None when it cannot be had."""
        try:
            return self.checksums().get(remote.path)
        except DataError:
            return None

    def _read_manifest(self) -> str:
        missing = (
            f"The data mirror {self.label} has no checksums.sha256 at its root. A mirror must "
            "list the sha256 of every file it serves, one '<sha256>  <relative path>' line "
            "each (what `sha256sum` prints), because its files are verified against it. Add "
            "one, or unset COURSE_DATA_MIRROR to download from the official URLs."
        )
        if self.folder is not None:
            try:
                return (self.folder / "checksums.sha256").read_text(encoding="utf-8")
            except FileNotFoundError:
                raise DataError(missing) from None
        url = f"{self.prefix}checksums.sha256"
        try:
            with http_get(url) as response:
                if response.status_code == 404:
                    raise DataError(missing)
                response.raise_for_status()
                return response.content.decode("utf-8")
        except requests.HTTPError as exc:
            raise DownloadError(f"Could not read {url}: {exc}.") from exc
        except requests.RequestException as exc:
            raise DownloadError(
                f"Could not reach the data mirror {self.label} ({exc}). Check that it is up, "
                "or unset COURSE_DATA_MIRROR to download from the official URLs."
            ) from exc


def _mirror_folder(text: str, parsed: urllib.parse.ParseResult) -> Path:
    """The folder that a mirror spec that is not an http(s) URL names, checked to exist."""
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise DataError(f"Mirror {text!r}: only local file:// URLs are supported.")
        folder = Path(urllib.request.url2pathname(parsed.path))
    elif len(parsed.scheme) > 1:  # one letter is a Windows drive, e.g. C:\data
        raise DataError(
            f"Mirror {text!r} is neither a folder nor a file://, http:// or https:// "
            "URL. Fix COURSE_DATA_MIRROR (or the mirror argument)."
        )
    else:
        folder = Path(text).expanduser()
    if not folder.exists():
        raise DataError(
            f"The data mirror folder {folder} does not exist. Fix COURSE_DATA_MIRROR "
            "(or the mirror argument) to point at a folder that holds the datasets "
            "and a checksums.sha256, or unset it to download from the official URLs."
        )
    if not folder.is_dir():
        raise DataError(f"The data mirror {folder} is not a folder.")
    return folder.resolve()


def official_source(remote: RemoteFile) -> Source:
    """``remote`` from its publisher, checked against the registry's official digest."""
    algorithm, digest = remote.official_digest()
    label = f"official URL {remote.url}"
    return Source(remote.name, remote.url, True, algorithm, digest, label, False)


def resolve_mirror(mirror: MirrorArg | Mirror) -> Mirror | None:
    """The :class:`Mirror` that a ``mirror`` argument means; ``None`` for the official URLs."""
    if isinstance(mirror, Mirror):
        return mirror
    if mirror is USE_CONFIG:
        mirror = config.data_mirror()
    if mirror is None or not os.fspath(mirror).strip():
        return None
    return Mirror(mirror)


def parse_checksums(text: str, *, where: str) -> dict[str, str]:
    """Parse ``sha256sum`` output: ``<sha256>  <path>`` (``*path`` and ``./path`` allowed).

    pooch's ``load_registry`` reads ``<path> <hash>`` lines, the other way round, so the
    standard tool's format (which mirrors and ``data/checksums.sha256`` use) is read here.
    """
    digests: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not _HEX64.fullmatch(parts[0]):
            raise DataError(f"Line {lineno} of {where} is not '<sha256>  <path>': {raw!r}")
        path = parts[1].strip().removeprefix("*").removeprefix("./")
        digests[path] = parts[0].lower()
    return digests
