"""What a committed notebook's outputs were made with, so stale outputs cannot hide.

A lesson's printed accuracy is only worth something if re-running the lesson gives it
again. Outputs go stale silently: a change in ``course_utils`` (or in a cell) changes the
numbers, and nothing in the notebook says so. Each committed notebook therefore records,
in its metadata under ``"course"``, a fingerprint of the code that made its outputs:

* ``cells``: a digest of the notebook's own code cells;
* ``course_utils``: a digest of every ``course_utils`` module the cells import, directly or
  through other modules (a module's syntax tree without docstrings, so comments, docstrings
  and formatting never count as a change, and any change to what runs does).

``tests/test_project.py`` compares the recorded fingerprint with the current code and names
each notebook whose code changed since its outputs were made;
``scripts/refresh_notebook.py`` re-runs a notebook and records the new fingerprint.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "PACKAGE",
    "code_cells",
    "fingerprint",
    "imported_modules",
    "module_imports",
    "stale_parts",
]

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"


def _module_file(module: str) -> Path | None:
    """The file of ``course_utils.x.y`` (a module or a package's ``__init__``), if any."""
    base = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_imports(tree: ast.AST) -> set[str]:
    """Every ``course_utils`` module an import statement in ``tree`` names."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "course_utils")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == (
            "course_utils"
        ):
            found.add(node.module)
            # ``from course_utils import config`` imports the module course_utils.config
            found.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if _module_file(f"{node.module}.{a.name}")
            )
    return found


def _parents(module: str) -> list[str]:
    """``course_utils.a.b`` runs ``course_utils`` and ``course_utils.a`` first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(sources: Iterable[str]) -> set[str]:
    """The ``course_utils`` modules that code in ``sources`` runs, imports of imports included."""
    todo: list[str] = []
    for source in sources:
        todo.extend(module_imports(_parse_cell(source)))
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        path = _module_file(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        todo.extend(_parents(module))
        todo.extend(module_imports(ast.parse(path.read_text(encoding="utf-8"))))
    return seen


def _parse_cell(source: str) -> ast.AST:
    """A code cell as Python, with IPython's ``%magic`` and ``!shell`` lines left out."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def code_cells(notebook: dict[str, Any]) -> list[str]:
    """The source of each code cell of a notebook loaded as JSON."""
    return [
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
    ]


def fingerprint(notebook: dict[str, Any]) -> dict[str, str]:
    """``{"cells": digest, "course_utils": digest}`` of a notebook loaded as JSON."""
    cells = code_cells(notebook)
    modules = sorted(imported_modules(cells))
    trees = []
    for module in modules:
        tree = ast.parse(_module_file(module).read_text(encoding="utf-8"))
        trees.append(module + "\n" + ast.dump(_without_docstrings(tree)))
    return {"cells": _digest(cells), "course_utils": _digest(trees)}


def stale_parts(path: Path) -> list[str]:
    """What changed since ``path``'s outputs were made: ``[]`` when nothing did.

    Returns ``["never recorded"]`` for a notebook with outputs and no record, else the
    names of the changed parts (``"cells"``, ``"course_utils"``).
    """
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    recorded = notebook.get("metadata", {}).get("course", {}).get("fingerprint")
    if recorded is None:
        return ["never recorded"]
    now = fingerprint(notebook)
    return [part for part, digest in now.items() if recorded.get(part) != digest]
