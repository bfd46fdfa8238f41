"""Exercises: checks that give the learner feedback, one task at a time.

``solutions/NN_name.ipynb`` is the single source of each exercise; ``exercises/`` is
generated from it by ``scripts/exercises.py build`` (``make exercises``) and never edited
by hand; ``scripts/exercise_generator.py`` says how a solution is marked.

Checks (one per task, grouped by notebook in :mod:`course_utils.exercises.checks`)
print ``✓ ...`` for a right answer, ``… not implemented yet — <hint>`` for a stub
(no traceback, so unfinished notebooks still run top to bottom), and raise
:class:`ExerciseCheckError` naming the mistake for a wrong answer (see
:mod:`course_utils.exercises.feedback`).
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

__all__ = [
    "ExerciseCheckError",
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
    "requires",
]
