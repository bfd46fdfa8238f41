"""Measuring training throughput of recurrent classifiers, shared by lesson 03 and ``bench/``.

Speed claims in a course must be measured on the learner's machine, so the same
function that produces the README's table runs inside the notebook.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from course_utils.text.batching import DEFAULT_POOL_FACTOR, BucketBatchSampler

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def make_batches(
    lengths: Sequence[int] | np.ndarray,
    *,
    batch_size: int = 64,
    n_batches: int = 4,
    vocab_size: int = 25_002,
    bucketed: bool = True,
    max_len: int | None = None,
    pad_index: int = 1,
    seed: int = 0,
) -> list[Batch]:
    """Random token batches whose lengths follow ``lengths`` (e.g. the real IMDb reviews).

    ``bucketed`` groups similar lengths like the course's training loader; otherwise
    batches are random draws, so each is padded to its longest review.
    """
    lengths = np.asarray(lengths)
    if max_len is not None:
        lengths = np.minimum(lengths, max_len)
    sampler = BucketBatchSampler(
        lengths,
        batch_size,
        seed=seed,
        pool_factor=DEFAULT_POOL_FACTOR if bucketed else 1,
        drop_last=True,
        num_replicas=1,
        rank=0,
    )
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for indices in list(sampler)[:n_batches]:
        batch_lengths = torch.as_tensor(lengths[indices], dtype=torch.long)
        tokens = torch.randint(
            pad_index + 1, vocab_size, (len(indices), int(batch_lengths.max())), generator=gen
        )
        positions = torch.arange(tokens.size(1))
        tokens[positions[None, :] >= batch_lengths[:, None]] = pad_index
        labels = torch.randint(0, 2, (len(indices),), generator=gen)
        batches.append((tokens, batch_lengths, labels))
    return batches


def padded_positions(batches: Sequence[Batch]) -> float:
    """Share of positions in ``batches`` that are padding."""
    total = sum(tokens.numel() for tokens, _, _ in batches)
    real = sum(int(lengths.sum()) for _, lengths, _ in batches)
    return 1.0 - real / total


def training_throughput(
    model: nn.Module,
    batches: Sequence[Batch],
    *,
    warmup: int = 1,
    optimizer_factory: Callable[..., torch.optim.Optimizer] = torch.optim.Adam,
    device: torch.device | str = "cpu",
) -> float:
    """Examples per second for forward + backward + optimizer step over ``batches``.

    The first ``warmup`` batches are run but not timed (allocations, kernel selection).
    """
    if len(batches) <= warmup:
        raise ValueError(f"Need more than {warmup} batches to time anything, got {len(batches)}.")
    device = torch.device(device)
    model = model.to(device).train()
    optimizer = optimizer_factory(model.parameters())
    loss_fn = nn.BCEWithLogitsLoss()

    def step(batch: Batch) -> None:
        tokens, lengths, labels = batch
        optimizer.zero_grad(set_to_none=True)
        logits = model(tokens.to(device), lengths).view(-1)
        loss_fn(logits, labels.to(device).float()).backward()
        optimizer.step()

    for batch in batches[:warmup]:
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for batch in batches[warmup:]:
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return sum(len(b[1]) for b in batches[warmup:]) / seconds
