"""Pretrained word vectors as an embedding matrix for a course vocabulary.

A model's embedding layer has one row per vocabulary id. Starting those rows
from vectors learned on billions of words (GloVe) or on the unlabelled IMDb
reviews (word2vec) gives the classifier word similarities it could not learn
from 25,000 labelled reviews alone. This module lines such vectors up with a
vocabulary:

* a word found in the vectors gets its vector (exact spelling first, then,
  optionally, a match ignoring case: GloVe 6B is lower-cased);
* a word not found gets a random vector with the same spread as the found
  ones, so it starts neither dominant nor dead and is learned in training;
* ``<pad>`` gets zeros, so padding carries no signal.

The vocabulary only needs ``itos``, ``stoi``, ``pad_index`` and ``len()``, as
:class:`course_utils.text.vocab.Vocab` provides.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch


@dataclass
class EmbeddingMatrix:
    """Vectors for every vocabulary id, and how many of them came from the source.

    ``vectors`` is ``[len(vocab), dim]``, ready for
    ``RecurrentClassifier(..., pretrained_embeddings=matrix.vectors)``.
    ``total`` counts the vocabulary entries that were looked up (all but
    ``<pad>``), ``missing`` lists those not found, most frequent first if the
    vocabulary is ordered by frequency. Low coverage usually means a
    tokenisation or casing mismatch between the corpus and the vectors.
    """

    vectors: torch.Tensor
    found: int
    total: int
    missing: list[str]

    @property
    def coverage(self) -> float:
        """Fraction of looked-up vocabulary words that received a pretrained vector."""
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        text = (
            f"found {self.found} of {self.total} vocabulary words ({100 * self.coverage:.1f}%), "
            f"dim {self.vectors.size(1)}"
        )
        if self.missing:
            text += "; missing e.g. " + ", ".join(repr(word) for word in self.missing[:5])
        return text


class _VocabularyMatcher:
    """Collects vectors for one vocabulary from a stream of ``(word, vector)`` pairs.

    Both loaders feed it, so matching, random fill and the ``<pad>`` row are
    decided in one place. Asking :meth:`wants` before parsing a vector lets the
    GloVe reader skip the ~390,000 lines of GloVe 6B that a 25k vocabulary
    does not need.
    """

    def __init__(self, vocab: Any, lowercase_fallback: bool) -> None:
        self.vocab = vocab
        self.lowercase_fallback = lowercase_fallback
        self.exact = {word: i for word, i in vocab.stoi.items() if i != vocab.pad_index}
        self.lowered = {word.lower() for word in self.exact} if lowercase_fallback else set()
        self.exact_hits: dict[int, np.ndarray] = {}
        self.lowered_hits: dict[str, np.ndarray] = {}

    def wants(self, word: str) -> bool:
        return word in self.exact or (self.lowercase_fallback and word.lower() in self.lowered)

    def offer(self, word: str, vector: np.ndarray) -> None:
        """Record ``vector`` for ``word``; the first occurrence of a spelling wins."""
        index = self.exact.get(word)
        if index is not None:
            self.exact_hits.setdefault(index, vector)
        if self.lowercase_fallback and word.lower() in self.lowered:
            # Vector files list frequent words first, so the first casing seen is the usual one.
            self.lowered_hits.setdefault(word.lower(), vector)

    def result(self, dim: int, seed: int) -> EmbeddingMatrix:
        """The matrix: found vectors, seeded random rows for the rest, zeros for ``<pad>``."""
        vectors = torch.zeros(len(self.vocab), dim)
        found_rows: list[int] = []
        missing_rows: list[int] = []
        for index, word in enumerate(self.vocab.itos):
            if index == self.vocab.pad_index:
                continue
            vector = self.exact_hits.get(index)
            if vector is None:
                vector = self.lowered_hits.get(word.lower())
            if vector is None:
                missing_rows.append(index)
            else:
                vectors[index] = torch.tensor(vector, dtype=torch.float32)
                found_rows.append(index)
        # Random rows as spread out as the real ones: much smaller and they carry no
        # signal at first, much larger and they dominate every sum and dot product.
        std = vectors[found_rows].std().item() if len(found_rows) * dim > 1 else 1.0
        generator = torch.Generator().manual_seed(seed)
        vectors[missing_rows] = torch.randn(len(missing_rows), dim, generator=generator) * std
        return EmbeddingMatrix(
            vectors=vectors,
            found=len(found_rows),
            total=len(found_rows) + len(missing_rows),
            missing=[self.vocab.itos[i] for i in missing_rows],
        )


def load_glove_vectors(
    path: str | Path,
    vocab: Any,
    *,
    dim: int | None = None,
    seed: int = 0,
    lowercase_fallback: bool = True,
) -> EmbeddingMatrix:
    """Build an embedding matrix for ``vocab`` from a GloVe-format text file.

    Each line is ``word v1 v2 ... vD``; the file may be gzipped (``.gz``) and
    may start with a word2vec ``count dim`` header line. The file is streamed
    and only vocabulary words are parsed, so the 400,000 lines of GloVe 6B
    take seconds and little memory. ``dim`` (optional) is checked against the
    file; ``seed`` fixes the random vectors of words not found; with
    ``lowercase_fallback`` a word like ``"Paris"`` missing from the file takes
    the vector of ``"paris"``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No word-vector file at {path}. Download GloVe with "
            "course_utils.datasets.download('glove_6b') and pass one of its files "
            "(e.g. glove.6B.100d.txt), or correct the path."
        )
    matcher = _VocabularyMatcher(vocab, lowercase_fallback)
    found_dim = None
    for word, vector_text, expected, line_number in _glove_lines(path, dim):
        found_dim = expected
        if matcher.wants(word):
            try:
                vector = np.asarray(vector_text.split(), dtype=np.float32)
            except ValueError as error:
                raise ValueError(
                    f"{path}, line {line_number}: the vector of {word!r} holds something "
                    f"that is not a number ({error}). The file may be corrupt; download it again."
                ) from None
            matcher.offer(word, vector)
    if found_dim is None:
        raise ValueError(
            f"{path} contains no word vectors. It is probably an incomplete download: "
            "delete it and download it again."
        )
    return matcher.result(found_dim, seed)


