"""The one place that decides mode, paths, seeds and device."""

import random

import numpy as np
import pytest
import torch

from course_utils import config


def test_mode_defaults_to_full(monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    assert config.mode() == "full"
    assert config.pick(full=10, smoke=1) == 10


def test_smoke_mode(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "SMOKE")
    assert config.is_smoke()
    assert config.pick(full=10, smoke=1) == 1


def test_unknown_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    with pytest.raises(ValueError, match="full, smoke"):
        config.mode()


def test_data_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert config.data_dir() == config.REPO_ROOT / "data"
    assert (config.REPO_ROOT / "pyproject.toml").is_file()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert config.data_dir() == tmp_path.resolve()
    assert config.cache_dir() == tmp_path.resolve() / "cache"


def test_smoke_runs_never_overwrite_full_mode_checkpoints(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_MODE", "full")
    full = config.checkpoint_dir()
    monkeypatch.setenv("COURSE_MODE", "smoke")
    smoke = config.checkpoint_dir()
    assert full == tmp_path.resolve()
    assert smoke == tmp_path.resolve() / "smoke"
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR")
    assert config.checkpoint_dir() == config.REPO_ROOT / "checkpoints" / "smoke"


def test_mirror(monkeypatch):
    monkeypatch.setenv("COURSE_DATA_MIRROR", "  ")
    assert config.data_mirror() is None
    monkeypatch.setenv("COURSE_DATA_MIRROR", "/srv/mirror")
    assert config.data_mirror() == "/srv/mirror"


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    config.seed_everything(7)
    first = draw()
    config.seed_everything(7)
    assert draw() == first
    config.seed_everything(8)
    assert draw() != first


def test_device_selection(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    device = config.get_device()
    if expected:
        assert device.type == expected
    assert config.get_device("cpu").type == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.get_device().type == "cpu"


def test_cuda_request_without_cuda_explains(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA build"):
        config.get_device("cuda")


def test_describe_shows_the_data_folder_without_machine_paths(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert config.describe().endswith(" data_dir=data")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "datasets"))
    assert config.describe().endswith(" data_dir=~/datasets")
    assert config.shown_path(config.REPO_ROOT / "checkpoints" / "x.pt") == "checkpoints/x.pt"
