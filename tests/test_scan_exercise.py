"""Exercise 10's checks: right answers pass, each typical mistake gets its own diagnosis."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import ExerciseCheckError
from course_utils.exercises.ex10_parallel_scan import (
    check_scan_blocked,
    check_scan_linear,
    check_scan_log_space,
    check_scan_sequential,
)

# --------------------------------------------------------------------------- right answers


def good_sequential(a, b, h0=None):
    h = torch.zeros_like(a[:, 0]) if h0 is None else h0
    states = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1)


def good_log_space(log_a, log_b, h0=None):
    if h0 is not None:  # h0 is the extra first element: log b_0 = log h0, with a*_0 = 0
        log_a = torch.cat([torch.zeros_like(log_a[:, :1]), log_a], dim=1)
        log_b = torch.cat([h0.log().unsqueeze(1), log_b], dim=1)
    a_star = torch.cumsum(log_a, dim=1)
    states = (a_star + torch.logcumsumexp(log_b - a_star, dim=1)).exp()
    return states if h0 is None else states[:, 1:]


def good_linear(a, b, h0=None):
    big_a = torch.cumprod(a, dim=1)
    start = 0.0 if h0 is None else h0.unsqueeze(1)
    return big_a * (start + torch.cumsum(b / big_a, dim=1))


def stub(*args):
    raise NotImplementedError("Hint: read the task.")


def rejects(check, answer, *fragments):
    with pytest.raises(ExerciseCheckError) as info:
        check(answer)
    message = str(info.value)
    assert message.startswith("Task"), message
    for fragment in fragments:
        assert fragment in message, message


def test_right_answers_pass_and_stubs_are_not_implemented_yet(capsys):
    for check, answer in (
        (check_scan_sequential, good_sequential),
        (check_scan_log_space, good_log_space),
        (check_scan_log_space, lambda la, lb, h0=None: keeps_the_extra_element(la, lb, h0)[:, 1:]),
        (check_scan_linear, good_linear),
    ):
        check(answer)
        assert capsys.readouterr().out.startswith("✓ Task"), check.task
        check(stub)
        out = capsys.readouterr().out
        assert "not implemented yet" in out and "Hint: read the task." in out, out


# --------------------------------------------------------------------------- Task 1 mistakes


def ignores_h0(a, b, h0=None):
    return good_sequential(a, b)


def starts_at_one(a, b, h0=None):
    return good_sequential(a, b, torch.ones_like(a[:, 0]) if h0 is None else h0)


def h0_also_in_b1(a, b, h0=None):
    if h0 is None:
        return good_sequential(a, b)
    return good_sequential(a, torch.cat([b[:, :1] + h0.unsqueeze(1), b[:, 1:]], dim=1), h0)


def stores_before_update(a, b, h0=None):
    h = torch.zeros_like(a[:, 0]) if h0 is None else h0
    states = []
    for t in range(a.shape[1]):
        states.append(h)
        h = a[:, t] * h + b[:, t]
    return torch.stack(states, dim=1)


def updates_b_in_place(a, b, h0=None):
    if h0 is not None:
        b[:, 0] += a[:, 0] * h0
    return good_sequential(a, b)


def test_sequential_mistakes_are_named():
    rejects(check_scan_sequential, ignores_h0, "h0 is ignored")
    rejects(check_scan_sequential, starts_at_one, "start from h0 = 1")
    rejects(check_scan_sequential, h0_also_in_b1, "counted twice")
    rejects(check_scan_sequential, stores_before_update, "one step late", "after updating")
    rejects(check_scan_sequential, lambda a, b, h0=None: good_sequential(a, b, h0)[:, -1],
            "the last one", "(3, 7, 4)")  # fmt: skip
    rejects(check_scan_sequential, lambda a, b, h0=None: good_sequential(a, b, h0).transpose(0, 1),
            "time first", "dim=1")  # fmt: skip
    rejects(check_scan_sequential, lambda a, b, h0=None: [good_sequential(a, b, h0)],
            "returned a list")  # fmt: skip
    rejects(check_scan_sequential, updates_b_in_place, "changed its argument b in place")
    rejects(check_scan_sequential, lambda a, b, h0=None: good_sequential(a, b * 1.01, h0),
            "first at step t=1", "by hand")  # fmt: skip
    rejects(check_scan_sequential, lambda a, b, h0=None: a @ b, "raised RuntimeError")


# --------------------------------------------------------------------------- Task 2 mistakes


def exclusive_cumsum(log_a, log_b, h0=None):
    shifted = torch.cat([torch.zeros_like(log_a[:, :1]), log_a[:, :-1]], dim=1)
    return good_log_space(shifted, log_b, h0)


def keeps_the_extra_element(log_a, log_b, h0=None):
    log_h0 = torch.full_like(log_a[:, 0], float("-inf")) if h0 is None else h0.log()
    log_a = torch.cat([torch.zeros_like(log_a[:, :1]), log_a], dim=1)
    log_b = torch.cat([log_h0.unsqueeze(1), log_b], dim=1)
    a_star = torch.cumsum(log_a, dim=1)
    return (a_star + torch.logcumsumexp(log_b - a_star, dim=1)).exp()


def drops_the_last_instead(log_a, log_b, h0=None):
    return keeps_the_extra_element(log_a, log_b, h0)[:, :-1]


def h0_in_b_and_decayed(log_a, log_b, h0=None):
    states = good_log_space(log_a, log_b, h0)
    return states if h0 is None else states + torch.cumsum(log_a, 1).exp() * h0.unsqueeze(1)


def h0_not_logged(log_a, log_b, h0=None):
    return good_log_space(log_a, log_b, None if h0 is None else h0.exp())


def zero_log_h0(log_a, log_b, h0=None):
    return good_log_space(log_a, log_b, torch.ones_like(log_a[:, 0]) if h0 is None else h0)


def returns_log_h(log_a, log_b, h0=None):
    return good_log_space(log_a, log_b, h0).log()


def over_the_batch(log_a, log_b, h0=None):
    a_star = torch.cumsum(log_a, dim=0)
    states = (a_star + torch.logcumsumexp(log_b - a_star, dim=0)).exp()
    return states if h0 is None else states + h0.unsqueeze(1)


def loops_in_log_space(log_a, log_b, h0=None):
    log_h = torch.full_like(log_a[:, 0], float("-inf")) if h0 is None else h0.log()
    states = []
    for t in range(log_a.shape[1]):
        log_h = torch.logaddexp(log_a[:, t] + log_h, log_b[:, t])
        states.append(log_h)
    return torch.stack(states, dim=1).exp()


def linear_space(log_a, log_b, h0=None):
    return good_linear(log_a.exp(), log_b.exp(), h0)


def test_log_space_mistakes_are_named():
    rejects(check_scan_log_space, exclusive_cumsum, "one step late", "inclusive")
    rejects(check_scan_log_space, keeps_the_extra_element, "8 states per sequence for 7 steps")
    rejects(check_scan_log_space, drops_the_last_instead, "one step late", "[:, 1:]")
    rejects(check_scan_log_space, lambda la, lb, h0=None: good_log_space(la, lb),
            "h0 is ignored")  # fmt: skip
    rejects(check_scan_log_space, h0_in_b_and_decayed, "counted twice")
    rejects(check_scan_log_space, h0_not_logged, "where log h0 belongs")
    rejects(check_scan_log_space, zero_log_h0, "start from h0 = 1", "-inf")
    rejects(check_scan_log_space, returns_log_h, "log h_t", ".exp()")
    rejects(check_scan_log_space, over_the_batch, "across the batch (dim 0)", "dim=1")
    rejects(check_scan_log_space, loops_in_log_space, "loops over time", "cumsum")
    rejects(check_scan_log_space, linear_space, "nan or inf on 2000 steps", "log space")


# --------------------------------------------------------------------------- Task 3 mistakes


def test_linear_closed_form_mistakes_are_named():
    rejects(check_scan_linear, good_sequential, "loops over time", "cumprod")
    rejects(check_scan_linear, lambda a, b, h0=None: good_linear(a, b), "h0 is ignored")
    rejects(
        check_scan_linear,
        lambda a, b, h0=None: good_linear(a, b, h0).cumsum(dim=-1),
        "across hidden (dim 2)",
    )


# --------------------------------------------------------------------------- Task 4 mistakes


def good_blocked(a, b, h0=None, block=16, carry=True, decay=True):
    batch, length, hidden = a.shape
    pad = -length % block
    a = torch.cat([a, a.new_ones(batch, pad, hidden)], dim=1).view(batch, -1, block, hidden)
    b = torch.cat([b, b.new_zeros(batch, pad, hidden)], dim=1).view(batch, -1, block, hidden)
    state, kept, local, kept_all = torch.zeros_like(b[:, :, 0]), torch.ones_like(a[:, :, 0]), [], []
    for j in range(block):
        state = a[:, :, j] * state + b[:, :, j]
        kept = a[:, :, j] * kept
        local.append(state)
        kept_all.append(kept)
    local, kept_all = torch.stack(local, 2), torch.stack(kept_all, 2)
    carried = torch.zeros_like(a[:, 0, 0]) if h0 is None else h0
    entering = []
    for k in range(a.shape[1]):
        entering.append(carried if carry or k == 0 else torch.zeros_like(carried))
        carried = kept_all[:, k, -1] * carried + local[:, k, -1]
    factor = kept_all if decay else torch.ones_like(kept_all)
    states = local + factor * torch.stack(entering, 1).unsqueeze(2)
    return states.flatten(1, 2)[:, :length]


def test_blocked_scan_passes_and_its_mistakes_are_named(capsys):
    check_scan_blocked(good_blocked)
    assert capsys.readouterr().out.startswith("✓ Task 4"), "right answer"
    check_scan_blocked(lambda a, b, h0=None, block=16: stub())
    assert "not implemented yet" in capsys.readouterr().out

    def blocked(carry=True, decay=True, h0_used=True):
        return lambda a, b, h0=None, block=16: good_blocked(
            a, b, h0 if h0_used else None, block, carry=carry, decay=decay
        )

    rejects(check_scan_blocked, blocked(carry=False), "every block starts from zero")
    rejects(check_scan_blocked, blocked(decay=False), "undiminished")
    rejects(check_scan_blocked, blocked(h0_used=False), "h0 is ignored")
    rejects(check_scan_blocked, lambda a, b, h0=None, block=16: good_sequential(a, b, h0),
            "loops over every step")  # fmt: skip
