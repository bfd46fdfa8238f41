"""Lesson 05's sentiment model as one recipe, shared by the lesson, the script and the study.

A recipe is every choice that decides the number a run reports: the model, the word
vectors it starts from, the optimiser, the schedule and the stopping rule. Lesson 05,
``scripts/train_imdb.py`` and lesson 09's tuning objective all build and train through
:func:`build_classifier` and :func:`train_recipe`, so the script run with its defaults
reproduces the lesson's number, and a study's best trial is a recipe that can be re-run
from the command line (:meth:`SentimentRecipe.cli_args`).

What a recipe does not vary is fixed here: the 17,500 / 7,500 split of IMDb's training
reviews (seed 1234), lower-cased tokens, 100-dimensional embeddings, a bidirectional
network, gradient clipping at norm 1 and halving the learning rate whenever the
validation accuracy does not improve.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from course_utils import config
from course_utils.datasets.imdb import ImdbData, ImdbLoaders, imdb_dataloaders, load_imdb
from course_utils.models.classifier import CELLS, POOLINGS, RecurrentClassifier
from course_utils.models.embeddings import EmbeddingMatrix, vectors_from_keyed_vectors
from course_utils.text.batching import BucketBatchSampler
from course_utils.text.tokenizer import Tokenizer, tokenize_corpus
from course_utils.text.word_vectors import train_word2vec
from course_utils.training.callbacks import Callback, Checkpoint, EarlyStopping
from course_utils.training.history import History
from course_utils.training.loop import fit

__all__ = [
    "EMBEDDINGS",
    "SentimentData",
    "SentimentRecipe",
    "build_classifier",
    "load_sentiment_data",
    "train_recipe",
]

VALID_FRACTION = 0.3  # 17,500 training / 7,500 validation reviews
DATA_SEED = 1234
EMBED_DIM = 100
CLIP_GRAD_NORM = 1.0
PLATEAU_FACTOR = 0.5  # the learning rate is halved after each epoch without a new best
#: Where the embedding matrix starts: word2vec trained on IMDb's own reviews, or random.
EMBEDDINGS = ("word2vec", "random")
LOSS = nn.BCEWithLogitsLoss()
#: What smoke mode shrinks, so that CI trains a recipe in seconds.
SMOKE_SIZES = {"hidden_dim": 16, "epochs": 1, "word2vec_epochs": 1}


@dataclass(frozen=True)
class SentimentRecipe:
    """The choices of one IMDb run; the defaults are lesson 05's hand-tuned model.

    ``pooling`` is one of the classifier's poolings or several joined by ``+``
    (``"max+mean"``). ``epochs`` is the most a run trains; it stops after ``patience``
    epochs without a better validation accuracy and keeps the best epoch's weights.
    """

    cell: str = "lstm"
    hidden_dim: int = 128
    num_layers: int = 1
    dropout: float = 0.4
    pooling: str = "attention"
    embeddings: str = "word2vec"
    lr: float = 2e-3
    batch_size: int = 64
    epochs: int = 6
    patience: int = 2
    max_len: int = 400
    word2vec_epochs: int = 5
    seed: int = 1234

    def __post_init__(self) -> None:
        problems = []
        if self.cell not in CELLS:
            problems.append(f"cell={self.cell!r} (choose {', '.join(CELLS)})")
        if not self.poolings or any(p not in POOLINGS for p in self.poolings):
            problems.append(f"pooling={self.pooling!r} (one of {', '.join(POOLINGS)}, or a+b)")
        if self.embeddings not in EMBEDDINGS:
            problems.append(f"embeddings={self.embeddings!r} (choose {', '.join(EMBEDDINGS)})")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout={self.dropout} (needs 0 <= dropout < 1)")
        for name in ("hidden_dim", "num_layers", "batch_size", "epochs", "max_len"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)} (needs at least 1)")
        if self.lr <= 0:
            problems.append(f"lr={self.lr} (needs to be positive)")
        if problems:
            raise ValueError("Invalid SentimentRecipe: " + "; ".join(problems) + ".")

    @property
    def poolings(self) -> tuple[str, ...]:
        """The pooling names, e.g. ``("max", "mean")`` for ``"max+mean"``."""
        return tuple(p for p in self.pooling.split("+") if p)

    def for_mode(self) -> SentimentRecipe:
        """This recipe, shrunk (:data:`SMOKE_SIZES`) under ``COURSE_MODE=smoke`` for CI."""
        return replace(self, **SMOKE_SIZES) if config.is_smoke() else self

    def params(self) -> dict[str, Any]:
        """The recipe's choices as a plain dict (for tables, JSON and Optuna)."""
        return asdict(self)

    def cli_args(self) -> list[str]:
        """``scripts/train_imdb.py`` arguments for every choice that differs from its defaults.

        The defaults are this mode's (those :meth:`add_arguments` offers), so the command
        rebuilds exactly this recipe in full and in smoke mode alike.
        """
        default = SentimentRecipe().for_mode()
        args: list[str] = []
        for name, value in self.params().items():
            if value != getattr(default, name):
                args += [f"--{name.replace('_', '-')}", str(value)]
        return args

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One command-line option per choice, defaulting to this mode's recipe."""
        default = cls().for_mode()
        for f in fields(cls):
            value = getattr(default, f.name)
            parser.add_argument(
                f"--{f.name.replace('_', '-')}", type=type(value), default=value, help=f"{value}"
            )

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> SentimentRecipe:
        """The recipe that :meth:`add_arguments`' options describe."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


@dataclass
class SentimentData:
    """IMDb tokenised once, with its vocabulary and word vectors: what every run of a recipe shares.

    ``loaders`` holds the three splits batched with the recipe's batch size. Tuning
    trials, which vary the batch size and may train on a fraction of the training
    reviews, get theirs from :meth:`tuning_loaders`, which has no test split at all.
    """

    imdb: ImdbData
    loaders: ImdbLoaders
    word2vec_epochs: int
    seed: int = DATA_SEED

    @property
    def vocab(self):
        return self.loaders.vocab

    @property
    def tokenizer(self) -> Tokenizer:
        return self.loaders.tokenizer

    @cached_property
    def keyed_vectors(self):
        """CBOW word2vec trained on the training and unlabelled reviews (cached on disk)."""
        corpora = [
            tokenize_corpus(self.imdb.train.texts, self.tokenizer, desc="tokenising train"),
            tokenize_corpus(self.imdb.unlabelled, self.tokenizer, desc="tokenising unlabelled"),
        ]
        return train_word2vec(corpora, vector_size=EMBED_DIM, epochs=self.word2vec_epochs)

    @cached_property
    def word2vec(self) -> EmbeddingMatrix:
        """The word2vec vectors as an embedding matrix for :attr:`vocab`."""
        return vectors_from_keyed_vectors(self.keyed_vectors, self.vocab)

    def initial_embeddings(self, recipe: SentimentRecipe) -> torch.Tensor | None:
        """The matrix a recipe's embedding layer starts from (``None``: random)."""
        return self.word2vec.vectors if recipe.embeddings == "word2vec" else None

    def tuning_loaders(
        self, batch_size: int, *, train_fraction: float = 1.0
    ) -> tuple[DataLoader, DataLoader]:
        """Training batches (of a seeded ``train_fraction`` of the reviews) and validation batches.

        There is deliberately no test loader: a study compares configurations on the
        validation split only, and the test split is used once, for the configuration
        it picks.
        """
        if not 0.0 < train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}.")
        full = self.loaders.train
        dataset, lengths = full.dataset, full.batch_sampler.lengths
        if train_fraction < 1.0:
            keep = max(batch_size, round(train_fraction * len(dataset)))
            index = np.sort(np.random.default_rng(self.seed).permutation(len(dataset))[:keep])
            dataset, lengths = Subset(dataset, index.tolist()), lengths[index]
        sampler = BucketBatchSampler(lengths, batch_size, shuffle=True, seed=self.seed)
        train = DataLoader(dataset, batch_sampler=sampler, collate_fn=full.collate_fn)
        return train, self.loaders.valid


