"""Grow lesson 09's Optuna study of the IMDb recipe, alone or together with other workers.

    python scripts/tune_imdb.py --trials 14                  # SQLite in studies/, as lesson 09
    python scripts/tune_imdb.py --storage journal:studies/imdb.log --trials 16 &   # several workers
    python scripts/tune_imdb.py --storage journal:studies/imdb.log --trials 16 &   # on one machine
    python scripts/tune_imdb.py --storage postgresql+psycopg://USER:PASSWORD@HOST/DB --trials 40

Each worker stops once the study holds ``--trials`` finished (complete or pruned) trials,
whoever ran them; start one per machine (or per core) against the same storage. A worker
killed mid-trial loses only that trial, and running the command again tops the study up.
Lesson 09 reads the same study (same name, same default storage). Finishes by printing
the best configuration as a ``scripts/train_imdb.py`` command.
"""

from __future__ import annotations

import argparse

import optuna

from course_utils import config
from course_utils.recipes.imdb_sentiment import SentimentRecipe, load_sentiment_data
from course_utils.tuning.sentiment_study import (
    Fidelity,
    default_study_name,
    make_objective,
    open_sentiment_study,
    print_trial,
    recipe_of,
)
from course_utils.tuning.studies import finished_trials, optimize_until


def _arguments() -> argparse.Namespace:
    fidelity = Fidelity.for_mode()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, required=True, help="the study's target count")
    parser.add_argument("--storage", help="database URL or journal:PATH (default: studies/NAME.db)")
    parser.add_argument("--name", default=default_study_name(), help="study name")
    parser.add_argument(
        "--seed",
        type=int,
        help="sampler seed; leave it out when several workers share a study (each gets its own)",
    )
    parser.add_argument("--train-fraction", type=float, default=fidelity.train_fraction)
    parser.add_argument("--epochs", type=int, default=fidelity.epochs, help="epochs per trial")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = SentimentRecipe().for_mode()
    fidelity = Fidelity(train_fraction=args.train_fraction, epochs=args.epochs)
    study = open_sentiment_study(
        base, fidelity, name=args.name, storage=args.storage, seed=args.seed
    )
    print(config.describe())
    print(f"study {study.study_name!r}: {len(finished_trials(study))} of {args.trials} trials done")
    data = load_sentiment_data(base)
    objective = make_objective(data, base, fidelity)
    ran = optimize_until(study, objective, args.trials, callbacks=[print_trial])
    best = study.best_trial
    print(f"ran {ran} trials here; best: trial {best.number}, valid {best.value:.2%}")
    command = " ".join(["python scripts/train_imdb.py", *recipe_of(best.params, base).cli_args()])
    print("retrain it on all training reviews and test it once with:\n  " + command)


if __name__ == "__main__":
    main()
