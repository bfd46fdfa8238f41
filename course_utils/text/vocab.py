"""Tokens to indices: the vocabulary, built from the training split only.

:class:`Vocab` maps tokens to indices; anything it has not seen maps to ``<unk>``.
:func:`numericalize` turns a cached :class:`~course_utils.text.tokenizer.TokenizedCorpus`
into vocabulary indices with one vectorised lookup, so the same cache serves any vocabulary.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from course_utils.files import atomic_write
from course_utils.text.tokenizer import TokenizedCorpus

UNK = "<unk>"
PAD = "<pad>"


class Vocab:
    """Token ↔ index mapping with ``<unk>`` and ``<pad>`` (torchtext's ``build_vocab``).

    Indices are ordered specials first, then by decreasing frequency, ties broken
    alphabetically so two runs give the same vocabulary.
    """

    def __init__(self, itos: Sequence[str], unk_token: str = UNK, pad_token: str = PAD):
        if len(set(itos)) != len(itos):
            raise ValueError("A vocabulary cannot list the same token twice.")
        for special in (unk_token, pad_token):
            if special not in itos:
                raise ValueError(f"The vocabulary must contain the special token {special!r}.")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.unk_token, self.pad_token = unk_token, pad_token
        self.unk_index = self.stoi[unk_token]
        self.pad_index = self.stoi[pad_token]

    @classmethod
    def build(
        cls,
        source: TokenizedCorpus | Counter | Iterable[Sequence[str]],
        max_size: int | None = 25_000,
        min_freq: int = 1,
        specials: Sequence[str] = (UNK, PAD),
    ) -> Vocab:
        """Build from training data only: a corpus, a Counter or token lists.

        ``max_size`` counts real tokens, not the specials (as torchtext did), so the
        default vocabulary has 25,002 entries.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}.")
        if isinstance(source, TokenizedCorpus):
            counts = source.counts()
        elif isinstance(source, Counter):
            counts = source
        else:
            counts = Counter(tok for tokens in source for tok in tokens)
        candidates = [(t, c) for t, c in counts.items() if c >= min_freq and t not in specials]
        if not candidates:
            raise ValueError(
                "No token reaches min_freq: the training texts are empty or min_freq is too high."
            )
        candidates.sort(key=lambda tc: (-tc[1], tc[0]))
        if max_size is not None:
            candidates = candidates[:max_size]
        return cls(list(specials) + [t for t, _ in candidates], specials[0], specials[1])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_index)

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, first={self.itos[:6]})"

    def lookup_token(self, index: int) -> str:
        """The token at ``index``; a clear IndexError for an index outside the vocabulary."""
        if not 0 <= index < len(self.itos):
            raise IndexError(f"Index {index} is outside the vocabulary (size {len(self)}).")
        return self.itos[index]

    def lookup_tokens(self, indices: Iterable[int]) -> list[str]:
        return [self.lookup_token(int(i)) for i in indices]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Indices of tokens; unknown tokens become ``<unk>``."""
        get, unk = self.stoi.get, self.unk_index
        return [get(t, unk) for t in tokens]

    def decode(self, indices: Iterable[int], skip_pad: bool = True) -> list[str]:
        return [self.itos[int(i)] for i in indices if not (skip_pad and i == self.pad_index)]

    @cached_property
    def fingerprint(self) -> str:
        """A short digest of the token list: identifies this vocabulary in checkpoints."""
        return hashlib.sha256("\n".join(self.itos).encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        payload = {"itos": self.itos, "unk_token": self.unk_token, "pad_token": self.pad_token}
        with atomic_write(path, "w") as fh:
            fh.write(json.dumps(payload, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"No vocabulary file at {path}. Save one with vocab.save(path) first."
            )
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            return cls(payload["itos"], payload["unk_token"], payload["pad_token"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a vocabulary saved by Vocab.save ({err}).") from err


def numericalize(corpus: TokenizedCorpus, vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """Vocabulary indices of a whole corpus as ``(flat int64 ids, offsets)``.

    One lookup per distinct token type, then a vectorised gather: milliseconds even for
    the 50,000 IMDb reviews, so it is recomputed rather than cached.
    """
    mapping = np.fromiter(
        (vocab.stoi.get(t, vocab.unk_index) for t in corpus.types),
        dtype=np.int64,
        count=len(corpus.types),
    )
    return mapping[corpus.ids], corpus.offsets.copy()
