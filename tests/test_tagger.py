"""The BiLSTM tagger, masked per-token losses and the tagging metrics, on small synthetic data."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from course_utils.datasets.ud import TaggedSentence
from course_utils.datasets.ud_batches import TagCollate, TaggingDataset, TaggingVocabs
from course_utils.inference.tagging import predict_tags, tag_sentence, tagging_report
from course_utils.models import model_class
from course_utils.models.lengths import run_masked
from course_utils.models.tagger import BiLSTMTagger, CharCNN
from course_utils.show.plots import plot_confusion_matrix, plot_learning_curves
from course_utils.training.loop import evaluate, fit
from course_utils.training.tasks import TokenClassification

WORDS, CHARS, TAGS = 30, 12, 5
WORD_PAD, CHAR_PAD = 1, 1


def make_tagger(chars: bool = True, lengths: str = "masked", seed: int = 0) -> BiLSTMTagger:
    torch.manual_seed(seed)
    model = BiLSTMTagger(
        WORDS,
        8,
        6,
        TAGS,
        num_layers=2,
        dropout=0.2,
        padding_idx=WORD_PAD,
        num_chars=CHARS if chars else None,
        char_dim=4,
        char_filters=5,
        char_padding_idx=CHAR_PAD,
        lengths=lengths,
    )
    return model.eval()


def random_sentence(length: int, width: int, generator: torch.Generator):
    words = torch.randint(2, WORDS, (length,), generator=generator)
    chars = torch.randint(2, CHARS, (length, width), generator=generator)
    word_lengths = torch.randint(1, width + 1, (length,), generator=generator)
    for i, n in enumerate(word_lengths.tolist()):
        chars[i, n:] = CHAR_PAD
    tags = torch.randint(0, TAGS, (length,), generator=generator)
    return words, chars, tags


def padded_batch(lengths, seed=0, width=4, tag_pad=0):
    """A batch of random sentences padded with TagCollate (tag padding set to a *valid* tag)."""
    generator = torch.Generator().manual_seed(seed)
    items = [random_sentence(n, width, generator) for n in lengths]
    return items, TagCollate(WORD_PAD, CHAR_PAD, tag_pad=tag_pad)(items)


@pytest.mark.parametrize("chars", [True, False])
def test_tagger_output_is_per_token_and_padding_invariant(one_thread, chars):
    model = make_tagger(chars)
    items, ((words, char_ids), lengths, _) = padded_batch([3, 7, 5], width=4)
    inputs = (words, char_ids) if chars else words
    batch_scores = model(inputs, lengths)
    assert batch_scores.shape == (3, 7, TAGS)
    for row, (w, c, _) in enumerate(items):
        alone_inputs = (w[None], c[None]) if chars else w[None]
        alone = model(alone_inputs, torch.tensor([len(w)]))
        torch.testing.assert_close(batch_scores[row, : len(w)], alone[0], atol=1e-5, rtol=0)
    # The same sentence in a wider character tensor (a batch with longer words): same scores.
    w, c, _ = items[0]
    wider = torch.cat([c, torch.full((len(w), 3), CHAR_PAD)], dim=1)
    if chars:
        torch.testing.assert_close(
            model((w[None], wider[None]), torch.tensor([len(w)])),
            model((w[None], c[None]), torch.tensor([len(w)])),
            atol=1e-5,
            rtol=0,
        )


def test_both_lstm_directions_ignore_padding(one_thread):
    """Forward *and* backward halves of every sentence's states equal its unpadded run."""
    model = make_tagger()
    rnn = model.rnn
    torch.manual_seed(1)
    x = torch.randn(3, 6, rnn.input_size)
    lengths = torch.tensor([6, 2, 4])
    x[1, 2:] = 100.0  # padding full of large values must not leak into either direction
    x[2, 4:] = -50.0
    padded = run_masked(rnn, x, lengths)
    hidden = rnn.hidden_size
    for row, n in enumerate(lengths.tolist()):
        alone, _ = rnn(x[row : row + 1, :n])
        torch.testing.assert_close(
            padded[row, :n, :hidden], alone[0, :, :hidden], atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            padded[row, :n, hidden:], alone[0, :, hidden:], atol=1e-5, rtol=0
        )


def test_masked_and_packed_paths_agree(one_thread):
    masked, packed = make_tagger(lengths="masked"), make_tagger(lengths="packed")
    packed.load_state_dict(masked.state_dict())
    _, (inputs, lengths, _) = padded_batch([5, 2, 4], seed=3)
    scores_m, scores_p = masked(inputs, lengths), packed(inputs, lengths)
    for row, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(scores_m[row, :n], scores_p[row, :n], atol=1e-5, rtol=0)


