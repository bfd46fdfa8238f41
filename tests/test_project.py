"""The project's own files agree with each other: packages, README commands, CI."""

import json
import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_name_the_same_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for r in project["optional-dependencies"]["dev"]}

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = set(), set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip |= {_name(r) for r in dep["pip"] if not r.startswith("-")}
        else:
            conda.add(_name(dep))
    conda -= {"python", "pip"}
    assert conda | pip == wanted
    assert "torch==2.13.0" in next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]


def test_readme_quick_start_has_exactly_two_commands_that_ci_runs():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n#", 1)[0]
    commands = re.findall(r"```(?:bash|sh)?\n(.*?)```", quick, flags=re.S)
    lines = [c.strip() for block in commands for c in block.strip().splitlines()]
    assert lines == ["make lab", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


#: The README is a front page; everything else lives in the docs/ pages it links.
README_LIMIT = 12 * 1024
#: Pages the README must link (docs/website.md is another page it links, maybe not written yet).
DOCS_PAGES = {"install", "training", "scaling", "results", "maintaining", "learner_errors"}


def test_readme_is_a_short_front_page_whose_docs_links_resolve():
    data = (ROOT / "README.md").read_bytes()
    assert len(data) < README_LIMIT, (
        f"README.md is {len(data):,} bytes (limit {README_LIMIT:,}): move reference "
        "material to a docs/ page and link it"
    )
    readme = data.decode("utf-8")
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "doctor"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"no `{target}` target"
    linked = set(re.findall(r"\]\((docs/[\w./-]+\.md)(?:#[\w-]*)?\)", readme))
    assert {f"docs/{page}.md" for page in DOCS_PAGES} <= linked, sorted(linked)
    # docs/website.md belongs to the website's work, which may land after this page.
    missing = [p for p in sorted(linked) if p != "docs/website.md" and not (ROOT / p).is_file()]
    assert not missing, f"README links to docs pages that do not exist: {missing}"


def test_ci_pins_the_local_torch_wheel_and_the_mirror():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "torch==2.13.0" in ci
    assert "COURSE_DATA_MIRROR" in ci
    assert "shared/data" in ci


def test_committed_notebooks_carry_no_unfilled_placeholders():
    """Result sentences are written after a full-mode run; a forgotten marker must not ship."""
    marker = re.compile(r"\b(?:[A-Z]+_PLACEHOLDER|RANGES_\d+)\b")
    notebooks = sorted(ROOT.glob("lessons/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))
    assert notebooks
    for path in notebooks:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            found = marker.search("".join(cell["source"]))
            assert not found, f"{path.name}: fill in {found.group()} with the measured results"


def _output_texts(cell: dict):
    for output in cell.get("outputs", []):
        if "text" in output:
            yield "".join(output["text"])
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/") or mime == "application/json":
                yield value if isinstance(value, str) else "".join(value)
        if "traceback" in output:
            yield "\n".join(output["traceback"])


def _published_outputs_matching(pattern: re.Pattern) -> list[str]:
    """``notebook: match`` for each text output of the committed lessons and solutions that
    ``pattern`` finds something in."""
    notebooks = [*ROOT.glob("lessons/*.ipynb"), *ROOT.glob("solutions/*.ipynb")]
    return [
        f"{path.name}: {match.group()}"
        for path in sorted(notebooks)
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
        for text in _output_texts(cell)
        for match in [pattern.search(text)]
        if match
    ]


def test_committed_outputs_show_no_machine_paths():
    """Published outputs must not carry the absolute folders of whoever ran them."""
    absolute = re.compile(r"(?<![\w.:/~])(?:/(?:work|home|root|Users|tmp|mnt|opt|srv)/|[A-Z]:\\)")
    found = _published_outputs_matching(absolute)
    assert not found, "print paths with config.shown_path(...): " + "…, ".join(found)


def test_committed_outputs_show_no_object_reprs():
    """A cell ending in ``ax.legend()`` publishes ``<matplotlib.legend.Legend at 0x7f…>``.

    That line is noise for a learner and differs on every run; end such a cell with
    ``plt.show()`` (or assign the value) so only the figure is shown.
    """
    object_repr = re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-f]+>")
    found = _published_outputs_matching(object_repr)
    assert not found, "end the cell with plt.show(): " + ", ".join(found)


def test_conda_environment_installs_pytorch_only_once():
    """conda-forge's torchmetrics pulls conda-forge's pytorch: it must come from pip with torch."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    assert not conda & {"torchmetrics", "pytorch", "torch", "torchvision", "torchaudio"}
