"""Writing files safely: :func:`atomic_write`.

Datasets, caches, vocabularies, histories and checkpoints are all written through it: a
temporary file in the same folder, renamed at the end, so a crash or a full disk never
leaves a half-written file under the real name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["atomic_write"]


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """``with atomic_write(path) as fh:`` writes a temporary file that replaces ``path`` at the end.

    The temporary file sits in the same folder (so the final ``os.replace`` is atomic on
    every platform) and is deleted when the block raises; readers see either the old file
    or the complete new one, never a truncated one. ``mode`` is ``"wb"`` or ``"w"`` (UTF-8).
    """
    if mode not in ("wb", "w"):
        raise ValueError(
            f"atomic_write writes whole files: mode must be 'wb' or 'w', got {mode!r}."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        encoding = None if mode == "wb" else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
