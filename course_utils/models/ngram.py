"""NBSVM: a linear model over which n-grams a text contains, weighted by Naive Bayes.

Wang & Manning (2012) showed that a linear classifier on binary unigrams and bigrams,
each feature scaled by its Naive Bayes log-count ratio, is a very strong sentiment
baseline: on IMDb it beats every recurrent model of this course that learns its own word
embeddings. The ratio of feature ``j`` says how much more often it appears in positive
texts than in negative ones (``α`` smooths the counts):

    r_j = log( (α + Σ_positive f_j) / ‖α + Σ_positive f‖₁ )
        - log( (α + Σ_negative f_j) / ‖α + Σ_negative f‖₁ )

and the model is logistic regression on the scaled features: ``logit = Σ_j w_j r_j f_j + b``.
Here it is an ``nn.Module`` like every other model of the course, trained with the same
``fit`` on batches ``(features [B, F], lengths, labels)`` from
:func:`course_utils.text.ngrams.hashed_ngrams`: an ``nn.EmbeddingBag`` of width 1 holds
the weights ``w`` and sums them over a text's features, with ``r`` as per-feature weights.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.models.building import constructor_arguments

__all__ = ["NgramClassifier"]


class NgramClassifier(nn.Module):
    """Logistic regression over hashed n-gram features scaled by the Naive Bayes ratio ``r``.

    Feature id 0 is padding (weight 0, never counted). Call :meth:`set_nb_ratio` with the
    training split before training; until then ``r = 1`` (plain logistic regression).
    """

    def __init__(self, num_buckets: int = 2**20) -> None:
        super().__init__()
        self.config = constructor_arguments()
        self.weights = nn.EmbeddingBag(num_buckets, 1, mode="sum", padding_idx=0)
        nn.init.zeros_(self.weights.weight)
        self.bias = nn.Parameter(torch.zeros(1))
        self.register_buffer("nb_ratio", torch.ones(num_buckets))

    @torch.no_grad()
    def set_nb_ratio(
        self,
        features: torch.Tensor,
        offsets: torch.Tensor,
        labels: torch.Tensor,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        """Compute ``r`` from the training texts (flat feature ids, offsets, 0/1 labels)."""
        lengths = torch.diff(torch.as_tensor(offsets))
        if len(lengths) != len(labels):
            raise ValueError(f"{len(lengths)} texts but {len(labels)} labels.")
        owner_label = torch.repeat_interleave(torch.as_tensor(labels).long(), lengths)
        counts = torch.zeros(2, self.nb_ratio.numel(), dtype=torch.float64)
        counts.index_put_((owner_label, torch.as_tensor(features)), torch.ones(()).double(),
                          accumulate=True)  # fmt: skip
        smoothed = counts + alpha
        log_share = (smoothed / smoothed.sum(dim=1, keepdim=True)).log()
        ratio = (log_share[1] - log_share[0]).float()
        ratio[0] = 0.0  # padding
        self.nb_ratio.copy_(ratio)
        return self.nb_ratio

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[batch]`` for padded feature ids ``[batch, features]`` (padding: 0)."""
        scale = self.nb_ratio[features]
        return self.weights(features, per_sample_weights=scale).squeeze(1) + self.bias
