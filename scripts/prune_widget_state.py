"""Drop progress bars from executed notebooks and the widget state nothing uses.

``jupyter nbconvert --execute`` saves every ``tqdm.auto`` progress bar as a widget
output plus its state in the notebook's metadata: megabytes per lesson that show
nothing useful on GitHub. This keeps the interactive widgets (a sentiment box, a
generation box) and exactly the saved state they reference, and removes the rest.

    python scripts/prune_widget_state.py lessons/06_text_generation.ipynb [...]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]+)")
TQDM_LINE = re.compile(r"\d+%\|.*\| *\S+/\S+ \[.*\]$")


def _is_progress_bar(output: dict) -> bool:
    if output.get("output_type") == "stream":  # tqdm's text fallback: "name:  0%|   | 0/5 [...]"
        lines = [line for line in "".join(output.get("text", "")).splitlines() if line.strip()]
        return bool(lines) and all(TQDM_LINE.search(line) for line in lines)
    data = output.get("data", {})
    text = "".join(data.get("text/plain", ""))
    return WIDGET_VIEW in data and ("FloatProgress" in text or bool(TQDM_LINE.search(text)))


def prune(path: Path) -> tuple[int, int]:
    """Rewrite ``path``; return (progress outputs dropped, widget models dropped)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    dropped_outputs = 0
    roots: list[str] = []
    for cell in notebook["cells"]:
        kept = []
        for output in cell.get("outputs", []):
            if _is_progress_bar(output):
                dropped_outputs += 1
                continue
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view:
                roots.append(view["model_id"])
            kept.append(output)
        if "outputs" in cell:
            cell["outputs"] = kept
    widgets = notebook.get("metadata", {}).get("widgets", {})
    state = widgets.get(WIDGET_STATE, {}).get("state", {})
    reachable: set[str] = set()
    while roots:
        model_id = roots.pop()
        if model_id in reachable or model_id not in state:
            continue
        reachable.add(model_id)
        roots.extend(MODEL_REF.findall(json.dumps(state[model_id])))
    dropped_models = len(state) - len(reachable)
    if reachable:
        widgets[WIDGET_STATE]["state"] = {k: v for k, v in state.items() if k in reachable}
    else:
        notebook.get("metadata", {}).pop("widgets", None)
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return dropped_outputs, dropped_models


if __name__ == "__main__":
    for name in sys.argv[1:]:
        outputs, models = prune(Path(name))
        print(f"{name}: dropped {outputs} progress outputs and {models} unused widget models")