def _glove_lines(path: Path, dim: int | None) -> Iterator[tuple[str, str, int, int]]:
    """Yield ``(word, vector text, dim, line number)`` per line, checking every line's size.

    Counting the spaces of a line is much cheaper than parsing its numbers, so
    every line is checked (a truncated download shows up as a short last
    line) while only the wanted ones are parsed.
    """
    source = f"dim={dim}"
    with _open_text(path) as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            word, _, vector_text = line.rstrip().partition(" ")
            if line_number == 1 and _is_word2vec_header(line):
                header_dim = int(line.split()[1])
                if dim is not None and header_dim != dim:
                    raise ValueError(
                        f"{path}: the header line says the vectors have {header_dim} numbers, "
                        f"but dim={dim} was asked for. Pass dim={header_dim} or another file."
                    )
                dim, source = header_dim, "the header line"
                continue
            size = vector_text.count(" ") + 1
            if "  " in vector_text or "\t" in vector_text:  # rare: split properly
                size = len(vector_text.split())
            if dim is None:
                dim, source = size, f"line {line_number}"
            if size != dim or not vector_text:
                raise ValueError(
                    f"{path}, line {line_number}: {word!r} has {len(vector_text.split())} "
                    f"numbers, expected {dim} (from {source}). Every vector in the file must "
                    "have the same size; the file may be truncated or corrupt, so download "
                    "it again."
                )
            yield word, vector_text, dim, line_number


def _is_word2vec_header(line: str) -> bool:
    """True for word2vec's text-format first line, ``"<count> <dim>"``."""
    fields = line.split()
    return len(fields) == 2 and all(field.isdigit() for field in fields)


def _open_text(path: Path) -> TextIO:
    """Open a plain or gzipped UTF-8 text file for reading."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def vectors_from_keyed_vectors(
    kv: Any, vocab: Any, *, seed: int = 0, lowercase_fallback: bool = True
) -> EmbeddingMatrix:
    """Build an embedding matrix for ``vocab`` from gensim ``KeyedVectors``.

    Use it with word2vec trained on the IMDb reviews (``Word2Vec(...).wv``):
    the same matching and random fill as :func:`load_glove_vectors`.
    """
    matcher = _VocabularyMatcher(vocab, lowercase_fallback)
    for word in kv.index_to_key:
        if matcher.wants(word):
            matcher.offer(word, kv[word])
    return matcher.result(kv.vector_size, seed)
