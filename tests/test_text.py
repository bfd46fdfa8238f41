"""Tokenizer, vocabulary, tokenised-corpus cache and numericalisation."""

import numpy as np
import pytest

from course_utils.text.tokenizer import TokenizedCorpus, Tokenizer, tokenize_corpus
from course_utils.text.vocab import PAD, UNK, Vocab, numericalize


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer()


def test_tokenizer_removes_html_and_lowercases(tokenizer):
    text = "A <b>GREAT</b> film.<br /><br />Loved it &amp; cried."
    assert tokenizer(text) == ["a", "great", "film", ".", "loved", "it", "&", "cried", "."]


def test_tokenizer_keeps_case_when_asked():
    assert Tokenizer(lower=False)("Hello World!") == ["Hello", "World", "!"]


def test_tokenizer_keeps_less_than_that_is_not_a_tag(tokenizer):
    assert "<3" in tokenizer("I <3 this movie")


def test_tokenizer_matches_spacy_on_whole_documents(tokenizer):
    import spacy

    nlp = spacy.blank("en")
    text = "Don't miss it: the U.S. release (2009) wasn't cut -- it's 120-min. long, isn't it?"
    expected = [t.text for t in nlp(text.lower()) if not t.is_space]
    assert tokenizer(text) == expected


def test_tokenizer_empty_and_bad_input(tokenizer):
    assert tokenizer("   \n ") == []
    with pytest.raises(TypeError, match="expects a str"):
        tokenizer(None)


def test_vocab_built_from_training_only_maps_test_only_tokens_to_unk(tokenizer):
    train = [tokenizer("good movie"), tokenizer("bad movie")]
    vocab = Vocab.build(train)
    assert vocab.itos[:2] == [UNK, PAD]
    assert vocab["movie"] == 2  # most frequent first
    assert vocab["zyzzyva"] == vocab.unk_index
    assert vocab.encode(tokenizer("good zyzzyva")) == [vocab["good"], vocab.unk_index]


def test_vocab_max_size_and_min_freq_exclude_specials():
    tokens = [["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"]]
    vocab = Vocab.build(tokens, max_size=2)
    assert vocab.itos == [UNK, PAD, "a", "b"]
    vocab = Vocab.build(tokens, max_size=None, min_freq=2)
    assert vocab.itos == [UNK, PAD, "a", "b", "c"]


def test_vocab_ties_are_deterministic():
    assert Vocab.build([["z", "y", "x"]]).itos[2:] == ["x", "y", "z"]


def test_vocab_errors():
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build([["a"]], min_freq=5)
    with pytest.raises(ValueError, match="min_freq must be at least 1"):
        Vocab.build([["a"]], min_freq=0)
    with pytest.raises(ValueError, match="twice"):
        Vocab([UNK, PAD, "a", "a"])
    with pytest.raises(ValueError, match="special"):
        Vocab(["a", "b"])
    vocab = Vocab.build([["a"]])
    with pytest.raises(IndexError, match="outside the vocabulary"):
        vocab.lookup_token(99)


def test_vocab_save_load_round_trip(tmp_path):
    vocab = Vocab.build([["ünïcode", "x", "x", "y"]])
    path = vocab.save(tmp_path / "v" / "vocab.json")
    loaded = Vocab.load(path)
    assert loaded.itos == vocab.itos
    assert loaded.fingerprint == vocab.fingerprint
    assert loaded.pad_index == vocab.pad_index and loaded.unk_index == vocab.unk_index
    assert loaded.lookup_tokens([2, 3]) == vocab.lookup_tokens([2, 3])


def test_vocab_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"vocab\.save"):
        Vocab.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a vocabulary"):
        Vocab.load(bad)


def test_corpus_round_trip_and_counts(tmp_path):
    lists = [["a", "b", "a"], ["c"], ["b"]]
    corpus = TokenizedCorpus.from_token_lists(lists)
    assert [corpus.tokens(i) for i in range(3)] == lists
    assert corpus.lengths.tolist() == [3, 1, 1]
    assert corpus.counts() == {"a": 2, "b": 2, "c": 1}
    corpus.save(tmp_path / "c.npz")
    loaded = TokenizedCorpus.load(tmp_path / "c.npz")
    assert [loaded.tokens(i) for i in range(3)] == lists


def test_numericalize_equals_encode(tokenizer):
    texts = ["A fine film.", "An awful, awful film!", "Unseen words here"]
    corpus = TokenizedCorpus.from_token_lists(tokenizer(t) for t in texts)
    vocab = Vocab.build(corpus, max_size=3)
    ids, offsets = numericalize(corpus, vocab)
    assert ids.dtype == np.int64
    for i, text in enumerate(texts):
        assert ids[offsets[i] : offsets[i + 1]].tolist() == vocab.encode(tokenizer(text))


def test_tokenize_corpus_uses_cache_keyed_by_settings_and_texts(tmp_path, monkeypatch):
    texts = ["One review.", "Another <br />review!"]
    lower = Tokenizer(lower=True)
    first = tokenize_corpus(texts, lower, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.rglob("*.npz"))) == 1

    calls = []
    monkeypatch.setattr(Tokenizer, "__call__", lambda self, t: calls.append(t) or [])
    again = tokenize_corpus(texts, lower, cache_dir=tmp_path, progress=False)
    assert calls == []  # served from the cache
    assert [again.tokens(i) for i in range(2)] == [first.tokens(i) for i in range(2)]

    tokenize_corpus(texts, Tokenizer(lower=False), cache_dir=tmp_path, progress=False)
    tokenize_corpus(texts + ["new"], lower, cache_dir=tmp_path, progress=False)
    assert len(calls) == 5  # other settings and other texts are tokenised again
    assert len(list(tmp_path.rglob("*.npz"))) == 3


def test_corrupt_cache_is_rebuilt(tmp_path):
    texts = ["Some text."]
    tok = Tokenizer()
    tokenize_corpus(texts, tok, cache_dir=tmp_path, progress=False)
    (cached,) = tmp_path.rglob("*.npz")
    cached.write_bytes(b"garbage")
    corpus = tokenize_corpus(texts, tok, cache_dir=tmp_path, progress=False)
    assert corpus.tokens(0) == ["some", "text", "."]
    assert TokenizedCorpus.load(cached).tokens(0) == ["some", "text", "."]
