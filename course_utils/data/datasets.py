"""The course's datasets: where each one comes from, and a downloader that can be trusted.

Every lesson starts by calling :func:`download`, so this module is written for the
learner whose connection drops halfway through an 80 MB archive, whose notebook
kernel is interrupted during extraction, or whose machine has no internet at all:

* each file has an official URL and an official digest (:data:`REGISTRY`), so a
  damaged or tampered download is caught instead of failing later in a confusing way;
* files are written to ``<file>.part`` and renamed only after the digest matched, and
  archives are extracted into a temporary sibling folder that is renamed in one step,
  so a half-finished file or folder never sits where a lesson expects a complete one;
* an interrupted transfer continues where it stopped (HTTP ``Range``) and network
  errors are retried;
* ``COURSE_DATA_MIRROR`` (a folder, a ``file://`` URL or an ``http(s)://`` prefix) can
  serve the files instead of the official hosts, e.g. for CI or a classroom. A mirror
  carries its own ``checksums.sha256`` and its files are verified against it, because a
  mirror may hold a repack that differs byte for byte from the official download.

A verified file gets a small stamp (``.<name>.verified``) beside it, so a second call
costs a ``stat`` per file rather than re-hashing hundreds of megabytes.
"""

from __future__ import annotations

import contextlib
import enum
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Final

from tqdm.auto import tqdm

from course_utils import config

__all__ = [
    "REGISTRY",
    "USE_CONFIG",
    "ChecksumError",
    "DataError",
    "DatasetInfo",
    "DownloadError",
    "RemoteFile",
    "available_datasets",
    "checksums_manifest",
    "dataset_dir",
    "describe",
    "download",
    "extract_archive",
    "fetch_file",
    "get_info",
]

#: Seconds to wait before the first retry; doubled for each further one (capped).
RETRY_BACKOFF_S: float = 1.0
#: Socket timeout for one HTTP request; a stalled connection counts as a network error.
TIMEOUT_S: float = 60.0

_CHUNK: Final = 1 << 20
_USER_AGENT: Final = "rnn-course-downloader/0.1 (+python urllib)"
_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")
_DIGEST_LENGTHS: Final = {"sha256": 64, "sha1": 40, "md5": 32}
#: HTTP statuses worth retrying: the server is busy or briefly broken, not "no such file".
_RETRY_HTTP_CODES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


# --------------------------------------------------------------------------- errors


class DataError(RuntimeError):
    """Something about the course data is wrong; the message says what to do about it."""


class ChecksumError(DataError):
    """A file's digest is not the one expected: it is damaged, truncated or a different file.

    The attributes let a caller (or a test) inspect the failure without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        source: str = "",
        algorithm: str = "sha256",
        expected: str = "",
        actual: str = "",
    ) -> None:
        super().__init__(message)
        self.path = path
        self.source = source
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class DownloadError(DataError):
    """A file could not be transferred (network down, file missing at its source)."""


class _IncompleteTransfer(Exception):
    """The source closed the stream before sending the whole file (treated as a network error)."""


_RETRYABLE: Final = (
    urllib.error.URLError,
    ConnectionError,
    TimeoutError,
    http.client.HTTPException,
    _IncompleteTransfer,
)


# --------------------------------------------------------------------------- registry


def _unsafe_reason(name: str) -> str | None:
    """Why an archive member name could write outside the extraction folder, if it could."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"[A-Za-z]:", posix):
        return "an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "a '..' component"
    return None


