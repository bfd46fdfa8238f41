"""From tagged sentences to padded batches: vocabularies, a dataset and a collate for taggers.

A tagger reads every word twice: as one id in a **word vocabulary** (built from
the training split only, so that dev and test words it never saw become
``<unk>``, exactly as a learner's own sentence will) and as a sequence of ids
in a **character vocabulary**, which still says something about a word the
word vocabulary does not know: its capital letter, its ``-ly`` or ``-ing``, its
digits. Tags get ids ``0 … C-1``.

Batches are ``((word_ids [B, T], char_ids [B, T, L]), lengths [B], tag_ids [B, T])``,
what :class:`course_utils.training.tasks.TokenClassification` expects. Padded tag
positions hold :data:`PAD_TAG` (-100); the task never scores positions at or
after a sentence's length, whatever they hold.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import DataLoader, Dataset

from course_utils.datasets.ud import UPOS_TAGS, TaggedSentence, UDPos
from course_utils.files import atomic_write
from course_utils.text.batching import BucketBatchSampler
from course_utils.text.vocab import PAD, UNK, Vocab

#: The value of padded tag positions (PyTorch's ``ignore_index`` default, for safety twice over).
PAD_TAG = -100
#: Words longer than this keep their first and last ``MAX_WORD_LEN // 2`` characters
#: (URLs and e-mail addresses would otherwise make every character tensor wide).
MAX_WORD_LEN = 20

__all__ = [
    "MAX_WORD_LEN",
    "PAD_TAG",
    "TagCollate",
    "TaggingDataset",
    "TaggingLoaders",
    "TaggingVocabs",
    "tagging_dataloaders",
]


def _clip_word(word: str, max_len: int) -> str:
    """The word itself, or its first and last ``max_len // 2`` characters if it is longer."""
    if len(word) <= max_len:
        return word
    half = max_len // 2
    return word[:half] + word[-(max_len - half) :]


