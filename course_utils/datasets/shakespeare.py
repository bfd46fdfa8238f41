"""Character-level text for language models: Tiny Shakespeare, a character vocabulary, batches.

A character language model reads one long text. There are no sentences and no
padding: the text is one stream of ids, and training batches are windows of it.
Two ways to cut the windows are provided, because the lesson compares them:

* :class:`StreamBatches` lays the text out as ``batch_size`` parallel streams
  (row ``b`` of every batch continues row ``b`` of the previous batch), so a
  stateful model can carry its hidden state from one window to the next
  (truncated backpropagation through time, as in karpathy's char-rnn);
* :class:`ChunkBatches` cuts the text into independent windows shuffled every
  epoch, the way the classic tutorials train its ``TextGenerator``: each window
  starts from a zero state and sees no context before it.

Both yield ``(inputs [B, T], targets [B, T])`` with the targets shifted by one
character, as :class:`course_utils.training.tasks.LanguageModelling` expects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from course_utils import config
from course_utils.datasets import DataError, download
from course_utils.text.vocab import Vocab

SMOKE_CHARS = 40_000  # characters of Tiny Shakespeare used in smoke mode

__all__ = [
    "ChunkBatches",
    "StreamBatches",
    "TextCorpus",
    "char_vocab",
    "load_tiny_shakespeare",
    "load_tiny_shakespeare_words",
    "read_tiny_shakespeare",
    "split_tail",
]


def char_vocab(text: str) -> Vocab:
    """A vocabulary of the characters of ``text`` (plus ``<unk>`` and ``<pad>``).

    Characters are ordered by frequency, so the same text always gives the same ids.
    """
    if not text:
        raise ValueError("Cannot build a character vocabulary from empty text.")
    return Vocab.build(Counter(text), max_size=None, min_freq=1)


def _describe_unknown(unknown: Sequence[str]) -> str:
    distinct = list(dict.fromkeys(unknown))
    shown = ", ".join(repr(token) for token in distinct[:10])
    return shown + (" …" if len(distinct) > 10 else "")


def _word_tokens(text: str, lower: bool) -> list[str]:
    """spaCy ``blank("en")`` tokens of every line, with ``"\n"`` as a token between lines."""
    from course_utils.text.tokenizer import Tokenizer

    tokenizer = Tokenizer(lower=lower, clean_html=False)
    tokens: list[str] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            tokens.append("\n")
        tokens.extend(tokenizer(line))
    return tokens


@dataclass
class TextCorpus:
    """A text as training tokens, a held-out tail, and the vocabulary of the model.

    ``level="char"``: tokens are characters. ``level="word"``: tokens are spaCy
    ``blank("en")`` words and punctuation, with ``"\n"`` as a token for line breaks
    (lower-cased when ``lower``). :meth:`tokens`, :meth:`encode`, :meth:`decode` and
    :meth:`join` work the same for both, so one sampler serves both kinds of model.
    """

    train_tokens: list[str] = field(repr=False)
    valid_tokens: list[str] = field(repr=False)
    vocab: Vocab
    level: Literal["char", "word"] = "char"
    lower: bool = False

    def __repr__(self) -> str:
        return (
            f"TextCorpus({self.level}-level, train={len(self.train_tokens):,} tokens, "
            f"valid={len(self.valid_tokens):,} tokens, vocab={len(self.vocab)})"
        )

    @property
    def train_text(self) -> str:
        return self.join(self.train_tokens)

    @property
    def valid_text(self) -> str:
        return self.join(self.valid_tokens)

    def tokens(self, text: str) -> list[str]:
        """Split ``text`` into this corpus's tokens (characters, or words and ``"\n"``)."""
        return list(text) if self.level == "char" else _word_tokens(text, self.lower)

    def join(self, tokens: Sequence[str]) -> str:
        """Tokens back to text: characters concatenated, words separated by spaces."""
        if self.level == "char":
            return "".join(tokens)
        return " ".join(tokens).replace(" \n ", "\n").replace(" \n", "\n").replace("\n ", "\n")

    def encode(self, text: str, unknown: Literal["error", "unk"] = "error") -> torch.Tensor:
        """Token ids of ``text`` as a 1-D ``LongTensor``.

        A token the vocabulary does not know raises a ``ValueError`` naming it
        (``unknown="error"``, the default: a model cannot condition on a character
        it has never seen), or becomes ``<unk>`` with ``unknown="unk"``.
        """
        return self.encode_tokens(self.tokens(text), unknown)

    def encode_tokens(
        self, tokens: Sequence[str], unknown: Literal["error", "unk"] = "error"
    ) -> torch.Tensor:
        if unknown == "error":
            missing = [t for t in tokens if t not in self.vocab]
            if missing:
                raise ValueError(
                    f"{len(missing)} token(s) are not in the vocabulary: "
                    f"{_describe_unknown(missing)}. Remove or replace them (the model knows only "
                    "the tokens of its training text), or pass unknown='unk' to map them to <unk>."
                )
        return torch.tensor(self.vocab.encode(tokens), dtype=torch.long)

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Text of token ids (``<pad>`` dropped)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.reshape(-1).tolist()
        return self.join(self.vocab.decode(ids))

    def train_ids(self) -> torch.Tensor:
        """The training tokens as ids (rare words of a word corpus become ``<unk>``)."""
        return self.encode_tokens(self.train_tokens, unknown="unk")

    def valid_ids(self) -> torch.Tensor:
        return self.encode_tokens(self.valid_tokens, unknown="unk")


