"""Exercise 04 (a GRU classifier on a parameter budget): layers, forward, a layer size for a budget.

The forward check compares the learner's logits with the typical wrong answers (the state
after the padding, a sigmoid applied twice, two logits per review) before the padding test,
so the message names the mistake.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises._common import (
    build_model,
    close,
    logits_of,
    padded_batch,
    padding_invariant_logits,
    require_layer,
    shape_of,
)
from course_utils.exercises.feedback import call, exercise_check, fail


@exercise_check("Task 1 (GRUClassifier layers)", "embedding, GRU and output layer as asked.")
def check_gru_layers(model_class: type) -> None:
    """``GRUClassifier(vocab_size, embed_dim, hidden_dim, padding_idx)`` has the right layers."""
    model = build_model(model_class, "GRUClassifier", 50, 8, 16, padding_idx=0)
    embedding = require_layer(model, "embedding", nn.Embedding, "GRUClassifier")
    if (embedding.num_embeddings, embedding.embedding_dim) != (50, 8):
        fail(
            f"self.embedding is nn.Embedding({embedding.num_embeddings}, "
            f"{embedding.embedding_dim}); expected nn.Embedding(vocab_size, embed_dim) = (50, 8)."
        )
    if embedding.padding_idx != 0:
        fail(
            "self.embedding ignores padding_idx: pass padding_idx=padding_idx so <pad> keeps a "
            "zero vector that never trains."
        )
    rnn = require_layer(model, "rnn", nn.GRU, "GRUClassifier")
    if (rnn.input_size, rnn.hidden_size) != (8, 16):
        fail(
            f"self.rnn is nn.GRU({rnn.input_size}, {rnn.hidden_size}); expected "
            "nn.GRU(embed_dim, hidden_dim) = (8, 16)."
        )
    if not rnn.batch_first:
        fail(
            "self.rnn expects [time, batch, features]: pass batch_first=True, since the "
            "course's batches are [batch, time]."
        )
    fc = require_layer(model, "fc", nn.Linear, "GRUClassifier")
    if fc.out_features != 1:
        fail(
            f"self.fc gives {fc.out_features} outputs per review; expected 1 — one logit per "
            "review for BCEWithLogitsLoss."
        )
    if fc.in_features != 16:
        fail(f"self.fc takes {fc.in_features} inputs; the GRU's final state has hidden_dim = 16.")


@exercise_check(
    "Task 2 (GRUClassifier.forward)",
    "one logit per review from the GRU's state after its last real token; padding is ignored.",
)
def check_gru_forward(model_class: type) -> None:
    """``forward(tokens, lengths)`` → ``[B, 1]`` logits from the final state, padding invariant."""
    model = build_model(model_class, "GRUClassifier", 50, 8, 16, padding_idx=0).eval()
    tokens, lengths = padded_batch([7, 3, 5, 1], 50)
    batch = logits_of(model, tokens, lengths, "GRUClassifier")
    if batch.dim() == 2 and batch.shape[0] == 4 and batch.shape[1] != 1:
        fail(
            f"your model returns shape {shape_of(batch)}; expected (4, 1) — one logit per review "
            "for BCEWithLogitsLoss."
        )
    if batch.shape == (4,):
        fail(
            "your model returns shape (4,); expected (4, 1) — keep the output layer's last "
            "dimension (no .squeeze()); the trainer flattens it."
        )
    with torch.no_grad():
        states, _ = model.rnn(model.embedding(tokens))
        final = states[torch.arange(4), lengths - 1]
        expected = model.fc(final)
        leaky = model.fc(states[:, -1])
    if close(batch, torch.sigmoid(expected)):
        fail(
            "your model returns probabilities (you applied a sigmoid); return raw logits — "
            "BCEWithLogitsLoss applies the sigmoid itself, more accurately."
        )
    if close(batch, leaky) and not close(leaky, expected):
        fail(
            "padding leak: your forward reads the state at the last *padded* position "
            "(outputs[:, -1]), so review 1 (3 tokens, padded to 7) is classified after 4 "
            "<pad> steps. Read outputs at position lengths - 1 of each row, or pack the batch."
        )
    padding_invariant_logits(model, tokens, lengths, "GRUClassifier")
    if not close(batch, expected):
        fail(
            "your logits ignore padding but differ from self.fc(final GRU state). Classify from "
            "the GRU's state after each review's last real token, with nothing in between."
        )


GATE_BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}


def _pytorch_recurrent_params(cell: str, embed_dim: int, hidden_dim: int) -> int:
    layer = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell](embed_dim, hidden_dim)
    return sum(p.numel() for p in layer.parameters())


def _count(cell: str, embed_dim: int, hidden_dim: int, biases: int = 2) -> int:
    """The parameters of one layer (PyTorch keeps ``biases=2`` vectors per gate block)."""
    return GATE_BLOCKS[cell] * hidden_dim * (embed_dim + hidden_dim + biases)


def _largest_fitting(cell: str, embed_dim: int, budget: int, biases: int = 2) -> int:
    """The right answer, found by stepping up from a square-root estimate (no float trust)."""
    h = max(0, int((budget / GATE_BLOCKS[cell]) ** 0.5) - embed_dim)
    while _count(cell, embed_dim, h + 1, biases) <= budget:
        h += 1
    while h > 0 and _count(cell, embed_dim, h, biases) > budget:
        h -= 1
    return h


def _diagnose_budget(cell: str, e: int, budget: int, got: int, want: int) -> None:
    """Name the typical mistakes that give this wrong ``hidden_for_budget`` answer.

    On some sizes several mistakes give the same number, so every one that fits is named.
    """
    reasons = []
    if got == _largest_fitting(cell, e, budget, biases=0):
        reasons.append("a count without the bias vectors")
    if got == _largest_fitting(cell, e, budget, biases=1):
        reasons.append("one bias vector per gate block (PyTorch keeps two: bias_ih and bias_hh)")
    for other, blocks in GATE_BLOCKS.items():
        if blocks != GATE_BLOCKS[cell] and got == _largest_fitting(other, e, budget):
            reasons.append(
                f"{blocks} gate block(s), where a {cell.upper()} layer has {GATE_BLOCKS[cell]} "
                "(RNN: 1, GRU: reset, update and candidate, LSTM: input, forget, cell and output)"
            )
    if got == want + 1:
        reasons.append("rounding up (or to the nearest) where the size must be rounded down")
    if got == want - 1:
        reasons.append("rounding down once too often: the largest size that fits is the answer")
    fits = "fits" if _count(cell, e, got) <= budget else "is over the budget"
    message = (
        f"hidden_for_budget({cell!r}, {e}, {budget:,}) = {got}; expected {want}. "
        f"A {cell.upper()} layer of {got} units has {_count(cell, e, got):,} parameters and {fits}."
    )
    if reasons:
        message += " That is the answer you get from " + "; or from ".join(reasons) + "."
    fail(message)


@exercise_check(
    "Task 3 (hidden_for_budget)",
    "the largest layer within the budget, for every cell, size and budget tried.",
)
def check_hidden_for_budget(function: Callable[[str, int, int], int]) -> None:
    """``hidden_for_budget(cell, embed_dim, budget)`` is the largest layer that fits ``budget``."""
    cases = [(cell, 100, _pytorch_recurrent_params("lstm", 100, 128)) for cell in GATE_BLOCKS]
    cases += [(cell, 7, _pytorch_recurrent_params(cell, 7, 3)) for cell in GATE_BLOCKS]  # exact fit
    cases += [("gru", 300, 10**10), ("rnn", 1, 5), ("lstm", 64, 999)]
    for cell, e, budget in cases:
        got = call(f"hidden_for_budget({cell!r}, {e}, {budget})", function, cell, e, budget)
        if not isinstance(got, int) or isinstance(got, bool):
            fail(
                f"hidden_for_budget({cell!r}, {e}, {budget}) returned {got!r} "
                f"({type(got).__name__}); return an int: nn.GRU needs a whole number of units."
            )
        want = _largest_fitting(cell, e, budget)
        if got != want:
            _diagnose_budget(cell, e, budget, got, want)
