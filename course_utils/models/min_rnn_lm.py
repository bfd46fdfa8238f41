"""A character / word language model built from minGRU or minLSTM blocks.

One minGRU layer is weaker than one GRU: its gates cannot see the state, so every
decision about what to keep is made from the current input alone. Depth buys that
back (layer 2's input already summarises the past), and the block around each
recurrence follows what made such models train well (Feng et al. 2024; Mamba and
RWKV use the same outline):

* **pre-normalisation and a residual path**: ``x + W_o · rnn(LayerNorm(x))``, so a deep
  stack starts close to the identity and gradients reach the first block;
* **expansion**: the recurrence runs ``expansion`` times wider than the model, cheap
  because it is element-wise;
* **a feed-forward layer** after each recurrence, ``x + MLP(LayerNorm(x))``, which mixes
  the channels that the element-wise recurrence keeps apart.

The interface is :class:`~course_utils.models.language_model.CharLanguageModel`'s:
``forward(tokens, hidden) -> (logits, hidden)`` with ``hidden`` a tensor
``[layers, batch, state]``, so ``fit``'s language-modelling task carries it between
chunks and lesson 06's ``generate`` feeds one token at a time with the carried state.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from course_utils.models.building import constructor_arguments
from course_utils.models.language_model import check_token_batch
from course_utils.models.min_rnn import MinGRU, MinLSTM

MIN_CELLS: dict[str, type[nn.Module]] = {"mingru": MinGRU, "minlstm": MinLSTM}


class MinRNNBlock(nn.Module):
    """``x + W_o · rnn(norm(x))``, then ``x + MLP(norm(x))``; carries one state ``[B, state]``."""

    def __init__(self, dim: int, cell: str, expansion: int, dropout: float) -> None:
        super().__init__()
        self.rnn_norm = nn.LayerNorm(dim)
        self.rnn = MIN_CELLS[cell](dim, dim * expansion)
        self.rnn_out = nn.Linear(dim * expansion, dim)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None, mode: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        states, last = self.rnn(self.rnn_norm(x), state, mode=mode)
        x = x + self.dropout(self.rnn_out(states))
        return x + self.mlp(self.mlp_norm(x)), last


class MinRNNLanguageModel(nn.Module):
    """Embedding → ``num_layers`` :class:`MinRNNBlock` s → LayerNorm → next-token logits."""

    def __init__(
        self,
        vocab_size: int,
        dim: int = 256,
        num_layers: int = 3,
        expansion: int = 2,
        dropout: float = 0.0,
        cell: Literal["mingru", "minlstm"] = "mingru",
    ) -> None:
        super().__init__()
        if cell not in MIN_CELLS:
            raise ValueError(f"cell must be one of {', '.join(MIN_CELLS)}; got {cell!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        if num_layers < 1 or expansion < 1:
            raise ValueError(
                f"num_layers and expansion must be 1 or more, got {num_layers} and {expansion}."
            )
        self.config = constructor_arguments()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.blocks = nn.ModuleList(
            MinRNNBlock(dim, cell, expansion, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, vocab_size)

    def forward(
        self, tokens: torch.Tensor, hidden: torch.Tensor | None = None, *, mode: str = "parallel"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[batch, time, vocab]`` and every block's last state ``[layers, batch, state]``.

        ``mode="sequential"`` runs each recurrence as a plain loop (same numbers, slower):
        the reference the parallel scan is measured against.
        """
        check_token_batch(tokens)
        if hidden is not None and hidden.shape[:2] != (len(self.blocks), tokens.shape[0]):
            raise ValueError(
                f"hidden must be [{len(self.blocks)} layers, {tokens.shape[0]} batch, state], "
                f"got {tuple(hidden.shape)}: pass the state this model returned for this batch."
            )
        x = self.embedding(tokens)
        last_states = []
        for index, block in enumerate(self.blocks):
            x, last = block(x, None if hidden is None else hidden[index], mode)
            last_states.append(last)
        return self.fc(self.norm(x)), torch.stack(last_states)
