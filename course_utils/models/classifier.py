"""The configurable recurrent text classifier the course builds up to.

:class:`RecurrentClassifier` gathers every improvement over the classic models
(:mod:`course_utils.models.classic`) behind constructor arguments, so a lesson
can switch one of them on and measure what it changes: the cell type, stacked
and bidirectional layers, dropout, pretrained embeddings, how the sequence of
states is pooled into one vector, and — the heart of it — how padding is kept
out of the computation.

Why padding matters: reviews in a batch have different lengths, so the short
ones are padded at the end. A model that reads the state at the last padded
position, pools over padded steps, or lets the backward direction of a
bidirectional network start on padding gives a review a different score
depending on what else is in its batch. Every length mode here except
``"none"`` (kept to demonstrate the bug) is padding invariant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_utils.models.building import constructor_arguments, stacked_rnn
from course_utils.models.lengths import CELLS, LENGTH_MODES, check_lengths, run_masked

POOLINGS = ("last", "max", "mean", "attention")


class AttentionPooling(nn.Module):
    """Additive attention pooling: a learned weighted average of the states.

    Each state ``h_t`` gets a score ``vᵀ tanh(W h_t)``; a softmax over the
    valid (non-padding) steps turns the scores into weights that sum to 1, and
    the pooled vector is the weighted sum of the states. The weights show which
    words the classifier relied on, which is why lessons plot them.
    """

    def __init__(self, input_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(input_dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(
        self, states: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled ``[batch, dim]`` and weights ``[batch, time]`` (exactly 0 on padding)."""
        scores = self.score(torch.tanh(self.proj(states))).squeeze(-1)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1), weights


