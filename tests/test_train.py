"""The trainer, its History and checkpoints, on tiny synthetic tasks that train in seconds."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader

from course_utils.config import seed_everything
from course_utils.models.classifier import RecurrentClassifier
from course_utils.text.batching import BucketBatchSampler, EncodedDataset, PadCollate
from course_utils.text.vocab import Vocab
from course_utils.training import loop as train
from course_utils.training.callbacks import Checkpoint, EarlyStopping
from course_utils.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_vocab,
    save_checkpoint,
)
from course_utils.training.history import History
from course_utils.training.loop import evaluate, fit
from course_utils.training.tasks import batch_metrics

REPO = Path(__file__).resolve().parents[1]
PAD = 1
VOCAB_SIZE = 20


class TinyLSTM(nn.Module):
    """Packed LSTM classifier on the true last time step; follows the course model protocol."""

    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        embed_dim: int = 8,
        hidden_dim: int = 16,
        output_dim: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.config = {
            "vocab_size": vocab_size,
            "embed_dim": embed_dim,
            "hidden_dim": hidden_dim,
            "output_dim": output_dim,
            "dropout": dropout,
        }
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.rnn = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        assert lengths.device.type == "cpu", "lengths must stay on the CPU"
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.rnn(packed)
        return self.fc(self.dropout(hidden[-1]))  # [B, output_dim]


class TinyGRU(TinyLSTM):
    """Same parameters' names, another class: loading across classes must be refused."""


class Flat(TinyLSTM):
    """Returns logits of shape [B] instead of [B, 1]."""

    def forward(self, tokens, lengths):
        return super().forward(tokens, lengths).squeeze(-1)


pytestmark = pytest.mark.usefixtures("one_thread")


@torch.no_grad()
def predict(model, loader):
    """``(probabilities, labels)`` for every example, in the loader's order (sigmoid or softmax)."""
    model.eval()
    probs, labels = [], []
    for tokens, lengths, y in loader:
        logits = model(tokens, lengths)
        probs.append(
            torch.sigmoid(logits.view(-1)) if logits.shape[-1] == 1 else logits.softmax(-1)
        )
        labels.append(y)
    return torch.cat(probs), torch.cat(labels)


