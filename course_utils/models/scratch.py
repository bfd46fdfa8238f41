"""A recurrent layer written out by hand, to see what ``nn.RNN`` computes.

The Elman recurrence is one line,

    h_t = tanh(W_xh x_t + b_xh + W_hh h_{t-1} + b_hh),

applied step by step with a Python loop. Every step reuses the same weights,
and the state ``h_t`` is the network's only memory of everything before
``t``. :meth:`ScratchRNN.from_torch` copies an ``nn.RNN``'s weights so a
lesson can show that the two give the same numbers, and then why the built-in
one is used in practice: its loop runs in C++ (or cuDNN) instead of Python.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_utils.models.building import constructor_arguments


class ScratchRNN(nn.Module):
    """A single-layer, unidirectional tanh RNN built from plain tensor operations.

    The parameters mirror ``nn.RNN``'s (``weight_ih_l0`` → ``W_xh``,
    ``weight_hh_l0`` → ``W_hh``, ``bias_ih_l0`` → ``b_xh``, ``bias_hh_l0`` →
    ``b_hh``), including its two bias vectors: one would do mathematically,
    but two make copying weights from ``nn.RNN`` exact. Inputs are batch-first.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.config = constructor_arguments()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.W_xh = nn.Parameter(torch.empty(hidden_size, input_size))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        if bias:
            self.b_xh = nn.Parameter(torch.empty(hidden_size))
            self.b_hh = nn.Parameter(torch.empty(hidden_size))
        else:
            self.register_parameter("b_xh", None)
            self.register_parameter("b_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ±1/sqrt(hidden_size), the same initialisation as ``nn.RNN``.

        Small weights keep ``W_hh``'s repeated multiplication from blowing the
        state up (or tanh from saturating) at the start of training.
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def cell(self, x_t: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
        """One time step: the new state ``[batch, hidden]`` from ``x_t`` and ``h_prev``."""
        pre_activation = x_t @ self.W_xh.T + h_prev @ self.W_hh.T
        if self.b_xh is not None:
            pre_activation = pre_activation + self.b_xh + self.b_hh
        return torch.tanh(pre_activation)

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the cell over ``x [batch, time, input]``.

        Returns every step's state ``[batch, time, hidden]`` (what a tagger or
        language model uses) and the last one ``[batch, hidden]`` (what a
        classifier uses). ``h0`` defaults to zeros, like ``nn.RNN``; note that
        ``nn.RNN`` takes and returns it as ``[num_layers, batch, hidden]``.
        """
        batch, steps, _ = x.shape
        h = x.new_zeros(batch, self.hidden_size) if h0 is None else h0
        outputs = []
        for t in range(steps):
            h = self.cell(x[:, t, :], h)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h

    @torch.no_grad()
    def load_from_torch(self, rnn: nn.RNN) -> ScratchRNN:
        """Copy the weights of a matching single-layer tanh ``nn.RNN`` into this layer.

        Raises ``ValueError`` when ``rnn`` computes something this class
        cannot (several layers, two directions, ReLU) or has other sizes.
        """
        _check_copyable(rnn)
        theirs = (rnn.input_size, rnn.hidden_size, rnn.bias)
        ours = (self.input_size, self.hidden_size, self.b_xh is not None)
        if theirs != ours:
            raise ValueError(
                f"Cannot copy an nn.RNN with (input_size, hidden_size, bias) = {theirs} "
                f"into a ScratchRNN with {ours}. Create the ScratchRNN with the same sizes, "
                "or use ScratchRNN.from_torch(rnn), which does that for you."
            )
        self.W_xh.copy_(rnn.weight_ih_l0)
        self.W_hh.copy_(rnn.weight_hh_l0)
        if rnn.bias:
            self.b_xh.copy_(rnn.bias_ih_l0)
            self.b_hh.copy_(rnn.bias_hh_l0)
        return self

    @classmethod
    def from_torch(cls, rnn: nn.RNN) -> ScratchRNN:
        """A new ``ScratchRNN`` with the sizes, weights, device and dtype of ``rnn``."""
        _check_copyable(rnn)
        scratch = cls(rnn.input_size, rnn.hidden_size, bias=rnn.bias)
        # Module.to(tensor) takes the tensor's device *and* dtype.
        return scratch.to(rnn.weight_ih_l0).load_from_torch(rnn)


def _check_copyable(rnn: nn.Module) -> None:
    """Explain why ``rnn`` is not a single-layer unidirectional tanh ``nn.RNN``, if it is not."""
    if not isinstance(rnn, nn.RNN):
        raise ValueError(
            f"Expected a torch.nn.RNN, got {type(rnn).__name__}. ScratchRNN implements the "
            "plain (Elman) RNN only; LSTM and GRU cells have gates it does not have."
        )
    problems = []
    if rnn.num_layers != 1:
        problems.append(f"num_layers={rnn.num_layers} (ScratchRNN is one layer)")
    if rnn.bidirectional:
        problems.append("bidirectional=True (ScratchRNN runs forward only)")
    if rnn.nonlinearity != "tanh":
        problems.append(f"nonlinearity={rnn.nonlinearity!r} (ScratchRNN uses tanh)")
    if problems:
        raise ValueError(
            "Cannot copy this nn.RNN into a ScratchRNN: "
            + "; ".join(problems)
            + ". Build it as nn.RNN(input_size, hidden_size) with the default settings."
        )
