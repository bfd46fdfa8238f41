"""Exercise 03 (length handling): measure the padding effect, then make a forward exact.

The checks run the learner's code on a probe model that records whether it ran in
training mode (dropout then makes the measured gap noise) and on padded batches whose
every review is also fed alone: the logits must agree.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises._common import (
    as_tensor,
    build_model,
    close,
    expect_shape,
    logits_of,
    padded_batch,
    padding_invariant_logits,
    require_layer,
    shape_of,
)
from course_utils.exercises.feedback import call, exercise_check, fail


class _DropoutProbe(nn.Module):
    """A padding-invariant classifier with strong dropout that records its train/eval mode."""

    def __init__(self, leaky: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(30, 8, padding_idx=0)
        self.rnn = nn.GRU(8, 8, batch_first=True)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 1)
        self.leaky = leaky
        self.modes: list[bool] = []

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        outputs, _ = self.rnn(self.dropout(self.embedding(tokens)))
        index = torch.full_like(lengths, tokens.size(1) - 1) if self.leaky else lengths - 1
        return self.fc(outputs[torch.arange(tokens.size(0)), index.to(tokens.device)])


@exercise_check(
    "Task 1 (padding_gap)", "it measures the padding effect in eval mode, without gradients."
)
def check_padding_gap(function: Callable) -> None:
    """``padding_gap(model, review, pad_index, padded_length)`` → |alone − padded| logit gap."""
    review = torch.tensor([3, 7, 1, 9, 4])
    for leaky in (False, True):
        model = _DropoutProbe(leaky).train()
        what = "padding_gap(model, review of 5 tokens, pad_index=0, padded_length=12)"
        gap = call(what, function, model, review.clone(), 0, 12)
        if isinstance(gap, torch.Tensor):
            if gap.numel() != 1:
                fail(f"{what} returns a tensor of shape {shape_of(gap)}; return one number.")
            gap = gap.item()
        if not isinstance(gap, float | int):
            fail(f"{what} returns a {type(gap).__name__}; return a float (use .item()).")
        if not model.modes:
            fail(f"{what} never called the model.")
        if any(model.modes):
            fail(
                f"your function ran the model in training mode (you forgot model.eval()): "
                f"dropout then makes two identical reviews get different logits, so the gap "
                f"you measured ({gap:.3f}) is partly noise, not padding. Call model.eval() "
                "before measuring (and torch.no_grad() to skip gradient bookkeeping)."
            )
        with torch.no_grad():
            alone = model(review[None], torch.tensor([5]))
            padded = torch.cat([review, review.new_zeros(7)])[None]
            in_batch = model(padded, torch.tensor([5]))
        expected = (alone - in_batch).abs().item()
        if abs(gap - expected) > 1e-4:
            fail(
                f"{what} returns {gap:.4f}; expected {expected:.4f} for this "
                f"{'leaky' if leaky else 'padding-invariant'} model: the absolute difference "
                "between the logit of the review alone and of the review padded with pad_index "
                "to padded_length (passing its true length, 5, both times)."
            )


@exercise_check(
    "Task 2 (last_real_state)", "each review's output at its last real step (lengths - 1)."
)
def check_last_real_state(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``last_real_state(outputs, lengths)`` → ``outputs[i, lengths[i] - 1]`` for every row."""
    outputs = torch.arange(4 * 6 * 3, dtype=torch.float).view(4, 6, 3)
    lengths = torch.tensor([6, 2, 4, 1])
    what = "last_real_state(outputs [4, 6, 3], lengths=[6, 2, 4, 1])"
    got = as_tensor(call(what, function, outputs.clone(), lengths.clone()), what)
    expect_shape(got, (4, 3), what, "one state vector per review.")
    expected = outputs[torch.arange(4), lengths - 1]
    if close(got, expected):
        return
    if close(got, outputs[:, -1]):
        fail(
            f"padding leak: {what} returns outputs[:, -1], the state after the padding. "
            "Pick position lengths[i] - 1 in row i: outputs[torch.arange(batch), lengths - 1]."
        )
    shifted = outputs[torch.arange(4), lengths.clamp(max=5)]
    if close(got, shifted):
        fail(
            f"{what} is off by one: a review of length n ends at position n - 1 (positions "
            "start at 0)."
        )
    fail(f"{what}: row 1 (length 2) should give {expected[1].tolist()}, got {got[1].tolist()}.")


@exercise_check(
    "Task 3 (FixedLSTMClassifier.forward)",
    "padding invariant: each review gets the same logit alone and in a padded batch.",
)
def check_fixed_classifier(model_class: type) -> None:
    """``FixedLSTMClassifier(vocab, embed, hidden, output)``: a padding-invariant forward."""
    model = build_model(model_class, "FixedLSTMClassifier", 40, 8, 12, 1).eval()
    rnn = require_layer(model, "rnn", nn.LSTM, "FixedLSTMClassifier")
    tokens, lengths = padded_batch([8, 3, 5, 1], 40, seed=2)
    batch = logits_of(model, tokens, lengths, "FixedLSTMClassifier")
    expect_shape(batch, (4, 1), "FixedLSTMClassifier", "one logit per review.")
    with torch.no_grad():
        packed = nn.utils.rnn.pack_padded_sequence(
            model.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, (h_n, c_n) = rnn(packed)
        if close(batch, model.fc(c_n[-1])) and not close(batch, model.fc(h_n[-1])):
            fail(
                "you classify from the LSTM's cell state c_n. nn.LSTM returns "
                "(outputs, (h_n, c_n)); the output state the seed reads is h_n."
            )
    padding_invariant_logits(model, tokens, lengths, "FixedLSTMClassifier")