def split_tail(tokens: Sequence, valid_fraction: float) -> tuple[list, list]:
    """``(head, tail)`` with the last ``valid_fraction`` as the tail (nanoGPT's split)."""
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be between 0 and 1, got {valid_fraction}.")
    cut = int(len(tokens) * (1.0 - valid_fraction))
    return list(tokens[:cut]), list(tokens[cut:])


def read_tiny_shakespeare(max_chars: int | Literal["auto"] | None = "auto") -> str:
    """The text of Tiny Shakespeare (downloaded and verified on first use).

    ``max_chars="auto"`` reads all 1,115,394 characters in full mode and the first
    ``SMOKE_CHARS`` in smoke mode; an int keeps that many from the start; ``None`` all.
    """
    path: Path = download("tinyshakespeare") / "input.txt"
    if not path.is_file():
        raise DataError(
            f"{path} is missing after the download step. Delete {path.parent} and call "
            "load_tiny_shakespeare() again."
        )
    text = path.read_text(encoding="utf-8")
    if max_chars == "auto":
        max_chars = config.pick(None, SMOKE_CHARS)
    return text if max_chars is None else text[:max_chars]


def load_tiny_shakespeare(
    valid_fraction: float = 0.1, max_chars: int | Literal["auto"] | None = "auto"
) -> TextCorpus:
    """Tiny Shakespeare as a character corpus; the last ``valid_fraction`` is held out.

    Holding out the *tail* (not random lines) is what nanoGPT and char-rnn do, so
    validation losses are comparable with theirs. The vocabulary holds every
    character of the text (65 for the whole file) plus ``<unk>`` and ``<pad>``.
    """
    text = read_tiny_shakespeare(max_chars)
    train, valid = split_tail(text, valid_fraction)
    return TextCorpus(train, valid, char_vocab(text), level="char")


def load_tiny_shakespeare_words(
    valid_fraction: float = 0.1,
    max_chars: int | Literal["auto"] | None = "auto",
    min_freq: int = 2,
    lower: bool = True,
) -> TextCorpus:
    """Tiny Shakespeare as a word corpus, for the classic word-level ``TextGenerator``.

    Words are spaCy ``blank("en")`` tokens, punctuation and line breaks are tokens of
    their own. The vocabulary comes from the training part only (words seen at least
    ``min_freq`` times); rarer words become ``<unk>``.
    """
    tokens = _word_tokens(read_tiny_shakespeare(max_chars), lower)
    train, valid = split_tail(tokens, valid_fraction)
    vocab = Vocab.build(Counter(train), max_size=None, min_freq=min_freq)
    return TextCorpus(train, valid, vocab, level="word", lower=lower)


