"""Word vectors, widgets, diagrams and the throughput helpers used by lessons and bench/."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils.models.classifier import RecurrentClassifier
from course_utils.show import diagrams
from course_utils.show.throughput import make_batches, padded_positions, training_throughput
from course_utils.text.tokenizer import TokenizedCorpus
from course_utils.text.vocab import Vocab

pytestmark = pytest.mark.usefixtures("one_thread")


def test_word2vec_is_trained_once_then_served_from_cache(tmp_path, monkeypatch):
    from gensim.models import Word2Vec

    from course_utils.text import word_vectors

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    words = ["good", "great", "bad", "awful", "film", "plot"]
    corpus = TokenizedCorpus.from_token_lists(list(rng.choice(words, 12)) for _ in range(200))
    first = word_vectors.train_word2vec([corpus], vector_size=8, epochs=2, progress=False)
    assert first.vector_size == 8 and "good" in first

    def no_training(*args, **kwargs):
        raise AssertionError("should have been served from the cache")

    monkeypatch.setattr(Word2Vec, "__init__", no_training)
    again = word_vectors.train_word2vec([corpus], vector_size=8, epochs=2, progress=False)
    assert np.array_equal(again["good"], first["good"])
    with pytest.raises(AssertionError, match="cache"):  # other parameters: trains again
        word_vectors.train_word2vec([corpus], vector_size=16, epochs=2, progress=False)


def test_word2vec_rejects_empty_corpora():
    from course_utils.text.word_vectors import train_word2vec

    with pytest.raises(ValueError, match="non-empty"):
        train_word2vec([TokenizedCorpus.from_token_lists([])])


def test_sentiment_box_updates_live():
    from course_utils.show.widgets import sentiment_box

    vocab = Vocab.build([["good", "bad", "film"]])
    model = RecurrentClassifier(len(vocab), 8, 8, 1, pooling="attention", padding_idx=1)
    box = sentiment_box(model, vocab, initial_text="good film")
    text, row, attention = box.children
    meter, verdict = row.children
    assert 0.0 < meter.value < 1.0 and "P(positive)" in verdict.value
    assert "good" in attention.value and "film" in attention.value
    text.value = "bad bad bad film"
    assert "bad" in attention.value
    text.value = "   "
    assert meter.value == 0.0 and "empty" in verdict.value.lower()


def test_sentiment_box_explains_unknown_words_and_vocabulary_mismatches():
    from course_utils.show.widgets import sentiment_box

    vocab = Vocab.build([["good", "bad", "film"]])
    model = RecurrentClassifier(len(vocab), 8, 8, 1, padding_idx=1)
    box = sentiment_box(model, vocab, initial_text="zxqv blorft")  # no traceback
    text, row, _ = box.children
    meter, verdict = row.children
    assert meter.value == 0.0 and "None of the words" in verdict.value
    text.value = "zxqv blorft good"  # answered, with the warning under the answer
    assert "P(positive)" in verdict.value and "2 of the 3 words" in verdict.value
    text.value = "good film"
    assert "P(positive)" in verdict.value and "&lt;unk&gt;" not in verdict.value
    other = Vocab.build([["nice", "dull", "plot"]])  # same size, other words
    box = sentiment_box(model, other, initial_text="nice", expected_fingerprint=vocab.fingerprint)
    assert "not the one the model was trained with" in box.children[1].children[1].value


def test_generation_box_generates_and_reports_unreadable_prompts():
    from course_utils.datasets.shakespeare import TextCorpus, char_vocab
    from course_utils.models.language_model import CharLanguageModel
    from course_utils.show.widgets import generation_box

    corpus = TextCorpus(list("to be or not"), list("to be"), char_vocab("to be or not"))
    model = CharLanguageModel(len(corpus.vocab), 4, 8, num_layers=1)
    box = generation_box(model, corpus, prompt="to ", length=20)
    prompt, _controls, options, output = box.children
    assert "to " in output.value and len(output.value) > 20
    first = output.value
    options.children[2].click()  # same seed, same settings: the same text
    assert output.value == first
    prompt.value = "xyz"
    options.children[2].click()
    assert "not in the vocabulary" in output.value


@pytest.mark.parametrize(
    "draw",
    [
        lambda: diagrams.plot_unrolled_rnn(3),
        lambda: diagrams.plot_packed_sequence([["a", "b"], ["c"]], [2, 1], ["a", "c", "b"]),
        diagrams.plot_lstm_cell,
        diagrams.plot_gru_cell,
        diagrams.plot_stream_batches,
    ],
)
def test_diagrams_return_detached_figures(draw):
    import matplotlib.pyplot as plt

    fig = draw()
    assert isinstance(fig, Figure) and fig.axes
    assert not plt.get_fignums()  # detached: shown once in Jupyter, never leaked


def test_make_batches_follow_lengths_and_bucketing_reduces_padding():
    lengths = np.random.default_rng(0).integers(5, 300, size=2000)
    bucketed = make_batches(lengths, batch_size=32, n_batches=10, max_len=200, seed=1)
    random_ = make_batches(
        lengths, batch_size=32, n_batches=10, max_len=200, bucketed=False, seed=1
    )
    for tokens, batch_lengths, labels in bucketed:
        assert tokens.shape == (32, int(batch_lengths.max())) and labels.shape == (32,)
        assert int(batch_lengths.max()) <= 200
        mask = torch.arange(tokens.size(1))[None] >= batch_lengths[:, None]
        assert (tokens[mask] == 1).all() and (tokens[~mask] != 1).all()
    assert padded_positions(bucketed) < 0.05 < padded_positions(random_)


def test_training_throughput_counts_examples_and_trains():
    batches = make_batches(np.full(64, 20), batch_size=16, n_batches=4, vocab_size=50)
    model = RecurrentClassifier(50, 8, 8, 1, padding_idx=1)
    before = model.fc.weight.detach().clone() if hasattr(model, "fc") else None
    speed = training_throughput(model, batches)
    assert speed > 0
    if before is not None:
        assert not torch.equal(before, model.fc.weight)
    with pytest.raises(ValueError, match="more than 1 batches"):
        training_throughput(model, batches[:1])
