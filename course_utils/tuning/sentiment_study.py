"""Tuning lesson 05's recipe with Optuna: the search space, the objective and a line per trial.

Lesson 09 and ``scripts/tune_imdb.py`` run the same objective, so a study can be grown
from the notebook, from the command line, or by several workers at once. A trial:

1. asks the sampler for a recipe (:func:`suggest_recipe`);
2. trains it at a lower *fidelity* (:class:`Fidelity`: a fraction of the training
   reviews, few epochs), reporting validation accuracy after every epoch so the
   pruner can stop it early (:class:`course_utils.training.callbacks.ReportToTrial`);
3. returns its best validation accuracy. It never sees the test split:
   :meth:`~course_utils.recipes.imdb_sentiment.SentimentData.tuning_loaders` has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import optuna

from course_utils import config
from course_utils.recipes.imdb_sentiment import (
    EMBEDDINGS,
    SentimentData,
    SentimentRecipe,
    build_classifier,
    train_recipe,
)
from course_utils.training.callbacks import ReportToTrial
from course_utils.tuning.studies import open_study

__all__ = [
    "Fidelity",
    "default_study_name",
    "describe_params",
    "make_objective",
    "open_sentiment_study",
    "print_trial",
    "recipe_of",
    "suggest_recipe",
]

POOLING_CHOICES = ("last", "max", "mean", "attention", "max+mean")
#: TPE's random start: about a third of lesson 09's 14 trials, so most proposals are modelled.
RANDOM_TRIALS = 5
#: The recipe's choices a study tunes; the rest (max_len, epochs, seed...) stay as given.
TUNED = ("cell", "hidden_dim", "num_layers", "dropout", "lr", "batch_size", "pooling", "embeddings")


@dataclass(frozen=True)
class Fidelity:
    """How cheaply a trial is run: a seeded fraction of the training reviews, few epochs.

    Low fidelity ranks configurations well enough when it preserves their order; the
    lesson measures that (early epochs against the final one, trials against the full
    retrain) instead of assuming it.
    """

    train_fraction: float = 0.2
    epochs: int = 2

    @classmethod
    def for_mode(cls) -> Fidelity:
        """Lesson 09's fidelity: 20% of the reviews for 2 epochs; all 200 smoke reviews for 2."""
        return cls(train_fraction=config.pick(0.2, 1.0), epochs=2)


def suggest_recipe(trial: optuna.Trial, base: SentimentRecipe) -> SentimentRecipe:
    """The recipe this trial tries: ``base`` with every tuned choice drawn from the space.

    Hidden sizes are small in smoke mode. Learning rates are drawn on a log scale,
    because 1e-3 and 2e-3 differ as much as 1e-2 and 2e-2 do.
    """
    return replace(
        base,
        cell=trial.suggest_categorical("cell", ["lstm", "gru"]),
        hidden_dim=trial.suggest_categorical("hidden_dim", config.pick([64, 128, 192], [8, 16])),
        num_layers=trial.suggest_int("num_layers", 1, 2),
        dropout=trial.suggest_float("dropout", 0.1, 0.6),
        lr=trial.suggest_float("lr", 5e-4, 1e-2, log=True),
        batch_size=trial.suggest_categorical("batch_size", [32, 64, 128]),
        pooling=trial.suggest_categorical("pooling", list(POOLING_CHOICES)),
        embeddings=trial.suggest_categorical("embeddings", list(EMBEDDINGS)),
    )


def default_study_name() -> str:
    """``imdb-sentiment``, or ``imdb-sentiment-smoke``: smoke trials never mix with real ones."""
    return config.pick("imdb-sentiment", "imdb-sentiment-smoke")


def open_sentiment_study(
    base: SentimentRecipe,
    fidelity: Fidelity,
    *,
    name: str | None = None,
    storage: str | None = None,
    seed: int | None = 0,
) -> optuna.Study:
    """Open (or create) a study of ``base``'s recipe at ``fidelity``; see :func:`open_study`.

    A new study records its fidelity and gets ``base`` (lesson 05's hand-tuned choices)
    as its first trial, so the table shows where hand tuning lands at the same cost.
    Opening it later with another fidelity is refused: its trials would not compare.
    """
    study = open_study(
        name or default_study_name(), storage=storage, seed=seed, random_trials=RANDOM_TRIALS
    )
    wanted = asdict(fidelity)
    recorded = study.user_attrs.get("fidelity")
    if recorded is None:
        study.set_user_attr("fidelity", wanted)
        if not study.get_trials(deepcopy=False):
            study.enqueue_trial({choice: getattr(base, choice) for choice in TUNED})
    elif recorded != wanted:
        raise ValueError(
            f"Study {study.study_name!r} was run at fidelity {recorded}, not {wanted}: their "
            "trials would not compare. Use the same fidelity, or give the study another name."
        )
    return study


def recipe_of(params: dict, base: SentimentRecipe) -> SentimentRecipe:
    """The full recipe of a trial's parameters (``study.best_params``), on top of ``base``."""
    return replace(base, **params)


def make_objective(
    data: SentimentData, base: SentimentRecipe, fidelity: Fidelity
) -> Callable[[optuna.Trial], float]:
    """The objective: train the suggested recipe at ``fidelity``, return its best valid accuracy."""

    def objective(trial: optuna.Trial) -> float:
        recipe = replace(suggest_recipe(trial, base), epochs=fidelity.epochs)
        train, valid = data.tuning_loaders(
            recipe.batch_size, train_fraction=fidelity.train_fraction
        )
        model = build_classifier(recipe, data.vocab, data.initial_embeddings(recipe))
        history = train_recipe(
            recipe,
            model,
            train,
            valid,
            callbacks=[ReportToTrial(trial)],
            name=f"trial {trial.number}",
            progress=False,
        )
        trial.set_user_attr("epoch_seconds", history.epoch_seconds)
        return history.best_valid_acc

    return objective


def describe_params(params: dict) -> str:
    """A trial's choices in one short line: ``gru 128×2, dropout 0.32, lr 2.1e-03, ...``."""
    p = params
    return (
        f"{p['cell']} {p['hidden_dim']}×{p['num_layers']}, dropout {p['dropout']:.2f}, "
        f"lr {p['lr']:.1e}, batch {p['batch_size']}, {p['pooling']}, {p['embeddings']}"
    )


def print_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """A study callback: one line per finished trial, with what it tried and how it ended."""
    values = trial.intermediate_values
    if trial.state == optuna.trial.TrialState.COMPLETE:
        outcome = f"valid {trial.value:.1%}"
    elif values:
        outcome = f"pruned after epoch {max(values)} ({values[max(values)]:.1%})"
    else:
        outcome = trial.state.name.lower()
    seconds = trial.duration.total_seconds() if trial.duration else float("nan")
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best = max((t.value for t in complete), default=float("nan"))
    print(
        f"trial {trial.number:3d} | {describe_params(trial.params)} | {outcome} | "
        f"{seconds:.0f} s | best so far {best:.1%}"
    )