def make_data(n: int, seed: int, task: str = "contains3"):
    """Random sequences of ids 2..19, lengths 3..15; labels from a simple rule."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 16, n)
    seqs = [rng.integers(2, VOCAB_SIZE, length) for length in lengths]
    if task == "contains3":
        labels = [int(3 in s) for s in seqs]
    elif task == "last_mod3":  # needs the true last token: padding must not leak in
        labels = [int(s[-1] % 3) for s in seqs]
    else:
        raise ValueError(task)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return EncodedDataset(np.concatenate(seqs), offsets, labels)


def loaders(n_train=640, n_valid=200, task="contains3", batch_size=32, seed=0):
    train_ds, valid_ds = make_data(n_train, seed, task), make_data(n_valid, seed + 100, task)
    collate = PadCollate(PAD)
    train_sampler = BucketBatchSampler(
        train_ds.lengths, batch_size, pool_factor=4, seed=seed, num_replicas=1, rank=0
    )
    valid_sampler = BucketBatchSampler(valid_ds.lengths, 64, shuffle=False, num_replicas=1, rank=0)
    return (
        DataLoader(train_ds, batch_sampler=train_sampler, collate_fn=collate),
        DataLoader(valid_ds, batch_sampler=valid_sampler, collate_fn=collate),
    )


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def clone_state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- learning


def test_fit_learns_binary_task_to_95_percent():
    train_loader, valid_loader = loaders()
    seed_everything(0)
    model = TinyLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    history = fit(
        model,
        train_loader,
        valid_loader,
        opt,
        nn.BCEWithLogitsLoss(),
        epochs=15,
        device="cpu",
        callbacks=[EarlyStopping(4)],
        progress=False,
        seed=0,
    )
    assert history.best_valid_acc >= 0.95, history.valid_acc
    assert history.valid_acc[history.best_epoch - 1] == max(history.valid_acc)
    n = history.epochs
    for key in ("train_loss", "train_acc", "valid_loss", "valid_acc", "epoch_seconds"):
        assert len(getattr(history, key)) == n
    assert all(s > 0 for s in history.train_examples_per_second)
    assert all(e >= t for e, t in zip(history.epoch_seconds, history.train_seconds, strict=True))
    assert train_loader.batch_sampler.epoch == n - 1  # set_epoch called every epoch
    # the best epoch's weights are restored: the model scores its validation accuracy
    assert evaluate(model, valid_loader, nn.BCEWithLogitsLoss())["acc"] == pytest.approx(
        history.best_valid_acc
    )


def test_fit_learns_multiclass_task():
    train_loader, valid_loader = loaders(task="last_mod3")
    seed_everything(1)
    model = TinyLSTM(output_dim=3)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    history = fit(
        model,
        train_loader,
        valid_loader,
        opt,
        nn.CrossEntropyLoss(),
        epochs=15,
        device="cpu",
        callbacks=[EarlyStopping(4)],
        progress=False,
        name="three classes",
    )
    assert history.name == "three classes"
    assert history.best_valid_acc >= 0.95, history.valid_acc
    probs, labels = predict(model, valid_loader)
    assert probs.shape == (200, 3)
    assert torch.allclose(probs.sum(1), torch.ones(200))
    assert (probs.argmax(1) == labels).float().mean().item() == pytest.approx(
        history.best_valid_acc
    )


def test_progress_bars_and_summary_only_when_asked(capsys):
    train_loader, valid_loader = loaders(n_train=64, n_valid=32)
    model = TinyLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    fit(
        model,
        train_loader,
        valid_loader,
        opt,
        nn.BCEWithLogitsLoss(),
        2,
        device="cpu",
        progress=False,
    )
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    fit(model, train_loader, valid_loader, opt, nn.BCEWithLogitsLoss(), 2, device="cpu")
    loud = capsys.readouterr()
    assert "epoch   1 | train loss" in loud.out and "valid loss" in loud.out
    assert "epoch   2" in loud.out


# --------------------------------------------------------------------------- early stopping


def scripted_evaluate(monkeypatch, values, key="acc"):
    """Replace evaluate so fit sees ``values`` as validation metrics; snapshot the weights."""
    snapshots = []

    def fake(model, loader, loss_fn, **kwargs):
        snapshots.append(clone_state(model))
        value = values[len(snapshots) - 1]
        return (
            {"loss": value, "acc": 0.5, "n": 10}
            if key == "loss"
            else {
                "loss": 1.0,
                "acc": value,
                "n": 10,
            }
        )

    monkeypatch.setattr(train, "evaluate", fake)
    return snapshots


def test_early_stopping_restores_best_weights_and_checkpoint(monkeypatch, tmp_path):
    snapshots = scripted_evaluate(monkeypatch, [0.5, 0.7, 0.6, 0.65, 0.9, 0.9])
    train_loader, valid_loader = loaders(n_train=64, n_valid=32)
    model = TinyLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    ckpt = tmp_path / "best.pt"
    history = fit(
        model,
        train_loader,
        valid_loader,
        opt,
        nn.BCEWithLogitsLoss(),
        epochs=6,
        device="cpu",
        callbacks=[EarlyStopping(2), Checkpoint(ckpt)],
        progress=False,
    )
    assert history.epochs == 4  # epochs 3 and 4 did not beat epoch 2
    assert history.stopped_early
    assert (history.best_epoch, history.best_metric) == (2, 0.7)
    assert not state_equal(snapshots[1], snapshots[3])  # the weights did move after epoch 2
    assert state_equal(model.state_dict(), snapshots[1])  # ... and were restored
    _, info = load_checkpoint(ckpt, TinyLSTM())
    assert info["extra"]["epoch"] == 2 and info["extra"]["metric"] == 0.7
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    assert state_equal(saved, snapshots[1])


def test_monitor_valid_loss_is_minimised(monkeypatch):
    scripted_evaluate(monkeypatch, [0.9, 0.4, 0.5, 0.3, 0.35, 0.36, 0.37], key="loss")
    train_loader, valid_loader = loaders(n_train=64, n_valid=32)
    model = TinyLSTM()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(
        model,
        train_loader,
        valid_loader,
        opt,
        nn.BCEWithLogitsLoss(),
        7,
        device="cpu",
        monitor="valid_loss",
        callbacks=[EarlyStopping(3)],
        progress=False,
    )
    assert (history.best_epoch, history.best_metric) == (4, 0.3)
    assert history.epochs == 7 and history.stopped_early


def test_early_stopping_without_any_improvement_lr_zero():
    train_loader, valid_loader = loaders(n_train=64, n_valid=32)
    model = TinyLSTM()
    before = clone_state(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    history = fit(
        model,
        train_loader,
        valid_loader,
        opt,
        nn.BCEWithLogitsLoss(),
        10,
        device="cpu",
        callbacks=[EarlyStopping(2)],
        progress=False,
    )
    assert history.epochs == 3 and history.stopped_early and history.best_epoch == 1
    assert len(set(history.valid_loss)) == 1
    assert state_equal(model.state_dict(), before)


def test_bad_monitor_and_patience_are_explained():
    train_loader, valid_loader = loaders(n_train=64, n_valid=32)
    model = TinyLSTM()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.BCEWithLogitsLoss()
    with pytest.raises(ValueError, match="monitor must be one of"):
        fit(model, train_loader, valid_loader, opt, loss, 1, monitor="accuracy", progress=False)
    with pytest.raises(ValueError, match="patience must be at least 1"):
        EarlyStopping(0)
    with pytest.raises(FileNotFoundError, match=r"vocab\.save"):
        Checkpoint("model.pt", vocab_path="/nonexistent/v.json")
    with pytest.raises(TypeError, match="Callback objects"):
        fit(model, train_loader, valid_loader, opt, loss, 1, callbacks=[print])


# --------------------------------------------------------------------------- determinism, clipping


def run_once(seed: int) -> tuple[History, dict]:
    train_loader, valid_loader = loaders(n_train=160, n_valid=64)
    seed_everything(123)
    model = TinyLSTM(dropout=0.3)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    history = fit(
        model,
        train_loader,
        valid_loader,
        opt,
        nn.BCEWithLogitsLoss(),
        3,
        device="cpu",
        progress=False,
        seed=seed,
    )
    return history, clone_state(model)


def test_same_seed_gives_identical_history_and_weights():
    h1, w1 = run_once(seed=7)
    h2, w2 = run_once(seed=7)
    assert h1.train_loss == h2.train_loss and h1.valid_loss == h2.valid_loss
    assert h1.train_acc == h2.train_acc and h1.valid_acc == h2.valid_acc
    assert state_equal(w1, w2)
    h3, _ = run_once(seed=8)  # the seed matters: dropout masks differ
    assert h3.train_loss != h1.train_loss


class RecordingAdam(torch.optim.Adam):
    """Records the total gradient norm the optimizer is asked to apply."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.norms: list[float] = []

    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        self.norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
        return super().step(closure)


