"""Text to tokens: the tokenizer that replaces torchtext's, and a tokenised corpus cached on disk.

* :class:`Tokenizer` cleans HTML (IMDb reviews contain ``<br />``) and splits text
  with spaCy's rule-based English tokenizer (``spacy.blank("en")``: no model download).
* :class:`TokenizedCorpus` holds a whole split as flat integer arrays over the split's
  own token types and is cached on disk, keyed by the tokenizer's settings and the
  texts, so a lesson's second run skips tokenisation.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_utils import config
from course_utils.files import atomic_write
from course_utils.progress import tqdm

_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>")
_CACHE_FORMAT = 1


class Tokenizer:
    """spaCy's English tokenizer with HTML clean-up and optional lower-casing.

    spaCy splits text on whitespace and then applies its prefix, suffix, infix and
    exception rules to each chunk independently. Reviews repeat the same chunks
    ("movie", "it's", "film.") millions of times, so each distinct chunk is tokenised
    once and remembered: that makes a 50,000-review corpus about three times faster
    than tokenising every document from scratch, with the same tokens.
    """

    def __init__(self, lower: bool = True, clean_html: bool = True, language: str = "en"):
        import spacy  # imported here: spaCy takes a second to import

        self.lower = lower
        self.clean_html = clean_html
        self.language = language
        self._spacy = spacy.blank(language).tokenizer
        self._spacy_version = spacy.__version__
        self._chunks: dict[str, list[str]] = {}

    @property
    def settings(self) -> dict:
        """Everything that changes the output: part of every cache key."""
        return {
            "lower": self.lower,
            "clean_html": self.clean_html,
            "language": self.language,
            "spacy": self._spacy_version,
        }

    def __repr__(self) -> str:
        return (
            f"Tokenizer(lower={self.lower}, clean_html={self.clean_html}, "
            f"language={self.language!r})"
        )

    def clean(self, text: str) -> str:
        """Replace HTML tags by spaces, decode entities like ``&amp;``, lower-case if asked."""
        if self.clean_html:
            if "<" in text:
                text = _TAG.sub(" ", text)
            if "&" in text:
                text = html.unescape(text)
        return text.lower() if self.lower else text

    def __call__(self, text: str) -> list[str]:
        """Tokens of one text (empty list for empty or whitespace-only text)."""
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer expects a str, got {type(text).__name__}.")
        tokens: list[str] = []
        cache = self._chunks
        for chunk in self.clean(text).split():
            pieces = cache.get(chunk)
            if pieces is None:
                pieces = [t.text for t in self._spacy(chunk)]
                cache[chunk] = pieces
            tokens.extend(pieces)
        return tokens


@dataclass
class TokenizedCorpus:
    """A tokenised split stored compactly: ``ids`` index into ``types``.

    ``offsets[i]:offsets[i + 1]`` is text ``i``. Keeping the split's own token types
    (instead of vocabulary indices) means one cache serves every vocabulary size.
    """

    types: list[str]
    ids: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, len(texts) + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Number of tokens of every text."""
        return np.diff(self.offsets)

    def tokens(self, i: int) -> list[str]:
        """The tokens of text ``i``."""
        types = self.types
        return [types[j] for j in self.ids[self.offsets[i] : self.offsets[i + 1]]]

    def counts(self) -> Counter:
        """Token frequencies over the whole split (what a vocabulary is built from)."""
        freq = np.bincount(self.ids, minlength=len(self.types))
        return Counter(dict(zip(self.types, freq.tolist(), strict=True)))

    @classmethod
    def from_token_lists(cls, token_lists: Iterable[Sequence[str]]) -> TokenizedCorpus:
        """Pack token lists into flat arrays."""
        index: dict[str, int] = {}
        flat: list[int] = []
        offsets = [0]
        for tokens in token_lists:
            for tok in tokens:
                j = index.get(tok)
                if j is None:
                    j = index[tok] = len(index)
                flat.append(j)
            offsets.append(len(flat))
        return cls(list(index), np.asarray(flat, dtype=np.int32), np.asarray(offsets, np.int64))

    def save(self, path: Path) -> None:
        """Write atomically: a crash mid-write never leaves a truncated cache behind."""
        path = Path(path)
        joined = "\n".join(self.types).encode("utf-8")
        with atomic_write(path) as fh:
            np.savez(
                fh,
                format=np.int64(_CACHE_FORMAT),
                types=np.frombuffer(joined, dtype=np.uint8),
                ids=self.ids,
                offsets=self.offsets,
            )

    @classmethod
    def load(cls, path: Path) -> TokenizedCorpus:
        with np.load(path) as z:
            if int(z["format"]) != _CACHE_FORMAT:
                raise ValueError(f"{path} was written by another version of the course.")
            raw = z["types"].tobytes().decode("utf-8")
            types = raw.split("\n") if raw else []
            return cls(types, z["ids"], z["offsets"])


def _corpus_key(texts: Sequence[str], tokenizer: Tokenizer) -> str:
    """Digest of the tokenizer settings and every text: changes if either changes."""
    h = hashlib.sha256(json.dumps(tokenizer.settings, sort_keys=True).encode())
    h.update(str(len(texts)).encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:24]


def tokenize_corpus(
    texts: Sequence[str],
    tokenizer: Tokenizer,
    *,
    cache: bool = True,
    cache_dir: Path | None = None,
    progress: bool = True,
    desc: str = "tokenising",
) -> TokenizedCorpus:
    """Tokenise a whole split, reusing the on-disk cache when texts and settings match."""
    path = None
    if cache:
        key = _corpus_key(texts, tokenizer)
        path = Path(cache_dir or config.cache_dir()) / "tokens" / f"{key}.npz"
        if path.is_file():
            try:
                return TokenizedCorpus.load(path)
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)  # unreadable cache: rebuild it
    corpus = TokenizedCorpus.from_token_lists(
        tokenizer(t) for t in tqdm(texts, desc=desc, disable=not progress, unit="text")
    )
    if path is not None:
        corpus.save(path)
    return corpus
