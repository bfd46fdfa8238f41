"""The one training loop of the course: :func:`fit` and :func:`evaluate`.

Every lesson trains with :func:`fit`; the caller chooses the model, optimizer and loss.
The loop itself is short: for each epoch, train on every batch (optimizer step, optional
gradient clipping and per-batch scheduler), validate, record the epoch in the
:class:`~course_utils.history.History`, step a per-epoch scheduler. Everything around
it is a callback (:mod:`course_utils.callbacks`), chosen from ``fit``'s arguments:

* ``restore_best`` → :class:`~course_utils.callbacks.KeepBest` (always tracks the best epoch),
* ``early_stopping_patience`` → :class:`~course_utils.callbacks.EarlyStopping`,
* ``budget_minutes`` → :class:`~course_utils.callbacks.TimeBudget`,
* ``checkpoint_path`` / ``vocab_path`` → :class:`~course_utils.callbacks.Checkpoint`,
* ``progress`` → :class:`~course_utils.callbacks.ProgressLog`,
* ``callbacks=[...]`` → your own, e.g. :class:`~course_utils.callbacks.ReportToTrial`;

``resume=path`` saves the whole run after every epoch and continues a killed one
(:mod:`course_utils.resume`). What one step means for each kind of model (a label per
review, per token, the next character, a translation) is a :mod:`course_utils.tasks` task.
Under ``torchrun`` the same call trains with DistributedDataParallel: each rank trains on
its shard (``BucketBatchSampler`` shards automatically and gives every rank the same
number of batches), metrics are summed over ranks, only rank 0 prints and saves, and every
rank ends with the same weights. A resumed distributed run continues from rank 0's state.

By default batches are ``(tokens [B, T], lengths [B], labels [B])`` as
:class:`course_utils.data.batching.PadCollate` makes them, and models are called as
``model(tokens, lengths)``; other tasks define their own batch layout.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from course_utils import config, distributed
from course_utils.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochTotals,
    KeepBest,
    ProgressLog,
    Run,
    TimeBudget,
    existing_vocab_path,
)
from course_utils.distributed import unwrap
from course_utils.helpers import eval_mode, model_device
from course_utils.history import History
from course_utils.progress import tqdm
from course_utils.resume import load_training_state, save_training_state
from course_utils.tasks import Classification, Task, batch_metrics

MONITORS = ("valid_acc", "valid_loss", "train_acc", "train_loss")

__all__ = ["MONITORS", "Task", "batch_metrics", "evaluate", "fit"]


def _acc_dtype(device: torch.device) -> torch.dtype:
    """Accumulate sums in float64, except on Apple's MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable,
    *,
    device: torch.device | str | None = None,
    progress: bool = False,
    desc: str = "evaluating",
    task: Task | None = None,
) -> dict:
    """Mean loss per unit, accuracy and number of units of ``model`` on ``loader``.

    Units are what ``task`` counts (default :class:`~course_utils.tasks.Classification`:
    examples; tagging, language models and seq2seq: tokens).

    Runs in eval mode without gradients and puts the model back in the mode it was in.
    ``device`` defaults to the device the model is on. Under ``torchrun`` the sums are
    added over all ranks, so every rank gets the metrics of the whole data set (give
    each rank its own shard, as ``BucketBatchSampler(shuffle=False)`` does).
    """
    module = unwrap(model)
    device = torch.device(device) if device is not None else model_device(module)
    task = task if task is not None else Classification()
    task.start_epoch(training=False)
    total_loss = torch.zeros((), dtype=_acc_dtype(device), device=device)
    total_correct = torch.zeros((), dtype=_acc_dtype(device), device=device)
    n = 0
    show = progress and distributed.is_main_process()
    with eval_mode(module):
        for batch in tqdm(loader, desc=desc, leave=False, disable=not show):
            result = task.step(module, batch, loss_fn, device, training=False)
            total_loss += result.loss.to(total_loss.dtype) * result.count
            total_correct += result.correct
            n += result.count
    loss_sum, correct_sum, n_sum = distributed.all_reduce_sum(
        [total_loss.item(), total_correct.item(), float(n)], device
    )
    if n_sum == 0:
        raise ValueError("The loader yielded no examples: nothing to evaluate.")
    return {"loss": loss_sum / n_sum, "acc": correct_sum / n_sum, "n": int(n_sum)}


def _set_epoch(loader: Iterable, epoch: int) -> None:
    """Tell the loader's (batch) sampler which epoch starts: a new shuffle each epoch."""
    seen = set()
    for name in ("batch_sampler", "sampler"):
        obj = getattr(loader, name, None)
        if obj is not None and id(obj) not in seen and hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
            seen.add(id(obj))


def _current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"]) if optimizer.param_groups else math.nan


def _length(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _check_arguments(
    epochs: int, monitor: str, scheduler_interval: str, history: History | None, resume: Any
) -> None:
    if epochs < 0:
        raise ValueError(f"epochs must be 0 or more, got {epochs}.")
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {', '.join(MONITORS)}; got {monitor!r}.")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(
            f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}."
        )
    if history is not None and resume is not None:
        raise ValueError(
            "Give either history= (continue a run in this session) or resume= (continue a "
            "run from its file), not both: the file already holds the run's history."
        )


