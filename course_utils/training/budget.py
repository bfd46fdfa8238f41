"""Training on a wall-clock budget: the same minutes for every model of a race.

Comparing architectures at equal *epochs* favours the slow one, which spends more
compute per epoch; at equal *parameters* it ignores what each parameter costs. Lesson
10 gives every model the same minutes on the same machine, which is what a learner with
a laptop actually has. Done well, that needs three things:

* a learning-rate schedule that ends when the budget ends (a schedule cut off half-way
  never anneals): :func:`one_cycle` is driven by the share of the training time spent,
  not by a step count guessed in advance, so a busy or a fast machine still gets a
  whole schedule;
* validation at many points along the way, not once per pass over the text, so that
  loss against time can be drawn: :class:`TimedRounds` cuts an endless stream of
  batches into rounds of equal training time, and ``fit`` validates after each;
* the validations counted in the budget: :func:`plan_budget` times one first, and
  leaves the rest to training.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from course_utils.training.callbacks import BatchScheduler, Callback
from course_utils.training.history import History
from course_utils.training.loop import evaluate, fit
from course_utils.training.tasks import Task

__all__ = ["BudgetPlan", "TimedRounds", "fit_on_budget", "one_cycle", "plan_budget"]

#: The share of the budget the plan leaves free, for the last step of each round.
SLACK = 0.03


def one_cycle(progress: float, warmup: float = 0.05, final_fraction: float = 1 / 50) -> float:
    """The learning rate's multiplier at ``progress`` (0 to 1) of the training time.

    A linear warm-up over the first ``warmup`` share, then a cosine from 1 down to
    ``final_fraction`` (lesson 06's one-cycle shape, measured in time instead of steps).
    """
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup:
        return max(progress / warmup, 1e-3)
    cosine = 0.5 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup)))
    return final_fraction + (1 - final_fraction) * cosine


class TimedRounds(Callback):
    """Batches from an endless pass over ``loader``, ``round_seconds`` of training at a time.

    Each round is one "epoch" for ``fit`` (one validation): it yields batches until the
    time since the round began, the caller's training steps included, reaches
    ``round_seconds``. The next round continues where the last one stopped; when
    ``loader`` runs out, a new pass starts (with ``loader.set_epoch(pass)`` when it has
    one, so shuffled windows are reshuffled). :attr:`progress` is the share of all
    ``rounds`` spent, which drives the learning-rate schedule. Given to ``fit`` as a
    callback too, its clock travels with a resumed run (which restarts its pass over the
    loader: a time-budgeted run resumes close to, not exactly where, it stopped).
    """

    def __init__(self, loader: Iterable, round_seconds: float, rounds: int) -> None:
        if round_seconds <= 0 or rounds < 1:
            raise ValueError(
                f"need round_seconds > 0 and rounds >= 1, got {round_seconds}, {rounds}."
            )
        self.loader, self.round_seconds, self.rounds = loader, round_seconds, rounds
        self.passes = self.steps = 0
        self.trained_seconds = 0.0
        self._round_start: float | None = None
        self._batches: Iterator | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"passes": self.passes, "steps": self.steps, "seconds": self.trained_seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.passes, self.steps = state["passes"], state["steps"]
        self.trained_seconds = state["seconds"]

    @property
    def progress(self) -> float:
        running = 0.0 if self._round_start is None else time.perf_counter() - self._round_start
        return (self.trained_seconds + running) / (self.round_seconds * self.rounds)

    def _next_batch(self) -> Any:
        for _ in range(2):
            if self._batches is None:
                if hasattr(self.loader, "set_epoch"):
                    self.loader.set_epoch(self.passes)
                self.passes += 1
                self._batches = iter(self.loader)
            try:
                return next(self._batches)
            except StopIteration:
                self._batches = None
        raise ValueError("The loader yields no batches: nothing to train on.")

    def __iter__(self) -> Iterator[Any]:
        self._round_start = start = time.perf_counter()
        try:
            while time.perf_counter() - start < self.round_seconds:
                self.steps += 1
                yield self._next_batch()
        finally:
            self.trained_seconds += time.perf_counter() - start
            self._round_start = None


@dataclass(frozen=True)
class BudgetPlan:
    """How a budget is spent: ``rounds`` of ``round_seconds`` of training, each then validated."""

    minutes: float
    valid_seconds: float
    rounds: int

    @property
    def round_seconds(self) -> float:
        return (self.minutes * 60 * (1 - SLACK) - self.rounds * self.valid_seconds) / self.rounds


def _timed_pass(model: nn.Module, loader: Iterable, loss_fn: Callable, task: Task) -> float:
    """Seconds one validation pass over ``loader`` takes."""
    start = time.perf_counter()
    evaluate(model, loader, loss_fn, task=task, progress=False)
    return time.perf_counter() - start


def plan_budget(
    model: nn.Module,
    valid_loader: Iterable,
    loss_fn: Callable,
    *,
    task: Task,
    minutes: float,
    rounds: int = 12,
) -> BudgetPlan:
    """Time a validation pass (on a copy of ``model``) and split the budget into rounds.

    One batch is evaluated first, untimed: the first call of a model pays one-off costs
    (memory allocation, kernel selection) that later validations do not. Then two whole
    passes are timed and the faster one is kept. Every round is planned from this one
    number, so a single pass slowed by anything else (another job on the machine, a cost
    the first batch did not cover) would shorten all of them: a race once left its LSTM
    8.4 of its 15 minutes after a planned pass of 36 s, where its later ones took seconds.
    """
    if minutes <= 0 or rounds < 1:
        raise ValueError(f"need minutes > 0 and rounds >= 1, got {minutes} and {rounds}.")
    probe = copy.deepcopy(model)
    evaluate(probe, [next(iter(valid_loader))], loss_fn, task=task, progress=False)
    plan = BudgetPlan(
        minutes, min(_timed_pass(probe, valid_loader, loss_fn, task) for _ in range(2)), rounds
    )
    if plan.round_seconds <= 0:
        raise ValueError(
            f"{minutes} min cannot hold {rounds} validations of {plan.valid_seconds:.1f} s each: "
            "give more minutes, fewer rounds or a smaller validation set."
        )
    return plan


def fit_on_budget(
    model: nn.Module,
    train_loader: Iterable,
    valid_loader: Iterable,
    loss_fn: Callable,
    plan: BudgetPlan,
    *,
    task: Task,
    lr: float,
    weight_decay: float = 0.0,
    name: str | None = None,
    seed: int = 0,
    resume: str | os.PathLike | None = None,
) -> tuple[History, int]:
    """Train for ``plan``'s minutes; return the history and the number of steps taken.

    AdamW with the :func:`one_cycle` schedule over the training time, gradients clipped
    to norm 1; the run ends with the weights of its best validation round. Each round
    stops itself when its time is up, so the run ends on time without ``fit``'s
    ``TimeBudget`` callback (whose estimate from the longest epoch would count the first
    round's warm-up against the last one, and cut the schedule short). ``resume`` is
    ``fit``'s: a killed run continues from its last validation with the time it had left.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    rounds = TimedRounds(train_loader, plan.round_seconds, plan.rounds)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: one_cycle(rounds.progress))
    history = fit(
        model,
        rounds,
        valid_loader,
        optimizer,
        loss_fn,
        plan.rounds,
        task=task,
        clip_grad_norm=1.0,
        monitor="valid_loss",
        callbacks=[BatchScheduler(scheduler), rounds],
        resume=resume,
        name=name,
        seed=seed,
    )
    return history, rounds.steps
