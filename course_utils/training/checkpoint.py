"""Save a trained model with everything needed to rebuild it, and load it back safely.

A checkpoint is a plain dictionary of Python values and tensors, so it loads with
``torch.load(..., weights_only=True)`` (no arbitrary code runs when you open a file
someone sent you)::

    {"format": 1,
     "model_class": "RecurrentClassifier",
     "model_config": {...constructor keyword arguments...},
     "state_dict": {...tensors...},
     "vocab": {"path": "imdb_vocab.json", "fingerprint": "3f2a..."},
     "extra": {...anything else: epoch, metric, history...}}

Every course model keeps its constructor arguments in ``model.config``, so
:func:`load_checkpoint` can rebuild the model from the file alone, and when you pass
a model it checks the class and every parameter's shape *before* loading, so a
checkpoint from another model gives a readable :class:`CheckpointError` instead of
PyTorch's wall of "size mismatch" messages.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.distributed import unwrap
from course_utils.files import atomic_write

FORMAT = 1
_MAX_LISTED = 8


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: not a checkpoint, or for another model."""


def _config_of(model: nn.Module) -> dict | None:
    config = getattr(model, "config", None)
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise TypeError(
            f"{type(model).__name__}.config must be a dict of constructor arguments, "
            f"got {type(config).__name__}."
        )
    config = dict(config)
    try:
        json.dumps(config)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{type(model).__name__}.config must hold only plain values (numbers, strings, "
            f"lists, dicts, None) so the checkpoint can be loaded safely; {err}. Store large "
            "arrays such as pretrained embeddings in the model's parameters instead."
        ) from err
    return config


def read_vocab_fingerprint(vocab_path: Path) -> str | None:
    """The fingerprint of the vocabulary saved at ``vocab_path`` (None if there is no file)."""
    if not vocab_path.is_file():
        return None
    from course_utils.text.vocab import Vocab

    return Vocab.load(vocab_path).fingerprint


def checkpoint_payload(
    model: nn.Module, *, vocab: dict | None = None, extra: dict | None = None
) -> dict[str, Any]:
    """The dictionary a checkpoint file holds for ``model`` (see the module docstring)."""
    module = unwrap(model)
    return {
        "format": FORMAT,
        "model_class": type(module).__name__,
        "model_config": _config_of(module),
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "vocab": vocab if vocab is not None else {"path": None, "fingerprint": None},
        "extra": extra if extra is not None else {},
    }


