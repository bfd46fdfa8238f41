"""minGRU and minLSTM: recurrences whose gates do not see the state, so training is a parallel scan.

Feng, Tung, Ahmed, Bengio and Hajimirsadeghi ("Were RNNs All We Needed?", 2024) take the
GRU and the LSTM and drop :math:`h_{t-1}` from the gates and from the candidate. What is
left is a *linear* recurrence :math:`h_t = a_t \\odot h_{t-1} + b_t` whose coefficients
depend on the inputs only, so all of them are computed at once, and the recurrence itself
is a scan with an associative operator. Two ways to run that scan are here:

* :func:`linear_scan`, the one the layers use: the **blocked scan**, the classic way to
  run a prefix scan on a few processors. Cut the ``T`` steps into blocks of about
  :math:`\\sqrt T`; scan every block from a zero state, all blocks at once (one loop of
  block-length steps over tensors that hold every block); carry the true state across the
  blocks (a loop of ``T / block`` steps over the blocks' last states); and add each
  block's share of the state that entered it, all at once. About :math:`2\\sqrt T`
  vectorised steps instead of ``T``, only multiplications and additions, so it is exact
  to float32 rounding at any length: products of many gates underflow to zero, which is
  their true value to float32, and nothing divides by them.
* :func:`log_space_scan`, the form the paper uses on GPUs (Heinsen, 2023): cumulative sums
  of :math:`\\log a` and a ``logcumsumexp``, no loop at all, but ``exp`` and ``log`` of
  every element. It needs :math:`b_t > 0`, which is why the candidate goes through
  :func:`positive`. On a CPU those transcendental functions cost more than the blocked
  loop saves (lesson 10 and ``bench/modern_rnns.py`` measure it).

Each layer has two modes with the same weights: ``forward`` (the scan, for training and
for reading a prompt) and :meth:`step` (one step with a carried state, for generation),
plus ``forward(..., mode="sequential")``, the plain loop, to compare.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.models.building import constructor_arguments

__all__ = [
    "MinGRU",
    "MinLSTM",
    "linear_scan",
    "linear_scan_sequential",
    "log_space_scan",
    "positive",
]

LOG_SPACE_CHUNK = 16


def positive(x: torch.Tensor) -> torch.Tensor:
    """The paper's :math:`g`: :math:`x + 1/2` for :math:`x \\ge 0`, a sigmoid below; always > 0."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def _check_coefficients(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(
            f"the coefficients must both be [batch, time, hidden]; got {tuple(a.shape)} "
            f"and {tuple(b.shape)}."
        )


