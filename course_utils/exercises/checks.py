"""The checks that exercise notebooks call after each task.

Each check builds small inputs, runs the learner's code on them and compares the
result with what a correct answer gives. When the answer is wrong it compares it
with the *typical* wrong answers too (a padding leak, the wrong dimension, a
forgotten ``model.eval()``...), so the message names the mistake instead of
only saying "wrong". See :mod:`course_utils.exercises.feedback` for what a
check prints or raises.

The checks are grouped by exercise notebook (01–05).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course_utils.exercises.feedback import call, exercise_check, fail

ATOL = 1e-5

# --------------------------------------------------------------------------- helpers


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor):
        fail(
            f"{what} returned a tuple of {len(value)} tensors; return one tensor. (torch.max "
            "and torch.min with dim=... return (values, indices): take .values, or use amax.)"
        )
    if not isinstance(value, torch.Tensor):
        fail(f"{what} returned a {type(value).__name__}; return a torch.Tensor.")
    return value


def _expect_shape(value: torch.Tensor, expected: tuple[int, ...], what: str, why: str) -> None:
    if tuple(value.shape) != expected:
        fail(f"{what} returns shape {_shape(value)}; expected {expected} — {why}")


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-4)


def _padded_batch(
    lengths: list[int], vocab_size: int, pad: int = 0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (never ``pad``) padded at the end with ``pad``, and the lengths."""
    g = torch.Generator().manual_seed(seed)
    steps = max(lengths)
    tokens = torch.full((len(lengths), steps), pad, dtype=torch.long)
    for row, n in enumerate(lengths):
        tokens[row, :n] = torch.randint(1, vocab_size, (n,), generator=g)
    return tokens, torch.tensor(lengths, dtype=torch.long)


def _build(cls: type, what: str, *args: Any, **kwargs: Any) -> nn.Module:
    """Instantiate the learner's model class with a fixed seed (same weights every call)."""
    torch.manual_seed(0)
    model = call(f"{what}({', '.join(map(repr, args))})", cls, *args, **kwargs)
    if not isinstance(model, nn.Module):
        fail(f"{what}(...) built a {type(model).__name__}; it must subclass nn.Module.")
    return model


