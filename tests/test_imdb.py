"""IMDb loading and DataLoaders on the real data (served by COURSE_DATA_MIRROR in CI)."""

import numpy as np
import pytest
import torch

from course_utils.datasets.imdb import SMOKE_PER_SPLIT, imdb_dataloaders, load_imdb
from course_utils.text.batching import BucketBatchSampler, padding_fraction
from course_utils.text.tokenizer import Tokenizer, tokenize_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def full():
    return load_imdb(per_split=None)


def test_classic_split_sizes_and_labels(full):
    assert (len(full.train), len(full.valid), len(full.test)) == (17_500, 7_500, 25_000)
    for split in (full.train, full.valid, full.test):
        assert set(np.unique(split.labels)) == {0, 1}
        assert split.labels.mean() == 0.5  # stratified: exactly half positive
    assert not set(full.train.files) & set(full.valid.files)
    assert all(f.startswith("train/") for f in full.valid.files)
    assert all(f.startswith("test/") for f in full.test.files)
    first_pos = full.train.files.index("train/pos/0_9.txt")
    assert full.train.texts[first_pos].startswith("Bromwell High is a cartoon comedy.")
    assert full.train.labels[first_pos] == 1


def test_validation_split_is_seeded_and_configurable():
    a = load_imdb(valid_fraction=0.1, seed=7, per_split=None)
    b = load_imdb(valid_fraction=0.1, seed=7, per_split=None)
    c = load_imdb(valid_fraction=0.1, seed=8, per_split=None)
    assert (len(a.train), len(a.valid)) == (22_500, 2_500)
    assert a.valid.files == b.valid.files
    assert a.valid.files != c.valid.files
    with pytest.raises(ValueError, match="between 0 and 1"):
        load_imdb(valid_fraction=1.0)


def test_unlabelled_reviews(full):
    assert len(full.unlabelled) == 50_000
    assert all(isinstance(t, str) and t for t in full.unlabelled[:100])


def test_smoke_mode_gives_small_stratified_subsets(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    small = load_imdb()
    for split in (small.train, small.valid, small.test):
        assert len(split) == SMOKE_PER_SPLIT
        assert split.labels.sum() == SMOKE_PER_SPLIT // 2
    assert len(small.unlabelled) == SMOKE_PER_SPLIT
    assert not set(small.train.files) & set(small.valid.files)


def test_bucketed_batches_waste_little_padding(full):
    lengths = tokenize_corpus(full.train.texts, Tokenizer(), progress=False).lengths
    bucketed = padding_fraction(lengths, list(BucketBatchSampler(lengths, 64, seed=0)))
    random_ = padding_fraction(
        lengths, list(BucketBatchSampler(lengths, 64, seed=0, pool_factor=1))
    )
    print(f"padding: bucketed {bucketed:.2%}, random {random_:.2%}")
    assert bucketed <= 0.05
    assert random_ > 5 * bucketed


def test_dataloaders_in_one_call():
    data = load_imdb(per_split=100)
    loaders = imdb_dataloaders(data, batch_size=16, max_len=50, progress=False)
    seen = 0
    for tokens, lengths, labels in loaders.train:
        assert tokens.dtype == lengths.dtype == labels.dtype == torch.int64
        assert tokens.shape[1] == lengths.max() <= 50
        seen += len(labels)
    assert seen == len(data.train)
    # the vocabulary comes from the training split only
    test_tokens = {t for text in data.test.texts for t in loaders.tokenizer(text)}
    train_tokens = {t for text in data.train.texts for t in loaders.tokenizer(text)}
    only_in_test = sorted(test_tokens - train_tokens)
    assert only_in_test and all(loaders.vocab[t] == loaders.vocab.unk_index for t in only_in_test)


def test_ngram_loaders_batch_each_reviews_features_and_a_model_reads_them_in_order():
    from course_utils.datasets.imdb import imdb_ngram_dataloaders
    from course_utils.inference.sentiment import predict_dataset
    from course_utils.models.ngram import NgramClassifier

    data = load_imdb(per_split=SMOKE_PER_SPLIT)
    loaders = imdb_ngram_dataloaders(data, num_buckets=2**12, batch_size=16)
    assert len(loaders.valid.dataset) == len(data.valid)
    features, counts, _ = next(iter(loaders.train))
    assert features.shape == (16, int(counts.max())) and (features < 2**12).all()
    assert ((features == 0).sum(dim=1) == counts.max() - counts).all()  # only padding is 0
    model = NgramClassifier(2**12)
    torch.nn.init.normal_(model.weights.weight)
    in_order = predict_dataset(model, loaders.valid)  # batches come sorted by length
    for i in (0, 7, len(data.valid) - 1):
        alone, _ = loaders.valid.dataset[i]
        expected = torch.sigmoid(model(alone[None]))[0]
        torch.testing.assert_close(in_order[i], expected)
