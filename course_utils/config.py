"""The one place where the course decides its mode, paths, seed and device.

Notebooks and library code ask this module instead of reading environment
variables themselves, so that ``COURSE_MODE=smoke`` (what the test command
sets) shrinks every lesson consistently and a learner's ``COURSE_DATA_DIR``
is honoured everywhere.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

MODES = ("full", "smoke")


def _find_repo_root() -> Path:
    """The repository root for an editable install; the working directory otherwise."""
    candidate = Path(__file__).resolve().parents[1]
    if (candidate / "pyproject.toml").is_file() and (candidate / "course_utils").is_dir():
        return candidate
    return Path.cwd()


REPO_ROOT: Path = _find_repo_root()


def mode() -> str:
    """``"full"`` (the default, what learners get) or ``"smoke"`` (tiny data, for CI)."""
    value = os.environ.get("COURSE_MODE", "full").strip().lower() or "full"
    if value not in MODES:
        raise ValueError(
            f"COURSE_MODE={value!r} is not a known mode. Use one of {', '.join(MODES)} "
            "(or unset it for the full course)."
        )
    return value


def is_smoke() -> bool:
    """True when the course runs in smoke mode (CI): small data, one short epoch."""
    return mode() == "smoke"


def pick(full: T, smoke: T) -> T:
    """Return ``full`` normally and ``smoke`` under ``COURSE_MODE=smoke``.

    Notebooks write ``EPOCHS = config.pick(full=5, smoke=1)`` so they never test
    the mode themselves and the smoke values sit right beside the real ones.
    """
    return smoke if is_smoke() else full


def data_dir() -> Path:
    """Where datasets are downloaded and extracted (``COURSE_DATA_DIR``, default ``data/``)."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data"


def cache_dir() -> Path:
    """Where derived artefacts (tokenised corpora, trained word vectors) are cached."""
    return data_dir() / "cache"


def checkpoint_dir() -> Path:
    """Where trained models are saved (``COURSE_CHECKPOINT_DIR``, default ``checkpoints/``).

    Smoke mode saves into a ``smoke/`` subfolder, so running the tests never
    overwrites a model a learner trained in full mode (exercise 06 samples from
    lesson 06's checkpoint, for one).
    """
    env = os.environ.get("COURSE_CHECKPOINT_DIR")
    base = Path(env).expanduser().resolve() if env else REPO_ROOT / "checkpoints"
    return base / "smoke" if is_smoke() else base


def data_mirror() -> str | None:
    """A folder or URL prefix that serves the datasets instead of their official hosts."""
    value = os.environ.get("COURSE_DATA_MIRROR", "").strip()
    return value or None


def seed_everything(seed: int = 0, deterministic: bool = False) -> int:
    """Seed Python, NumPy and PyTorch (all devices) so a run can be repeated.

    ``deterministic=True`` also asks PyTorch for deterministic kernels; on a GPU
    that is slower, so lessons only turn it on where they compare numbers exactly.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return seed


def get_device(prefer: str | None = None) -> torch.device:
    """The best device here: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or ``COURSE_DEVICE``) forces one, e.g. ``"cpu"`` to compare timings.
    """
    wanted = prefer or os.environ.get("COURSE_DEVICE")
    if wanted:
        device = torch.device(wanted)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "A CUDA device was requested but this PyTorch build sees none. Install a CUDA "
                "build of torch (see the README, 'Using a GPU') or ask for 'cpu'."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def shown_path(path: Path) -> str:
    """``path`` as published outputs may show it: relative to the course folder when inside it.

    Committed notebook outputs must not carry the absolute paths of whoever ran them; a
    folder outside the course shows as ``~/...`` under the home folder.
    """
    path = Path(path)
    for base, prefix in ((REPO_ROOT, ""), (Path.home(), "~/")):
        try:
            return prefix + path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def describe() -> str:
    """One line a notebook prints at the top so results can be matched to a set-up."""
    device = get_device()
    return (
        f"mode={mode()} device={device} torch={torch.__version__} "
        f"threads={torch.get_num_threads()} data_dir={shown_path(data_dir())}"
    )
