"""Every row of docs/learner_errors.md (the learner-facing errors of inference), asserted.

One parametrised case per row: the bad input a new learner gives a trained model
(through :mod:`course_utils.inference`) and the start of the message they get. The
page docs/learner_errors.md lists the same rows in the same order, by id, with the
message each gives (the last test checks that).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import torch
from torch import nn

from course_utils.datasets.shakespeare import TextCorpus, char_vocab
from course_utils.datasets.ud import TaggedSentence
from course_utils.datasets.ud_batches import TaggingVocabs
from course_utils.inference.decoding import greedy_decode, translate
from course_utils.inference.generation import generate
from course_utils.inference.sentiment import predict_sentiment
from course_utils.inference.tagging import predict_tags, tag_sentence
from course_utils.models.classifier import RecurrentClassifier
from course_utils.models.language_model import CharLanguageModel
from course_utils.models.seq2seq import AttentionSeq2Seq
from course_utils.models.tagger import BiLSTMTagger
from course_utils.text.vocab import Vocab

pytestmark = pytest.mark.usefixtures("one_thread")

split = str.split


@cache
def vocab() -> Vocab:
    return Vocab(["<unk>", "<pad>", "good", "bad", "film", "the", "was"])


@cache
def other_vocab(size: int = 52) -> Vocab:
    return Vocab(["<unk>", "<pad>", *(f"w{i}" for i in range(size - 2))])


@cache
def classifier(outputs: int = 1) -> RecurrentClassifier:
    torch.manual_seed(0)
    return RecurrentClassifier(len(vocab()), 4, 4, outputs, padding_idx=1, max_len=5).eval()


@cache
def corpus() -> TextCorpus:
    return TextCorpus(list("to be or not"), list("to be"), char_vocab("to be or not"))


@cache
def language_model(vocab_size: int | None = None) -> CharLanguageModel:
    torch.manual_seed(0)
    return CharLanguageModel(vocab_size or len(corpus().vocab), 4, 8, num_layers=1)


@cache
def tag_vocabs() -> TaggingVocabs:
    sentences = [
        TaggedSentence(("a", "b", "a"), ("X", "Y", "X"), ("",) * 3),
        TaggedSentence(("b", "c"), ("Y", "X"), ("",) * 2),
    ]
    return TaggingVocabs.build(sentences, min_freq=2)


@cache
def tagger(words: int | None = None) -> BiLSTMTagger:
    v = tag_vocabs()
    torch.manual_seed(0)
    return BiLSTMTagger(
        words or len(v.words),
        4,
        4,
        len(v.tags),
        padding_idx=v.words.pad_index,
        num_chars=len(v.chars),
        char_padding_idx=v.chars.pad_index,
    )


SPECIALS = ["<unk>", "<pad>", "<sos>", "<eos>"]


@cache
def src_vocab() -> Vocab:
    return Vocab([*SPECIALS, "ein", "hund", "."])


@cache
def tgt_vocab() -> Vocab:
    return Vocab([*SPECIALS, "a", "dog", "."])


@cache
def seq2seq() -> AttentionSeq2Seq:
    torch.manual_seed(0)
    sizes = {"emb_dim": 8, "enc_hidden": 8, "dec_hidden": 8, "attn_dim": 8, "out_dim": 8}
    return AttentionSeq2Seq(src_vocab_size=7, tgt_vocab_size=7, **sizes).eval()


def sentiment(text="good film", **kw):
    kw = {"model": classifier(), "vocab": vocab(), "tokenizer": split, **kw}
    return predict_sentiment(kw.pop("model"), kw.pop("vocab"), text, **kw)


def gen(prompt="to", length=5, **kw):
    return generate(
        kw.pop("model", language_model()), kw.pop("corpus", corpus()), prompt, length, **kw
    )


def tag(sentence="a b", **kw):
    model, vocabs = kw.pop("model", tagger()), kw.pop("vocabs", tag_vocabs())
    return tag_sentence(model, vocabs, sentence, show=False, **kw)


def tr(text="ein hund .", **kw):
    model, tokenizer = kw.pop("model", seq2seq()), kw.pop("tokenizer", split)
    src, tgt = kw.pop("src", src_vocab()), kw.pop("tgt", tgt_vocab())
    return translate(model, text, tokenizer, src, tgt, **kw)


class NotADecoder(nn.Module):
    """A model of one's own without encode / initial_hidden / step."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))


