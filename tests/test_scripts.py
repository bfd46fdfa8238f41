"""The command-line scripts: training runs end to end (smoke data, one epoch); notebook pruning."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))  # as when a script runs: it imports its neighbours


@pytest.mark.slow
def test_train_imdb_script_trains_and_writes_a_loadable_checkpoint(tmp_path):
    from course_utils.training.checkpoint import load_checkpoint, load_vocab

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
    assert model.config["pooling"] == "attention"
    assert len(load_vocab(info)) == model.config["vocab_size"]  # the checkpoint finds its vocab


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refresh_module():
    return _script("refresh_notebook")


def test_publishing_drops_progress_bars_and_widget_state_and_keeps_demo_previews():
    clean = _refresh_module().clean
    view = "application/vnd.jupyter.widget-view+json"

    def display_data(data):
        return {"output_type": "display_data", "metadata": {}, "data": data}

    bar = "epoch 1:   0%|          | 0/491 [00:00<?, ?batch/s]"
    finished = "LSTM: 100%|##########| 5/5 [01:10<00:00, 14.1s/epoch]"
    preview = "<div><b>Live demo</b>: type a review</div>"
    fit_outputs = [
        display_data({view: {"model_id": "ba"}, "text/plain": bar}),  # an old-style widget bar
        {"output_type": "stream", "name": "stderr", "text": bar + "\n"},  # a text-mode bar
        display_data({"text/plain": ""}),  # a leave=False bar that removed itself
        display_data({"text/plain": finished}),  # a finished bar, now text: kept
        {"output_type": "stream", "name": "stdout", "text": "epoch   1 | train loss\n"},
    ]
    demo = [display_data({view: {"model_id": "b0"}, "text/plain": "note", "text/html": preview})]
    legacy_demo = [display_data({view: {"model_id": "c0"}, "text/plain": "VBox(children=…"})]
    state = {  # what an older run saved for the legacy demo: a box, a prompt, a sample
        "c0": {"state": {"_model_name": "VBoxModel", "children": ["IPY_MODEL_c1", "IPY_MODEL_c2"]}},
        "c1": {"state": {"_model_name": "TextareaModel", "value": "ROMEO & JULIET"}},
        "c2": {"state": {"_model_name": "HTMLModel", "value": "<pre>a sample</pre>"}},
    }
    notebook = {
        "cells": [
            {"cell_type": "code", "source": "fit(...)", "outputs": fit_outputs},
            {"cell_type": "code", "source": "sentiment_box(...)", "outputs": demo},
            {"cell_type": "code", "source": "old_box(...)", "outputs": legacy_demo},
            {"cell_type": "markdown", "source": "text"},
        ],
        "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}},
    }
    assert clean(notebook) == 3
    outputs = [cell.get("outputs") for cell in notebook["cells"]]
    assert [o.get("text") or o["data"]["text/plain"] for o in outputs[0]] == [
        finished,
        "epoch   1 | train loss\n",
    ]
    assert outputs[1][0]["data"] == {"text/plain": "note", "text/html": preview}
    legacy = outputs[2][0]["data"]
    assert view not in legacy and "Run this cell" in legacy["text/html"]
    assert (
        "ROMEO &amp; JULIET" in legacy["text/html"] and "<pre>a sample</pre>" in legacy["text/html"]
    )
    assert "widgets" not in notebook["metadata"]
    assert clean(notebook) == 0  # idempotent


def test_publishing_makes_paths_into_the_course_relative():
    clean = _refresh_module().clean
    checkpoint = f"{ROOT}/checkpoints/09_ddp_1.pt"
    outside = "/srv/data/imdb"
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "source": "run()",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": f"saved {checkpoint}\n"},
                    {
                        "output_type": "execute_result",
                        "metadata": {},
                        "data": {
                            "text/plain": [f"'{checkpoint}'"],
                            "text/html": f"<a>{outside}</a>",
                        },
                    },
                ],
            }
        ],
        "metadata": {},
    }
    clean(notebook)
    stream, result = notebook["cells"][0]["outputs"]
    assert stream["text"] == "saved checkpoints/09_ddp_1.pt\n"
    assert result["data"]["text/plain"] == ["'checkpoints/09_ddp_1.pt'"]
    assert result["data"]["text/html"] == f"<a>{outside}</a>"  # not the course's: left alone


def test_refreshing_refuses_smoke_mode(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    with pytest.raises(SystemExit, match="full-mode outputs"):
        _refresh_module().main([str(tmp_path / "never_opened.ipynb")])


def _seeded_notebook(path: Path, *seeds: int) -> Path:
    import nbformat

    cells = [
        "from course_utils import config\nimport torch\n"
        + "".join(f"config.seed_everything({seed})\n" for seed in seeds),
        "print('loader seed=', torch.Generator().manual_seed(int('7')).initial_seed())\n"
        "print('draw', round(torch.rand(1).item(), 6), 'seed=7')",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(notebook, path)
    return path


def test_seed_runs_replace_the_lessons_seed_and_report_the_matching_lines(
    tmp_path, capsys, monkeypatch
):
    import nbformat
    import torch

    monkeypatch.delenv("COURSE_MODE", raising=False)  # the script runs in full mode only
    seeds = _script("seed_runs")
    path = _seeded_notebook(tmp_path / "lesson.ipynb", 7)
    assert seeds.main([str(path), "--seeds", "3", "--grep", "^draw", "--out", str(tmp_path)]) == 0
    report = capsys.readouterr().out
    torch.manual_seed(3)
    assert f"seed 3: draw {round(torch.rand(1).item(), 6)} seed=3" in report  # both places
    assert "(2 places)" in report and "loader" not in report  # only the --grep lines
    executed = nbformat.read(tmp_path / "lesson-seed3.ipynb", as_version=4)
    assert "seed_everything(3)" in executed.cells[0].source
    assert "seed_everything(7)" in nbformat.read(path, as_version=4).cells[0].source  # untouched


def test_seed_runs_refuse_a_notebook_with_several_seeds_or_smoke_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    seeds = _script("seed_runs")
    path = _seeded_notebook(tmp_path / "two.ipynb", 1, 2)
    with pytest.raises(SystemExit, match=r"one seed .* found \[1, 2\]"):
        seeds.main([str(path), "--seeds", "3", "--grep", "x", "--out", str(tmp_path)])
    monkeypatch.setenv("COURSE_MODE", "smoke")
    with pytest.raises(SystemExit, match="full mode"):
        seeds.main([str(path), "--seeds", "3", "--grep", "x"])
