"""Ask a trained sentiment classifier about your own text.

    >>> predict_sentiment(model, vocab, "This film is terrible")   # doctest: +SKIP
    0.03
    >>> predict_sentiment(model, vocab, "This film is great")      # doctest: +SKIP
    0.98

The text goes through the same pipeline as the training data: the course
:class:`~course_utils.text.vocab.Tokenizer`, then :meth:`Vocab.encode` (words the
model never saw become ``<unk>``), truncated to the model's maximum length.

Before the model runs, the vocabulary is checked against it (its size against the
model's embedding and, given ``expected_fingerprint``, its fingerprint against the one
the checkpoint stored), and the text against the vocabulary: a text of words the model
has never seen is an error (it would see only ``<unk>``), one where more than half the
words are unknown a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils.distributed import unwrap
from course_utils.inference.inputs import (
    check_fingerprint,
    check_known_words,
    check_vocab_size,
    require_model,
    vocab_rows,
)
from course_utils.models.common import eval_mode, is_binary_logits, model_device
from course_utils.text.vocab import Vocab

__all__ = [
    "default_tokenizer",
    "model_max_len",
    "predict_dataset",
    "predict_sentiment",
    "predict_sentiments",
]

_TOKENIZER = None
_ADVICE = "Check the spelling, or write the review in English with everyday words."


def default_tokenizer():
    """The course tokenizer, built once per session (spaCy takes a moment to set up)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from course_utils.text.tokenizer import Tokenizer

        _TOKENIZER = Tokenizer()
    return _TOKENIZER


def model_max_len(model: nn.Module, max_len: int | None = None) -> int | None:
    """The longest input the model reads: ``max_len``, else the model's ``max_len``."""
    if max_len is not None:
        if max_len < 1:
            raise ValueError(f"max_len must be positive or None, got {max_len}.")
        return int(max_len)
    module = unwrap(model)
    value = getattr(module, "max_len", None)
    if value is None:
        cfg = getattr(module, "config", None)
        if isinstance(cfg, dict):
            value = cfg.get("max_len")
    return int(value) if value is not None else None


def _checked_model(model, vocab, expected_fingerprint: str | None, caller: str) -> nn.Module:
    module = require_model(model, "sentiment classifier", caller)
    if not isinstance(vocab, Vocab):
        raise TypeError(
            f"{caller} needs the Vocab the model was trained with as its second argument "
            f"(e.g. loaders.vocab, or load_vocab(info) after load_checkpoint), got "
            f"{type(vocab).__name__}."
        )
    fix = "Pass the training vocabulary, e.g. vocab = load_vocab(info) after load_checkpoint."
    check_vocab_size(len(vocab), vocab_rows(module), "vocabulary", fix)
    check_fingerprint(vocab, expected_fingerprint)
    return module


def _tokens(text: str, tokenizer: Callable, where: str) -> list[str]:
    if not isinstance(text, str):
        raise TypeError(f"The text{where} must be a str, got {type(text).__name__}.")
    if not text.strip():
        raise ValueError(
            f"The text{where} is empty: there is nothing to classify. Write a sentence, e.g. "
            "predict_sentiment(model, vocab, 'What a wonderful film!')."
        )
    tokens = tokenizer(text)
    if not tokens:
        raise ValueError(
            f"The text{where} {text[:60]!r} has no words left after tokenising (the tokenizer "
            "removes HTML tags and whitespace). Write a sentence with some words in it."
        )
    return list(tokens)


def _positive_probability(logits: torch.Tensor) -> torch.Tensor:
    if is_binary_logits(logits):
        return torch.sigmoid(logits.reshape(-1).float())
    if logits.dim() == 2 and logits.shape[1] == 2:
        return torch.softmax(logits.float(), dim=1)[:, 1]
    raise ValueError(
        "predict_sentiment needs a binary classifier (one logit per text); this model returns "
        f"logits of shape {tuple(logits.shape)}. For a multi-class model, take "
        "model(tokens, lengths).argmax(-1) instead."
    )


def _truncate(encoded: list[list[int]], limit: int | None, stacklevel: int) -> list[list[int]]:
    long = [len(ids) for ids in encoded if limit is not None and len(ids) > limit]
    if not long:
        return encoded
    if len(encoded) == 1:
        detail = f"The text has {long[0]} tokens"
    else:
        detail = f"{len(long)} text(s) are longer (the longest has {max(long)} tokens)"
    warnings.warn(
        f"{detail} but the model reads at most {limit} tokens; only the first {limit} "
        "tokens are used.",
        stacklevel=stacklevel + 1,
    )
    return [ids[:limit] for ids in encoded]


def _warn_unknown(notes: list[str], n_texts: int, stacklevel: int) -> None:
    if not notes:
        return
    message = notes[0]
    if n_texts > 1:
        message = (
            f"{len(notes)} of the {n_texts} texts are mostly words the model does not know; "
            f"the first: {message}"
        )
    warnings.warn(message, stacklevel=stacklevel + 1)