@pytest.mark.parametrize("clip", [None, 0.5])
def test_gradient_clipping_bounds_the_total_norm(clip):
    train_loader, valid_loader = loaders(n_train=96, n_valid=32)
    seed_everything(0)
    model = TinyLSTM()
    opt = RecordingAdam(model.parameters(), lr=1e-3)
    bce = nn.BCEWithLogitsLoss()

    def huge_loss(logits, labels):
        return 1e4 * bce(logits, labels)

    fit(
        model,
        train_loader,
        valid_loader,
        opt,
        huge_loss,
        1,
        device="cpu",
        clip_grad_norm=clip,
        progress=False,
    )
    assert len(opt.norms) == len(train_loader)
    if clip is None:
        assert max(opt.norms) > 10  # without clipping the norms are huge ...
    else:
        assert max(opt.norms) <= clip * (1 + 1e-4)  # ... with it they are bounded


# ------------------------------------------------------------------ evaluate, predict, metrics


def test_batch_metrics_binary_and_multiclass():
    labels = torch.tensor([1, 0, 1, 0])
    logits = torch.tensor([2.0, -1.0, -0.5, 0.5])
    bce = nn.BCEWithLogitsLoss()
    for shaped in (logits, logits[:, None]):
        loss, correct = batch_metrics(shaped, labels, bce)
        assert correct.item() == 2
        assert loss.item() == pytest.approx(bce(logits, labels.float()).item())
    multi = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    loss, correct = batch_metrics(multi, torch.tensor([0, 1, 1, 0]), nn.CrossEntropyLoss())
    assert correct.item() == 3
    with pytest.raises(ValueError, match=r"\[batch\] or \[batch, classes\]"):
        batch_metrics(torch.zeros(4, 3, 2), labels, bce)