def _place_model(
    model: nn.Module, device: torch.device | str | None
) -> tuple[nn.Module, nn.Module, torch.device]:
    """``(plain model, model to train, device)``: on the device, wrapped in DDP under torchrun."""
    is_dist = distributed.init_distributed()
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module  # wrapped again below, on this call's device
    if is_dist:
        device = distributed.distributed_device()
    device = torch.device(device) if device is not None else config.get_device()
    model.to(device)
    train_model: nn.Module = model  # keeps a torch.compile wrapper, if any
    if is_dist:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    return unwrap(model), train_model, device


def _start_history(
    history: History | None, name: str | None, model: nn.Module, monitor: str, unit: str
) -> History:
    if history is None:
        return History(name=name or type(model).__name__, monitor=monitor, unit=unit)
    if name is not None:
        history.name = name
    if history.monitor != monitor:  # another metric: the old best says nothing about it
        history.best_epoch = history.best_metric = None
    history.monitor = monitor
    history.stopped_early, history.stop_reason = False, None
    return history


@dataclass
class _Setup:
    """What every epoch of one ``fit`` call uses, gathered so the loop reads short."""

    train_model: nn.Module  # the model itself, or its DistributedDataParallel wrapper
    train_loader: Iterable
    valid_loader: Iterable
    loss_fn: Callable
    task: Task
    device: torch.device
    clip_grad_norm: float | None
    scheduler: Any
    scheduler_interval: str
    resume: str | os.PathLike | None

    @property
    def batch_scheduler(self) -> Any:
        return self.scheduler if self.scheduler_interval == "batch" else None

    @property
    def epoch_scheduler(self) -> Any:
        return self.scheduler if self.scheduler_interval == "epoch" else None


def _start_run(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    history: History,
    epochs: int,
    show: bool,
    train_loader: Iterable,
) -> Run:
    return Run(
        model=module,
        optimizer=optimizer,
        history=history,
        end_epoch=history.epochs + epochs,
        scheduler=scheduler,
        main=distributed.is_main_process(),
        show=show,
        batches_per_epoch=_length(train_loader),
    )


def _train_one_epoch(
    run: Run, setup: _Setup, callbacks: Sequence[Callback]
) -> tuple[float, float, float]:
    """Train on every batch once; ``(loss sum, correct, units)`` summed over all ranks."""
    _set_epoch(setup.train_loader, run.epoch)
    setup.train_model.train()
    zero = torch.zeros((), dtype=_acc_dtype(setup.device), device=setup.device)
    run.running = totals = EpochTotals(loss=zero.clone(), correct=zero.clone())
    setup.task.start_epoch(training=True)
    for batch in setup.train_loader:
        run.optimizer.zero_grad(set_to_none=True)
        result = setup.task.step(
            setup.train_model, batch, setup.loss_fn, setup.device, training=True
        )
        result.loss.backward()
        if setup.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), setup.clip_grad_norm)
        run.optimizer.step()
        if setup.batch_scheduler is not None:
            setup.batch_scheduler.step()
        totals.loss += result.loss.detach().to(totals.loss.dtype) * result.count
        totals.correct += result.correct
        totals.count += result.count
        for callback in callbacks:
            callback.on_batch_end(run)
    loss_sum, correct_sum, n_sum = distributed.all_reduce_sum(
        [totals.loss.item(), totals.correct.item(), float(totals.count)], setup.device
    )
    if n_sum == 0:
        raise ValueError("The training loader yielded no examples.")
    return loss_sum, correct_sum, n_sum


def _run_epochs(run: Run, setup: _Setup, callbacks: Sequence[Callback]) -> None:
    """The loop: epochs until ``end_epoch`` or a callback stops the run."""
    while run.epoch < run.end_epoch and not run.stopping:
        epoch_start = time.perf_counter()
        lr = _current_lr(run.optimizer)
        for callback in callbacks:
            callback.on_epoch_start(run)
        train = _train_one_epoch(run, setup, callbacks)
        train_seconds = time.perf_counter() - epoch_start
        valid = evaluate(
            run.model,
            setup.valid_loader,
            setup.loss_fn,
            device=setup.device,
            progress=run.show,
            task=setup.task,
        )
        _record_epoch(run.history, train, valid, lr, train_seconds)
        if setup.epoch_scheduler is not None:
            _step_epoch_scheduler(setup.epoch_scheduler, run)
        run.history.epoch_seconds.append(time.perf_counter() - epoch_start)
        for callback in callbacks:
            callback.on_epoch_end(run)
        if setup.resume is not None and run.main:
            save_training_state(setup.resume, run, callbacks)


