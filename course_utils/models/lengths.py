"""Padding done right: the length machinery every model that reads padded batches shares.

Sequences in a batch have different lengths, so the short ones are padded at the end.
A recurrent layer must not let that padding change a sequence's result. Going forward
in time this is easy (padding comes after every real step, so it cannot reach them);
going backward it is not: ``torch.flip`` would start the backward direction on padding.
The answer, used by the classifier, the tagger and the seq2seq encoder, is to reverse
each row *within its own length* (:func:`reverse_padded`) and run the backward
direction on that (:func:`run_masked`). Lesson 03 builds both from scratch and checks
them against these versions.

``lengths`` are always an int64 tensor on the CPU (what ``pack_padded_sequence``
wants); :func:`check_lengths` makes them so and says plainly what is wrong otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

__all__ = ["CELLS", "LENGTH_MODES", "check_lengths", "reverse_padded", "run_masked"]

#: The recurrent cells the course's models are built from, by the name a config uses.
CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

#: How a model keeps padding out: ``"masked"`` (the exact path here), ``"packed"``
#: (``PackedSequence``, fast with cuDNN), ``"auto"`` (packed on CUDA, masked elsewhere)
#: and ``"none"`` (read the padding too: kept to show the bug).
LENGTH_MODES = ("auto", "masked", "packed", "none")


def check_lengths(
    tokens: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None, *, what: str = "row"
) -> torch.Tensor:
    """``lengths`` as an int64 CPU tensor after checking it fits ``tokens`` ``[batch, time]``.

    ``None`` means no row is padded. One length per row, each between 1 and the padded
    width, or a :class:`ValueError` that says which rule is broken; ``what`` names a row
    in that message ("review", "sentence").
    """
    batch, steps = tokens.shape[:2]
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.int64)
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.size(0) != batch:
        raise ValueError(
            f"lengths has shape {tuple(lengths.shape)} but tokens has {batch} rows, one per "
            f"{what}: pass one length per row, as the course's collate functions return them."
        )
    lengths = lengths.to("cpu", torch.int64)
    if batch and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(
            f"lengths must lie between 1 and the padded width {steps}, got min "
            f"{int(lengths.min())} and max {int(lengths.max())}. Drop empty {what}s before "
            "batching and make sure the lengths belong to these tokens."
        )
    return lengths


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[i]`` steps, leaving its padding at the end.

    ``x`` is ``[batch, time, ...]``. ``torch.flip`` would move the padding to the front,
    and a backward RNN would then start on padding tokens; reversing within each row's
    own length lets it start on the row's real last token. The operation is its own
    inverse, so applying it to the backward direction's outputs puts them back in
    reading order.
    """
    batch, steps = x.shape[:2]
    positions = torch.arange(steps, device=x.device)
    source = lengths.to(x.device)[:, None] - 1 - positions[None, :]
    source = torch.where(source >= 0, source, positions[None, :])  # padding stays put
    source = source.view(batch, steps, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, source)


def run_masked(rnn: nn.RNNBase, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Outputs ``[batch, time, directions * hidden]`` of a batch-first ``rnn`` on a padded batch.

    One direction runs ``rnn`` on the padded batch as it is (padding at the end cannot
    reach earlier steps). A bidirectional ``rnn`` runs layer by layer: the forward
    direction on the layer's input, the backward one on each row reversed within its
    length, both with ``rnn``'s own parameters (so gradients reach them) and its
    inter-layer dropout. Outputs at padded positions are arbitrary: mask them.
    """
    if not rnn.batch_first:
        raise ValueError("run_masked needs an RNN built with batch_first=True.")
    if not rnn.bidirectional:
        outputs, _ = rnn(inputs)
        return outputs
    layer_input = inputs
    for layer in range(rnn.num_layers):
        forward_out = _one_direction(rnn, layer, "", layer_input)
        backward_out = _one_direction(rnn, layer, "_reverse", reverse_padded(layer_input, lengths))
        layer_input = torch.cat([forward_out, reverse_padded(backward_out, lengths)], dim=-1)
        if layer < rnn.num_layers - 1:
            layer_input = F.dropout(layer_input, rnn.dropout, rnn.training)
    return layer_input


@functools.cache
def _single_layer(cell: type[nn.RNNBase], input_size: int, hidden_size: int, mode: str, bias: bool):
    """A one-layer, one-direction module of ``cell``: the shape whose forward we borrow."""
    options = {"nonlinearity": "relu" if mode == "RNN_RELU" else "tanh"} if cell is nn.RNN else {}
    return cell(input_size, hidden_size, bias=bias, batch_first=True, device="meta", **options)


def _one_direction(rnn: nn.RNNBase, layer: int, suffix: str, inputs: torch.Tensor) -> torch.Tensor:
    """One direction of one layer of ``rnn``: its own fused kernel, via ``functional_call``.

    ``torch.func.functional_call`` runs a one-layer module of the same kind with this
    layer's parameters swapped in, so the documented ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``
    forward (and its fused kernel) does the work; the template lives on the ``meta``
    device and holds no weights of its own.
    """
    if getattr(rnn, "proj_size", 0):
        raise ValueError("run_masked does not support LSTMs with proj_size.")
    template = _single_layer(type(rnn), inputs.size(-1), rnn.hidden_size, rnn.mode, rnn.bias)
    names = (
        ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if rnn.bias else ("weight_ih", "weight_hh")
    )
    params = {f"{name}_l0": getattr(rnn, f"{name}_l{layer}{suffix}") for name in names}
    outputs, _ = functional_call(template, params, (inputs,))
    return outputs
