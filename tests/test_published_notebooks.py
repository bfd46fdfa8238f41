"""Committed notebooks as a learner opens them: fresh outputs, nothing that draws as an error.

Outputs are made by ``scripts/refresh_notebook.py``, which records what they were made with.
These tests fail when a notebook's code (its cells, or the ``course_utils`` modules they
import) changed after its outputs were made, and when a saved output could only draw as
a repr string or "Error displaying widget" in a fresh JupyterLab or on GitHub.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from provenance import stale_parts

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted(ROOT.glob("lessons/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TQDM_LINE = re.compile(r"\d+%\|.*\| *\S+/\S+ \[")


def outputs(path: Path) -> list[dict]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [o for cell in notebook["cells"] for o in cell.get("outputs", [])]


AWAITING = "### Outputs awaiting a re-run"
#: The page that lists them (the README links it as "Maintaining the course").
MAINTAINING = ROOT / "docs" / "maintaining.md"


def awaiting_rerun() -> set[str]:
    """Notebooks docs/maintaining.md lists, in the open, as having outputs older than their code."""
    page = MAINTAINING.read_text(encoding="utf-8")
    if AWAITING not in page:
        return set()
    section = page.split(AWAITING, 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"`((?:lessons|solutions)/[\w.-]+\.ipynb)`", section))


def test_every_committed_notebook_was_run_with_todays_code():
    """Stale outputs fail here unless docs/maintaining.md names them to every reader."""
    assert PUBLISHED
    stale = {path.relative_to(ROOT).as_posix(): stale_parts(path) for path in PUBLISHED}
    stale = {name: parts for name, parts in stale.items() if parts}
    listed = awaiting_rerun()
    hidden = {name: parts for name, parts in stale.items() if name not in listed}
    assert not hidden, (
        "outputs made with other code (what changed since): "
        + "; ".join(f"{name} ({', '.join(parts)})" for name, parts in hidden.items())
        + ". Re-run them: python scripts/refresh_notebook.py "
        + " ".join(hidden)
    )
    fresh = sorted(listed - set(stale))
    assert not fresh, f"re-run since: remove {fresh} from docs/maintaining.md's '{AWAITING}'"


def test_the_list_of_notebooks_awaiting_a_rerun_is_read():
    listed = awaiting_rerun()
    assert all((ROOT / name).is_file() for name in listed), listed


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.name)
def test_committed_outputs_draw_without_a_kernel(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert "widgets" not in notebook["metadata"], "saved widget state: publish with the script"
    assert notebook["metadata"].get("course", {}).get("mode", "full") == "full"
    for output in outputs(path):
        data = output.get("data", {})
        assert WIDGET_VIEW not in data, f"a widget output: {data.get('text/plain', '')[:80]}"
        plain = "".join(data.get("text/plain", ""))
        if set(data) == {"text/plain"}:  # nothing richer to draw: a repr would show as is
            assert not plain.startswith(("VBox(", "HBox(", "<IPython.core.display")), plain[:80]
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            text = "".join(output["text"])
            assert not TQDM_LINE.search(text), f"a text-mode progress bar: {text[:80]}"
        assert output.get("output_type") != "error", output.get("evalue")


def test_the_live_demos_ship_a_static_preview():
    demos = {
        "05_better_sentiment": "P(positive)",
        "06_text_generation": "<pre",
        "08_seq2seq": "<b>",
    }
    for name, shown in demos.items():
        path = next(p for p in PUBLISHED if p.stem.startswith(name))
        previews = [
            "".join(o["data"]["text/html"])
            for o in outputs(path)
            if "Live demo" in "".join(o.get("data", {}).get("text/html", ""))
        ]
        assert len(previews) == 1, f"{path.name}: {len(previews)} demo previews"
        assert "Run this cell to use it" in previews[0] and shown in previews[0]


#: The kernel ``make setup`` and ``make lab`` register (the Makefile's ``KERNEL``).
COURSE_KERNEL = re.search(
    r"^KERNEL\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M
).group(1)


def test_the_doctor_checks_the_kernel_make_registers():
    from course_utils import doctor

    assert doctor.KERNEL == COURSE_KERNEL == "rnn-course"


@pytest.mark.parametrize(
    "path",
    PUBLISHED + sorted(ROOT.glob("exercises/*.ipynb")),
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_every_notebook_asks_for_the_course_kernel(path):
    """Opened from any Jupyter, a notebook starts the course environment (or says it is missing)."""
    spec = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("kernelspec", {})
    assert spec.get("name") == COURSE_KERNEL, (
        f"kernelspec {spec}: run python scripts/refresh_notebook.py --clean-only {path.name} "
        "(or make exercises)"
    )


#: A result the prose may quote: a percentage, BLEU, nats or bits, a speed-up, seconds per epoch,
#: minutes. A figure cited from the literature is marked, visibly, with ``†`` right after it.
QUOTED = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?:\s?%|\s?x\b|×| BLEU| nats| bits| s/epoch| min(?:utes)?\b)"
    r"(?!\s?†)"
)


def quoted_results(markdown: str) -> set[str]:
    """The numbers of the results a lesson's prose quotes (maths and code spans left out)."""
    prose = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$|`[^`\n]*`", " ", markdown, flags=re.S)
    return {m.group(1).replace(",", "") for m in QUOTED.finditer(prose)}


def shown_results(notebook: dict) -> str:
    """Everything the notebook's outputs show as text, with thousands separators removed."""
    texts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for key in ("text/plain", "text/html", "text/markdown"):
                texts.append("".join(data.get(key, "")))
            texts.append("".join(output.get("text", "")))
    return re.sub(r"(?<=\d),(?=\d{3})", "", "\n".join(texts))


def unshown_results(notebook: dict) -> list[str]:
    """The quoted results of ``notebook``'s prose that none of its outputs shows."""
    markdown = "\n".join(
        "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"
    )
    shown = shown_results(notebook)
    return sorted(
        n for n in quoted_results(markdown) if not re.search(rf"(?<![\d.]){n}(?!\d)", shown)
    )


def test_the_prose_check_finds_a_figure_no_output_shows_and_accepts_literature_marks():
    prose = (
        "The LSTM gets 88.4% and the RNN 12.5 nats; NBSVM-bi got 91.22%† in the paper; "
        "`1.5x` in code and $0.5\\%$ in maths."
    )
    shown = {"output_type": "stream", "text": "LSTM test accuracy 88.4%"}
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": prose},
            {"cell_type": "code", "source": "", "outputs": [shown]},
        ]
    }
    assert unshown_results(notebook) == ["12.5"]


def test_every_result_the_prose_quotes_is_in_the_lessons_own_outputs():
    """Prose and outputs move together. A lesson listed as awaiting its re-run (its outputs are
    older than its text, in the open) is checked once it has been re-run."""
    fresh = [p for p in sorted(ROOT.glob("lessons/*.ipynb"))
             if p.relative_to(ROOT).as_posix() not in awaiting_rerun()]  # fmt: skip
    unshown = {
        path.name: unshown_results(json.loads(path.read_text(encoding="utf-8"))) for path in fresh
    }
    unshown = {name: numbers for name, numbers in unshown.items() if numbers}
    assert not unshown, (
        f"results the prose quotes that no output of the same lesson shows: {unshown}. Quote what "
        "the outputs show, say it without digits, or mark a figure from the literature with †."
    )
