"""What one training step means for each kind of model, so one ``fit`` trains them all.

:func:`course_utils.training.loop.fit` owns everything that is the same for every model
(devices, optimiser steps, clipping, early stopping, checkpoints, progress bars,
history, DistributedDataParallel). What differs is how a batch becomes a loss:

* :class:`Classification`: one label per sequence (IMDb). The default.
* :class:`TokenClassification`: one label per token (part-of-speech tagging);
  padded positions never count, in the loss or in the accuracy.
* :class:`LanguageModelling`: predict the next token at every position; with
  ``stateful=True`` the hidden state is carried (detached) from one chunk of a
  stream to the next: truncated backpropagation through time.
* :class:`Seq2Seq`: an encoder–decoder trained with teacher forcing; padded target
  positions never count.

A task's :meth:`Task.step` returns the *mean* loss over the units it counts
(examples or tokens), the number of correct predictions and the number of units,
so that ``fit`` can add up exact per-unit averages over an epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from course_utils.models.common import is_binary_logits

__all__ = [
    "Classification",
    "LanguageModelling",
    "Seq2Seq",
    "StepResult",
    "Task",
    "TokenClassification",
    "batch_metrics",
    "length_mask",
    "to_device",
]


@dataclass
class StepResult:
    """One batch's ``loss`` (mean over ``count`` units), ``correct`` predictions and ``count``."""

    loss: torch.Tensor
    correct: torch.Tensor
    count: int


def to_device(obj: Any, device: torch.device) -> Any:
    """Move a tensor, or every tensor inside nested tuples / lists / dicts, to ``device``."""
    non_blocking = device.type == "cuda"
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, tuple | list):
        return type(obj)(to_device(item, device) for item in obj)
    if isinstance(obj, dict):
        return {key: to_device(value, device) for key, value in obj.items()}
    return obj


def length_mask(lengths: torch.Tensor, max_len: int, device: torch.device) -> torch.Tensor:
    """``[B, max_len]`` boolean mask, True at the real (non-padded) positions."""
    positions = torch.arange(max_len, device=device)
    return positions.unsqueeze(0) < lengths.to(device).unsqueeze(1)


