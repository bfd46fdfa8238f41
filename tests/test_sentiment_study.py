"""Lesson 09's study: the objective never sees the test split, trials are logged, results kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from course_utils.recipes.imdb_sentiment import SentimentRecipe, load_sentiment_data
from course_utils.tuning import studies as tuning
from course_utils.tuning.sentiment_study import (
    TUNED,
    Fidelity,
    make_objective,
    open_sentiment_study,
    print_trial,
    recipe_of,
)

ROOT = Path(__file__).resolve().parents[1]


class _Untouchable:
    """Stands in for the test loader: any use fails the test."""

    def __iter__(self):
        raise AssertionError("the tuning objective looked at the test split")

    def __len__(self):
        raise AssertionError("the tuning objective looked at the test split")


@pytest.fixture(scope="module")
def smoke_data():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_MODE", "smoke")
        base = SentimentRecipe().for_mode()
        data = load_sentiment_data(base, progress=False)
        data.loaders.test = _Untouchable()
        yield base, data


def test_a_study_starts_from_lesson_05_and_trains_on_validation_only(smoke_data, tmp_path, capsys):
    base, data = smoke_data
    fidelity = Fidelity(train_fraction=0.5, epochs=2)
    study = open_sentiment_study(base, fidelity, name="smoke", storage=f"sqlite:///{tmp_path}/s.db")
    tuning.optimize_until(study, make_objective(data, base, fidelity), 3, callbacks=[print_trial])
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert {k: trials[0].params[k] for k in TUNED} == {k: getattr(base, k) for k in TUNED}
    assert all(sorted(t.intermediate_values) == [1, 2] for t in trials)  # one report per epoch
    assert all(0.0 < t.value <= 1.0 for t in trials)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("trial   0 | lstm 16×1")
    assert recipe_of(study.best_params, base).epochs == base.epochs  # retrained at full length


def test_a_study_refuses_another_fidelity(smoke_data, tmp_path):
    base, _ = smoke_data
    storage = f"sqlite:///{tmp_path}/s.db"
    open_sentiment_study(base, Fidelity(0.5, 2), name="x", storage=storage)
    with pytest.raises(ValueError, match="fidelity"):
        open_sentiment_study(base, Fidelity(1.0, 2), name="x", storage=storage)


def test_the_test_split_is_used_once_per_configuration(tmp_path):
    study = tuning.open_study("guard", storage=f"sqlite:///{tmp_path}/g.db")
    calls = []

    def run():
        calls.append(1)
        return {"acc": 0.9, "n": 100}

    first = tuning.once_on_test_set(study, "lstm-128", run)
    reopened = tuning.open_study("guard", storage=f"sqlite:///{tmp_path}/g.db")
    second = tuning.once_on_test_set(reopened, "lstm-128", run)
    assert calls == [1]
    assert first == {"acc": 0.9, "n": 100, "recorded": False}
    assert second == {"acc": 0.9, "n": 100, "recorded": True}


@pytest.mark.slow
def test_the_tuning_script_grows_the_study_and_prints_the_command_to_retrain(tmp_path):
    storage = f"sqlite:///{tmp_path}/cli.db"
    env = {**os.environ, "COURSE_MODE": "smoke"}
    command = [sys.executable, str(ROOT / "scripts" / "tune_imdb.py"), "--storage", storage,
               "--name", "cli", "--epochs", "1", "--seed", "3"]  # fmt: skip
    for target in (2, 3):
        done = subprocess.run(
            [*command, "--trials", str(target)], env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    assert f"{2} of 3 trials done" in done.stdout and "ran 1 trials here" in done.stdout
    assert "python scripts/train_imdb.py" in done.stdout
    assert len(optuna.load_study(study_name="cli", storage=storage).trials) == 3
