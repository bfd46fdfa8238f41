"""Length-bucketing sampler, padding collate and dataset checks."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from course_utils.text.batching import (
    BucketBatchSampler,
    EncodedDataset,
    PadCollate,
    padding_fraction,
)


def make_lengths(n=1000, seed=0):
    return np.random.default_rng(seed).integers(1, 500, size=n)


def flatten(batches):
    return [i for b in batches for i in b]


def test_every_example_exactly_once_per_epoch():
    lengths = make_lengths()
    sampler = BucketBatchSampler(lengths, 64, seed=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert sorted(flatten(batches)) == list(range(len(lengths)))
        assert len(batches) == len(sampler)


def test_different_order_for_different_epoch_same_for_same_seed():
    lengths = make_lengths()
    a = BucketBatchSampler(lengths, 64, seed=1)
    b = BucketBatchSampler(lengths, 64, seed=1)
    first = list(a)
    assert first == list(b)
    a.set_epoch(1)
    assert list(a) != first


def test_bucketing_reduces_padding_below_random_batches():
    lengths = make_lengths(5000)
    bucketed = padding_fraction(lengths, list(BucketBatchSampler(lengths, 64, seed=0)))
    random_ = padding_fraction(
        lengths, list(BucketBatchSampler(lengths, 64, seed=0, pool_factor=1))
    )
    assert bucketed < 0.05 < random_


def test_eval_order_is_sorted_and_complete():
    lengths = make_lengths(300)
    batches = list(BucketBatchSampler(lengths, 32, shuffle=False))
    order = flatten(batches)
    assert sorted(order) == list(range(300))
    assert np.all(np.diff(lengths[order]) >= 0)


def test_drop_last():
    sampler = BucketBatchSampler(np.ones(100), 32, drop_last=True)
    assert len(list(sampler)) == len(sampler) == 3
    assert all(len(b) == 32 for b in sampler)


@pytest.mark.parametrize("shuffle", [True, False])
def test_distributed_shards_are_disjoint_and_cover(shuffle):
    lengths = make_lengths(1000)
    shards = [
        list(BucketBatchSampler(lengths, 64, shuffle=shuffle, num_replicas=3, rank=r, seed=5))
        for r in range(3)
    ]
    flat = [flatten(s) for s in shards]
    if shuffle:  # equal step counts for DDP; a few batches repeat to even them out
        assert len({len(s) for s in shards}) == 1
        assert set().union(*map(set, flat)) == set(range(1000))
    else:  # evaluation: every example exactly once across ranks
        assert sorted(i for shard in flat for i in shard) == list(range(1000))
    for r, shard in enumerate(shards):
        assert len(shard) == len(
            BucketBatchSampler(lengths, 64, shuffle=shuffle, num_replicas=3, rank=r)
        )


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1, 2], 0)
    with pytest.raises(ValueError, match="non-empty"):
        BucketBatchSampler([], 4)
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler([1, 2], 1, num_replicas=2, rank=2)


def test_collate_dtypes_devices_and_padding():
    items = [(torch.tensor([5, 6, 7]), torch.tensor(1)), (torch.tensor([8]), torch.tensor(0))]
    tokens, lengths, labels = PadCollate(pad_index=1)(items)
    assert tokens.dtype == lengths.dtype == torch.int64
    assert lengths.device.type == "cpu"
    assert tokens.tolist() == [[5, 6, 7], [8, 1, 1]]
    assert lengths.tolist() == [3, 1]
    assert labels.tolist() == [1, 0]


def test_collate_truncates_to_max_len():
    items = [(torch.arange(10), torch.tensor(1)), (torch.arange(3), torch.tensor(0))]
    tokens, lengths, _ = PadCollate(pad_index=0, max_len=4)(items)
    assert tokens.shape == (2, 4)
    assert lengths.tolist() == [4, 3]
    with pytest.raises(ValueError, match="max_len"):
        PadCollate(0, max_len=0)


def test_dataset_with_loader_end_to_end():
    offsets = np.array([0, 3, 4, 9])
    ids = np.arange(9)
    ds = EncodedDataset(ids, offsets, [1, 0, 1])
    loader = DataLoader(
        ds, batch_sampler=BucketBatchSampler(ds.lengths, 2, shuffle=False), collate_fn=PadCollate(0)
    )
    seen = {}
    for tokens, lengths, labels in loader:
        for row, n, y in zip(tokens, lengths, labels, strict=True):
            seen[tuple(row[:n].tolist())] = int(y)
    assert seen == {(0, 1, 2): 1, (3,): 0, (4, 5, 6, 7, 8): 1}


def test_dataset_rejects_mismatched_labels_and_empty_texts():
    with pytest.raises(ValueError, match="2 texts but 3 labels"):
        EncodedDataset(np.arange(4), np.array([0, 2, 4]), [0, 1, 1])
    with pytest.raises(ValueError, match="no tokens"):
        EncodedDataset(np.arange(2), np.array([0, 2, 2]), [0, 1])
