"""Universal Dependencies treebanks in CoNLL-U: sentences of words with their UPOS and XPOS tags.

A CoNLL-U file holds one sentence per block (blocks are separated by a blank line);
``#`` lines are comments (sentence ids, the raw text); every other line is one
token with ten tab-separated columns: ``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL
DEPS MISC``. Two kinds of line are *not* words a tagger should see:

* **multi-word tokens** (ID a range such as ``3-4``): a surface form like
  "don't" whose parts ``do`` and ``n't`` follow on lines 3 and 4 with their own
  tags; only the parts are tagged;
* **empty nodes** (ID a decimal such as ``5.1``): words that are understood but
  not written, added for enhanced dependencies; they have no surface form.

Parsing is done by the maintained ``conllu`` package; this module only keeps the
columns a part-of-speech tagger needs and drops those two kinds of line.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import conllu

from course_utils import config
from course_utils.datasets import DataError, download

SPLITS = ("train", "dev", "test")
#: The 17 universal part-of-speech tags (https://universaldependencies.org/u/pos/): a closed set,
#: the same for every UD language, so a tagger knows them all even if a small sample lacks one.
UPOS_TAGS = (
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
#: Sentences kept per split in smoke mode (the first ones of each file).
SMOKE_SENTENCES = {"train": 300, "dev": 100, "test": 100}

__all__ = [
    "SMOKE_SENTENCES",
    "SPLITS",
    "UPOS_TAGS",
    "TaggedSentence",
    "UDPos",
    "load_ud_pos",
    "parse_conllu",
    "read_conllu",
]


@dataclass(frozen=True)
class TaggedSentence:
    """One sentence: its words and, aligned with them, universal (UPOS) and treebank (XPOS) tags."""

    words: tuple[str, ...]
    upos: tuple[str, ...]
    xpos: tuple[str, ...]
    sent_id: str | None = None

    def __len__(self) -> int:
        return len(self.words)

    def tags(self, column: Literal["upos", "xpos"] = "upos") -> tuple[str, ...]:
        """The tags of one column, ``"upos"`` or ``"xpos"``."""
        if column not in ("upos", "xpos"):
            raise ValueError(f"column must be 'upos' or 'xpos', got {column!r}.")
        return self.upos if column == "upos" else self.xpos


def _is_word(token: conllu.Token) -> bool:
    """True for an ordinary word line; False for a multi-word range (3-4) or empty node (5.1)."""
    return isinstance(token["id"], int)


def _to_sentence(tokens: conllu.TokenList) -> TaggedSentence | None:
    words = [t for t in tokens if _is_word(t)]
    if not words:
        return None
    return TaggedSentence(
        words=tuple(t["form"] for t in words),
        upos=tuple(t["upos"] or "_" for t in words),
        xpos=tuple(t["xpos"] or "_" for t in words),
        sent_id=tokens.metadata.get("sent_id"),
    )


def _sentences(token_lists: Iterable[conllu.TokenList]) -> Iterator[TaggedSentence]:
    for tokens in token_lists:
        sentence = _to_sentence(tokens)
        if sentence is not None:
            yield sentence


def parse_conllu(text: str, max_sentences: int | None = None) -> list[TaggedSentence]:
    """Sentences of a CoNLL-U string (comments, multi-word ranges and empty nodes skipped)."""
    sentences = []
    for sentence in _sentences(conllu.parse_incr(io.StringIO(text))):
        if max_sentences is not None and len(sentences) >= max_sentences:
            break
        sentences.append(sentence)
    return sentences


def read_conllu(path: str | os.PathLike, max_sentences: int | None = None) -> list[TaggedSentence]:
    """Sentences of a CoNLL-U file, read incrementally (``max_sentences`` stops early)."""
    path = Path(path)
    if not path.is_file():
        hint = (
            f"The folder {path.parent} does not exist either."
            if not path.parent.is_dir()
            else f"Files there: {', '.join(sorted(p.name for p in path.parent.iterdir())[:8])}."
        )
        raise FileNotFoundError(
            f"No CoNLL-U file at {path}. {hint} Check the path, or call load_ud_pos() to "
            "download UD English-EWT."
        )
    sentences = []
    with path.open(encoding="utf-8") as fh:
        for sentence in _sentences(conllu.parse_incr(fh)):
            if max_sentences is not None and len(sentences) >= max_sentences:
                break
            sentences.append(sentence)
    if not sentences:
        raise DataError(f"{path} holds no sentences: is it a CoNLL-U file?")
    return sentences


@dataclass
class UDPos:
    """The three splits of a UD treebank as lists of :class:`TaggedSentence`."""

    train: list[TaggedSentence]
    dev: list[TaggedSentence]
    test: list[TaggedSentence]
    root: Path

    def __repr__(self) -> str:
        def describe(split: list[TaggedSentence]) -> str:
            return f"{len(split):,} sentences / {sum(map(len, split)):,} words"

        return (
            f"UDPos(train: {describe(self.train)}, dev: {describe(self.dev)}, "
            f"test: {describe(self.test)})"
        )


def load_ud_pos(
    root: str | os.PathLike | None = None,
    *,
    max_sentences: int | Literal["auto"] | None = "auto",
    prefix: str = "en_ewt-ud",
) -> UDPos:
    """UD English-EWT's train / dev / test splits (downloaded and verified on first use).

    ``root`` is a folder holding ``<prefix>-{train,dev,test}.conllu``; by default the
    ``ud_english_ewt`` dataset is downloaded (or taken from ``COURSE_DATA_MIRROR``).
    ``max_sentences="auto"`` keeps every sentence in full mode and the first
    :data:`SMOKE_SENTENCES` of each split in smoke mode; an int keeps that many per
    split; ``None`` keeps all.
    """
    folder = Path(root) if root is not None else download("ud_english_ewt")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder. Pass the folder that holds {prefix}-train.conllu, "
            "or leave root out to download UD English-EWT."
        )
    splits = {}
    for split in SPLITS:
        limit = max_sentences
        if limit == "auto":
            limit = config.pick(None, SMOKE_SENTENCES[split])
        splits[split] = read_conllu(folder / f"{prefix}-{split}.conllu", max_sentences=limit)
    return UDPos(**splits, root=folder)
