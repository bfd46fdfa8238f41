"""minGRU and minLSTM: recurrences whose gates do not see the state, so training is a parallel scan.

Feng, Tung, Ahmed, Bengio and Hajimirsadeghi ("Were RNNs All We Needed?", 2024) take the
GRU and the LSTM and drop :math:`h_{t-1}` from the gates and from the candidate. What is
left is a *linear* recurrence :math:`h_t = a_t \\odot h_{t-1} + b_t` whose coefficients
depend on the inputs only, so all of them are computed at once, and the recurrence itself
has a closed form (:func:`linear_scan`):

.. math:: h_t = A_t \\Big(h_0 + \\sum_{s \\le t} b_s / A_s\\Big),
          \\qquad A_t = \\prod_{r \\le t} a_r .

Products of many gates under- and overflow, so the scan runs in log space (Heinsen, 2023):
cumulative sums of :math:`\\log a` and a ``logcumsumexp``. That needs :math:`b_t > 0`; the
candidate goes through :func:`positive` (:math:`x + \\tfrac12` above zero, a sigmoid
below), as in the paper. Even in log space float32 loses precision when the summed
logarithms grow large (gates that forget quickly, over many steps): the formula subtracts
two numbers of that size. The scan therefore works in two levels: every chunk of
``chunk`` steps is scanned in log space at once, all chunks in parallel, from a zero
state; then a short loop over the chunks carries the true state into each one, in plain
linear space. That keeps the result within about 1e-5 of the sequential loop at any
length, and the loop has ``T / chunk`` steps instead of ``T``.

Each layer has two modes with the same weights: ``forward`` (the parallel scan, for
training and for reading a prompt) and :meth:`step` (one step with a carried state, for
generation), plus ``forward(..., mode="sequential")``, the plain loop, to compare.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MinGRU", "MinLSTM", "linear_scan", "linear_scan_sequential", "log_positive", "positive"]

DEFAULT_CHUNK = 16


def positive(x: torch.Tensor) -> torch.Tensor:
    """The paper's :math:`g`: :math:`x + 1/2` for :math:`x \\ge 0`, a sigmoid below; always > 0."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_positive(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\log g(x)`, computed without forming a tiny :math:`g(x)` first."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def _scan_chunks(log_a: torch.Tensor, log_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each chunk scanned from a zero state: ``(states, decay)``, both ``[B, K, c, H]``.

    ``decay[:, k, j]`` is the product of chunk ``k``'s gates up to step ``j``: how much of
    the state that entered the chunk is left at that step.
    """
    log_decay = torch.cumsum(log_a, dim=2)
    states = log_decay + torch.logcumsumexp(log_b - log_decay, dim=2)
    return states.exp(), log_decay.exp()


def linear_scan(
    log_a: torch.Tensor,
    log_b: torch.Tensor,
    h0: torch.Tensor | None = None,
    *,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """All states of :math:`h_t = a_t h_{t-1} + b_t` at once, from ``log a``, ``log b`` [B, T, H].

    ``h0`` [B, H] is the state before the first step (``None``: zeros, the usual start).
    Returns ``h`` [B, T, H].
    """
    if log_a.shape != log_b.shape or log_a.dim() != 3:
        raise ValueError(
            f"log_a and log_b must both be [batch, time, hidden]; got {tuple(log_a.shape)} "
            f"and {tuple(log_b.shape)}."
        )
    batch, length, hidden = log_a.shape
    padding = -length % chunk  # padded steps keep the state (a = 1) and add nothing (b = 0)
    log_a = F.pad(log_a, (0, 0, 0, padding), value=0.0)
    log_b = F.pad(log_b, (0, 0, 0, padding), value=float("-inf"))
    shape = (batch, (length + padding) // chunk, chunk, hidden)
    local, decay = _scan_chunks(log_a.view(shape), log_b.view(shape))
    carried = torch.zeros_like(local[:, 0, 0]) if h0 is None else h0
    entering = []
    # unbind, not decay[:, k]: each indexing would send back a gradient as large as the
    # whole tensor, which makes the backward pass quadratic in the number of chunks
    ends = zip(decay[:, :, -1].unbind(1), local[:, :, -1].unbind(1), strict=True)
    for chunk_decay, chunk_state in ends:  # the true state entering each chunk, in linear space
        entering.append(carried)
        carried = chunk_decay * carried + chunk_state
    states = local + decay * torch.stack(entering, dim=1).unsqueeze(2)
    return states.reshape(batch, -1, hidden)[:, :length]


def linear_scan_sequential(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None):
    """The same recurrence as a plain loop over time: the reference the scan must match."""
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
        self.config = {"input_dim": input_dim, "hidden_dim": hidden_dim}
        self.project = nn.Linear(input_dim, hidden_dim * (n_gates + 1))

    def log_coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log a, log b)`` of every step, from the inputs alone."""
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
        log_a, log_b = self.log_coefficients(x)
        if mode == "parallel":
            states = linear_scan(log_a, log_b, h0)
        elif mode == "sequential":
            states = linear_scan_sequential(log_a.exp(), log_b.exp(), h0)
        else:
            raise ValueError(f"mode must be 'parallel' or 'sequential', got {mode!r}.")
        return states, states[:, -1]

    def step(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step: input ``x`` [B, input_dim] and state ``h`` [B, hidden] → the next state."""
        log_a, log_b = self.log_coefficients(x.unsqueeze(1))
        a, b = log_a[:, 0].exp(), log_b[:, 0].exp()
        return b if h is None else a * h + b


class MinGRU(_MinRecurrence):
    """:math:`z_t = \\sigma(W_z x_t)`, :math:`h_t = (1 - z_t) h_{t-1} + z_t\\, g(W_h x_t)`."""

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__(input_dim, hidden_dim, n_gates=1)

    def log_coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, candidate = self.project(x).chunk(2, dim=-1)
        log_z, log_keep = -F.softplus(-k), -F.softplus(k)  # log z, log (1 - z)
        return log_keep, log_z + log_positive(candidate)


class MinLSTM(_MinRecurrence):
    """minLSTM: forget and input gates normalised to sum to 1.

    :math:`h_t = f'_t h_{t-1} + i'_t g(W_h x_t)` with :math:`f'_t + i'_t = 1`.
    """

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__(input_dim, hidden_dim, n_gates=2)

    def log_coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, i, candidate = self.project(x).chunk(3, dim=-1)
        # f' = f / (f + i): log f' = -softplus(log i - log f), with log sigma(k) = -softplus(-k)
        difference = F.softplus(-f) - F.softplus(-i)
        log_forget, log_input = -F.softplus(difference), -F.softplus(-difference)
        return log_forget, log_input + log_positive(candidate)
