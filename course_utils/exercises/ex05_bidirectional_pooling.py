"""Exercise 05 (bidirectional states and pooling): h_n's layout, then poolings that ignore padding.

The pooling checks fill padded positions with the value 100 and make one feature negative
everywhere, so a leak, a zero-filled maximum and a division by the padded length each leave
their own trace in the answer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises._common import (
    as_tensor,
    close,
    expect_shape,
    shape_of,
)
from course_utils.exercises.feedback import call, exercise_check, fail


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
        got = as_tensor(call(what, function, h_n.clone(), bi), what)
        expected = torch.cat([h_n[-2], h_n[-1]], dim=1) if bi else h_n[-1]
        if close(got, expected):
            continue
        if bi and tuple(got.shape) == (4, 6):
            fail(
                f"{what} returns shape (4, 6); expected (4, 12) — one direction only. "
                "Concatenate the top layer's forward (h_n[-2]) and backward (h_n[-1]) states."
            )
        if bi and close(got, torch.cat([h_n[-1], h_n[-2]], dim=1)):
            fail(
                f"{what}: backward state first. Put the forward direction first, "
                "torch.cat([h_n[-2], h_n[-1]], dim=1), the layout nn.GRU uses for its outputs."
            )
        if bi and layers == 2 and close(got, torch.cat([h_n[0], h_n[1]], dim=1)):
            fail(
                f"{what}: you took the *first* layer's states (h_n[0], h_n[1]). h_n is ordered "
                "layer by layer; the top layer's two directions are h_n[-2] and h_n[-1]."
            )
        if bi and close(got, h_n[-2:].reshape(4, -1)):
            fail(
                f"{what}: rows are mixed up. h_n[-2:].reshape(batch, -1) interleaves different "
                "reviews, because h_n is [directions, batch, hidden]; use torch.cat([...], dim=1)."
            )
        if not bi and tuple(got.shape) != (4, 6):
            fail(
                f"{what} returns shape {shape_of(got)}; expected (4, 6) — a unidirectional "
                "network has one final state per review: h_n[-1]."
            )
        fail(f"{what} returns values that differ from the top layer's final states.")


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
    got = as_tensor(call(what, function, states.clone(), mask.clone()), what)
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
    expect_shape(got, (3, 4), what, "one vector of features per review.")
    return got, states, mask


def _leak_message(what: str) -> str:
    return (
        f"padding leak in {what}: the padded positions of this test hold the value 100 and "
        "your result contains traces of it. Use the mask so padded steps never count."
    )


@exercise_check("Task 2 (mean_pool)", "the average over each review's real steps only.")
def check_mean_pool(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``mean_pool(states, mask)``: the mean over valid steps (``mask`` is True there)."""
    got, states, mask = _pool_call(function, "mean_pool")
    weights = mask[..., None].float()
    expected = (states * weights).sum(1) / weights.sum(1)
    if close(got, expected):
        return
    if close(got, (states * weights).sum(1) / states.size(1)):
        fail(
            "mean_pool divides by the padded length (5) for every review; divide by each "
            "review's own number of real steps: mask.sum(dim=1, keepdim=True)."
        )
    if got.abs().max() > 20:
        fail(_leak_message("mean_pool"))
    fail("mean_pool's values differ from the mean over the real steps.")


@exercise_check("Task 3 (max_pool)", "the maximum over real steps, correct for negative states.")
def check_max_pool(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``max_pool(states, mask)``: the element-wise max over valid steps."""
    got, states, mask = _pool_call(function, "max_pool")
    expected = states.masked_fill(~mask[..., None], float("-inf")).amax(1)
    if close(got, expected):
        return
    if (got == 100).any():
        fail(_leak_message("max_pool"))
    if close(got, (states * mask[..., None]).amax(1)):
        fail(
            "max_pool fills padding with 0. Where a review's states are all negative (feature "
            "0 in this test), the maximum becomes 0, a value that never occurred. Fill padding "
            "with -inf: states.masked_fill(~mask[..., None], float('-inf'))."
        )
    fail("max_pool's values differ from the maximum over the real steps.")


@exercise_check(
    "Task 4 (attention_pool)",
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
    pooled = as_tensor(result[0], what + "[0]")
    weights = as_tensor(result[1], what + "[1]")
    expect_shape(weights, (3, 5), what + " weights", "one weight per review and step.")
    expect_shape(pooled, (3, 4), what + " pooled", "one vector per review.")
    expected_w = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
    if not close(weights, expected_w):
        if close(weights.sum(0), torch.ones(5)):
            fail(
                "the attention weights sum to 1 over the batch (dim=0); take the softmax over "
                "time, dim=1, so each review's weights sum to 1."
            )
        if not close(weights.sum(1), torch.ones(3), atol=1e-4):
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
    if not close(pooled, expected):
        if pooled.abs().max() > 20 or torch.isnan(pooled).any():
            fail(_leak_message("attention_pool") + " (0 × 100 is fine; 0 × inf or NaN is not.)")
        fail("pooled must be the weighted sum of the states: (weights[..., None] * states).sum(1).")