def batch_metrics(
    logits: torch.Tensor, labels: torch.Tensor, loss_fn: Callable
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean loss over the batch, number of correct predictions)`` for one batch.

    One logit per example (``[B]`` or ``[B, 1]``) is a binary classifier: the loss is
    ``loss_fn(logits.view(-1), labels.float())`` (e.g. ``BCEWithLogitsLoss``) and a
    prediction is positive when its logit is above 0. ``[B, C]`` with ``C > 1`` is a
    multi-class classifier: ``loss_fn(logits, labels)`` (e.g. ``CrossEntropyLoss``) and
    the prediction is the arg-max.
    """
    if is_binary_logits(logits):
        flat = logits.reshape(-1)
        if flat.shape[0] != labels.shape[0]:
            raise ValueError(
                f"The model returned {flat.shape[0]} logits for {labels.shape[0]} labels."
            )
        loss = loss_fn(flat, labels.to(flat.dtype))
        correct = ((flat > 0).long() == labels.long()).sum()
    elif logits.dim() == 2:
        loss = loss_fn(logits, labels)
        correct = (logits.argmax(dim=1) == labels).sum()
    else:
        raise ValueError(
            f"A classifier must return logits of shape [batch] or [batch, classes]; got "
            f"{tuple(logits.shape)}. For one label per token pass "
            "task=TokenClassification() to fit/evaluate."
        )
    _check_scalar(loss)
    return loss, correct


def _check_scalar(loss: torch.Tensor) -> None:
    if loss.dim() != 0:
        raise ValueError(
            "loss_fn must return the mean loss of the batch (a scalar); got shape "
            f"{tuple(loss.shape)}. Use the default reduction='mean'."
        )


def _expect(batch: Any, size: int, layout: str) -> tuple:
    if not isinstance(batch, list | tuple) or len(batch) != size:
        got = len(batch) if hasattr(batch, "__len__") else "?"
        raise ValueError(
            f"Each batch must be {layout}; got {type(batch).__name__} of length {got}."
        )
    return tuple(batch)


def _masked_token_metrics(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, loss_fn: Callable
) -> StepResult:
    if logits.shape[:2] != targets.shape:
        raise ValueError(
            f"The model returned logits of shape {tuple(logits.shape)} for targets of shape "
            f"{tuple(targets.shape)}; expected [batch, time, classes] with the targets' "
            "[batch, time]."
        )
    picked_logits = logits[mask]
    picked_targets = targets[mask]
    count = int(picked_targets.numel())
    if count == 0:
        raise ValueError("The batch has no real (non-padded) positions: every length is 0.")
    loss = loss_fn(picked_logits, picked_targets)
    _check_scalar(loss)
    correct = (picked_logits.argmax(dim=-1) == picked_targets).sum()
    return StepResult(loss, correct, count)


class Task:
    """How a batch becomes ``(loss, correct, count)``. Subclasses override :meth:`step`."""

    #: What one counted unit is ("example", "token"): throughput is units per second.
    unit = "example"

    def start_epoch(self, training: bool) -> None:
        """Called before every pass over a loader (training or evaluation)."""

    def step(
        self,
        model: nn.Module,
        batch: Any,
        loss_fn: Callable,
        device: torch.device,
        training: bool,
    ) -> StepResult:
        raise NotImplementedError


class Classification(Task):
    """One label per sequence: batches ``(tokens, lengths, labels)``, ``model(tokens, lengths)``."""

    unit = "example"

    def step(self, model, batch, loss_fn, device, training):
        tokens, lengths, labels = _expect(batch, 3, "(tokens, lengths, labels)")
        tokens, labels = to_device(tokens, device), to_device(labels, device)
        logits = model(tokens, lengths.cpu())  # pack_padded_sequence wants CPU lengths
        loss, correct = batch_metrics(logits, labels, loss_fn)
        return StepResult(loss, correct, int(labels.shape[0]))


class TokenClassification(Task):
    """One label per token (tagging). Batches are ``(inputs, lengths, tags)``.

    ``inputs`` is a tensor ``[B, T]`` or a tuple of tensors (word ids and character
    ids, say) and ``model(inputs, lengths)`` returns ``[B, T, C]``. Only positions
    before each sentence's length are scored, whatever value the padded tags hold,
    so a padded batch has exactly the loss and accuracy of its sentences.
    """

    unit = "token"

    def step(self, model, batch, loss_fn, device, training):
        inputs, lengths, tags = _expect(batch, 3, "(inputs, lengths, tags)")
        inputs, tags = to_device(inputs, device), to_device(tags, device)
        logits = model(inputs, lengths.cpu())
        mask = length_mask(lengths, tags.shape[1], device)
        return _masked_token_metrics(logits, tags, mask, loss_fn)


class LanguageModelling(Task):
    """Next-token prediction. Batches are ``(inputs [B, T], targets [B, T])``.

    ``model(inputs, hidden)`` returns ``(logits [B, T, V], hidden)``. With
    ``stateful=True`` row ``b`` of each batch must continue row ``b`` of the
    previous one (as :func:`course_utils.datasets.shakespeare.stream_batches` lays them
    out): the final hidden state is detached and passed into the next batch, so
    the model sees context beyond one chunk while gradients stop at the chunk
    boundary (truncated BPTT). Every pass over a loader starts from zeros.
    ``stateful=False`` starts every chunk from zeros (independent chunks).
    """

    unit = "token"

    def __init__(self, stateful: bool = True) -> None:
        self.stateful = stateful
        self._hidden: Any = None

    def start_epoch(self, training: bool) -> None:
        self._hidden = None

    def step(self, model, batch, loss_fn, device, training):
        inputs, targets = _expect(batch, 2, "(inputs, targets)")
        inputs, targets = to_device(inputs, device), to_device(targets, device)
        hidden = self._hidden if self.stateful else None
        if hidden is not None and _batch_size(hidden) != inputs.shape[0]:
            hidden = None  # a shorter last batch: its rows continue nothing
        logits, hidden = model(inputs, hidden)
        self._hidden = _detach(hidden) if self.stateful else None
        mask = torch.ones_like(targets, dtype=torch.bool)
        return _masked_token_metrics(logits, targets, mask, loss_fn)


def _detach(hidden: Any) -> Any:
    if isinstance(hidden, torch.Tensor):
        return hidden.detach()
    return type(hidden)(_detach(h) for h in hidden)


def _batch_size(hidden: Any) -> int:
    first = hidden if isinstance(hidden, torch.Tensor) else hidden[0]
    return int(first.shape[1])  # [layers * directions, batch, hidden]


class Seq2Seq(Task):
    """Encoder–decoder training with teacher forcing.

    Batches are ``(src, src_lengths, tgt, tgt_lengths)`` where every target starts
    with ``<sos>`` and ends with ``<eos>``; the model is called as
    ``model(src, src_lengths, tgt, teacher_forcing_ratio=r)`` and returns logits
    ``[B, T_tgt - 1, V]`` for ``tgt[:, 1:]``. Training feeds the true previous
    word with probability ``teacher_forcing_ratio``; evaluation always does (``1.0``),
    so the validation loss is the per-token cross-entropy of the reference
    translation. Padded target positions never count.
    """

    unit = "token"

    def __init__(self, teacher_forcing_ratio: float = 1.0) -> None:
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(
                f"teacher_forcing_ratio must be between 0 and 1, got {teacher_forcing_ratio}."
            )
        self.teacher_forcing_ratio = teacher_forcing_ratio

    def step(self, model, batch, loss_fn, device, training):
        src, src_lengths, tgt, tgt_lengths = _expect(
            batch, 4, "(src, src_lengths, tgt, tgt_lengths)"
        )
        src, tgt = to_device(src, device), to_device(tgt, device)
        ratio = self.teacher_forcing_ratio if training else 1.0
        logits = model(src, src_lengths.cpu(), tgt, teacher_forcing_ratio=ratio)
        targets = tgt[:, 1:]
        mask = length_mask(tgt_lengths - 1, targets.shape[1], device)
        return _masked_token_metrics(logits, targets, mask, loss_fn)
