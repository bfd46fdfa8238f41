"""The shape every lesson's prose keeps (issue 26): short enough to read, a summary of the
takeaways, an "Exercises" section that links the exercise with the same number, no run log.

Prose is the markdown a learner reads: fenced code and display maths are left out of the
counts, and a "word" has at least one letter (so table rules and numbers do not count).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(ROOT.glob("lessons/[0-9][0-9]_*.ipynb"))
MAX_PROSE_WORDS = 2_500
MAX_SUMMARY_WORDS = 200
RUN_LOG = re.compile(r"\b20\d\d-\d\d-\d\d\b|another machine|machine of this kind", re.I)


def markdown_of(path: Path) -> str:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join(
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"
    )


def prose_words(markdown: str) -> int:
    """Words of prose: code fences, display maths and HTML comments left out."""
    text = re.sub(r"```.*?```|\$\$.*?\$\$|<!--.*?-->", " ", markdown, flags=re.S)
    return sum(1 for word in text.split() if re.search(r"[A-Za-z]", word))


def section(markdown: str, title: str) -> str:
    """The text under ``## title`` up to the next ``##`` heading or the "**Next:**" pointer."""
    match = re.search(rf"^## {title}\s*$(.*?)(?=^## |^\*\*Next:\*\*|\Z)", markdown, re.M | re.S)
    return match.group(1) if match else ""


def test_the_counts_leave_out_code_and_maths_and_see_an_overlong_text() -> None:
    markdown = "Two words.\n\n```python\nx = 1 + two\n```\n\n$$a = b$$ and 2,500 here"
    assert prose_words(markdown) == 4
    assert prose_words("word " * (MAX_PROSE_WORDS + 1)) > MAX_PROSE_WORDS
    assert section("## Summary\n\nshort\n\n**Next:** more", "Summary").split() == ["short"]
    assert section("## Exercises\n1. a\n## After", "Exercises").split() == ["1.", "a"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_has_at_most_2500_words_of_prose(path: Path) -> None:
    assert prose_words(markdown_of(path)) <= MAX_PROSE_WORDS


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_ends_with_a_short_summary(path: Path) -> None:
    summary = section(markdown_of(path), "Summary")
    assert summary.strip(), f"{path.name} has no '## Summary' section"
    assert prose_words(summary) <= MAX_SUMMARY_WORDS


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_links_the_exercise_with_its_number(path: Path) -> None:
    exercises = section(markdown_of(path), "Exercises")
    questions = re.findall(r"^\d+\. ", exercises, re.M)
    assert 2 <= len(questions) <= 4, f"{path.name}: {len(questions)} exercise questions"
    links = re.findall(r"\]\(\.\./exercises/(\d\d)_[\w-]+\.ipynb\)", exercises)
    assert links == [path.name[:2]], f"{path.name} links exercises {links}"
    target = re.search(r"\]\(\.\./(exercises/\d\d_[\w-]+\.ipynb)\)", exercises).group(1)
    assert (ROOT / target).is_file()


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_the_prose_carries_no_run_log(path: Path) -> None:
    assert not RUN_LOG.findall(markdown_of(path))