def _record_epoch(
    history: History, train: tuple[float, float, float], valid: dict, lr: float, seconds: float
) -> None:
    loss_sum, correct_sum, n_sum = train
    history.train_loss.append(loss_sum / n_sum)
    history.train_acc.append(correct_sum / n_sum)
    history.valid_loss.append(valid["loss"])
    history.valid_acc.append(valid["acc"])
    history.train_seconds.append(seconds)
    history.train_examples_per_second.append(n_sum / seconds if seconds else math.nan)
    history.learning_rate.append(lr)


def _step_epoch_scheduler(scheduler: Any, run: Run) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(run.value)
    else:
        scheduler.step()


def _standard_callbacks(
    *,
    restore_best: bool,
    early_stopping_patience: int | None,
    budget_minutes: float | None,
    checkpoint_path: str | os.PathLike | None,
    vocab_path: str | os.PathLike | None,
    show: bool,
    extra: Sequence[Callback],
) -> list[Callback]:
    """The callbacks ``fit``'s arguments ask for, in the order they must run, then ``extra``."""
    for callback in extra:
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks must be course_utils.callbacks.Callback objects, got "
                f"{type(callback).__name__}."
            )
    chosen: list[Callback] = [KeepBest(restore=restore_best)]  # decides what "best" is
    if early_stopping_patience is not None:
        chosen.append(EarlyStopping(early_stopping_patience))
    if budget_minutes is not None:
        chosen.append(TimeBudget(budget_minutes))
    if checkpoint_path is not None:
        chosen.append(Checkpoint(checkpoint_path, vocab_path))  # checks vocab_path too
    else:
        existing_vocab_path(vocab_path)  # a missing file is an error even without a checkpoint
    if show:
        chosen.append(ProgressLog())
    return chosen + list(extra)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    valid_loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable,
    epochs: int,
    *,
    device: torch.device | str | None = None,
    clip_grad_norm: float | None = None,
    early_stopping_patience: int | None = None,
    budget_minutes: float | None = None,
    monitor: str = "valid_acc",
    checkpoint_path: str | os.PathLike | None = None,
    vocab_path: str | os.PathLike | None = None,
    restore_best: bool = True,
    progress: bool = True,
    seed: int | None = None,
    scheduler: Any = None,
    scheduler_interval: str = "epoch",
    history: History | None = None,
    name: str | None = None,
    task: Task | None = None,
    callbacks: Sequence[Callback] = (),
    resume: str | os.PathLike | None = None,
) -> History:
    """Train ``model`` in place for up to ``epochs`` epochs and return its :class:`History`.

    After every epoch the model is evaluated on ``valid_loader``; ``monitor`` names the
    metric that decides the best epoch (accuracies: higher is better, losses: lower).
    ``restore_best`` ends with the best epoch's weights, ``checkpoint_path`` saves them
    whenever they improve (``vocab_path``: the vocabulary they need), and training stops
    after ``early_stopping_patience`` epochs without a new best, or when another epoch
    would overrun ``budget_minutes``. ``callbacks`` are run after these standard ones.

    ``clip_grad_norm`` caps the gradients' total norm. ``seed`` calls
    :func:`course_utils.config.seed_everything` first (seed the model's construction
    yourself too). ``scheduler`` is stepped once per epoch (``ReduceLROnPlateau`` gets the
    monitored metric) or, with ``scheduler_interval="batch"``, after every batch.

    ``history`` (from an earlier ``fit``) continues that run in this session; ``resume``
    names a file that holds the whole run after every epoch: if it exists, training
    continues after its last completed epoch (a finished run returns at once), and on the
    CPU ends with the same weights as a run never interrupted. ``task`` says how a batch
    becomes a loss (:mod:`course_utils.tasks`); under ``torchrun`` see the module notes.
    """
    _check_arguments(epochs, monitor, scheduler_interval, history, resume)
    show = progress and distributed.is_main_process()
    callback_list = _standard_callbacks(
        restore_best=restore_best,
        early_stopping_patience=early_stopping_patience,
        budget_minutes=budget_minutes,
        checkpoint_path=checkpoint_path,
        vocab_path=vocab_path,
        show=show,
        extra=callbacks,
    )
    if seed is not None:
        config.seed_everything(seed + distributed.rank())
    module, train_model, device = _place_model(model, device)
    task = task if task is not None else Classification()
    history = _start_history(history, name, module, monitor, task.unit)
    run = _start_run(module, optimizer, scheduler, history, epochs, show, train_loader)
    if resume is not None and Path(resume).exists():
        load_training_state(resume, run, callback_list)
    setup = _Setup(
        train_model, train_loader, valid_loader, loss_fn, task, device, clip_grad_norm,
        scheduler, scheduler_interval, resume,
    )  # fmt: skip
    for callback in callback_list:
        callback.on_fit_start(run)
    try:
        _run_epochs(run, setup, callback_list)
    finally:
        for callback in callback_list:
            callback.on_fit_end(run)
    if distributed.process_group_ready():
        distributed.broadcast_state(module)  # identical weights on every rank, whatever happened
        dist.barrier()  # the checkpoint is on disk before any rank goes on
    return history
