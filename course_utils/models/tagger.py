"""A sequence labeller: one tag per word from a bidirectional LSTM, with a character CNN.

:class:`BiLSTMTagger` gives every word a vector made of two parts,

* a **word embedding** (from a vocabulary built on the training split), and
* optionally a **character feature** from :class:`CharCNN`: convolutions over
  the word's characters, max-pooled, so a word the vocabulary has never seen
  ("unfriended", "Qaim") still arrives with its shape and affixes,

runs a stacked bidirectional LSTM over the sentence, and maps each position's
state ``[h→; h←]`` to one score per tag. Padding never changes a prediction: the
LSTM runs through the exact masked path of the classifier
(:func:`course_utils.models.lengths.run_masked`) or packed sequences on CUDA,
and the character CNN ignores padded characters.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_utils.models.building import constructor_arguments, stacked_rnn
from course_utils.models.lengths import LENGTH_MODES, check_lengths, run_masked

__all__ = ["BiLSTMTagger", "CharCNN"]


class CharCNN(nn.Module):
    """Character embeddings → 1-D convolution → max over the word's characters.

    ``chars`` is ``[batch, time, max_word_len]``; the result ``[batch, time, filters]``.
    A filter of width ``kernel_size`` is a learned detector of character n-grams
    ("-ing", "Mc", "19"); taking its maximum over the word says whether the
    n-gram occurs anywhere in it. Padded characters never win the maximum, so a
    word's feature does not depend on how wide the batch's character tensor is,
    and a position with no characters at all (a padded word) gets zeros.
    """

    def __init__(
        self,
        num_chars: int,
        char_dim: int = 32,
        filters: int = 64,
        kernel_size: int = 3,
        padding_idx: int | None = None,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (centred n-grams), got {kernel_size}.")
        self.padding_idx = padding_idx
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=padding_idx)
        self.conv = nn.Conv1d(char_dim, filters, kernel_size, padding=kernel_size // 2)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        if chars.dim() != 3:
            raise ValueError(
                f"chars must be [batch, time, characters], got shape {tuple(chars.shape)}."
            )
        batch, steps, width = chars.shape
        flat = chars.reshape(batch * steps, width)
        real = (
            flat != self.padding_idx
            if self.padding_idx is not None
            else torch.ones_like(flat, dtype=torch.bool)
        )
        embedded = self.embedding(flat) * real[..., None]  # padded characters contribute zeros
        features = self.conv(embedded.transpose(1, 2))  # [N, filters, width]
        features = features.masked_fill(~real[:, None, :], float("-inf")).amax(dim=2)
        has_chars = real.any(dim=1, keepdim=True)
        features = torch.where(has_chars, features, torch.zeros_like(features))
        return features.view(batch, steps, -1)


class BiLSTMTagger(nn.Module):
    """Word embedding (+ :class:`CharCNN`) → stacked BiLSTM → linear layer: ``[B, T, num_tags]``.

    * ``vocab_size``, ``embed_dim``, ``padding_idx``: the word embedding.
    * ``hidden_dim``, ``num_layers``: the LSTM (per direction); always bidirectional,
      because a word's tag depends on the words after it too ("I *can* fish" vs
      "a *can* of fish").
    * ``dropout``: on the word vectors, between LSTM layers and before the output layer.
    * ``num_chars`` (``None``: no character part), ``char_dim``, ``char_filters``,
      ``char_kernel_size``, ``char_padding_idx``: the :class:`CharCNN`.
    * ``lengths``: ``"auto"`` (packed on CUDA, the exact masked path elsewhere),
      ``"masked"`` or ``"packed"``; all give the same outputs.

    ``forward(inputs, lengths)`` takes word ids ``[B, T]``, or ``(word_ids, char_ids)``
    with ``char_ids`` ``[B, T, L]`` when the model has a character part.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_dim: int,
        num_tags: int,
        *,
        num_layers: int = 2,
        dropout: float = 0.33,
        padding_idx: int | None = None,
        num_chars: int | None = None,
        char_dim: int = 32,
        char_filters: int = 64,
        char_kernel_size: int = 3,
        char_padding_idx: int | None = None,
        lengths: Literal["auto", "masked", "packed"] = "auto",
    ) -> None:
        super().__init__()
        if lengths not in LENGTH_MODES or lengths == "none":
            raise ValueError(
                f"Unknown length mode {lengths!r} for a tagger: "
                "choose 'auto', 'masked' or 'packed'."
            )
        self.config = constructor_arguments()
        self.length_mode = lengths
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.char_cnn = (
            CharCNN(num_chars, char_dim, char_filters, char_kernel_size, char_padding_idx)
            if num_chars is not None
            else None
        )
        input_dim = embed_dim + (char_filters if self.char_cnn is not None else 0)
        self.rnn = stacked_rnn(nn.LSTM, input_dim, hidden_dim, num_layers, dropout, True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden_dim, num_tags)

    @property
    def uses_chars(self) -> bool:
        return self.char_cnn is not None

    def resolve_length_mode(self, device: torch.device) -> str:
        """The length mode used for inputs on ``device`` (what ``"auto"`` turns into)."""
        if self.length_mode != "auto":
            return self.length_mode
        return "packed" if device.type == "cuda" else "masked"

    def _split_inputs(self, inputs) -> tuple[torch.Tensor, torch.Tensor | None]:
        if isinstance(inputs, torch.Tensor):
            words, chars = inputs, None
        elif isinstance(inputs, tuple | list) and len(inputs) == 2:
            words, chars = inputs
        else:
            raise ValueError(
                "inputs must be word ids [batch, time] or a pair (word_ids, char_ids), as "
                "course_utils.datasets.ud_batches.TagCollate returns them."
            )
        if words.dim() != 2:
            raise ValueError(
                f"word ids must be [batch, time], got shape {tuple(words.shape)}. "
                "For a single sentence use word_ids.unsqueeze(0)."
            )
        if self.char_cnn is not None:
            if chars is None:
                raise ValueError(
                    "This tagger has a character CNN: pass (word_ids, char_ids), "
                    "not word ids alone."
                )
            if chars.shape[:2] != words.shape:
                raise ValueError(
                    f"char ids {tuple(chars.shape)} do not match word ids {tuple(words.shape)}: "
                    "expected [batch, time, characters] for the same batch and time."
                )
        return words, chars

    def forward(self, inputs, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Tag scores ``[batch, time, num_tags]``; a softmax over the last axis gives probabilities.

        ``lengths`` (CPU int64 ``[batch]``) gives each sentence's number of words;
        ``None`` means no row is padded. Scores at padded positions mean nothing:
        mask them (``TokenClassification`` does).
        """
        words, chars = self._split_inputs(inputs)
        lengths = check_lengths(words, lengths, what="sentence")
        features = self.embedding(words)
        if self.char_cnn is not None:
            features = torch.cat([features, self.char_cnn(chars)], dim=-1)
        features = self.dropout(features)
        steps = words.size(1)
        mask = torch.arange(steps, device=words.device)[None, :] < lengths.to(words.device)[:, None]
        if self.resolve_length_mode(words.device) == "packed":
            packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
            outputs, _ = self.rnn(packed)
            outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=steps)
        else:
            outputs = run_masked(self.rnn, features, lengths) * mask[..., None]
        return self.fc(self.dropout(outputs))
