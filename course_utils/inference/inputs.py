"""Checks of what a learner hands to a trained model, shared by the inference modules.

PyTorch fails late and cryptically on a wrong input ("index out of range in self" from
inside an embedding, "'NoneType' object is not iterable"), or worse, runs and answers
nonsense (indices from another vocabulary of the same size). These checks run first and
say what is wrong and what to do next:

* :func:`require_model`: a model (an ``nn.Module``) of the family the function serves; a
  language model handed to ``predict_sentiment`` is told to use ``generate`` instead.
* :func:`check_vocab_size`: a vocabulary has as many entries as the layer it indexes.
* :func:`check_fingerprint`: a vocabulary is the one the model was trained with.
* :func:`check_known_words`: an error when the model knows none of the words of a text
  (it would see only ``<unk>``), a warning to pass on when it knows fewer than half.
* :func:`vocabulary_words`: how many real words a vocabulary holds, specials left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from torch import nn

from course_utils import models
from course_utils.distributed import unwrap
from course_utils.text.vocab import Vocab

__all__ = [
    "check_fingerprint",
    "check_known_words",
    "check_vocab_size",
    "model_family",
    "require_model",
    "unknown_words",
    "vocab_rows",
    "vocabulary_words",
]

#: The course's model classes, by family (a model of your own has no family: not checked).
#: Names, not classes, so that checking a model does not import every model family.
FAMILIES: dict[str, tuple[str, ...]] = {
    "sentiment classifier": ("RNNModel", "TextClassifier", "GRUModel", "RecurrentClassifier"),
    "language model": ("CharLanguageModel", "TextGenerator"),
    "tagger": ("BiLSTMTagger",),
    "translation model": ("AttentionSeq2Seq", "BottleneckSeq2Seq"),
}

#: The call that serves each family, named when a model of one family reaches another's.
USE = {
    "sentiment classifier": "predict_sentiment(model, vocab, text)",
    "language model": "generate(model, corpus, prompt)",
    "tagger": "tag_sentence(model, vocabs, sentence)",
    "translation model": "translate(model, text, src_tokenizer, src_vocab, tgt_vocab)",
}

#: Methods a model of one's own needs to be decoded like the course's encoder–decoders.
TRANSLATION_METHODS = ("encode", "initial_hidden", "step")

_SPECIAL = re.compile(r"<\w+>")


def model_family(model: nn.Module) -> str | None:
    """The family of a course model (``"language model"``, …); ``None`` for one of your own.

    A model of your own with ``encode``, ``initial_hidden`` and ``step`` methods counts
    as a translation model: that is all the decoders use.
    """
    course_classes = {
        cls.__name__ for cls in type(model).__mro__ if cls.__module__.startswith(models.__name__)
    }
    for family, names in FAMILIES.items():
        if course_classes.intersection(names):
            return family
    if all(callable(getattr(model, name, None)) for name in TRANSLATION_METHODS):
        return "translation model"
    return None


def require_model(model, family: str, caller: str) -> nn.Module:
    """``model`` unwrapped from DistributedDataParallel, once it is known to fit ``caller``.

    Raises ``TypeError`` for something that is not a model, for a course model of another
    family (naming the function that serves it), and, for translation, for a model
    without the methods the decoders call.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{caller} needs a trained {family} (a torch nn.Module) as its first argument, "
            f"got {type(model).__name__}. Pass the model you trained or loaded with "
            "load_checkpoint."
        )
    module = unwrap(model)
    actual = model_family(module)
    if actual is not None and actual != family:
        raise TypeError(
            f"{caller} needs a {family}, but the model given ({type(module).__name__}) is a "
            f"{actual}. Use {USE[actual]} with that model, or pass {caller} a {family}."
        )
    if actual is None and family == "translation model":
        missing = [n for n in TRANSLATION_METHODS if not callable(getattr(module, n, None))]
        raise TypeError(
            f"{caller} needs a translation model (an encoder–decoder such as AttentionSeq2Seq); "
            f"this {type(module).__name__} has no {', '.join(missing)} method(s), which the "
            "decoders call."
        )
    return module


