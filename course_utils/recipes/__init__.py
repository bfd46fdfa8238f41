"""Complete training recipes: every choice behind one lesson's best run, as one object.

* :mod:`~course_utils.recipes.imdb_sentiment`: lesson 05's sentiment model, which lesson 05,
  ``scripts/train_imdb.py`` and lesson 09's study all build from.
"""
