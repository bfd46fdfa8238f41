"""The command-line training script runs end to end (smoke data, one epoch)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_train_imdb_script_trains_and_writes_a_loadable_checkpoint(tmp_path):
    from course_utils.checkpoint import load_checkpoint, load_vocab

    checkpoint = tmp_path / "model.pt"
    env = {**os.environ, "COURSE_MODE": "smoke", "COURSE_CHECKPOINT_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_imdb.py"), "--epochs", "1",
         "--checkpoint", str(checkpoint)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test acc" in result.stdout and "on 200 reviews" in result.stdout
    model, info = load_checkpoint(checkpoint)
    assert type(model).__name__ == "RecurrentClassifier"
    assert model.config["pooling"] == ["attention"]
    assert len(load_vocab(info)) == model.config["vocab_size"]  # the checkpoint finds its vocab
