"""Re-run committed notebooks in full mode and publish their outputs cleanly.

    python scripts/refresh_notebook.py lessons/06_text_generation.ipynb [...]

For each notebook: run it top to bottom in its own folder (full mode; smoke mode is
refused, committed outputs are full-mode outputs), then

* drop what is useless or broken once saved: leftover progress bars (tqdm text lines,
  widget bars, the empty outputs of bars that removed themselves) and all saved widget
  state, whose models no viewer has before the cell is run again;
* keep each live demo's static HTML preview in place of its widget (see
  ``course_utils.show.widgets.LiveDemo``), so GitHub and a fresh JupyterLab show what the demo
  does instead of a repr string or "Error displaying widget";
* print paths inside the repository relative to it: a saved output shows
  ``checkpoints/x.pt``, never the folder of whoever ran it;
* name the course's ``rnn-course`` kernel in the metadata;
* record what the outputs were made with (``provenance``), which
  ``tests/test_project.py`` compares with the code of today.
"""

from __future__ import annotations

import argparse
import html
import json
import platform
import re
import sys
import time
from pathlib import Path

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]+)")
REPO_ROOT = Path(__file__).resolve().parents[1]
TEXT_KEYS = ("text/plain", "text/markdown", "text/html")
TQDM_LINE = re.compile(r"\d+%\|.*\| *\S+/\S+ \[.*\]$")
#: The kernel ``make setup`` / ``make lab`` register: any Jupyter that opens a notebook
#: starts the course's environment, or says plainly that the kernel is missing.
KERNELSPEC = {"name": "rnn-course", "display_name": "Python (rnn-course)", "language": "python"}


def _is_progress_bar(output: dict) -> bool:
    """A tqdm bar as a text stream, a widget, or the empty output a closed bar leaves."""
    if output.get("output_type") == "stream":
        lines = [line for line in "".join(output.get("text", "")).splitlines() if line.strip()]
        return bool(lines) and all(TQDM_LINE.search(line) for line in lines)
    data = output.get("data", {})
    text = "".join(data.get("text/plain", ""))
    if output.get("output_type") == "display_data" and set(data) == {"text/plain"}:
        return not text.strip()
    return WIDGET_VIEW in data and ("FloatProgress" in text or bool(TQDM_LINE.search(text)))


def _saved_texts(model_id: str, state: dict) -> list[str]:
    """The text and HTML values of a saved widget and its children (outputs of old runs)."""
    model = state.get(model_id, {}).get("state", {})
    texts = []
    if model.get("_model_name") in {"HTMLModel", "TextModel", "TextareaModel"} and model.get(
        "value"
    ):
        value = model["value"]
        texts.append(value if model["_model_name"] == "HTMLModel" else html.escape(value))
    for child in MODEL_REF.findall(json.dumps(model.get("children", []))):
        texts.extend(_saved_texts(child, state))
    return texts


def _static_preview(output: dict, state: dict) -> dict:
    """The output without its widget view: the demo's HTML preview.

    Outputs of ``LiveDemo`` carry one; an older widget output gets one made from the text
    its saved widgets held.
    """
    data = {k: v for k, v in output["data"].items() if k != WIDGET_VIEW}
    if "text/html" not in data:
        shown = "<br>".join(_saved_texts(output["data"][WIDGET_VIEW]["model_id"], state))
        data = {
            "text/html": "<b>Live demo</b>: <i>Run this cell to use it.</i>"
            + (
                f"<br><small>When this notebook was run, it showed:</small><br>{shown}"
                if shown
                else ""
            ),
            "text/plain": "Live demo: run this cell to use it.",
        }
    return {**output, "data": data}


def _relative_paths(output: dict) -> dict:
    """``output`` with every absolute path into the repository made relative to it."""
    prefix = f"{REPO_ROOT}/"

    def strip(text: str | list[str]) -> str | list[str]:
        if isinstance(text, list):
            return [line.replace(prefix, "") for line in text]
        return text.replace(prefix, "")

    if "text" in output:
        output["text"] = strip(output["text"])
    for key in TEXT_KEYS:
        if key in output.get("data", {}):
            output["data"][key] = strip(output["data"][key])
    return output


def clean(notebook: dict) -> int:
    """Clean ``notebook`` in place as described above; return the outputs dropped."""
    saved = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {})
    state = saved.get("state", {})
    dropped = 0
    for cell in notebook["cells"]:
        if "outputs" not in cell:
            continue
        kept = []
        for output in cell["outputs"]:
            if _is_progress_bar(output):
                dropped += 1
            elif WIDGET_VIEW in output.get("data", {}):
                kept.append(_static_preview(output, state))
            else:
                kept.append(_relative_paths(output))
        cell["outputs"] = kept
    notebook.get("metadata", {}).pop("widgets", None)
    notebook.setdefault("metadata", {})["kernelspec"] = dict(KERNELSPEC)
    return dropped


def record(notebook: dict, code: dict[str, str]) -> None:
    """Write into the metadata what the outputs were made with (``code``: the fingerprint)."""
    import torch

    from course_utils import config

    notebook["metadata"]["course"] = {
        "fingerprint": code,
        "mode": config.mode(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "ran_on": time.strftime("%Y-%m-%d"),
    }


def _write(path: Path, notebook: dict) -> None:
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def execute(notebook, folder: Path) -> None:
    """Run every cell in place, from ``folder`` as a learner's JupyterLab would, no time limit."""
    from nbclient import NotebookClient

    NotebookClient(
        notebook, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()


def refresh(path: Path) -> None:
    import nbformat
    from provenance import fingerprint

    notebook = nbformat.read(path, as_version=4)
    code = fingerprint(notebook)  # of the code as it is when the run starts
    started = time.perf_counter()
    execute(notebook, path.parent)
    as_json = json.loads(nbformat.writes(notebook))
    dropped = clean(as_json)
    record(as_json, code)
    _write(path, as_json)
    minutes = (time.perf_counter() - started) / 60
    print(f"{path}: ran in {minutes:.1f} min, dropped {dropped} progress outputs", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument(
        "--clean-only",
        action="store_true",
        help="clean saved outputs only (no run, nothing recorded): notebooks awaiting a re-run",
    )
    args = parser.parse_args(argv)
    if args.clean_only:
        for path in args.notebooks:
            notebook = json.loads(path.read_text(encoding="utf-8"))
            dropped = clean(notebook)
            _write(path, notebook)
            print(f"{path}: cleaned, dropped {dropped} progress outputs")
        return 0
    from course_utils import config

    if config.mode() != "full":
        sys.exit("Committed outputs are full-mode outputs: unset COURSE_MODE and run again.")
    for path in args.notebooks:
        refresh(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
