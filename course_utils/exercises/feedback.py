"""How a check talks to a learner: ✓ on success, a friendly note for a stub, a diagnosis otherwise.

Every check function in the ``course_utils.exercises.exNN_*`` modules is wrapped by
:func:`exercise_check`, which gives all of them the same behaviour:

* **correct answer**: prints ``✓ Task N (...): what was verified`` and returns ``None``;
* **stub** (the learner's code still raises ``NotImplementedError``): prints
  ``… Task N (...): not implemented yet — <hint>`` and returns ``None`` — no
  traceback, so an unfinished exercise notebook still runs top to bottom;
* **wrong answer**: raises :class:`ExerciseCheckError` (an ``AssertionError``)
  whose message says what is wrong and what to do. Raising makes nbval fail on a
  broken *solution* notebook in CI; in Jupyter the error shows as that message
  alone, without a stack trace of the checking code (and with the learner's own
  traceback when their code crashed).
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class ExerciseCheckError(AssertionError):
    """A wrong answer; the message is the diagnosis (what is wrong, and what to do)."""

    def __init__(self, message: str, task: str | None = None) -> None:
        super().__init__(message)
        self.diagnosis = message
        self.task = task

    def __str__(self) -> str:
        return f"{self.task}: {self.diagnosis}" if self.task else self.diagnosis

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the diagnosis (and the learner's crash)."""
        lines = [f"✗ {self}"]
        cause = self.__cause__
        if cause is not None:
            lines += ["", "Your code raised this error:"]
            lines += "".join(traceback.format_exception(cause)).rstrip().split("\n")
        return lines


def fail(message: str) -> None:
    """Stop the current check with a diagnosis for the learner."""
    raise ExerciseCheckError(message)


def call(description: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's code; turn a crash into a diagnosis that says what was called.

    ``NotImplementedError`` (a stub) and :class:`ExerciseCheckError` pass through
    unchanged, so :func:`exercise_check` can report them in its own way.
    """
    try:
        return function(*args, **kwargs)
    except (NotImplementedError, ExerciseCheckError):
        raise
    except Exception as err:
        raise ExerciseCheckError(
            f"{description} raised {type(err).__name__}: {err}. Run your code on the same input "
            "in a cell of its own to see where it fails."
        ) from err


def exercise_check(task: str, success: str) -> Callable[[F], F]:
    """Decorate a check: ``task`` names it in every message, ``success`` says what passed."""

    def decorate(check: F) -> F:
        @functools.wraps(check)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            try:
                check(*args, **kwargs)
            except NotImplementedError as err:
                hint = str(err).strip() or "replace the `raise NotImplementedError` line."
                print(f"… {task}: not implemented yet — {hint}")
                return
            except ExerciseCheckError as err:
                err.task = err.task or task
                raise
            print(f"✓ {task}: {success}")

        wrapper.task = task  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


@contextmanager
def requires(*tasks: str) -> Iterator[None]:
    """Run an experiment cell only once the tasks it needs are done.

    ``with exercises.requires("Task 1", "Task 2"):`` around a training cell turns
    the ``NotImplementedError`` of an unfinished task into a one-line note, so
    "Run all" still reaches the end of an exercise notebook.
    """
    try:
        yield
    except NotImplementedError:
        needed = ", ".join(tasks) if tasks else "the tasks above"
        them = "it" if len(tasks) == 1 else "them"
        print(f"… skipped: this cell needs {needed}; finish {them} and run this cell again.")
