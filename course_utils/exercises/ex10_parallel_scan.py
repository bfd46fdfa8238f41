"""Exercise 10 (linear recurrences and the parallel scan): the checks of its four tasks.

Every task computes all states of :math:`h_t = a_t h_{t-1} + b_t` for ``[batch, time,
hidden]`` gates ``a`` and inputs ``b`` (Task 2 from their logarithms). A check runs the
learner's scan from a zero start and from a given ``h0`` and compares it with a float64
loop. When they differ it compares the answer with what the typical mistakes give, so the
message names the mistake: ``h0`` ignored or counted twice, a zero start that is really a
start at 1, gates or states one step off (an exclusive cumulative sum), ``log h`` returned
instead of ``h``, a scan over the batch or hidden axis, a wrong shape or the last state
only. The "parallel" tasks are also checked for a Python loop over time (by counting the
tensor operations the scan calls at two lengths: a parallel scan calls the same number at
any length) and Task 2 for overflow, on 2000 steps of gates 0.01, where the product of the
gates is 0 in floating point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from course_utils.exercises.feedback import call, exercise_check, fail

__all__ = [
    "check_scan_blocked",
    "check_scan_linear",
    "check_scan_log_space",
    "check_scan_sequential",
]

#: ``(a, b, h0) -> states``: the learner's scan, seen with linear-space arguments.
Scan = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], Any]

SHAPE = (3, 7, 4)  # batch, time, hidden: three sizes, so a swapped axis shows in the shape
RTOL, ATOL = 1e-4, 1e-6  # float32 answers against a float64 loop, on 7 steps
LONG_RTOL = 1e-2  # 2000 steps of small gates: float32 log space is good to about 1e-3 there
SHORT, LONG = 64, 2048  # the lengths at which the tensor operations are counted
EXTRA_OPS = 32  # more operations than this at the longer length: a loop over time (or chunks)

# What the typical mistakes are told (shared by the tasks).
START_AT_ONE = (
    "with h0=None your states start from h0 = 1, not from 0. (In log space, log h0 = 0 is "
    "h0 = 1; a zero start is log h0 = -inf, or no extra first element at all.)"
)
H0_DROPPED = (
    "h0 is ignored: with h0 given, your states are those of a zero start. h0 is the state "
    "before step 1, so h_1 = a_1·h0 + b_1: start the loop from h0, or in the closed form add "
    "h0 inside the bracket, A_t·(h0 + Σ b_s/A_s) (in log space: log h0 as an extra first "
    "element of log b, with a* = 0 in front of a*)."
)
H0_TWICE = (
    "h0 is counted twice: your states are those of the right recurrence started from 2·h0, or "
    "with h0 added to b_1 as well. h0 must enter once, as the state before step 1: "
    "h_1 = a_1·h0 + b_1."
)
H0_NOT_LOG = (
    "h0 went in where log h0 belongs: your states are those of a start from exp(h0). The extra "
    "first element of log b is h0.log()."
)
GATES_LATE = (
    "each gate acts one step late: you compute h_t = a_(t-1)·h_(t-1) + b_t (and h_1 = h0 + b_1). "
    "The gate of step t multiplies the state coming into step t: h_t = a_t·h_(t-1) + b_t, so "
    "A_t = a_1⋯a_t includes a_t. Use an inclusive cumulative sum or product (torch.cumsum, "
    "torch.cumprod), not one that stops at step t-1."
)
LOG_RETURNED = "your states are log h_t, not h_t: take .exp() at the end."
STATES_LATE = (
    "your states are one step late: position t holds h_(t-1) (the first holds h0). Return "
    "h_1 … h_T, the states after each step: store h after updating it, or drop the extra first "
    "element ([:, 1:]) rather than the last."
)
STATES_EARLY = (
    "your states are one step early: position t holds h_(t+1). Position t must hold h_t, the "
    "state after step t."
)
OVERFLOW = (
    "The product A_t = a_1⋯a_t is 0.01^t: past float32's range after about 20 steps (float64's "
    "after about 155), so b_s/A_s overflows to inf, and A_t·inf is inf or nan (A_t = 0). Stay "
    "in log space until the very end: "
    "a* = cumsum(log a), log h = a* + logcumsumexp(log b - a*), and only then .exp()."
)


def _inputs(
    shape: tuple[int, int, int], low: float, high: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gates in ``[low, high]``, inputs and an initial state in ``[0.5, 1.5]`` (all > 0)."""
    g = torch.Generator().manual_seed(seed)
    a = low + (high - low) * torch.rand(shape, generator=g)
    b = 0.5 + torch.rand(shape, generator=g)
    h0 = 0.5 + torch.rand(shape[0], shape[2], generator=g)
    return a, b, h0


