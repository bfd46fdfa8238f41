"""The errors of the data layer, in one module that the registry, mirror and downloader share.

They are re-exported by :mod:`course_utils.datasets`, which is where lessons and the
loaders import them from. Every message says what happened and what to do next, because
the person reading it is usually a learner in a notebook, not the author of the code.
"""

from __future__ import annotations

__all__ = ["ChecksumError", "DamagedArchiveError", "DataError", "DownloadError"]


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


class DamagedArchiveError(DataError):
    """An archive could not be unpacked because it is cut off or corrupt.

    It can match its checksum (a mirror whose ``checksums.sha256`` was made from a
    truncated copy), so it is told apart from :class:`ChecksumError`: the caller must
    also forget that the archive was verified. ``archive`` is the file to delete.
    """

    def __init__(self, message: str, *, archive: str) -> None:
        super().__init__(message)
        self.archive = archive
