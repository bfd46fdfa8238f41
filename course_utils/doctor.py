"""``python -m course_utils doctor``: is this machine ready for the course, and if not, why.

Most set-up problems a learner meets look like something else: a notebook that cannot
import ``course_utils`` (the Jupyter kernel is another Python), a lesson that takes an hour
(a CUDA build of torch that sees no GPU, or one thread), a download that fails offline
(no data mirror). The doctor checks each of these once, prints one line per check and,
for every problem, the command that fixes it; it exits non-zero when something is wrong.
"""

from __future__ import annotations

import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from course_utils import config
from course_utils.datasets import REGISTRY, DataError
from course_utils.datasets._mirror import resolve_mirror
from course_utils.datasets._transfer import is_verified

__all__ = ["Finding", "examine", "main"]

TESTED_TORCH = "2.13.0"
#: Free space to keep beyond the missing downloads: extraction and caches need room too.
SPARE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Finding:
    """One line of the report. ``ok`` is False for a problem; ``fix`` says what to do."""

    topic: str
    detail: str
    ok: bool = True
    fix: str = ""


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _python() -> Finding:
    version = platform.python_version()
    ok = sys.version_info >= (3, 10)
    return Finding(
        "python",
        f"{version} in {config.shown_path(Path(sys.prefix))}",
        ok,
        "" if ok else "Install Python 3.10 or newer, then run `make setup` again.",
    )


def _torch() -> list[Finding]:
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_built():
        build += ", MPS built" + (" and available" if mps.is_available() else " (not available)")
    findings = [Finding("torch", f"{torch.__version__} ({build} build)")]
    if not torch.__version__.startswith(TESTED_TORCH):
        findings.append(
            Finding(
                "torch",
                f"the course is tested with {TESTED_TORCH}; results may differ slightly",
                True,
            )
        )
    if torch.version.cuda and not torch.cuda.is_available():
        findings.append(
            Finding(
                "gpu",
                "this is a CUDA build of torch, but it sees no GPU",
                False,
                "On a machine without a GPU use the CPU build: `make clean setup` (README, "
                "'Using a GPU', for the other way round).",
            )
        )
    try:
        device = config.get_device()
    except RuntimeError as err:
        return [*findings, Finding("device", str(err), False, "Unset COURSE_DEVICE or fix it.")]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    threads = torch.get_num_threads()
    findings.append(Finding("device", f"{device} ({name}), {threads} CPU threads"))
    return findings


#: The kernel every notebook names in its metadata (``make setup`` and ``make lab`` register it).
KERNEL = "rnn-course"


def _kernel() -> Finding:
    """Does Jupyter's ``rnn-course`` kernel, the one the notebooks ask for, run this Python?"""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return Finding(
            "jupyter",
            "Jupyter is not installed in this environment",
            False,
            "Run `make setup`, then start the course with `make lab`.",
        )
    register = (
        f"`{config.shown_path(Path(sys.executable))} -m ipykernel install --sys-prefix "
        f"--name {KERNEL}` (`make kernel` registers it for a Jupyter outside this environment)"
    )
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        return Finding(
            "jupyter",
            f"no `{KERNEL}` kernel is registered: Jupyter will ask which kernel to use",
            False,
            f"Start JupyterLab with `make lab` (it registers the kernel), or run {register}.",
        )
    command = spec.argv[0]
    same = Path(command).resolve() == Path(sys.executable).resolve()
    runs = "this environment" if same else config.shown_path(Path(command))
    detail = f"the {KERNEL} kernel runs {runs}"
    if same:
        return Finding("jupyter", detail + " (start JupyterLab with `make lab`)")
    return Finding(
        "jupyter",
        detail + ", not this environment (another clone, or an older set-up)",
        False,
        f"Re-register it from here: run {register}.",
    )


def _datasets() -> tuple[list[Finding], int]:
    """One finding per dataset, and the bytes still to download."""
    root, findings, missing_bytes = config.data_dir(), [], 0
    for info in REGISTRY.values():
        states = []
        for remote in info.files:
            dest = root / remote.path
            if not dest.is_file():
                states.append("missing")
                missing_bytes += remote.size or 0
            else:
                states.append("verified" if is_verified(dest) else "present")
        size = _size(sum(remote.size or 0 for remote in info.files))
        if all(s == "verified" for s in states):
            detail = f"verified ({size})"
        elif "missing" in states:
            detail = f"missing ({size}): downloaded the first time a lesson needs it"
        else:
            detail = f"present, not yet verified ({size}): checked on first use"
        findings.append(Finding(f"data: {info.name}", detail))
    return findings, missing_bytes


def _mirror() -> Finding:
    value = config.data_mirror()
    if not value:
        return Finding("data mirror", "none: files come from their official URLs")
    try:
        mirror = resolve_mirror(value)
        count = len(mirror.checksums())
    except (DataError, OSError) as err:
        return Finding(
            "data mirror",
            f"COURSE_DATA_MIRROR={value}: {err}",
            False,
            "Point COURSE_DATA_MIRROR at a folder with checksums.sha256, or unset it.",
        )
    shown = config.shown_path(Path(value)) if "://" not in value else value
    return Finding("data mirror", f"COURSE_DATA_MIRROR={shown} ({count} files listed)")


def _disk(missing_bytes: int) -> Finding:
    folder = config.data_dir()
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    needed = missing_bytes + SPARE_BYTES
    detail = (
        f"{_size(free)} free where the data goes; missing downloads need {_size(missing_bytes)}"
    )
    if free >= needed:
        return Finding("disk", detail)
    return Finding(
        "disk",
        detail,
        False,
        f"Free at least {_size(needed - free)}, or set COURSE_DATA_DIR to a bigger disk.",
    )


def examine() -> list[Finding]:
    """Every check, in the order the report prints them."""
    datasets, missing = _datasets()
    return [_python(), *_torch(), _kernel(), _mirror(), *datasets, _disk(missing)]


def main() -> int:
    findings = examine()
    width = max(len(f.topic) for f in findings)
    for finding in findings:
        mark = "ok " if finding.ok else "!! "
        print(f"{mark}{finding.topic:<{width}}  {finding.detail}")
        if finding.fix:
            print(f"   {'':<{width}}  → {finding.fix}")
    problems = sum(not f.ok for f in findings)
    print(
        "\nAll good: open the course with `make lab`."
        if not problems
        else f"\n{problems} problem(s) above: fix them, then run `make doctor` again."
    )
    return 1 if problems else 0
