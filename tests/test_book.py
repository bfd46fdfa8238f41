"""The course website (``make book``): built from the committed notebooks, checked in Chromium.

A classroom without internet opens the site from a USB stick, so every page must be there, its
figures and its math must show, and nothing may come from another host. Nothing is executed,
so the whole site builds in seconds: the tests build all of it into a temporary folder and
open its pages through ``file://`` URLs, as from a stick, with Debian's Chromium, recording
every request the pages make.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
BUILD_SITE = ROOT / "book" / "build_site.py"
CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
# Offline and quiet: no update checks, no sync, nothing a fresh profile would fetch.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL = ("file:", "data:", "blob:", "about:")
IMAGES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")

pytestmark = pytest.mark.timeout(600)


def _load_builder():
    """``book/build_site.py`` as a module (``book/`` is a folder of the site, not a package)."""
    spec = importlib.util.spec_from_file_location("build_site", BUILD_SITE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()
PAGES = builder.find_pages(ROOT)


def html_of(page: str) -> str:
    """The built page of a source page: ``lessons/01_x.ipynb`` -> ``lessons/01_x.html``."""
    return page.rsplit(".", 1)[0] + ".html"


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """The folder of a fresh build of the whole site, as ``make book`` makes it."""
    build_dir = tmp_path_factory.mktemp("book")
    done = subprocess.run(
        [sys.executable, str(BUILD_SITE), "--build-dir", str(build_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"the site did not build:\n{done.stdout[-3000:]}{done.stderr}"
    return build_dir


@pytest.fixture(scope="module")
def site(build) -> Path:
    return build / "html"


def test_the_site_builds_without_warnings(build):
    """A warning is a page, link or figure the site lost (a broken link in a new docs page)."""
    warnings = (build / "warnings.log").read_text(encoding="utf-8")
    warnings = warnings.replace(f"{build / 'src'}/", "")  # name the repository's files
    assert not warnings.strip(), f"Sphinx warned while building the site:\n{warnings}"


def test_every_lesson_exercise_solution_and_docs_page_is_built(site):
    assert PAGES["lessons"] and PAGES["exercises"] and PAGES["solutions"] and PAGES["docs"]
    expected = ["index.html"] + [html_of(p) for found in PAGES.values() for p in found]
    missing = [page for page in expected if not (site / page).is_file()]
    assert not missing, f"pages missing from the site: {missing}"


class PageParser(HTMLParser):
    """What a page defines and points at: its ids, its links, the resources it loads."""

    SOURCES: ClassVar[dict[str, str]] = {
        "script": "src",
        "img": "src",
        "iframe": "src",
        "source": "src",
        "embed": "src",
    }

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value for key, value in attrs if value is not None}
        self.ids.update(found[key] for key in ("id", "name") if key in found)
        if tag == "a" and "href" in found:
            self.links.append(found["href"])
        elif tag == "link" and "href" in found:
            self.resources.append(found["href"])
        elif tag in self.SOURCES and self.SOURCES[tag] in found:
            self.resources.append(found[self.SOURCES[tag]])


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def is_remote(url: str) -> bool:
    return url.startswith("//") or bool(re.match(r"^[a-z][a-z0-9+.-]*:", url, flags=re.I))


def broken(site: Path, page: Path, url: str, ids: dict[Path, set[str]]) -> str | None:
    """Why the relative ``url`` on ``page`` leads nowhere, or None when it resolves."""
    parts = urlsplit(url)
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return "no such file"
    if not target.is_relative_to(site):
        return "outside the site"
    if parts.fragment and target.suffix == ".html":
        if target not in ids:
            ids[target] = parse(target).ids
        if unquote(parts.fragment) not in ids[target]:
            return f"no #{parts.fragment} on {target.relative_to(site)}"
    return None


def test_every_internal_link_resolves_and_nothing_loads_from_another_host(site):
    """Every link and resource of every page, and every ``url()`` of the style sheets."""
    problems, ids = [], {}
    for page in sorted(site.rglob("*.html")):
        parsed = parse(page)
        ids[page.resolve()] = parsed.ids
        for url in parsed.resources:
            if is_remote(url) and not url.startswith("data:"):
                problems.append(f"{page.relative_to(site)} loads {url}")
        for url in parsed.links + parsed.resources:
            why = None if is_remote(url) else broken(site, page.resolve(), url, ids)
            if why:
                problems.append(f"{page.relative_to(site)} -> {url}: {why}")
    for sheet in sorted(site.rglob("*.css")):
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", sheet.read_text(encoding="utf-8")):
            if url.startswith("data:"):
                continue
            why = "another host" if is_remote(url) else broken(site, sheet.resolve(), url, ids)
            if why:
                problems.append(f"{sheet.relative_to(site)} -> {url}: {why}")
    assert not problems, f"{len(problems)} broken or remote links:\n" + "\n".join(problems[:40])


def expected_partners(exercise: str) -> list[str]:
    """The built pages an exercise must link: its solution (same file name) and the lesson
    with its number, or the lessons index when there is no such lesson."""
    name = exercise.split("/", 1)[1]
    number = name.split("_", 1)[0]
    lesson = next((p for p in PAGES["lessons"] if Path(p).name.startswith(f"{number}_")), None)
    solution = f"solutions/{name}" if f"solutions/{name}" in PAGES["solutions"] else None
    return [html_of(lesson) if lesson else "lessons.html", html_of(solution or "solutions.md")]


@pytest.mark.parametrize("exercise", PAGES["exercises"], ids=lambda p: Path(p).stem[:2])
def test_each_exercise_links_its_solution_and_its_lesson(site, exercise):
    page = site / html_of(exercise)
    linked = {(page.parent / urlsplit(url).path).resolve() for url in parse(page).links}
    for partner in expected_partners(exercise):
        assert (site / partner).resolve() in linked, f"{exercise} does not link {partner}"


def _notebook(tmp_path: Path, relative: str, title: str) -> None:
    cell = {"cell_type": "markdown", "metadata": {}, "source": f"# {title}\n\nText."}
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / relative).write_text(json.dumps(notebook), encoding="utf-8")


def test_pages_are_found_by_glob_and_a_missing_lesson_falls_back_to_the_index(
    tmp_path, monkeypatch
):
    """A renamed exercise without a lesson of its number links the lessons index; a new
    docs page appears; a README link to a file the site lacks is not left dangling, and its
    badge from another host is not loaded."""
    monkeypatch.delenv("COURSE_SOURCE_URL", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    repo, staged = tmp_path / "repo", tmp_path / "staged"
    _notebook(repo, "lessons/01_intro.ipynb", "Intro")
    _notebook(repo, "exercises/01_intro.ipynb", "Exercise 01")
    _notebook(repo, "exercises/42_renamed.ipynb", "Exercise 42")
    _notebook(repo, "solutions/01_intro.ipynb", "Solution 01")
    (repo / "docs").mkdir()
    (repo / "docs" / "new_page.md").write_text("# New\n\n[home](../README.md)\n")
    (repo / "tools.py").write_text("")
    badge = "[![CI](https://example.org/badge.svg)](https://example.org/runs)"
    links = "See [the tools](tools.py) and [lesson 1](lessons/01_intro.ipynb)."
    readme = f"# Course\n\n{badge}\n\n{links}\n"
    (repo / "README.md").write_text(readme + "\n## Quick start\n\nmake lab\n\n## Details\n\nx\n")

    pages = builder.stage(repo, staged)

    assert pages["docs"] == ["docs/new_page.md"]
    assert "[home](../index.md)" in (staged / "docs/new_page.md").read_text()
    index = (staged / "index.md").read_text()
    assert "See the tools and [lesson 1](lessons/01_intro.ipynb)" in index
    assert "[CI](https://example.org/runs)" in index and "badge.svg" not in index
    assert "## Quick start" in index and "## Details" not in index

    def first_cell(page: str) -> str:
        return json.loads((staged / page).read_text())["cells"][0]["source"]

    assert "[](../lessons/01_intro.ipynb)" in first_cell("exercises/01_intro.ipynb")
    assert "[](../solutions/01_intro.ipynb)" in first_cell("exercises/01_intro.ipynb")
    assert "[](../lessons.md)" in first_cell("exercises/42_renamed.ipynb")
    assert "[](../solutions.md)" in first_cell("exercises/42_renamed.ipynb")
    assert first_cell("exercises/42_renamed.ipynb").startswith("# Exercise 42\n")
    assert "[](../exercises/01_intro.ipynb)" in first_cell("solutions/01_intro.ipynb")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(
            f"No Chromium at {CHROMIUM}. Install it with `make system-packages` (Debian/Ubuntu), "
            "or point COURSE_CHROMIUM at a Chromium or Chrome binary."
        )
    with sync_playwright() as playwright:
        args = CHROMIUM_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield chromium
        chromium.close()


# Waits for MathJax's first typesetting pass; reports why when it never comes.
TYPESET = """async () => {
    if (!document.querySelector('.math')) return 'no math';
    for (let waited = 0; !(window.MathJax && MathJax.startup && MathJax.startup.promise);
         waited += 50) {
        if (waited > 20000) return 'MathJax did not load';
        await new Promise(resolve => setTimeout(resolve, 50));
    }
    await MathJax.startup.promise;
    return 'typeset';
}"""
# What a reader sees on the page, as numbers and the prose outside code.
SEEN = """() => {
    const main = document.querySelector('main') || document.body;
    const prose = main.cloneNode(true);
    prose.querySelectorAll('pre, code, script, style, mjx-container').forEach(e => e.remove());
    const images = [...main.querySelectorAll('img')];
    return {
        images: images.length,
        broken_images: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
        math: main.querySelectorAll('.math').length,
        untypeset: [...main.querySelectorAll('.math')]
            .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
        typeset: main.querySelectorAll('mjx-container').length,
        math_errors: main.querySelectorAll('[data-mjx-error], [data-mml-node="merror"]').length,
        prose: prose.textContent,
    };
}"""


def figures_in(page: str) -> int:
    """How many figures the committed notebook's outputs hold."""
    notebook = json.loads((ROOT / page).read_text(encoding="utf-8"))
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    return sum(any(kind in o.get("data", {}) for kind in IMAGES) for o in outputs)


