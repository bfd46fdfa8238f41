"""Train lesson 05's IMDb sentiment model from the command line, on one process or many.

    python scripts/train_imdb.py --epochs 4
    torchrun --nproc_per_node=2 scripts/train_imdb.py --epochs 4     # 2 processes, gloo on CPU

Under torchrun every process trains on its own shard of the bucketed batches and
DistributedDataParallel averages the gradients; metrics are summed over processes
and only rank 0 prints and writes the checkpoint. ``COURSE_MODE=smoke`` shrinks the data.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from course_utils import config, distributed
from course_utils.data.imdb import imdb_dataloaders, load_imdb
from course_utils.models import RecurrentClassifier
from course_utils.train import evaluate, fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=config.pick(full=4, smoke=1))
    parser.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden", type=int, default=config.pick(full=128, smoke=16))
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument(
        "--pooling", default="attention", help="e.g. last, max, mean, attention, max+mean"
    )
    parser.add_argument("--max-len", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--checkpoint", default=str(config.checkpoint_dir() / "train_imdb.pt"), help="best weights"
    )
    args = parser.parse_args()

    distributed.init_distributed()
    main_process = distributed.is_main_process()
    if main_process:
        print(config.describe(), f"world_size={distributed.world_size()}")
    loaders = imdb_dataloaders(
        load_imdb(seed=args.seed),
        batch_size=args.batch_size,
        max_len=args.max_len,
        seed=args.seed,
        progress=main_process,
    )
    config.seed_everything(args.seed)
    model = RecurrentClassifier(
        len(loaders.vocab),
        100,
        args.hidden,
        1,
        cell=args.cell,
        num_layers=args.layers,
        bidirectional=True,
        dropout=0.4,
        padding_idx=loaders.vocab.pad_index,
        pooling=args.pooling.split("+"),
        max_len=args.max_len,
    )
    vocab_path = loaders.vocab.save(config.checkpoint_dir() / "train_imdb_vocab.json")
    loss_fn = nn.BCEWithLogitsLoss()
    history = fit(
        model,
        loaders.train,
        loaders.valid,
        optimizer=torch.optim.Adam(model.parameters(), lr=args.lr),
        loss_fn=loss_fn,
        epochs=args.epochs,
        clip_grad_norm=1.0,
        early_stopping_patience=2,
        checkpoint_path=args.checkpoint,
        vocab_path=vocab_path,
        seed=args.seed,
        progress=main_process,
        name="train_imdb",
    )
    test = evaluate(model, loaders.test, loss_fn)  # summed over all processes
    if main_process:
        print(
            f"best valid acc {history.best_valid_acc:.2%} (epoch {history.best_epoch}); "
            f"test acc {test['acc']:.2%} on {test['n']} reviews; checkpoint {args.checkpoint}"
        )


if __name__ == "__main__":
    main()
