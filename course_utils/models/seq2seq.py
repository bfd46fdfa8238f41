"""Encoder–decoder (sequence-to-sequence) models for translation.

Both models share one :class:`Encoder`: a bidirectional GRU over the source
sentence. They differ in what the decoder may look at:

* :class:`BottleneckSeq2Seq` squeezes the whole source into **one** vector ``z``
  (the encoder's final states) and gives the decoder only that: the fixed-size
  bottleneck of Sutskever et al. (2014) and Cho et al. (2014).
* :class:`AttentionSeq2Seq` lets every decoder step look back at **all** encoder
  states through additive (Bahdanau) attention, ``e_{t,i} = vᵀ tanh(W s_{t-1} + U h_i)``,
  with a softmax that gives padded source positions exactly zero weight.

Decoding (greedy, beam search) lives in :mod:`course_utils.inference.decoding`; it only
needs the three methods every model here has: :meth:`encode` (source → memory),
:meth:`initial_hidden` and :meth:`step` (one target word → logits of the next).
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.models.building import constructor_arguments
from course_utils.models.lengths import check_lengths, reverse_padded

__all__ = ["AdditiveAttention", "AttentionSeq2Seq", "BottleneckSeq2Seq", "Encoder", "Memory"]

#: What the encoder hands the decoder, every tensor batch-first so that decoders
#: can repeat or reorder it row by row (beam search):
#: ``(states [B, S, 2H], mask [B, S] True on real tokens, summary [B, D_dec], ...)``;
#: a decoder may append tensors of its own (the attention model adds its keys).
Memory = tuple[torch.Tensor, ...]


class Encoder(nn.Module):
    """Embedding → bidirectional GRU → every position's state and one summary vector.

    The two directions are separate single-direction GRUs run through PyTorch's
    fused kernel on the padded batch (fast on a CPU). The backward GRU reads each
    sentence reversed *within its own length* (:func:`reverse_padded`), so it
    starts on the sentence's last real word, never on padding: states at real
    positions do not depend on how much padding follows. The summary is
    ``tanh(W [→h_last; ←h_first])``, sized for the decoder's hidden state.
    """

    def __init__(
        self,
        vocab_size: int,
        emb_dim: int,
        hidden_dim: int,
        dec_dim: int,
        dropout: float,
        pad_index: int,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_index)
        self.forward_rnn = nn.GRU(emb_dim, hidden_dim, batch_first=True)
        self.backward_rnn = nn.GRU(emb_dim, hidden_dim, batch_first=True)
        self.to_summary = nn.Linear(2 * hidden_dim, dec_dim)
        self.dropout = nn.Dropout(dropout)
        self.output_dim = 2 * hidden_dim

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> Memory:
        lengths = check_lengths(src, lengths, what="source sentence")
        device_lengths = lengths.to(src.device)
        embedded = self.dropout(self.embedding(src))
        forward_states, _ = self.forward_rnn(embedded)
        backward_reversed, _ = self.backward_rnn(reverse_padded(embedded, device_lengths))
        backward_states = reverse_padded(backward_reversed, device_lengths)
        states = torch.cat([forward_states, backward_states], dim=-1)
        last = (device_lengths - 1).view(-1, 1, 1).expand(-1, 1, forward_states.size(-1))
        forward_last = forward_states.gather(1, last).squeeze(1)
        backward_first = backward_states[:, 0]  # the backward GRU's final state
        summary = torch.tanh(self.to_summary(torch.cat([forward_last, backward_first], dim=-1)))
        positions = torch.arange(src.size(1), device=src.device)
        mask = positions[None, :] < device_lengths[:, None]
        return states, mask, summary


class AdditiveAttention(nn.Module):
    """Bahdanau attention: ``e_i = vᵀ tanh(W s + U h_i)``, masked softmax, weighted sum.

    ``U h_i`` does not depend on the decoder step, so :meth:`keys` computes it once
    per sentence; each step then costs one small matrix product for ``W s``.
    Padded positions get a score of ``-inf`` before the softmax, so their weight
    is exactly ``0`` and the real positions' weights sum to 1.
    """

    def __init__(self, enc_dim: int, dec_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.W = nn.Linear(dec_dim, attn_dim, bias=False)
        self.U = nn.Linear(enc_dim, attn_dim)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def keys(self, states: torch.Tensor) -> torch.Tensor:
        """``U h_i`` for every source position: ``[B, S, attn_dim]``."""
        return self.U(states)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, states: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context ``[B, enc_dim]`` and weights ``[B, S]`` for the decoder state ``query``."""
        scores = self.v(torch.tanh(self.W(query).unsqueeze(1) + keys)).squeeze(-1)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        context = torch.bmm(weights.unsqueeze(1), states).squeeze(1)
        return context, weights


