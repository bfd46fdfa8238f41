"""What a model definition needs: its arguments recorded once, recurrent layers stacked right.

* :func:`constructor_arguments`: the arguments ``__init__`` was given, which a checkpoint
  stores so that :func:`course_utils.training.checkpoint.load_checkpoint` can rebuild the
  model from the file alone.
* :func:`stacked_rnn`: ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` layers with dropout between
  them (and none for a single layer, where PyTorch would warn).
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

__all__ = ["constructor_arguments", "stacked_rnn"]


def constructor_arguments(**replace: Any) -> dict[str, Any]:
    """The arguments the calling ``__init__`` was given, as ``{name: value}`` (d2l's way).

    Every course model calls ``self.config = constructor_arguments()`` so that a checkpoint
    can rebuild it as ``cls(**config)`` without each constructor listing its arguments a
    second time by hand (where one forgotten argument silently rebuilds another model).
    ``replace`` overrides values that must not be stored as given: pretrained embedding
    weights, for instance, travel in the state dict, not in the config.
    """
    frame = inspect.currentframe()
    caller = frame.f_back if frame is not None else None
    if caller is None:  # pragma: no cover - only on Pythons without frame support
        raise RuntimeError("constructor_arguments() needs Python frame support.")
    info = inspect.getargvalues(caller)
    config = {name: info.locals[name] for name in info.args if name != "self"}
    unknown = set(replace) - set(config)
    if unknown:
        raise TypeError(f"constructor_arguments got names that are not arguments: {unknown}")
    return {**config, **replace}


def stacked_rnn(
    cell: type[nn.RNNBase],
    input_dim: int,
    hidden_dim: int,
    num_layers: int,
    dropout: float,
    bidirectional: bool = False,
) -> nn.RNNBase:
    """``num_layers`` of ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``, batch first, dropout between them.

    PyTorch drops out only *between* layers and warns when asked to with one layer, so the
    dropout is passed on only when there is more than one.
    """
    return cell(
        input_dim,
        hidden_dim,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
        batch_first=True,
    )
