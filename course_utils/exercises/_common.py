"""What the checks of several exercises share: calling the learner's model, shapes, padding.

Each check builds small inputs, runs the learner's code on them and compares the result
with what a correct answer gives. The helpers here turn the usual surprises (a tuple
instead of a tensor, the wrong shape, a crash inside the learner's code) into a diagnosis,
and :func:`padding_invariant_logits` is the test every padded-batch classifier must pass:
a review gets the same logit alone and inside a padded batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course_utils.exercises.feedback import call, fail

ATOL = 1e-5


def shape_of(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor):
        fail(
            f"{what} returned a tuple of {len(value)} tensors; return one tensor. (torch.max "
            "and torch.min with dim=... return (values, indices): take .values, or use amax.)"
        )
    if not isinstance(value, torch.Tensor):
        fail(f"{what} returned a {type(value).__name__}; return a torch.Tensor.")
    return value


def expect_shape(value: torch.Tensor, expected: tuple[int, ...], what: str, why: str) -> None:
    if tuple(value.shape) != expected:
        fail(f"{what} returns shape {shape_of(value)}; expected {expected} — {why}")


def close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-4)


def padded_batch(
    lengths: list[int], vocab_size: int, pad: int = 0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (never ``pad``) padded at the end with ``pad``, and the lengths."""
    g = torch.Generator().manual_seed(seed)
    steps = max(lengths)
    tokens = torch.full((len(lengths), steps), pad, dtype=torch.long)
    for row, n in enumerate(lengths):
        tokens[row, :n] = torch.randint(1, vocab_size, (n,), generator=g)
    return tokens, torch.tensor(lengths, dtype=torch.long)


def build_model(cls: type, what: str, *args: Any, **kwargs: Any) -> nn.Module:
    """Instantiate the learner's model class with a fixed seed (same weights every call)."""
    torch.manual_seed(0)
    model = call(f"{what}({', '.join(map(repr, args))})", cls, *args, **kwargs)
    if not isinstance(model, nn.Module):
        fail(f"{what}(...) built a {type(model).__name__}; it must subclass nn.Module.")
    return model


def require_layer(model: nn.Module, name: str, kind: type | tuple[type, ...], what: str) -> Any:
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


def logits_of(model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor, what: str):
    with torch.no_grad():
        out = call(
            f"{what}.forward on tokens of shape {shape_of(tokens)}", model, tokens, lengths.clone()
        )
    return as_tensor(out, f"{what}.forward")


def rows_alone(model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor, what: str):
    """The model's logits for each row fed alone, without any padding: the correct answer."""
    rows = [
        logits_of(model, tokens[i : i + 1, :n], lengths[i : i + 1], what)
        for i, n in enumerate(lengths.tolist())
    ]
    return torch.cat(rows)


def padding_invariant_logits(
    model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor, what: str
) -> torch.Tensor:
    """Logits of the padded batch, after checking they equal each review's logit alone."""
    batch = logits_of(model, tokens, lengths, what)
    expect_shape(
        batch,
        (len(lengths), 1),
        what,
        "one logit per review for BCEWithLogitsLoss (use nn.Linear(..., 1)).",
    )
    alone = rows_alone(model, tokens, lengths, what)
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
