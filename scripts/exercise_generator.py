"""Turn solution notebooks into exercise notebooks: one source, nothing edited twice.

How an instructor marks a solution notebook (plain text in the cells, no cell
metadata, so any editor works):

* **Answer code** sits between a line ``### BEGIN SOLUTION`` and a line
  ``### END SOLUTION`` inside a function or method body. The generator replaces
  the lines between the markers (markers included) with one line
  ``raise NotImplementedError("<hint>")`` at the marker's indentation. Markers at
  the top level of a cell are refused: a top-level ``raise`` would stop "Run all"
  for a learner who has not finished, while a stubbed function only fails where
  it is called, which the check cells report kindly.
* **Hints** are comment lines ``# HINT: ...`` directly above ``### BEGIN SOLUTION``
  (continuation lines start with ``#``). They stay in the exercise as comments and
  become the stub's message, so a learner who runs the unfinished code reads them.
  A hint nudges: it names the idea, the shape or the function to look up. A hint that
  contains a line of its own answer, or the value that line returns or assigns (compared
  without whitespace; pieces shorter than :data:`MIN_LEAK` characters, such as ``else:``,
  do not count), is refused with :class:`HintError`: the learner would copy, not think.
* **Solution-only markdown** (explanations that give the answer away) is a markdown
  cell whose first line is ``<!-- solution -->``; the generator drops the cell.

Everything else is kept as it is; outputs and execution counts are cleared, and
saved widget state is dropped. Output is deterministic, so building twice gives
identical files and ``check`` can compare them byte for byte. Unbalanced or nested
markers raise :class:`MarkerError` naming the notebook and the cell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
SOLUTION_MARKDOWN = "<!-- solution -->"
HINT_PREFIX = "# HINT:"
DEFAULT_HINT = "replace this line with your code."
LINE_LENGTH = 100  # ruff's line length in pyproject.toml; stubs are formatted to fit it
MIN_LEAK = 12  # an answer line shorter than this (without spaces) may appear in a hint by chance


class MarkerError(ValueError):
    """A solution notebook whose ``BEGIN/END SOLUTION`` markers cannot be turned into a stub."""


class HintError(MarkerError):
    """A hint that gives the answer away: it repeats a line of the solution it stands for."""


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_all` found: exercises that changed, were up to date, or are orphans.

    ``changed`` were (re)written, or with ``write=False`` would be; ``orphans`` are
    exercise notebooks without a solution, which are reported but never deleted.
    """

    changed: list[Path]
    unchanged: list[Path]
    orphans: list[Path]

    @property
    def in_sync(self) -> bool:
        """True when ``exercises/`` is exactly what the generator makes of ``solutions/``."""
        return not self.changed and not self.orphans


def _string_literal(text: str) -> str:
    """A string literal as ruff format writes it: double quotes, unless that needs more escapes."""
    if text.count('"') > text.count("'"):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return json.dumps(text, ensure_ascii=False)


def _stub_lines(indent: str, hint: str) -> list[str]:
    """``raise NotImplementedError("hint")``, split the way ruff formats a long call."""
    literal = _string_literal(hint)
    one_line = f"{indent}raise NotImplementedError({literal})"
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    return [f"{indent}raise NotImplementedError(", f"{indent}    {literal}", f"{indent})"]


def _hint_above(lines: list[str], begin: int) -> str:
    """The ``# HINT:`` comment directly above line ``begin`` (with its continuation lines)."""
    block: list[str] = []
    i = begin - 1
    while i >= 0 and lines[i].strip().startswith("#"):
        block.insert(0, lines[i].strip())
        i -= 1
    starts = [k for k, text in enumerate(block) if text.startswith(HINT_PREFIX)]
    if not starts:
        return ""
    first = block[starts[-1]]
    parts = [first[len(HINT_PREFIX) :].strip()]
    parts += [text.lstrip("#").strip() for text in block[starts[-1] + 1 :]]
    return " ".join(part for part in parts if part)


def _squeezed(text: str) -> str:
    """``text`` without any whitespace, so that spacing never hides a copied line."""
    return "".join(text.split())


def _line_forms(line: str) -> list[str]:
    """A code line as a hint could copy it: whole, without ``return``, or its assigned value."""
    code = line.split("  #", 1)[0].strip()
    forms = [code]
    if code.startswith("return "):
        forms.append(code[len("return ") :])
    target, equals, value = code.partition(" = ")
    if equals and "(" not in target:
        forms.append(value)
    return [_squeezed(form) for form in forms]


def leaked_line(hint: str, answer: list[str]) -> str | None:
    """The first line of ``answer`` (code, not comments) that ``hint`` contains, if any."""
    squeezed_hint = _squeezed(hint)
    for line in answer:
        if line.strip().startswith("#"):
            continue
        if any(len(form) >= MIN_LEAK and form in squeezed_hint for form in _line_forms(line)):
            return line.strip()
    return None