def _into_blocks(
    a: torch.Tensor, b: torch.Tensor, block: int, *, log_space: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, T, H]`` → ``[B, K, block, H]``, padded with steps that keep the state, add nothing."""
    batch, length, hidden = a.shape
    padding = -length % block
    keep, nothing = (0.0, float("-inf")) if log_space else (1.0, 0.0)
    a = F.pad(a, (0, 0, 0, padding), value=keep)
    b = F.pad(b, (0, 0, 0, padding), value=nothing)
    shape = (batch, (length + padding) // block, block, hidden)
    return a.reshape(shape), b.reshape(shape)


def _carry_across_blocks(
    local: torch.Tensor, decay: torch.Tensor, h0: torch.Tensor | None, length: int
) -> torch.Tensor:
    """Every block scanned from zero (``local``) plus the true state that entered it.

    ``decay[:, k, j]`` is the product of block ``k``'s gates up to its step ``j``: how much
    of the state that entered the block is left there. Returns ``h`` [B, length, H].
    """
    carried = torch.zeros_like(local[:, 0, 0]) if h0 is None else h0
    entering = []
    # unbind, not decay[:, k]: each indexing would send back a gradient as large as the
    # whole tensor, which makes the backward pass quadratic in the number of blocks
    ends = zip(decay[:, :, -1].unbind(1), local[:, :, -1].unbind(1), strict=True)
    for block_decay, block_state in ends:
        entering.append(carried)
        carried = block_decay * carried + block_state
    states = local + decay * torch.stack(entering, dim=1).unsqueeze(2)
    return states.flatten(1, 2)[:, :length]


def linear_scan(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, *, block: int | None = None
) -> torch.Tensor:
    """All states of :math:`h_t = a_t h_{t-1} + b_t` by the blocked scan; ``a``, ``b`` [B, T, H].

    ``h0`` [B, H] is the state before the first step (``None``: zeros, the usual start);
    ``block`` defaults to :math:`\\sqrt T`, which makes the two loops about equally short.
    Returns ``h`` [B, T, H].
    """
    _check_coefficients(a, b)
    if block is not None and block < 1:
        raise ValueError(f"block must be a positive number of steps, got {block}.")
    block = block or max(1, math.isqrt(a.shape[1]))
    a_blocks, b_blocks = _into_blocks(a, b, block, log_space=False)
    local, decay, state, kept = [], [], None, None
    for a_j, b_j in zip(a_blocks.unbind(2), b_blocks.unbind(2), strict=True):
        state = b_j if state is None else a_j * state + b_j  # all blocks step together
        kept = a_j if kept is None else a_j * kept
        local.append(state)
        decay.append(kept)
    return _carry_across_blocks(
        torch.stack(local, dim=2), torch.stack(decay, dim=2), h0, a.shape[1]
    )


def log_space_scan(
    log_a: torch.Tensor,
    log_b: torch.Tensor,
    h0: torch.Tensor | None = None,
    *,
    chunk: int = LOG_SPACE_CHUNK,
) -> torch.Tensor:
    """The same states from ``log a`` and ``log b`` (finite or ``-inf``): the GPU form.

    :math:`\\log h_t = a^*_t + \\operatorname{logcumsumexp}_{s \\le t}(\\log b_s - a^*_s)`
    with :math:`a^*_t = \\sum_{r \\le t} \\log a_r`. The two terms grow with ``t`` and
    float32 loses digits when it subtracts them, so each ``chunk`` of steps is scanned
    this way from a zero state and the state is carried from chunk to chunk in linear
    space, as in :func:`linear_scan`.
    """
    _check_coefficients(log_a, log_b)
    length = log_a.shape[1]
    log_a, log_b = _into_blocks(log_a, log_b, chunk, log_space=True)
    log_decay = torch.cumsum(log_a, dim=2)
    local = log_decay + torch.logcumsumexp(log_b - log_decay, dim=2)
    return _carry_across_blocks(local.exp(), log_decay.exp(), h0, length)


def linear_scan_sequential(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None):
    """The same recurrence as a plain loop over time: the reference the scans must match."""
    h = torch.zeros_like(a[:, 0]) if h0 is None else h0
    states = []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):  # unbind: see linear_scan
        h = a_t * h + b_t
        states.append(h)
    return torch.stack(states, dim=1)


class _MinRecurrence(nn.Module):
    """What minGRU and minLSTM share: coefficients from the input, then one linear recurrence."""

    def __init__(self, input_dim: int, hidden_dim: int, n_gates: int) -> None:
        super().__init__()
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.project = nn.Linear(input_dim, hidden_dim * (n_gates + 1))

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, b)`` of every step, from the inputs alone: ``h_t = a_t h_{t-1} + b_t``."""
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None, *, mode: str = "parallel"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` [B, T, input_dim] → ``(states [B, T, hidden], last state [B, hidden])``."""
        if x.dim() != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(
                f"{type(self).__name__} expects inputs [batch, time, {self.input_dim}], "
                f"got {tuple(x.shape)}."
            )
        scans = {"parallel": linear_scan, "sequential": linear_scan_sequential}
        if mode not in scans:
            raise ValueError(f"mode must be 'parallel' or 'sequential', got {mode!r}.")
        states = scans[mode](*self.coefficients(x), h0)
        return states, states[:, -1]

    def step(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step: input ``x`` [B, input_dim] and state ``h`` [B, hidden] → the next state."""
        a, b = self.coefficients(x)
        return b if h is None else a * h + b


class MinGRU(_MinRecurrence):
    """:math:`z_t = \\sigma(W_z x_t)`, :math:`h_t = (1 - z_t) h_{t-1} + z_t\\, g(W_h x_t)`."""

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__(input_dim, hidden_dim, n_gates=1)
        self.config = constructor_arguments()

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, candidate = self.project(x).chunk(2, dim=-1)
        # sigma(-k), not 1 - z: exact when z is close to 1 and little of the state is kept
        return torch.sigmoid(-k), torch.sigmoid(k) * positive(candidate)


class MinLSTM(_MinRecurrence):
    """minLSTM: forget and input gates normalised to sum to 1.

    :math:`h_t = f'_t h_{t-1} + i'_t g(W_h x_t)` with :math:`f'_t + i'_t = 1`.
    """

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__(input_dim, hidden_dim, n_gates=2)
        self.config = constructor_arguments()

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, i, candidate = self.project(x).chunk(3, dim=-1)
        # f' = f / (f + i) = sigma(log f - log i), with log sigma(k) = -softplus(-k)
        difference = F.softplus(-i) - F.softplus(-f)
        return torch.sigmoid(difference), torch.sigmoid(-difference) * positive(candidate)