def test_padding_never_counts_in_loss_or_accuracy(one_thread):
    """A padded batch has exactly the token-weighted loss and accuracy of its sentences."""
    model = make_tagger()
    loss_fn = nn.CrossEntropyLoss()  # no ignore_index: only the task's mask can keep pads out
    task = TokenClassification()
    items, batch = padded_batch([2, 6, 3], seed=5, tag_pad=0)  # pad tag 0 is a real tag id
    result = task.step(model, batch, loss_fn, torch.device("cpu"), training=False)
    losses, correct, count = [], 0, 0
    for w, c, t in items:
        alone = TagCollate(WORD_PAD, CHAR_PAD)([(w, c, t)])
        r = task.step(model, alone, loss_fn, torch.device("cpu"), training=False)
        losses.append(r.loss * r.count)
        correct += int(r.correct)
        count += r.count
    assert result.count == count == 11
    torch.testing.assert_close(result.loss, torch.stack(losses).sum() / count, atol=1e-6, rtol=0)
    assert int(result.correct) == correct
    # evaluate() over the padded batch agrees too.
    metrics = evaluate(model, [batch], loss_fn, task=task)
    assert metrics["n"] == 11 and metrics["acc"] == pytest.approx(correct / count)


def test_char_cnn_gives_zero_features_to_padded_words_and_checks_shape():
    cnn = CharCNN(CHARS, char_dim=3, filters=4, padding_idx=CHAR_PAD)
    chars = torch.tensor([[[2, 3, CHAR_PAD], [CHAR_PAD] * 3]])
    features = cnn(chars)
    assert features.shape == (1, 2, 4)
    assert features[0, 1].eq(0).all() and not features[0, 0].eq(0).all()
    with pytest.raises(ValueError, match="batch, time, characters"):
        cnn(chars[0])
    with pytest.raises(ValueError, match="odd"):
        CharCNN(CHARS, kernel_size=4)


def test_tagger_input_errors_and_rebuild_from_config():
    model = make_tagger()
    words = torch.randint(2, WORDS, (1, 4))
    with pytest.raises(ValueError, match="character CNN"):
        model(words)
    with pytest.raises(ValueError, match="do not match"):
        model((words, torch.ones(1, 3, 2, dtype=torch.long)))
    with pytest.raises(ValueError, match="length mode"):
        BiLSTMTagger(WORDS, 4, 4, TAGS, lengths="none")
    rebuilt = model_class("BiLSTMTagger")(**json.loads(json.dumps(model.config)))
    rebuilt.load_state_dict(model.state_dict())
    assert not make_tagger(chars=False).uses_chars and rebuilt.uses_chars


class _WordIdTagger(nn.Module):
    """Predicts tag ``word_id % num_tags``: a model whose every prediction we can work out."""

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.weight = nn.Parameter(torch.zeros(()))

    def forward(self, inputs, lengths):
        words = inputs[0]
        return nn.functional.one_hot(words % self.num_tags, self.num_tags).float() + self.weight


def _toy_data():
    sentences = [
        TaggedSentence(("a", "b", "a"), ("X", "Y", "X"), ("",) * 3),
        TaggedSentence(("b", "c"), ("Y", "X"), ("",) * 2),
    ]
    vocabs = TaggingVocabs.build(sentences, min_freq=2)  # "c" is seen once: OOV
    dataset = TaggingDataset(sentences, vocabs)
    collate = TagCollate(vocabs.words.pad_index, vocabs.chars.pad_index)
    return vocabs, [collate([dataset[0], dataset[1]])]


def test_tagging_report_counts_real_tokens_only():
    vocabs, loader = _toy_data()
    # words: <unk>=0, <pad>=1, then "a", "b" by frequency/alphabet -> ids 2 and 3.
    assert vocabs.words.itos == ["<unk>", "<pad>", "a", "b"] and vocabs.tags == ["X", "Y"]
    model = _WordIdTagger(len(vocabs.tags))
    preds = predict_tags(model, loader, vocabs.words.unk_index)
    # a->2%2=X (right), b->3%2=Y (right), c-><unk>=0 -> X (right, gold X).
    assert preds.gold.tolist() == [0, 1, 0, 1, 0] and len(preds) == 5
    assert preds.oov.tolist() == [False, False, False, False, True]
    report = tagging_report(model, loader, vocabs)
    assert report.accuracy == 1.0 and report.oov_accuracy == 1.0 and report.n_oov == 1
    assert int(report.confusion.sum()) == 5 and report.confusion.tolist() == [[3, 0], [0, 2]]
    assert [row["tag"] for row in report.per_tag()] == ["X", "Y"]
    assert report.per_tag()[0]["support"] == 3 and report.f1.tolist() == [1.0, 1.0]


def test_tagging_report_per_tag_scores_on_mistakes():
    vocabs, loader = _toy_data()

    class AlwaysX(_WordIdTagger):
        def forward(self, inputs, lengths):
            scores = torch.zeros(*inputs[0].shape, self.num_tags)
            scores[..., 0] = 1.0
            return scores + self.weight

    report = tagging_report(AlwaysX(2), loader, vocabs)
    assert report.accuracy == pytest.approx(3 / 5)
    assert report.recall.tolist() == pytest.approx([1.0, 0.0])
    assert report.precision.tolist() == pytest.approx([3 / 5, 0.0])
    assert report.confusion.tolist() == [[3, 0], [2, 0]]
    fig = plot_confusion_matrix(report.confusion, report.tags, title="always X")
    assert fig.axes[0].get_title() == "always X"
    with pytest.raises(ValueError, match="2 classes but 3 labels"):
        plot_confusion_matrix(report.confusion, ["X", "Y", "Z"])
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(torch.zeros(2, 3), ["X", "Y"])


