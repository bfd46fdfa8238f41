"""Training: one short loop, and everything around it as optional callbacks.

Read :mod:`~course_utils.training.loop` first: :func:`~course_utils.training.loop.fit`
and :func:`~course_utils.training.loop.evaluate`, the whole of one run. Then, as needed:

* :mod:`~course_utils.training.tasks`: what one step means for each kind of model
  (a label per review, per token, the next character, a translation);
* :mod:`~course_utils.training.history`: what happened in each epoch;
* :mod:`~course_utils.training.callbacks`: early stopping, a time budget, checkpoints,
  progress bars, Optuna trial reports, per-batch schedules, each on its own;
* :mod:`~course_utils.training.checkpoint`: saving a model with what rebuilds it;
* :mod:`~course_utils.training.resume`: the whole run in one file, to continue after a crash;
* :mod:`~course_utils.training.budget`: lesson 10's race on a wall-clock budget.
"""