def vocab_rows(module: nn.Module, key: str = "vocab_size") -> int | None:
    """How many entries the vocabulary behind ``module.config[key]`` must have, if known.

    Course models record it in their config; a model of your own is asked for its
    ``embedding`` layer (for ``key="vocab_size"``). ``None`` when neither says.
    """
    config = getattr(module, "config", None)
    if isinstance(config, dict) and isinstance(config.get(key), int):
        return config[key]
    embedding = getattr(module, "embedding", None)
    if key == "vocab_size" and isinstance(embedding, nn.Embedding):
        return embedding.num_embeddings
    return None


def check_vocab_size(size: int, rows: int | None, what: str, fix: str) -> None:
    """A ``ValueError`` unless a vocabulary of ``size`` entries fits a layer built for ``rows``.

    Too large, PyTorch would stop with "index out of range in self"; too small, every
    index would point at the wrong row, silently. ``what`` names the vocabulary in the
    message, ``fix`` says what to pass instead. ``rows=None`` (unknown) checks nothing.
    """
    if rows is None or size == rows:
        return
    entries = "entry" if size == 1 else "entries"
    beyond = ", and the last ones would fall outside the model's layer" if size > rows else ""
    raise ValueError(
        f"The {what} has {size:,} {entries} but the model was built for {rows:,}, so it is not "
        f"the one the model was trained with (an index would mean another entry than in "
        f"training{beyond}). {fix}"
    )


def check_fingerprint(vocab: Vocab, expected: str | None) -> None:
    """A ``ValueError`` when ``vocab`` is not the vocabulary whose fingerprint is ``expected``.

    Two vocabularies of the same size run without error and mean different words; the
    fingerprint a checkpoint stores (``info["vocab"]["fingerprint"]``) tells them apart.
    ``expected=None`` (not known) checks nothing.
    """
    if expected is None:
        return
    if not isinstance(expected, str):
        raise TypeError(
            "expected_fingerprint is the str a checkpoint stores: "
            f"info['vocab']['fingerprint'] after load_checkpoint; got {type(expected).__name__}."
        )
    if vocab.fingerprint != expected:
        raise ValueError(
            f"This vocabulary (fingerprint {vocab.fingerprint}) is not the one the model was "
            f"trained with (fingerprint {expected}): the same words would get other indices "
            "and the answer would mean nothing. Pass the training vocabulary, e.g. "
            "vocab = load_vocab(info) after model, info = load_checkpoint(path)."
        )


def vocabulary_words(vocab: Vocab) -> int:
    """Entries of ``vocab`` that are words, not specials such as ``<unk>``, ``<pad>``, ``<sos>``."""
    specials = {vocab.unk_token, vocab.pad_token}
    return sum(1 for t in vocab.itos if t not in specials and not _SPECIAL.fullmatch(t))


def unknown_words(tokens: Sequence[str], vocab: Vocab) -> tuple[int, list[str]]:
    """How many of ``tokens`` are words, and those words that ``vocab`` reads as ``<unk>``.

    A word has a letter or a digit: punctuation is known to every vocabulary and says
    nothing about whether the model understood the text.
    """
    words = [t for t in tokens if any(ch.isalnum() for ch in t)]
    return len(words), [w for w in words if vocab[w] == vocab.unk_index]


def check_known_words(
    tokens: Sequence[str], vocab: Vocab, *, what: str, vocab_name: str, advice: str
) -> str | None:
    """Raise when the model knows none of the words in ``tokens``; describe it when most are new.

    Returns a warning text when more than half the words are unknown (for the caller
    to warn with, or to gather over many texts), else ``None``. ``what`` names the text
    ("the text", "the text at index 3"), ``vocab_name`` the vocabulary, ``advice`` what to do.
    """
    n_words, unknown = unknown_words(tokens, vocab)
    if not n_words or 2 * len(unknown) <= n_words:
        return None
    distinct = list(dict.fromkeys(unknown))
    shown = ", ".join(repr(w) for w in distinct[:8]) + (", …" if len(distinct) > 8 else "")
    if len(unknown) == n_words:
        raise ValueError(
            f"None of the words of {what} ({shown}) is in the model's {vocab_name} "
            f"({vocabulary_words(vocab):,} words kept from the training data), so the model "
            f"would see only <unk> and its answer would mean nothing. {advice}"
        )
    return (
        f"{len(unknown)} of the {n_words} words of {what} ({len(unknown) / n_words:.0%}) are "
        f"not in the model's {vocab_name} and are read as <unk> ({shown}): the answer rests "
        f"on the {n_words - len(unknown)} word(s) it knows. {advice}"
    )
