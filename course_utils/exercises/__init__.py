"""Exercises: checks that give the learner feedback, one task at a time.

``solutions/NN_name.ipynb`` is the single source of exercise ``NN``, which practises lesson
``NN``; ``exercises/`` is generated from it by ``scripts/exercises.py build``
(``make exercises``) and never edited by hand; ``scripts/exercise_generator.py`` says how a
solution is marked.

Each exercise has its own checks module, ``exNN_topic.py`` (one check per task), which its
notebook imports directly: a change to one exercise's checks leaves the other notebooks'
recorded outputs fresh. This package itself only exports what every notebook uses. Checks
print ``✓ ...`` for a right answer, ``… not implemented yet — <hint>`` for a stub (no
traceback, so unfinished notebooks still run top to bottom), and raise
:class:`ExerciseCheckError` naming the mistake for a wrong answer (see
:mod:`course_utils.exercises.feedback`).
"""

from course_utils.exercises.feedback import ExerciseCheckError, exercise_check, requires

__all__ = ["ExerciseCheckError", "exercise_check", "requires"]
