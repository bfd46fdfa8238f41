"""Batches of variable-length sequences: the modern replacement for torchtext's BucketIterator.

A recurrent network pays for every padded position it reads. Batching reviews of
similar length together removes most of the padding; shuffling inside length
buckets and shuffling the order of the batches keeps the training signal random.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from course_utils import distributed

# Pools of 200 batches keep IMDb's padding under 4% (100 gives ~5%: the long tail of
# reviews is spread thinly over small pools) while batches still change every epoch.
DEFAULT_POOL_FACTOR = 200


class EncodedDataset(Dataset):
    """Numericalised texts (flat ids + offsets, as :func:`numericalize` returns) and labels.

    Items are ``(token ids as int64 tensor, label)``. Storing one flat array instead
    of 25,000 small tensors keeps memory low and start-up fast.
    """

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, labels: Sequence[int] | np.ndarray):
        lengths = np.diff(offsets)
        if len(lengths) != len(labels):
            raise ValueError(
                f"{len(lengths)} texts but {len(labels)} labels: "
                "every text needs exactly one label."
            )
        empty = np.flatnonzero(lengths == 0)
        if len(empty):
            raise ValueError(
                f"{len(empty)} text(s) have no tokens (first indices: {empty[:5].tolist()}). "
                "Remove empty texts before building the dataset."
            )
        self.ids = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.offsets[i], self.offsets[i + 1]
        return self.ids[start:end], self.labels[i]


class BucketBatchSampler(Sampler[list[int]]):
    """Yields lists of indices whose sequences have similar lengths.

    Every epoch (seeded by ``seed + epoch``) the indices are shuffled, cut into pools
    of ``batch_size * pool_factor``, each pool is sorted by length and cut into
    batches, and the order of all batches is shuffled. With ``shuffle=False`` the
    whole dataset is sorted by length once: the least padding, for evaluation.

    Distributed mode (``num_replicas > 1``, the default under torchrun) gives each
    rank every ``num_replicas``-th batch of the same global order. When shuffling
    (training) the batch list is padded by repeating batches so that every rank runs
    the same number of steps, which DistributedDataParallel needs; in evaluation
    every example is seen exactly once across ranks.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        shuffle: bool = True,
        pool_factor: int = DEFAULT_POOL_FACTOR,
        seed: int = 0,
        drop_last: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        if pool_factor < 1:
            raise ValueError(
                f"pool_factor must be at least 1 (1 = random batches), got {pool_factor}."
            )
        self.lengths = np.asarray(lengths)
        if self.lengths.ndim != 1 or len(self.lengths) == 0:
            raise ValueError("lengths must be a non-empty 1-D sequence, one length per example.")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.pool_factor = pool_factor
        self.seed = seed
        self.drop_last = drop_last
        self.num_replicas = num_replicas or distributed.world_size()
        self.rank = distributed.rank() if rank is None else rank
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {self.rank} is outside 0..{self.num_replicas - 1}.")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at the start of each epoch: a new shuffle per epoch."""
        self.epoch = epoch

    def _global_batches(self) -> list[np.ndarray]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return self._cut(order)
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(n)
        pool = self.batch_size * self.pool_factor
        batches: list[np.ndarray] = []
        for start in range(0, n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(self._cut(chunk))
        return [batches[i] for i in rng.permutation(len(batches))]

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def _local_batches(self) -> list[np.ndarray]:
        batches = self._global_batches()
        if self.num_replicas == 1:
            return batches
        if self.shuffle and batches:
            per_rank = math.ceil(len(batches) / self.num_replicas)
            shortfall = per_rank * self.num_replicas - len(batches)
            batches = batches + batches[:shortfall]
        return batches[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._local_batches():
            yield batch.tolist()

    def __len__(self) -> int:
        n_batches = len(self.lengths) // self.batch_size
        if not self.drop_last and len(self.lengths) % self.batch_size:
            n_batches += 1
        if self.num_replicas == 1:
            return n_batches
        if self.shuffle:
            return math.ceil(n_batches / self.num_replicas)
        return len(range(self.rank, n_batches, self.num_replicas))


class PadCollate:
    """Turns ``(ids, label)`` items into ``(tokens [B, T] int64, lengths int64 CPU, labels)``.

    ``max_len`` truncates long sequences (keeping the beginning), which bounds the
    cost of the longest reviews. ``lengths`` stays on the CPU because
    ``pack_padded_sequence`` requires it there.
    """

    def __init__(self, pad_index: int, max_len: int | None = None):
        if max_len is not None and max_len < 1:
            raise ValueError(f"max_len must be positive or None, got {max_len}.")
        self.pad_index = pad_index
        self.max_len = max_len

    def __call__(
        self, batch: Sequence[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not batch:
            raise ValueError("Cannot collate an empty batch.")
        seqs = [ids if self.max_len is None else ids[: self.max_len] for ids, _ in batch]
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        tokens = torch.full((len(seqs), int(lengths.max())), self.pad_index, dtype=torch.long)
        for row, seq in enumerate(seqs):
            tokens[row, : len(seq)] = seq
        labels = torch.stack([torch.as_tensor(label) for _, label in batch])
        return tokens, lengths, labels


def padding_fraction(lengths: np.ndarray, batches: Sequence[Sequence[int]]) -> float:
    """Share of the positions in padded batches that are padding (0 = none wasted)."""
    lengths = np.asarray(lengths)
    total = real = 0
    for batch in batches:
        batch_lengths = lengths[np.asarray(batch)]
        total += int(batch_lengths.max()) * len(batch_lengths)
        real += int(batch_lengths.sum())
    return 1.0 - real / total if total else 0.0
