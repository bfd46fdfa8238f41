"""Resumable training: the whole run in one file after every epoch, and continuing from it.

``fit(..., resume="runs/name.pt")`` writes one state dict after every completed epoch (the
nanoGPT way: atomically, so a run killed while saving keeps the previous file) and, when
the file exists, continues after its last epoch. To end with the very weights an
uninterrupted run would have reached, the file holds more than the model: the optimizer
(Adam's moment estimates), the scheduler, the history (epoch count, best epoch, time spent),
the best weights so far, the callbacks' own state, and every random number generator
(dropout masks and shuffles come from them).

It holds only tensors and plain values, so it loads with ``weights_only=True``. Before
anything is loaded it is checked against this run (model class and shapes, optimizer,
scheduler, callbacks, monitored metric): a state from another run is refused with a
message saying what differs, never half-applied.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course_utils import distributed
from course_utils.training.callbacks import Callback, Run
from course_utils.training.checkpoint import (
    CheckpointError,
    checkpoint_payload,
    mismatch_report,
    read_checkpoint,
    write_checkpoint,
)
from course_utils.training.history import History

__all__ = ["RunFile", "get_rng_state", "load_run", "save_run", "set_rng_state"]

KIND = "training-state"


def get_rng_state() -> dict[str, Any]:
    """The state of torch's (CPU, CUDA), NumPy's and Python's generators: tensors and lists."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": [version, list(internal), gauss_next],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def _identity(run: Run, callbacks: Sequence[Callback]) -> dict[str, Any]:
    """What must be the same for a run to continue another: compared before loading."""
    return {
        "optimizer": type(run.optimizer).__name__,
        "optimizer parameter groups": [len(g["params"]) for g in run.optimizer.param_groups],
        "scheduler": None if run.scheduler is None else type(run.scheduler).__name__,
        "monitored metric": run.monitor,
        "callbacks that keep state": [type(cb).__name__ for cb in _stateful(callbacks)],
    }


def _stateful(callbacks: Sequence[Callback]) -> list[Callback]:
    """The callbacks with state of their own; the others may change between runs."""
    return [cb for cb in callbacks if type(cb).state_dict is not Callback.state_dict]


def save_run(path: str | os.PathLike, run: Run, callbacks: Sequence[Callback]) -> Path:
    """Write everything needed to continue ``run`` after its last completed epoch."""
    payload = checkpoint_payload(run.model)
    payload.update(
        kind=KIND,
        identity=_identity(run, callbacks),
        optimizer=run.optimizer.state_dict(),
        scheduler=None if run.scheduler is None else run.scheduler.state_dict(),
        history=run.history.to_dict(),
        best_state=run.best_state,
        callbacks=[cb.state_dict() for cb in _stateful(callbacks)],
        rng=get_rng_state(),
    )
    return write_checkpoint(path, payload)


def load_run(path: str | os.PathLike, run: Run, callbacks: Sequence[Callback]) -> None:
    """Check the state at ``path`` against ``run`` and, if it fits, restore all of it in place."""
    path = Path(path)
    payload = read_checkpoint(path, map_location="cpu")
    if payload.get("kind") != KIND:
        raise CheckpointError(
            f"{path} is a model checkpoint, not the training state fit(..., resume=...) writes. "
            "Give resume= a path of its own (for example runs/<name>.pt); fit creates the file."
        )
    report, config_diffs = mismatch_report(path, payload, run.model)
    saved, now = payload["identity"], _identity(run, callbacks)
    problems = [f"{key}: saved run {saved[key]!r} vs this run {now[key]!r}"
                for key in now if saved.get(key) != now[key]]  # fmt: skip
    if report or config_diffs or problems:
        details = ([report] if report else []) + [f"  {d}" for d in config_diffs + problems]
        raise CheckpointError(
            f"{path} holds the state of another run, so this one cannot resume from it:\n"
            + "\n".join(details)
            + "\nStart this run with the same model, optimizer, scheduler and options, or "
            "give resume= a new path (delete the file to start this run from scratch)."
        )
    run.model.load_state_dict(payload["state_dict"])
    run.optimizer.load_state_dict(payload["optimizer"])
    if run.scheduler is not None:
        run.scheduler.load_state_dict(payload["scheduler"])
    run.history.__dict__.update(History.from_dict(payload["history"]).__dict__)
    run.best_state = payload["best_state"]
    for callback, state in zip(_stateful(callbacks), payload["callbacks"], strict=True):
        callback.load_state_dict(state)
    set_rng_state(payload["rng"])
    run.resumed_from = path


class RunFile:
    """The file behind ``fit(resume=path)``: restored at the start, saved after every epoch
    (by rank 0), removed when the run ends normally, so the next call starts a new run."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def restore(self, run: Run, callbacks: Sequence[Callback]) -> None:
        if self.path.exists():
            load_run(self.path, run, callbacks)

    def save(self, run: Run, callbacks: Sequence[Callback]) -> None:
        if run.main:
            save_run(self.path, run, callbacks)

    def remove(self) -> None:
        if distributed.is_main_process():
            self.path.unlink(missing_ok=True)
