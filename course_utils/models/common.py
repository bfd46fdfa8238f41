"""Small things every user of a model needs, written once.

* :func:`model_device`: where a model's weights live (inputs must go there too).
* :func:`eval_mode`: run a model in eval mode and give it back in the mode it was in, so that
  a prediction in the middle of training never leaves dropout switched off.
* :func:`is_binary_logits`: one logit per example means a binary classifier (sigmoid),
  ``C > 1`` logits a multi-class one (softmax).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["eval_mode", "is_binary_logits", "model_device"]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(model):`` runs the block in eval mode and restores the previous mode.

    The previous mode comes back even when the block raises, so an error in a prediction
    made between two training epochs cannot leave dropout off for the rest of training.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def is_binary_logits(logits: torch.Tensor) -> bool:
    """True for ``[B]`` or ``[B, 1]`` logits: one score per example, read with a sigmoid."""
    return logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1)
