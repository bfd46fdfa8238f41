"""Exercise 02 (the training loop): an evaluation function, then one training epoch, by hand.

The checks run the learner's code on a tiny probe classifier (a masked mean of word
embeddings, then a linear layer, with dropout) that records, at every forward pass, whether
it ran in training mode and whether autograd was recording. The batches have unequal sizes
(6, 6 and 3 reviews), so a mean over batches differs from the mean over reviews. The training
check replays the epoch with a reference loop from the same weights, and with each typical
mistake, and names the mistake whose weights the learner's run reproduces.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises.feedback import call, exercise_check, fail

BATCH_SIZES = (6, 6, 3)
VOCAB = 20
LR = 0.5
CLIP = 0.05


class _Probe(nn.Module):
    """Mean of word embeddings over the real tokens → dropout → one logit; records its calls."""

    def __init__(self, dropout: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(VOCAB, 6, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(6, 1)
        with torch.no_grad():
            self.fc.weight.mul_(4.0)  # confident logits: per-batch and per-review means differ
        self.modes: list[bool] = []
        self.grad_enabled: list[bool] = []

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        self.grad_enabled.append(torch.is_grad_enabled())
        mask = torch.arange(tokens.size(1))[None, :] < lengths[:, None]
        summed = (self.embedding(tokens) * mask[..., None]).sum(dim=1)
        return self.fc(self.dropout(summed / lengths[:, None]))


def _batches(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Three padded batches of 6, 6 and 3 reviews: ``(tokens, lengths, labels)`` as in lesson 02."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for size in BATCH_SIZES:
        lengths = torch.randint(2, 8, (size,), generator=g)
        tokens = torch.zeros(size, int(lengths.max()), dtype=torch.long)
        for row, n in enumerate(lengths.tolist()):
            tokens[row, :n] = torch.randint(1, VOCAB, (n,), generator=g)
        labels = torch.randint(0, 2, (size,), generator=g)
        out.append((tokens, lengths, labels))
    return out


def _number(value, what: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            fail(f"{what} is a tensor of shape {tuple(value.shape)}; return one number.")
        if value.requires_grad:
            fail(
                f"{what} is a tensor that still carries its autograd graph; return a float "
                "with .item(): adding up tensors keeps every batch's graph alive in memory."
            )
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, float | int):
        fail(f"{what} is a {type(value).__name__}; return a float.")
    return float(value)


def _reference_metrics(model: nn.Module, batches, loss_fn) -> dict[str, float]:
    """Loss and accuracy per review, and the wrong 'mean of batch means' versions."""
    losses, hits, sizes = [], [], []
    with torch.no_grad():
        for tokens, lengths, labels in batches:
            logits = model(tokens, lengths).squeeze(1)
            losses.append(float(loss_fn(logits, labels.float())))
            hits.append(int(((logits > 0).long() == labels).sum()))
            sizes.append(len(labels))
    n = sum(sizes)
    return {
        "loss": sum(loss * s for loss, s in zip(losses, sizes, strict=True)) / n,
        "acc": sum(hits) / n,
        "loss_per_batch": sum(losses) / len(losses),
        "acc_per_batch": sum(h / s for h, s in zip(hits, sizes, strict=True)) / len(sizes),
    }


@exercise_check(
    "Task 1 (evaluate_reviews)",
    "mean loss and accuracy per review, in eval mode, without gradients.",
)
def check_evaluate(function: Callable) -> None:
    """``evaluate_reviews(model, batches, loss_fn)`` → ``{"loss": ..., "acc": ...}`` per review."""
    batches = _batches()
    loss_fn = nn.BCEWithLogitsLoss()
    model = _Probe(dropout=0.5).train()
    what = "evaluate_reviews(model, 3 batches of 6, 6 and 3 reviews, BCEWithLogitsLoss())"
    result = call(what, function, model, batches, loss_fn)
    if not model.modes:
        fail(f"{what} never called the model.")
    if any(model.modes):
        fail(
            "your evaluation ran the model in training mode (model.eval() is missing): dropout "
            "was on, so every call scores a different random sub-network and the numbers are "
            "noisy and worse than the model's. Call model.eval() before the loop."
        )
    if any(model.grad_enabled):
        fail(
            "your evaluation recorded gradients (no torch.no_grad()): autograd kept every "
            "batch's graph for a backward pass that never comes, which costs memory and time. "
            "Wrap the loop in `with torch.no_grad():` (or decorate the function with it)."
        )
    if not isinstance(result, dict) or not {"loss", "acc"} <= set(result):
        fail(f"{what} returned {type(result).__name__}; return a dict with keys 'loss' and 'acc'.")
    loss = _number(result["loss"], "the 'loss' you return")
    acc = _number(result["acc"], "the 'acc' you return")
    expected = _reference_metrics(model.eval(), batches, loss_fn)
    if abs(loss - expected["loss"]) > 1e-5:
        if abs(loss - expected["loss_per_batch"]) < 1e-5:
            fail(
                f"your loss {loss:.5f} is the mean of the three batch means; expected "
                f"{expected['loss']:.5f}, the mean per review. The last batch has 3 reviews, "
                "not 6: weight each batch's mean loss by its number of reviews, then divide by "
                "the number of reviews."
            )
        fail(
            f"your loss is {loss:.5f}; expected {expected['loss']:.5f}: each batch's mean "
            "BCEWithLogitsLoss of logits [batch] against labels.float(), weighted by the batch's "
            "size, divided by the number of reviews."
        )
    if abs(acc - expected["acc"]) > 1e-6:
        if abs(acc - expected["acc_per_batch"]) < 1e-6:
            fail(
                f"your accuracy {acc:.4f} is the mean of the batch accuracies; expected "
                f"{expected['acc']:.4f}: count correct reviews over all batches, then divide by "
                "the number of reviews."
            )
        if acc > 1.0:
            fail(f"your accuracy is {acc}; return a fraction between 0 and 1, not a count.")
        fail(
            f"your accuracy is {acc:.4f}; expected {expected['acc']:.4f}. The model outputs "
            "logits: a review is predicted positive when its logit is above 0 (a probability "
            "above 0.5)."
        )


def _reference_epoch(model, batches, optimizer, loss_fn, clip, *, zero_grad=True, clip_on=True):
    """Lesson 02's loop, optionally with one of its two typical mistakes."""
    model.train()
    total, reviews = 0.0, 0
    for tokens, lengths, labels in batches:
        if zero_grad:
            optimizer.zero_grad()
        loss = loss_fn(model(tokens, lengths).squeeze(1), labels.float())
        loss.backward()
        if clip_on and clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item() * len(labels)
        reviews += len(labels)
    return total / reviews


