"""Unpacking a downloaded archive so that its folder is either complete or absent.

pooch's ``Untar`` and ``Unzip`` processors do the unpacking. Around them this module adds
what they lack for a learner's data folder:

* atomicity: they extract in place, so an interrupted extraction (Ctrl-C in a notebook,
  a full disk) would leave a half-filled folder; here they extract into a temporary
  sibling folder that is renamed in one step;
* member checks before anything is written: pooch passes tarfile's ``data`` filter only
  on Python 3.12 and later, and ``ZipFile.extractall`` quietly rewrites an unsafe name
  instead of refusing, so absolute paths, ``..``, links out and device files are
  rejected here first;
* a :class:`DamagedArchiveError` for an archive that is cut off or corrupt. Such a file
  can match its checksum (a mirror whose list was made from a truncated copy); the raw
  ``EOFError`` from gzip would not tell the learner which file to delete.
"""

from __future__ import annotations

import glob
import gzip
import lzma
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Final

import pooch

from course_utils.datasets._registry import unsafe_path_reason
from course_utils.datasets._transfer import quiet_pooch
from course_utils.datasets.errors import DamagedArchiveError, DataError

__all__ = ["DAMAGED_ARCHIVE_ERRORS", "extract_archive"]

#: What reading a cut-off or corrupt tar, gzip, xz, bzip2 or zip archive raises.
DAMAGED_ARCHIVE_ERRORS: Final = (
    EOFError,
    zlib.error,
    lzma.LZMAError,
    gzip.BadGzipFile,
    tarfile.TarError,
    zipfile.BadZipFile,
)
_TAR_SUFFIXES: Final = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
_CHUNK: Final = 1 << 20


def extract_archive(archive: Path, target: Path) -> Path:
    """Unpack a ``.tar.gz``/``.tgz``/``.tar`` or ``.zip`` so its contents end up in ``target``.

    The archive is unpacked into a temporary sibling folder that is renamed to ``target``
    in one step, so ``target`` either does not exist or is complete. If the archive holds
    a single top folder named like ``target`` (``aclImdb/`` for ``imdb/aclImdb``), that
    folder becomes ``target``; otherwise the archive's top level does (GloVe's files).
    Leftover temporary folders of a crashed earlier run are removed first. The archive is
    kept, so a later call does not download it again. A cut-off or corrupt archive raises
    :class:`DamagedArchiveError` and leaves nothing behind.
    """
    archive, target = Path(archive), Path(target)
    if target.is_dir():
        return target
    name = archive.name.lower()
    if name.endswith(".zip"):
        check, unpack = _check_zip_members, pooch.Unzip
    elif name.endswith(_TAR_SUFFIXES):
        check, unpack = _check_tar_members, pooch.Untar
    else:
        raise DataError(f"Do not know how to extract {archive} (expected .tar.gz or .zip).")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_extractions(target)
    tmp = Path(tempfile.mkdtemp(prefix=f"{target.name}.extracting-", dir=target.parent))
    try:
        try:
            check(archive)
            with quiet_pooch():
                unpack(extract_dir=str(tmp))(str(archive), "download", None)
        except DAMAGED_ARCHIVE_ERRORS as exc:
            raise _damaged(archive, exc) from exc
        inner = _single_top_folder(tmp, target.name)
        if inner == tmp:
            os.chmod(tmp, 0o755)  # mkdtemp made it private; the data folder should not be
        os.replace(inner, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _check_tar_members(archive: Path) -> None:
    """Refuse a tar whose members could write outside the folder, or that is damaged.

    tarfile stops at the first header it cannot read as if the archive ended there, so a
    garbled archive would unpack as a shorter one without a word. Reading the compressed
    stream to its end makes gzip (bz2, xz) check its CRC and length, which turns such an
    archive, or a cut-off one, into an error. One read of the archive does both checks.
    """
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            reason = unsafe_path_reason(member.name)
            if reason is None and (member.issym() or member.islnk()):
                reason = unsafe_path_reason(member.linkname)
                if reason is not None:
                    reason = f"a link target with {reason}"
            if reason is None and (member.isdev() or member.isfifo()):
                reason = "a device or fifo entry"
            if reason is not None:
                raise _reject(archive, member.name, reason)
        stream = tar.fileobj
        while stream is not None and stream.read(_CHUNK):
            pass


def _check_zip_members(archive: Path) -> None:
    """Refuse a zip with unsafe names (reads only its central directory)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            reason = unsafe_path_reason(info.filename)
            if reason is not None:
                raise _reject(archive, info.filename, reason)


def _reject(archive: Path, member: str, reason: str) -> DataError:
    return DataError(
        f"Refusing to extract {archive}: member {member!r} has {reason}, which could write "
        "outside the data folder. The archive is not the expected one; delete it and run "
        "the download again, and report it if it happens again."
    )


def _damaged(archive: Path, exc: BaseException) -> DamagedArchiveError:
    return DamagedArchiveError(
        f"Could not extract {archive}: the archive is cut off or damaged "
        f"({type(exc).__name__}: {exc}). Nothing was extracted. Delete {archive} and run "
        "the download again: it will be downloaded again. If the file came from a data "
        "mirror (COURSE_DATA_MIRROR) and this happens again, the mirror's copy is damaged "
        "(its checksums.sha256 matches the damaged file): replace it there, or unset "
        "COURSE_DATA_MIRROR to download from the official URL.",
        archive=str(archive),
    )


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