def test_evaluate_weights_loss_by_batch_size_and_restores_mode():
    train_loader, _ = loaders(n_train=70, n_valid=32, batch_size=32)  # batches 32, 32, 6
    model = Flat()
    bce_sum = nn.BCEWithLogitsLoss(reduction="sum")
    total, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for tokens, lengths, labels in train_loader:
            logits = model.eval()(tokens, lengths)
            total += bce_sum(logits, labels.float()).item()
            correct += ((logits > 0).long() == labels).sum().item()
            n += len(labels)
    for mode in (True, False):
        model.train(mode)
        result = evaluate(model, train_loader, nn.BCEWithLogitsLoss())
        assert model.training is mode
        assert result["n"] == n == 70
        assert result["loss"] == pytest.approx(total / n, rel=1e-6)
        assert result["acc"] == pytest.approx(correct / n)


# --------------------------------------------------------------------------- history


def test_history_round_trips_and_summarises(tmp_path):
    h = History(
        name="lstm",
        train_loss=[0.7, 0.5],
        train_acc=[0.5, 0.8],
        valid_loss=[0.6, 0.55],
        valid_acc=[0.7, 0.75],
        epoch_seconds=[2.0, 4.0],
        train_seconds=[1.5, 3.5],
        train_examples_per_second=[100.0, 200.0],
        best_epoch=2,
        best_metric=0.75,
    )
    assert History.from_dict(h.to_dict()) == h
    assert History.load(h.save(tmp_path / "runs" / "lstm.json")) == h
    json.loads((tmp_path / "runs" / "lstm.json").read_text())  # plain JSON
    s = h.summary()
    assert s["run"] == "lstm" and s["epochs"] == 2 and s["best_valid_acc"] == 0.75
    assert s["seconds_per_epoch"] == 3.0 and s["examples_per_second"] == 150.0
    assert History.from_dict({"name": "old", "train_loss": [1.0], "unknown": 3}).epochs == 1
    with pytest.raises(FileNotFoundError, match=r"history\.save"):
        History.load(tmp_path / "missing.json")


def test_fit_steps_an_epoch_scheduler_once_per_epoch():
    train_loader, valid_loader = loaders(n_train=64, n_valid=32)
    model = TinyLSTM()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    loss = nn.BCEWithLogitsLoss()
    h = fit(model, train_loader, valid_loader, opt, loss, 3, device="cpu", progress=False,
            scheduler=sched)  # fmt: skip
    assert h.epochs == 3
    assert h.learning_rate == pytest.approx([0.1, 0.05, 0.025])
    assert train_loader.batch_sampler.epoch == 2
    assert h.best_metric == max(h.valid_acc)


# --------------------------------------------------------------------------- checkpoints


def trained_checkpoint(tmp_path):
    train_loader, valid_loader = loaders(n_train=96, n_valid=32)
    vocab = Vocab(["<unk>", "<pad>"] + [f"w{i}" for i in range(2, VOCAB_SIZE)])
    vocab_path = vocab.save(tmp_path / "vocab.json")
    seed_everything(0)
    model = TinyLSTM(hidden_dim=12)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    ckpt = tmp_path / "ckpts" / "tiny.pt"
    fit(
        model,
        train_loader,
        valid_loader,
        opt,
        nn.BCEWithLogitsLoss(),
        2,
        device="cpu",
        callbacks=[Checkpoint(ckpt, vocab_path)],
        progress=False,
    )
    return model, ckpt, vocab, valid_loader


