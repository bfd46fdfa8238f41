"""What a sequence layer costs as the sequence grows: training time and generation cost.

Lesson 10 and ``bench/modern_rnns.py`` measure with these functions, so the figures in
the notebook and the table in the README come from the same code. Two questions:

* **training** (:func:`time_forward_backward`): one forward and backward pass over a
  whole sequence of length ``T``. A recurrence that loops over time pays ``T``
  sequential steps; a parallel scan or attention pays for all positions at once.
* **generation** (:func:`generation_cost`): the time to produce one more token after a
  context of ``T`` tokens, and the memory carried to do so. A recurrent model carries a
  fixed-size state; a Transformer carries keys and values for every token so far.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from course_utils.models.common import eval_mode, model_device
from course_utils.models.min_rnn import MinGRU, log_space_scan
from course_utils.models.transformer_lm import TransformerBlock

__all__ = [
    "SCAN",
    "GenerationCost",
    "carried_bytes",
    "generation_cost",
    "sequence_layers",
    "time_forward_backward",
]


SCAN = "minGRU, blocked scan"  # the layer's own parallel mode, what the others are compared with


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward_backward(
    layer: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    *,
    repeats: int = 3,
    warmup: int = 1,
) -> float:
    """Median seconds of ``layer(inputs)`` forward plus backward (``inputs`` [B, T, D]).

    The backward pass starts from the sum of the outputs, so every output position
    takes part; ``warmup`` untimed passes come first (allocations, kernel selection).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    inputs = inputs.detach().requires_grad_()
    times = []
    for index in range(warmup + repeats):
        _synchronize(inputs.device)
        start = time.perf_counter()
        layer(inputs).sum().backward()
        _synchronize(inputs.device)
        if index >= warmup:
            times.append(time.perf_counter() - start)
        inputs.grad = None
    return statistics.median(times)


def sequence_layers(
    width: int, heads: int = 4, device: torch.device | str = "cpu"
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """One layer of each kind, all ``width`` wide, as functions ``[B, T, width] → [B, T, width]``.

    ``nn.LSTM`` (PyTorch's fused kernel, cuDNN on a GPU), the minGRU four ways with the
    same weights (one step at a time as an RNN runs, gates included; its gates computed
    for all steps at once and only the recurrence looped; the blocked scan its parallel
    mode uses; the log-space scan, the paper's GPU form), and one pre-norm causal
    Transformer block.
    """
    torch.manual_seed(0)
    lstm = nn.LSTM(width, width, batch_first=True).to(device)
    min_gru = MinGRU(width, width).to(device)
    block = TransformerBlock(width, heads, dropout=0.0).to(device)

    def step_by_step(x: torch.Tensor) -> torch.Tensor:
        h, states = None, []
        for x_t in x.unbind(1):
            h = min_gru.step(x_t, h)
            states.append(h)
        return torch.stack(states, dim=1)

    def in_log_space(x: torch.Tensor) -> torch.Tensor:
        a, b = min_gru.coefficients(x)
        return log_space_scan(a.log(), b.log())

    return {
        "nn.LSTM": lambda x: lstm(x)[0],
        "minGRU, step by step": step_by_step,
        "minGRU, recurrence loop": lambda x: min_gru(x, mode="sequential")[0],
        SCAN: lambda x: min_gru(x)[0],
        "minGRU, log-space scan": in_log_space,
        "Transformer block": lambda x: block(x, None)[0],
    }


def carried_bytes(hidden: object) -> int:
    """Bytes of every tensor in what a model carries between calls (a state or a cache)."""
    if isinstance(hidden, torch.Tensor):
        return hidden.numel() * hidden.element_size()
    if isinstance(hidden, (tuple, list)):
        return sum(carried_bytes(part) for part in hidden)
    return 0


@dataclass(frozen=True)
class GenerationCost:
    """One model at one context length: seconds per new token and bytes carried."""

    context: int
    seconds_per_token: float
    carried_bytes: int


@torch.no_grad()
def generation_cost(
    model: nn.Module, contexts: Sequence[int], *, new_tokens: int = 16, vocab_size: int = 60
) -> list[GenerationCost]:
    """For each context length: read a random prompt that long, then time one-token steps.

    The model's ``forward(tokens, hidden) -> (logits, hidden)`` is the course's language
    model interface; the prompt is read in one call, then ``new_tokens`` single tokens
    are fed with the carried ``hidden``, as ``generate`` does.
    """
    device = model_device(model)
    costs = []
    generator = torch.Generator().manual_seed(0)
    with eval_mode(model):
        for context in contexts:
            prompt = torch.randint(0, vocab_size, (1, context), generator=generator).to(device)
            logits, hidden = model(prompt)
            token = logits[:, -1:].argmax(-1)
            _synchronize(device)
            start = time.perf_counter()
            for _ in range(new_tokens):
                logits, hidden = model(token, hidden)
                token = logits[:, -1:].argmax(-1)
            _synchronize(device)
            seconds = (time.perf_counter() - start) / new_tokens
            costs.append(GenerationCost(context, seconds, carried_bytes(hidden)))
    return costs
