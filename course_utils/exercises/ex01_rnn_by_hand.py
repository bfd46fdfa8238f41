"""Exercise 01 (an RNN by hand): one step of the recurrence, BPTT over two steps, clipping.

Each check compares the learner's answer with PyTorch (``nn.RNNCell``, autograd,
``clip_grad_norm_``) on small random inputs and, when it differs, with what the typical
mistakes give: a forgotten ``tanh`` or its derivative, a transposed weight, the gradient
of the last step only, clipping each tensor on its own or clamping values.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises._common import as_tensor, close, expect_shape
from course_utils.exercises.feedback import call, exercise_check, fail

__all__ = ["check_bptt_two_steps", "check_clip_by_global_norm", "check_rnn_step"]

INPUT, HIDDEN, BATCH = 3, 4, 2


def _weights(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """``x_t [B, I]``, ``h_prev [B, H]``, ``W_xh [H, I]``, ``W_hh [H, H]``, ``b [H]``."""
    g = torch.Generator().manual_seed(seed)
    shapes = ((BATCH, INPUT), (BATCH, HIDDEN), (HIDDEN, INPUT), (HIDDEN, HIDDEN), (HIDDEN,))
    return tuple(torch.randn(shape, generator=g) * 0.8 for shape in shapes)


@exercise_check("Task 1 (rnn_step)", "tanh(W_xh x_t + W_hh h_prev + b), the same as nn.RNNCell.")
def check_rnn_step(function: Callable[..., torch.Tensor]) -> None:
    """``rnn_step(x_t, h_prev, W_xh, W_hh, b)`` → the next state ``[B, H]``."""
    x_t, h_prev, w_xh, w_hh, b = _weights()
    what = "rnn_step(x_t [2, 3], h_prev [2, 4], W_xh [4, 3], W_hh [4, 4], b [4])"
    got = as_tensor(call(what, function, x_t, h_prev, w_xh, w_hh, b), what)
    expect_shape(got, (BATCH, HIDDEN), what, "one state of hidden_size per sequence in the batch.")
    cell = nn.RNNCell(INPUT, HIDDEN)
    with torch.no_grad():
        cell.weight_ih.copy_(w_xh), cell.weight_hh.copy_(w_hh)
        cell.bias_ih.copy_(b), cell.bias_hh.zero_()
        expected = cell(x_t, h_prev)
    pre = x_t @ w_xh.T + h_prev @ w_hh.T + b
    if close(got, expected):
        return
    if close(got, pre):
        fail(f"{what} returns W_xh x + W_hh h + b without the tanh: apply torch.tanh to it.")
    if close(got, torch.sigmoid(pre)):
        fail(f"{what} applies a sigmoid; the plain RNN's nonlinearity is tanh, values in (-1, 1).")
    if close(got, torch.tanh(x_t @ w_xh.T + h_prev @ w_hh + b)):
        fail(
            f"{what} multiplies h_prev by W_hh instead of its transpose. With row vectors "
            "(one row per sequence), W h becomes h @ W.T, for W_xh and W_hh alike."
        )
    if close(got, torch.tanh(x_t @ w_xh.T + b)):
        fail(f"{what} ignores h_prev: the previous state must enter through W_hh.")
    fail(f"{what}: row 0 should be {[round(v, 4) for v in expected[0].tolist()]}.")


def _bptt(x, h0, w_xh, w_hh, b, y, *, through_time=True, tanh_grad=True, transpose=True):
    """Gradients of 0.5·|h_2 - y|² for two steps, written out (and typical wrong versions)."""
    h1 = torch.tanh(w_xh @ x[0] + w_hh @ h0 + b)
    h2 = torch.tanh(w_xh @ x[1] + w_hh @ h1 + b)
    d2 = (h2 - y) * ((1 - h2**2) if tanh_grad else 1)
    d1 = ((w_hh.T if transpose else w_hh) @ d2) * ((1 - h1**2) if tanh_grad else 1)
    d1 = d1 if through_time else torch.zeros_like(d1)
    return {
        "W_xh": torch.outer(d2, x[1]) + torch.outer(d1, x[0]),
        "W_hh": torch.outer(d2, h1) + torch.outer(d1, h0),
        "b": d2 + d1,
    }


def _autograd(x, h0, w_xh, w_hh, b, y) -> dict[str, torch.Tensor]:
    params = {"W_xh": w_xh.clone(), "W_hh": w_hh.clone(), "b": b.clone()}
    for p in params.values():
        p.requires_grad_()
    h = h0
    for t in range(2):
        h = torch.tanh(params["W_xh"] @ x[t] + params["W_hh"] @ h + params["b"])
    (0.5 * (h - y).pow(2).sum()).backward()
    return {name: p.grad for name, p in params.items()}


MISTAKES = (
    (
        dict(through_time=False),
        "you kept only step 2's share. W_xh, W_hh and b act at step 1 too, and h_1 feeds "
        "step 2: send the error back into step 1 (through W_hh and tanh's derivative) and add "
        "step 1's share. That sum over the steps is backpropagation *through time*.",
    ),
    (
        dict(tanh_grad=False),
        "the derivative of tanh is missing: at each step the error passes through "
        "tanh'(z) = 1 - h², element-wise, before it reaches the weights.",
    ),
    (
        dict(transpose=False),
        "the error goes back from h_2 to h_1 through W_hh itself; it must go through its "
        "transpose, since h_2 depends on h_1 through W_hh h_1.",
    ),
)


@exercise_check(
    "Task 2 (bptt_two_steps)", "your gradients equal autograd's, for all three weights."
)
def check_bptt_two_steps(function: Callable[..., dict]) -> None:
    """``bptt_two_steps(x [2, I], h0 [H], W_xh, W_hh, b, y [H])`` → ``{"W_xh", "W_hh", "b"}``."""
    g = torch.Generator().manual_seed(1)
    x, h0, y = (
        torch.randn(2, INPUT, generator=g),
        torch.randn(HIDDEN, generator=g),
        torch.randn(HIDDEN, generator=g),
    )
    _, _, w_xh, w_hh, b = _weights(seed=2)
    what = "bptt_two_steps(x [2, 3], h0 [4], W_xh [4, 3], W_hh [4, 4], b [4], y [4])"
    with torch.no_grad():
        got = call(what, function, x, h0, w_xh, w_hh, b, y)
    if not isinstance(got, dict) or set(got) != {"W_xh", "W_hh", "b"}:
        fail(f"{what} must return a dict with the keys 'W_xh', 'W_hh' and 'b'.")
    expected = _autograd(x, h0, w_xh, w_hh, b, y)
    for name in ("b", "W_xh", "W_hh"):
        value = as_tensor(got[name], f"{what}[{name!r}]")
        if close(value, expected[name]):
            continue
        is_matrix = value.ndim == expected[name].ndim == 2  # only a matrix can be transposed
        if is_matrix and value.shape == expected[name].T.shape and close(value.T, expected[name]):
            fail(
                f"the gradient of {name} is transposed: dL/dW has W's shape, [out, in], so it "
                "is the outer product of the error (out) with the layer's input (in)."
            )
        expect_shape(
            value, tuple(expected[name].shape), f"{what}[{name!r}]", "the shape of " + name
        )
        for flags, message in MISTAKES:
            if close(value, _bptt(x, h0, w_xh, w_hh, b, y, **flags)[name]):
                fail(f"gradient of {name}: {message}")
        fail(f"the gradient of {name} differs from autograd's: {expected[name].tolist()}.")


def _grads(seed: int, scale: float) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) * scale for shape in ((4, 3), (4,), (2, 4))]


@exercise_check(
    "Task 3 (clip_by_global_norm)",
    "one norm over all tensors, rescaled only above max_norm, the norm before clipping returned.",
)
def check_clip_by_global_norm(function: Callable[..., tuple]) -> None:
    """``clip_by_global_norm(grads, max_norm)`` → ``(clipped grads, total norm before)``."""
    for scale, max_norm in ((3.0, 1.0), (0.05, 1.0)):
        grads = _grads(0, scale)
        what = f"clip_by_global_norm(3 tensors with total norm {_total(grads):.3g}, {max_norm})"
        result = call(what, function, [g.clone() for g in grads], max_norm)
        if not (isinstance(result, tuple) and len(result) == 2):
            fail(f"{what} must return a tuple (clipped gradients, total norm before clipping).")
        clipped, norm = result
        params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        expected_norm = float(nn.utils.clip_grad_norm_(params, max_norm))
        if abs(float(norm) - expected_norm) > 1e-4:
            if abs(float(norm) - _total(list(clipped))) < 1e-4:
                fail(f"{what} returns the norm after clipping; return the norm before it.")
            if abs(float(norm) - sum(float(g.norm()) for g in grads)) < 1e-4:
                fail(
                    f"{what}: the total norm is not the sum of the tensors' norms but the norm "
                    "of all their entries together: the square root of the sum of squares."
                )
            fail(f"{what} returns the norm {float(norm):.4g}; expected {expected_norm:.4g}.")
        _compare_clipped(what, list(clipped), grads, [p.grad for p in params], max_norm)


def _total(grads: list[torch.Tensor]) -> float:
    return float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))


def _compare_clipped(what, clipped, grads, expected, max_norm) -> None:
    if len(clipped) != len(expected):
        fail(f"{what} returns {len(clipped)} tensors for {len(expected)} gradients.")
    if all(close(c, e) for c, e in zip(clipped, expected, strict=True)):
        return
    if all(close(c, g.clamp(-max_norm, max_norm)) for c, g in zip(clipped, grads, strict=True)):
        fail(
            f"{what} clamps each value to ±max_norm: that is clipping by value, which changes "
            "the gradient's direction. Rescale all the tensors by one factor instead."
        )
    each = [g * min(1.0, max_norm / float(g.norm())) for g in grads]
    if all(close(c, e) for c, e in zip(clipped, each, strict=True)):
        fail(
            f"{what} clips each tensor on its own; the norm is one number for all of them, and "
            "one factor rescales them all, so the direction of the whole gradient is kept."
        )
    if _total(grads) < max_norm and abs(_total(clipped) - max_norm) < 1e-4:
        fail(
            f"{what} scales a small gradient *up* to max_norm; clipping only shrinks a gradient "
            "whose norm is above max_norm and leaves the others alone."
        )
    fail(f"{what}: the clipped gradients differ from torch.nn.utils.clip_grad_norm_'s.")