def readout(in_dim: int, out_dim: int, vocab_size: int) -> nn.Sequential:
    """``logits = W_o tanh(W_r [s_t; ...] + b_r) + b_o``: a small tanh layer before the softmax.

    The output layer over the whole target vocabulary is most of a training step's
    cost on a CPU (measured: three quarters with a 1,280 → 5,900 layer). Going
    through ``out_dim`` units first (Luong et al.'s "attentional vector") cuts that
    cost about four-fold at ``out_dim=256`` and adds a non-linearity.
    """
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.Tanh(), nn.Linear(out_dim, vocab_size))


class _EncoderDecoder(nn.Module):
    """The teacher-forced training loop shared by both models; subclasses define :meth:`step`."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        emb_dim: int,
        enc_hidden: int,
        dec_hidden: int,
        dropout: float,
        src_pad_index: int,
        tgt_pad_index: int,
    ) -> None:
        """The parts both models share: the encoder, the target embedding and dropout."""
        super().__init__()
        #: ``[teacher-forced decisions, all decisions]`` counted since the last reset:
        #: what ``teacher_forcing_ratio`` actually did during training.
        self.forcing_counts = [0, 0]
        self.encoder = Encoder(
            src_vocab_size, emb_dim, enc_hidden, dec_hidden, dropout, src_pad_index
        )
        self.embedding = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=tgt_pad_index)
        self.dropout = nn.Dropout(dropout)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Memory:
        """Run the encoder once: the memory every decoder step reads."""
        return self.encoder(src, src_lengths)

    def initial_hidden(self, memory: Memory) -> torch.Tensor:
        """The decoder's first state ``s_0``: the encoder's summary of the source."""
        return memory[2]

    def advance(
        self, embedded: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One decoder step before the output layer: ``(features, new hidden, attention)``.

        ``embedded`` is the (dropped-out) embedding of the previous word; ``features``
        is what the output layer turns into logits.
        """
        raise NotImplementedError

    def step(
        self, prev: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One decoder step: ``(logits [B, V], new hidden, attention [B, S] or None)``."""
        embedded = self.dropout(self.embedding(prev))
        features, hidden, weights = self.advance(embedded, hidden, memory)
        return self.out(features), hidden, weights

    def forward(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        tgt: torch.Tensor,
        teacher_forcing_ratio: float = 1.0,
    ) -> torch.Tensor:
        """Logits ``[B, T-1, V]`` predicting ``tgt[:, 1:]`` (``tgt`` starts with ``<sos>``).

        At each step the decoder is fed the reference's previous word with
        probability ``teacher_forcing_ratio`` (decided per sentence and step),
        otherwise its own best guess from the step before.
        """
        memory = self.encode(src, src_lengths)
        hidden = self.initial_hidden(memory)
        if teacher_forcing_ratio >= 1.0:
            # Every input word is known in advance: embed them all at once and apply
            # the output layer once to all steps (one large matrix product is much
            # faster on a CPU than T small ones). Same numbers as the loop below.
            embedded = self.dropout(self.embedding(tgt[:, :-1]))
            features = []
            for t in range(embedded.size(1)):
                feature, hidden, _ = self.advance(embedded[:, t], hidden, memory)
                features.append(feature)
            if self.training:
                self.forcing_counts[0] += tgt.size(0) * embedded.size(1)
                self.forcing_counts[1] += tgt.size(0) * embedded.size(1)
            return self.out(torch.stack(features, dim=1))
        prev = tgt[:, 0]
        outputs = []
        for t in range(1, tgt.size(1)):
            logits, hidden, _ = self.step(prev, hidden, memory)
            outputs.append(logits)
            use_truth = torch.rand(tgt.size(0), device=tgt.device) < teacher_forcing_ratio
            prev = torch.where(use_truth, tgt[:, t], logits.argmax(-1))
            forced = int(use_truth.sum())
            if self.training:
                self.forcing_counts[0] += forced
                self.forcing_counts[1] += tgt.size(0)
        return torch.stack(outputs, dim=1)


class BottleneckSeq2Seq(_EncoderDecoder):
    """Encoder–decoder whose decoder sees the source only through one vector ``z``.

    ``z`` (the encoder summary) is the decoder's first state and is also fed to
    every step, next to the previous word: ``s_t = GRU([emb(y_{t-1}); z], s_{t-1})``,
    and ``logits_t = readout([s_t; z; emb(y_{t-1})])`` (see :func:`readout`). However
    long the sentence, everything the decoder knows about it must fit in ``z``.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        emb_dim: int = 256,
        enc_hidden: int = 256,
        dec_hidden: int = 512,
        dropout: float = 0.3,
        src_pad_index: int = 1,
        tgt_pad_index: int = 1,
        out_dim: int = 256,
    ) -> None:
        super().__init__(src_vocab_size, tgt_vocab_size, emb_dim, enc_hidden, dec_hidden,
                         dropout, src_pad_index, tgt_pad_index)  # fmt: skip
        self.config = constructor_arguments()
        self.cell = nn.GRUCell(emb_dim + dec_hidden, dec_hidden)
        self.out = readout(2 * dec_hidden + emb_dim, out_dim, tgt_vocab_size)

    def advance(self, embedded, hidden, memory):
        z = memory[2]
        hidden = self.cell(torch.cat([embedded, z], dim=-1), hidden)
        return torch.cat([hidden, z, embedded], dim=-1), hidden, None