def _require(model: nn.Module, name: str, kind: type | tuple[type, ...], what: str) -> Any:
    layer = getattr(model, name, None)
    if layer is None:
        fail(f"{what} has no attribute self.{name}; create it in __init__ (see the task text).")
    if not isinstance(layer, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        fail(
            f"self.{name} is a {type(layer).__name__}; expected "
            f"{' or '.join(k.__name__ for k in kinds)}."
        )
    return layer


def _logits_of(model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor, what: str):
    with torch.no_grad():
        out = call(
            f"{what}.forward on tokens of shape {_shape(tokens)}", model, tokens, lengths.clone()
        )
    return _as_tensor(out, f"{what}.forward")


def _rows_alone(model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor, what: str):
    """The model's logits for each row fed alone, without any padding: the correct answer."""
    rows = [
        _logits_of(model, tokens[i : i + 1, :n], lengths[i : i + 1], what)
        for i, n in enumerate(lengths.tolist())
    ]
    return torch.cat(rows)


def _check_padding_invariance(
    model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor, what: str
) -> torch.Tensor:
    """Logits of the padded batch, after checking they equal each review's logit alone."""
    batch = _logits_of(model, tokens, lengths, what)
    _expect_shape(
        batch,
        (len(lengths), 1),
        what,
        "one logit per review for BCEWithLogitsLoss (use nn.Linear(..., 1)).",
    )
    alone = _rows_alone(model, tokens, lengths, what)
    gaps = (batch - alone).abs().view(-1)
    if gaps.max() > 1e-4:
        row = int(gaps.argmax())
        fail(
            f"padding leak: review {row} ({int(lengths[row])} real tokens, padded to "
            f"{tokens.size(1)}) gets logit {batch[row].item():.4f} in the padded batch but "
            f"{alone[row].item():.4f} alone. The prediction must not depend on padding: read "
            "the state after each review's last real token (position lengths - 1), or pack the "
            "batch with pack_padded_sequence."
        )
    return batch


# --------------------------------------------------------------------------- 01 GRU classifier


@exercise_check("Task 1 (GRUClassifier layers)", "embedding, GRU and output layer as asked.")
def check_gru_layers(model_class: type) -> None:
    """``GRUClassifier(vocab_size, embed_dim, hidden_dim, padding_idx)`` has the right layers."""
    model = _build(model_class, "GRUClassifier", 50, 8, 16, padding_idx=0)
    embedding = _require(model, "embedding", nn.Embedding, "GRUClassifier")
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
    rnn = _require(model, "rnn", nn.GRU, "GRUClassifier")
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
    fc = _require(model, "fc", nn.Linear, "GRUClassifier")
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
    model = _build(model_class, "GRUClassifier", 50, 8, 16, padding_idx=0).eval()
    tokens, lengths = _padded_batch([7, 3, 5, 1], 50)
    batch = _logits_of(model, tokens, lengths, "GRUClassifier")
    if batch.dim() == 2 and batch.shape[0] == 4 and batch.shape[1] != 1:
        fail(
            f"your model returns shape {_shape(batch)}; expected (4, 1) — one logit per review "
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
    if _close(batch, torch.sigmoid(expected)):
        fail(
            "your model returns probabilities (you applied a sigmoid); return raw logits — "
            "BCEWithLogitsLoss applies the sigmoid itself, more accurately."
        )
    if _close(batch, leaky) and not _close(leaky, expected):
        fail(
            "padding leak: your forward reads the state at the last *padded* position "
            "(outputs[:, -1]), so review 1 (3 tokens, padded to 7) is classified after 4 "
            "<pad> steps. Read outputs at position lengths - 1 of each row, or pack the batch."
        )
    _check_padding_invariance(model, tokens, lengths, "GRUClassifier")
    if not _close(batch, expected):
        fail(
            "your logits ignore padding but differ from self.fc(final GRU state). Classify from "
            "the GRU's state after each review's last real token, with nothing in between."
        )


def _pytorch_recurrent_params(cell: str, embed_dim: int, hidden_dim: int) -> int:
    layer = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell](embed_dim, hidden_dim)
    return sum(p.numel() for p in layer.parameters())


@exercise_check(
    "Task 3 (recurrent_params)",
    "the count matches nn.RNN, nn.GRU and nn.LSTM for every size tried.",
)
def check_recurrent_params(function: Callable[[str, int, int], int]) -> None:
    """``recurrent_params(cell, embed_dim, hidden_dim)`` equals PyTorch's own parameter count."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}
    for cell in ("rnn", "gru", "lstm"):
        for e, h in ((100, 128), (7, 3)):
            got = call(f"recurrent_params({cell!r}, {e}, {h})", function, cell, e, h)
            want = _pytorch_recurrent_params(cell, e, h)
            if got == want:
                continue
            g = gates[cell]
            if got == g * h * (e + h) + g * h:
                fail(
                    f"recurrent_params({cell!r}, {e}, {h}) = {got:,}; expected {want:,}. You "
                    "counted one bias vector per gate; PyTorch keeps two (bias_ih and bias_hh)."
                )
            if got == g * h * (e + h):
                fail(
                    f"recurrent_params({cell!r}, {e}, {h}) = {got:,}; expected {want:,}. You "
                    "forgot the biases: two vectors of hidden_dim per gate (bias_ih, bias_hh)."
                )
            for other in (1, 2, 3, 4):
                if other != g and got == other * (h * (e + h) + 2 * h):
                    fail(
                        f"recurrent_params({cell!r}, {e}, {h}) = {got:,}; expected {want:,}. "
                        f"You counted {other} gate block(s); a {cell.upper()} layer has {g} "
                        "(RNN: 1, GRU: reset, update and candidate, LSTM: input, forget, cell "
                        "and output)."
                    )
            fail(
                f"recurrent_params({cell!r}, {e}, {h}) = {got!r}; expected {want:,}, which is "
                f"sum(p.numel() for p in nn.{cell.upper()}({e}, {h}).parameters())."
            )


# --------------------------------------------------------------------------- 02 bidirectional


def _bi_states(num_layers: int, bidirectional: bool) -> torch.Tensor:
    torch.manual_seed(0)
    rnn = nn.GRU(5, 6, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    with torch.no_grad():
        _, h_n = rnn(torch.randn(4, 3, 5))
    return h_n


@exercise_check(
    "Task 1 (concat_final_states)",
    "forward then backward final state of the top layer, one row per review.",
)
def check_concat_final_states(function: Callable[[torch.Tensor, bool], torch.Tensor]) -> None:
    """``concat_final_states(h_n, bidirectional)`` → the top layer's ``[B, D * H]`` final states."""
    for layers, bi in ((1, True), (2, True), (2, False)):
        h_n = _bi_states(layers, bi)
        what = (
            f"concat_final_states(h_n of a {layers}-layer {'bi' if bi else 'uni'}directional GRU)"
        )
        got = _as_tensor(call(what, function, h_n.clone(), bi), what)
        expected = torch.cat([h_n[-2], h_n[-1]], dim=1) if bi else h_n[-1]
        if _close(got, expected):
            continue
        if bi and tuple(got.shape) == (4, 6):
            fail(
                f"{what} returns shape (4, 6); expected (4, 12) — one direction only. "
                "Concatenate the top layer's forward (h_n[-2]) and backward (h_n[-1]) states."
            )
        if bi and _close(got, torch.cat([h_n[-1], h_n[-2]], dim=1)):
            fail(
                f"{what}: backward state first. Put the forward direction first, "
                "torch.cat([h_n[-2], h_n[-1]], dim=1), the layout nn.GRU uses for its outputs."
            )
        if bi and layers == 2 and _close(got, torch.cat([h_n[0], h_n[1]], dim=1)):
            fail(
                f"{what}: you took the *first* layer's states (h_n[0], h_n[1]). h_n is ordered "
                "layer by layer; the top layer's two directions are h_n[-2] and h_n[-1]."
            )
        if bi and _close(got, h_n[-2:].reshape(4, -1)):
            fail(
                f"{what}: rows are mixed up. h_n[-2:].reshape(batch, -1) interleaves different "
                "reviews, because h_n is [directions, batch, hidden]; use torch.cat([...], dim=1)."
            )
        if not bi and tuple(got.shape) != (4, 6):
            fail(
                f"{what} returns shape {_shape(got)}; expected (4, 6) — a unidirectional "
                "network has one final state per review: h_n[-1]."
            )
        fail(f"{what} returns values that differ from the top layer's final states.")


@exercise_check(
    "Task 2 (reverse_within_length)",
    "each review reversed within its own length, padding left at the end.",
)
def check_reverse_within_length(
    function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> None:
    """``reverse_within_length(x, lengths)`` flips each row's first ``lengths[i]`` steps."""
    lengths = torch.tensor([4, 2, 3, 1])
    x = torch.zeros(4, 4, 2)
    for row, n in enumerate(lengths.tolist()):
        x[row, :n, 0] = torch.arange(1, n + 1, dtype=torch.float)
        x[row, :, 1] = row
    x[:, :, 0] = torch.where(x[:, :, 0] == 0, torch.tensor(-1.0), x[:, :, 0])  # padding = -1
    what = "reverse_within_length(x, lengths=[4, 2, 3, 1])"
    got = _as_tensor(call(what, function, x.clone(), lengths.clone()), what)
    _expect_shape(got, tuple(x.shape), what, "the same shape as x.")
    expected = x.clone()
    for row, n in enumerate(lengths.tolist()):
        expected[row, :n] = x[row, :n].flip(0)
    if _close(got, expected):
        return
    if _close(got, x.flip(1)):
        fail(
            f"{what}: you flipped whole rows, so the padding moved to the front: row 1 "
            f"becomes {got[1, :, 0].tolist()} (−1 is padding) and a backward RNN would start "
            "on padding. Reverse only the first lengths[i] steps and leave padding at the end."
        )
    if not torch.equal(got[:, :, 1], x[:, :, 1]):
        fail(f"{what}: values moved between rows (reviews); reverse along dim 1 only.")
    fail(
        f"{what}: row 0 should become {expected[0, :, 0].tolist()} and row 1 "
        f"{expected[1, :, 0].tolist()} (−1 is padding), got {got[0, :, 0].tolist()} and "
        f"{got[1, :, 0].tolist()}."
    )


def _hand_bidirectional(model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor):
    """The correct logits of a hand-made bidirectional classifier, and typical leaky ones."""
    from course_utils.models.lengths import reverse_padded

    rows = torch.arange(tokens.size(0))
    embedded = model.embedding(tokens)
    forward_last = model.forward_rnn(embedded)[0][rows, lengths - 1]
    if model.backward_rnn is None:
        return model.fc(forward_last), None
    backward = model.backward_rnn(reverse_padded(embedded, lengths))[0][rows, lengths - 1]
    flipped = model.backward_rnn(embedded.flip(1))[0]
    leaky = [flipped[:, -1], flipped[rows, lengths - 1]]  # torch.flip, read either way
    return (
        model.fc(torch.cat([forward_last, backward], dim=1)),
        [model.fc(torch.cat([forward_last, state], dim=1)) for state in leaky],
    )


@exercise_check(
    "Task 3 (BiGRUClassifier.forward)",
    "both directions read only the real tokens; exact for padded batches, with and without "
    "the backward direction.",
)
def check_bidirectional_classifier(model_class: type) -> None:
    """``BiGRUClassifier(vocab, embed, hidden, bidirectional, padding_idx)``: forward is exact.

    The model has ``embedding``, ``forward_rnn``, ``backward_rnn`` (``None`` when
    unidirectional; both one-directional ``nn.GRU``) and ``fc``.
    """
    for bi in (True, False):
        what = f"BiGRUClassifier(bidirectional={bi})"
        model = _build(model_class, "BiGRUClassifier", 50, 8, 6, bidirectional=bi, padding_idx=0)
        model.eval()
        _require(model, "embedding", nn.Embedding, what)
        _require(model, "forward_rnn", nn.GRU, what)
        _require(model, "fc", nn.Linear, what)
        if bi:
            _require(model, "backward_rnn", nn.GRU, what)
        tokens, lengths = _padded_batch([6, 2, 4, 1], 50, seed=1)
        batch = _logits_of(model, tokens, lengths, what)
        _expect_shape(batch, (4, 1), what, "one logit per review for BCEWithLogitsLoss.")
        with torch.no_grad():
            expected, flipped = _hand_bidirectional(model, tokens, lengths)
        if flipped is not None and any(_close(batch, variant) for variant in flipped):
            fail(
                f"{what}: padding leak in the backward direction. torch.flip moves the padding "
                "to the front, so the backward GRU starts on <pad>: review 3 (1 token, padded "
                "to 6) is read after five padding steps. Reverse each review within its length "
                "(your reverse_within_length) and read the backward output at lengths - 1."
            )
        _check_padding_invariance(model, tokens, lengths, what)
        if not _close(batch, expected):
            fail(
                f"{what}: your logits ignore padding but differ from "
                "self.fc(torch.cat([forward state after the last real token, backward state "
                "after reading back to the first token], dim=1)). Put the forward direction "
                "first, and read both at position lengths - 1 of their own outputs."
            )


# --------------------------------------------------------------------------- 03 pooling


def _pooling_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """States [3, 5, 4] with huge values on padding; feature 0 negative everywhere."""
    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([5, 2, 3])
    mask = torch.arange(5)[None, :] < lengths[:, None]
    states = torch.randn(3, 5, 4, generator=g)
    states[:, :, 0] = -states[:, :, 0].abs() - 0.5  # all negative: a zero-filled max shows
    states = torch.where(mask[..., None], states, torch.full_like(states, 100.0))
    return states, mask, lengths


def _pool_call(function: Callable, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    states, mask, _ = _pooling_inputs()
    what = f"{name}(states [3, 5, 4], mask [3, 5])"
    got = _as_tensor(call(what, function, states.clone(), mask.clone()), what)
    if tuple(got.shape) == (3, 5):
        fail(
            f"{what} returns shape (3, 5); expected (3, 4) — you pooled over the features "
            "(dim=-1); pool over time (dim=1)."
        )
    if tuple(got.shape) == (5, 4):
        fail(
            f"{what} returns shape (5, 4); expected (3, 4) — you pooled over the batch "
            "(dim=0); pool over time (dim=1)."
        )
    _expect_shape(got, (3, 4), what, "one vector of features per review.")
    return got, states, mask


def _leak_message(what: str) -> str:
    return (
        f"padding leak in {what}: the padded positions of this test hold the value 100 and "
        "your result contains traces of it. Use the mask so padded steps never count."
    )


@exercise_check("Task 1 (mean_pool)", "the average over each review's real steps only.")
def check_mean_pool(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``mean_pool(states, mask)``: the mean over valid steps (``mask`` is True there)."""
    got, states, mask = _pool_call(function, "mean_pool")
    weights = mask[..., None].float()
    expected = (states * weights).sum(1) / weights.sum(1)
    if _close(got, expected):
        return
    if _close(got, (states * weights).sum(1) / states.size(1)):
        fail(
            "mean_pool divides by the padded length (5) for every review; divide by each "
            "review's own number of real steps: mask.sum(dim=1, keepdim=True)."
        )
    if got.abs().max() > 20:
        fail(_leak_message("mean_pool"))
    fail("mean_pool's values differ from the mean over the real steps.")


@exercise_check("Task 2 (max_pool)", "the maximum over real steps, correct for negative states.")
def check_max_pool(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``max_pool(states, mask)``: the element-wise max over valid steps."""
    got, states, mask = _pool_call(function, "max_pool")
    expected = states.masked_fill(~mask[..., None], float("-inf")).amax(1)
    if _close(got, expected):
        return
    if (got == 100).any():
        fail(_leak_message("max_pool"))
    if _close(got, (states * mask[..., None]).amax(1)):
        fail(
            "max_pool fills padding with 0. Where a review's states are all negative (feature "
            "0 in this test), the maximum becomes 0, a value that never occurred. Fill padding "
            "with -inf: states.masked_fill(~mask[..., None], float('-inf'))."
        )
    fail("max_pool's values differ from the maximum over the real steps.")


@exercise_check(
    "Task 3 (attention_pool)",
    "weights are a softmax over the real steps (0 on padding), the result their weighted sum.",
)
def check_attention_pool(function: Callable) -> None:
    """``attention_pool(states, mask, scores)`` → ``(pooled [B, H], weights [B, T])``."""
    states, mask, _ = _pooling_inputs()
    scores = torch.randn(3, 5, generator=torch.Generator().manual_seed(4))
    scores[1, 3] = 5.0  # a padded position with a high score
    what = "attention_pool(states [3, 5, 4], mask [3, 5], scores [3, 5])"
    result = call(what, function, states.clone(), mask.clone(), scores.clone())
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(f"{what} must return a tuple (pooled, weights), got {type(result).__name__}.")
    pooled = _as_tensor(result[0], what + "[0]")
    weights = _as_tensor(result[1], what + "[1]")
    _expect_shape(weights, (3, 5), what + " weights", "one weight per review and step.")
    _expect_shape(pooled, (3, 4), what + " pooled", "one vector per review.")
    expected_w = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
    if not _close(weights, expected_w):
        if _close(weights.sum(0), torch.ones(5)):
            fail(
                "the attention weights sum to 1 over the batch (dim=0); take the softmax over "
                "time, dim=1, so each review's weights sum to 1."
            )
        if not _close(weights.sum(1), torch.ones(3), atol=1e-4):
            fail(
                f"each review's weights must sum to 1; yours sum to "
                f"{[round(v, 3) for v in weights.sum(1).tolist()]}. Apply a softmax over dim=1."
            )
        on_padding = float(weights[~mask].sum())
        if on_padding > 1e-6:
            fail(
                f"padding leak: {on_padding:.2f} of the attention went to padded positions. Set "
                "the scores of padded steps to -inf before the softmax "
                "(scores.masked_fill(~mask, float('-inf'))); multiplying the weights by the mask "
                "afterwards leaves weights that no longer sum to 1."
            )
        fail("the weights differ from softmax(scores) over each review's real steps.")
    expected = torch.bmm(expected_w.unsqueeze(1), states.masked_fill(~mask[..., None], 0)).squeeze(
        1
    )
    if not _close(pooled, expected):
        if pooled.abs().max() > 20 or torch.isnan(pooled).any():
            fail(_leak_message("attention_pool") + " (0 × 100 is fine; 0 × inf or NaN is not.)")
        fail("pooled must be the weighted sum of the states: (weights[..., None] * states).sum(1).")


# --------------------------------------------------------------------------- 04 length handling


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
                fail(f"{what} returns a tensor of shape {_shape(gap)}; return one number.")
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
    got = _as_tensor(call(what, function, outputs.clone(), lengths.clone()), what)
    _expect_shape(got, (4, 3), what, "one state vector per review.")
    expected = outputs[torch.arange(4), lengths - 1]
    if _close(got, expected):
        return
    if _close(got, outputs[:, -1]):
        fail(
            f"padding leak: {what} returns outputs[:, -1], the state after the padding. "
            "Pick position lengths[i] - 1 in row i: outputs[torch.arange(batch), lengths - 1]."
        )
    shifted = outputs[torch.arange(4), lengths.clamp(max=5)]
    if _close(got, shifted):
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
    model = _build(model_class, "FixedLSTMClassifier", 40, 8, 12, 1).eval()
    rnn = _require(model, "rnn", nn.LSTM, "FixedLSTMClassifier")
    tokens, lengths = _padded_batch([8, 3, 5, 1], 40, seed=2)
    batch = _logits_of(model, tokens, lengths, "FixedLSTMClassifier")
    _expect_shape(batch, (4, 1), "FixedLSTMClassifier", "one logit per review.")
    with torch.no_grad():
        packed = nn.utils.rnn.pack_padded_sequence(
            model.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, (h_n, c_n) = rnn(packed)
        if _close(batch, model.fc(c_n[-1])) and not _close(batch, model.fc(h_n[-1])):
            fail(
                "you classify from the LSTM's cell state c_n. nn.LSTM returns "
                "(outputs, (h_n, c_n)); the output state the seed reads is h_n."
            )
    _check_padding_invariance(model, tokens, lengths, "FixedLSTMClassifier")


# --------------------------------------------------------------------------- 05 sampling


def _sampling_logits() -> torch.Tensor:
    return torch.tensor(
        [[2.0, 1.0, 0.0, -1.0, 0.5], [0.0, 3.0, 0.2, 0.1, -2.0], [1.0, 1.0, 1.0, 1.0, 4.0]]
    )


@exercise_check(
    "Task 1 (temperature_probs)",
    "softmax(logits / T) over the vocabulary, one-hot argmax at T = 0.",
)
def check_temperature_probs(function: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """``temperature_probs(logits [B, V], temperature)`` → probabilities ``[B, V]``."""
    logits = _sampling_logits()
    for t in (1.0, 0.5, 2.0, 0.0):
        what = f"temperature_probs(logits [3, 5], temperature={t})"
        got = _as_tensor(call(what, function, logits.clone(), t), what)
        _expect_shape(got, (3, 5), what, "one probability per row and vocabulary entry.")
        if t == 0.0:
            expected = nn.functional.one_hot(logits.argmax(1), 5).float()
        else:
            expected = torch.softmax(logits / t, dim=1)
        if _close(got, expected):
            continue
        if torch.isnan(got).any():
            fail(
                f"{what} gives NaN: at temperature 0 do not divide by zero; return a one-hot "
                "vector at each row's argmax (greedy decoding)."
            )
        sums = got.sum(dim=1)
        if _close(got.sum(dim=0), torch.ones(5)) and not _close(sums, torch.ones(3)):
            fail(
                f"{what}: the probabilities sum to 1 over the batch (dim=0); take the softmax "
                "over the vocabulary, dim=-1, so each row sums to 1."
            )
        if not _close(sums, torch.ones(3), atol=1e-4):
            fail(
                f"{what}: rows sum to {[round(v, 3) for v in sums.tolist()]}, not 1 — "
                "logits are not probabilities; apply torch.softmax(..., dim=-1)."
            )
        if t != 0.0:
            p = torch.softmax(logits, dim=1) / t
            if _close(got, p / p.sum(1, keepdim=True)):
                fail(
                    f"{what}: you divided the probabilities by T and renormalised, which "
                    "changes nothing. Divide the *logits* by T, then apply the softmax."
                )
            if _close(got, torch.softmax(logits * t, dim=1)):
                fail(f"{what}: you multiplied the logits by T; divide them: logits / T.")
        fail(f"{what}: row 0 should be {[round(v, 4) for v in expected[0].tolist()]}.")
    low = call("temperature_probs(T=0.1)", function, logits.clone(), 0.1)
    if not bool((low.max(1).values > 0.99).all()):
        fail("at T = 0.1 nearly all the mass should sit on each row's most likely entry.")


@exercise_check(
    "Task 2 (sample_with_temperature)",
    "seeded draws follow softmax(logits / T); T = 0 is greedy.",
)
def check_sample_with_temperature(function: Callable) -> None:
    """``sample_with_temperature(logits [B, V], temperature, generator)`` → ids ``[B]``."""
    logits = _sampling_logits()
    what = "sample_with_temperature(logits [3, 5], 0.0, generator)"
    greedy = _as_tensor(call(what, function, logits.clone(), 0.0, torch.Generator()), what)
    if tuple(greedy.shape) == (3, 1):
        fail(f"{what} returns shape (3, 1); expected (3,) — one id per row (.squeeze(1)).")
    _expect_shape(greedy, (3,), what, "one sampled id per row.")
    if greedy.dtype != torch.long:
        fail(f"{what} returns dtype {greedy.dtype}; token ids must be torch.long.")
    if not torch.equal(greedy, logits.argmax(1)):
        fail(
            f"{what} should be the argmax of each row ({logits.argmax(1).tolist()}), got "
            f"{greedy.tolist()}."
        )
    what = "sample_with_temperature(logits, 1.0, generator seeded with 0)"
    a = _as_tensor(
        call(what, function, logits.clone(), 1.0, torch.Generator().manual_seed(0)), what
    )
    b = _as_tensor(
        call(what, function, logits.clone(), 1.0, torch.Generator().manual_seed(0)), what
    )
    _expect_shape(a, (3,), what, "one sampled id per row.")
    if not torch.equal(a, b):
        fail(
            f"{what} gives different ids for the same seed: pass generator=generator to "
            "torch.multinomial so sampling is reproducible."
        )
    big = logits.repeat(4000, 1)
    for t in (1.0, 0.5):
        what = f"sample_with_temperature(12,000 rows, {t}, generator)"
        ids = _as_tensor(
            call(what, function, big.clone(), t, torch.Generator().manual_seed(1)), what
        )
        _expect_shape(ids, (big.size(0),), what, "one sampled id per row.")
        freq = torch.stack(
            [torch.bincount(ids[r::3], minlength=5).float() / 4000 for r in range(3)]
        )
        expected = torch.softmax(logits / t, dim=1)
        if (freq - expected).abs().max() > 0.04:
            if (freq - torch.softmax(logits, dim=1)).abs().max() <= 0.04 and t != 1.0:
                fail(
                    f"{what}: the draws ignore the temperature (they follow softmax(logits)); "
                    "divide the logits by T before the softmax."
                )
            if all((freq[r] > 0.98).any() for r in range(3)):
                fail(f"{what}: you always pick the argmax; sample with torch.multinomial.")
            fail(
                f"{what}: row 0's ids occur with frequencies "
                f"{[round(v, 3) for v in freq[0].tolist()]}; softmax(logits / T) gives "
                f"{[round(v, 3) for v in expected[0].tolist()]}."
            )


class _GenerationProbe(nn.Module):
    """A tiny character model with dropout that records its mode (for the generate check)."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(vocab_size, 8)
        self.rnn = nn.GRU(8, 16, batch_first=True)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(16, vocab_size)
        self.modes: list[bool] = []
        self.calls: list[int] = []

    def forward(self, tokens: torch.Tensor, hidden: torch.Tensor | None = None):
        self.modes.append(self.training)
        self.calls.append(tokens.size(1))
        outputs, hidden = self.rnn(self.embedding(tokens), hidden)
        return self.fc(self.dropout(outputs)), hidden


class _TinyCorpus:
    """The two methods of a text corpus that ``generate`` uses, over a tiny alphabet."""

    def __init__(self, alphabet: str) -> None:
        self.alphabet = alphabet

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor([self.alphabet.index(c) for c in text])

    def decode(self, ids: Any) -> str:
        return "".join(self.alphabet[int(i)] for i in ids)


def _reference_greedy(model: nn.Module, ids: list[int], length: int) -> list[int]:
    with torch.no_grad():
        logits, hidden = model(torch.tensor([ids]))
        out = []
        for _ in range(length):
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            logits, hidden = model(torch.tensor([[nxt]]), hidden)
    return out


@exercise_check(
    "Task 3 (generate)",
    "the prompt is read once, the state is carried, the model runs in eval mode.",
)
def check_generate(function: Callable) -> None:
    """``generate(model, corpus, prompt, length, temperature, seed)`` behaves."""
    corpus = _TinyCorpus("abcdefgh ")
    model = _GenerationProbe(len(corpus.alphabet)).train()
    what = "generate(model, corpus, prompt='abc', length=20, temperature=0.0, seed=0)"
    text = call(what, function, model, corpus, "abc", 20, 0.0, 0)
    if not isinstance(text, str):
        fail(f"{what} returns a {type(text).__name__}; return the generated text as a str.")
    if any(model.modes):
        fail(
            "your generate ran the model in training mode (you forgot model.eval()): dropout "
            "is then still active and randomly zeroes half the activations at every step, so "
            "the text is worse than the model can do. Call model.eval() first."
        )
    model.eval()
    expected = "abc" + corpus.decode(_reference_greedy(model, corpus.encode("abc").tolist(), 20))
    if len(text) != len(expected):
        fail(
            f"{what} returns {len(text)} characters; expected {len(expected)}: the prompt "
            "followed by `length` new characters."
        )
    if text != expected:
        if len(model.calls) > 1 and max(model.calls) > 3 and len(set(model.calls)) > 2:
            fail(
                f"{what}: you re-read the whole text at every step. Feed the prompt once, then "
                "one new character at a time with the hidden state the model returned."
            )
        fail(
            f"{what} should be {expected!r} (greedy: the argmax at every step, carrying the "
            f"hidden state), got {text!r}."
        )
    first = call(what, function, model, corpus, "abc", 30, 1.0, 5)
    second = call(what, function, model, corpus, "abc", 30, 1.0, 5)
    if first != second:
        fail(
            "generate gives different text for the same seed: make a torch.Generator seeded "
            "with `seed` and pass it to every sampling step."
        )
