"""IMDb Large Movie Review Dataset: splits, labels, and DataLoaders in one call.

The classic tutorial carves a validation set out of the 25,000 training reviews
(17,500 / 7,500) and keeps the 25,000 test reviews untouched; so does this module,
with a stratified split (exactly half positive in each part) and a fixed seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from torch.utils.data import DataLoader

from course_utils import config
from course_utils.datasets import DataError, download
from course_utils.text.batching import (
    DEFAULT_POOL_FACTOR,
    BucketBatchSampler,
    EncodedDataset,
    PadCollate,
)
from course_utils.text.ngrams import PAD_FEATURE, hashed_ngrams
from course_utils.text.tokenizer import Tokenizer, tokenize_corpus
from course_utils.text.vocab import Vocab, numericalize

LABELS = ("neg", "pos")  # label 0 = negative, 1 = positive
SMOKE_PER_SPLIT = 200  # reviews per split in smoke mode (half positive)


@dataclass
class TextSplit:
    """Texts with integer labels (0 = negative, 1 = positive) and where they came from."""

    texts: list[str]
    labels: np.ndarray
    files: list[str] = field(repr=False)

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        return f"TextSplit({len(self)} texts, {int(self.labels.sum())} positive)"


@dataclass
class ImdbData:
    """The three labelled splits; ``unlabelled`` (50,000 reviews) is read on first use."""

    train: TextSplit
    valid: TextSplit
    test: TextSplit
    root: Path
    unlabelled_limit: int | None = None

    @cached_property
    def unlabelled(self) -> list[str]:
        """The unlabelled reviews (for training word vectors), read when first asked for."""
        names = _sorted_reviews(self.root / "train" / "unsup")
        if self.unlabelled_limit is not None:
            names = names[: self.unlabelled_limit]
        return [_read(self.root / "train" / "unsup" / n) for n in names]

    def __repr__(self) -> str:
        return f"ImdbData(train={len(self.train)}, valid={len(self.valid)}, test={len(self.test)})"


def _review_id(name: str) -> int:
    return int(name.split("_", 1)[0])


def _sorted_reviews(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise DataError(
            f"{folder} is missing: the IMDb folder is incomplete. Delete {folder.parents[1]} "
            "and run load_imdb() again to re-extract it."
        )
    return sorted((n for n in os.listdir(folder) if n.endswith(".txt")), key=_review_id)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _labelled_files(root: Path, split: str) -> tuple[list[Path], np.ndarray]:
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(LABELS):
        folder = root / split / name
        names = _sorted_reviews(folder)
        files += [folder / n for n in names]
        labels += [label] * len(names)
    return files, np.asarray(labels, dtype=np.int64)


def _stratified_take(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` examples, half of each class, in a seeded random order."""
    picked = [rng.permutation(np.flatnonzero(labels == c))[: n // 2] for c in (0, 1)]
    return np.sort(np.concatenate(picked))


def _split(files: list[Path], labels: np.ndarray, idx: np.ndarray) -> TextSplit:
    return TextSplit(
        texts=[_read(files[i]) for i in idx],
        labels=labels[idx],
        files=[str(files[i].relative_to(files[i].parents[2])) for i in idx],
    )


def load_imdb(
    valid_fraction: float = 0.3,
    seed: int = 1234,
    *,
    per_split: int | Literal["auto"] | None = "auto",
    data_dir: Path | None = None,
) -> ImdbData:
    """Download (or reuse) IMDb and return train / valid / test splits.

    ``valid_fraction`` of the 25,000 training reviews become the validation split
    (0.3 gives the classic 17,500 / 7,500), chosen per class with ``seed``.
    ``per_split`` keeps a stratified sample of that many reviews per split (and as
    many unlabelled ones); ``"auto"`` means everything in full mode and
    ``SMOKE_PER_SPLIT`` (200) in smoke mode, so the course's CI runs in seconds.
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be between 0 and 1, got {valid_fraction}.")
    root = download("imdb", data_dir=data_dir) / "aclImdb"
    rng = np.random.default_rng(seed)
    train_files, train_labels = _labelled_files(root, "train")
    test_files, test_labels = _labelled_files(root, "test")

    valid_idx = np.concatenate(
        [
            rng.permutation(np.flatnonzero(train_labels == c))[
                : round(valid_fraction * (train_labels == c).sum())
            ]
            for c in (0, 1)
        ]
    )
    is_valid = np.zeros(len(train_labels), dtype=bool)
    is_valid[valid_idx] = True
    train_idx, valid_idx = np.flatnonzero(~is_valid), np.flatnonzero(is_valid)
    test_idx = np.arange(len(test_labels))

    limit = config.pick(None, SMOKE_PER_SPLIT) if per_split == "auto" else per_split
    if limit is not None:
        train_idx = train_idx[_stratified_take(train_labels[train_idx], limit, rng)]
        valid_idx = valid_idx[_stratified_take(train_labels[valid_idx], limit, rng)]
        test_idx = test_idx[_stratified_take(test_labels, limit, rng)]

    return ImdbData(
        train=_split(train_files, train_labels, train_idx),
        valid=_split(train_files, train_labels, valid_idx),
        test=_split(test_files, test_labels, test_idx),
        root=root,
        unlabelled_limit=limit,
    )


@dataclass
class ImdbLoaders:
    """Everything a lesson needs to train on IMDb, returned by :func:`imdb_dataloaders`."""

    train: DataLoader
    valid: DataLoader
    test: DataLoader
    vocab: Vocab
    tokenizer: Tokenizer
    max_len: int | None

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{name}={len(loader.dataset)} reviews/{len(loader)} batches"
            for name, loader in (("train", self.train), ("valid", self.valid), ("test", self.test))
        )
        return f"ImdbLoaders({sizes}, vocab={len(self.vocab)}, max_len={self.max_len})"


def imdb_dataloaders(
    data: ImdbData | None = None,
    *,
    tokenizer: Tokenizer | None = None,
    vocab: Vocab | None = None,
    max_size: int = 25_000,
    min_freq: int = 1,
    batch_size: int = 64,
    eval_batch_size: int | None = None,
    max_len: int | None = None,
    bucket: bool = True,
    seed: int = 1234,
    progress: bool = True,
) -> ImdbLoaders:
    """Tokenise, build the vocabulary from the training split, and make three DataLoaders.

    Training batches are bucketed by length and reshuffled every epoch (call
    ``loader.batch_sampler.set_epoch``; :func:`course_utils.training.loop.fit` does). With
    ``bucket=False`` training batches are drawn at random, to compare padding.
    Evaluation batches are sorted by length. Under torchrun each rank gets its shard.
    """
    data = data or load_imdb(seed=seed)
    tokenizer = tokenizer or Tokenizer()
    splits = {"train": data.train, "valid": data.valid, "test": data.test}
    corpora = {
        name: tokenize_corpus(split.texts, tokenizer, progress=progress, desc=f"tokenising {name}")
        for name, split in splits.items()
    }
    vocab = vocab or Vocab.build(corpora["train"], max_size=max_size, min_freq=min_freq)
    collate = PadCollate(vocab.pad_index, max_len)

    def loader(name: str, training: bool) -> DataLoader:
        dataset = EncodedDataset(*numericalize(corpora[name], vocab), splits[name].labels)
        lengths = dataset.lengths if max_len is None else np.minimum(dataset.lengths, max_len)
        size = batch_size if training else (eval_batch_size or batch_size)
        # pool_factor=1 sorts only inside each random batch: plain random batching.
        pool = DEFAULT_POOL_FACTOR if bucket else 1
        sampler = BucketBatchSampler(lengths, size, shuffle=training, pool_factor=pool, seed=seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)

    return ImdbLoaders(
        train=loader("train", True),
        valid=loader("valid", False),
        test=loader("test", False),
        vocab=vocab,
        tokenizer=tokenizer,
        max_len=max_len,
    )


@dataclass
class NgramLoaders:
    """IMDb as bags of hashed n-grams (lesson 02's baseline): :func:`imdb_ngram_dataloaders`."""

    train: DataLoader
    valid: DataLoader
    test: DataLoader
    num_buckets: int

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{name}={len(loader.dataset)} reviews"
            for name, loader in (("train", self.train), ("valid", self.valid), ("test", self.test))
        )
        return f"NgramLoaders({sizes}, {self.num_buckets:,} feature buckets)"


def imdb_ngram_dataloaders(
    data: ImdbData,
    *,
    tokenizer: Tokenizer | None = None,
    num_buckets: int = 2**20,
    batch_size: int = 64,
    seed: int = 1234,
) -> NgramLoaders:
    """Each review's distinct words and word pairs, hashed into ``num_buckets`` feature ids.

    Batches are ``(features [B, F], counts, labels)``, padded with feature 0, bucketed by
    the number of features like token batches; the training dataset's flat features and
    offsets are what :meth:`~course_utils.models.ngram.NgramClassifier.set_nb_ratio` reads.
    """
    tokenizer = tokenizer or Tokenizer()

    def loader(split: TextSplit, training: bool) -> DataLoader:
        corpus = tokenize_corpus(split.texts, tokenizer, progress=False)
        dataset = EncodedDataset(*hashed_ngrams(corpus, num_buckets), split.labels)
        sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=training, seed=seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=PadCollate(PAD_FEATURE))

    return NgramLoaders(
        loader(data.train, True), loader(data.valid, False), loader(data.test, False), num_buckets
    )