def _reference(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """The recurrence as a loop, in float64: what every answer must match."""
    a, b = a.double(), b.double()
    h = torch.zeros_like(a[:, 0]) if h0 is None else h0.double()
    states = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1)


def _close(out: torch.Tensor, expected: torch.Tensor) -> bool:
    return out.shape == expected.shape and torch.allclose(
        out.double(), expected, rtol=RTOL, atol=ATOL
    )


def _shape_problem(shape: tuple[int, ...], expected: tuple[int, int, int]) -> str:
    batch, length, hidden = expected
    if shape == (batch, hidden):
        return (
            f"returns shape {shape}: one state per sequence, the last one. Return every state, "
            f"shape {expected} = [batch, time, hidden] (torch.stack(states, dim=1))."
        )
    if shape == (length, batch, hidden):
        return (
            f"returns shape {shape}: time first. Stack the states along dim=1, for "
            f"[batch, time, hidden] = {expected}, the layout of a and b."
        )
    if shape == (batch, length + 1, hidden):
        return (
            f"returns {length + 1} states per sequence for {length} steps: the initial state is "
            "included as the first. Return h_1 … h_T only (drop the first, [:, 1:])."
        )
    return f"returns shape {shape}; expected {expected} = [batch, time, hidden], like a and b."


def _states(
    what: str, run: Scan, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None
) -> torch.Tensor:
    """The learner's states for one input (a tensor of the right shape), or a diagnosis."""
    given = [a.clone(), b.clone(), None if h0 is None else h0.clone()]
    out = call(what, run, *given)
    for name, before, after in zip(("a", "b", "h0"), (a, b, h0), given, strict=True):
        if before is not None and not torch.equal(before, after):
            fail(
                f"{what} changed its argument {name} in place (an assignment like "
                f"{name}[:, 0] = … or {name} += …), so the caller's tensor changes too. "
                "Build new tensors instead."
            )
    if not isinstance(out, torch.Tensor):
        fail(f"{what} returned a {type(out).__name__}; return one tensor of all the states.")
    if tuple(out.shape) != tuple(a.shape):
        fail(f"{what} {_shape_problem(tuple(out.shape), tuple(a.shape))}")
    return out


def _known_mistake(
    out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None
) -> str | None:
    """What a typical mistake would have returned, when ``out`` is exactly that."""
    expected = _reference(a, b, h0)
    late_gates = torch.cat([torch.ones_like(a[:, :1]), a[:, :-1]], dim=1)
    if h0 is None:
        candidates = [(_reference(a, b, torch.ones_like(a[:, 0])), START_AT_ONE)]
    else:
        first_b_plus_h0 = torch.cat([b[:, :1] + h0[:, None], b[:, 1:]], dim=1)
        candidates = [
            (_reference(a, b), H0_DROPPED),
            (_reference(a, b, 2 * h0), H0_TWICE),
            (_reference(a, first_b_plus_h0, h0), H0_TWICE),
            (_reference(a, b, h0.exp()), H0_NOT_LOG),
        ]
    candidates += [(_reference(late_gates, b, h0), GATES_LATE), (expected.log(), LOG_RETURNED)]
    for wrong, message in candidates:
        if _close(out, wrong):
            return message
    if _close(out[:, 1:], expected[:, :-1]):
        return STATES_LATE
    if _close(out[:, :-1], expected[:, 1:]):
        return STATES_EARLY
    return None


