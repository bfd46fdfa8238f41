"""The fingerprint behind stale-output detection sees code changes and only code changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import provenance

ROOT = Path(__file__).resolve().parents[1]


def notebook(*cells: tuple[str, str]) -> dict:
    return {
        "cells": [{"cell_type": kind, "source": source, "metadata": {}} for kind, source in cells],
        "metadata": {},
    }


def test_imports_are_followed_through_the_package():
    found = provenance.imported_modules(
        ["%matplotlib inline\nfrom course_utils.training.loop import fit"]
    )
    assert {
        "course_utils",
        "course_utils.training.loop",
        "course_utils.training.callbacks",
    } <= found
    assert {"course_utils.progress", "course_utils.config", "course_utils.files"} <= found
    assert "course_utils.show.widgets" not in found and "course_utils.doctor" not in found
    assert "course_utils.config" in provenance.imported_modules(["from course_utils import config"])


def test_a_changed_code_cell_makes_outputs_stale_and_prose_does_not(tmp_path):
    nb = notebook(("markdown", "# Intro"), ("code", "from course_utils import config\nx = 1"))
    nb["metadata"]["course"] = {"fingerprint": provenance.fingerprint(nb)}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert provenance.stale_parts(path) == []
    nb["cells"][0]["source"] = "# Introduction, reworded"
    path.write_text(json.dumps(nb))
    assert provenance.stale_parts(path) == []
    nb["cells"][1]["source"] = "from course_utils import config\nx = 2"
    path.write_text(json.dumps(nb))
    assert provenance.stale_parts(path) == ["cells"]
    del nb["metadata"]["course"]
    path.write_text(json.dumps(nb))
    assert provenance.stale_parts(path) == ["never recorded"]


def test_module_changes_count_and_docstrings_comments_and_layout_do_not(tmp_path, monkeypatch):
    package = tmp_path / "course_utils"
    shutil.copytree(provenance.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE", package)
    nb = notebook(("code", "from course_utils.files import atomic_write"))
    before = provenance.fingerprint(nb)["course_utils"]
    helpers = package / "files.py"
    source = helpers.read_text()
    helpers.write_text(source.replace('"""', '"""Reworded. ', 1) + "\n\n# a comment\n")
    assert provenance.fingerprint(nb)["course_utils"] == before
    helpers.write_text(source + "\nEXTRA = 1\n")
    assert provenance.fingerprint(nb)["course_utils"] != before
    helpers.write_text(source)
    (package / "show" / "widgets.py").write_text("CHANGED = True\n")  # not imported by it
    assert provenance.fingerprint(nb)["course_utils"] == before


def test_a_change_to_one_model_family_stales_only_the_notebooks_that_use_it(tmp_path, monkeypatch):
    """Models are imported on demand, so seq2seq.py is no part of a sentiment lesson."""
    package = tmp_path / "course_utils"
    shutil.copytree(provenance.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE", package)
    sentiment = notebook(("code", "from course_utils.models.classifier import RecurrentClassifier"))
    translation = notebook(("code", "from course_utils.models.seq2seq import AttentionSeq2Seq"))
    before = [provenance.fingerprint(nb)["course_utils"] for nb in (sentiment, translation)]
    seq2seq = package / "models" / "seq2seq.py"
    seq2seq.write_text(seq2seq.read_text() + "\nEXTRA = 1\n")
    after = [provenance.fingerprint(nb)["course_utils"] for nb in (sentiment, translation)]
    assert after[0] == before[0] and after[1] != before[1]