def load_sentiment_data(
    recipe: SentimentRecipe, *, progress: bool = True, per_split: int | str | None = "auto"
) -> SentimentData:
    """Load IMDb, tokenise it (lower-cased) and batch it the way ``recipe`` says.

    ``per_split`` as in :func:`course_utils.datasets.imdb.load_imdb` (everything in full mode,
    200 reviews per split in smoke mode).
    """
    imdb = load_imdb(valid_fraction=VALID_FRACTION, seed=DATA_SEED, per_split=per_split)
    loaders = imdb_dataloaders(
        imdb,
        tokenizer=Tokenizer(lower=True),
        batch_size=recipe.batch_size,
        max_len=recipe.max_len,
        seed=DATA_SEED,
        progress=progress,
    )
    return SentimentData(imdb, loaders, recipe.word2vec_epochs)


def build_classifier(
    recipe: SentimentRecipe, vocab: Any, embeddings: torch.Tensor | None = None
) -> RecurrentClassifier:
    """The recipe's bidirectional classifier for ``vocab``, seeded with ``recipe.seed``.

    Seeding here, right before the weights are drawn, makes the model the same wherever
    it is built: in a notebook after other cells ran, in a script, or in a trial.
    """
    config.seed_everything(recipe.seed)
    return RecurrentClassifier(
        len(vocab),
        EMBED_DIM,
        recipe.hidden_dim,
        1,
        cell=recipe.cell,
        num_layers=recipe.num_layers,
        bidirectional=True,
        dropout=recipe.dropout,
        padding_idx=vocab.pad_index,
        pretrained_embeddings=embeddings,
        pooling=recipe.pooling if len(recipe.poolings) == 1 else recipe.poolings,
        lengths="auto",
        max_len=recipe.max_len,
    )


def train_recipe(
    recipe: SentimentRecipe,
    model: nn.Module,
    train_loader: DataLoader,
    valid_loader: DataLoader,
    *,
    callbacks: Sequence[Callback] = (),
    checkpoint_path: str | os.PathLike | None = None,
    vocab_path: str | os.PathLike | None = None,
    **fit_options: Any,
) -> History:
    """Train ``model`` the recipe's way: Adam, clipping, halving on a plateau, early stopping.

    ``checkpoint_path`` (with ``vocab_path``) saves the best model as it improves;
    ``fit_options`` go to :func:`course_utils.training.loop.fit` (``name``, ``progress``,
    ``seed``, ``resume``, ...).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=PLATEAU_FACTOR, patience=0
    )
    standard: list[Callback] = [EarlyStopping(recipe.patience)]
    if checkpoint_path is not None:
        standard.append(Checkpoint(checkpoint_path, vocab_path))
    return fit(
        model,
        train_loader,
        valid_loader,
        optimizer=optimizer,
        loss_fn=LOSS,
        epochs=recipe.epochs,
        clip_grad_norm=CLIP_GRAD_NORM,
        scheduler=scheduler,
        callbacks=[*standard, *callbacks],
        **fit_options,
    )
