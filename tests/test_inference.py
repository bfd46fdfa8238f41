"""predict_sentiment / predict_sentiments on the learner's own text."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from course_utils.inference import sentiment
from course_utils.inference.sentiment import (
    default_tokenizer,
    predict_sentiment,
    predict_sentiments,
)
from course_utils.models.classifier import RecurrentClassifier
from course_utils.text.vocab import Vocab

WORDS = ["the", "film", "was", "great", "terrible", "acting", "plot", "a", "good", "bad", "!"]
VOCAB = Vocab(["<unk>", "<pad>", *WORDS])


pytestmark = pytest.mark.usefixtures("one_thread")


def split(text: str) -> list[str]:
    return text.lower().split()


class TinyLSTM(nn.Module):
    """Packed LSTM, one logit; optional max_len like the course's RecurrentClassifier."""

    def __init__(self, vocab_size: int = len(VOCAB), max_len: int | None = None, outputs: int = 1):
        super().__init__()
        self.config = {"vocab_size": vocab_size, "max_len": max_len, "outputs": outputs}
        self.max_len = max_len
        torch.manual_seed(0)
        self.embedding = nn.Embedding(vocab_size, 6, padding_idx=VOCAB.pad_index)
        self.rnn = nn.LSTM(6, 8, batch_first=True)
        self.fc = nn.Linear(8, outputs)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.rnn(packed)
        return self.fc(hidden[-1])


class ConfigOnlyMaxLen(TinyLSTM):
    """Knows its maximum length only through its config (no attribute)."""

    def __init__(self, max_len: int):
        super().__init__(max_len=None)
        self.config["max_len"] = max_len
        del self.max_len


class Recorder(nn.Module):
    """Records its inputs; the logit is the mean token id (so texts differ)."""

    def __init__(self):
        super().__init__()
        self.config = {}
        self.scale = nn.Parameter(torch.tensor(0.1))
        self.calls: list[tuple[torch.Tensor, torch.Tensor, bool, bool]] = []

    def forward(self, tokens, lengths):
        self.calls.append((tokens.clone(), lengths.clone(), self.training, torch.is_grad_enabled()))
        mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
        mean = (tokens * mask).sum(1) / lengths
        return (self.scale * (mean - 6.0))[:, None]


def test_returns_a_probability_with_the_default_tokenizer():
    model = TinyLSTM()
    p = predict_sentiment(model, VOCAB, "The film was <br />great!")
    assert isinstance(p, float) and 0.0 <= p <= 1.0
    assert default_tokenizer() is default_tokenizer()  # spaCy set up once
    logit = model(
        torch.tensor([VOCAB.encode(["the", "film", "was", "great", "!"])]), torch.tensor([5])
    )
    assert p == pytest.approx(torch.sigmoid(logit).item(), abs=1e-6)


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_a_clear_error(text):
    with pytest.raises(ValueError, match=r"empty.*Write a sentence"):
        predict_sentiment(TinyLSTM(), VOCAB, text, tokenizer=split)


def test_text_without_tokens_is_a_clear_error():
    with pytest.raises(ValueError, match="no words left after tokenising"):
        predict_sentiment(TinyLSTM(), VOCAB, "<br /><br />")
    with pytest.raises(TypeError, match="predict_sentiments"):
        predict_sentiment(TinyLSTM(), VOCAB, ["a list", "of texts"])


@pytest.mark.parametrize(
    ("model", "max_len"),
    [(TinyLSTM(max_len=5), None), (ConfigOnlyMaxLen(5), None), (TinyLSTM(), 5)],
    ids=["attribute", "config", "argument"],
)
def test_long_text_is_truncated_with_a_warning(model, max_len):
    text = "the film was great the acting was bad bad bad"  # 10 tokens
    with pytest.warns(UserWarning, match=r"10 tokens but the model reads at most 5") as record:
        p_long = predict_sentiment(model, VOCAB, text, tokenizer=split, max_len=max_len)
    assert record[0].filename == __file__  # the warning points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p_short = predict_sentiment(
            model, VOCAB, "the film was great the", tokenizer=split, max_len=max_len
        )
    assert p_long == p_short
    assert p_long != predict_sentiment(
        TinyLSTM(), VOCAB, text, tokenizer=split
    )  # truncation mattered


