"""Train lesson 05's IMDb sentiment model, or any recipe, on one process or many.

    python scripts/train_imdb.py                                  # lesson 05's recipe and number
    python scripts/train_imdb.py --cell gru --hidden-dim 192     # another recipe (lesson 09's best)
    torchrun --nproc_per_node=2 scripts/train_imdb.py             # 2 processes, gloo on CPU

Every choice of the recipe (``SentimentRecipe`` in ``course_utils.recipes.imdb_sentiment``) is
an option, with lesson 05's values as defaults. Under torchrun every process trains on its
own shard of the bucketed batches and DistributedDataParallel averages the gradients; metrics
are summed over processes and only rank 0 prints and writes files. ``COURSE_MODE=smoke``
shrinks the data and the model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from course_utils import config, distributed
from course_utils.files import atomic_write
from course_utils.recipes.imdb_sentiment import (
    LOSS,
    SentimentRecipe,
    build_classifier,
    load_sentiment_data,
    train_recipe,
)
from course_utils.training.loop import evaluate


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    SentimentRecipe.add_arguments(parser)
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=1.0,
        help="train on this seeded fraction of the 17,500 training reviews (timing runs)",
    )
    parser.add_argument("--no-test", action="store_true", help="do not touch the test split")
    parser.add_argument(
        "--checkpoint", default=str(config.checkpoint_dir() / "train_imdb.pt"), help="best weights"
    )
    parser.add_argument("--metrics-json", help="also write the results to this JSON file")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    recipe = SentimentRecipe.from_arguments(args)
    distributed.init_distributed()
    main_process = distributed.is_main_process()
    if main_process:
        print(config.describe(), f"world_size={distributed.world_size()}")
        print("recipe:", " ".join(recipe.cli_args()) or "lesson 05's defaults")
    data = load_sentiment_data(recipe, progress=main_process)
    if args.train_fraction < 1.0:
        train, valid = data.tuning_loaders(recipe.batch_size, train_fraction=args.train_fraction)
    else:
        train, valid = data.loaders.train, data.loaders.valid
    embeddings = data.initial_embeddings(recipe)
    model = build_classifier(recipe, data.vocab, embeddings)
    vocab_path = data.vocab.save(config.checkpoint_dir() / "train_imdb_vocab.json")
    started = time.perf_counter()
    history = train_recipe(
        recipe,
        model,
        train,
        valid,
        checkpoint_path=args.checkpoint,
        vocab_path=vocab_path,
        progress=main_process,
        name="train_imdb",
    )
    results = {
        "recipe": recipe.params(),
        "world_size": distributed.world_size(),
        "threads": torch.get_num_threads(),
        "train_fraction": args.train_fraction,
        "best_valid_acc": history.best_valid_acc,
        "best_epoch": history.best_epoch,
        "epochs": history.epochs,
        "train_seconds": sum(history.train_seconds),
        "fit_seconds": time.perf_counter() - started,
    }
    if not args.no_test:
        results["test"] = evaluate(model, data.loaders.test, LOSS)  # summed over all processes
    if main_process:
        test = results.get("test")
        print(
            f"best valid acc {history.best_valid_acc:.2%} (epoch {history.best_epoch}); "
            + (f"test acc {test['acc']:.2%} on {test['n']} reviews; " if test else "")
            + f"training {results['train_seconds']:.1f} s; "
            + f"checkpoint {config.shown_path(args.checkpoint)}"
        )
        if args.metrics_json:
            with atomic_write(Path(args.metrics_json), "w") as out:
                out.write(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