def _refuse_leaking_hint(where: str, number: int, hint: str, answer: list[str]) -> None:
    leaked = leaked_line(hint, answer)
    if leaked is not None:
        raise HintError(
            f"{where}: the hint above '{BEGIN}' on line {number + 1} repeats a line of the "
            f"solution, {leaked!r}. A hint names the idea, the shape or the function to look "
            "up; rewrite it so that the learner still has to write that line."
        )


def stub_source(source: str, where: str = "cell") -> str:
    """Replace every ``BEGIN/END SOLUTION`` block of one code cell by a stub.

    ``where`` names the cell in error messages (the notebook and cell number).
    """
    lines = source.split("\n")
    out: list[str] = []
    begin: int | None = None
    indent = hint = ""
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise MarkerError(
                    f"{where}: nested '{BEGIN}' on line {number + 1} (the block opened on line "
                    f"{begin + 1} is not closed). Close each block with '{END}' before "
                    "opening the next."
                )
            indent = line[: len(line) - len(line.lstrip())]
            if not indent:
                raise MarkerError(
                    f"{where}: '{BEGIN}' on line {number + 1} is at the top level of the cell. "
                    "Put the answer inside a function body, so that the exercise's stub only "
                    "fails where the function is called and the notebook still runs top to "
                    "bottom."
                )
            begin = number
            hint = _hint_above(lines, number)
            out.extend(_stub_lines(indent, hint or DEFAULT_HINT))
        elif stripped == END:
            if begin is None:
                raise MarkerError(
                    f"{where}: '{END}' on line {number + 1} has no '{BEGIN}' before it."
                )
            _refuse_leaking_hint(where, begin, hint, lines[begin + 1 : number])
            begin = None
        elif begin is None:
            out.append(line)
    if begin is not None:
        raise MarkerError(f"{where}: '{BEGIN}' on line {begin + 1} is never closed with '{END}'.")
    return "\n".join(out)


def is_solution_markdown(source: str) -> bool:
    """True for a markdown cell whose first line is ``<!-- solution -->``."""
    first = source.lstrip().split("\n", 1)[0].strip().lower()
    return first == SOLUTION_MARKDOWN


def make_exercise(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The exercise version of a solution notebook (the input is not modified)."""
    exercise = nbformat.from_dict(json.loads(json.dumps(solution)))
    cells = []
    for index, cell in enumerate(exercise.cells, start=1):
        where = f"{name}, cell {index}"
        if cell.cell_type == "markdown":
            if is_solution_markdown(cell.source):
                continue
            if BEGIN in cell.source or END in cell.source:
                raise MarkerError(
                    f"{where}: solution markers in a markdown cell. Mark solution-only "
                    f"markdown with a first line '{SOLUTION_MARKDOWN}' instead."
                )
        elif cell.cell_type == "code":
            cell.source = stub_source(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        cells.append(cell)
    exercise.cells = cells
    exercise.metadata.pop("widgets", None)
    return exercise


def render(notebook: nbformat.NotebookNode) -> str:
    """The notebook as the text written to disk (nbformat's layout plus a final newline)."""
    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def exercise_text(solution_path: Path) -> str:
    """The exercise file's expected contents for one solution notebook."""
    solution = nbformat.read(solution_path, as_version=4)
    return render(make_exercise(solution, name=str(solution_path)))


def build_all(solutions_dir: Path, exercises_dir: Path, *, write: bool = True) -> BuildResult:
    """Generate ``exercises_dir/NAME.ipynb`` for every ``solutions_dir/NAME.ipynb``.

    With ``write=False`` nothing is written and ``changed`` lists the files that
    would change (what ``python scripts/exercises.py check`` reports).
    Every solution is converted before anything is written, so a marker error in
    one notebook leaves all exercise files untouched.
    """
    solutions = sorted(Path(solutions_dir).glob("*.ipynb"))
    if not solutions:
        raise FileNotFoundError(f"No solution notebooks (*.ipynb) in {solutions_dir}.")
    changed: list[Path] = []
    unchanged: list[Path] = []
    expected = {path.name: exercise_text(path) for path in solutions}  # all errors first
    if write:
        Path(exercises_dir).mkdir(parents=True, exist_ok=True)
    for name, text in expected.items():
        target = Path(exercises_dir) / name
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current == text:
            unchanged.append(target)
            continue
        if write:
            target.write_text(text, encoding="utf-8")
        changed.append(target)
    orphans = [p for p in sorted(Path(exercises_dir).glob("*.ipynb")) if p.name not in expected]
    return BuildResult(changed=changed, unchanged=unchanged, orphans=orphans)