class RecurrentClassifier(nn.Module):
    """Embedding → (bi)directional stacked RNN/LSTM/GRU → pooling → linear layer.

    Arguments beyond the classic models' four sizes:

    * ``cell``: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh).
    * ``num_layers``, ``bidirectional``: stacked layers; a second direction
      that reads each review from its end, so early words are not just a
      faint memory by the time the classifier looks.
    * ``dropout``: applied to the embeddings, between recurrent layers (as
      ``nn.LSTM`` does) and before the output layer.
    * ``padding_idx``: the ``<pad>`` id; its embedding stays zero and gets no
      gradient.
    * ``pretrained_embeddings``: a ``[vocab_size, embed_dim]`` matrix (e.g.
      ``load_glove_vectors(...).vectors``) to start from; ``freeze_embeddings``
      keeps it fixed at first (see :meth:`freeze_embeddings`).
    * ``pooling``: how the states become one vector: ``"last"`` (final state
      of each direction), ``"max"`` / ``"mean"`` over the valid steps,
      ``"attention"`` (:class:`AttentionPooling`), or several of them, e.g.
      ``("max", "mean")``, whose vectors are concatenated.
    * ``lengths``: how padding is kept out (see below).
    * ``max_len``: stored only; prediction helpers truncate input to it so that
      inference sees what training saw.

    Length modes (all but ``"none"`` give identical results):

    * ``"packed"``: ``pack_padded_sequence`` → ``self.rnn`` → ``pad_packed_sequence``,
      the textbook way. On a GPU cuDNN runs it fast; on a CPU PyTorch steps
      through the packed batch with one small matrix product per time step,
      5x or more slower than the padded fused kernel.
    * ``"masked"``: runs the fused kernel on the padded batch and reads each
      row's state at its true last step. For one direction that is exact,
      because padding at the end cannot influence earlier steps. For a
      bidirectional network it runs layer by layer, feeding the backward
      direction each row reversed within its own length
      (:func:`~course_utils.models.lengths.reverse_padded`), with ``self.rnn``'s own
      parameters. Outputs, final states and gradients equal the packed ones, at padded speed.
    * ``"auto"`` (default): ``"packed"`` on CUDA, ``"masked"`` elsewhere.
    * ``"none"``: the classic tutorials' behaviour — state at the last padded position,
      pooling over padding too, backward direction starting on padding. Only
      for showing why the other modes exist: it is *not* padding invariant.

    ``self.rnn`` is the one standard ``nn.LSTM``/``nn.GRU``/``nn.RNN`` in every
    mode, so a state dict trained in one mode loads in any other.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_dim: int,
        output_dim: int,
        *,
        cell: Literal["lstm", "gru", "rnn"] = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        padding_idx: int | None = None,
        pretrained_embeddings: torch.Tensor | None = None,
        freeze_embeddings: bool = False,
        pooling: str | Sequence[str] = "last",
        lengths: Literal["auto", "masked", "packed", "none"] = "auto",
        max_len: int | None = None,
    ) -> None:
        super().__init__()
        poolings = _checked_options(
            cell, pooling, lengths, pretrained_embeddings, (vocab_size, embed_dim)
        )
        self.config = constructor_arguments(
            pretrained_embeddings=None,  # the weights travel in the state dict
            pooling=pooling if isinstance(pooling, str) else list(poolings),
        )
        self.cell = cell
        self.pooling = poolings
        self.length_mode = lengths
        self.max_len = max_len
        self.num_directions = 2 if bidirectional else 1

        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        if pretrained_embeddings is not None:
            with torch.no_grad():
                self.embedding.weight.copy_(pretrained_embeddings)
        if freeze_embeddings:
            self.freeze_embeddings()
        self.rnn = stacked_rnn(
            CELLS[cell], embed_dim, hidden_dim, num_layers, dropout, bidirectional
        )
        state_dim = hidden_dim * self.num_directions
        self.attention = (
            AttentionPooling(state_dim, hidden_dim) if "attention" in poolings else None
        )
        self.last_attention: torch.Tensor | None = None
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(state_dim * len(poolings), output_dim)

    def freeze_embeddings(self) -> None:
        """Stop training the embedding matrix (e.g. while the rest adapts to GloVe vectors).

        Freezing sets ``requires_grad=False``, so the weights get no gradient
        and optimizers skip them. To unfreeze later, build the optimizer from
        all of ``model.parameters()``, not only the trainable ones.
        """
        self.embedding.weight.requires_grad_(False)
        self.config["freeze_embeddings"] = True

    def unfreeze_embeddings(self) -> None:
        """Let the embedding matrix train again (fine-tuning pretrained vectors)."""
        self.embedding.weight.requires_grad_(True)
        self.config["freeze_embeddings"] = False

    def resolve_length_mode(self, device: torch.device) -> str:
        """The length mode used for inputs on ``device`` (what ``"auto"`` turns into)."""
        if self.length_mode != "auto":
            return self.length_mode
        return "packed" if device.type == "cuda" else "masked"

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[batch, output_dim]`` for token ids ``[batch, time]``.

        ``lengths`` (CPU int64 ``[batch]``) gives each row's number of real
        tokens, padding being at the end; ``None`` means no row is padded.
        """
        outputs, final, mask = self.encode(tokens, lengths)
        pooled = []
        for name in self.pooling:
            if name == "last":
                pooled.append(final)
            elif name == "max":
                pooled.append(outputs.masked_fill(~mask[..., None], float("-inf")).amax(dim=1))
            elif name == "mean":
                counts = mask.sum(dim=1, keepdim=True).to(outputs.dtype)
                pooled.append((outputs * mask[..., None]).sum(dim=1) / counts)
            else:
                context, weights = self.attention(outputs, mask)
                self.last_attention = weights.detach()
                pooled.append(context)
        return self.fc(self.dropout(torch.cat(pooled, dim=-1)))

    def encode(
        self, tokens: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run embedding and recurrent layers: the part every pooling shares.

        Returns the top layer's states ``[batch, time, directions * hidden]``
        (zero at padded positions, as ``pad_packed_sequence`` gives them), the
        final state ``[batch, directions * hidden]`` (forward direction after
        each row's last real token, then the backward direction after its
        first), and the mask ``[batch, time]`` of valid steps.
        """
        if tokens.dim() != 2:
            raise ValueError(
                f"tokens must be [batch, time] token ids, got shape {tuple(tokens.shape)}. "
                "For a single review use tokens.unsqueeze(0)."
            )
        lengths = check_lengths(tokens, lengths, what="review")
        mode = self.resolve_length_mode(tokens.device)
        embedded = self.dropout(self.embedding(tokens))
        steps = tokens.size(1)
        hidden = self.rnn.hidden_size

        if mode == "none":
            outputs, _ = self.rnn(embedded)
            mask = torch.ones_like(tokens, dtype=torch.bool)
            final = outputs[:, -1, :hidden]  # after the padding
            if self.num_directions == 2:
                final = torch.cat([final, outputs[:, 0, hidden:]], dim=-1)  # started on padding
            return outputs, final, mask

        positions = torch.arange(steps, device=tokens.device)
        mask = positions[None, :] < lengths.to(tokens.device)[:, None]
        if mode == "packed":
            packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            packed_outputs, h_n = self.rnn(packed)
            outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=steps)
            if isinstance(h_n, tuple):  # an LSTM's (h_n, c_n)
                h_n = h_n[0]
            final = torch.cat(list(h_n[-self.num_directions :]), dim=-1)
            return outputs, final, mask

        outputs = run_masked(self.rnn, embedded, lengths) * mask[..., None]
        last_index = (lengths.to(tokens.device) - 1).view(-1, 1, 1).expand(-1, 1, hidden)
        final = outputs[..., :hidden].gather(1, last_index).squeeze(1)
        if self.num_directions == 2:
            final = torch.cat([final, outputs[:, 0, hidden:]], dim=-1)
        return outputs, final, mask


def _checked_options(
    cell: str,
    pooling: str | Sequence[str],
    lengths: str,
    pretrained_embeddings: torch.Tensor | None,
    shape: tuple[int, int],
) -> tuple[str, ...]:
    """The pooling names as a tuple, after checking every option the constructor takes."""
    if cell not in CELLS:
        raise ValueError(f"Unknown cell {cell!r}: choose one of {', '.join(CELLS)}.")
    poolings = (pooling,) if isinstance(pooling, str) else tuple(pooling)
    unknown = [name for name in poolings if name not in POOLINGS]
    if not poolings or unknown or len(set(poolings)) != len(poolings):
        raise ValueError(
            f"pooling={pooling!r} is not valid: give one of {', '.join(POOLINGS)}, "
            "or a sequence of distinct ones such as ('max', 'mean')."
        )
    if lengths not in LENGTH_MODES:
        raise ValueError(
            f"Unknown length mode {lengths!r}: choose one of {', '.join(LENGTH_MODES)}."
        )
    if pretrained_embeddings is not None and tuple(pretrained_embeddings.shape) != shape:
        raise ValueError(
            f"pretrained_embeddings has shape {tuple(pretrained_embeddings.shape)}, but the "
            f"model needs (vocab_size, embed_dim) = {shape}. Build the "
            "matrix from the same vocabulary and pass embed_dim equal to its dimension."
        )
    return poolings
