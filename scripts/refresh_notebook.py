"""Re-run committed notebooks in full mode and publish their outputs cleanly.

    python scripts/refresh_notebook.py lessons/06_text_generation.ipynb [...]

For each notebook: run it top to bottom in its own folder (full mode; smoke mode is
refused, committed outputs are full-mode outputs), then

* drop what is useless or broken once saved: leftover progress bars (tqdm text lines,
  widget bars, the empty outputs of bars that removed themselves) and all saved widget
  state, whose models no viewer has before the cell is run again;
* keep each live demo's static HTML preview in place of its widget (see
  ``course_utils.widgets.LiveDemo``), so GitHub and a fresh JupyterLab show what the demo
  does instead of a repr string or "Error displaying widget";
* record what the outputs were made with (``course_utils.provenance``), which
  ``tests/test_project.py`` compares with the code of today.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TQDM_LINE = re.compile(r"\d+%\|.*\| *\S+/\S+ \[.*\]$")


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


def _static_preview(output: dict) -> dict:
    """The output without its widget view: the demo's HTML preview, or a plain note."""
    data = {k: v for k, v in output["data"].items() if k != WIDGET_VIEW}
    if "text/html" not in data:
        data = {
            "text/html": "<i>Live demo: run this cell to use it.</i>",
            "text/plain": "Live demo: run this cell to use it.",
        }
    return {**output, "data": data}


def clean(notebook: dict) -> int:
    """Clean ``notebook`` in place as described above; return the outputs dropped."""
    dropped = 0
    for cell in notebook["cells"]:
        if "outputs" not in cell:
            continue
        kept = []
        for output in cell["outputs"]:
            if _is_progress_bar(output):
                dropped += 1
            elif WIDGET_VIEW in output.get("data", {}):
                kept.append(_static_preview(output))
            else:
                kept.append(output)
        cell["outputs"] = kept
    notebook.get("metadata", {}).pop("widgets", None)
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


def refresh(path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    from course_utils.provenance import fingerprint

    notebook = nbformat.read(path, as_version=4)
    code = fingerprint(notebook)  # of the code as it is when the run starts
    started = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=None,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    as_json = json.loads(nbformat.writes(notebook))
    dropped = clean(as_json)
    record(as_json, code)
    path.write_text(json.dumps(as_json, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    minutes = (time.perf_counter() - started) / 60
    print(f"{path}: ran in {minutes:.1f} min, dropped {dropped} progress outputs", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    from course_utils import config

    if config.mode() != "full":
        sys.exit("Committed outputs are full-mode outputs: unset COURSE_MODE and run again.")
    for path in args.notebooks:
        refresh(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
