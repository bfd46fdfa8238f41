"""``History``: what happened in each epoch of a training run.

:func:`course_utils.training.loop.fit` fills one in and returns it; the plots, results tables,
callbacks (early stopping and the time budget read it) and resumable runs all work from
it, which is why it lives on its own rather than inside the trainer.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from course_utils.files import atomic_write

__all__ = ["History"]


@dataclass
class History:
    """What happened in each epoch of a run: losses, accuracies, timings and the best epoch.

    Epochs are numbered from 1: ``best_epoch = 3`` means the third entry of each list.
    ``epoch_seconds`` is the wall time of whole epochs (training and validation),
    ``train_seconds`` of the training part only, and ``train_examples_per_second`` the
    training throughput (``unit`` says what an example is: a review, a token, ...).
    ``stop_reason`` says why a run ended before its last epoch (early stopping, the time
    budget, a pruned trial); ``stopped_early`` is True only for early stopping.
    """

    name: str | None = None
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    valid_acc: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    train_examples_per_second: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    monitor: str = "valid_acc"
    stopped_early: bool = False
    stop_reason: str | None = None
    unit: str = "example"

    def __len__(self) -> int:
        return len(self.train_loss)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    @property
    def examples_per_second(self) -> float:
        """Mean training throughput over all epochs (examples per second)."""
        values = self.train_examples_per_second
        return sum(values) / len(values) if values else math.nan

    @property
    def best_valid_acc(self) -> float:
        """Validation accuracy of the best epoch (the weights ``fit`` ends with)."""
        if not self.valid_acc:
            return math.nan
        if self.best_epoch is not None and 1 <= self.best_epoch <= len(self.valid_acc):
            return self.valid_acc[self.best_epoch - 1]
        return max(self.valid_acc)

    def record_epoch(
        self, train: dict, valid: dict, lr: float, train_seconds: float, epoch_seconds: float
    ) -> None:
        """Append one epoch: ``train`` and ``valid`` as :func:`~course_utils.training.loop.evaluate`
        returns them (``loss``, ``acc``, ``n``), the learning rate it trained with, its timings."""
        self.train_loss.append(train["loss"])
        self.train_acc.append(train["acc"])
        self.valid_loss.append(valid["loss"])
        self.valid_acc.append(valid["acc"])
        self.learning_rate.append(lr)
        self.train_seconds.append(train_seconds)
        self.epoch_seconds.append(epoch_seconds)
        per_second = train["n"] / train_seconds if train_seconds else math.nan
        self.train_examples_per_second.append(per_second)

    def to_dict(self) -> dict:
        """Plain values only (JSON, and safe inside a checkpoint)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> History:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing ones get defaults."""
        known = {f.name for f in fields(cls)}
        return cls(
            **{k: (list(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
        )

    def summary(self) -> dict:
        """One row for a results table: name, epochs, best epoch and accuracy, speed."""
        seconds = self.epoch_seconds
        return {
            "run": self.name,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "best_valid_acc": self.best_valid_acc,
            "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else math.nan,
            "examples_per_second": self.examples_per_second,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON (atomically), e.g. to compare runs across sessions."""
        path = Path(path)
        with atomic_write(path, "w") as fh:
            fh.write(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"No saved history at {path}. Save one with history.save(path)."
            )
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
