"""Exercises: checks that give feedback, and the generator that makes exercises from solutions.

``solutions/NN_name.ipynb`` is the single source of each exercise; ``exercises/``
is generated from it (``make exercises``, i.e. ``python -m course_utils.exercises
build``) and never edited by hand. CI runs ``python -m course_utils.exercises check``
(through ``tests/test_exercises.py``) so the two never drift apart.

Marking a solution notebook (details in :mod:`course_utils.exercises.generator`):

* answer code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines inside
  a function body becomes ``raise NotImplementedError("<hint>")``;
* a ``# HINT: ...`` comment directly above ``### BEGIN SOLUTION`` is kept and is
  the stub's message;
* a markdown cell whose first line is ``<!-- solution -->`` is left out.

Checks (one per task, grouped by notebook in :mod:`course_utils.exercises.checks`)
print ``✓ ...`` for a right answer, ``… not implemented yet — <hint>`` for a stub
(no traceback, so unfinished notebooks still run top to bottom), and raise
:class:`ExerciseCheckError` naming the mistake for a wrong answer (see
:mod:`course_utils.exercises.feedback`).

This is a package rather than one ``exercises.py`` module because it holds three
separate jobs — the notebook generator and its command line, the feedback machinery,
and the checks themselves — and ``python -m course_utils.exercises`` needs a ``__main__``.
"""

from course_utils.exercises.checks import (
    check_attention_pool,
    check_bidirectional_classifier,
    check_concat_final_states,
    check_fixed_classifier,
    check_generate,
    check_gru_forward,
    check_gru_layers,
    check_last_real_state,
    check_max_pool,
    check_mean_pool,
    check_padding_gap,
    check_recurrent_params,
    check_reverse_within_length,
    check_sample_with_temperature,
    check_temperature_probs,
)
from course_utils.exercises.feedback import ExerciseCheckError, exercise_check, requires
from course_utils.exercises.generator import MarkerError, build_all, make_exercise

__all__ = [
    "ExerciseCheckError",
    "MarkerError",
    "build_all",
    "check_attention_pool",
    "check_bidirectional_classifier",
    "check_concat_final_states",
    "check_fixed_classifier",
    "check_generate",
    "check_gru_forward",
    "check_gru_layers",
    "check_last_real_state",
    "check_max_pool",
    "check_mean_pool",
    "check_padding_gap",
    "check_recurrent_params",
    "check_reverse_within_length",
    "check_sample_with_temperature",
    "check_temperature_probs",
    "exercise_check",
    "make_exercise",
    "requires",
]
