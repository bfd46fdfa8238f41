"""Exercise 09's checks: right answers pass, each typical mistake gets its own diagnosis."""

from __future__ import annotations

import optuna
import pytest
import torch
from torch import nn

from course_utils.exercises import ExerciseCheckError
from course_utils.exercises.ex09_tuning import check_objective, check_suggest_config, study_ran

EPOCHS = 3


def good_space(trial):
    return {
        "cell": trial.suggest_categorical("cell", ["rnn", "gru"]),
        "hidden_size": trial.suggest_categorical("hidden_size", [8, 16, 32]),
        "lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True),
    }


def build(params):
    torch.manual_seed(0)
    rnn = {"rnn": nn.RNN, "gru": nn.GRU}[params["cell"]](1, params["hidden_size"], batch_first=True)
    return nn.ModuleDict({"rnn": rnn, "out": nn.Linear(params["hidden_size"], 2)})


def loss_of(model, split):
    inputs, labels = split
    _, last = model["rnn"](inputs)
    return nn.functional.cross_entropy(model["out"](last[-1]), labels)


def make_objective(*, split="valid", report=True, prune=True, use_lr=True, returns="best"):
    def objective(trial, data):
        params = good_space(trial)
        model = build(params)
        optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"] if use_lr else 1e-2)
        losses = []
        for epoch in range(1, EPOCHS + 1):
            optimizer.zero_grad()
            loss_of(model, data.train).backward()
            optimizer.step()
            with torch.no_grad():
                losses.append(loss_of(model, getattr(data, split)).item())
            if report:
                trial.report(losses[-1], epoch)
            if prune and trial.should_prune():
                raise optuna.TrialPruned()
        return min(losses) if returns == "best" else losses[0] + 1.0

    return objective


def rejects(check, answer, fragment, **kwargs):
    with pytest.raises(ExerciseCheckError) as info:
        check(answer, **kwargs)
    assert fragment in str(info.value), str(info.value)


def test_the_search_space_check(capsys):
    check_suggest_config(good_space)
    assert capsys.readouterr().out.startswith("✓ Task 1")

    def linear_lr(trial):
        return {**good_space(trial), "lr": trial.suggest_float("lr", 1e-3, 1e-1)}

    def no_cell(trial):
        return {"hidden_size": trial.suggest_categorical("hidden_size", [8, 16, 32]),
                "lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True)}  # fmt: skip

    def stub(trial):
        raise NotImplementedError("Hint: read the task.")

    rejects(check_suggest_config, linear_lr, "log scale")
    rejects(check_suggest_config, no_cell, "never asks the trial for 'cell'")
    check_suggest_config(stub)
    assert "not implemented yet" in capsys.readouterr().out


def test_the_objective_check_passes_a_right_answer_and_names_each_mistake(capsys):
    check_objective(make_objective(), epochs=EPOCHS)
    assert capsys.readouterr().out.startswith("✓ Task 2")
    rejects(check_objective, make_objective(split="test"), "read data.test", epochs=EPOCHS)
    rejects(check_objective, make_objective(report=False), "never calls", epochs=EPOCHS)
    rejects(check_objective, make_objective(prune=False), "should_prune", epochs=EPOCHS)
    rejects(check_objective, make_objective(use_lr=False), "whether lr is", epochs=EPOCHS)
    rejects(check_objective, make_objective(returns="other"), "lowest reported", epochs=EPOCHS)
    rejects(check_objective, make_objective(), "report once per epoch", epochs=EPOCHS + 1)


def test_cells_after_an_unfinished_study_skip_instead_of_crashing():
    study = optuna.create_study()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    def stub(trial):
        raise NotImplementedError("Task 2")

    with pytest.raises(NotImplementedError):
        study.optimize(stub, n_trials=1)
    with pytest.raises(NotImplementedError, match="no complete trial"):
        study_ran(study)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    assert study_ran(study) is study
