"""Multi30k (task 1): German ↔ English image descriptions, ready for a seq2seq model.

The three splits every public tutorial reports on: ``train`` (29,000 pairs),
``val`` (1,014) and ``test_2016_flickr`` (1,000). Both sides are tokenised with
spaCy's rule-based tokenizers (``spacy.blank("de")`` / ``spacy.blank("en")``: no
model download) and lower-cased; each language gets its own vocabulary, built
from the training split only, with ``<unk>``, ``<pad>``, ``<sos>`` and ``<eos>``.
Targets are wrapped in ``<sos> … <eos>`` so the decoder knows where to start and
learns where to stop; sources are not (the encoder reads them as they are).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from course_utils.datasets import DataError, download
from course_utils.text.batching import BucketBatchSampler
from course_utils.text.tokenizer import TokenizedCorpus, Tokenizer, tokenize_corpus
from course_utils.text.vocab import Vocab

SPLITS = ("train", "val", "test_2016_flickr")
LANGUAGES = ("de", "en", "fr")
SOS, EOS = "<sos>", "<eos>"
SPECIALS = ("<unk>", "<pad>", SOS, EOS)

__all__ = [
    "EOS",
    "SOS",
    "SPECIALS",
    "Multi30k",
    "Seq2SeqCollate",
    "TranslationDataset",
    "load_multi30k",
    "multi30k_dataloaders",
    "read_lines",
]


def read_lines(path: Path) -> list[str]:
    """The lines of a gzipped text file, without their line endings."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


@dataclass
class Multi30k:
    """Raw sentences of one language pair: ``{split: (source lines, target lines)}``."""

    src_lang: str
    tgt_lang: str
    splits: dict[str, tuple[list[str], list[str]]] = field(repr=False)
    root: Path | None = None

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v[0])}" for k, v in self.splits.items())
        return f"Multi30k({self.src_lang}→{self.tgt_lang}: {sizes})"

    def source(self, split: str) -> list[str]:
        return self.splits[_check_split(split)][0]

    def target(self, split: str) -> list[str]:
        return self.splits[_check_split(split)][1]


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise KeyError(f"Unknown Multi30k split {split!r}; choose one of {', '.join(SPLITS)}.")
    return split


def load_multi30k(
    src: str = "de",
    tgt: str = "en",
    *,
    limit: int | None = None,
    root: Path | None = None,
) -> Multi30k:
    """Read the train / val / test_2016_flickr sentence pairs (downloading them if needed).

    ``limit`` keeps the first ``limit`` pairs of every split (smoke mode); ``root``
    is a folder holding the ``.gz`` files (default: :func:`download` ("multi30k")).
    """
    for lang in (src, tgt):
        if lang not in LANGUAGES:
            raise ValueError(f"Multi30k has {', '.join(LANGUAGES)}; got {lang!r}.")
    if src == tgt:
        raise ValueError("Source and target language must differ.")
    root = Path(root) if root is not None else download("multi30k")
    splits = {}
    for split in SPLITS:
        pair = []
        for lang in (src, tgt):
            path = root / f"{split}.{lang}.gz"
            if not path.is_file():
                raise DataError(
                    f"{path} is missing. Run course_utils.datasets.download('multi30k') again."
                )
            pair.append(read_lines(path)[:limit])
        if len(pair[0]) != len(pair[1]):
            raise DataError(
                f"{split}: {len(pair[0])} {src} lines but {len(pair[1])} {tgt} lines; the files "
                "must be line-aligned. Delete the folder and download again."
            )
        splits[split] = (pair[0], pair[1])
    return Multi30k(src, tgt, splits, root)


class TranslationDataset(Dataset):
    """Pairs of id tensors: the source as it is, the target wrapped in ``<sos> … <eos>``.

    Pairs whose source or target has no tokens are dropped (a model cannot learn
    from them); ``kept`` holds the original indices of the pairs kept, so
    references can be matched back to their lines.
    """

    def __init__(
        self,
        src: TokenizedCorpus,
        tgt: TokenizedCorpus,
        src_vocab: Vocab,
        tgt_vocab: Vocab,
    ) -> None:
        if len(src) != len(tgt):
            raise ValueError(f"{len(src)} source but {len(tgt)} target sentences.")
        sos, eos = tgt_vocab.stoi.get(SOS), tgt_vocab.stoi.get(EOS)
        if sos is None or eos is None:
            raise ValueError(f"The target vocabulary needs {SOS} and {EOS} (see SPECIALS).")
        src_ids = _ids(src, src_vocab)
        tgt_ids = _ids(tgt, tgt_vocab)
        self.kept = np.flatnonzero((src.lengths > 0) & (tgt.lengths > 0))
        self.src = [
            torch.from_numpy(src_ids[src.offsets[i] : src.offsets[i + 1]]) for i in self.kept
        ]
        self.tgt = [
            torch.from_numpy(
                np.concatenate([[sos], tgt_ids[tgt.offsets[i] : tgt.offsets[i + 1]], [eos]])
            )
            for i in self.kept
        ]
        self.src_lengths = np.array([len(s) for s in self.src])
        self.tgt_lengths = np.array([len(t) for t in self.tgt])

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.src[i], self.tgt[i]