def _encode_all(vocab, texts, tokenizer, limit, stacklevel) -> list[list[int]]:
    """Token ids of every text (after the checks), cut to ``limit`` tokens."""
    encoded, notes = [], []
    for i, text in enumerate(texts):
        where = f" at index {i}" if len(texts) > 1 else ""
        tokens = _tokens(text, tokenizer, where)
        note = check_known_words(  # judged on the words the model reads
            tokens[:limit], vocab, what=f"the text{where}", vocab_name="vocabulary", advice=_ADVICE
        )
        if note:
            notes.append(note)
        encoded.append(vocab.encode(tokens))
    encoded = _truncate(encoded, limit, stacklevel + 1)
    _warn_unknown(notes, len(texts), stacklevel + 1)
    return encoded


def _predict(module, vocab, encoded, device, batch_size) -> list[float]:
    results = [0.0] * len(encoded)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    with eval_mode(module), torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            lengths = torch.tensor([len(encoded[i]) for i in chunk], dtype=torch.long)
            tokens = torch.full((len(chunk), int(lengths.max())), vocab.pad_index, dtype=torch.long)
            for row, i in enumerate(chunk):
                tokens[row, : len(encoded[i])] = torch.tensor(encoded[i], dtype=torch.long)
            probs = _positive_probability(module(tokens.to(device), lengths)).cpu()
            for row, i in enumerate(chunk):
                results[i] = float(probs[row])
    return results


def predict_sentiments(
    model: nn.Module,
    vocab: Vocab,
    texts: Sequence[str],
    *,
    tokenizer: Callable[[str], list[str]] | None = None,
    max_len: int | None = None,
    device: torch.device | str | None = None,
    batch_size: int = 64,
    expected_fingerprint: str | None = None,
) -> list[float]:
    """Probability that each text is positive, in the order of ``texts``.

    Texts are batched by length (padded with ``vocab.pad_index``, with their true
    lengths), so a model that ignores padding gives the same numbers as one text at a
    time. Texts longer than the model's maximum length are truncated, with a warning;
    the other checks are those of :func:`predict_sentiment`, naming the bad text's index.
    """
    module = _checked_model(model, vocab, expected_fingerprint, "predict_sentiments")
    if isinstance(texts, str):
        raise TypeError(
            "predict_sentiments takes a list of texts; for one text use predict_sentiment."
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    limit = model_max_len(module, max_len)
    encoded = _encode_all(vocab, list(texts), tokenizer or default_tokenizer(), limit, 2)
    device = torch.device(device) if device is not None else model_device(module)
    return _predict(module, vocab, encoded, device, batch_size)


def predict_sentiment(
    model: nn.Module,
    vocab: Vocab,
    text: str,
    *,
    tokenizer: Callable[[str], list[str]] | None = None,
    max_len: int | None = None,
    device: torch.device | str | None = None,
    expected_fingerprint: str | None = None,
) -> float:
    """Probability (0 to 1) that ``text`` is positive, according to a binary classifier.

    ``tokenizer`` defaults to the course tokenizer; ``max_len`` to the model's own
    ``max_len``; ``device`` to the model's device. ``expected_fingerprint`` (the one a
    checkpoint stores: ``info["vocab"]["fingerprint"]``) makes sure ``vocab`` is the
    training vocabulary; its size is always checked against the model's embedding.

    Empty text, and text none of whose words the model knows, raise ``ValueError``;
    text where more than half the words are unknown, or longer than the model reads
    (it is truncated), gives a warning.
    """
    module = _checked_model(model, vocab, expected_fingerprint, "predict_sentiment")
    if not isinstance(text, str):
        raise TypeError(
            f"predict_sentiment takes one text (a str), got {type(text).__name__}; "
            "for several texts use predict_sentiments."
        )
    limit = model_max_len(module, max_len)
    encoded = _encode_all(vocab, [text], tokenizer or default_tokenizer(), limit, 2)
    device = torch.device(device) if device is not None else model_device(module)
    return _predict(module, vocab, encoded, device, 1)[0]


@torch.no_grad()
def predict_dataset(model: nn.Module, loader: DataLoader) -> torch.Tensor:
    """P(positive) for every review of ``loader``'s dataset, in the dataset's order.

    Course loaders bucket reviews by length, so their batches come in another order than the
    dataset; this follows ``loader.batch_sampler`` to put each probability back in its place,
    which is what comparing or combining two models review by review needs (lesson 05).
    """
    module = unwrap(model)
    sampler = getattr(loader, "batch_sampler", None)
    if sampler is None or not hasattr(loader, "collate_fn"):
        raise TypeError("predict_dataset needs a DataLoader with a batch sampler.")
    device = model_device(module)
    probabilities = torch.full((len(loader.dataset),), float("nan"))
    with eval_mode(module):
        for indices in sampler:
            tokens, lengths, _ = loader.collate_fn([loader.dataset[i] for i in indices])
            logits = module(tokens.to(device), lengths)
            probabilities[torch.as_tensor(indices)] = _positive_probability(logits).cpu()
    return probabilities