def test_checkpoint_reloads_to_identical_predictions(tmp_path):
    model, ckpt, vocab, valid_loader = trained_checkpoint(tmp_path)
    expected, _ = predict(model, valid_loader)
    assert [p.name for p in ckpt.parent.iterdir()] == ["tiny.pt"]  # no temporary files left

    rebuilt, info = load_checkpoint(ckpt, model_classes={"TinyLSTM": TinyLSTM})
    assert type(rebuilt) is TinyLSTM and rebuilt.config == model.config
    assert not rebuilt.training
    assert torch.equal(predict(rebuilt, valid_loader)[0], expected)

    fresh = TinyLSTM(hidden_dim=12)
    same, info = load_checkpoint(ckpt, fresh)
    assert same is fresh
    assert torch.equal(predict(fresh, valid_loader)[0], expected)

    assert info["model_class"] == "TinyLSTM" and info["model_config"] == model.config
    assert info["extra"]["epoch"] in (1, 2)
    assert Path(info["vocab"]["path"]) == (tmp_path / "vocab.json").resolve()
    assert info["vocab"]["fingerprint"] == vocab.fingerprint
    assert load_vocab(info).itos == vocab.itos


def test_checkpoint_vocab_path_survives_moving_the_folder(tmp_path):
    model = TinyLSTM()
    (tmp_path / "a").mkdir()
    vocab = Vocab(["<unk>", "<pad>", "x"])
    vocab.save(tmp_path / "a" / "vocab.json")
    save_checkpoint(tmp_path / "a" / "m.pt", model, vocab_path=tmp_path / "a" / "vocab.json")
    (tmp_path / "a").rename(tmp_path / "b")
    _, info = load_checkpoint(tmp_path / "b" / "m.pt", TinyLSTM())
    assert load_vocab(info).itos == vocab.itos
    Vocab(["<unk>", "<pad>", "y"]).save(tmp_path / "b" / "vocab.json")
    with pytest.raises(CheckpointError, match="not the vocabulary this model was trained with"):
        load_vocab(info)


def test_loading_into_a_model_of_another_shape_names_the_parameter(tmp_path):
    model = TinyLSTM(vocab_size=25, embed_dim=6)
    path = save_checkpoint(tmp_path / "m.pt", model)
    other = TinyLSTM(vocab_size=20, embed_dim=6)
    before = clone_state(other)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, other)
    message = str(err.value)
    assert not isinstance(err.value, RuntimeError)
    assert "embedding.weight: checkpoint (25, 6) vs model (20, 6)" in message
    assert "vocab_size: checkpoint 25 vs model 20" in message
    assert "TinyLSTM(**{'vocab_size': 25" in message  # what to build instead
    assert state_equal(other.state_dict(), before)  # nothing was half-loaded


def test_same_shapes_but_another_config_loads_with_a_warning(tmp_path):
    model = TinyLSTM(dropout=0.0)
    path = save_checkpoint(tmp_path / "m.pt", model)
    other = TinyLSTM(dropout=0.5)
    with pytest.warns(UserWarning, match="dropout: checkpoint 0.0 vs model 0.5"):
        load_checkpoint(path, other)
    assert state_equal(other.state_dict(), model.state_dict())
    assert torch.load(path, weights_only=True)["vocab"] == {"path": None, "fingerprint": None}


def test_loading_into_another_class_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", TinyLSTM())
    with pytest.raises(CheckpointError, match="model class: checkpoint TinyLSTM vs model TinyGRU"):
        load_checkpoint(path, TinyGRU())
    with pytest.raises(CheckpointError, match="not one of the known model classes"):
        load_checkpoint(path, model_classes={"TinyGRU": TinyGRU})