def open_page(browser, site: Path, page: str) -> tuple[dict, list[str], list[str]]:
    """Open a built page from disk; what it shows, every request it made, its console errors."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    tab = context.new_page()
    requests, errors = [], []
    tab.on("request", lambda request: requests.append(request.url))
    tab.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    try:
        tab.goto((site / page).as_uri(), wait_until="load")
        state = tab.evaluate(TYPESET)
        assert state != "MathJax did not load", f"{page}: MathJax did not load"
        tab.wait_for_timeout(300)  # late requests and console messages
        seen = tab.evaluate(SEEN)
    finally:
        context.close()
    return seen, requests, errors


BROWSED = (
    ["index.md"]
    + PAGES["lessons"]
    + PAGES["exercises"][:1]
    + PAGES["solutions"][:1]
    + PAGES["docs"]
)


@pytest.mark.parametrize("page", BROWSED, ids=lambda p: Path(p).stem)
def test_page_shows_figures_and_math_offline(browser, site, page):
    seen, requests, errors = open_page(browser, site, html_of(page))
    remote = [url for url in requests if not url.startswith(LOCAL)]
    assert not remote, f"{page} requested from another host: {remote}"
    assert not errors, f"{page}: errors in the browser console: {errors}"
    assert not seen["broken_images"], f"{page}: figures that did not load: {seen['broken_images']}"
    if page.startswith("lessons/"):
        assert seen["images"] >= figures_in(page), f"{page}: {seen['images']} figures shown"
    assert not seen["untypeset"], f"{page}: math left untypeset: {seen['untypeset'][:5]}"
    assert seen["typeset"] >= seen["math"], f"{page}: {seen['typeset']} of {seen['math']} typeset"
    assert seen["math_errors"] == 0, f"{page}: {seen['math_errors']} formulas MathJax rejected"
    raw = [m for m in ("$$", "\\(", "\\[") if m in seen["prose"]]
    assert not raw, f"{page}: raw math delimiters {raw} left in the text"


def test_search_finds_lessons_offline(browser, site):
    """Sphinx's search runs in the page from its own index: it must work from file:// too."""
    context = browser.new_context()
    tab = context.new_page()
    errors, requests = [], []
    tab.on("request", lambda request: requests.append(request.url))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        tab.goto((site / "search.html").as_uri() + "?q=bidirectional", wait_until="load")
        found = tab.locator("#search-results li")
        found.first.wait_for(timeout=30_000)
        tab.wait_for_timeout(500)
        assert found.count() > 0
    finally:
        context.close()
    assert not errors, f"errors in the browser console while searching: {errors[:5]}"
    assert all(url.startswith(LOCAL) for url in requests), requests


def test_lesson_pages_carry_math_and_figures():
    """The browser test above proves something only if the lessons have math and figures."""
    assert any(figures_in(page) > 0 for page in PAGES["lessons"])
    assert any("$" in (ROOT / page).read_text(encoding="utf-8") for page in PAGES["lessons"])


def test_make_book_writes_the_site_into_a_git_ignored_folder():
    planned = subprocess.run(
        ["make", "-n", "-s", "-C", str(ROOT), "book"], capture_output=True, text=True, timeout=60
    )
    assert "book/build_site.py --build-dir book/_build" in planned.stdout, planned.stdout
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "book/_build/" in ignored, "the built site must stay out of git: list book/_build/"
