"""The classic tutorials' models, kept under their original names.

The course starts from the architectures that classic sentiment and text
generation tutorials use: embedding → recurrent layer → linear layer. They are
short and readable, which is why lesson 1 uses them, but the classifiers read
the hidden state at the *last position of the padded batch*. A short review
padded to the length of the longest one in its batch is therefore classified
from a state that has just processed a run of ``<pad>`` tokens, so its
prediction changes with whatever else happens to be in the batch. Later
lessons fix this and improve on them step by step, ending in
:class:`course_utils.models.classifier.RecurrentClassifier`:

* packing (``pack_padded_sequence``) or masking so that padding is never read,
* a bidirectional network so the first words count as much as the last ones,
* max / mean / attention pooling over all time steps instead of one state,
* pretrained embeddings (GloVe, word2vec) instead of learning them from scratch,
* dropout against overfitting.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.models.building import constructor_arguments, stacked_rnn


class _ClassicClassifier(nn.Module):
    """Embedding → one recurrent layer → linear layer on the last padded position.

    The three seed classifiers differ only in their recurrent layer, so they
    share this class and name ``rnn_class`` to pick it.
    """

    rnn_class: type[nn.RNNBase]

    def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.config = constructor_arguments()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = self.rnn_class(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[batch, output_dim]`` for token ids ``[batch, time]``.

        ``lengths`` is accepted so that one training loop can call every
        classifier as ``model(tokens, lengths)``, and then deliberately
        ignored: the seed reads the state at position ``time - 1``, which for
        any row shorter than the batch is a state computed over padding.
        """
        del lengths  # The classic architecture does not use them; that is its flaw.
        embedded = self.embedding(tokens)
        outputs, _ = self.rnn(embedded)
        return self.fc(outputs[:, -1, :])


class RNNModel(_ClassicClassifier):
    """The classic tutorials' vanilla RNN classifier (``nn.RNN``, tanh).

    It classifies from the hidden state at the last position of the padded
    batch and ignores ``lengths``, so padding changes its predictions; plain
    RNNs also forget the start of long reviews (vanishing gradients). Later
    lessons replace it with LSTM/GRU cells, packing or masking, a
    bidirectional network, pooling, pretrained embeddings and dropout
    (see :class:`~course_utils.models.classifier.RecurrentClassifier`).
    """

    rnn_class = nn.RNN


class TextClassifier(_ClassicClassifier):
    """The classic tutorials' LSTM sentiment classifier.

    The LSTM's gates keep information over long reviews far better than a
    plain RNN, but this seed still reads the last position of the padded
    batch and ignores ``lengths``, so short reviews are classified after a
    run of padding. Later lessons add packing or masking, a bidirectional
    network, pooling, pretrained embeddings and dropout
    (see :class:`~course_utils.models.classifier.RecurrentClassifier`).
    """

    rnn_class = nn.LSTM


class GRUModel(_ClassicClassifier):
    """The classic tutorials' GRU classifier: an LSTM-like gated cell with fewer parameters.

    Like the other seeds it ignores ``lengths`` and reads the last position of
    the padded batch, so padding changes its predictions. Later lessons add
    packing or masking, a bidirectional network, pooling, pretrained
    embeddings and dropout
    (see :class:`~course_utils.models.classifier.RecurrentClassifier`).
    """

    rnn_class = nn.GRU


class TextGenerator(nn.Module):
    """The classic tutorials' LSTM language model: predict the next token at every step.

    Unlike the classifiers it needs no lengths: training text is cut into
    equal-length chunks, so there is no padding. ``forward`` returns one row of
    logits per time step (every position is a training example) and the
    hidden state, so that a sampler can feed one token at a time and a
    stateful trainer can carry the state from one chunk to the next
    (truncated backpropagation through time).

    ``dropout`` is applied between stacked LSTM layers (as ``nn.LSTM`` does)
    and to the top layer's outputs before the output layer.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_dim: int,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.config = constructor_arguments()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = stacked_rnn(nn.LSTM, embed_dim, hidden_dim, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_dim, vocab_size)

    def forward(
        self,
        tokens: torch.Tensor,
        hidden: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Next-token logits ``[batch, time, vocab_size]`` and the new ``(h, c)`` state.

        Pass the returned ``hidden`` back in to continue the same text: running
        a sequence in two halves with the state carried over gives the same
        logits as running it whole. ``hidden=None`` starts from zeros.
        """
        embedded = self.embedding(tokens)
        outputs, hidden = self.rnn(embedded, hidden)
        return self.fc(self.dropout(outputs)), hidden
