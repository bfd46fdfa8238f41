"""The one training loop of the course: ``fit``, ``evaluate``, ``predict`` and ``History``.

Every lesson trains with :func:`fit`; the caller chooses the model, optimizer and loss,
and ``fit`` does the rest the same way everywhere:

* device placement (GPU when there is one; ``lengths`` stay on the CPU for packing),
* per-example loss and accuracy for binary (one logit) and multi-class (C logits) models,
  or per token for taggers, language models and seq2seq (a :mod:`course_utils.tasks` task),
* gradient clipping, early stopping and keeping (and restoring) the best weights,
* a checkpoint of the best model with a reference to its vocabulary,
* ``tqdm`` progress bars and a :class:`History` for plots and result tables,
* deterministic seeding, and
* DistributedDataParallel when the same script is launched with ``torchrun``.

By default batches are ``(tokens [B, T], lengths [B], labels [B])`` as
:class:`course_utils.data.batching.PadCollate` makes them, and models are called as
``model(tokens, lengths)``; other tasks define their own batch layout.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from course_utils import config, distributed
from course_utils.checkpoint import save_checkpoint
from course_utils.distributed import unwrap
from course_utils.tasks import Classification, Task, batch_metrics

MONITORS = ("valid_acc", "valid_loss", "train_acc", "train_loss")

__all__ = [
    "History",
    "Task",
    "batch_metrics",
    "evaluate",
    "fit",
    "predict",
]


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """What happened in each epoch of a run: losses, accuracies, timings and the best epoch.

    Epochs are numbered from 1: ``best_epoch = 3`` means the third entry of each list.
    ``epoch_seconds`` is the wall time of whole epochs (training, validation,
    checkpointing), ``train_seconds`` of the training part only, and
    ``train_examples_per_second`` the training throughput (reviews per second for IMDb).
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
    unit: str = "example"

    def __len__(self) -> int:
        return len(self.train_loss)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    @property
    def reviews_per_second(self) -> float:
        """Mean training throughput over all epochs (examples per second)."""
        values = self.train_examples_per_second
        return sum(values) / len(values) if values else math.nan

    @property
    def best_valid_acc(self) -> float:
        """Validation accuracy of the best epoch (the weights ``restore_best`` keeps)."""
        if not self.valid_acc:
            return math.nan
        if self.best_epoch is not None and 1 <= self.best_epoch <= len(self.valid_acc):
            return self.valid_acc[self.best_epoch - 1]
        return max(self.valid_acc)

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
            "examples_per_second": self.reviews_per_second,
        }

    def as_rows(self) -> list[dict]:
        """One dict per epoch (epoch, losses, accuracies, seconds), e.g. for a DataFrame."""
        rows = []
        for i in range(self.epochs):
            row: dict[str, Any] = {"epoch": i + 1}
            for key in (
                "train_loss",
                "train_acc",
                "valid_loss",
                "valid_acc",
                "epoch_seconds",
                "train_examples_per_second",
            ):
                values = getattr(self, key)
                row[key] = values[i] if i < len(values) else None
            rows.append(row)
        return rows

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON (atomically), e.g. to compare runs across sessions."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"No saved history at {path}. Save one with history.save(path)."
            )
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- metrics


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _acc_dtype(device: torch.device) -> torch.dtype:
    """Accumulate sums in float64, except on Apple's MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _dist_ready() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce(values: list[float], device: torch.device) -> list[float]:
    """Sum a few numbers over all ranks (no-op when not distributed)."""
    if not _dist_ready():
        return values
    if dist.get_backend() == "nccl" and device.type != "cuda":
        device = distributed.distributed_device() or device
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def _broadcast_state(module: nn.Module) -> None:
    """Make every rank hold rank 0's parameters and buffers."""
    if not _dist_ready():
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


# --------------------------------------------------------------------------- evaluate / predict


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
    device = torch.device(device) if device is not None else _model_device(module)
    was_training = module.training
    module.eval()
    task = task if task is not None else Classification()
    task.start_epoch(training=False)
    total_loss = torch.zeros((), dtype=_acc_dtype(device), device=device)
    total_correct = torch.zeros((), dtype=_acc_dtype(device), device=device)
    n = 0
    show = progress and distributed.is_main_process()
    try:
        for batch in tqdm(loader, desc=desc, leave=False, disable=not show):
            result = task.step(module, batch, loss_fn, device, training=False)
            total_loss += result.loss.to(total_loss.dtype) * result.count
            total_correct += result.correct
            n += result.count
    finally:
        module.train(was_training)
    loss_sum, correct_sum, n_sum = _all_reduce(
        [total_loss.item(), total_correct.item(), float(n)], device
    )
    if n_sum == 0:
        raise ValueError("The loader yielded no examples: nothing to evaluate.")
    return {"loss": loss_sum / n_sum, "acc": correct_sum / n_sum, "n": int(n_sum)}


