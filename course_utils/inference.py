"""Ask a trained sentiment classifier about your own text.

    >>> predict_sentiment(model, vocab, "This film is terrible")   # doctest: +SKIP
    0.03
    >>> predict_sentiment(model, vocab, "This film is great")      # doctest: +SKIP
    0.98

The text goes through the same pipeline as the training data: the course
:class:`~course_utils.data.text.Tokenizer`, then :meth:`Vocab.encode` (words the
model never saw become ``<unk>``), truncated to the model's maximum length.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from course_utils.distributed import unwrap

_TOKENIZER = None


def default_tokenizer():
    """The course tokenizer, built once per session (spaCy takes a moment to set up)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from course_utils.data.text import Tokenizer

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


def _encode(vocab, text: str, tokenizer: Callable, where: str = "") -> list[int]:
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
    return vocab.encode(tokens)


def _positive_probability(logits: torch.Tensor) -> torch.Tensor:
    if logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1):
        return torch.sigmoid(logits.reshape(-1).float())
    if logits.dim() == 2 and logits.shape[1] == 2:
        return torch.softmax(logits.float(), dim=1)[:, 1]
    raise ValueError(
        "predict_sentiment needs a binary classifier (one logit per text); this model returns "
        f"logits of shape {tuple(logits.shape)}. Use course_utils.train.predict for "
        "multi-class models."
    )


def _model_device(module: nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    return torch.device("cpu")


def predict_sentiments(
    model: nn.Module,
    vocab,
    texts: Sequence[str],
    *,
    tokenizer: Callable[[str], list[str]] | None = None,
    max_len: int | None = None,
    device: torch.device | str | None = None,
    batch_size: int = 64,
) -> list[float]:
    """Probability that each text is positive, in the order of ``texts``.

    Texts are batched by length (padded with ``vocab.pad_index``, with their true
    lengths), so a model that ignores padding gives the same numbers as one text at a
    time. Texts longer than the model's maximum length are truncated, with a warning.
    """
    if isinstance(texts, str):
        raise TypeError(
            "predict_sentiments takes a list of texts; for one text use predict_sentiment."
        )
    return _predict(model, vocab, texts, tokenizer, max_len, device, batch_size, stacklevel=3)


def _predict(model, vocab, texts, tokenizer, max_len, device, batch_size, stacklevel):
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    tokenizer = tokenizer or default_tokenizer()
    module = unwrap(model)
    limit = model_max_len(module, max_len)
    encoded = [
        _encode(vocab, text, tokenizer, where=f" at index {i}" if len(texts) > 1 else "")
        for i, text in enumerate(texts)
    ]
    if limit is not None:
        long = [(i, len(ids)) for i, ids in enumerate(encoded) if len(ids) > limit]
        if long:
            if len(texts) == 1:
                detail = f"The text has {long[0][1]} tokens"
            else:
                longest = max(n for _, n in long)
                detail = f"{len(long)} text(s) are longer (the longest has {longest} tokens)"
            warnings.warn(
                f"{detail} but the model reads at most {limit} tokens; only the first {limit} "
                "tokens are used.",
                stacklevel=stacklevel,
            )
            encoded = [ids[:limit] for ids in encoded]
    device = torch.device(device) if device is not None else _model_device(module)
    was_training = module.training
    module.eval()
    results = [0.0] * len(encoded)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                lengths = torch.tensor([len(encoded[i]) for i in chunk], dtype=torch.long)
                tokens = torch.full(
                    (len(chunk), int(lengths.max())), vocab.pad_index, dtype=torch.long
                )
                for row, i in enumerate(chunk):
                    tokens[row, : len(encoded[i])] = torch.tensor(encoded[i], dtype=torch.long)
                probs = _positive_probability(module(tokens.to(device), lengths)).cpu()
                for row, i in enumerate(chunk):
                    results[i] = float(probs[row])
    finally:
        module.train(was_training)
    return results


def predict_sentiment(
    model: nn.Module,
    vocab,
    text: str,
    *,
    tokenizer: Callable[[str], list[str]] | None = None,
    max_len: int | None = None,
    device: torch.device | str | None = None,
) -> float:
    """Probability (0 to 1) that ``text`` is positive, according to a binary classifier.

    ``tokenizer`` defaults to the course tokenizer; ``max_len`` to the model's own
    ``max_len``; ``device`` to the model's device. Empty text raises ``ValueError``;
    text longer than the model reads is truncated with a warning.
    """
    if not isinstance(text, str):
        raise TypeError(
            f"predict_sentiment takes one text (a str), got {type(text).__name__}; "
            "for several texts use predict_sentiments."
        )
    return _predict(model, vocab, [text], tokenizer, max_len, device, 1, stacklevel=3)[0]
