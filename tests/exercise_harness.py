"""How every exercise check is tested: it accepts the answer, is friendly to the untouched stub,
and rejects a wrong answer with a message that names the mistake. Shared by the exercise tests."""

from __future__ import annotations

import pytest

from course_utils import exercises as ex


def _stub(*args, **kwargs):
    raise NotImplementedError("Hint: read the task.")


def assert_passes(check, answer, capsys) -> None:
    check(answer)
    out = capsys.readouterr().out
    assert out.startswith("✓ Task"), out


def assert_stub_is_friendly(check, stub, capsys) -> None:
    check(stub)  # must not raise
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "Hint: read the task." in out, out


def assert_rejects(check, answer, *fragments: str) -> None:
    with pytest.raises(ex.ExerciseCheckError) as info:
        check(answer)
    message = str(info.value)
    assert message.startswith("Task"), message
    for fragment in fragments:
        assert fragment in message, message
