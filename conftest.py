"""Collection rules for the whole repository.

``exercises/*.ipynb`` contain stubs (``raise NotImplementedError``) on purpose, so nbval
must never run them as tests, even when someone points pytest at the repository root.
``tests/test_exercises.py`` covers them instead: they must equal what the generator makes
of ``solutions/``, and an unfinished one must still run top to bottom.
"""

collect_ignore_glob = ["exercises/*.ipynb"]
