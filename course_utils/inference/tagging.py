"""Using and judging a trained tagger: predictions, per-tag metrics, OOV accuracy, own sentences.

Accuracy over all tokens hides the interesting part of tagging: most tokens are
frequent, unambiguous words ("the", ".") that any model gets right. So
:func:`tagging_report` also gives

* accuracy on **out-of-vocabulary** (OOV) tokens, words the word embedding sees
  as ``<unk>``: only the context and (with a character model) the spelling are
  left to go on;
* **precision, recall and F1 per tag** and a **confusion matrix** (computed with
  ``torchmetrics``), which say *which* tags get mixed up.

Only real tokens count: padded positions are dropped before any metric sees them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from course_utils.datasets.ud_batches import TaggingVocabs
from course_utils.inference.inputs import check_vocab_size, require_model, vocab_rows
from course_utils.models.common import eval_mode, model_device
from course_utils.training.tasks import length_mask, to_device

__all__ = ["TagPredictions", "TaggingReport", "predict_tags", "tag_sentence", "tagging_report"]


def _word_ids(inputs) -> torch.Tensor:
    return inputs if isinstance(inputs, torch.Tensor) else inputs[0]


@dataclass
class TagPredictions:
    """Flat predicted and gold tag ids of every real token, and whether it was OOV."""

    predicted: torch.Tensor
    gold: torch.Tensor
    oov: torch.Tensor

    def __len__(self) -> int:
        return int(self.gold.numel())


@torch.no_grad()
def predict_tags(model: nn.Module, loader: Iterable, unk_index: int) -> TagPredictions:
    """Arg-max tags for every real (non-padded) token of ``loader``, in the loader's order.

    Batches are ``(inputs, lengths, tags)`` as :class:`~course_utils.datasets.ud_batches.TagCollate`
    makes them. A token is OOV when its word id is ``unk_index``.
    """
    module = require_model(model, "tagger", "predict_tags")
    device = model_device(module)
    predicted, gold, oov = [], [], []
    with eval_mode(module):
        for inputs, lengths, tags in loader:
            inputs = to_device(inputs, device)
            scores = module(inputs, lengths.cpu())
            mask = length_mask(lengths, tags.shape[1], device)
            predicted.append(scores.argmax(dim=-1)[mask].cpu())
            gold.append(tags.to(device)[mask].cpu())
            oov.append((_word_ids(inputs) == unk_index)[mask].cpu())
    if not gold:
        raise ValueError("The loader yielded no batches: nothing to tag.")
    return TagPredictions(torch.cat(predicted), torch.cat(gold), torch.cat(oov))


@dataclass
class TaggingReport:
    """Token accuracy (all / OOV), per-tag precision, recall, F1 and support, confusion matrix.

    ``confusion[i, j]`` counts tokens whose gold tag is ``tags[i]`` and predicted tag ``tags[j]``.
    """

    tags: list[str]
    accuracy: float
    oov_accuracy: float
    n_tokens: int
    n_oov: int
    precision: torch.Tensor
    recall: torch.Tensor
    f1: torch.Tensor
    support: torch.Tensor
    confusion: torch.Tensor

    def __repr__(self) -> str:
        return (
            f"TaggingReport(accuracy={self.accuracy:.2%} on {self.n_tokens:,} tokens, "
            f"OOV accuracy={self.oov_accuracy:.2%} on {self.n_oov:,} OOV tokens)"
        )

    def per_tag(self) -> list[dict]:
        """One row per tag (most frequent first), ready for a results table."""
        rows = [
            {
                "tag": tag,
                "precision": float(self.precision[i]),
                "recall": float(self.recall[i]),
                "f1": float(self.f1[i]),
                "support": int(self.support[i]),
            }
            for i, tag in enumerate(self.tags)
        ]
        return sorted(rows, key=lambda row: -row["support"])


def tagging_report(model: nn.Module, loader: Iterable, vocabs: TaggingVocabs) -> TaggingReport:
    """Evaluate a tagger on ``loader``: accuracy overall and on OOV tokens, per-tag P / R / F1.

    Per-tag scores of a tag that never occurs (and is never predicted) are 0.
    """
    from torchmetrics.functional.classification import (  # slow to import: only when needed
        multiclass_confusion_matrix,
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    preds = predict_tags(model, loader, vocabs.words.unk_index)
    n_tags = len(vocabs.tags)
    correct = preds.predicted == preds.gold
    n_oov = int(preds.oov.sum())
    kwargs = {"num_classes": n_tags, "average": "none"}
    return TaggingReport(
        tags=list(vocabs.tags),
        accuracy=float(correct.float().mean()),
        oov_accuracy=float(correct[preds.oov].float().mean()) if n_oov else float("nan"),
        n_tokens=len(preds),
        n_oov=n_oov,
        precision=multiclass_precision(preds.predicted, preds.gold, **kwargs),
        recall=multiclass_recall(preds.predicted, preds.gold, **kwargs),
        f1=multiclass_f1_score(preds.predicted, preds.gold, **kwargs),
        support=torch.bincount(preds.gold, minlength=n_tags),
        confusion=multiclass_confusion_matrix(preds.predicted, preds.gold, num_classes=n_tags),
    )


def _words(sentence, tokenizer) -> list[str]:
    """The words of ``sentence`` (a str to tokenise, or a list of words), checked."""
    example = "e.g. tag_sentence(model, vocabs, 'I saw her duck.')"
    if isinstance(sentence, str):
        if tokenizer is None:
            from course_utils.text.tokenizer import Tokenizer

            tokenizer = Tokenizer(lower=False, clean_html=False)
        words = list(tokenizer(sentence))
    elif isinstance(sentence, Sequence):
        words = list(sentence)
    else:
        raise TypeError(
            "tag_sentence takes the sentence as a str or a list of words, got "
            f"{type(sentence).__name__}; {example}."
        )
    for i, word in enumerate(words):
        if not isinstance(word, str):
            raise TypeError(
                f"Word {i} of the sentence, {word!r}, is not a str but {type(word).__name__}: "
                f"pass the words themselves, not their ids; {example}."
            )
        if not word.strip():
            raise ValueError(
                f"Word {i} of the sentence is empty or only whitespace: it has nothing to tag. "
                "Split the sentence with str.split() (no argument), or pass the str itself."
            )
    if not words:
        raise ValueError(f"The sentence has no words to tag. Pass some text, {example}.")
    return words


def _check_vocabs(module: nn.Module, vocabs) -> None:
    if not isinstance(vocabs, TaggingVocabs):
        raise TypeError(
            "tag_sentence needs the TaggingVocabs the tagger was trained with (words, "
            f"characters and tags; e.g. loaders.vocabs), got {type(vocabs).__name__}."
        )
    fix = "Pass the TaggingVocabs the tagger was trained with (e.g. loaders.vocabs)."
    check_vocab_size(len(vocabs.words), vocab_rows(module), "word vocabulary", fix)
    check_vocab_size(
        len(vocabs.chars), vocab_rows(module, "num_chars"), "character vocabulary", fix
    )
    check_vocab_size(len(vocabs.tags), vocab_rows(module, "num_tags"), "tag list", fix)


@torch.no_grad()
def tag_sentence(
    model: nn.Module,
    vocabs: TaggingVocabs,
    sentence: str | Sequence[str],
    *,
    tokenizer=None,
    show: bool = True,
) -> list[tuple[str, str]]:
    """Tag a learner's own sentence; print it aligned (word, tag, OOV mark) and return the pairs.

    ``sentence`` is a string (tokenised with ``tokenizer``, by default the course's
    spaCy tokenizer with ``lower=False``: the character model needs the real case)
    or a list of words already split.
    """
    module = require_model(model, "tagger", "tag_sentence")
    _check_vocabs(module, vocabs)
    words = _words(sentence, tokenizer)
    device = model_device(module)
    word_ids = vocabs.encode_words(words).unsqueeze(0).to(device)
    inputs = word_ids
    if getattr(module, "uses_chars", False):
        inputs = (word_ids, vocabs.encode_chars(words).unsqueeze(0).to(device))
    with eval_mode(module):
        scores = module(inputs, torch.tensor([len(words)]))
    tags = [vocabs.tags[i] for i in scores[0].argmax(dim=-1).tolist()]
    if show:
        width = max(len(w) for w in words)
        for word, tag in zip(words, tags, strict=True):
            mark = "  (OOV)" if vocabs.is_oov(word) else ""
            print(f"{word:<{width}}  {tag}{mark}")
    return list(zip(words, tags, strict=True))