def _mixed_axis(
    what: str,
    run: Scan,
    a: torch.Tensor,
    b: torch.Tensor,
    h0: torch.Tensor | None,
    out: torch.Tensor,
) -> str | None:
    """Whether changing sequence 0 (or hidden unit 0) moves the states of the others."""
    for axis, name, fix in ((0, "sequence", "the batch (dim 0)"), (2, "unit", "hidden (dim 2)")):
        other = b.clone()
        other.select(axis, 0).mul_(2.0)
        moved = _states(what, run, a, other, h0)
        rest = out.size(axis) - 1
        if not torch.allclose(moved.narrow(axis, 1, rest), out.narrow(axis, 1, rest)):
            return (
                f"the states of the other {name}s change when only {name} 0's inputs change: "
                f"your scan runs across {fix}, mixing independent {name}s. Every cumulative "
                "operation (and loop) must run over time, dim=1."
            )
    return None


def _first_difference(
    out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None
) -> str:
    """Where the answer first leaves the recurrence, with the numbers of that step."""
    expected = _reference(a, b, h0)
    wrong = ~torch.isclose(out.double(), expected, rtol=RTOL, atol=ATOL)
    step = int(wrong.any(dim=(0, 2)).nonzero()[0])
    seq, unit = (int(i) for i in wrong[:, step].nonzero()[0])
    previous = expected[seq, step - 1, unit] if step else (0.0 if h0 is None else h0[seq, unit])
    start = "a zero start" if h0 is None else "a given h0"
    got, want = float(out[seq, step, unit]), float(expected[seq, step, unit])
    gate, given = float(a[seq, step, unit]), float(b[seq, step, unit])
    return (
        f"the states leave h_t = a_t·h_(t-1) + b_t first at step t={step + 1} (sequence {seq}, "
        f"unit {unit}, {start}): you return {got:.5g}, the recurrence gives {want:.5g} = "
        f"{gate:.4g} × {float(previous):.5g} + {given:.4g}. Work that step out by hand."
    )


def _check_short(what: str, run: Scan) -> None:
    """Seven steps of moderate gates, from a zero start and from a given h0."""
    a, b, h0 = _inputs(SHAPE, 0.2, 0.95, seed=7)
    for start in (None, h0):
        out = _states(what, run, a, b, start)
        if not torch.isfinite(out).all():
            fail(
                f"{what} returns nan or inf on {SHAPE[1]} steps of gates between 0.2 and 0.95, "
                "where every state is between 0.5 and 40: look for a log of a negative number "
                "or a division by zero."
            )
        if not _close(out, _reference(a, b, start)):
            fail(
                _known_mistake(out, a, b, start)
                or _mixed_axis(what, run, a, b, start, out)
                or _first_difference(out, a, b, start)
            )