def _check_relative(rel: str, *, what: str) -> None:
    if not rel or _unsafe_reason(rel) is not None or "\\" in rel:
        raise ValueError(f"{what} {rel!r} must be a relative POSIX path without '..'")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset, as published by its authors.

    ``path`` is relative and serves twice: under the data directory (where the file is
    stored) and under a mirror (where it is fetched from). ``sha256`` is the official
    digest; where the publisher only ever gave an md5 or sha1 (GloVe), ``sha256`` is
    ``None`` and the weaker digest is checked instead, since inventing one is worse.
    """

    path: str
    url: str
    size: int | None
    sha256: str | None
    md5: str | None = None
    sha1: str | None = None
    extract_to: str | None = None

    def __post_init__(self) -> None:
        for rel in (self.path, self.extract_to):
            if rel is not None:
                _check_relative(rel, what="registry path")
        digests = {algo: getattr(self, algo) for algo in _DIGEST_LENGTHS}
        if not any(digests.values()):
            raise ValueError(f"{self.path}: a RemoteFile needs at least one official digest")
        for algo, value in digests.items():
            if value is not None and not re.fullmatch(
                rf"[0-9a-fA-F]{{{_DIGEST_LENGTHS[algo]}}}", value
            ):
                raise ValueError(f"{self.path}: {algo} {value!r} is not a hex digest")

    @property
    def name(self) -> str:
        """The file name without folders, e.g. ``aclImdb_v1.tar.gz``."""
        return PurePosixPath(self.path).name

    def official_digest(self) -> tuple[str, str]:
        """``(algorithm, hexdigest)`` to check a download from the official URL against.

        sha256 is preferred; sha1 and md5 are used only where nothing stronger was published.
        """
        for algorithm in ("sha256", "sha1", "md5"):
            value = getattr(self, algorithm)
            if value:
                return algorithm, value.lower()
        raise AssertionError("unreachable: __post_init__ requires a digest")  # pragma: no cover


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset: its files, and what a learner must know to use and cite it."""

    name: str
    title: str
    files: tuple[RemoteFile, ...]
    homepage: str
    license: str
    citation: str

    @property
    def folder(self) -> str:
        """The top-level folder (under the data directory) that holds all of its files."""
        return PurePosixPath(self.files[0].path).parts[0]


_RAW = "https://raw.githubusercontent.com"
_MULTI30K = f"{_RAW}/multi30k/dataset/master/data/task1/raw"
_UD_EWT = f"{_RAW}/UniversalDependencies/UD_English-EWT/r2.16"

