"""A recurrent language model with a choice of cell, for characters or words.

The classic tutorials' :class:`~course_utils.models.classic.TextGenerator` is an LSTM; the
generation lesson compares RNN, LSTM and GRU cells on the same budget, so this
model takes ``cell`` as an argument and otherwise matches the seed: embedding →
stacked recurrent layers → dropout → a linear layer giving next-token logits at
every position. ``forward`` takes and returns the hidden state so training can
carry it between consecutive chunks (truncated BPTT) and sampling can feed one
token at a time.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from course_utils.models.building import constructor_arguments, stacked_rnn
from course_utils.models.lengths import CELLS


def check_token_batch(tokens: torch.Tensor) -> None:
    """Every language model reads ``[batch, time]`` token ids; say how to mend one sequence."""
    if tokens.dim() != 2:
        raise ValueError(
            f"tokens must be [batch, time] token ids; got shape {tuple(tokens.shape)}. "
            "For a single sequence use tokens.unsqueeze(0)."
        )


class CharLanguageModel(nn.Module):
    """Embedding → ``num_layers`` recurrent layers (``cell``) → next-token logits.

    ``dropout`` acts between recurrent layers and on the top layer's outputs. An
    LSTM starts with its forget gates open (recurrent forget bias 1, as Jozefowicz
    et al. 2015 recommend), so early in training it keeps its memory by default.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_dim: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        cell: Literal["rnn", "lstm", "gru"] = "lstm",
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.config = constructor_arguments()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = stacked_rnn(CELLS[cell], embed_dim, hidden_dim, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_dim, vocab_size)
        if cell == "lstm":
            with torch.no_grad():
                for name, param in self.rnn.named_parameters():
                    if name.startswith("bias_hh"):
                        param[hidden_dim : 2 * hidden_dim].fill_(1.0)

    def forward(self, tokens: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
        """Next-token logits ``[batch, time, vocab_size]`` and the new hidden state.

        ``hidden=None`` starts from zeros. Feeding the returned state back in
        continues the same text: two halves with the state carried give the
        logits of the whole sequence.
        """
        check_token_batch(tokens)
        outputs, hidden = self.rnn(self.embedding(tokens), hidden)
        return self.fc(self.dropout(outputs)), hidden