def write_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """``torch.save`` ``payload`` to ``path`` atomically: a crash keeps the previous file."""
    path = Path(path)
    with atomic_write(path) as fh:
        torch.save(payload, fh)
    return path


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    vocab_path: str | os.PathLike | None = None,
    vocab_fingerprint: str | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``model`` (class, config, weights) and a reference to its vocabulary to ``path``.

    The file is written to a temporary name and renamed, so an interrupted save never
    leaves a truncated checkpoint behind. ``vocab_path`` is stored relative to the
    checkpoint's folder when possible, so a moved course folder still finds it; when
    ``vocab_fingerprint`` is not given it is read from the vocabulary file.
    ``extra`` must hold plain values (numbers, strings, lists, dicts) and tensors.
    """
    path = Path(path)
    vocab = {"path": None, "fingerprint": vocab_fingerprint}
    if vocab_path is not None:
        vocab_path = Path(vocab_path)
        if vocab_fingerprint is None:
            vocab_fingerprint = read_vocab_fingerprint(vocab_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            stored = os.path.relpath(vocab_path.resolve(), path.parent.resolve())
        except ValueError:  # another drive on Windows
            stored = str(vocab_path.resolve())
        vocab = {"path": Path(stored).as_posix(), "fingerprint": vocab_fingerprint}
    return write_checkpoint(path, checkpoint_payload(model, vocab=vocab, extra=extra))


def _unreadable(path: Path, err: BaseException) -> CheckpointError:
    """Why ``torch.load`` failed, in words: a cut-off file or something that is no checkpoint."""
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    with path.open("rb") as fh:
        starts_like_torch_save = fh.read(4) == b"PK\x03\x04"  # torch.save writes a zip
    # A zip's directory is at its end: a file that starts as one but has none was cut off.
    if starts_like_torch_save and not zipfile.is_zipfile(path):
        return CheckpointError(
            f"{path} is damaged or incomplete ({path.stat().st_size:,} bytes; torch.load "
            f"says: {first_line}). It is the start of a checkpoint whose end is missing, "
            "typically from a copy or download that was cut off (the course's own saves are "
            "atomic). Nothing was loaded. Delete the file and copy it again, or re-train."
        )
    return CheckpointError(
        f"{path} is not a course checkpoint: torch.load(weights_only=True) could not read "
        f"it ({first_line}). Save models with course_utils.training.checkpoint.save_checkpoint or "
        "fit(..., callbacks=[Checkpoint(path)])."
    )


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The checked contents of a checkpoint file; clear errors for anything else.

    Raises FileNotFoundError for a missing file and :class:`CheckpointError` for a
    truncated file, a file of another kind, a bare ``state_dict`` or another format.
    """
    path = Path(path)
    if not path.is_file():
        hint = (
            "Train the model first with fit(..., callbacks=[Checkpoint(path)]) or "
            "save_checkpoint(), or check the path"
        )
        if path.exists():
            raise FileNotFoundError(f"{path} is a folder, not a checkpoint file. {hint}.")
        raise FileNotFoundError(
            f"No checkpoint at {path}. {hint} (the working folder is {Path.cwd()})."
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        # weights_only=True runs no code, so any failure means "unreadable": random bytes
        # reach torch's legacy unpickler, which fails in many ways (UnpicklingError,
        # IndexError, TypeError, UnicodeDecodeError, ...).
        raise _unreadable(path, err) from err
    _check_payload(path, payload)
    return dict(payload)


def _check_payload(path: Path, payload: Any) -> None:
    if not isinstance(payload, Mapping) or "format" not in payload:
        if (
            isinstance(payload, Mapping)
            and payload
            and all(isinstance(v, torch.Tensor) for v in payload.values())
        ):
            raise CheckpointError(
                f"{path} holds a bare state_dict (only weights, no model class or config). "
                "Load it with model.load_state_dict(torch.load(path, weights_only=True)) into a "
                "model built with the same settings, or re-save it with save_checkpoint."
            )
        raise CheckpointError(
            f"{path} is not a course checkpoint (no 'format' entry). Save models with "
            "save_checkpoint (course_utils.training.checkpoint) or fit(..., "
            "callbacks=[Checkpoint(path)])."
        )
    if payload["format"] != FORMAT:
        raise CheckpointError(
            f"{path} has checkpoint format {payload['format']!r}; this version of course_utils "
            f"reads format {FORMAT}. Update the course (git pull) or re-train the model."
        )
    for key in ("model_class", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"{path} is damaged: its '{key}' entry is missing.")


def _short_list(lines: list[str]) -> list[str]:
    if len(lines) <= _MAX_LISTED:
        return lines
    return [*lines[:_MAX_LISTED], f"... and {len(lines) - _MAX_LISTED} more"]


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def _config_call(payload: dict) -> str:
    config = payload.get("model_config")
    if config is None:
        return f"{payload['model_class']}(...)  # the checkpoint does not record its arguments"
    return f"{payload['model_class']}(**{config!r})"


def mismatch_report(path: Path, payload: dict, model: nn.Module) -> tuple[str | None, list[str]]:
    """Why ``payload`` does not fit ``model`` (None when it fits), and the config differences."""
    problems: list[str] = []
    diffs: list[str] = []
    ckpt_class, model_class = payload["model_class"], type(model).__name__
    if ckpt_class != model_class:
        problems.append(f"model class: checkpoint {ckpt_class} vs model {model_class}")
    ckpt_config = payload.get("model_config")
    model_config = getattr(model, "config", None)
    if isinstance(ckpt_config, Mapping) and isinstance(model_config, Mapping):
        diffs = [
            f"{key}: checkpoint {ckpt_config.get(key, '<absent>')!r} vs model "
            f"{model_config.get(key, '<absent>')!r}"
            for key in sorted(set(ckpt_config) | set(model_config), key=str)
            if ckpt_config.get(key, "<absent>") != model_config.get(key, "<absent>")
        ]
        if diffs:
            problems.append("configuration differs:")
            problems.extend("    " + d for d in _short_list(diffs))
    state = payload["state_dict"]
    own = model.state_dict()
    shapes = [
        f"{name}: checkpoint {_shape(state[name])} vs model {_shape(tensor)}"
        for name, tensor in own.items()
        if name in state and state[name].shape != tensor.shape
    ]
    missing = [name for name in own if name not in state]
    unexpected = [name for name in state if name not in own]
    if shapes:
        problems.append("parameter shapes differ:")
        problems.extend("    " + s for s in _short_list(shapes))
    if missing:
        problems.append("parameters the checkpoint lacks: " + ", ".join(_short_list(missing)))
    if unexpected:
        problems.append("parameters the model lacks: " + ", ".join(_short_list(unexpected)))
    # A different config alone is fine when every tensor fits (e.g. another dropout
    # rate): the caller warns. A different class or weights that cannot load are errors.
    if ckpt_class == model_class and not (shapes or missing or unexpected):
        return None, diffs
    lines = [f"The checkpoint {path} was saved from a different model:"]
    lines += ["  " + p for p in problems]
    lines += [
        "Build the model with the checkpoint's settings:",
        f"  model = {_config_call(payload)}",
        "or let load_checkpoint build it: model, info = load_checkpoint(path).",
    ]
    return "\n".join(lines), diffs


def _rebuild(path: Path, name: str, config: Any, classes: Mapping[str, type] | None) -> nn.Module:
    """``cls(**config)`` for the class the checkpoint names, with an error that says what to do."""
    from course_utils import models

    known = classes if classes is not None else models.MODEL_MODULES
    if name not in known:
        raise CheckpointError(
            f"{path} holds a {name}, which is not one of the known model classes "
            f"({', '.join(sorted(known))}). Build the model yourself and pass it: "
            "load_checkpoint(path, model), or pass model_classes={...}."
        )
    if not isinstance(config, Mapping):
        raise CheckpointError(
            f"{path} does not record the {name}'s constructor arguments, so it cannot be "
            "rebuilt. Build the model yourself and pass it: load_checkpoint(path, model)."
        )
    cls = classes[name] if classes is not None else models.model_class(name)
    try:
        return cls(**config)
    except TypeError as err:
        raise CheckpointError(
            f"{path}: {name}(**{dict(config)!r}) failed ({err}). The checkpoint was probably "
            "written by another version of the course; re-train or build the model yourself."
        ) from err


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    map_location: str | torch.device | None = "cpu",
    model_classes: Mapping[str, type] | None = None,
) -> tuple[nn.Module, dict]:
    """Load a checkpoint written by :func:`save_checkpoint`; return ``(model, info)``.

    Without ``model`` the model is rebuilt from its class name and ``model_config`` (see
    :func:`course_utils.models.model_class`; ``model_classes``, e.g. for classes of your
    own, overrides that registry), put in eval mode and moved to ``map_location``. With
    ``model`` the class and every parameter's shape are checked first; a checkpoint from
    another model raises
    :class:`CheckpointError` saying what differs and how to build a matching model.

    ``info`` holds ``model_class``, ``model_config``, ``vocab`` (``path`` resolved
    against the checkpoint's folder, and ``fingerprint``; see :func:`load_vocab`),
    ``extra`` and ``path``.
    """
    path = Path(path)
    payload = read_checkpoint(path, map_location)
    state = payload["state_dict"]
    if model is None:
        model = _rebuild(path, payload["model_class"], payload.get("model_config"), model_classes)
        report, _ = mismatch_report(path, payload, model)
        if report:
            raise CheckpointError(report)
        model.load_state_dict(state)
        if map_location is not None and not callable(map_location):
            model.to(map_location)
        model.eval()
    else:
        module = unwrap(model)
        report, diffs = mismatch_report(path, payload, module)
        if report:
            raise CheckpointError(report)
        if diffs:
            warnings.warn(
                f"Loaded {path}, but the model's configuration differs from the one it was "
                "trained with: " + "; ".join(_short_list(diffs)) + ". The weights fit, but the "
                "model may behave differently; load_checkpoint(path) rebuilds it exactly.",
                stacklevel=2,
            )
        module.load_state_dict(state)
    vocab = payload.get("vocab") or {}
    vocab_path = vocab.get("path")
    if vocab_path is not None:
        vocab_path = str((path.parent / vocab_path).resolve())
    info = {
        "path": str(path),
        "format": payload["format"],
        "model_class": payload["model_class"],
        "model_config": payload.get("model_config"),
        "vocab": {"path": vocab_path, "fingerprint": vocab.get("fingerprint")},
        "extra": payload.get("extra") or {},
    }
    return model, info


def load_vocab(info: Mapping):
    """The :class:`~course_utils.text.vocab.Vocab` a checkpoint was trained with.

    ``info`` is the second value :func:`load_checkpoint` returns. The vocabulary's
    fingerprint is compared with the one stored at training time, because a model
    fed indices from another vocabulary runs without error and predicts nonsense.
    """
    from course_utils.text.vocab import Vocab

    vocab_info = info.get("vocab") or {}
    vocab_path = vocab_info.get("path")
    if not vocab_path:
        raise CheckpointError(
            f"The checkpoint {info.get('path', '')} records no vocabulary file. Load the "
            "vocabulary you trained with: Vocab.load(path)."
        )
    vocab = Vocab.load(vocab_path)
    expected = vocab_info.get("fingerprint")
    if expected and vocab.fingerprint != expected:
        raise CheckpointError(
            f"{vocab_path} is not the vocabulary this model was trained with (fingerprint "
            f"{vocab.fingerprint}, the checkpoint expects {expected}). Re-save the training "
            "vocabulary there, or re-train the model with this one."
        )
    return vocab