def _weights_equal(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.allclose(p, q, atol=1e-6, rtol=1e-5)
        for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


def _replay(batches, loss_fn, **mistake) -> tuple[nn.Module, float]:
    model = _Probe(dropout=0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss = _reference_epoch(model, batches, optimizer, loss_fn, CLIP, **mistake)
    return model, loss


@exercise_check(
    "Task 2 (train_epoch)",
    "zero_grad, forward, loss, backward, clip, step for every batch; the loss per review.",
)
def check_train_epoch(function: Callable) -> None:
    """``train_epoch(model, batches, optimizer, loss_fn, clip)`` → mean training loss per review."""
    batches = _batches(seed=1)
    loss_fn = nn.BCEWithLogitsLoss()
    model = _Probe(dropout=0.0).eval()  # as an evaluation would have left it
    start = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    what = f"train_epoch(model, 3 batches, SGD(lr={LR}), BCEWithLogitsLoss(), clip={CLIP})"
    result = call(what, function, model, batches, optimizer, loss_fn, CLIP)
    if not model.modes:
        fail(f"{what} never called the model.")
    if not all(model.modes):
        fail(
            "your epoch trained the model in evaluation mode: the model came in as an evaluation "
            "leaves it (model.eval()), and dropout stays off while it learns. Call model.train() "
            "at the start of the epoch."
        )
    if len(model.modes) != len(BATCH_SIZES):
        fail(
            f"your epoch called the model {len(model.modes)} times for {len(BATCH_SIZES)} "
            "batches; one forward pass per batch."
        )
    loss = _number(result, "the loss train_epoch returns")
    expected, expected_loss = _replay(batches, loss_fn)
    if not _weights_equal(model, expected):
        if _weights_equal(model, start):
            fail(
                "the weights did not change: each batch needs loss.backward() and then "
                "optimizer.step() (and optimizer.zero_grad() *before* the backward pass, not "
                "between backward and step, which throws the gradient away)."
            )
        if _weights_equal(model, _replay(batches, loss_fn, zero_grad=False)[0]):
            fail(
                "gradients accumulated across batches (optimizer.zero_grad() is missing): "
                "PyTorch *adds* each backward pass's gradients to .grad, so batch 3's step "
                "followed the sum of three batches' gradients. Clear them at the start of every "
                "batch with optimizer.zero_grad()."
            )
        if _weights_equal(model, _replay(batches, loss_fn, clip_on=False)[0]):
            fail(
                "the gradients were not clipped: call nn.utils.clip_grad_norm_ on the model's "
                f"parameters with max_norm=clip between loss.backward() and optimizer.step() "
                f"(here clip={CLIP}, so every step is clipped)."
            )
        fail(
            "after your epoch the weights differ from those of zero_grad → forward → loss → "
            "backward → clip → step for each batch in turn. Check the order: clip after "
            "backward and before step; one step per batch."
        )
    if abs(loss - expected_loss) > 1e-5:
        per_batch = _replay_per_batch_mean(batches, loss_fn)
        if abs(loss - per_batch) < 1e-5:
            fail(
                f"the weights are right, but the loss you return, {loss:.5f}, is the mean of the "
                f"batch means; expected {expected_loss:.5f}, the mean per review. The last batch "
                "has 3 reviews, not 6: weight each batch's loss by its size."
            )
        fail(
            f"the weights are right, but you return {loss:.5f}; expected {expected_loss:.5f}: "
            "the batches' losses (each computed before its step) weighted by their sizes, "
            "divided by the number of reviews."
        )


def _replay_per_batch_mean(batches, loss_fn) -> float:
    model = _Probe(dropout=0.0).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    losses = []
    for tokens, lengths, labels in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(tokens, lengths).squeeze(1), labels.float())
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)