# fmt: off
ERRORS = [
    # ----------------------------------------------------------------- sentiment
    ("sentiment-all-unknown", lambda: sentiment("zxqv blorft"), ValueError,
     r"None of the words of the text \('zxqv', 'blorft'\) is in the model's vocabulary "
     r"\(5 words kept from the training data\), so the model would see only <unk>"),
    ("sentiment-mostly-unknown", lambda: sentiment("zxqv blorft good"), UserWarning,
     r"2 of the 3 words of the text \(67%\) are not in the model's vocabulary and are read "
     r"as <unk>"),
    ("sentiment-empty", lambda: sentiment("   "), ValueError,
     r"The text is empty: there is nothing to classify"),
    ("sentiment-not-a-str", lambda: sentiment(None), TypeError,
     r"predict_sentiment takes one text \(a str\), got NoneType"),
    ("sentiment-list-of-texts", lambda: sentiment(["good", "bad"]), TypeError,
     r"for several texts use predict_sentiments"),
    ("sentiment-too-long", lambda: sentiment("good " * 9), UserWarning,
     r"The text has 9 tokens but the model reads at most 5 tokens"),
    ("sentiment-vocab-too-large", lambda: sentiment(vocab=other_vocab()), ValueError,
     r"The vocabulary has 52 entries but the model was built for 7, so it is not the "
     r"one the model was trained with"),
    ("sentiment-vocab-same-size-other-words",
     lambda: sentiment(vocab=other_vocab(7), expected_fingerprint=vocab().fingerprint),
     ValueError, r"This vocabulary \(fingerprint \w+\) is not the one the model was trained with"),
    ("sentiment-no-vocab", lambda: sentiment(vocab=None), TypeError,
     r"predict_sentiment needs the Vocab the model was trained with"),
    ("sentiment-language-model", lambda: sentiment(model=language_model()), TypeError,
     r"predict_sentiment needs a sentiment classifier, but the model given "
     r"\(CharLanguageModel\) is a language model. Use generate\(model, corpus, prompt\)"),
    ("sentiment-no-model", lambda: sentiment(model=None), TypeError,
     r"predict_sentiment needs a trained sentiment classifier \(a torch nn.Module\)"),
    ("sentiment-multiclass", lambda: sentiment(model=classifier(3)), ValueError,
     r"predict_sentiment needs a binary classifier"),
    # ----------------------------------------------------------------- generation
    ("generate-negative-temperature", lambda: gen(temperature=-1), ValueError,
     r"temperature must be 0 \(greedy\) or positive and finite, got -1"),
    ("generate-infinite-temperature", lambda: gen(temperature=float("inf")), ValueError,
     r"temperature must be 0 \(greedy\) or positive and finite, got inf"),
    ("generate-temperature-not-a-number", lambda: gen(temperature="hot"), TypeError,
     r"temperature must be a number"),
    ("generate-top-p-zero", lambda: gen(top_p=0), ValueError, r"top_p must be in \(0, 1\], got 0"),
    ("generate-top-p-above-one", lambda: gen(top_p=1.5), ValueError,
     r"top_p must be in \(0, 1\], got 1.5"),
    ("generate-top-k-zero", lambda: gen(top_k=0), ValueError, r"top_k must be at least 1"),
    ("generate-top-k-fraction", lambda: gen(top_k=2.5), TypeError,
     r"top_k must be a whole number \(or None\), got 2.5"),
    ("generate-empty-prompt", lambda: gen(""), ValueError, r"The prompt is empty"),
    ("generate-prompt-not-a-str", lambda: gen(None), TypeError,
     r"The prompt must be a str \(the text to continue\), got NoneType"),
    ("generate-unknown-characters", lambda: gen("xyz"), ValueError,
     r"3 token\(s\) are not in the vocabulary"),
    ("generate-negative-length", lambda: gen(length=-1), ValueError,
     r"length must be 0 or more"),
    ("generate-fractional-length", lambda: gen(length=2.5), TypeError,
     r"length is a number of tokens: a whole number"),
    ("generate-bad-unknown", lambda: gen(unknown="skip"), ValueError,
     r"unknown must be 'error' .* or 'unk'"),
    ("generate-not-a-corpus", lambda: gen(corpus=corpus().vocab), TypeError,
     r"generate needs the TextCorpus the model was trained on"),
    ("generate-other-corpus", lambda: gen(model=language_model(3)), ValueError,
     r"The vocabulary of this char-level corpus has 9 entries but the model was built for 3"),
    ("generate-classifier", lambda: gen(model=classifier()), TypeError,
     r"generate needs a language model, but the model given \(RecurrentClassifier\) is a "
     r"sentiment classifier. Use predict_sentiment"),
    # ----------------------------------------------------------------- tagging
    ("tag-none", lambda: tag(None), TypeError,
     r"tag_sentence takes the sentence as a str or a list of words, got NoneType"),
    ("tag-empty", lambda: tag("   ", tokenizer=split), ValueError,
     r"The sentence has no words to tag"),
    ("tag-word-ids", lambda: tag([2, 3]), TypeError,
     r"Word 0 of the sentence, 2, is not a str but int: pass the words themselves, not their ids"),
    ("tag-empty-word", lambda: tag(["a", ""]), ValueError,
     r"Word 1 of the sentence is empty or only whitespace"),
    ("tag-word-vocab-only", lambda: tag(vocabs=tag_vocabs().words), TypeError,
     r"tag_sentence needs the TaggingVocabs the tagger was trained with"),
    ("tag-other-vocabs", lambda: tag(model=tagger(words=30)), ValueError,
     r"The word vocabulary has 4 entries but the model was built for 30"),
    ("tag-classifier", lambda: tag(model=classifier()), TypeError,
     r"tag_sentence needs a tagger, but the model given \(RecurrentClassifier\)"),
    ("tags-empty-loader", lambda: predict_tags(tagger(), [], 0), ValueError,
     r"The loader yielded no batches"),
    # ----------------------------------------------------------------- translation
    ("translate-max-len-zero", lambda: tr(max_len=0), ValueError,
     r"max_len must be at least 1 \(the most words a translation may have\), got 0"),
    ("translate-beam-width-zero", lambda: tr(beam_width=0), ValueError,
     r"beam_width must be at least 1"),
    ("translate-all-unknown", lambda: tr("xyz qqq"), ValueError,
     r"None of the words of the sentence \('xyz', 'qqq'\) is in the model's source vocabulary "
     r"\(3 words kept from the training data\)"),
    ("translate-mostly-unknown", lambda: tr("xyz qqq hund"), UserWarning,
     r"2 of the 3 words of the sentence \(67%\) are not in the model's source vocabulary"),
    ("translate-empty", lambda: tr("   "), ValueError,
     r"There is nothing to translate: the text is empty"),
    ("translate-not-a-str", lambda: tr(None), TypeError,
     r"translate expects the sentence as a str, got NoneType"),
    ("translate-no-tokenizer", lambda: tr(tokenizer=None), TypeError,
     r"src_tokenizer must split a sentence into tokens"),
    ("translate-target-vocab-without-sos", lambda: tr(tgt=vocab()), ValueError,
     r"The target vocabulary has no <sos> or <eos>.*are src_vocab and tgt_vocab swapped\?"),
    ("translate-other-source-vocab", lambda: tr(src=other_vocab()), ValueError,
     r"The source vocabulary has 52 entries but the model was built for 7"),
    ("translate-classifier", lambda: tr(model=classifier()), TypeError,
     r"translate needs a translation model, but the model given \(RecurrentClassifier\)"),
    ("decode-own-model-without-decoder",
     lambda: greedy_decode(NotADecoder(), torch.tensor([[4]]), torch.tensor([1]), sos=2, eos=3),
     TypeError, r"this NotADecoder has no encode, initial_hidden, step method"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "kind", "message"),
    [pytest.param(call, kind, message, id=name) for name, call, kind, message in ERRORS],
)
def test_learner_error_message(call, kind, message):
    if issubclass(kind, Warning):
        with pytest.warns(kind, match=message):
            call()
    else:
        with pytest.raises(kind, match=message):
            call()


def test_row_ids_are_unique():
    names = [name for name, *_ in ERRORS]
    assert len(names) == len(set(names))


def test_docs_page_lists_every_case_in_order_with_its_message():
    page = (Path(__file__).resolve().parents[1] / "docs" / "learner_errors.md").read_text()
    rows = [line.split(" | ") for line in page.splitlines() if line.startswith("| `")]
    assert [row[0].strip("| `") for row in rows] == [name for name, *_ in ERRORS]
    for (name, _, kind, message), (_, shown_kind, shown) in zip(ERRORS, rows, strict=True):
        assert shown_kind == kind.__name__, name
        assert re.search(message, shown.removesuffix(" |").replace("\\|", "|")), name
