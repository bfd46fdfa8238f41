"""Hyperparameter search with Optuna (lesson 09).

* :mod:`~course_utils.tuning.studies`: studies kept in a database (SQLite by default, a
  journal file or PostgreSQL for many workers) that survive a crash and share one target.
* :mod:`~course_utils.tuning.sentiment_study`: lesson 09's search space and objective over
  lesson 05's recipe.
"""