def test_missing_random_and_bare_files_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No checkpoint at .*Checkpoint\(path\)"):
        load_checkpoint(tmp_path / "nope.pt", TinyLSTM())
    junk = tmp_path / "junk.pt"
    for seed in range(200):  # random bytes fail inside torch.load in many different ways
        junk.write_bytes(random.Random(seed).randbytes(256))
        with pytest.raises(CheckpointError, match="not a course checkpoint"):
            load_checkpoint(junk, TinyLSTM())
    bare = tmp_path / "bare.pt"
    torch.save(TinyLSTM().state_dict(), bare)
    with pytest.raises(CheckpointError, match="bare state_dict"):
        load_checkpoint(bare, TinyLSTM())
    pickled = tmp_path / "whole.pt"
    torch.save(TinyLSTM(), pickled)  # a pickled module: refused by weights_only=True
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(pickled, TinyLSTM())


def test_checkpoint_unwraps_wrappers_and_rejects_unserialisable_config(tmp_path):
    model = TinyLSTM()
    path = save_checkpoint(tmp_path / "m.pt", nn.DataParallel(model))
    payload = torch.load(path, weights_only=True)
    assert payload["model_class"] == "TinyLSTM"
    assert set(payload["state_dict"]) == set(model.state_dict())
    model.config["weights"] = torch.zeros(2)
    with pytest.raises(TypeError, match="plain values"):
        save_checkpoint(tmp_path / "bad.pt", model)


def test_real_course_models_round_trip_through_fit_checkpoints(tmp_path):
    cls = RecurrentClassifier
    seed_everything(0)
    model = cls(
        VOCAB_SIZE,
        8,
        8,
        1,
        bidirectional=True,
        padding_idx=PAD,
        pooling=("max", "mean"),
        max_len=12,
    )
    train_loader, valid_loader = loaders(n_train=64, n_valid=32)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    ckpt = tmp_path / "real.pt"
    fit(
        model,
        train_loader,
        valid_loader,
        opt,
        nn.BCEWithLogitsLoss(),
        1,
        device="cpu",
        callbacks=[Checkpoint(ckpt)],
        progress=False,
    )
    rebuilt, _ = load_checkpoint(ckpt)  # from the real registry of course models
    assert type(rebuilt) is cls and rebuilt.config == model.config
    assert torch.equal(predict(rebuilt, valid_loader)[0], predict(model, valid_loader)[0])
    small = cls(1000, 8, 8, 1, bidirectional=True, padding_idx=PAD, pooling=("max", "mean"))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(ckpt, small)
    assert f"embedding.weight: checkpoint ({VOCAB_SIZE}, 8) vs model (1000, 8)" in str(err.value)
    assert "max_len: checkpoint 12 vs model None" in str(err.value)


# --------------------------------------------------------------------------- DDP


def test_fit_under_torchrun_shards_data_and_keeps_ranks_identical(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            str(REPO / "tests" / "ddp_fit_script.py"),
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "ckpt_rank0.pt").is_file()
    assert not (tmp_path / "ckpt_rank1.pt").exists()  # only rank 0 saves
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    states = [torch.load(tmp_path / f"params_rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert reports[0]["initial_checksum"] != reports[1]["initial_checksum"]  # built differently
    assert state_equal(states[0], states[1])  # ... and trained into the same weights
    seen0, seen1 = set(reports[0]["seen_epoch0"]), set(reports[1]["seen_epoch0"])
    assert len(seen0) == len(reports[0]["seen_epoch0"])
    assert not seen0 & seen1 and seen0 | seen1 == set(range(reports[0]["n_train"]))
    assert reports[0]["epochs_set"] == reports[1]["epochs_set"] == [0, 1, 2]
    for key, value in reports[0]["history"].items():  # metrics are global: the same on both
        assert reports[1]["history"][key] == pytest.approx(value), key
    assert reports[0]["evaluate_n"] == reports[1]["evaluate_n"] == reports[0]["n_valid"]
    # rank 0's checkpoint holds the restored best weights every rank ended with
    ckpt = torch.load(tmp_path / "ckpt_rank0.pt", weights_only=True)
    assert state_equal(ckpt["state_dict"], states[0])
    assert not math.isnan(reports[0]["history"]["best_metric"])
    assert result.stdout.count("epoch   1 | train loss") == 1  # only rank 0 prints
