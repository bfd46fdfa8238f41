"""The one training loop of the course: :func:`fit` and :func:`evaluate`.

Lesson 02 writes this loop by hand; ``fit`` is that loop plus what every lesson needs: for
each epoch, train (forward, loss, backward, clip, step), validate, record the epoch, keep
the best epoch's weights; end with them. How a batch becomes a loss is a
:mod:`~course_utils.training.tasks` task; anything optional (early stopping, a time budget,
checkpoints, per-batch schedules, Optuna) is a :mod:`~course_utils.training.callbacks`
callback; ``resume=path`` continues a killed run. Under ``torchrun`` the same call trains
with DistributedDataParallel: each rank trains on its shard, only rank 0 prints and saves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils import config, distributed
from course_utils.models.common import eval_mode, model_device
from course_utils.progress import tqdm
from course_utils.training.callbacks import Callback, ProgressLog, Run
from course_utils.training.history import History
from course_utils.training.tasks import Classification, StepResult, Task

MONITORS = ("valid_acc", "valid_loss", "train_acc", "train_loss")

__all__ = ["MONITORS", "Totals", "evaluate", "fit", "train_epoch"]


class Totals:
    """Sums over one pass (loss × units, correct units, units): training and evaluation share it.

    Sums stay on the device (float64, or float32 on Apple's MPS, which has none) so a step
    costs no synchronisation; :meth:`result` reads them once, summed over torchrun's ranks.
    """

    def __init__(self, device: torch.device) -> None:
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.device, self.count = device, 0
        self.loss = torch.zeros((), dtype=dtype, device=device)
        self.correct = torch.zeros((), dtype=dtype, device=device)

    def add(self, step: StepResult) -> None:
        self.loss += step.loss.detach().to(self.loss.dtype) * step.count
        self.correct += step.correct
        self.count += step.count

    def means(self) -> tuple[float, float]:
        """Mean loss and accuracy so far on this rank (progress bars call it sparingly)."""
        n = max(self.count, 1)
        return self.loss.item() / n, self.correct.item() / n

    def result(self, empty_message: str) -> dict:
        """``{"loss": mean, "acc": mean, "n": units}`` over every rank."""
        sums = [self.loss.item(), self.correct.item(), float(self.count)]
        loss, correct, n = distributed.all_reduce_sum(sums, self.device)
        if n == 0:
            raise ValueError(empty_message)
        return {"loss": loss / n, "acc": correct / n, "n": int(n)}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable,
    *,
    task: Task | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    desc: str = "evaluating",
) -> dict:
    """Mean loss per unit, accuracy and number of units (``n``) of ``model`` on ``loader``.

    Units are what ``task`` counts (reviews by default; tokens for tagging, language models
    and translation). Runs in eval mode without gradients, then gives the model back in
    the mode it was in; ``device`` defaults to the model's.
    """
    module = distributed.unwrap(model)
    device = torch.device(device) if device is not None else model_device(module)
    task = task if task is not None else Classification()
    task.start_epoch(training=False)
    totals = Totals(device)
    show = progress and distributed.is_main_process()
    with eval_mode(module):
        for batch in tqdm(loader, desc=desc, leave=False, disable=not show):
            totals.add(task.step(module, batch, loss_fn, device, training=False))
    return totals.result("The loader yielded no examples: nothing to evaluate.")


def train_epoch(
    run: Run,
    loader: Iterable,
    loss_fn: Callable,
    task: Task,
    clip_grad_norm: float | None = None,
    callbacks: Sequence[Callback] = (),
) -> dict:
    """One pass of gradient steps over ``loader``; its mean loss and accuracy, as ``evaluate``."""
    for sampler in {id(s): s for s in (getattr(loader, "batch_sampler", None),
                                        getattr(loader, "sampler", None))}.values():  # fmt: skip
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(run.epoch)  # a new shuffle every epoch
    run.train_model.train()
    task.start_epoch(training=True)
    run.running = totals = Totals(run.device)
    for batch in loader:
        run.optimizer.zero_grad(set_to_none=True)
        step = task.step(run.train_model, batch, loss_fn, run.device, training=True)
        step.loss.backward()
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(run.model.parameters(), clip_grad_norm)
        run.optimizer.step()
        totals.add(step)
        _notify(callbacks, "on_batch_end", run)
    return totals.result("The training loader yielded no examples.")


def _notify(callbacks: Sequence[Callback], hook: str, run: Run) -> None:
    """Call every callback's ``hook`` (``"on_epoch_end"``, ...) with the run."""
    for callback in callbacks:
        getattr(callback, hook)(run)


def _run_file(path: str | Path | None, run: Run, callbacks: Sequence[Callback]) -> Any:
    """``fit(resume=path)``'s file, after restoring the run a killed one left in it."""
    if path is None:
        return None
    from course_utils.training.resume import RunFile  # loaded by the runs that resume

    run_file = RunFile(path)
    run_file.restore(run, callbacks)
    return run_file


def _step_scheduler(scheduler: Any, run: Run) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(run.value)  # it needs the monitored metric
    elif scheduler is not None:
        scheduler.step()


def _checked(epochs: int, monitor: str, callbacks: Sequence[Callback]) -> list[Callback]:
    if epochs < 0:
        raise ValueError(f"epochs must be 0 or more, got {epochs}.")
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {', '.join(MONITORS)}; got {monitor!r}.")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(
                "callbacks must be course_utils.training.callbacks.Callback objects, got "
                f"{type(callback).__name__}."
            )
    return list(callbacks)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    valid_loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable,
    epochs: int,
    *,
    task: Task | None = None,
    clip_grad_norm: float | None = None,
    scheduler: Any = None,
    monitor: str = "valid_acc",
    callbacks: Sequence[Callback] = (),
    resume: str | Path | None = None,
    name: str | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place for up to ``epochs`` epochs; return its :class:`History`.

    After every epoch the model is validated; ``monitor`` names the metric that decides the
    best epoch (accuracies: higher is better; losses: lower), whose weights the run ends
    with. ``clip_grad_norm`` caps the gradients' total norm; ``scheduler`` is stepped once
    per epoch (``ReduceLROnPlateau`` gets the monitored metric). ``seed`` seeds every
    generator first. ``resume`` names a file that holds the whole run after every epoch
    while it is unfinished: if a killed run left it, training continues after its last
    epoch and ends with the same weights as a run never interrupted (on the CPU); a run
    that ends normally deletes it. ``progress`` adds a :class:`ProgressLog`.
    """
    callbacks = _checked(epochs, monitor, callbacks)
    if seed is not None:
        config.seed_everything(seed + distributed.rank())
    module, train_model, device = distributed.place(model, device)
    task = task if task is not None else Classification()
    history = History(name=name or type(module).__name__, monitor=monitor, unit=task.unit)
    run = Run(module, optimizer, history, epochs, train_model, device, scheduler)
    run.main, run.batches_per_epoch = distributed.is_main_process(), _length(train_loader)
    run.show = progress and run.main
    callbacks = [ProgressLog()] * run.show + callbacks
    run_file = _run_file(resume, run, callbacks)
    _notify(callbacks, "on_fit_start", run)
    try:
        while run.epoch < epochs and not run.stopping:
            _notify(callbacks, "on_epoch_start", run)
            start, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            train = train_epoch(run, train_loader, loss_fn, task, clip_grad_norm, callbacks)
            train_seconds = time.perf_counter() - start
            valid = evaluate(module, valid_loader, loss_fn, task=task, progress=run.show)
            history.record_epoch(train, valid, lr, train_seconds, time.perf_counter() - start)
            run.keep_if_best()
            _step_scheduler(scheduler, run)
            _notify(callbacks, "on_epoch_end", run)
            if run_file is not None:
                run_file.save(run, callbacks)
        if run_file is not None:
            run_file.remove()  # finished: a new call starts a new run
    finally:
        run.restore_best()
        _notify(callbacks, "on_fit_end", run)
    distributed.finish(module)
    return history


def _length(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None