def test_unknown_words_map_to_unk():
    model = TinyLSTM()
    p1 = predict_sentiment(model, VOCAB, "the xyzzy was great", tokenizer=split)
    p2 = predict_sentiment(model, VOCAB, "the plugh was great", tokenizer=split)
    p3 = predict_sentiment(model, VOCAB, "the <unk> was great", tokenizer=split)
    assert p1 == p2 == p3
    assert 0.0 <= p1 <= 1.0


def test_runs_in_eval_mode_without_grad_and_restores_the_mode():
    model = Recorder()
    for mode in (True, False):
        model.train(mode)
        predict_sentiment(model, VOCAB, "good film", tokenizer=split)
        assert model.training is mode
        _, _, was_training, grad_enabled = model.calls[-1]
        assert not was_training and not grad_enabled


def test_batched_predictions_pad_with_pad_index_and_keep_order():
    texts = ["good", "the film was great !", "bad acting", "a terrible plot the end"]
    recorder = Recorder()
    probs = predict_sentiments(recorder, VOCAB, texts, tokenizer=split, batch_size=3)
    assert len(probs) == 4
    singles = [predict_sentiment(recorder, VOCAB, t, tokenizer=split) for t in texts]
    assert probs == pytest.approx(singles, abs=1e-6)
    tokens, lengths, _, _ = recorder.calls[0]  # first batch: the 3 shortest texts
    assert sorted(lengths.tolist()) == [1, 2, 5]
    for row, length in enumerate(lengths.tolist()):
        assert (tokens[row, length:] == VOCAB.pad_index).all()
        assert (tokens[row, :length] != VOCAB.pad_index).all()

    lstm = TinyLSTM()  # packed: padding does not change a prediction
    batched = predict_sentiments(lstm, VOCAB, texts, tokenizer=split)
    assert batched == pytest.approx(
        [predict_sentiment(lstm, VOCAB, t, tokenizer=split) for t in texts], abs=1e-6
    )


def test_batched_errors_name_the_bad_text():
    with pytest.raises(ValueError, match="at index 1 is empty"):
        predict_sentiments(TinyLSTM(), VOCAB, ["good", " "], tokenizer=split)
    with pytest.raises(TypeError, match="list of texts"):
        predict_sentiments(TinyLSTM(), VOCAB, "one text", tokenizer=split)
    with pytest.warns(UserWarning, match="1 text\\(s\\) are longer"):
        predict_sentiments(TinyLSTM(max_len=2), VOCAB, ["good", "the good film"], tokenizer=split)


def test_two_class_models_work_and_multiclass_models_are_refused():
    two = TinyLSTM(outputs=2)
    p = predict_sentiment(two, VOCAB, "good film", tokenizer=split)
    tokens = torch.tensor([VOCAB.encode(["good", "film"])])
    expected = torch.softmax(two(tokens, torch.tensor([2])), dim=1)[0, 1].item()
    assert p == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="binary classifier"):
        predict_sentiment(TinyLSTM(outputs=3), VOCAB, "good film", tokenizer=split)


def test_real_course_classifier_uses_its_max_len():
    cls = RecurrentClassifier
    model = cls(len(VOCAB), 6, 6, 1, padding_idx=VOCAB.pad_index, max_len=3, bidirectional=True)
    with pytest.warns(UserWarning, match="at most 3"):
        p = predict_sentiment(model, VOCAB, "the film was great", tokenizer=split)
    assert p == predict_sentiment(model, VOCAB, "the film was", tokenizer=split)
    assert sentiment.model_max_len(model) == 3


# --------------------------------------------------------------------------- bad inputs


def test_text_of_unknown_words_is_an_error_and_mostly_unknown_a_warning():
    model = TinyLSTM()
    with pytest.raises(ValueError, match=r"None of the words of the text \('zxqv', 'blorft'\)"):
        predict_sentiment(model, VOCAB, "zxqv blorft", tokenizer=split)
    with pytest.raises(ValueError, match="None of the words"):  # punctuation is not a word
        predict_sentiment(model, VOCAB, "Zxqv blorft!")
    with pytest.warns(UserWarning, match=r"3 of the 4 words of the text \(75%\)") as record:
        p = predict_sentiment(model, VOCAB, "the zxqv blorft plugh", tokenizer=split)
    assert record[0].filename == __file__ and 0.0 <= p <= 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # half or fewer unknown: no warning
        predict_sentiment(model, VOCAB, "the film xyzzy plugh", tokenizer=split)


