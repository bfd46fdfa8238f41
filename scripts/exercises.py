"""``python scripts/exercises.py build|check``: regenerate or verify ``exercises/``.

* ``build`` writes ``exercises/NAME.ipynb`` for every ``solutions/NAME.ipynb``
  (what ``make exercises`` runs).
* ``check`` writes nothing and exits with status 1 when ``exercises/`` differs
  from what ``build`` would write (what CI and ``make check-exercises`` run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exercise_generator import MarkerError, build_all

from course_utils.config import REPO_ROOT


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="scripts/exercises.py",
        description="Generate exercise notebooks from solution notebooks, or check they match.",
    )
    parser.add_argument("command", choices=("build", "check"))
    parser.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=REPO_ROOT / "exercises")
    args = parser.parse_args(argv)
    try:
        result = build_all(args.solutions, args.exercises, write=args.command == "build")
    except (MarkerError, FileNotFoundError) as err:  # HintError is a MarkerError
        print(f"error: {err}", file=sys.stderr)
        return 2
    for orphan in result.orphans:
        print(f"{orphan}: no solution notebook of that name; delete it or add the solution.")
    if args.command == "build":
        for path in result.changed:
            print(f"wrote {path}")
        print(f"{len(result.changed)} written, {len(result.unchanged)} already up to date.")
        return 0 if not result.orphans else 1
    for path in result.changed:
        print(f"{path} is out of date with its solution notebook.")
    if result.in_sync:
        print(f"exercises up to date ({len(result.unchanged)} notebooks).")
        return 0
    print("Run `make exercises` (python scripts/exercises.py build) and commit the result.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
