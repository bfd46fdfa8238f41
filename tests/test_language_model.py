"""Character / word corpora, stream and chunk batches, the language model and sampling."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import torch

from course_utils.datasets.shakespeare import (
    ChunkBatches,
    StreamBatches,
    TextCorpus,
    char_vocab,
    load_tiny_shakespeare,
    load_tiny_shakespeare_words,
    split_tail,
)
from course_utils.inference.generation import filter_logits, generate, lm_scores, sample_next
from course_utils.models import model_class
from course_utils.models.classic import TextGenerator
from course_utils.models.language_model import CharLanguageModel
from course_utils.text.vocab import Vocab
from course_utils.training.loop import evaluate
from course_utils.training.tasks import LanguageModelling

TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler in the mind to suffer\n"


def char_corpus() -> TextCorpus:
    train, valid = split_tail(TEXT, 0.2)
    return TextCorpus(train, valid, char_vocab(TEXT))


# --------------------------------------------------------------------------- corpora


def test_char_corpus_round_trips_and_names_unknown_characters():
    corpus = char_corpus()
    ids = corpus.encode("to be")
    assert corpus.decode(ids) == "to be"
    assert corpus.train_text + corpus.valid_text == TEXT
    with pytest.raises(ValueError, match=r"'é'.*'ç'|'ç'.*'é'"):
        corpus.encode("façade é")
    unk = corpus.encode("é", unknown="unk")
    assert unk.tolist() == [corpus.vocab.unk_index]
    with pytest.raises(ValueError, match="empty"):
        char_vocab("")


def test_split_tail_holds_out_the_end():
    head, tail = split_tail("abcdefghij", 0.1)
    assert "".join(head) == "abcdefghi" and "".join(tail) == "j"
    with pytest.raises(ValueError, match="valid_fraction"):
        split_tail("abc", 1.0)


def test_tiny_shakespeare_from_the_mirror():
    corpus = load_tiny_shakespeare(max_chars=None)
    assert len(corpus.train_tokens) + len(corpus.valid_tokens) == 1_115_394
    assert len(corpus.vocab) == 65 + 2
    assert corpus.train_text.startswith("First Citizen:")
    assert len(corpus.valid_tokens) == 1_115_394 - int(1_115_394 * 0.9)


def test_word_corpus_uses_train_vocabulary_and_keeps_line_breaks():
    corpus = load_tiny_shakespeare_words(max_chars=20_000, min_freq=2)
    counts = Counter(corpus.train_tokens)
    assert all(counts[w] >= 2 for w in corpus.vocab.itos[2:])
    assert corpus.tokens("First Citizen:\nSpeak.") == ["first", "citizen", ":", "\n", "speak", "."]
    assert corpus.join(["first", "citizen", ":", "\n", "speak", "."]) == "first citizen :\nspeak ."
    assert corpus.encode("zzqx unheardof", unknown="unk").tolist() == [corpus.vocab.unk_index] * 2


# --------------------------------------------------------------------------- batches


def test_stream_batches_continue_each_row_and_shift_targets():
    ids = torch.arange(103)
    batches = StreamBatches(ids, batch_size=4, seq_len=6)
    got = list(batches)
    assert len(got) == len(batches) == 4  # 25 per stream → 24 predictions → 4 × 6
    for x, y in got:
        assert torch.equal(y, x + 1)  # ids are consecutive, so the target is the next id
    for (x1, _), (x2, _) in itertools.pairwise(got):
        assert torch.equal(x2[:, 0], x1[:, -1] + 1)  # row b continues row b
    assert batches.tokens_per_epoch == sum(x.numel() for x, _ in got)
    with pytest.raises(ValueError, match="too short"):
        StreamBatches(torch.arange(10), batch_size=4, seq_len=6)


def test_chunk_batches_are_independent_windows_reshuffled_each_epoch():
    ids = torch.arange(1000)
    batches = ChunkBatches(ids, batch_size=8, seq_len=10, seed=3)
    first = [x.clone() for x, _ in batches]
    starts = torch.cat([x[:, 0] for x in first])
    assert sorted(starts.tolist()) == list(range(0, 990, 10))
    batches.set_epoch(1)
    second = [x for x, _ in batches]
    assert not torch.equal(torch.cat(first)[:, 0], torch.cat(second)[:, 0])
    for x, y in batches:
        assert torch.equal(y, x + 1)


def test_chunk_windows_can_move_to_a_new_cut_each_epoch():
    ids = torch.arange(1000)
    batches = ChunkBatches(ids, batch_size=8, seq_len=10, seed=3, random_offset=True)
    first = torch.cat([x[:, 0] for x, _ in batches])
    assert (first % 10 == 0).all()  # the first epoch is the plain cut
    offsets = set()
    for epoch in range(1, 6):
        batches.set_epoch(epoch)
        starts = torch.cat([x[:, 0] for x, _ in batches])
        offsets |= set((starts % 10).tolist())
        assert len(set((starts % 10).tolist())) == 1  # one shift for the whole epoch
        for x, y in batches:
            assert torch.equal(y, x + 1) and x.shape[1] == 10
    assert len(offsets) > 1


# --------------------------------------------------------------------------- model


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_carried_hidden_state_equals_one_pass_over_the_concatenation(cell, one_thread):
    torch.manual_seed(0)
    model = CharLanguageModel(11, 6, 9, num_layers=2, dropout=0.3, cell=cell).eval()
    tokens = torch.randint(0, 11, (3, 20))
    whole, _ = model(tokens)
    first, hidden = model(tokens[:, :7])
    second, hidden = model(tokens[:, 7:13], hidden)
    third, _ = model(tokens[:, 13:], hidden)
    assert torch.allclose(torch.cat([first, second, third], dim=1), whole, atol=1e-5)


def test_stateful_stream_evaluation_equals_running_each_stream_whole(one_thread):
    """Truncated BPTT sees the same context at evaluation as one long pass."""
    torch.manual_seed(0)
    model = CharLanguageModel(11, 6, 9, num_layers=1, cell="lstm").eval()
    ids = torch.randint(0, 11, (4 * 31,))
    batches = StreamBatches(ids, batch_size=4, seq_len=5)
    loss_fn = torch.nn.CrossEntropyLoss()
    stateful = evaluate(model, batches, loss_fn, task=LanguageModelling(stateful=True))
    streams = batches.streams
    logits, _ = model(streams[:, :-1])
    whole = loss_fn(logits.reshape(-1, 11), streams[:, 1:].reshape(-1)).item()
    assert stateful["loss"] == pytest.approx(whole, abs=1e-5)
    fresh = evaluate(model, batches, loss_fn, task=LanguageModelling(stateful=False))
    assert fresh["loss"] != pytest.approx(whole, abs=1e-5)


def test_language_model_validates_its_arguments_and_is_registered():
    with pytest.raises(ValueError, match="cell"):
        CharLanguageModel(5, 4, 4, cell="transformer")
    with pytest.raises(ValueError, match=r"\[batch, time\]"):
        CharLanguageModel(5, 4, 4)(torch.zeros(3, dtype=torch.long))
    assert model_class("CharLanguageModel") is CharLanguageModel
    model = CharLanguageModel(5, 4, 6, cell="lstm")
    forget = model.rnn.bias_hh_l0[6:12]
    assert torch.all(forget == 1.0)


# --------------------------------------------------------------------------- sampling


def test_temperature_towards_zero_is_greedy():
    torch.manual_seed(1)
    logits = torch.randn(50, 30)
    greedy = logits.argmax(-1)
    assert torch.equal(sample_next(logits, temperature=0), greedy)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(sample_next(logits, temperature=1e-4, generator=generator), greedy)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, temperature=-1)


def test_top_k_never_samples_outside_the_k_most_likely():
    torch.manual_seed(2)
    logits = torch.randn(4, 40)
    allowed = torch.topk(logits, 3, dim=-1).indices
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        tokens = sample_next(logits, temperature=2.0, top_k=3, generator=generator)
        assert (allowed == tokens.unsqueeze(1)).any(dim=1).all()


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, top_p=0.8))  # 0.5 + 0.3 reaches 0.8
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, top_p=0.81))
    assert kept.tolist() == [[True, True, True, False]]
    kept = torch.isfinite(filter_logits(logits, top_p=0.01))
    assert kept.tolist() == [[True, False, False, False]]


def test_sampling_follows_the_distribution():
    probs = torch.tensor([0.6, 0.3, 0.1])
    generator = torch.Generator().manual_seed(0)
    draws = sample_next(probs.log().expand(20_000, 3), generator=generator)
    freq = torch.bincount(draws, minlength=3).float() / 20_000
    assert torch.allclose(freq, probs, atol=0.02)


def test_seeded_generation_is_reproducible_and_never_emits_specials(one_thread):
    torch.manual_seed(0)
    corpus = char_corpus()
    model = CharLanguageModel(len(corpus.vocab), 8, 16, num_layers=1)
    with torch.no_grad():  # make the specials the most likely tokens: they must still not appear
        model.fc.bias[corpus.vocab.pad_index] = 10.0
        model.fc.bias[corpus.vocab.unk_index] = 10.0
    a = generate(model, corpus, "To be", 60, temperature=1.0, seed=7)
    b = generate(model, corpus, "To be", 60, temperature=1.0, seed=7)
    c = generate(model, corpus, "To be", 60, temperature=1.0, seed=8)
    assert a == b and a != c
    assert a.startswith("To be") and len(a) == len("To be") + 60
    assert "<pad>" not in a and "<unk>" not in a
    assert model.training  # generate puts the model back in the mode it found it in
    greedy = generate(model, corpus, "To be", 30, temperature=0, include_prompt=False)
    assert greedy == generate(model, corpus, "To be", 30, temperature=0, include_prompt=False)
    with pytest.raises(ValueError, match="empty"):
        generate(model, corpus, "", 10)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        generate(model, corpus, "Zürich", 10)


def test_seed_text_generator_generates_words(one_thread):
    corpus = TextCorpus(
        ["a", "b", "a", "\n", "b"], ["a"], Vocab.build([["a", "b", "\n"]]), level="word"
    )
    model = TextGenerator(len(corpus.vocab), 4, 8)
    text = generate(model, corpus, "a b", 5, seed=0, unknown="unk")
    assert text.startswith("a b")
    assert len(corpus.tokens(text)) == 7


def test_lm_scores_are_consistent():
    scores = lm_scores(1.5)
    assert scores["bits"] == pytest.approx(1.5 / 0.6931471805599453)
    assert scores["perplexity"] == pytest.approx(4.4816890703380645)


def test_samples_html_puts_each_sample_in_its_own_escaped_column():
    from course_utils.inference.generation import samples_html

    table = samples_html({"τ = 0.5": "ROMEO:\n<b>", "greedy": "JULIET:"})
    assert table.count("<th") == 2 and table.count("<td") == 2
    assert "&lt;b&gt;" in table and "<b>" not in table


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"temperature": float("inf")}, ValueError, "positive and finite, got inf"),
        ({"temperature": float("nan")}, ValueError, "positive and finite, got nan"),
        ({"temperature": "0.8"}, TypeError, "temperature must be a number"),
        ({"top_k": 2.5}, TypeError, "top_k must be a whole number"),
        ({"top_p": 0.0}, ValueError, r"top_p must be in \(0, 1\]"),
        ({"top_p": 1.01}, ValueError, r"top_p must be in \(0, 1\]"),
        ({"top_p": "0.9"}, TypeError, "top_p must be a number"),
    ],
)
def test_sampling_settings_are_checked_everywhere(settings, error, message):
    from course_utils.inference.generation import check_sampling

    corpus = char_corpus()
    model = CharLanguageModel(len(corpus.vocab), 4, 8, num_layers=1)
    for call in (
        lambda: check_sampling(**settings),
        lambda: sample_next(torch.randn(2, 5), **settings),
        lambda: generate(model, corpus, "to", 3, **settings),
    ):
        with pytest.raises(error, match=message):
            call()
    if "temperature" not in settings:
        with pytest.raises(error, match=message):
            filter_logits(torch.randn(5), **settings)


def test_generate_checks_its_inputs_before_running_the_model():
    from course_utils.models.classifier import RecurrentClassifier

    corpus = char_corpus()
    model = CharLanguageModel(len(corpus.vocab), 4, 8, num_layers=1)
    with pytest.raises(TypeError, match="The prompt must be a str"):  # was "The prompt is empty"
        generate(model, corpus, None, 5)
    with pytest.raises(TypeError, match="a whole number"):
        generate(model, corpus, "to", 2.5)
    with pytest.raises(ValueError, match="unknown must be 'error'"):
        generate(model, corpus, "to", 5, unknown="ignore")
    with pytest.raises(TypeError, match="needs the TextCorpus"):
        generate(model, corpus.vocab, "to", 5)
    other = CharLanguageModel(len(corpus.vocab) + 3, 4, 8, num_layers=1)  # another corpus's model
    with pytest.raises(ValueError, match=rf"has {len(corpus.vocab)} entries but the model was"):
        generate(other, corpus, "to", 5)
    classifier = RecurrentClassifier(len(corpus.vocab), 4, 4, 1)
    with pytest.raises(TypeError, match=r"needs a language model.*Use predict_sentiment"):
        generate(classifier, corpus, "to", 5)
    assert len(generate(model, corpus, "to", 0)) == 2  # length 0 still allowed
