"""Callbacks: optional behaviour around :func:`course_utils.training.loop.fit`'s loop.

The loop itself trains, validates, records the epoch and keeps the best epoch's weights.
Anything else is a callback you pass in ``fit(..., callbacks=[...])``; each one works on
its own, in any order, and needs no other:

* :class:`EarlyStopping` stops after ``patience`` epochs without a new best;
* :class:`TimeBudget` stops when another epoch would not fit in a wall-clock budget;
* :class:`Checkpoint` saves the model (with its vocabulary) every time it improves;
* :class:`BatchScheduler` steps a learning-rate schedule after every batch (one-cycle);
* :class:`ReportToTrial` reports each epoch to an Optuna trial and stops a pruned one;
* :class:`ProgressLog` draws progress bars and prints a line per epoch (``fit`` adds it
  when ``progress=True``).

A callback overrides any of five hooks, each given the :class:`Run` being trained::

    on_fit_start → (on_epoch_start → on_batch_end × batches → on_epoch_end) × epochs → on_fit_end

and ends the run with ``run.stop("why")``. A callback whose state a resumed run needs
returns it from :meth:`Callback.state_dict` (tensors and plain values only).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.progress import tqdm
from course_utils.training.history import History

__all__ = [
    "BatchScheduler",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "ProgressLog",
    "ReportToTrial",
    "Run",
    "TimeBudget",
]


@dataclass
class Run:
    """Everything a callback may look at while :func:`~course_utils.training.loop.fit` trains.

    ``model`` is the plain model (outside any DistributedDataParallel wrapper, which
    ``train_model`` may be): the one that is evaluated, saved and restored. ``end_epoch``
    is the epoch count at which the run ends if nothing stops it first; ``main`` is False
    on every rank but 0 under torchrun; ``running`` holds the current epoch's sums.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    end_epoch: int
    train_model: nn.Module | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    scheduler: Any = None
    main: bool = True
    show: bool = False
    batches_per_epoch: int | None = None
    running: Any = None
    best_state: dict[str, torch.Tensor] | None = None
    resumed_from: Path | None = None

    @property
    def epoch(self) -> int:
        """Epochs completed so far (1 during the first ``on_epoch_end``)."""
        return self.history.epochs

    @property
    def monitor(self) -> str:
        return self.history.monitor

    @property
    def value(self) -> float:
        """The monitored metric of the last completed epoch."""
        return getattr(self.history, self.monitor)[-1]

    @property
    def improved(self) -> bool:
        """Whether the last completed epoch is the best so far."""
        return self.history.best_epoch is not None and self.history.best_epoch == self.epoch

    @property
    def stopping(self) -> bool:
        return self.history.stop_reason is not None

    def stop(self, reason: str) -> None:
        """End the run after this epoch; the first reason given is the one recorded."""
        if self.history.stop_reason is None:
            self.history.stop_reason = reason

    def keep_if_best(self) -> None:
        """After an epoch: if it beats every earlier one, note it and copy its weights (CPU)."""
        value, best = self.value, self.history.best_metric
        maximize = self.monitor.endswith("acc")  # accuracies up, losses down
        if math.isnan(value) or not (
            best is None or math.isnan(best) or (value > best if maximize else value < best)
        ):
            return
        self.history.best_epoch, self.history.best_metric = self.epoch, value
        self.best_state = {
            k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
        }

    def restore_best(self) -> None:
        """Put the best epoch's weights back (the run ends with them, whatever came after)."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)


class Callback:
    """Base class: override the hooks you need; each does nothing by default."""

    def on_fit_start(self, run: Run) -> None:
        """Before the first epoch (after a resumed run's state has been restored)."""

    def on_epoch_start(self, run: Run) -> None:
        """Before the epoch's first batch."""

    def on_batch_end(self, run: Run) -> None:
        """After each optimiser step; ``run.running`` holds the epoch's sums so far."""

    def on_epoch_end(self, run: Run) -> None:
        """After validation, once the epoch is in ``run.history`` and the best is known."""

    def on_fit_end(self, run: Run) -> None:
        """After the last epoch and the best weights' restore, also after an exception."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue exactly as this one would have."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned."""


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs in a row without a new best of the monitored metric."""

    def __init__(self, patience: int) -> None:
        if patience < 1:
            raise ValueError(f"EarlyStopping's patience must be at least 1, got {patience}.")
        self.patience = patience

    def on_epoch_end(self, run: Run) -> None:
        history = run.history
        since_best = history.epochs - (history.best_epoch or 0)
        if since_best >= self.patience:
            history.stopped_early = True
            best = "none" if history.best_metric is None else f"{history.best_metric:.4g}"
            run.stop(
                f"Stopping early: {run.monitor} has not improved for {since_best} epochs "
                f"(best {best} at epoch {history.best_epoch})."
            )


class TimeBudget(Callback):
    """Stop when another epoch would overrun ``minutes`` of training time.

    After each epoch: if the time spent so far plus the longest epoch seen would exceed
    the budget, stop. The longest epoch, not the mean, is the estimate, so a run does not
    overshoot when epochs slow down (a warm-up epoch, a busy machine). Time is summed from
    the history's ``epoch_seconds``, so a resumed run spends only what is left.
    """

    def __init__(self, minutes: float) -> None:
        if not minutes > 0:
            raise ValueError(f"the time budget must be more than 0 minutes, got {minutes}.")
        self.minutes = minutes

    def on_epoch_end(self, run: Run) -> None:
        seconds = run.history.epoch_seconds
        spent, longest = sum(seconds), max(seconds)
        if run.epoch < run.end_epoch and spent + longest > self.minutes * 60:
            run.stop(
                f"Stopping: another epoch (up to {longest:.0f} s) would not fit in the "
                f"{self.minutes:.3g}-minute budget ({spent / 60:.1f} min used)."
            )


class Checkpoint(Callback):
    """Save the model to ``path`` whenever the monitored metric improves (rank 0 only).

    ``vocab_path`` (checked now, not at the first save) is stored as a reference with the
    vocabulary's fingerprint, so that loading the model later with another vocabulary is
    caught (see :func:`course_utils.training.checkpoint.load_vocab`).
    """

    def __init__(self, path: str | os.PathLike, vocab_path: str | os.PathLike | None = None):
        if vocab_path is not None and not Path(vocab_path).is_file():
            raise FileNotFoundError(
                f"vocab_path={str(vocab_path)!r} does not exist. Save the vocabulary first "
                "(vocab.save(path)) so the checkpoint can refer to it."
            )
        from course_utils.training import checkpoint  # loaded by the runs that save

        self.save = checkpoint.save_checkpoint
        self.path = Path(path)
        self.vocab_path = None if vocab_path is None else Path(vocab_path)
        self.fingerprint = (
            None if vocab_path is None else checkpoint.read_vocab_fingerprint(Path(vocab_path))
        )

    def on_epoch_end(self, run: Run) -> None:
        if not (run.improved and run.main):
            return
        history = run.history
        self.save(
            self.path,
            run.model,
            vocab_path=self.vocab_path,
            vocab_fingerprint=self.fingerprint,
            extra={
                "epoch": run.epoch,
                "monitor": run.monitor,
                "metric": run.value,
                "valid_loss": history.valid_loss[-1],
                "valid_acc": history.valid_acc[-1],
                "name": history.name,
            },
        )


class BatchScheduler(Callback):
    """Step ``scheduler`` after every batch (a one-cycle or warm-up schedule).

    ``fit(..., scheduler=...)`` steps once per epoch; schedules that change the learning
    rate within an epoch go here instead. Its state travels with a resumed run.
    """

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def on_batch_end(self, run: Run) -> None:
        self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])


class ProgressLog(Callback):
    """Progress bars for epochs and batches, and one printed line per epoch.

    Lines go through ``tqdm.write`` so they stay readable above the bars; the epoch that
    set a new best ends with ``*``. Why the run stopped, and which epoch's weights were
    put back, are printed at the end.
    """

    def __init__(self, refresh_every: int = 10) -> None:
        self.refresh_every = refresh_every
        self.epoch_bar: tqdm | None = None
        self.batch_bar: tqdm | None = None

    def on_fit_start(self, run: Run) -> None:
        if run.resumed_from is not None:
            finished = run.stopping or run.epoch >= run.end_epoch
            tqdm.write(
                f"Resuming {run.history.name}: {run.epoch} epochs done"
                + (", nothing left to train." if finished else ".")
            )
        self.epoch_bar = tqdm(
            total=run.end_epoch, initial=run.epoch, desc=run.history.name, unit="epoch"
        )

    def on_epoch_start(self, run: Run) -> None:
        self.batch_bar = tqdm(
            total=run.batches_per_epoch, desc=f"epoch {run.epoch + 1}", leave=False, unit="batch"
        )

    def on_batch_end(self, run: Run) -> None:
        self.batch_bar.update(1)
        if run.running is not None and (self.batch_bar.n - 1) % self.refresh_every == 0:
            loss, acc = run.running.means()
            self.batch_bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.3f}")

    def on_epoch_end(self, run: Run) -> None:
        self.batch_bar.close()
        h = run.history
        tqdm.write(
            f"epoch {run.epoch:>3} | train loss {h.train_loss[-1]:.4f} "
            f"acc {h.train_acc[-1]:.2%} | valid loss {h.valid_loss[-1]:.4f} "
            f"acc {h.valid_acc[-1]:.2%} | {h.epoch_seconds[-1]:.1f}s"
            + (" *" if run.improved else "")
        )
        self.epoch_bar.set_postfix(valid_acc=f"{h.valid_acc[-1]:.2%}", best_epoch=h.best_epoch)
        self.epoch_bar.update(1)

    def on_fit_end(self, run: Run) -> None:
        for bar in (self.batch_bar, self.epoch_bar):
            if bar is not None:
                bar.close()
        if run.history.stop_reason is not None:
            tqdm.write(run.history.stop_reason)
        best = run.history.best_epoch
        if run.best_state is not None and best is not None and best != run.epoch:
            tqdm.write(f"Restored the weights of epoch {best}.")


class ReportToTrial(Callback):
    """Report the monitored metric of every epoch to an Optuna ``trial``; stop it if pruned.

    The pruner (for example ``optuna.pruners.MedianPruner``) compares the value with other
    trials at the same epoch; when it says prune, the run stops and ``optuna.TrialPruned``
    is raised from :func:`fit`, which tells the study the trial ended early by design.
    Give ``monitor`` to report another metric than the one ``fit`` monitors.
    """

    def __init__(self, trial: Any, monitor: str | None = None) -> None:
        self.trial = trial
        self.monitor = monitor

    def on_epoch_end(self, run: Run) -> None:
        monitor = self.monitor or run.monitor
        value = getattr(run.history, monitor)[-1]
        self.trial.report(value, step=run.epoch)
        if self.trial.should_prune():
            import optuna

            run.stop(f"Pruned: {monitor} {value:.4g} after epoch {run.epoch}.")
            raise optuna.TrialPruned(run.history.stop_reason)
