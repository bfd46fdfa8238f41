"""Checks of exercises 02, 07 and 08: each accepts a right answer, is friendly to the untouched
stub and rejects typical wrong answers with a message that names the mistake.

Same pattern as ``tests/test_exercises.py``; kept apart so each exercise's tests sit together.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import exercises as ex
from course_utils.exercises import ex02_training_loop as ex02


def _stub(*args, **kwargs):
    raise NotImplementedError("Hint: read the task.")


def assert_passes(check, answer, capsys) -> None:
    check(answer)
    out = capsys.readouterr().out
    assert out.startswith("✓ Task"), out


def assert_stub_is_friendly(check, stub, capsys) -> None:
    check(stub)  # must not raise
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "Hint: read the task." in out, out


def assert_rejects(check, answer, *fragments: str) -> None:
    with pytest.raises(ex.ExerciseCheckError) as info:
        check(answer)
    message = str(info.value)
    assert message.startswith("Task"), message
    for fragment in fragments:
        assert fragment in message, message


# --------------------------------------------------------------------------- 02 training loop


def evaluate_reviews(model, batches, loss_fn, *, eval_mode=True, no_grad=True, per_batch=False):
    if eval_mode:
        model.eval()
    losses, sizes, correct = [], [], 0
    with torch.set_grad_enabled(not no_grad):
        for tokens, lengths, labels in batches:
            logits = model(tokens, lengths).squeeze(1)
            losses.append(loss_fn(logits, labels.float()).item())
            sizes.append(len(labels))
            correct += ((logits > 0).long() == labels).sum().item()
    n = sum(sizes)
    if per_batch:
        return {"loss": sum(losses) / len(losses), "acc": correct / n}
    return {"loss": sum(x * s for x, s in zip(losses, sizes, strict=True)) / n, "acc": correct / n}


def test_check_evaluate(capsys) -> None:
    check = ex02.check_evaluate
    assert_passes(check, evaluate_reviews, capsys)
    assert_stub_is_friendly(check, _stub, capsys)
    assert_rejects(check, lambda *a: evaluate_reviews(*a, eval_mode=False), "model.eval()",
                   "dropout")  # fmt: skip
    assert_rejects(check, lambda *a: evaluate_reviews(*a, no_grad=False), "torch.no_grad()")
    assert_rejects(check, lambda *a: evaluate_reviews(*a, per_batch=True), "mean of the three "
                   "batch means", "3 reviews")  # fmt: skip

    def probabilities_threshold(model, batches, loss_fn):
        result = evaluate_reviews(model, batches, loss_fn)
        model.eval()
        with torch.no_grad():
            hits = sum(int(((model(t, n).squeeze(1) > 0.5).long() == y).sum())
                       for t, n, y in batches)  # fmt: skip
        return {"loss": result["loss"], "acc": hits / sum(len(b[2]) for b in batches)}

    assert_rejects(check, probabilities_threshold, "logit is above 0")


def train_epoch(model, batches, optimizer, loss_fn, clip=None, *, train_mode=True, zero=True,
                do_clip=True, per_batch=False):  # fmt: skip
    if train_mode:
        model.train()
    losses, sizes = [], []
    for tokens, lengths, labels in batches:
        if zero:
            optimizer.zero_grad()
        loss = loss_fn(model(tokens, lengths).squeeze(1), labels.float())
        loss.backward()
        if clip is not None and do_clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
        sizes.append(len(labels))
    if per_batch:
        return sum(losses) / len(losses)
    return sum(x * s for x, s in zip(losses, sizes, strict=True)) / sum(sizes)


def test_check_train_epoch(capsys) -> None:
    check = ex02.check_train_epoch
    assert_passes(check, train_epoch, capsys)
    assert_stub_is_friendly(check, _stub, capsys)
    assert_rejects(check, lambda *a: train_epoch(*a, zero=False), "accumulated across batches",
                   "zero_grad()")  # fmt: skip
    assert_rejects(check, lambda *a: train_epoch(*a, per_batch=True), "mean of the batch means")
    assert_rejects(check, lambda *a: train_epoch(*a, train_mode=False), "model.train()")
    assert_rejects(check, lambda *a: train_epoch(*a, do_clip=False), "not clipped")

    def zero_after_backward(model, batches, optimizer, loss_fn, clip=None):
        model.train()
        for tokens, lengths, labels in batches:
            loss_fn(model(tokens, lengths).squeeze(1), labels.float()).backward()
            optimizer.zero_grad()
            optimizer.step()
        return 0.0

    assert_rejects(check, zero_after_backward, "did not change")

    def returns_tensor(model, batches, optimizer, loss_fn, clip=None):
        model.train()
        total, reviews = 0.0, 0
        for tokens, lengths, labels in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(tokens, lengths).squeeze(1), labels.float())
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total = total + loss * len(labels)  # keeps every batch's graph
            reviews += len(labels)
        return total / reviews

    assert_rejects(check, returns_tensor, ".item()")
