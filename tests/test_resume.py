"""Resumable runs: a killed ``fit`` continues where it stopped and ends where it would have."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from resume_fit_script import TinyGRU, loaders, train
from torch import nn

from course_utils.training.callbacks import Callback, Checkpoint, Run
from course_utils.training.checkpoint import CheckpointError, load_checkpoint
from course_utils.training.history import History
from course_utils.training.loop import fit

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "resume_fit_script.py"

pytestmark = pytest.mark.usefixtures("one_thread")


def run_script(out: Path, epochs: int, sleep: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(out), str(epochs), str(sleep)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def epochs_saved(state: Path) -> int:
    if not state.exists():
        return 0
    return len(torch.load(state, weights_only=True)["history"]["train_loss"])


def finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    reference.mkdir(), killed.mkdir()
    finish(run_script(reference, 5, 0.0))

    proc = run_script(killed, 5, 0.04)  # about 0.7 s per epoch
    deadline = time.monotonic() + 90
    while epochs_saved(killed / "state.pt") < 2:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the run never saved two epochs"
        time.sleep(0.05)
    time.sleep(0.3)  # well into epoch 3
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "final.pt").exists()
    assert epochs_saved(killed / "state.pt") in (2, 3)  # the last completed epoch, whole
    assert [p.name for p in killed.iterdir()] == ["state.pt"]  # no temporary file left

    finish(run_script(killed, 5, 0.0))
    expected = torch.load(reference / "final.pt", weights_only=True)
    resumed = torch.load(killed / "final.pt", weights_only=True)
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name
    resumed_history = History.load(killed / "history.json")
    assert resumed_history.train_loss == History.load(reference / "history.json").train_loss
    assert not (killed / "state.pt").exists()  # a finished run leaves no state behind


class StopBefore(Callback):
    """Interrupt a run before epoch ``epoch + 1``, as a dead kernel or Ctrl-C would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_start(self, run: Run) -> None:
        if run.epoch == self.epoch:
            raise KeyboardInterrupt


def interrupted(state: Path, epochs_done: int, *callbacks: Callback) -> None:
    with pytest.raises(KeyboardInterrupt):
        train(state, 4, callbacks=[*callbacks, StopBefore(epochs_done)])
    assert state.is_file()


def test_an_interrupted_run_continues_to_the_same_weights_and_then_removes_its_state(
    tmp_path, capsys
):
    whole, _, _, whole_history = train(None, 4)
    state = tmp_path / "run.pt"
    interrupted(state, 2)  # a first session dies after two epochs
    model, optimizer, scheduler, history = train(state, 4, progress=True)
    assert "Resuming TinyGRU: 2 epochs done." in capsys.readouterr().out
    assert history.epochs == 4 and history.train_loss == whole_history.train_loss
    assert history.best_epoch == whole_history.best_epoch
    for name, tensor in whole.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name
    assert scheduler.last_epoch == 4 and optimizer.param_groups[0]["lr"] == pytest.approx(
        0.01 * 0.7**4
    )
    assert not state.exists()  # finished: running the cell again trains a new run
    _, _, _, again_history = train(state, 4)
    assert again_history.train_loss == history.train_loss  # the same seed, from scratch


def test_resume_refuses_another_run_and_leaves_the_model_untouched(tmp_path):
    state = tmp_path / "run.pt"
    interrupted(state, 1)
    torch.manual_seed(1)
    other = TinyGRU(hidden=8)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    train_loader, valid_loader = loaders()
    optimizer = torch.optim.Adam(other.parameters())
    with pytest.raises(CheckpointError, match=r"another run(.|\n)*rnn\.weight_ih_l0"):
        fit(other, train_loader, valid_loader, optimizer, nn.BCEWithLogitsLoss(), 2,
            device="cpu", progress=False, resume=state)  # fmt: skip
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())
    with pytest.raises(CheckpointError, match=r"scheduler: saved run 'StepLR' vs this run None"):
        model = TinyGRU()
        fit(model, train_loader, valid_loader, torch.optim.Adam(model.parameters()),
            nn.BCEWithLogitsLoss(), 2, device="cpu", progress=False, resume=state)  # fmt: skip


def test_a_model_checkpoint_is_not_a_training_state(tmp_path):
    best = tmp_path / "best.pt"
    train(None, 1, callbacks=[Checkpoint(best)])
    with pytest.raises(CheckpointError, match="model checkpoint, not the training state"):
        train(best, 2)


def test_a_truncated_file_names_itself_and_loads_nothing(tmp_path):
    best, state = tmp_path / "best.pt", tmp_path / "run.pt"
    interrupted(state, 1, Checkpoint(best))
    for path in (best, state):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])  # a copy cut off
    fresh = TinyGRU()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(CheckpointError, match=rf"{best.name} is damaged or incomplete") as err:
        load_checkpoint(best, fresh)
    assert "Delete the file" in str(err.value) and str(best) in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())
    with pytest.raises(CheckpointError, match=rf"{state.name} is damaged or incomplete"):
        train(state, 2)
