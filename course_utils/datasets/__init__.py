"""The course's datasets: :func:`download` and everything a notebook imports about them.

Every lesson starts by calling :func:`download`, so the data layer is written for the
learner whose connection drops halfway through an 80 MB archive, whose notebook kernel
is interrupted during extraction, or whose machine has no internet at all:

* each file has an official URL and an official digest (:data:`REGISTRY`, in
  :mod:`~course_utils.datasets._registry`), so a damaged or tampered download is caught
  instead of failing later in a confusing way;
* pooch verifies each download and moves it into place only when its digest matches;
  the bytes received so far are kept in ``<file>.part``, so an interrupted transfer
  continues where it stopped (:mod:`~course_utils.datasets._transfer`);
* archives are extracted into a temporary sibling folder that is renamed in one step,
  so a half-finished folder never sits where a lesson expects a complete one, and a
  cut-off archive is reported with the file to delete (:mod:`~course_utils.datasets._archives`);
* ``COURSE_DATA_MIRROR`` (a folder, a ``file://`` URL or an ``http(s)://`` prefix) can
  serve the files instead of the official hosts, e.g. for CI or a classroom. A mirror
  carries its own ``checksums.sha256`` and its files are verified against it, because a
  mirror may hold a repack that differs byte for byte (:mod:`~course_utils.datasets._mirror`).

A verified file gets a small stamp (``.<name>.verified``) beside it, so a second call
costs a ``stat`` per file rather than re-hashing hundreds of megabytes.

This module is the public entry point: the loaders and notebooks import from here, and
the names below stay here whichever module implements them.
"""

from __future__ import annotations

from pathlib import Path

from course_utils import config
from course_utils.datasets._archives import extract_archive
from course_utils.datasets._mirror import USE_CONFIG, MirrorArg, resolve_mirror
from course_utils.datasets._registry import (
    REGISTRY,
    DatasetInfo,
    RemoteFile,
    checksums_manifest,
    describe,
    get_info,
)
from course_utils.datasets._transfer import fetch, forget_stamp
from course_utils.datasets.errors import (
    ChecksumError,
    DamagedArchiveError,
    DataError,
    DownloadError,
)

__all__ = [
    "REGISTRY",
    "USE_CONFIG",
    "ChecksumError",
    "DamagedArchiveError",
    "DataError",
    "DatasetInfo",
    "DownloadError",
    "RemoteFile",
    "checksums_manifest",
    "dataset_dir",
    "describe",
    "download",
    "get_info",
]


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
    source_mirror = resolve_mirror(mirror)
    for remote in info.files:
        path = fetch(remote, root, source_mirror, progress=progress, retries=retries)
        if remote.extract_to is not None:
            try:
                extract_archive(path, root / remote.extract_to)
            except DamagedArchiveError:
                # It matched its digest but cannot be unpacked: its stamp must not vouch
                # for it, so the next call checks it again instead of trusting it.
                forget_stamp(path)
                raise
    return root / info.folder


def _resolve_data_dir(data_dir: Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else config.data_dir()
