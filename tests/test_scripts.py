"""The command-line scripts: training runs end to end (smoke data, one epoch); notebook pruning."""

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


def test_prune_widget_state_keeps_interactive_widgets_and_drops_progress_bars(tmp_path):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location(
        "prune_widget_state", ROOT / "scripts" / "prune_widget_state.py"
    )
    prune_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prune_module)
    view = "application/vnd.jupyter.widget-view+json"

    def widget(model_id, text):
        return {
            "output_type": "display_data",
            "metadata": {},
            "data": {view: {"model_id": model_id}, "text/plain": text},
        }

    bar = "epoch 1:   0%|          | 0/491 [00:00<?, ?batch/s]"
    cells = [
        {
            "cell_type": "code",
            "metadata": {},
            "source": "fit(...)",
            "execution_count": 1,
            "outputs": [
                widget("ba", bar),
                {"output_type": "stream", "name": "stderr", "text": bar + "\n"},
                {"output_type": "stream", "name": "stdout", "text": "epoch   1 | train loss\n"},
            ],
        },
        {
            "cell_type": "code",
            "metadata": {},
            "source": "generation_box(...)",
            "execution_count": 2,
            "outputs": [widget("b0", "VBox(children=(Textarea(value='ROMEO:'),))")],
        },
    ]
    state = {  # model ids are hex strings, as Jupyter writes them
        "b0": {"state": {"children": ["IPY_MODEL_7e"]}},
        "7e": {"state": {"layout": "IPY_MODEL_1a"}},
        "1a": {"state": {}},
        "ba": {"state": {"children": ["IPY_MODEL_ba1"]}},
        "ba1": {"state": {}},
    }
    notebook = {
        "cells": cells,
        "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    assert prune_module.prune(path) == (2, 2)
    pruned = json.loads(path.read_text())
    assert [o["output_type"] for o in pruned["cells"][0]["outputs"]] == ["stream"]
    assert pruned["cells"][0]["outputs"][0]["name"] == "stdout"
    assert len(pruned["cells"][1]["outputs"]) == 1
    kept = pruned["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert set(kept) == {"b0", "7e", "1a"}
    assert prune_module.prune(path) == (0, 0)  # idempotent
