"""The trainer's callbacks: hook order, the time budget, stopping, pruning, interruptions."""

from __future__ import annotations

import optuna
import pytest
import torch
from resume_fit_script import TinyGRU, loaders
from torch import nn

from course_utils.training.callbacks import Callback, ReportToTrial, Run, TimeBudget
from course_utils.training.history import History
from course_utils.training.loop import fit

pytestmark = pytest.mark.usefixtures("one_thread")


def train(epochs: int, lr: float = 0.01, **kwargs) -> tuple[nn.Module, History]:
    torch.manual_seed(0)
    model = TinyGRU()
    train_loader, valid_loader = loaders()
    history = fit(
        model,
        train_loader,
        valid_loader,
        torch.optim.Adam(model.parameters(), lr=lr),
        nn.BCEWithLogitsLoss(),
        epochs,
        device="cpu",
        **{"progress": False, **kwargs},
    )
    return model, history


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_fit_start(self, run: Run) -> None:
        self.calls.append(f"fit_start {run.epoch}/{run.end_epoch}")

    def on_epoch_start(self, run: Run) -> None:
        self.calls.append("epoch_start")

    def on_batch_end(self, run: Run) -> None:
        if not self.calls[-1].startswith("batch"):
            self.calls.append(f"batch n={run.running.count}")

    def on_epoch_end(self, run: Run) -> None:
        self.calls.append(f"epoch_end {run.epoch} improved={run.improved}")

    def on_fit_end(self, run: Run) -> None:
        self.calls.append(f"fit_end {run.history.stop_reason}")


def test_hooks_run_in_order_with_the_run_they_describe():
    recorder = Recorder()
    _, history = train(2, callbacks=[recorder])
    assert recorder.calls[0] == "fit_start 0/2"
    assert recorder.calls[1:4] == ["epoch_start", "batch n=16", "epoch_end 1 improved=True"]
    assert recorder.calls[4:6] == ["epoch_start", "batch n=16"]
    assert recorder.calls[6].startswith("epoch_end 2")
    assert recorder.calls[-1] == "fit_end None" and history.epochs == 2


def test_a_callback_stops_the_run_and_the_reason_is_kept_and_printed(capsys):
    class StopAfterOne(Callback):
        def on_epoch_end(self, run: Run) -> None:
            run.stop("enough for a test")
            run.stop("a second reason is ignored")

    _, history = train(5, callbacks=[StopAfterOne()], progress=True)
    assert history.epochs == 1 and history.stop_reason == "enough for a test"
    assert not history.stopped_early  # that flag is early stopping's
    assert "enough for a test" in capsys.readouterr().out


def budget_run(epoch_seconds: list[float], minutes: float, end_epoch: int = 10) -> Run:
    history = History(epoch_seconds=epoch_seconds, train_loss=[1.0] * len(epoch_seconds))
    run = Run(model=nn.Linear(1, 1), optimizer=None, history=history, end_epoch=end_epoch)
    budget = TimeBudget(minutes)
    budget.on_epoch_end(run)
    return run


def test_the_budget_stops_when_the_longest_epoch_would_not_fit():
    assert not budget_run([20.0, 25.0], minutes=70 / 60).stopping  # 45 s + 25 s fits in 70 s
    run = budget_run([20.0, 25.0], minutes=69 / 60)
    assert run.stopping and "1.15-minute budget" in run.history.stop_reason
    assert not budget_run([20.0, 25.0], minutes=0.5, end_epoch=2).stopping  # nothing left anyway
    with pytest.raises(ValueError, match="more than 0 minutes"):
        TimeBudget(0)


def test_fit_with_a_tiny_budget_trains_one_epoch_and_says_why(capsys):
    _, history = train(50, callbacks=[TimeBudget(1e-4)], progress=True)
    assert history.epochs == 1
    assert "would not fit in the 0.0001-minute budget" in capsys.readouterr().out
    _, roomy = train(3, callbacks=[TimeBudget(10)])
    assert roomy.epochs == 3 and roomy.stop_reason is None


def test_an_optuna_pruner_stops_a_bad_trial_through_report_to_trial():
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2),
    )
    histories = {}

    def objective(trial: optuna.Trial) -> float:
        lr = 0.02 if trial.number == 0 else 0.0  # the second trial cannot learn
        _, histories[trial.number] = train(4, lr=lr, callbacks=[ReportToTrial(trial)])
        return histories[trial.number].best_valid_acc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=2)
    good, bad = study.trials
    assert good.state == optuna.trial.TrialState.COMPLETE
    assert good.intermediate_values == dict(enumerate(histories[0].valid_acc, start=1))
    assert bad.state == optuna.trial.TrialState.PRUNED
    assert list(bad.intermediate_values) == [1, 2]  # pruned once the warm-up was over


def test_an_interrupted_run_still_ends_with_its_best_weights():
    class Interrupt(Callback):
        def __init__(self) -> None:
            self.batches = 0

        def on_batch_end(self, run: Run) -> None:
            self.batches += 1
            if self.batches == 20:  # in the second epoch
                raise KeyboardInterrupt

    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, run: Run) -> None:
            snapshots.append({k: v.clone() for k, v in run.model.state_dict().items()})

    torch.manual_seed(0)
    model = TinyGRU()
    train_loader, valid_loader = loaders()
    with pytest.raises(KeyboardInterrupt):
        fit(model, train_loader, valid_loader, torch.optim.Adam(model.parameters(), lr=0.01),
            nn.BCEWithLogitsLoss(), 5, device="cpu", progress=False,
            callbacks=[Snapshot(), Interrupt()])  # fmt: skip
    assert len(snapshots) == 1
    assert all(torch.equal(snapshots[0][k], v) for k, v in model.state_dict().items())


def test_callbacks_must_be_callbacks():
    with pytest.raises(TypeError, match="Callback objects, got function"):
        train(1, callbacks=[lambda run: None])


def test_the_callbacks_work_alone_and_in_any_order(tmp_path):
    """No callback needs another: early stopping and checkpoints read what the loop records."""
    from course_utils.training.callbacks import Checkpoint, EarlyStopping

    _, alone = train(6, lr=0.0, callbacks=[EarlyStopping(2)])
    assert alone.epochs == 3 and alone.stopped_early  # nothing improves after epoch 1
    for order in ([EarlyStopping(2), Checkpoint(tmp_path / "a.pt")],
                  [Checkpoint(tmp_path / "b.pt"), EarlyStopping(2)]):  # fmt: skip
        _, history = train(6, lr=0.0, callbacks=order)
        assert history.to_dict() | {"epoch_seconds": [], "train_seconds": [],
                                    "train_examples_per_second": []} == alone.to_dict() | {
            "epoch_seconds": [], "train_seconds": [], "train_examples_per_second": []}  # fmt: skip
    assert (tmp_path / "a.pt").is_file() and (tmp_path / "b.pt").is_file()
