"""Run by tests/test_train.py under ``torchrun --nproc_per_node=2``: fit on a tiny task.

Each rank writes to OUT_DIR (the only argument):

* ``params_rank{r}.pt``: its final parameters (they must be identical on all ranks),
* ``rank{r}.json``: the example indices it trained on in epoch 0 (shards must be
  disjoint and cover the data), the epochs the sampler was told, the metrics of its
  History (global, so identical), and ``evaluate``'s example count,
* ``ckpt_rank{r}.pt`` is the checkpoint path each rank passes to ``fit``: only rank 0
  may write it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader

from course_utils import distributed
from course_utils.text.batching import BucketBatchSampler, EncodedDataset, PadCollate
from course_utils.training.callbacks import Checkpoint
from course_utils.training.loop import evaluate, fit

PAD = 1


class TinyLSTM(nn.Module):
    def __init__(self, vocab_size: int = 20, embed_dim: int = 8, hidden_dim: int = 12):
        super().__init__()
        self.config = {"vocab_size": vocab_size, "embed_dim": embed_dim, "hidden_dim": hidden_dim}
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.rnn = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, 1)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.rnn(packed)
        return self.fc(hidden[-1])


class RecordingSampler(BucketBatchSampler):
    """Remembers which examples this rank got in epoch 0 and which epochs were set."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen_epoch0: list[int] = []
        self.epochs_set: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs_set.append(epoch)
        super().set_epoch(epoch)

    def __iter__(self):
        for batch in super().__iter__():
            if self.epoch == 0:
                self.seen_epoch0.extend(batch)
            yield batch


def make_data(n: int, seed: int) -> EncodedDataset:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 12, n)
    seqs = [rng.integers(2, 20, length) for length in lengths]
    labels = [int(3 in s) for s in seqs]
    return EncodedDataset(np.concatenate(seqs), np.concatenate([[0], np.cumsum(lengths)]), labels)


def main(out_dir: Path) -> None:
    rank = distributed.rank()
    assert distributed.world_size() == 2, "run me with torchrun --nproc_per_node=2"
    torch.manual_seed(1000 + rank)  # different initial weights: DDP must synchronise them
    model = TinyLSTM()
    initial = float(sum(p.sum() for p in model.parameters()))
    n_train, n_valid = 96, 40  # 96 / 8 = 12 batches: 6 per rank, no padding batches
    train_ds, valid_ds = make_data(n_train, 0), make_data(n_valid, 1)
    collate = PadCollate(PAD)
    sampler = RecordingSampler(train_ds.lengths, 8, seed=0)  # shards from WORLD_SIZE/RANK
    train_loader = DataLoader(train_ds, batch_sampler=sampler, collate_fn=collate)
    valid_loader = DataLoader(
        valid_ds,
        batch_sampler=BucketBatchSampler(valid_ds.lengths, 8, shuffle=False),
        collate_fn=collate,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    history = fit(
        model,
        train_loader,
        valid_loader,
        optimizer,
        nn.BCEWithLogitsLoss(),
        epochs=3,
        clip_grad_norm=1.0,
        callbacks=[Checkpoint(out_dir / f"ckpt_rank{rank}.pt")],
        progress=True,
        seed=0,
    )
    result = evaluate(model, valid_loader, nn.BCEWithLogitsLoss())
    torch.save(model.state_dict(), out_dir / f"params_rank{rank}.pt")
    metrics = {
        key: getattr(history, key)
        for key in ("train_loss", "train_acc", "valid_loss", "valid_acc", "best_metric")
    }
    metrics["best_epoch"] = history.best_epoch
    report = {
        "rank": rank,
        "initial_checksum": initial,
        "seen_epoch0": sampler.seen_epoch0,
        "epochs_set": sampler.epochs_set,
        "history": metrics,
        "evaluate_n": result["n"],
        "n_train": n_train,
        "n_valid": n_valid,
    }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(report))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
