"""Run a notebook again with other seeds, to measure how much its results vary.

    python scripts/seed_runs.py lessons/07_sequence_labelling.ipynb --seeds 1 2 \\
        --grep "char CNN|words only"

A lesson seeds everything with one number (``config.seed_everything(1234)``, a loader's
``seed=1234``). This runs a copy of the notebook in full mode with that number replaced
by each of ``--seeds`` (run as ``refresh_notebook.py`` runs it), saves the executed copy
under ``--out`` (``runs/seeds/``, git-ignored), and prints the output lines that match
``--grep``: the numbers a summary quotes as a range over seeds. The committed notebook
is not touched.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

SEED_CALL = re.compile(r"seed_everything\((\d+)")


def lesson_seed(notebook) -> int:
    """The one seed the notebook passes to ``seed_everything`` (an error if it uses several)."""
    seeds = {
        int(match)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for match in SEED_CALL.findall(cell.source)
    }
    if len(seeds) != 1:
        raise SystemExit(
            f"expected one seed in seed_everything(...) calls, found {sorted(seeds) or 'none'}: "
            "this script replaces a single seed."
        )
    return seeds.pop()


def with_seed(notebook, old: int, new: int) -> int:
    """Replace ``seed_everything(old`` and ``seed=old`` in every code cell; the number replaced."""
    pattern = re.compile(rf"(seed_everything\(|seed=){old}\b")
    replaced = 0
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source, count = pattern.subn(rf"\g<1>{new}", cell.source)
            replaced += count
    return replaced


def output_lines(notebook) -> list[str]:
    """Every line of text the notebook's cells printed or displayed (not images)."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = output.get("text") or data.get("text/markdown") or data.get("text/plain", "")
            lines.extend("".join(text).splitlines())
    return lines


def run(path: Path, seed: int, grep: re.Pattern, out_dir: Path) -> list[str]:
    import nbformat
    from refresh_notebook import execute  # this script's folder is on sys.path

    notebook = nbformat.read(path, as_version=4)
    replaced = with_seed(notebook, lesson_seed(notebook), seed)
    started = time.perf_counter()
    execute(notebook, path.parent)
    out = out_dir / f"{path.stem}-seed{seed}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out)
    minutes = (time.perf_counter() - started) / 60
    print(f"{path.name} with seed {seed} ({replaced} places): {minutes:.1f} min, saved {out}")
    return [line for line in output_lines(notebook) if grep.search(line)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--grep", required=True, help="regular expression: the lines to report")
    parser.add_argument("--out", type=Path, default=Path("runs/seeds"), help="executed copies")
    args = parser.parse_args(argv)
    from course_utils import config

    if config.mode() != "full":
        sys.exit("Seed ranges are measured in full mode: unset COURSE_MODE and run again.")
    grep = re.compile(args.grep)
    for seed in args.seeds:
        for line in run(args.notebook.resolve(), seed, grep, args.out):
            print(f"  seed {seed}: {line}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
