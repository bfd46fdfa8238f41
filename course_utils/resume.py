"""Resumable training: the whole state of a run after each epoch, and getting it back.

``fit(..., resume="run.pt")`` writes this file after every completed epoch (atomically,
so a run killed while saving keeps the previous one) and, when the file already exists,
continues from it. To end with the very weights an uninterrupted run would have reached,
a resumed run needs more than the model:

* the optimizer's state (Adam's moment estimates) and the scheduler's,
* the history (epoch count, best epoch, time spent: early stopping and the time budget
  read it),
* the callbacks' own state (the best weights :class:`~course_utils.callbacks.KeepBest`
  keeps), and
* every random number generator: dropout masks and a ``DataLoader``'s shuffle come from
  torch's, and the course's samplers reshuffle from ``seed + epoch`` (see
  :class:`~course_utils.data.batching.BucketBatchSampler.set_epoch`).

The file holds only tensors and plain values, so it loads with ``weights_only=True``.
Before anything is loaded into the model the file is checked against this run (model
class and every shape, optimizer, scheduler, callbacks, monitored metric): a state from
another run is refused with a message saying what differs, never half-applied.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course_utils.callbacks import Callback, Run
from course_utils.checkpoint import (
    CheckpointError,
    checkpoint_payload,
    mismatch_report,
    read_checkpoint,
    write_checkpoint,
)
from course_utils.history import History

__all__ = ["get_rng_state", "load_training_state", "save_training_state", "set_rng_state"]

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


def _type_name(obj: Any) -> str | None:
    return None if obj is None else type(obj).__name__


def save_training_state(path: str | os.PathLike, run: Run, callbacks: Sequence[Callback]) -> Path:
    """Write everything needed to continue ``run`` after its last completed epoch."""
    payload = checkpoint_payload(run.model)
    payload.update(
        kind=KIND,
        optimizer_class=_type_name(run.optimizer),
        optimizer=run.optimizer.state_dict(),
        scheduler_class=_type_name(run.scheduler),
        scheduler=run.scheduler.state_dict() if run.scheduler is not None else None,
        history=run.history.to_dict(),
        callbacks=[[_type_name(cb), cb.state_dict()] for cb in _stateful(callbacks)],
        rng=get_rng_state(),
    )
    return write_checkpoint(path, payload)


def _stateful(callbacks: Sequence[Callback]) -> list[Callback]:
    """The callbacks with state of their own; the others may change between runs."""
    return [cb for cb in callbacks if type(cb).state_dict is not Callback.state_dict]


def _differences(payload: dict, run: Run, callbacks: Sequence[Callback]) -> list[str]:
    """What in this run differs from the one that wrote ``payload`` (empty: it may resume)."""
    problems = []
    for what, saved, now in (
        ("optimizer", payload.get("optimizer_class"), _type_name(run.optimizer)),
        ("scheduler", payload.get("scheduler_class"), _type_name(run.scheduler)),
        ("monitored metric", payload["history"].get("monitor"), run.monitor),
        (
            "callbacks that keep state",
            [name for name, _ in payload["callbacks"]],
            [_type_name(cb) for cb in _stateful(callbacks)],
        ),
    ):
        if saved != now:
            problems.append(f"{what}: saved run {saved!r} vs this run {now!r}")
    saved_groups = [len(g["params"]) for g in payload["optimizer"]["param_groups"]]
    own_groups = [len(g["params"]) for g in run.optimizer.param_groups]
    if saved_groups != own_groups:
        problems.append(
            f"optimizer parameter groups: saved run {saved_groups} vs this run {own_groups}"
        )
    return problems


def load_training_state(path: str | os.PathLike, run: Run, callbacks: Sequence[Callback]) -> None:
    """Check the state at ``path`` against ``run`` and, if it fits, restore all of it in place."""
    path = Path(path)
    payload = read_checkpoint(path, map_location="cpu")
    if payload.get("kind") != KIND:
        raise CheckpointError(
            f"{path} is a model checkpoint, not the training state fit(..., resume=...) writes. "
            "Give resume= a path of its own (for example runs/<name>.pt); fit creates the file."
        )
    report, config_diffs = mismatch_report(path, payload, run.model)
    problems = _differences(payload, run, callbacks)
    if report or config_diffs or problems:
        details = [report] if report else []
        details += [f"  {line}" for line in config_diffs + problems]
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
    for callback, (_, state) in zip(_stateful(callbacks), payload["callbacks"], strict=True):
        callback.load_state_dict(state)
    set_rng_state(payload["rng"])
    run.resumed_from = path