def _ids(corpus: TokenizedCorpus, vocab: Vocab) -> np.ndarray:
    mapping = np.array([vocab[t] for t in corpus.types] or [0], dtype=np.int64)
    return mapping[corpus.ids]


class Seq2SeqCollate:
    """``(src, tgt)`` items → ``(src [B, S], src_lengths, tgt [B, T], tgt_lengths)``.

    Both sides are padded with their vocabulary's ``<pad>`` index; lengths are
    CPU int64 (what ``pack_padded_sequence`` and the masks need).
    """

    def __init__(self, src_pad: int, tgt_pad: int) -> None:
        self.src_pad, self.tgt_pad = src_pad, tgt_pad

    @staticmethod
    def _pad(seqs: Sequence[torch.Tensor], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        out = torch.full((len(seqs), int(lengths.max())), pad, dtype=torch.long)
        for row, seq in enumerate(seqs):
            out[row, : len(seq)] = seq
        return out, lengths

    def __call__(self, batch: Sequence[tuple[torch.Tensor, torch.Tensor]]):
        if not batch:
            raise ValueError("Cannot collate an empty batch.")
        src, src_lengths = self._pad([s for s, _ in batch], self.src_pad)
        tgt, tgt_lengths = self._pad([t for _, t in batch], self.tgt_pad)
        return src, src_lengths, tgt, tgt_lengths


@dataclass
class Multi30kLoaders:
    """Everything a translation lesson needs from the data side."""

    data: Multi30k
    src_tokenizer: Tokenizer
    tgt_tokenizer: Tokenizer
    src_vocab: Vocab
    tgt_vocab: Vocab
    datasets: dict[str, TranslationDataset]
    loaders: dict[str, DataLoader]

    @property
    def train(self) -> DataLoader:
        return self.loaders["train"]

    @property
    def valid(self) -> DataLoader:
        return self.loaders["val"]

    @property
    def test(self) -> DataLoader:
        return self.loaders["test_2016_flickr"]


def multi30k_dataloaders(
    src: str = "de",
    tgt: str = "en",
    *,
    batch_size: int = 128,
    min_freq: int = 2,
    lower: bool = True,
    limit: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Multi30kLoaders:
    """Tokenise (cached on disk), build both vocabularies from ``train``, and make loaders.

    Training batches are length-bucketed and reshuffled every epoch; validation and
    test batches are sorted by length (least padding). The sort key is the *target*
    length, then the source length: the decoder runs step by step for the longest
    target of a batch and its output layer over the whole vocabulary is most of the
    cost, while the encoder runs through the fused GRU kernel. Bucketing by source
    length alone left a third of the decoder's positions padding.
    """
    data = load_multi30k(src, tgt, limit=limit)
    src_tok = Tokenizer(lower=lower, clean_html=False, language=src)
    tgt_tok = Tokenizer(lower=lower, clean_html=False, language=tgt)
    corpora = {
        split: (
            tokenize_corpus(data.source(split), src_tok, progress=progress, desc=f"{split}.{src}"),
            tokenize_corpus(data.target(split), tgt_tok, progress=progress, desc=f"{split}.{tgt}"),
        )
        for split in SPLITS
    }
    src_vocab = Vocab.build(
        corpora["train"][0], max_size=None, min_freq=min_freq, specials=SPECIALS
    )
    tgt_vocab = Vocab.build(
        corpora["train"][1], max_size=None, min_freq=min_freq, specials=SPECIALS
    )
    collate = Seq2SeqCollate(src_vocab.pad_index, tgt_vocab.pad_index)
    datasets, loaders = {}, {}
    for split, (s, t) in corpora.items():
        ds = TranslationDataset(s, t, src_vocab, tgt_vocab)
        training = split == "train"
        by_target_then_source = ds.tgt_lengths * (int(ds.src_lengths.max()) + 1) + ds.src_lengths
        sampler = BucketBatchSampler(by_target_then_source, batch_size, shuffle=training, seed=seed)
        datasets[split] = ds
        loaders[split] = DataLoader(ds, batch_sampler=sampler, collate_fn=collate)
    return Multi30kLoaders(data, src_tok, tgt_tok, src_vocab, tgt_vocab, datasets, loaders)
