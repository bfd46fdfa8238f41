"""The map of ``course_utils`` (its ``__init__`` docstring and the README) stays true.

Modules sit in layers and import only from layers below their own (or from their own
subpackage): a learner reading ``train`` never has to read ``plots``, and a change to a
widget can never break the trainer. Private names (``_x``) are never imported from
another module: what one module offers another is public, documented API.
"""

from __future__ import annotations

import ast
from pathlib import Path

import course_utils

PACKAGE = Path(course_utils.__file__).parent

#: Bottom to top. The first part of a module's name after ``course_utils.`` gives its layer.
LAYERS = [
    {"helpers", "config", "distributed", "progress", "provenance"},
    {"data"},
    {"tasks", "models", "word_vectors"},
    {"history", "checkpoint"},
    {"callbacks"},
    {"resume"},
    {"train"},
    {"tuning", "budget", "recipes"},
    {"sentiment_study"},
    {"inference"},
    {"plots", "diagrams", "benchmark", "sequence_speed"},
    {"widgets"},
    {"exercises"},
    {"doctor"},
    {"__main__"},
]


def layer_of(module: str) -> int:
    top = module.split(".")[1]
    for number, names in enumerate(LAYERS):
        if top in names:
            return number
    raise AssertionError(f"{module} is in no layer: add it to the map (and to LAYERS).")


def imports() -> list[tuple[str, str, list[str]]]:
    """``(importing module, imported module, names)`` for every course_utils import."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
                names = [alias.name for alias in node.names]
                if node.module == "course_utils":
                    found += [(module, f"course_utils.{name}", []) for name in names]
                else:
                    found.append((module, node.module, names))
            elif isinstance(node, ast.Import):
                found += [
                    (module, alias.name, [])
                    for alias in node.names
                    if alias.name.startswith("course_utils.")
                ]
    return found


def test_every_module_has_a_layer_and_imports_only_downwards():
    found = imports()
    assert len(found) > 50  # the scan sees the package's imports
    wrong = []
    for source, target, _ in found:
        if source == "course_utils" or target.split(".")[1] == source.split(".")[1]:
            continue  # the package itself, or within one subpackage
        if layer_of(target) >= layer_of(source):
            wrong.append(f"{source} imports {target}")
    assert not wrong, "imports that go sideways or upwards:\n" + "\n".join(wrong)


def test_no_module_imports_another_modules_private_names():
    private = [
        f"{source} imports {name} from {target}"
        for source, target, names in imports()
        for name in names
        if name.startswith("_")
    ]
    assert not private, "\n".join(private)


def test_the_map_in_the_package_docstring_names_every_module():
    doc = course_utils.__doc__
    tops = {
        path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or path.parent != PACKAGE
    }
    missing = sorted(top for top in tops if f"``{top}``" not in doc)
    assert not missing, f"modules missing from course_utils/__init__.py's map: {missing}"
