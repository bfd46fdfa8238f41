"""The architecture of ``course_utils`` is what ``ls course_utils`` shows, and it stays true.

Each folder (or foundation file) is a layer; a module imports only from layers below its
own, or from its own folder: a learner reading ``training`` never has to read ``show``,
and a change to a widget can never break the trainer. The package docstring lists the
layers in this order. Private names (``_x``) are never imported from another module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import course_utils

PACKAGE = Path(course_utils.__file__).parent

#: Bottom to top: the foundation files, then the folders, then the command line.
LAYERS = [
    "config", "files", "progress", "distributed",
    "text", "datasets", "models", "training", "recipes", "tuning", "inference", "show",
    "exercises", "doctor", "__main__",
]  # fmt: skip


def top_level_entries() -> set[str]:
    """What ``ls course_utils`` shows: its folders and its modules (without ``__init__``)."""
    return {
        path.name if path.is_dir() else path.stem
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").is_file())
        or (path.suffix == ".py" and path.name != "__init__.py")
    }


def layer_of(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


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


def test_every_folder_and_foundation_file_is_a_layer():
    assert top_level_entries() == set(LAYERS)


def test_every_module_imports_only_downwards():
    found = imports()
    assert len(found) > 50  # the scan sees the package's imports
    wrong = [
        f"{source} imports {target}"
        for source, target, _ in found
        if source != "course_utils"
        and target.split(".")[1] != source.split(".")[1]  # within one folder is fine
        and layer_of(target) >= layer_of(source)
    ]
    assert not wrong, "imports that go sideways or upwards:\n" + "\n".join(wrong)


def test_no_module_imports_another_modules_private_names():
    private = [
        f"{source} imports {name} from {target}"
        for source, target, names in imports()
        for name in names
        if name.startswith("_")
    ]
    assert not private, "\n".join(private)


def test_the_package_docstring_lists_the_layers_in_order():
    doc = course_utils.__doc__
    positions = [doc.find(f"``{name}``") for name in LAYERS]
    missing = [name for name, at in zip(LAYERS, positions, strict=True) if at < 0]
    assert not missing, f"layers missing from course_utils/__init__.py's map: {missing}"
    assert positions == sorted(positions), "the map lists the layers in another order"