def test_tag_sentence_aligns_words_and_rejects_empty_text(capsys):
    vocabs, _ = _toy_data()
    model = BiLSTMTagger(
        len(vocabs.words),
        4,
        4,
        len(vocabs.tags),
        padding_idx=vocabs.words.pad_index,
        num_chars=len(vocabs.chars),
        char_padding_idx=vocabs.chars.pad_index,
    )
    pairs = tag_sentence(model, vocabs, ["a", "zebra", "b"])
    assert [w for w, _ in pairs] == ["a", "zebra", "b"]
    assert all(tag in vocabs.tags for _, tag in pairs)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1].startswith("zebra") and lines[1].endswith("(OOV)")
    assert lines[0].index(pairs[0][1]) == lines[1].index(pairs[1][1])  # tags in one column
    with pytest.raises(ValueError, match="no words"):
        tag_sentence(model, vocabs, "   ", tokenizer=str.split)


def test_fit_trains_a_tagger_on_a_per_token_task(one_thread):
    """The one ``fit`` with TokenClassification learns a rule that needs the next word."""
    generator = torch.Generator().manual_seed(0)
    items = []
    for _ in range(64):
        words, chars, _ = random_sentence(
            int(torch.randint(3, 8, (1,), generator=generator)), 3, generator
        )
        nxt = torch.cat([words[1:], torch.tensor([0])])
        items.append((words, chars, (nxt % 2).long()))  # the tag is the parity of the NEXT word
    collate = TagCollate(WORD_PAD, CHAR_PAD)
    batches = [collate(items[i : i + 8]) for i in range(0, 64, 8)]
    torch.manual_seed(0)
    model = BiLSTMTagger(
        WORDS,
        16,
        16,
        2,
        num_layers=1,
        dropout=0.0,
        padding_idx=WORD_PAD,
        num_chars=CHARS,
        char_padding_idx=CHAR_PAD,
    )
    history = fit(
        model,
        batches,
        batches,
        torch.optim.Adam(model.parameters(), lr=1e-2),
        nn.CrossEntropyLoss(),
        epochs=15,
        task=TokenClassification(),
        progress=False,
        device="cpu",
    )
    assert history.unit == "token" and history.best_valid_acc > 0.9
    assert plot_learning_curves(history).axes[0].get_ylabel() == "loss per token"


def _toy_tagger(vocabs: TaggingVocabs, words: int | None = None) -> BiLSTMTagger:
    return BiLSTMTagger(
        words or len(vocabs.words),
        4,
        4,
        len(vocabs.tags),
        padding_idx=vocabs.words.pad_index,
        num_chars=len(vocabs.chars),
        char_padding_idx=vocabs.chars.pad_index,
    )


def test_tag_sentence_names_bad_sentences():
    vocabs, _ = _toy_data()
    model = _toy_tagger(vocabs)
    for bad in (None, 5, 3.5):
        with pytest.raises(TypeError, match=rf"a str or a list of words, got {type(bad).__name__}"):
            tag_sentence(model, vocabs, bad)
    with pytest.raises(TypeError, match="not their ids"):
        tag_sentence(model, vocabs, vocabs.encode_words(["a", "b"]).tolist())
    with pytest.raises(ValueError, match="Word 1 of the sentence is empty"):
        tag_sentence(model, vocabs, ["a", "", "b"])  # e.g. "a  b".split(" ")
    pairs = tag_sentence(model, vocabs, ("a", "b"), show=False)  # a tuple of words is fine
    assert [w for w, _ in pairs] == ["a", "b"]


def test_tag_sentence_and_predict_tags_check_the_model_and_vocabularies():
    from course_utils.models.classifier import RecurrentClassifier

    vocabs, loader = _toy_data()
    with pytest.raises(TypeError, match="needs the TaggingVocabs"):
        tag_sentence(_toy_tagger(vocabs), vocabs.words, ["a"])
    with pytest.raises(ValueError, match=r"word vocabulary has 4 entries but the model was built"):
        tag_sentence(_toy_tagger(vocabs, words=9), vocabs, ["a"])
    fewer_tags = TaggingVocabs(vocabs.words, vocabs.chars, ["X"])
    with pytest.raises(ValueError, match="tag list has 1 entry but the model was built for 2"):
        tag_sentence(_toy_tagger(vocabs), fewer_tags, ["a"])  # was an IndexError on a tag id
    classifier = RecurrentClassifier(len(vocabs.words), 4, 4, 1)
    with pytest.raises(TypeError, match=r"needs a tagger.*RecurrentClassifier"):
        tag_sentence(classifier, vocabs, ["a"])
    with pytest.raises(TypeError, match=r"predict_tags needs a tagger"):
        predict_tags(classifier, loader, vocabs.words.unk_index)