# Sizes and sha256 digests come from ../shared/data/SOURCES.md and checksums.sha256. For
# the files that SOURCES.md says are byte-identical to the official ones, the official
# sha256 is the mirror's. IMDb's mirror copy is a repack: the values below are those of
# the official archive (SOURCES.md), and a mirror copy is checked against the mirror.
_MULTI30K_FILES: Final = (
    (
        "test_2016_flickr.de.gz",
        22_890,
        "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    ),
    (
        "test_2016_flickr.en.gz",
        21_077,
        "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    ),
    (
        "test_2016_flickr.fr.gz",
        22_310,
        "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
    ),
    ("train.de.gz", 637_044, "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"),
    ("train.en.gz", 568_929, "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"),
    ("train.fr.gz", 604_242, "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c"),
    ("val.de.gz", 24_681, "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"),
    ("val.en.gz", 21_650, "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"),
    ("val.fr.gz", 23_001, "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9"),
)

_UD_EWT_FILES: Final = (
    (
        "en_ewt-ud-train.conllu",
        14_203_025,
        "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b",
    ),
    (
        "en_ewt-ud-dev.conllu",
        1_805_545,
        "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6",
    ),
    (
        "en_ewt-ud-test.conllu",
        1_804_515,
        "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd",
    ),
)

_DATASETS: Final = (
    DatasetInfo(
        name="imdb",
        title="IMDb Large Movie Review Dataset (50,000 labelled reviews, 50,000 unlabelled)",
        files=(
            RemoteFile(
                path="imdb/aclImdb_v1.tar.gz",
                url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                size=84_125_825,
                sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                md5="7c2ac02c03563afcf9b574c7e56c153a",
                extract_to="imdb/aclImdb",
            ),
        ),
        homepage="https://ai.stanford.edu/~amaas/data/sentiment/",
        license="Distributed by its authors for research use.",
        citation=(
            "Andrew L. Maas, Raymond E. Daly, Peter T. Pham, Dan Huang, Andrew Y. Ng, "
            "Christopher Potts. Learning Word Vectors for Sentiment Analysis. ACL 2011."
        ),
    ),
    DatasetInfo(
        name="tinyshakespeare",
        title="Tiny Shakespeare (1.1 MB of Shakespeare's plays, for character-level models)",
        files=(
            RemoteFile(
                path="tinyshakespeare/input.txt",
                url=f"{_RAW}/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                size=1_115_394,
                sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            ),
        ),
        homepage="https://github.com/karpathy/char-rnn",
        license="Public-domain text (Shakespeare), collected by Andrej Karpathy.",
        citation="Andrej Karpathy. char-rnn, 2015. https://github.com/karpathy/char-rnn",
    ),
    DatasetInfo(
        name="multi30k",
        title="Multi30k task 1: English, German and French image descriptions (line-aligned)",
        files=tuple(
            RemoteFile(path=f"multi30k/{name}", url=f"{_MULTI30K}/{name}", size=size, sha256=sha)
            for name, size, sha in _MULTI30K_FILES
        ),
        homepage="https://github.com/multi30k/dataset",
        license="Research use; the Flickr30k captions' terms apply.",
        citation=(
            "Desmond Elliott, Stella Frank, Khalil Sima'an, Lucia Specia. Multi30K: Multilingual "
            "English-German Image Descriptions. 2016. (French: Elliott et al. 2017.)"
        ),
    ),
    DatasetInfo(
        name="ud_english_ewt",
        title="Universal Dependencies English Web Treebank (UD_English-EWT r2.16, CoNLL-U)",
        files=tuple(
            RemoteFile(
                path=f"ud-english-ewt/{name}", url=f"{_UD_EWT}/{name}", size=size, sha256=sha
            )
            for name, size, sha in _UD_EWT_FILES
        ),
        homepage="https://universaldependencies.org/treebanks/en_ewt/",
        license="CC BY-SA 4.0",
        citation=(
            "Natalia Silveira et al. A Gold Standard Dependency Corpus for English. LREC 2014; "
            "and the Universal Dependencies project (https://universaldependencies.org)."
        ),
    ),
    DatasetInfo(
        name="glove_6b",
        title="GloVe 6B word vectors (Wikipedia 2014 + Gigaword 5; 400k words; 50-300 dims)",
        files=(
            RemoteFile(
                path="glove/glove.6B.zip",
                url="https://nlp.stanford.edu/data/glove.6B.zip",
                # Size: the official server's Content-Length (862182613), as recorded in
                # wget logs in keras-io's pretrained_word_embeddings example and elsewhere.
                size=862_182_613,
                # Stanford publishes no digest, and no published sha256 of the official
                # zip was found (huggingface.co/stanfordnlp/glove holds a different,
                # 862,182,753-byte copy). This md5 is published in
                # vaseline555/Federated-Learning-in-PyTorch
                # (src/datasets/leaf/leaf_utils.py, the LEAF Sent140 GloVe download) and,
                # independently, in the atnlp package's install_glove.py (MD5ZIP).
                sha256=None,
                md5="056ea991adb4740ac6bf1b6d9b50408b",
                extract_to="glove/glove.6B",
            ),
        ),
        homepage="https://nlp.stanford.edu/projects/glove/",
        license="Public Domain Dedication and License v1.0 (ODC PDDL)",
        citation=(
            "Jeffrey Pennington, Richard Socher, Christopher D. Manning. GloVe: Global Vectors "
            "for Word Representation. EMNLP 2014."
        ),
    ),
)

#: Every dataset the course uses, by name.
REGISTRY: dict[str, DatasetInfo] = {info.name: info for info in _DATASETS}


class _UseConfig(enum.Enum):
    """Type of :data:`USE_CONFIG` (an enum member, so type checkers can tell it apart)."""

    TOKEN = "use config.data_mirror()"


#: Default of the ``mirror`` arguments: take the mirror from ``COURSE_DATA_MIRROR``.
USE_CONFIG: Final = _UseConfig.TOKEN

MirrorArg = str | os.PathLike | None | _UseConfig


# --------------------------------------------------------------------------- public API


def available_datasets() -> list[str]:
    """The names :func:`download` accepts, sorted."""
    return sorted(REGISTRY)


def get_info(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (``ud-english-ewt`` and ``ud_english_ewt`` both work)."""
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    if key not in REGISTRY:
        raise DataError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(available_datasets())}."
        )
    return REGISTRY[key]


def dataset_dir(name: str, data_dir: Path | None = None) -> Path:
    """Where dataset ``name`` lives locally: ``<data dir>/<its folder>``.

    ``data_dir`` defaults to ``config.data_dir()`` (``COURSE_DATA_DIR`` or ``data/``).
    """
    return _resolve_data_dir(data_dir) / get_info(name).folder


def download(
    name: str,
    *,
    data_dir: Path | None = None,
    mirror: MirrorArg = USE_CONFIG,
    progress: bool = True,
    retries: int = 3,
) -> Path:
    """Make sure every file of dataset ``name`` is present, verified and extracted.

    Returns :func:`dataset_dir` for it. Safe to call at the top of every notebook: files
    already verified are recognised from their stamps without re-reading them.

    ``mirror`` is a folder, ``file://`` URL or ``http(s)://`` prefix serving the files
    (with a ``checksums.sha256`` at its root); ``None`` means the official URLs; the
    default takes ``COURSE_DATA_MIRROR``. ``retries`` counts network retries per file.
    """
    info = get_info(name)
    root = _resolve_data_dir(data_dir)
    source_mirror = _resolve_mirror(mirror)
    for remote in info.files:
        path = _fetch(remote, root, source_mirror, progress=progress, retries=retries)
        if remote.extract_to is not None:
            extract_archive(path, root / remote.extract_to)
    return root / info.folder


def fetch_file(
    remote: RemoteFile,
    *,
    data_dir: Path | None = None,
    mirror: MirrorArg = USE_CONFIG,
    progress: bool = True,
    retries: int = 3,
) -> Path:
    """Download and verify one file (no extraction); returns its local path.

    Same arguments as :func:`download`; useful for a file that is not in the registry.
    """
    return _fetch(
        remote,
        _resolve_data_dir(data_dir),
        _resolve_mirror(mirror),
        progress=progress,
        retries=retries,
    )


def extract_archive(archive: Path, target: Path) -> Path:
    """Unpack a ``.tar.gz``/``.tgz``/``.tar`` or ``.zip`` so its contents end up in ``target``.

    The archive is unpacked into a temporary sibling folder that is renamed to ``target``
    in one step, so ``target`` either does not exist or is complete. If the archive holds
    a single top folder named like ``target`` (``aclImdb/`` for ``imdb/aclImdb``), that
    folder becomes ``target``; otherwise the archive's top level does (GloVe's files).
    Leftover temporary folders of a crashed earlier run are removed first. The archive is
    kept, so a later call does not download it again.
    """
    archive, target = Path(archive), Path(target)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_extractions(target)
    tmp = Path(tempfile.mkdtemp(prefix=f"{target.name}.extracting-", dir=target.parent))
    try:
        _unpack(archive, tmp)
        inner = _single_top_folder(tmp, target.name)
        if inner == tmp:
            os.chmod(tmp, 0o755)  # mkdtemp made it private; the data folder should not be
        os.replace(inner, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def describe(name: str) -> str:
    """A few lines for a notebook to print: what the dataset is, its files, license, citation."""
    info = get_info(name)
    lines = [f"{info.title}", f"  name: {info.name}    homepage: {info.homepage}"]
    for remote in info.files:
        algorithm, digest = remote.official_digest()
        extra = f" -> extracted to {remote.extract_to}/" if remote.extract_to else ""
        lines.append(
            f"  {remote.path} ({_human_size(remote.size)}, {algorithm} {digest[:12]}...){extra}"
        )
    lines.append(f"  license: {info.license}")
    lines.append(f"  cite: {info.citation}")
    return "\n".join(lines)


def checksums_manifest() -> str:
    """The official sha256 of every registry file, as ``<sha256>  <path>`` lines.

    This is what ``data/checksums.sha256`` holds (a test keeps them equal). Files whose
    publisher gave no sha256 (GloVe: md5 only) cannot appear in a sha256 list and are left
    out; ``data/README.md`` gives their digest.
    """
    rows = sorted(
        (remote.path, remote.sha256)
        for info in REGISTRY.values()
        for remote in info.files
        if remote.sha256
    )
    return "".join(f"{sha}  {path}\n" for path, sha in rows)


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    """Where one file is fetched from and what its bytes must hash to."""

    name: str  # the file name, for the progress bar
    location: str  # a local path, or an http(s) URL
    is_url: bool
    algorithm: str
    expected: str
    label: str  # for messages: "mirror /x (/x/a/b)" or "official URL https://..."
    from_mirror: bool


class _Mirror:
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
            self.folder = folder.resolve()
            self.label = str(self.folder)
        self._checksums: dict[str, str] | None = None

    def checksums(self) -> dict[str, str]:
        """The mirror's ``checksums.sha256`` as ``{relative path: sha256}``."""
        if self._checksums is None:
            self._checksums = _parse_checksums(self._read_manifest(), where=self._where())
        return self._checksums

    def source_for(self, remote: RemoteFile) -> _Source:
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
            return _Source(remote.name, str(local), False, "sha256", digest, label, True)
        url = self.prefix + urllib.parse.quote(remote.path)
        return _Source(remote.name, url, True, "sha256", digest, f"mirror {url}", True)

    def digest_for(self, remote: RemoteFile) -> str | None:
        """The mirror's sha256 for ``remote``, or None when it cannot be had."""
        try:
            return self.checksums().get(remote.path)
        except DataError:
            return None

    def _where(self) -> str:
        return f"checksums.sha256 of the data mirror {self.label}"

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
        url = self.prefix + "checksums.sha256"
        try:
            with contextlib.closing(_urlopen(url)) as response:
                return response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise DataError(missing) from None
            raise DownloadError(f"Could not read {url}: HTTP {exc.code} {exc.reason}.") from exc
        except _RETRYABLE as exc:
            raise DownloadError(
                f"Could not reach the data mirror {self.label} ({exc}). Check that it is up, "
                "or unset COURSE_DATA_MIRROR to download from the official URLs."
            ) from exc


def _official_source(remote: RemoteFile) -> _Source:
    algorithm, digest = remote.official_digest()
    label = f"official URL {remote.url}"
    return _Source(remote.name, remote.url, True, algorithm, digest, label, False)


def _resolve_mirror(mirror: MirrorArg | _Mirror) -> _Mirror | None:
    if isinstance(mirror, _Mirror):
        return mirror
    if mirror is USE_CONFIG:
        mirror = config.data_mirror()
    if mirror is None or not os.fspath(mirror).strip():
        return None
    return _Mirror(mirror)


def _resolve_data_dir(data_dir: Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else config.data_dir()


def _parse_checksums(text: str, *, where: str) -> dict[str, str]:
    """Parse ``sha256sum`` output: ``<sha256>  <path>`` (``*path`` and ``./path`` allowed)."""
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


# --------------------------------------------------------------------------- fetching


def _fetch(
    remote: RemoteFile, root: Path, mirror: _Mirror | None, *, progress: bool, retries: int
) -> Path:
    """Return the verified local copy of ``remote``, downloading it if needed."""
    dest = root / remote.path
    if _existing_file_is_good(remote, dest, mirror):
        return dest
    source = mirror.source_for(remote) if mirror is not None else _official_source(remote)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    may_restart = True
    while True:
        resumed = _transfer_with_retries(source, part, progress=progress, retries=retries)
        actual = _hash_file(part, {source.algorithm})
        if actual[source.algorithm] == source.expected:
            os.replace(part, dest)
            _write_stamp(dest, source.algorithm, source.expected, source.label)
            return dest
        # Never leave bytes that failed verification where a later run could trust them.
        part.unlink(missing_ok=True)
        if resumed and may_restart:
            # The kept part may have come from another version of the file: start afresh once.
            may_restart = False
            continue
        raise _mismatch_error(remote, source, actual)


def _mismatch_error(remote: RemoteFile, source: _Source, actual: dict[str, str]) -> ChecksumError:
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


def _existing_file_is_good(remote: RemoteFile, dest: Path, mirror: _Mirror | None) -> bool:
    """True when ``dest`` already holds a verified copy; raise when it holds something else.

    A file is never deleted here: if it matches no known digest, the learner decides.
    """
    if not dest.exists():
        return False
    if _stamp_is_current(dest):
        return True
    candidates = [remote.official_digest()]
    mirror_digest = mirror.digest_for(remote) if mirror is not None else None
    if mirror_digest:
        candidates.append(("sha256", mirror_digest))
    actual = _hash_file(dest, {algorithm for algorithm, _ in candidates})
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


@dataclass
class _Stream:
    """An open source, positioned at byte ``start`` of a file of ``total`` bytes (if known)."""

    fileobj: BinaryIO
    start: int
    total: int | None


def _urlopen(url: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """Open ``url``; a fresh opener each time so proxy settings are read from the environment."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, **(headers or {})})
    return urllib.request.build_opener().open(request, timeout=TIMEOUT_S)


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _open_source(source: _Source, offset: int) -> _Stream:
    """Open ``source`` to continue at ``offset``, or from the start where it cannot."""
    if not source.is_url:
        fileobj = open(source.location, "rb")  # noqa: SIM115 - closed by the caller
        size = os.fstat(fileobj.fileno()).st_size
        start = offset if 0 < offset <= size else 0
        fileobj.seek(start)
        return _Stream(fileobj, start, size)
    try:
        response = _urlopen(source.location, {"Range": f"bytes={offset}-"} if offset else None)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part is as long as the file, or longer
            exc.close()
            return _open_source(source, 0)
        raise
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if match is None or int(match.group(1)) != offset:
            response.close()  # a range we did not ask for: safer to start over
            return _open_source(source, 0)
        total = match.group(3)
        return _Stream(response, offset, int(total) if total.isdigit() else None)
    # 200: the server ignored Range (or none was sent), so this is the whole file.
    length = response.headers.get("Content-Length", "")
    return _Stream(response, 0, int(length) if length.isdigit() else None)


def _transfer(source: _Source, part: Path, *, progress: bool, state: dict[str, bool]) -> None:
    """Bring ``part`` up to the whole file, continuing after the bytes it already holds."""
    offset = part.stat().st_size if part.exists() else 0
    stream = _open_source(source, offset)
    with contextlib.closing(stream.fileobj):
        if stream.start:
            state["resumed"] = True
        written = stream.start
        with (
            part.open("ab" if stream.start else "wb") as out,
            tqdm(
                total=stream.total,
                initial=stream.start,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=source.name,
                disable=not progress,
            ) as bar,
        ):
            while chunk := stream.fileobj.read(_CHUNK):
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    if stream.total is not None and written < stream.total:
        raise _IncompleteTransfer(f"the connection closed after {written} of {stream.total} bytes")


def _transfer_with_retries(source: _Source, part: Path, *, progress: bool, retries: int) -> bool:
    """Transfer with up to ``retries`` retries on network errors; True if a part was continued."""
    state = {"resumed": False}
    attempt = 0
    while True:
        try:
            _transfer(source, part, progress=progress, state=state)
            return state["resumed"]
        except urllib.error.HTTPError as exc:
            if exc.code not in _RETRY_HTTP_CODES:
                hint = (
                    "The mirror does not serve this file: fix the mirror, or unset "
                    "COURSE_DATA_MIRROR to download from the official URL."
                    if source.from_mirror
                    else "The file may have moved: check the dataset's homepage (see "
                    "describe(name)), or set COURSE_DATA_MIRROR to a copy."
                )
                raise DownloadError(
                    f"Could not download {source.name} from {source.label}: "
                    f"HTTP {exc.code} {exc.reason}. {hint}"
                ) from exc
            error: Exception = exc
        except _RETRYABLE as exc:
            error = exc
        attempt += 1
        if attempt > retries:
            kept = f" The partial file {part} was kept;" if part.exists() else ""
            raise DownloadError(
                f"Could not download from {source.label} after {attempt} attempts: {error}."
                f"{kept} run the download again to continue where it stopped. Check your "
                "internet connection, or set COURSE_DATA_MIRROR to a local copy."
            ) from error
        time.sleep(min(RETRY_BACKOFF_S * 2 ** (attempt - 1), 30.0))


# --------------------------------------------------------------------------- verification


def _hash_file(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of ``path`` for ``algorithms`` (sha256 always), in one read."""
    hashers = {name: hashlib.new(name, usedforsecurity=False) for name in {*algorithms, "sha256"}}
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def _stamp_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.verified")


def _stamp_is_current(dest: Path) -> bool:
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
    stamp = _stamp_path(dest)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, stamp)


# --------------------------------------------------------------------------- extraction


def _remove_stale_extractions(target: Path) -> None:
    pattern = glob.escape(target.name) + ".extracting-*"
    for leftover in target.parent.glob(pattern):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _single_top_folder(tmp: Path, name: str) -> Path:
    entries = list(tmp.iterdir())
    only = entries[0] if len(entries) == 1 else None
    if only is not None and only.name == name and only.is_dir() and not only.is_symlink():
        return only
    return tmp


def _unpack(archive: Path, dest: Path) -> None:
    name = archive.name.lower()
    if name.endswith(".zip"):
        _unpack_zip(archive, dest)
    elif name.endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")):
        _unpack_tar(archive, dest)
    else:
        raise DataError(f"Do not know how to extract {archive} (expected .tar.gz or .zip).")


def _reject(archive: Path, member: str, reason: str) -> DataError:
    return DataError(
        f"Refusing to extract {archive}: member {member!r} has {reason}, which could write "
        "outside the data folder. The archive is not the expected one; delete it and run "
        "the download again, and report it if it happens again."
    )


def _unpack_tar(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                reason = _unsafe_reason(member.name)
                if reason is None and (member.issym() or member.islnk()):
                    reason = _unsafe_reason(member.linkname)
                    if reason is not None:
                        reason = f"a link target with {reason}"
                if reason is None and (member.isdev() or member.isfifo()):
                    reason = "a device or fifo entry"
                if reason is not None:
                    raise _reject(archive, member.name, reason)
                _extract_tar_member(tar, member, dest)
    except tarfile.TarError as exc:
        raise _damaged(archive, exc) from exc


def _extract_tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    """Extract one member; the ``data`` filter also blocks links out of ``dest``."""
    if hasattr(tarfile, "data_filter"):
        tar.extract(member, dest, filter="data")
    else:  # pragma: no cover - Python without the 2023 tarfile filters; names were checked
        tar.extract(member, dest)


def _unpack_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                reason = _unsafe_reason(info.filename)
                if reason is not None:
                    raise _reject(archive, info.filename, reason)
                _extract_zip_member(zf, info, dest)
    except zipfile.BadZipFile as exc:
        raise _damaged(archive, exc) from exc


def _extract_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> None:
    zf.extract(info, dest)


def _damaged(archive: Path, exc: Exception) -> DataError:
    return DataError(
        f"Could not extract {archive}: {exc}. The archive may be damaged; delete it "
        "and run the download again."
    )


# --------------------------------------------------------------------------- helpers


def _human_size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
