"""Training throughput of the recurrent classifier: packed vs masked length handling.

Batches have the lengths of real IMDb training reviews (truncated to --max-len) and
random token ids; each configuration times forward + backward + Adam step. Run:

    python bench/throughput.py --threads 2 --out bench/results/throughput_cpu.md

The README quotes the table this prints. Outputs of the two modes are compared on
one batch for every configuration (same weights), so speed never hides a wrong answer.
"""

from __future__ import annotations

import argparse
import itertools
import platform
from pathlib import Path

import torch

from course_utils import config
from course_utils.datasets.imdb import load_imdb
from course_utils.models.classifier import RecurrentClassifier
from course_utils.show.throughput import make_batches, padded_positions, training_throughput
from course_utils.text.tokenizer import Tokenizer, tokenize_corpus


def build(cell: str, layers: int, hidden: int, mode: str, vocab_size: int) -> RecurrentClassifier:
    torch.manual_seed(0)
    return RecurrentClassifier(
        vocab_size,
        100,
        hidden,
        1,
        cell=cell,
        num_layers=layers,
        bidirectional=True,
        padding_idx=1,
        lengths=mode,
    )


def max_output_difference(cell: str, layers: int, hidden: int, batch, vocab_size: int) -> float:
    tokens, lengths, _ = batch
    outputs = []
    for mode in ("packed", "masked"):
        model = build(cell, layers, hidden, mode, vocab_size).eval()
        with torch.no_grad():
            outputs.append(model(tokens, lengths))
    return float((outputs[0] - outputs[1]).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=4, help="timed batches per configuration")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=400)
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--layers", default="1,2")
    parser.add_argument("--hidden", default="128,256")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: best available)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = config.get_device(args.device)
    imdb = load_imdb()
    lengths = tokenize_corpus(imdb.train.texts, Tokenizer(), desc="tokenising").lengths
    vocab_size = 25_002

    header = (
        f"Training throughput, reviews/s (forward + backward + Adam), bidirectional, "
        f"batch {args.batch_size}, IMDb lengths truncated to {args.max_len}, "
        f"{device.type}, {args.threads} threads, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )
    rows = [
        "| cell | layers | hidden | batches | padding | packed | masked | masked/packed "
        "| max abs diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    print(header)
    print("\n".join(rows), flush=True)
    for cell, layers, hidden, bucketed in itertools.product(
        args.cells.split(","),
        [int(x) for x in args.layers.split(",")],
        [int(x) for x in args.hidden.split(",")],
        (True, False),
    ):
        batches = make_batches(
            lengths,
            batch_size=args.batch_size,
            n_batches=args.batches + 1,
            max_len=args.max_len,
            vocab_size=vocab_size,
            bucketed=bucketed,
            seed=0,
        )
        speed = {
            mode: training_throughput(
                build(cell, layers, hidden, mode, vocab_size), batches, device=device
            )
            for mode in ("packed", "masked")
        }
        diff = max_output_difference(cell, layers, hidden, batches[0], vocab_size)
        row = (
            f"| {cell} | {layers} | {hidden} | {'bucketed' if bucketed else 'random'} "
            f"| {padded_positions(batches):.0%} | {speed['packed']:.1f} | {speed['masked']:.1f} "
            f"| {speed['masked'] / speed['packed']:.1f}x | {diff:.1e} |"
        )
        rows.append(row)
        print(row, flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(header + "\n\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
