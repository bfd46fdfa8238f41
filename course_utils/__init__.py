"""Support package of the rnn-course: the code behind the lessons, one folder per job.

``ls course_utils`` shows the architecture, bottom to top. Each layer imports only from
layers below it (``tests/test_architecture.py`` reads the layers from this list), so you
can read in this order and never meet a name you have not seen yet.

1. **Foundation** (the files at the top, in this order): ``config`` (full or smoke mode,
   folders, seeding, the device), ``files`` (atomic writes), ``progress`` (progress bars
   that stay readable in a saved notebook), ``distributed`` (the same script alone or
   under ``torchrun``).
2. ``text``: tokenizer, vocabulary, padded and length-bucketed batches, word2vec.
3. ``datasets``: ``download(name)`` with checksums and an offline mirror (internals in
   ``_``-modules), then one module per corpus: IMDb, Tiny Shakespeare, UD English-EWT,
   Multi30k, each as batches ready for a model.
4. ``models``: one file per family, imported on demand (``models.building`` and
   ``models.common`` hold what they share).
5. ``training``: ``training.loop`` (``fit`` and ``evaluate``, the short loop), then tasks,
   history, callbacks, checkpoints, resume and lesson 10's time budget.
6. ``recipes``: lesson 05's sentiment model as one set of choices.
7. ``tuning``: Optuna studies that survive a crash and share one target between workers.
8. ``inference``: asking a trained model (sentiment, generation, tags, translation).
9. ``show``: plots, diagrams, widgets and speed measurements.
10. ``exercises``: the checks that give feedback in the exercise notebooks.
11. ``doctor`` (run as ``python -m course_utils doctor`` through ``__main__``): is this
    machine ready? Each problem with its fix.

Maintainer tools (output provenance, the exercise generator, notebook refresh, seed runs)
live in ``scripts/``, outside the learner's package.
"""

__version__ = "0.1.0"
