"""The CoNLL-U reader, the tagging vocabularies and the tagging collate, on hand-written data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from course_utils.datasets.ud import (
    UPOS_TAGS,
    TaggedSentence,
    load_ud_pos,
    parse_conllu,
    read_conllu,
)
from course_utils.datasets.ud_batches import (
    PAD_TAG,
    TagCollate,
    TaggingDataset,
    TaggingVocabs,
    tagging_dataloaders,
)

# Two sentences: the first has a multi-word token (3-4 "don't" = do + n't) and an
# empty node (5.1), both of which must be skipped; comments carry the sentence ids.
SNIPPET = """\
# newdoc id = test-doc
# sent_id = s1
# text = I don't know .
1\tI\tI\tPRON\tPRP\tCase=Nom\t4\tnsubj\t4:nsubj\t_
2\treally\treally\tADV\tRB\t_\t4\tadvmod\t4:advmod\t_
3-4\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
3\tdo\tdo\tAUX\tVBP\t_\t5\taux\t5:aux\t_
4\tn't\tnot\tPART\tRB\t_\t5\tadvmod\t5:advmod\t_
5\tknow\tknow\tVERB\tVB\t_\t0\troot\t0:root\t_
5.1\tknows\tknow\tVERB\tVBZ\t_\t_\t_\t5:conj\tCopyOf=5
6\t.\t.\tPUNCT\t.\t_\t5\tpunct\t5:punct\t_

# sent_id = s2
1\tGo\tgo\tVERB\tVB\t_\t0\troot\t0:root\t_
2\thome\thome\tADV\tRB\t_\t1\tadvmod\t1:advmod\t_
3\t!\t!\tPUNCT\t.\t_\t1\tpunct\t1:punct\t_