class _OpCounter(TorchFunctionMode):
    """Counts the torch functions and tensor methods called while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


def _operations(what: str, run: Scan, length: int) -> int:
    a, b, h0 = _inputs((1, length, 2), 0.9, 0.99, seed=length)
    with _OpCounter() as counter:
        call(what, run, a, b, h0)
    return counter.calls


def _check_no_loop(what: str, run: Scan, fix: str) -> None:
    """A parallel scan calls as many tensor operations for 2048 steps as for 64."""
    short, long = _operations(what, run, SHORT), _operations(what, run, LONG)
    if long - short > EXTRA_OPS:
        fail(
            f"{what} calls {long} tensor operations on a {LONG}-step sequence and {short} on a "
            f"{SHORT}-step one: it loops over time in Python, one step after the other. A "
            f"parallel scan does a fixed number of whole-tensor operations at any length: {fix}"
        )


def _check_long_small_gates(what: str, run: Scan) -> None:
    """2000 steps of gates 0.01: their product is 0 in floating point, their log sum is not."""
    a, b, h0 = _inputs((2, 2000, 3), 0.01, 0.01, seed=2000)
    out = _states(what, run, a, b, h0)
    expected = _reference(a, b, h0)
    if not torch.isfinite(out).all():
        fail(f"{what} returns nan or inf on 2000 steps of gates 0.01. {OVERFLOW}")
    error = float(((out.double() - expected).abs() / expected).max())
    if error > LONG_RTOL:
        fail(f"{what} is off by up to {error:.0%} on 2000 steps of gates 0.01. {OVERFLOW}")


@exercise_check("Task 1 (scan_sequential)", "all states [batch, time, hidden], from 0 and from h0")
def check_scan_sequential(function: Callable[..., torch.Tensor]) -> None:
    _check_short("scan_sequential(a, b, h0)", function)


@exercise_check(
    "Task 2 (scan_log_space)",
    "matches the loop from 0 and from h0, has no loop over time, and stays accurate over 2000 "
    "steps of gates 0.01",
)
def check_scan_log_space(function: Callable[..., torch.Tensor]) -> None:
    what = "scan_log_space(a.log(), b.log(), h0)"

    def run(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> Any:
        return function(a.log(), b.log(), h0)

    _check_short(what, run)
    _check_no_loop(what, run, "a* = torch.cumsum(log_a, dim=1), then torch.logcumsumexp.")
    _check_long_small_gates(what, run)


@exercise_check("Task 3 (scan_linear)", "matches the loop from 0 and from h0, with no loop")
def check_scan_linear(function: Callable[..., torch.Tensor]) -> None:
    what = "scan_linear(a, b, h0)"
    _check_short(what, run=function)
    _check_no_loop(what, function, "A = torch.cumprod(a, dim=1), then torch.cumsum(b / A, dim=1).")


BLOCKS_FROM_ZERO = (
    "every block starts from zero: your states are right in the first block and wrong from the "
    "first step of the second. The state that leaves block k enters block k+1; carry it across "
    "the blocks (a short loop over the blocks' last states) and add it to each block's states."
)
CARRY_NOT_DECAYED = (
    "the state carried into a block is added undiminished at every step of the block. Step j "
    "of a block keeps only the product of the block's gates up to j of it: keep that running "
    "product (the block scanned with b = 0 from a start of 1) and multiply the carried state "
    "by it."
)


def _blocked_mistake(
    out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, block: int
) -> str | None:
    """What a blocked scan that forgets the carry, or its decay, would have returned."""
    restarted, undecayed, carried = [], [], h0
    for start in range(0, a.shape[1], block):
        a_k, b_k = a[:, start : start + block], b[:, start : start + block]
        local = _reference(a_k, b_k)
        entering = 0.0 if carried is None else carried.double().unsqueeze(1)
        restarted.append(_reference(a_k, b_k, h0 if start == 0 else None))
        undecayed.append(local + entering)
        carried = _reference(a_k, b_k, carried)[:, -1]
    for wrong, message in ((restarted, BLOCKS_FROM_ZERO), (undecayed, CARRY_NOT_DECAYED)):
        if _close(out, torch.cat(wrong, dim=1)):
            return message
    return None


@exercise_check(
    "Task 4 (scan_blocked)",
    "matches the loop for lengths that are not a multiple of the block, from 0 and from h0, "
    "with about 2√T steps of Python loop, and exact over 2000 steps of gates 0.01",
)
def check_scan_blocked(function: Callable[..., torch.Tensor]) -> None:
    """``scan_blocked(a, b, h0, block)``: blocks scanned together, the state carried across."""
    a, b, h0 = _inputs(SHAPE, 0.2, 0.95, seed=11)
    for block in (3, 2):
        what = f"scan_blocked(a, b, h0, block={block}) on {SHAPE[1]} steps"

        def run(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, block=block) -> Any:
            return function(a, b, h0, block=block)

        for start in (None, h0):
            out = _states(what, run, a, b, start)
            if not _close(out, _reference(a, b, start)):
                mistake = _blocked_mistake(out, a, b, start, block)
                if mistake:
                    fail(f"{what}: {mistake}")
        _check_short(what, run)
    block = 45  # about √2048: two loops of about 45 steps
    what = f"scan_blocked(a, b, h0, block={block})"

    def run_long(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> Any:
        return function(a, b, h0, block=block)

    calls = _operations(what, run_long, LONG)
    if calls > LONG:
        fail(
            f"{what} calls {calls} tensor operations on a {LONG}-step sequence: more than one "
            "per step, so it loops over every step. Loop over the steps of a block (all blocks "
            "at once: reshape the time axis into [blocks, block]), then over the blocks."
        )
    _check_long_small_gates(what, run_long)
