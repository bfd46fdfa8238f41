"""Hyperparameter studies that lose nothing and share work between processes (Optuna).

A study is a list of trials kept in a database, not in the notebook's memory:

* by default an SQLite file in ``studies/`` (git-ignored), opened with ``load_if_exists``,
  so running the same cell or script again adds trials to the study instead of starting
  over, and a crash loses at most the trial that was running;
* a process killed mid-trial leaves its trial RUNNING. Each worker sends a heartbeat; a
  trial whose heartbeat stopped is marked FAIL by the next worker (never counted as
  complete), so the study still reaches its target;
* several workers reach one target together: each stops once the study holds ``n_trials``
  finished trials (complete or pruned), whoever ran them. On one machine they can share
  the SQLite file or a journal file (``journal:PATH``); across machines, a PostgreSQL URL
  (``postgresql+psycopg://user@host/db``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from course_utils import config
from course_utils.progress import tqdm

__all__ = [
    "FINISHED",
    "HEARTBEAT_SECONDS",
    "finished_trials",
    "once_on_test_set",
    "open_study",
    "optimize_until",
    "resolve_storage",
    "studies_dir",
]

#: Trials that count toward a study's target: they ran to their end, or were pruned by design.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: How often a running trial says it is alive; after twice as long without, it is FAIL.
HEARTBEAT_SECONDS = 5


def studies_dir() -> Path:
    """Where studies live by default: ``studies/`` in the course (``COURSE_STUDIES_DIR``)."""
    env = os.environ.get("COURSE_STUDIES_DIR")
    return Path(env).expanduser() if env else config.REPO_ROOT / "studies"


def resolve_storage(
    name: str, storage: str | None = None, *, heartbeat_seconds: int = HEARTBEAT_SECONDS
) -> BaseStorage:
    """The storage for study ``name``: a URL, ``journal:PATH``, or by default SQLite in studies/.

    Databases get a heartbeat, so a trial whose process died is marked FAIL instead of
    staying RUNNING forever. A journal file (append-only, safe for several processes on
    one machine, and on network file systems where SQLite's locking is not) has no
    heartbeat in Optuna: a killed worker's trial stays RUNNING there and is not counted.
    """
    if storage is None:
        folder = studies_dir()
        folder.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{folder / name}.db"
    if storage.startswith("journal:"):
        path = Path(storage.removeprefix("journal:")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in storage:
        raise ValueError(
            f"storage {storage!r} is not a database URL or journal:PATH. Use for example "
            "sqlite:///studies/imdb.db, journal:studies/imdb.log or "
            "postgresql+psycopg://user:password@host/dbname."
        )
    with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna's terms
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(
            storage,
            heartbeat_interval=heartbeat_seconds,
            grace_period=2 * heartbeat_seconds,
        )


def open_study(
    name: str,
    *,
    storage: str | None = None,
    seed: int | None = 0,
    direction: str = "maximize",
    pruner: optuna.pruners.BasePruner | None = None,
    heartbeat_seconds: int = HEARTBEAT_SECONDS,
    random_trials: int = 10,
) -> optuna.Study:
    """Create study ``name``, or load it with every trial so far if it exists.

    The TPE sampler is seeded, so one worker running a study from scratch proposes the
    same configurations every time; give workers that share a study different seeds
    (or ``None``, random), or they propose the same first configurations. TPE draws its
    first ``random_trials`` proposals at random, before it models anything. The default
    pruner stops a trial whose intermediate value is below the median of earlier trials
    at the same epoch, once five trials have finished and after the first epoch.
    """
    return optuna.create_study(
        study_name=name,
        storage=resolve_storage(name, storage, heartbeat_seconds=heartbeat_seconds),
        load_if_exists=True,
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=random_trials),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that count toward the target: complete or pruned."""
    return study.get_trials(deepcopy=False, states=FINISHED)


def optimize_until(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    *,
    callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = (),
    progress: bool = False,
) -> int:
    """Run trials until the study holds ``n_trials`` finished ones; return how many ran here.

    Safe to call again after a crash (it tops the study up) and from several workers at
    once: each stops when the shared count is reached. Workers that start their last
    trials at the same moment can finish a few more than ``n_trials`` (at most one each).
    ``callbacks`` run after each trial of this worker (for example to print a line);
    ``progress`` shows a bar of the study's finished trials against ``n_trials``.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    before = {t.number for t in study.get_trials(deepcopy=False)}
    if len(finished_trials(study)) >= n_trials:
        return 0
    bar = tqdm(
        total=n_trials,
        initial=len(finished_trials(study)),
        desc=f"study {study.study_name}",
        unit="trial",
        disable=not progress,
    )

    def advance(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        bar.n = min(n_trials, len(finished_trials(study)))
        bar.refresh()

    try:
        study.optimize(
            objective,
            callbacks=[MaxTrialsCallback(n_trials, states=FINISHED), advance, *callbacks],
            gc_after_trial=True,
        )
    finally:
        bar.close()
    return len({t.number for t in study.get_trials(deepcopy=False)} - before)


def once_on_test_set(
    study: optuna.Study, key: str, run: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The test result of configuration ``key``: measured by ``run()`` the first time only.

    The study keeps the result (``run`` must return plain numbers and strings), so running
    the notebook or script again reports the recorded number instead of looking at the
    test split a second time: it is touched exactly once per reported configuration, and
    a configuration cannot be picked by its test score.
    """
    attribute = f"test:{key}"
    recorded = study.user_attrs.get(attribute)
    if recorded is not None:
        return {**recorded, "recorded": True}
    result = dict(run())
    study.set_user_attr(attribute, result)
    return {**result, "recorded": False}
