"""The bag-of-n-grams baseline: hashed binary features and the Naive-Bayes-weighted model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils.models.ngram import NgramClassifier
from course_utils.text.batching import BucketBatchSampler, EncodedDataset, PadCollate
from course_utils.text.ngrams import PAD_FEATURE, hashed_ngrams
from course_utils.text.tokenizer import TokenizedCorpus
from course_utils.training.loop import fit

pytestmark = pytest.mark.usefixtures("one_thread")


def corpus(*texts: str) -> TokenizedCorpus:
    return TokenizedCorpus.from_token_lists([t.split() for t in texts])


def features_of(texts: list[str], **kwargs) -> list[set[int]]:
    ids, offsets = hashed_ngrams(corpus(*texts), **kwargs)
    return [set(ids[a:b].tolist()) for a, b in itertools.pairwise(offsets)]


def test_each_text_gets_its_distinct_words_and_pairs_the_same_everywhere():
    good, bad, again = features_of(["a good good film", "a bad film", "good film"])
    assert len(good) == 3 + 3  # words a, good, film; pairs a-good, good-good, good-film
    assert len(bad) == 3 + 2
    assert again <= good  # "good", "film", "good film": the same ids in another text
    assert PAD_FEATURE not in good | bad | again
    (words,) = features_of(["a good good film"], n=1)
    assert len(words) == 3 and words <= good


def test_pairs_never_span_two_texts_and_ids_stay_in_range():
    ids, offsets = hashed_ngrams(corpus("x", "y"), num_buckets=1000)
    assert offsets.tolist() == [0, 1, 2]  # one word each, no "x y" pair
    ids, _ = hashed_ngrams(corpus("the cat sat on the mat " * 20), num_buckets=16)
    assert ids.min() >= 1 and ids.max() <= 15
    with pytest.raises(ValueError, match="n must be 1"):
        hashed_ngrams(corpus("a"), n=3)


def test_the_naive_bayes_ratio_is_the_smoothed_log_count_ratio():
    ids, offsets = hashed_ngrams(corpus("great fun", "great", "dull"), num_buckets=64, n=1)
    model = NgramClassifier(64)
    ratio = model.set_nb_ratio(torch.from_numpy(ids), torch.from_numpy(offsets),
                               torch.tensor([1, 1, 0]))  # fmt: skip
    great, dull = int(ids[offsets[1]]), int(ids[offsets[2]])  # the one-word texts
    # positive counts: great 2, fun 1 (+1 each over 64 buckets); negative: dull 1
    positive_total, negative_total = 64 + 3, 64 + 1
    expected_great = np.log(3 / positive_total) - np.log(1 / negative_total)
    assert ratio[great].item() == pytest.approx(expected_great, rel=1e-5)
    assert ratio[dull].item() < 0 < ratio[great].item() and ratio[PAD_FEATURE] == 0


def test_padding_does_not_change_a_logit():
    model = NgramClassifier(32)
    nn.init.normal_(model.weights.weight)
    alone = model(torch.tensor([[3, 5, 7]]))
    padded = model(torch.tensor([[3, 5, 7, 0, 0], [1, 2, 0, 0, 0]]))
    torch.testing.assert_close(padded[0], alone[0])


def test_fit_trains_it_to_separate_positive_from_negative_words():
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(400):
        label = i % 2
        words = rng.choice(["plot", "actor", "scene", "music"], size=6).tolist()
        words.insert(int(rng.integers(0, 6)), "superb" if label else "awful")
        texts.append(" ".join(words))
        labels.append(label)
    ids, offsets = hashed_ngrams(corpus(*texts), num_buckets=512)
    dataset = EncodedDataset(ids, offsets, labels)
    loader = DataLoader(dataset, batch_sampler=BucketBatchSampler(dataset.lengths, 32, seed=0),
                        collate_fn=PadCollate(PAD_FEATURE))  # fmt: skip
    model = NgramClassifier(512)
    model.set_nb_ratio(torch.from_numpy(ids), torch.from_numpy(offsets), torch.tensor(labels))
    history = fit(model, loader, loader, torch.optim.Adam(model.parameters(), lr=0.05),
                  nn.BCEWithLogitsLoss(), 3, device="cpu", progress=False)  # fmt: skip
    assert history.best_valid_acc == 1.0