@dataclass
class TaggingVocabs:
    """Word, character and tag vocabularies of a tagger, built from the training split only.

    ``lower`` looks words up lower-cased (the word embedding then need not learn
    "The" and "the" separately); characters keep their case, so the character
    model still sees capital letters.
    """

    words: Vocab
    chars: Vocab
    tags: list[str]
    lower: bool = True
    column: Literal["upos", "xpos"] = "upos"
    max_word_len: int = MAX_WORD_LEN

    @classmethod
    def build(
        cls,
        train: Sequence[TaggedSentence],
        *,
        column: Literal["upos", "xpos"] = "upos",
        min_freq: int = 2,
        lower: bool = True,
        max_word_len: int = MAX_WORD_LEN,
    ) -> TaggingVocabs:
        """Vocabularies from training sentences: words seen ``min_freq`` times, all chars and tags.

        ``min_freq=2`` leaves the words seen once in training out, so the ``<unk>``
        embedding is trained on real rare words and means something at test time.
        UPOS tags are the closed set :data:`~course_utils.datasets.ud.UPOS_TAGS` (known
        even if a small training sample lacks one); XPOS tags are the training split's.
        """
        if not train:
            raise ValueError("Cannot build vocabularies from an empty list of sentences.")
        key = str.lower if lower else str
        words = Vocab.build(
            Counter(key(w) for s in train for w in s.words), max_size=None, min_freq=min_freq
        )
        chars = Vocab.build(
            Counter(c for s in train for w in s.words for c in _clip_word(w, max_word_len)),
            max_size=None,
            min_freq=1,
        )
        seen = {t for s in train for t in s.tags(column)}
        if column == "upos" and seen <= set(UPOS_TAGS):
            seen = set(UPOS_TAGS)
        tags = sorted(seen)
        return cls(words, chars, tags, lower, column, max_word_len)

    def __repr__(self) -> str:
        return (
            f"TaggingVocabs(words={len(self.words):,}, chars={len(self.chars)}, "
            f"tags={len(self.tags)} {self.column.upper()}, lower={self.lower})"
        )

    @property
    def tag_index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tags)}

    def word_key(self, word: str) -> str:
        """The form of ``word`` looked up in the word vocabulary."""
        return word.lower() if self.lower else word

    def is_oov(self, word: str) -> bool:
        """True if ``word`` is not in the word vocabulary (the word embedding sees ``<unk>``)."""
        return self.word_key(word) not in self.words

    def encode_words(self, words: Sequence[str]) -> torch.Tensor:
        """Word ids ``[T]`` (unknown words → ``<unk>``)."""
        return torch.tensor(self.words.encode(self.word_key(w) for w in words), dtype=torch.long)

    def encode_chars(self, words: Sequence[str]) -> torch.Tensor:
        """Character ids ``[T, L]`` (``L`` = longest clipped word; shorter ones padded)."""
        clipped = [_clip_word(w, self.max_word_len) for w in words]
        width = max((len(w) for w in clipped), default=1) or 1
        out = torch.full((len(clipped), width), self.chars.pad_index, dtype=torch.long)
        for i, word in enumerate(clipped):
            if word:
                out[i, : len(word)] = torch.tensor(self.chars.encode(word), dtype=torch.long)
        return out

    def encode_tags(self, tags: Sequence[str]) -> torch.Tensor:
        """Tag ids ``[T]``; a tag the training split never had is an error naming it."""
        index = self.tag_index
        unknown = sorted({t for t in tags if t not in index})
        if unknown:
            raise ValueError(
                f"Tag(s) {unknown} do not occur in the training split, so the tagger cannot "
                "predict them. Build the vocabularies from a training split that has them."
            )
        return torch.tensor([index[t] for t in tags], dtype=torch.long)

    def save(self, path: str | os.PathLike) -> Path:
        """Write all three vocabularies and the settings as one JSON file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "words": self.words.itos,
            "chars": self.chars.itos,
            "tags": self.tags,
            "lower": self.lower,
            "column": self.column,
            "max_word_len": self.max_word_len,
        }
        with atomic_write(path, "w") as fh:
            fh.write(json.dumps(payload, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TaggingVocabs:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"No tagging vocabularies at {path}. Save them with vocabs.save(path) first."
            )
        p = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            Vocab(p["words"], UNK, PAD),
            Vocab(p["chars"], UNK, PAD),
            list(p["tags"]),
            p["lower"],
            p["column"],
            p["max_word_len"],
        )


class TaggingDataset(Dataset):
    """Sentences encoded once: items are ``(word_ids [T], char_ids [T, L], tag_ids [T])``."""

    def __init__(self, sentences: Sequence[TaggedSentence], vocabs: TaggingVocabs) -> None:
        empty = [i for i, s in enumerate(sentences) if len(s) == 0]
        if empty:
            raise ValueError(
                f"{len(empty)} sentence(s) have no words (first indices: {empty[:5]}). "
                "Remove empty sentences before building the dataset."
            )
        self.sentences = list(sentences)
        self.items = [
            (
                vocabs.encode_words(s.words),
                vocabs.encode_chars(s.words),
                vocabs.encode_tags(s.tags(vocabs.column)),
            )
            for s in self.sentences
        ]
        self.lengths = [len(s) for s in self.sentences]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.items[i]


class TagCollate:
    """Pads a list of dataset items into ``((words, chars), lengths, tags)``.

    Words and characters are padded with their vocabularies' ``<pad>`` ids, tags
    with ``tag_pad``; ``lengths`` is CPU int64, as ``pack_padded_sequence`` wants.
    """

    def __init__(self, word_pad: int, char_pad: int, tag_pad: int = PAD_TAG) -> None:
        self.word_pad, self.char_pad, self.tag_pad = word_pad, char_pad, tag_pad

    def __call__(
        self, batch: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor]:
        if not batch:
            raise ValueError("Cannot collate an empty batch.")
        lengths = torch.tensor([len(w) for w, _, _ in batch], dtype=torch.long)
        steps = int(lengths.max())
        width = max(c.shape[1] for _, c, _ in batch)
        words = torch.full((len(batch), steps), self.word_pad, dtype=torch.long)
        chars = torch.full((len(batch), steps, width), self.char_pad, dtype=torch.long)
        tags = torch.full((len(batch), steps), self.tag_pad, dtype=torch.long)
        for row, (w, c, t) in enumerate(batch):
            words[row, : len(w)] = w
            chars[row, : len(w), : c.shape[1]] = c
            tags[row, : len(t)] = t
        return (words, chars), lengths, tags


@dataclass
class TaggingLoaders:
    """DataLoaders for the three splits and the vocabularies they were encoded with."""

    train: DataLoader
    dev: DataLoader
    test: DataLoader
    vocabs: TaggingVocabs

    def __repr__(self) -> str:
        return (
            f"TaggingLoaders(train={len(self.train)} batches, dev={len(self.dev)}, "
            f"test={len(self.test)}, {self.vocabs})"
        )


def tagging_dataloaders(
    data: UDPos,
    *,
    batch_size: int = 32,
    column: Literal["upos", "xpos"] = "upos",
    min_freq: int = 2,
    lower: bool = True,
    vocabs: TaggingVocabs | None = None,
    seed: int = 0,
    eval_batch_size: int | None = None,
) -> TaggingLoaders:
    """Length-bucketed DataLoaders for a treebank's train / dev / test splits.

    The vocabularies come from ``data.train`` only (or are given). Training batches
    are shuffled within length buckets every epoch (``fit`` calls ``set_epoch``);
    evaluation batches are sorted by length, the least padding.
    """
    vocabs = vocabs or TaggingVocabs.build(
        data.train, column=column, min_freq=min_freq, lower=lower
    )
    collate = TagCollate(vocabs.words.pad_index, vocabs.chars.pad_index)

    def loader(sentences: list[TaggedSentence], shuffle: bool, size: int) -> DataLoader:
        dataset = TaggingDataset(sentences, vocabs)
        sampler = BucketBatchSampler(dataset.lengths, size, shuffle=shuffle, seed=seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)

    eval_size = eval_batch_size or 2 * batch_size
    return TaggingLoaders(
        train=loader(data.train, True, batch_size),
        dev=loader(data.dev, False, eval_size),
        test=loader(data.test, False, eval_size),
        vocabs=vocabs,
    )