class AttentionSeq2Seq(_EncoderDecoder):
    """Encoder–decoder with additive attention over all encoder states.

    Each step: attention weights ``α_t`` from ``s_{t-1}`` and every ``h_i``, context
    ``c_t = Σ_i α_{t,i} h_i``, then ``s_t = GRU([emb(y_{t-1}); c_t], s_{t-1})`` and
    ``logits_t = readout([s_t; c_t; emb(y_{t-1})])`` (see :func:`readout`). The decoders in
    :mod:`course_utils.inference.decoding` collect the weights ``α_t`` of every step for plots.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        emb_dim: int = 256,
        enc_hidden: int = 256,
        dec_hidden: int = 512,
        attn_dim: int = 256,
        dropout: float = 0.3,
        src_pad_index: int = 1,
        tgt_pad_index: int = 1,
        out_dim: int = 256,
    ) -> None:
        super().__init__(src_vocab_size, tgt_vocab_size, emb_dim, enc_hidden, dec_hidden,
                         dropout, src_pad_index, tgt_pad_index)  # fmt: skip
        self.config = constructor_arguments()
        enc_dim = self.encoder.output_dim
        self.attention = AdditiveAttention(enc_dim, dec_hidden, attn_dim)
        self.cell = nn.GRUCell(emb_dim + enc_dim, dec_hidden)
        self.out = readout(dec_hidden + enc_dim + emb_dim, out_dim, tgt_vocab_size)

    def encode(self, src, src_lengths):
        states, mask, summary = self.encoder(src, src_lengths)
        # The keys U h_i ride along in the memory so that they are computed once.
        return states, mask, summary, self.attention.keys(states)

    def advance(self, embedded, hidden, memory):
        states, mask, _, keys = memory
        context, weights = self.attention(hidden, keys, states, mask)
        hidden = self.cell(torch.cat([embedded, context], dim=-1), hidden)
        return torch.cat([hidden, context, embedded], dim=-1), hidden, weights