"""


def test_parse_conllu_skips_comments_multiword_ranges_and_empty_nodes():
    first, second = parse_conllu(SNIPPET)
    assert first.words == ("I", "really", "do", "n't", "know", ".")
    assert first.upos == ("PRON", "ADV", "AUX", "PART", "VERB", "PUNCT")
    assert first.xpos == ("PRP", "RB", "VBP", "RB", "VB", ".")
    assert first.sent_id == "s1"
    assert "don't" not in first.words and "knows" not in first.words
    assert second.words == ("Go", "home", "!") and second.sent_id == "s2"
    assert second.tags("xpos") == ("VB", "RB", ".")
    with pytest.raises(ValueError, match="upos"):
        second.tags("lemma")


def test_parse_conllu_max_sentences():
    assert [s.sent_id for s in parse_conllu(SNIPPET, max_sentences=1)] == ["s1"]


def _write_treebank(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        (folder / f"en_ewt-ud-{split}.conllu").write_text(SNIPPET, encoding="utf-8")


def test_read_conllu_and_load_ud_pos_from_a_folder(tmp_path):
    _write_treebank(tmp_path / "tb")
    sentences = read_conllu(tmp_path / "tb" / "en_ewt-ud-dev.conllu")
    assert [len(s) for s in sentences] == [6, 3]
    data = load_ud_pos(tmp_path / "tb", max_sentences=None)
    assert len(data.train) == len(data.dev) == len(data.test) == 2
    assert "train: 2 sentences / 9 words" in repr(data)
    assert len(load_ud_pos(tmp_path / "tb", max_sentences=1).test) == 1


def test_bad_paths_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No CoNLL-U file"):
        read_conllu(tmp_path / "missing.conllu")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_ud_pos(tmp_path / "nowhere")
    (tmp_path / "empty.conllu").write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(Exception, match="no sentences"):
        read_conllu(tmp_path / "empty.conllu")


def _sentences() -> list[TaggedSentence]:
    return [
        TaggedSentence(
            ("The", "dog", "barks", "."), ("DET", "NOUN", "VERB", "PUNCT"), ("DT", "NN", "VBZ", ".")
        ),
        TaggedSentence(("the", "cat", "sleeps"), ("DET", "NOUN", "VERB"), ("DT", "NN", "VBZ")),
        TaggedSentence(("A", "dog", "."), ("DET", "NOUN", "PUNCT"), ("DT", "NN", ".")),
    ]


def test_vocabs_come_from_train_with_min_freq_and_lower_casing():
    vocabs = TaggingVocabs.build(_sentences(), min_freq=2, lower=True)
    # "the"/"The" (2, lower-cased), "dog" (2) and "." (2) reach min_freq; the rest do not.
    assert set(vocabs.words.itos[2:]) == {"the", "dog", "."}
    assert vocabs.is_oov("cat") and not vocabs.is_oov("THE")
    # UPOS is a closed set: all 17 tags, even those this tiny sample lacks; XPOS from train only.
    assert vocabs.tags == sorted(UPOS_TAGS) and len(vocabs.tags) == 17
    assert TaggingVocabs.build(_sentences(), column="xpos").tags == [".", "DT", "NN", "VBZ"]
    assert "T" in vocabs.chars and "t" in vocabs.chars  # characters keep their case
    cased = TaggingVocabs.build(_sentences(), min_freq=1, lower=False)
    assert "The" in cased.words and "the" in cased.words


def test_encoders_and_save_load_round_trip(tmp_path):
    vocabs = TaggingVocabs.build(_sentences(), min_freq=1, max_word_len=6)
    chars = vocabs.encode_chars(["dog", "barkbarkbark"])
    assert chars.shape == (2, 6)
    assert chars[0, 3:].eq(vocabs.chars.pad_index).all()
    # A long word keeps its first and last three characters: "bar" + "ark".
    assert vocabs.chars.decode(chars[1].tolist()) == list("barark")
    with pytest.raises(ValueError, match="do not occur in the training split"):
        TaggingVocabs.build(_sentences(), column="xpos").encode_tags(["DT", "UH"])
    loaded = TaggingVocabs.load(vocabs.save(tmp_path / "vocabs.json"))
    assert loaded.words.itos == vocabs.words.itos and loaded.chars.itos == vocabs.chars.itos
    assert (loaded.tags, loaded.lower, loaded.max_word_len) == (vocabs.tags, True, 6)
    with pytest.raises(FileNotFoundError, match=r"vocabs\.save"):
        TaggingVocabs.load(tmp_path / "nope.json")


def test_collate_pads_words_chars_and_tags():
    vocabs = TaggingVocabs.build(_sentences(), min_freq=1)
    dataset = TaggingDataset(_sentences(), vocabs)
    collate = TagCollate(vocabs.words.pad_index, vocabs.chars.pad_index)
    (words, chars), lengths, tags = collate([dataset[1], dataset[0]])
    assert lengths.tolist() == [3, 4] and lengths.dtype == torch.int64
    assert words.shape == (2, 4) and tags.shape == (2, 4) and chars.shape == (2, 4, 6)
    assert words[0, 3] == vocabs.words.pad_index and tags[0, 3] == PAD_TAG
    assert chars[0, 3].eq(vocabs.chars.pad_index).all()
    assert torch.equal(words[1], dataset[0][0]) and torch.equal(tags[0, :3], dataset[1][2])


def test_dataset_rejects_empty_sentences():
    vocabs = TaggingVocabs.build(_sentences(), min_freq=1)
    with pytest.raises(ValueError, match="no words"):
        TaggingDataset([TaggedSentence((), (), ())], vocabs)


def test_tagging_dataloaders_build_vocab_from_train_only(tmp_path):
    _write_treebank(tmp_path / "tb")
    data = load_ud_pos(tmp_path / "tb", max_sentences=None)
    data.dev = [TaggedSentence(("Zebras", "go"), ("PRON", "VERB"), ("NNS", "VBP"))]
    loaders = tagging_dataloaders(data, batch_size=2, min_freq=1)
    assert "zebras" not in loaders.vocabs.words
    (words, chars), lengths, _ = next(iter(loaders.dev))
    assert words[0, 0] == loaders.vocabs.words.unk_index and chars.shape[:2] == (1, 2)
    assert lengths.tolist() == [2]
    assert sum(len(batch[1]) for batch in loaders.train) == 2
