"""Fixtures shared by several test files, and the maintainer scripts on the import path."""

import sys
from pathlib import Path

import pytest
import torch

# The maintainer tools (provenance, the exercise generator) live in scripts/, outside the
# learner's package; they import their neighbours as scripts do when run from there.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from threads, and busy shared cores make them spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each test's call report on the item, so fixtures can tell it failed."""
    report = yield
    if report.when == "call":
        item.report_call = report
    return report
