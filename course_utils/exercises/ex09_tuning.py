"""Exercise 09 (tuning with Optuna): a toy task to tune, and the checks of its two tasks.

The objective check runs the learner's objective with a scripted trial (fixed suggested
values, a pruner that says "prune" when told to) on data whose test split notices being
read, so the message can name the typical mistakes: reading the test split, never
reporting intermediate values, ignoring ``should_prune``, returning something else than
the best validation loss, or a suggested value that changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from course_utils.exercises.feedback import call, exercise_check, fail

__all__ = [
    "ToyData",
    "check_objective",
    "check_suggest_config",
    "majority_data",
    "study_ran",
]

#: What Task 1 must suggest: name → (kind, choices or range, log scale).
SPACE = {
    "cell": ("categorical", ["rnn", "gru"], False),
    "hidden_size": ("categorical", [8, 16, 32], False),
    "lr": ("float", (1e-3, 1e-1), True),
}


@dataclass
class ToyData:
    """A toy sequence task in three splits of ``(inputs [N, T, 1], labels [N])`` tensors."""

    train: tuple[torch.Tensor, torch.Tensor]
    valid: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def majority_data(n_train: int = 512, n_eval: int = 256, length: int = 11, seed: int = 0):
    """Random bit sequences labelled 1 when most bits are 1: a recurrent net must count."""
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        bits = torch.randint(0, 2, (n, length, 1), generator=g).float()
        return bits, (bits.sum(dim=(1, 2)) > length / 2).long()

    return ToyData(split(n_train), split(n_eval), split(n_eval))


class _WatchedData(ToyData):
    """:class:`ToyData` that remembers whether anyone read its test split."""

    def __init__(self, data: ToyData) -> None:
        super().__init__(data.train, data.valid, data.test)
        self.test_reads = 0

    @property
    def test(self):  # type: ignore[override]
        self.test_reads += 1
        return self._test

    @test.setter
    def test(self, value) -> None:
        self._test = value


class _ScriptedTrial:
    """Stands in for ``optuna.Trial``: fixed suggestions, recorded reports, a scripted pruner."""

    def __init__(self, values: dict[str, Any], prune_at: int | None = None) -> None:
        self.values = values
        self.prune_at = prune_at
        self.suggested: dict[str, tuple] = {}
        self.reports: dict[int, float] = {}
        self.number = 0
        self.user_attrs: dict[str, Any] = {}

    def _suggest(self, name: str, record: tuple) -> Any:
        self.suggested[name] = record
        return self.values.get(name, record[1][0])

    def suggest_categorical(self, name: str, choices) -> Any:
        return self._suggest(name, ("categorical", list(choices), False))

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False, step=None):
        return self._suggest(name, ("float", (low, high), log))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1):
        return self._suggest(name, ("int", (low, high), log))

    def report(self, value: float, step: int) -> None:
        self.reports[int(step)] = float(value)

    def should_prune(self) -> bool:
        return self.prune_at is not None and max(self.reports, default=-1) >= self.prune_at

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value


@exercise_check("Task 1", "the search space suggests cell, hidden_size and lr (log scale)")
def check_suggest_config(function: Callable[[Any], dict]) -> None:
    trial = _ScriptedTrial({})
    config = call("suggest_config(trial)", function, trial)
    if not isinstance(config, dict):
        fail(f"suggest_config returned a {type(config).__name__}; return a dict of the values.")
    for name, (kind, values, log) in SPACE.items():
        if name not in trial.suggested:
            fail(f"suggest_config never asks the trial for {name!r}: add a trial.suggest_... call.")
        got_kind, got_values, got_log = trial.suggested[name]
        if (got_kind, got_values) != (kind, values):
            fail(
                f"{name!r} is suggested as {got_kind} {got_values}; the task asks {kind} {values}."
            )
        if got_log != log:
            fail(
                f"{name!r} is suggested on a linear scale: 9 draws in 10 would land above a tenth "
                "of the top of the range. Learning rates are searched on a log scale: "
                "trial.suggest_float('lr', 1e-3, 1e-1, log=True)."
            )
        if config.get(name) != trial.values.get(name, values[0]):
            fail(f"the dict's {name!r} is not the value the trial suggested: return that value.")


_PRUNED = object()


def _run(function: Callable, trial: _ScriptedTrial, data: _WatchedData) -> float | None:
    """The objective's value, or ``None`` when it pruned (any other crash is diagnosed)."""
    import optuna

    def pruned_is_an_answer(*args: Any) -> Any:
        try:
            return function(*args)
        except optuna.TrialPruned:  # the right reaction to should_prune(), not a crash
            return _PRUNED

    value = call("objective(trial, data)", pruned_is_an_answer, trial, data)
    return None if value is _PRUNED else value


@exercise_check(
    "Task 2", "reports each epoch, prunes, returns the best validation loss, uses every value"
)
def check_objective(function: Callable[[Any, ToyData], float], epochs: int) -> None:
    data = _WatchedData(majority_data())
    base = {"cell": "gru", "hidden_size": 16, "lr": 1e-2}
    trial = _ScriptedTrial(base)
    value = _run(function, trial, data)
    if data.test_reads:
        fail(
            "the objective read data.test. A study compares configurations on the validation split "
            "only; the test split is used once, after the study, for the configuration it picked."
        )
    if value is None:
        fail("the objective raised optuna.TrialPruned although the pruner never said prune.")
    if not trial.reports:
        fail(
            "the objective never calls trial.report(valid_loss, epoch): the pruner then has "
            "nothing to compare, and no trial is ever stopped early. Report after every epoch."
        )
    if sorted(trial.reports) != list(range(1, epochs + 1)):
        fail(
            f"trial.report was called for epochs {sorted(trial.reports)}; report once per epoch, "
            f"with step=epoch for epoch = 1..{epochs}."
        )
    if not math.isclose(value, min(trial.reports.values()), rel_tol=1e-6, abs_tol=1e-9):
        fail(
            f"the objective returned {value:.4f}, but the best validation loss it reported is "
            f"{min(trial.reports.values()):.4f}: return the lowest reported validation loss."
        )
    pruned = _ScriptedTrial(base, prune_at=1)
    if _run(function, pruned, _WatchedData(majority_data())) is not None:
        fail(
            "when trial.should_prune() says True after epoch 1 the objective kept going. After "
            "each report: if trial.should_prune(): raise optuna.TrialPruned()."
        )
    changed = {"cell": "rnn", "hidden_size": 8, "lr": 1e-3}
    for name, other in changed.items():
        trial = _ScriptedTrial({**base, name: other})
        again = _run(function, trial, _WatchedData(majority_data()))
        if again is not None and math.isclose(again, value, rel_tol=1e-9, abs_tol=1e-12):
            fail(
                f"the result is the same whether {name} is {base[name]!r} or {other!r}: the "
                f"suggested {name} never reaches the model or the optimiser. Build both from the "
                "values the trial suggested."
            )


def study_ran(study: Any) -> Any:
    """``study`` once it holds a complete trial; else ``NotImplementedError`` (for ``requires``).

    While Task 1 or 2 is a stub, every trial of the study fails; the cells that read the
    study then print "skipped: finish the tasks" instead of an Optuna error.
    """
    import optuna

    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        raise NotImplementedError("the study has no complete trial yet")
    return study
