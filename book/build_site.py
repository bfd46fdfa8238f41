"""Build the course as a static website from the committed notebooks, without running them.

The notebooks already carry full-mode outputs (figures, tables, widget previews), so the site
only renders them. Sphinx reads a staging copy of the course (``book/_build/src``) that this
script writes on every build: the pages are found with glob, so a renamed or added notebook or
``docs/*.md`` page appears without anyone editing a list, and the copy is where the generated
pieces go (the front page from the README, one index per section, the links between an
exercise, its solution and its lesson). Files whose content did not change are not rewritten,
so Sphinx rebuilds only what changed.

Usage: ``python book/build_site.py [--out DIR] [--only GLOB ...]`` (``make book`` runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
BUILD = BOOK / "_build"
# (folder, title, file pattern), in the order of the sidebar.
SECTIONS = (
    ("lessons", "Lessons", "*.ipynb"),
    ("exercises", "Exercises", "*.ipynb"),
    ("solutions", "Solutions", "*.ipynb"),
    ("docs", "Guides", "*.md"),
)
# A markdown link or image: ``[text](target)``, ``![alt](target "title")``.
LINK = re.compile(
    r"(?P<bang>!?)\[(?P<text>[^\[\]]*)\]\((?P<target><[^>]*>|[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)"
)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", flags=re.I)
NUMBER = re.compile(r"^(\d+)_")


def section_index(folder: str) -> str:
    """The generated page that lists a section, e.g. ``lessons.md`` beside ``lessons/``.

    It lives at the top level, not inside the folder, so it can never overwrite a page that
    someone adds there (a ``docs/index.md``, say).
    """
    return f"{folder}.md"


def find_pages(root: Path, only: list[str] | None = None) -> dict[str, list[str]]:
    """The site's pages by section folder, as paths relative to ``root``, in file-name order.

    ``only`` (glob patterns relative to ``root``) keeps a subset: the smoke-mode test builds a
    few pages instead of the whole course.
    """
    pages = {}
    for folder, _title, pattern in SECTIONS:
        found = sorted(p.relative_to(root).as_posix() for p in (root / folder).glob(pattern))
        if only is not None:
            found = [p for p in found if any(Path(p).match(g) for g in only)]
        pages[folder] = found
    return pages


def front_page(readme: str) -> str:
    """The README's front part: its title, introduction and first section (the quick start).

    The rest of the README (results tables, maintenance notes) is reference material that the
    sections of the site and the ``docs/`` pages cover.
    """
    headings = [m.start() for m in re.finditer(r"^## ", readme, flags=re.M)]
    return readme[: headings[1]] if len(headings) > 1 else readme


def source_url() -> str | None:
    """Where the repository's files can be read online, for links to files the site lacks.

    ``COURSE_SOURCE_URL`` wins; in GitHub Actions the repository's own address is known.
    """
    if os.environ.get("COURSE_SOURCE_URL"):
        return os.environ["COURSE_SOURCE_URL"].rstrip("/")
    if os.environ.get("GITHUB_REPOSITORY"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{os.environ['GITHUB_REPOSITORY']}"
    return None


class Stage:
    """The staging copy of the course that Sphinx reads, and the rules that fill it.

    Relative links are pointed at what the site has: a page of the site stays as it is; the
    README becomes the front page; an image from elsewhere in the repository is copied in, and
    one from another host (a CI badge) becomes its alt text, as it cannot load offline; any
    other file of the repository (a module, a data README) is linked online when the
    repository's address is known, and otherwise becomes plain text, because the site must
    not carry links that lead nowhere. A link to something that does not exist at all is left
    alone, so that the build warns and the link check reports it.
    """

    def __init__(self, root: Path, dest: Path, pages: dict[str, list[str]]) -> None:
        self.root, self.dest, self.pages = root, dest, pages
        self.site = {page for found in pages.values() for page in found} | {"index.md"}
        self.online = source_url()
        self.written: set[str] = set()

    def write(self, relative: str, content: bytes | str) -> None:
        """Write ``relative`` under the staging folder unless it already holds ``content``."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        path = self.dest / relative
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.written.add(relative)

    def remove_stale(self) -> None:
        """Delete staged files from earlier builds that no longer belong to the site."""
        for path in sorted(self.dest.rglob("*"), reverse=True):
            relative = path.relative_to(self.dest).as_posix()
            if path.is_file() and relative not in self.written:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()

    def fix_links(self, text: str, page: str) -> str:
        """``text`` of the page ``page`` (relative to the repository) with its links fixed."""
        return LINK.sub(lambda match: self._link(match, page), text)

    def _link(self, match: re.Match, page: str) -> str:
        target = match["target"].strip("<>")
        path, hash_, fragment = target.partition("#")
        if match["bang"] and SCHEME.match(path) and not path.startswith("data:"):
            return match["text"]  # an image from another host (a CI badge): its alt text
        if not path or SCHEME.match(path) or path.startswith("/"):
            return match[0]
        here = os.path.dirname(page)
        resolved = os.path.normpath(os.path.join(here, path))
        if resolved == "README.md":
            new = os.path.relpath("index.md", here or ".")
        elif resolved in self.site or not (self.root / resolved).exists():
            return match[0]
        elif match["bang"] and (self.root / resolved).is_file():
            self.write(resolved, (self.root / resolved).read_bytes())
            return match[0]
        elif self.online is None:
            return match["text"]
        else:
            new = f"{self.online}/blob/HEAD/{resolved}"
        title = match["title"] or ""
        return f"{match['bang']}[{match['text']}]({new}{hash_}{fragment}{title})"

    def partner(self, folder: str, name: str) -> str:
        """The page of ``folder`` that goes with ``name``: same file name, else same number.

        Without one (a lesson number that does not exist, a page left out of a subset build)
        it is the section's index, so a renamed exercise never breaks the build.
        """
        found = self.pages.get(folder, [])
        if f"{folder}/{name}" in found:
            return f"{folder}/{name}"
        number = NUMBER.match(name)
        prefix = f"{folder}/{number[1]}_" if number else None
        match = next((p for p in found if prefix and p.startswith(prefix)), None)
        return match or section_index(folder)

    def companion_links(self, page: str) -> str | None:
        """The line an exercise or solution page starts with: its lesson and its counterpart."""
        folder, name = page.split("/", 1)
        counterpart = {"exercises": "solutions", "solutions": "exercises"}.get(folder)
        if counterpart is None:
            return None
        links = [
            ("Lesson", self.partner("lessons", name)),
            (counterpart[:-1].capitalize(), self.partner(counterpart, name)),
        ]
        return " · ".join(f"**{label}:** [](../{target})" for label, target in links)

    def notebook(self, page: str) -> None:
        """Stage a notebook with its markdown links fixed and, for exercises and solutions,
        a line under the title that links the lesson and the counterpart."""
        notebook = json.loads((self.root / page).read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = self.fix_links("".join(cell["source"]), page)
        links = self.companion_links(page)
        if links is not None:
            put_under_title(notebook["cells"], links)
        self.write(page, json.dumps(notebook, ensure_ascii=False, indent=1) + "\n")

    def markdown(self, page: str, text: str) -> None:
        self.write(page, self.fix_links(text, page))

    def indexes(self) -> None:
        """The front page (the README's front part) and one listing page per section."""
        sections = [(f, t) for f, t, _ in SECTIONS if self.pages.get(f)]
        for folder, title in sections:
            entries = "\n".join(p.rsplit(".", 1)[0] for p in self.pages[folder])
            toctree = f"```{{toctree}}\n:maxdepth: 1\n\n{entries}\n```\n"
            self.write(section_index(folder), f"# {title}\n\n{toctree}")
        readme = (self.root / "README.md").read_text(encoding="utf-8")
        entries = "\n".join(folder for folder, _title in sections)
        toctree = f"```{{toctree}}\n:maxdepth: 2\n:caption: The course\n\n{entries}\n```\n"
        self.markdown("index.md", front_page(readme).rstrip() + "\n\n" + toctree)


def put_under_title(cells: list[dict], line: str) -> None:
    """Put ``line`` right under the notebook's title, which stays the page's first heading;
    in a cell of its own at the top when the notebook does not start with a title."""
    first = cells[0] if cells else {"cell_type": "code", "source": ""}
    text = "".join(first["source"])
    if first["cell_type"] == "markdown" and text.startswith("# "):
        title, _, rest = text.partition("\n")
        first["source"] = f"{title}\n\n{line}\n{rest}"
        return
    cell = {"cell_type": "markdown", "metadata": {}, "source": line}
    if any("id" in c for c in cells):  # nbformat 4.5 wants every cell to have one
        cell["id"] = "site-companion-links"
    cells.insert(0, cell)


def stage(root: Path, dest: Path, only: list[str] | None = None) -> dict[str, list[str]]:
    """Write the staging copy of the course at ``root`` into ``dest``; return its pages."""
    pages = find_pages(root, only)
    staging = Stage(root, dest, pages)
    for found in pages.values():
        for page in found:
            if page.endswith(".ipynb"):
                staging.notebook(page)
            else:
                staging.markdown(page, (root / page).read_text(encoding="utf-8"))
    staging.indexes()
    staging.remove_stale()
    return pages


def build(build_dir: Path = BUILD, only: list[str] | None = None, jobs: str = "auto") -> int:
    """Stage the course and run Sphinx on it; the site lands in ``build_dir / "html"``.

    Sphinx rebuilds only the pages whose files changed; when a page was added, renamed or
    removed, it starts afresh, because links to that page from unchanged pages would keep
    their old (broken) target. Its warnings go to ``build_dir / "warnings.log"`` as well as to
    the terminal, so the test can show them. Returns Sphinx's exit status.
    """
    from sphinx.cmd.build import build_main

    source = build_dir / "src"
    before = {p for p in source.rglob("*") if p.is_file()}
    stage(ROOT, source, only)
    fresh = ["-E"] if before != {p for p in source.rglob("*") if p.is_file()} else []
    warnings = build_dir / "warnings.log"
    args = ["-b", "html", "-c", str(BOOK), "-d", str(build_dir / "doctrees"), "-j", jobs, *fresh]
    args += ["-q", "-w", str(warnings), str(source), str(build_dir / "html")]
    return build_main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=BUILD, help="default: book/_build")
    parser.add_argument("--only", nargs="+", help="glob patterns of the pages to build")
    parser.add_argument("-j", "--jobs", default="auto", help="Sphinx processes (default: auto)")
    args = parser.parse_args(argv)
    status = build(args.build_dir.resolve(), args.only, args.jobs)
    if status == 0:
        index = args.build_dir.resolve() / "html" / "index.html"
        print(f"site built: open {index} in a browser (it works offline)")
    return status


if __name__ == "__main__":
    sys.exit(main())
