"""Multi30k reader, translation dataset and loaders (on small hand-made gz files)."""

from __future__ import annotations

import gzip

import pytest
import torch

from course_utils.datasets import DataError
from course_utils.datasets.multi30k import (
    SPECIALS,
    Seq2SeqCollate,
    TranslationDataset,
    load_multi30k,
)
from course_utils.text.tokenizer import TokenizedCorpus
from course_utils.text.vocab import Vocab

DE = ["Ein Hund läuft.", "Zwei Männer spielen.", "Ein Mann läuft."]
EN = ["A dog runs.", "Two men play.", "A man runs."]


def _write(folder, split, lang, lines):
    with gzip.open(folder / f"{split}.{lang}.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


@pytest.fixture
def root(tmp_path):
    for split in ("train", "val", "test_2016_flickr"):
        _write(tmp_path, split, "de", DE)
        _write(tmp_path, split, "en", EN)
    return tmp_path


def test_load_reads_aligned_splits_and_limit(root):
    data = load_multi30k("de", "en", root=root)
    assert data.source("train") == DE and data.target("test_2016_flickr") == EN
    assert len(load_multi30k(root=root, limit=2).source("val")) == 2
    with pytest.raises(KeyError, match="test_2016_flickr"):
        data.source("test")
    with pytest.raises(ValueError, match="differ"):
        load_multi30k("de", "de", root=root)


def test_misaligned_files_are_reported(root):
    _write(root, "val", "en", EN[:2])
    with pytest.raises(DataError, match="line-aligned"):
        load_multi30k(root=root)


def test_dataset_wraps_targets_and_drops_empty_pairs():
    src = TokenizedCorpus.from_token_lists([["ein", "hund"], [], ["xyz"]])
    tgt = TokenizedCorpus.from_token_lists([["a", "dog"], ["men"], ["a"]])
    src_vocab = Vocab(list(SPECIALS) + ["ein", "hund"])
    tgt_vocab = Vocab(list(SPECIALS) + ["a", "dog"])
    ds = TranslationDataset(src, tgt, src_vocab, tgt_vocab)
    assert ds.kept.tolist() == [0, 2]
    s, t = ds[0]
    assert src_vocab.decode(s.tolist()) == ["ein", "hund"]
    assert tgt_vocab.decode(t.tolist()) == ["<sos>", "a", "dog", "<eos>"]
    assert src_vocab.decode(ds[1][0].tolist()) == ["<unk>"]
    batch = Seq2SeqCollate(src_vocab.pad_index, tgt_vocab.pad_index)([ds[0], ds[1]])
    src_ids, src_len, tgt_ids, tgt_len = batch
    assert src_len.tolist() == [2, 1] and tgt_len.tolist() == [4, 3]
    assert src_ids[1, 1] == src_vocab.pad_index and tgt_ids[1, 3] == tgt_vocab.pad_index
    assert src_len.dtype == torch.long and src_len.device.type == "cpu"
