"""A lesson gives the same numbers every time it runs: lesson 01, twice, in smoke mode.

The course promises that a learner who re-runs a lesson sees the numbers it prints (on the
same kind of machine). This runs lesson 01 (the from-scratch recurrence, the gradient
experiment and two short training runs) in two fresh kernels and compares every text
output, with only the wall-clock times masked.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "lessons" / "01_rnn_from_scratch.ipynb"
# tqdm writes a rate as "2.5epoch/s" when fast and "1.2s/epoch" when slow: both are times.
TIMES = re.compile(
    r"\d+(?:\.\d+)?s/(?:it|epoch|batch)\b|\d+(?:\.\d+)?\s?(?:s|ms|min)\b|\d+:\d+(?::\d+)?"
    r"|\d+(?:\.\d+)?(?:it|epoch|batch)/s"
)


def text_outputs(notebook) -> list[str]:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            if text:
                masked = TIMES.sub("<time>", text)
                texts.append(re.sub(r"\s+<time>", " <time>", masked))  # tqdm pads its times
    return texts


def run_once() -> list[str]:
    notebook = nbformat.read(LESSON, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    return text_outputs(notebook)


@pytest.mark.timeout(600)
def test_lesson_01_prints_the_same_numbers_twice(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    first, second = run_once(), run_once()
    assert any("valid loss" in text for text in first)  # the training runs are compared too
    assert first == second
