"""The dataset registry: every dataset the course uses, where it comes from, how to check it.

Kept apart from the downloader so that the facts (URLs, sizes, digests, licenses,
citations) can be read and reviewed on their own, and so that ``data/checksums.sha256``
can be generated from them (:func:`checksums_manifest`; a test keeps the two equal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from course_utils.datasets.errors import DataError

__all__ = [
    "REGISTRY",
    "DatasetInfo",
    "RemoteFile",
    "checksums_manifest",
    "describe",
    "get_info",
    "unsafe_path_reason",
]

_DIGEST_LENGTHS: Final = {"sha256": 64, "sha1": 40, "md5": 32}


def unsafe_path_reason(name: str) -> str | None:
    """Why a relative path could point outside its folder, if it could; else ``None``.

    Shared by the registry (its paths are joined to the data folder) and by extraction
    (archive member names are joined to the extraction folder), so both refuse the same
    names: absolute paths, Windows drive paths and ``..`` components.
    """
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"[A-Za-z]:", posix):
        return "an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "a '..' component"
    return None


def _check_relative(rel: str, *, what: str) -> None:
    if not rel or unsafe_path_reason(rel) is not None or "\\" in rel:
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

# Sizes and sha256 digests are those of the official files; data/checksums.sha256 lists
# the digests and tests/test_datasets.py checks them against the course's offline mirror,
# whose copies are byte-identical except IMDb's. The mirror's IMDb archive is a repack
# (data/README.md), so a copy from a mirror is checked against the mirror's own list.
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
                # Stanford publishes no digest and no published sha256 of the official zip
                # was found: the md5 and the size (the server's Content-Length) are those
                # other projects publish; data/README.md says which.
                size=862_182_613,
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


def get_info(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (``ud-english-ewt`` and ``ud_english_ewt`` both work)."""
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    if key not in REGISTRY:
        raise DataError(f"Unknown dataset {name!r}. Known datasets: {', '.join(sorted(REGISTRY))}.")
    return REGISTRY[key]


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


def _human_size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