def _check_batch_shape(n: int, batch_size: int, seq_len: int) -> None:
    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be at least 1; got {batch_size}, {seq_len}.")
    if n < batch_size * (seq_len + 1):
        raise ValueError(
            f"The text has {n:,} tokens: too short for batches of {batch_size} × {seq_len + 1}. "
            "Use a smaller batch_size or seq_len."
        )


class StreamBatches:
    """``batch_size`` parallel streams of ``ids`` cut into consecutive windows of ``seq_len``.

    The text is divided into ``batch_size`` contiguous parts, one per batch row; batch
    ``i`` holds window ``i`` of each part. Row ``b`` of batch ``i + 1`` therefore starts
    exactly where row ``b`` of batch ``i`` ended, which is what lets
    ``LanguageModelling(stateful=True)`` carry the hidden state across batches.
    Up to ``batch_size - 1`` characters at the end that do not fill a stream are dropped.
    """

    def __init__(self, ids: torch.Tensor, batch_size: int, seq_len: int) -> None:
        ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
        _check_batch_shape(ids.numel(), batch_size, seq_len)
        per_stream = ids.numel() // batch_size
        self.streams = ids[: per_stream * batch_size].view(batch_size, per_stream)
        self.batch_size, self.seq_len = batch_size, seq_len

    def __len__(self) -> int:
        return -(-(self.streams.shape[1] - 1) // self.seq_len)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        last = self.streams.shape[1] - 1
        for start in range(0, last, self.seq_len):
            stop = min(start + self.seq_len, last)
            yield self.streams[:, start:stop], self.streams[:, start + 1 : stop + 1]

    @property
    def tokens_per_epoch(self) -> int:
        return self.batch_size * (self.streams.shape[1] - 1)


class ChunkBatches:
    """Independent windows of ``seq_len + 1`` tokens, shuffled anew every epoch.

    Every window starts at a multiple of ``seq_len``; ``set_epoch`` (called by
    ``fit``) reshuffles them with ``seed + epoch``. This is the classic tutorials' way
    layout: no window continues another, so the hidden state must start from zeros.
    ``random_offset=True`` also shifts every window by a random number of tokens each
    epoch (after the first), so a model trained for many epochs sees each passage at
    other positions of its window instead of memorising one cut (nanoGPT samples its
    windows at random offsets for the same reason).
    """

    def __init__(
        self,
        ids: torch.Tensor,
        batch_size: int,
        seq_len: int,
        seed: int = 0,
        shuffle: bool = True,
        random_offset: bool = False,
    ) -> None:
        ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
        _check_batch_shape(ids.numel(), batch_size, seq_len)
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        self.seed, self.shuffle, self.random_offset, self.epoch = seed, shuffle, random_offset, 0
        self.windows = self._windows(0)  # [n_windows, seq_len + 1]

    def _windows(self, offset: int) -> torch.Tensor:
        n_windows = (self.ids.numel() - 1 - offset) // self.seq_len
        starts = offset + torch.arange(n_windows) * self.seq_len
        return self.ids[starts.unsqueeze(1) + torch.arange(self.seq_len + 1)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.windows.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        windows = self.windows
        if self.random_offset and self.epoch > 0:
            windows = self._windows(int(torch.randint(self.seq_len, (1,), generator=generator)))
        order = torch.arange(windows.shape[0])
        if self.shuffle:
            order = torch.randperm(windows.shape[0], generator=generator)
        for start in range(0, len(order), self.batch_size):
            batch = windows[order[start : start + self.batch_size]]
            yield batch[:, :-1], batch[:, 1:]
