"""Run by tests/test_resume.py as a real process that may be killed: a small resumable ``fit``.

``python resume_fit_script.py OUT_DIR EPOCHS SLEEP`` trains a tiny GRU classifier (with
dropout, Adam, a StepLR scheduler and a shuffling bucket sampler, so every kind of state
a resumed run must restore is used) with ``fit(..., resume=OUT_DIR/state.pt)`` and writes
its final weights to ``OUT_DIR/final.pt``. ``SLEEP`` seconds per batch make the run slow
enough to be killed in the middle of an epoch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils.text.batching import BucketBatchSampler, EncodedDataset, PadCollate
from course_utils.training.callbacks import Callback
from course_utils.training.loop import fit

PAD, VOCAB = 1, 20


class TinyGRU(nn.Module):
    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.config = {"hidden": hidden}
        self.embedding = nn.Embedding(VOCAB, 8, padding_idx=PAD)
        self.rnn = nn.GRU(8, hidden, batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(self.embedding(tokens))
        last = outputs[torch.arange(len(tokens)), lengths - 1]
        return self.fc(self.dropout(last))


class SlowBatches(Callback):
    """Sleep after every batch, so that the process can be killed in the middle of an epoch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_batch_end(self, run) -> None:
        time.sleep(self.seconds)


def loaders() -> tuple[DataLoader, DataLoader]:
    rng = np.random.default_rng(0)
    datasets = []
    for n in (256, 64):
        lengths = rng.integers(3, 12, n)
        seqs = [rng.integers(2, VOCAB, length) for length in lengths]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        datasets.append(EncodedDataset(np.concatenate(seqs), offsets, [int(3 in s) for s in seqs]))
    train_sampler = BucketBatchSampler(datasets[0].lengths, 16, seed=7, num_replicas=1, rank=0)
    return (
        DataLoader(datasets[0], batch_sampler=train_sampler, collate_fn=PadCollate(PAD)),
        DataLoader(datasets[1], batch_size=32, collate_fn=PadCollate(PAD)),
    )


def train(state: Path | None, epochs: int, sleep: float = 0.0, **options):
    """``(model, optimizer, scheduler, history)`` after a seeded, resumable ``fit``."""
    torch.manual_seed(0)
    model = TinyGRU()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    train_loader, valid_loader = loaders()
    options.setdefault("progress", False)
    options["callbacks"] = [*options.get("callbacks", ()), SlowBatches(sleep)]
    history = fit(
        model,
        train_loader,
        valid_loader,
        optimizer,
        nn.BCEWithLogitsLoss(),
        epochs,
        device="cpu",
        seed=3,
        scheduler=scheduler,
        resume=state,
        **options,
    )
    return model, optimizer, scheduler, history


def main(out_dir: Path, epochs: int, sleep: float) -> None:
    torch.set_num_threads(1)
    model, *_, history = train(out_dir / "state.pt", epochs, sleep)
    torch.save(model.state_dict(), out_dir / "final.pt")
    history.save(out_dir / "history.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