def test_unknown_words_are_judged_on_what_the_model_reads():
    model = TinyLSTM(max_len=2)  # reads "zxqv blorft" only: nothing it knows
    with pytest.raises(ValueError, match=r"None of the words of the text \('zxqv', 'blorft'\)"):
        predict_sentiment(model, VOCAB, "zxqv blorft good film", tokenizer=split)
    with pytest.warns(UserWarning, match="at most 2") as record:  # unknown words cut off
        predict_sentiment(model, VOCAB, "good film zxqv blorft plugh", tokenizer=split)
    assert not any("<unk>" in str(w.message) for w in record)


def test_batched_unknown_words_name_the_text_and_warn_once():
    texts = ["good film", "zxqv blorft the", "plugh xyzzy a"]
    with pytest.warns(UserWarning, match=r"2 of the 3 texts are mostly words") as record:
        predict_sentiments(TinyLSTM(), VOCAB, texts, tokenizer=split)
    assert len(record) == 1 and "text at index 1" in str(record[0].message)
    with pytest.raises(ValueError, match="words of the text at index 1"):
        predict_sentiments(TinyLSTM(), VOCAB, ["good", "zxqv"], tokenizer=split)


def test_vocabulary_must_fit_the_model_embedding():
    bigger = Vocab([*VOCAB.itos, "extra"])
    with pytest.raises(ValueError, match=r"has 14 entries but the model was built for 13"):
        predict_sentiment(TinyLSTM(), bigger, "good film", tokenizer=split)
    with pytest.raises(ValueError, match=r"has 13 entries but the model was built for 20"):
        predict_sentiment(TinyLSTM(vocab_size=20), VOCAB, "good film", tokenizer=split)
    with pytest.raises(ValueError, match="load_vocab"):
        predict_sentiments(TinyLSTM(), bigger, ["good film"], tokenizer=split)


def test_fingerprint_from_the_checkpoint_catches_a_same_size_vocabulary(tmp_path):
    from course_utils.training.checkpoint import load_checkpoint, save_checkpoint

    path = save_checkpoint(
        tmp_path / "model.pt", TinyLSTM(), vocab_path=VOCAB.save(tmp_path / "vocab.json")
    )
    model, info = load_checkpoint(path, TinyLSTM())
    expected = info["vocab"]["fingerprint"]
    p = predict_sentiment(model, VOCAB, "good film", tokenizer=split, expected_fingerprint=expected)
    assert p == predict_sentiment(model, VOCAB, "good film", tokenizer=split)  # old calls work
    shuffled = Vocab(["<unk>", "<pad>", *reversed(WORDS)])  # same size, other indices
    assert len(shuffled) == len(VOCAB)
    with pytest.raises(ValueError, match=f"not the one the model was trained with.*{expected}"):
        predict_sentiment(
            model, shuffled, "good film", tokenizer=split, expected_fingerprint=expected
        )
    with pytest.raises(ValueError, match="not the one"):
        predict_sentiments(
            model, shuffled, ["good"], tokenizer=split, expected_fingerprint=expected
        )
    with pytest.raises(TypeError, match=r"info\['vocab'\]\['fingerprint'\]"):
        predict_sentiment(model, VOCAB, "good", tokenizer=split, expected_fingerprint=info)


def test_wrong_model_or_vocabulary_names_what_to_pass():
    from course_utils.models.language_model import CharLanguageModel

    with pytest.raises(TypeError, match=r"CharLanguageModel\) is a language model. Use generate"):
        predict_sentiment(CharLanguageModel(len(VOCAB), 4, 4), VOCAB, "good", tokenizer=split)
    with pytest.raises(TypeError, match=r"\(a torch nn\.Module\)"):
        predict_sentiment(None, VOCAB, "good", tokenizer=split)
    with pytest.raises(TypeError, match="needs the Vocab the model was trained with"):
        predict_sentiment(TinyLSTM(), "good film", VOCAB)  # arguments swapped
    with pytest.raises(TypeError, match="at index 1 must be a str"):
        predict_sentiments(TinyLSTM(), VOCAB, ["good", None], tokenizer=split)


def test_the_family_package_re_exports_every_public_function():
    import importlib

    package = importlib.import_module("course_utils.inference")
    for name in package.__all__:
        assert getattr(package, name) is not None
    assert package.predict_sentiment is predict_sentiment
    for old in ("generation", "tagging", "decoding"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"course_utils.{old}")
