"""Small helpers that many modules need, kept in one place so there is one way to do each.

* :func:`model_device`: where a model's weights live (inputs must go there too).
* :func:`eval_mode`: run a model in eval mode and give it back in the mode it was in, so that
  a prediction in the middle of training never leaves dropout switched off.
* :func:`atomic_write`: write a file under a temporary name in the same folder, then rename
  it, so a crash or a full disk never leaves a half-written file under the real name.
* :func:`is_binary_logits`: one logit per example means a binary classifier (sigmoid),
  ``C > 1`` logits a multi-class one (softmax).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import torch
from torch import nn

__all__ = ["atomic_write", "eval_mode", "is_binary_logits", "model_device"]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(model):`` runs the block in eval mode and restores the previous mode.

    The previous mode comes back even when the block raises, so an error in a prediction
    made between two training epochs cannot leave dropout off for the rest of training.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


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


def is_binary_logits(logits: torch.Tensor) -> bool:
    """True for ``[B]`` or ``[B, 1]`` logits: one score per example, read with a sigmoid."""
    return logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1)
