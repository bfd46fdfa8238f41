"""Training and generation cost of nn.LSTM, the minGRU (loops and scans) and a Transformer.

The same measurement as lesson 10's section 6 (``course_utils.show.sequence_speed``), at the
issue's reference size (batch 32, width 256) and written as a Markdown table. Run:

    python bench/modern_rnns.py --threads 2 --out bench/results/modern_rnns_cpu.md
    python bench/modern_rnns.py --device cuda --out bench/results/modern_rnns_cuda.md

The README quotes the table. On 2 CPU cores the blocked scan (about 2 sqrt(T) vectorised
steps, only multiplications and additions) is the fast form; on a GPU, with thousands of
lanes to fill, the log-space scan's single pass may win: the two tables show which.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from course_utils.models.min_rnn_lm import MinRNNLanguageModel
from course_utils.models.transformer_lm import TransformerLanguageModel
from course_utils.show.sequence_speed import (
    SCAN,
    generation_cost,
    sequence_layers,
    time_forward_backward,
)

LENGTHS = (64, 128, 256, 512, 1024, 2048)
VOCAB = 67  # Tiny Shakespeare's characters plus <unk> and <pad>


def training_table(device: torch.device, batch: int, width: int) -> list[str]:
    layers = sequence_layers(width, device=device)
    ratios = ("minGRU, step by step", "minGRU, log-space scan", "nn.LSTM")
    lines = [
        "| T | "
        + " | ".join(layers)
        + " | "
        + " | ".join(f"{r} / blocked scan" for r in ratios)
        + " |",
        "|---:|" + "---:|" * (len(layers) + len(ratios)),
    ]
    for length in LENGTHS:
        x = torch.randn(batch, length, width, device=device)
        ms = {name: 1000 * time_forward_backward(layer, x) for name, layer in layers.items()}
        scan = ms[SCAN]
        lines.append(
            f"| {length} | " + " | ".join(f"{v:,.1f}" for v in ms.values()) + " | "
            + " | ".join(f"{ms[r] / scan:.2f}x" for r in ratios) + " |"
        )  # fmt: skip
    return lines


def generation_table(device: torch.device, width: int) -> list[str]:
    torch.manual_seed(0)
    models = {
        "minGRU LM, 4 blocks": MinRNNLanguageModel(VOCAB, dim=width, num_layers=4),
        "Transformer LM, 4 blocks": TransformerLanguageModel(
            VOCAB, dim=width, num_layers=4, context=max(LENGTHS) + 32
        ),
    }
    lines = ["| model | context | ms / token | KiB carried |", "|---|---:|---:|---:|"]
    for name, model in models.items():
        for cost in generation_cost(model.to(device), LENGTHS, vocab_size=VOCAB):
            lines.append(
                f"| {name} | {cost.context} | {1000 * cost.seconds_per_token:.2f} | "
                f"{cost.carried_bytes / 1024:,.0f} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu, {torch.get_num_threads()} threads"
    )
    head = f"{where}, torch {torch.__version__}, {platform.machine()}"
    lines = [
        f"Forward + backward of one layer, ms (median of 3), batch {args.batch}, width "
        f"{args.width}, {head}",
        "",
        *training_table(device, args.batch, args.width),
        "",
        f"Generation after a context of T tokens (batch 1, width {args.width}), {head}",
        "",
        *generation_table(device, args.width),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