@torch.no_grad()
def predict(
    model: nn.Module, loader: Iterable, *, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(probabilities, labels)`` for every example, in the loader's order, on the CPU.

    A binary model (one logit) gives ``[N]`` probabilities of the positive class
    (sigmoid); a multi-class model ``[N, C]`` softmax probabilities. Under ``torchrun``
    each rank returns the predictions of its own shard.
    """
    module = unwrap(model)
    device = torch.device(device) if device is not None else _model_device(module)
    was_training = module.training
    module.eval()
    probs, all_labels = [], []
    try:
        for batch in loader:
            tokens, lengths, labels = batch
            logits = module(tokens.to(device), lengths.cpu())
            labels = labels.to(device)
            if logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1):
                probs.append(torch.sigmoid(logits.reshape(-1)).float().cpu())
            else:
                probs.append(torch.softmax(logits, dim=-1).float().cpu())
            all_labels.append(labels.cpu())
    finally:
        module.train(was_training)
    if not probs:
        raise ValueError("The loader yielded no examples: nothing to predict.")
    return torch.cat(probs), torch.cat(all_labels)


# --------------------------------------------------------------------------- fit


def _mode_of(monitor: str) -> str:
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {', '.join(MONITORS)}; got {monitor!r}.")
    return "max" if monitor.endswith("acc") else "min"


def _improved(value: float, best: float | None, mode: str) -> bool:
    if math.isnan(value):
        return False
    if best is None or math.isnan(best):
        return True
    return value > best if mode == "max" else value < best


def _set_epoch(loader: Iterable, epoch: int) -> None:
    """Tell the loader's (batch) sampler which epoch starts: a new shuffle each epoch."""
    seen = set()
    for name in ("batch_sampler", "sampler"):
        obj = getattr(loader, name, None)
        if obj is not None and id(obj) not in seen and hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
            seen.add(id(obj))


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def _current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"]) if optimizer.param_groups else math.nan


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


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
) -> History:
    """Train ``model`` for up to ``epochs`` epochs and return its :class:`History`.

    The model is trained in place. After every epoch it is evaluated on
    ``valid_loader``; when the ``monitor``-ed metric (``"valid_acc"``: higher is
    better, ``"valid_loss"``: lower is better) improves, the weights are kept in
    memory and, with ``checkpoint_path``, saved there (with ``vocab_path`` as the
    vocabulary reference). Training stops early after ``early_stopping_patience``
    epochs without improvement, and ``restore_best`` puts the best weights back.

    ``device`` defaults to :func:`course_utils.config.get_device`. ``clip_grad_norm``
    rescales the gradients so their total norm is at most that value. ``seed`` calls
    :func:`course_utils.config.seed_everything` first (seed the model's construction
    yourself too). ``scheduler`` is stepped once per epoch (``ReduceLROnPlateau`` gets
    the monitored metric) or, with ``scheduler_interval="batch"``, after every batch.
    Passing the ``history`` of an earlier ``fit`` continues it: epochs are appended and
    only an epoch better than its ``best_metric`` counts as an improvement.

    ``task`` says how a batch becomes a loss (see :mod:`course_utils.tasks`): the
    default :class:`~course_utils.tasks.Classification` (one label per sequence),
    ``TokenClassification`` (tagging), ``LanguageModelling`` (next token, optionally
    with the hidden state carried between chunks) or ``Seq2Seq`` (teacher forcing).
    Losses and accuracies in the history are means over the task's units.

    Under ``torchrun`` the model is wrapped in DistributedDataParallel, each rank
    trains on its shard (``BucketBatchSampler`` shards automatically, and must give
    every rank the same number of batches), metrics are summed over ranks, only rank
    0 prints and saves, and every rank ends with the same weights.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be 0 or more, got {epochs}.")
    if early_stopping_patience is not None and early_stopping_patience < 1:
        raise ValueError(
            f"early_stopping_patience must be at least 1 (or None), got {early_stopping_patience}."
        )
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(
            f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}."
        )
    mode = _mode_of(monitor)
    if vocab_path is not None and not Path(vocab_path).is_file():
        raise FileNotFoundError(
            f"vocab_path={str(vocab_path)!r} does not exist. Save the vocabulary first "
            "(vocab.save(path)) so the checkpoint can refer to it."
        )

    is_dist = distributed.init_distributed()
    rank = distributed.rank()
    main = distributed.is_main_process()
    if seed is not None:
        config.seed_everything(seed + rank)
    module = unwrap(model)  # the plain model: evaluated, saved and restored
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

    task = task if task is not None else Classification()
    if history is None:
        history = History(name=name or type(module).__name__, monitor=monitor, unit=task.unit)
        best = None
    else:
        if name is not None:
            history.name = name
        best = history.best_metric if history.monitor == monitor else None
        history.monitor = monitor
    vocab_fingerprint = None
    if vocab_path is not None and main and checkpoint_path is not None:
        from course_utils.data.text import Vocab

        vocab_fingerprint = Vocab.load(vocab_path).fingerprint

    show = progress and main
    start_epoch = history.epochs
    best_state = _snapshot(module) if best is not None and restore_best else None
    bad_epochs = 0
    history.stopped_early = False
    epoch_bar = tqdm(
        range(start_epoch, start_epoch + epochs),
        desc=history.name or "training",
        unit="epoch",
        disable=not show,
    )
    for epoch in epoch_bar:
        epoch_start = time.perf_counter()
        _set_epoch(train_loader, epoch)
        train_model.train()
        total_loss = torch.zeros((), dtype=_acc_dtype(device), device=device)
        total_correct = torch.zeros((), dtype=_acc_dtype(device), device=device)
        n = 0
        lr = _current_lr(optimizer)
        task.start_epoch(training=True)
        batch_bar = tqdm(
            train_loader, desc=f"epoch {epoch + 1}", leave=False, unit="batch", disable=not show
        )
        for step, batch in enumerate(batch_bar):
            optimizer.zero_grad(set_to_none=True)
            result = task.step(train_model, batch, loss_fn, device, training=True)
            loss = result.loss
            loss.backward()
            if clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(module.parameters(), clip_grad_norm)
            optimizer.step()
            if scheduler is not None and scheduler_interval == "batch":
                scheduler.step()
            total_loss += loss.detach().to(total_loss.dtype) * result.count
            total_correct += result.correct
            n += result.count
            if show and (step % 10 == 0):
                batch_bar.set_postfix(
                    loss=f"{total_loss.item() / n:.4f}", acc=f"{total_correct.item() / n:.3f}"
                )
        batch_bar.close()
        loss_sum, correct_sum, n_sum = _all_reduce(
            [total_loss.item(), total_correct.item(), float(n)], device
        )
        train_seconds = time.perf_counter() - epoch_start
        if n_sum == 0:
            raise ValueError("The training loader yielded no examples.")

        valid = evaluate(module, valid_loader, loss_fn, device=device, progress=show, task=task)
        history.train_loss.append(loss_sum / n_sum)
        history.train_acc.append(correct_sum / n_sum)
        history.valid_loss.append(valid["loss"])
        history.valid_acc.append(valid["acc"])
        history.train_seconds.append(train_seconds)
        history.train_examples_per_second.append(
            n_sum / train_seconds if train_seconds else math.nan
        )
        history.learning_rate.append(lr)
        value = getattr(history, monitor)[-1]

        if _improved(value, best, mode):
            best = value
            bad_epochs = 0
            history.best_epoch = epoch + 1
            history.best_metric = value
            if restore_best:
                best_state = _snapshot(module)
            if checkpoint_path is not None and main:
                save_checkpoint(
                    checkpoint_path,
                    module,
                    vocab_path=vocab_path,
                    vocab_fingerprint=vocab_fingerprint,
                    extra={
                        "epoch": epoch + 1,
                        "monitor": monitor,
                        "metric": value,
                        "valid_loss": valid["loss"],
                        "valid_acc": valid["acc"],
                        "name": history.name,
                    },
                )
        else:
            bad_epochs += 1

        if scheduler is not None and scheduler_interval == "epoch":
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(value)
            else:
                scheduler.step()
        history.epoch_seconds.append(time.perf_counter() - epoch_start)

        if show:
            line = (
                f"epoch {epoch + 1:>3} | train loss {history.train_loss[-1]:.4f} "
                f"acc {history.train_acc[-1]:.2%} | valid loss {valid['loss']:.4f} "
                f"acc {valid['acc']:.2%} | {history.epoch_seconds[-1]:.1f}s"
                + (" *" if history.best_epoch == epoch + 1 else "")
            )
            epoch_bar.set_postfix(valid_acc=f"{valid['acc']:.2%}", best_epoch=history.best_epoch)
            tqdm.write(line)
        if early_stopping_patience is not None and bad_epochs >= early_stopping_patience:
            history.stopped_early = True
            if show:
                tqdm.write(
                    f"Stopping early: {monitor} has not improved for {bad_epochs} epochs "
                    f"(best {_fmt(history.best_metric)} at epoch {history.best_epoch})."
                )
            break
    epoch_bar.close()

    if restore_best and best_state is not None:
        module.load_state_dict(best_state)
        if show and history.best_epoch is not None and history.best_epoch != history.epochs:
            tqdm.write(f"Restored the weights of epoch {history.best_epoch}.")
    if is_dist:
        _broadcast_state(module)  # identical weights on every rank, whatever happened
        dist.barrier()  # the checkpoint is on disk before any rank goes on
    return history
