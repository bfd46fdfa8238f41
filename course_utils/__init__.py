"""Support package of the rnn-course: the code behind the lessons, one job per module.

A map for reading it, bottom to top. Each layer imports only from the layers below it
(``tests/test_architecture.py`` checks that), so you can read it in this order and never
meet a name you have not seen yet; the lessons import from every layer.

**Foundation**: no course imports.

* ``helpers``: a model's device, ``eval_mode`` (a context manager), ``atomic_write``, "one
  logit means binary": the small things every other module needs, written once.
* ``config``: full or smoke mode, data / checkpoint folders, seeding, picking the device.
* ``distributed``: the same script alone or under ``torchrun``: ranks, DDP unwrapping,
  summing metrics over ranks.
* ``progress``: progress bars that turn into plain text when they finish, so a saved
  notebook never shows a dead widget.
* ``provenance``: the fingerprint of the code a committed notebook's outputs were made with.

**Data** (``data``): files and batches.

* ``data.datasets``: ``download(name)``, the entry point; ``data.registry`` (every file's
  URL and digest), ``data.transfer`` (pooch plus resumable transfers and stamps),
  ``data.mirror`` (an offline folder or URL with its own checksums), ``data.archives``
  (safe, atomic extraction), ``data.errors``.
* ``data.text`` (tokenizer, ``Vocab``, tokenised-corpus cache), ``data.batching``
  (padding, length buckets, sharding), and one loader per corpus: ``data.imdb``,
  ``data.chars`` (Tiny Shakespeare), ``data.ud`` + ``data.tagging`` (UD English-EWT),
  ``data.multi30k``.

**Models and tasks**.

* ``models``: ``models.lengths`` (padding done right: masks, reverse-within-length, the
  masked recurrence), then ``models.scratch`` (lesson 01's RNN), ``models.classifier``,
  ``models.embeddings``, ``models.language_model``, ``models.tagger``, ``models.seq2seq``,
  ``models.seeds`` (the classic tutorials' models, under their original names), and
  lesson 10's ``models.min_rnn`` (minGRU / minLSTM and the parallel scan),
  ``models.min_rnn_lm`` and ``models.transformer_lm``.
* ``tasks``: what one training step means for classification, tagging, language modelling
  and seq2seq, so one trainer trains them all.
* ``word_vectors``: word2vec trained on IMDb's own reviews (the offline alternative to GloVe).

**Training**, in the order ``fit`` uses it.

* ``history``: ``History``, what happened in each epoch.
* ``checkpoint``: save a model with its class, configuration and vocabulary reference;
  load it back with every shape checked first.
* ``callbacks``: early stopping with the best weights, checkpoints, a time budget, progress,
  pruning Optuna trials: everything around the loop, one small interface.
* ``resume``: the whole state of a run after each epoch, and continuing a killed run.
* ``train``: ``fit`` (the short loop) and ``evaluate``.
* ``budget``: training on a wall-clock budget, with a schedule that ends when the budget
  does (lesson 10's race).
* ``tuning``: Optuna studies kept in a database (SQLite by default, PostgreSQL across
  machines) that survive a crash and share one target between workers.
* ``recipes``: ``SentimentRecipe``, lesson 05's model as one set of choices that lesson 05,
  ``scripts/train_imdb.py`` and the study all build from.
* ``sentiment_study``: lesson 09's search space, objective and study over that recipe.

**Using a trained model** (``inference``): ``inference.sentiment`` (a review → positive
or negative), ``inference.generation`` (sampling text), ``inference.tagging`` (tags and a
report), ``inference.decoding`` (greedy and beam search, BLEU), and ``inference.inputs``
(their shared checks of what a learner types).

**Showing results**: ``plots`` (figures and tables), ``diagrams`` (drawings of the ideas),
``benchmark`` (training throughput, measured the same way in lesson 03 and ``bench/``),
``sequence_speed`` (training and generation cost against sequence length, lesson 10),
then ``widgets`` (the live demos, which use the plots).

**Exercises** (``exercises``): the generator of exercise notebooks from solutions, the
feedback machinery and one check per task.

**Set-up check** (``doctor``, run as ``python -m course_utils doctor`` through ``__main__``):
Python, torch build, device, Jupyter kernel, datasets and disk, each with its fix.
"""

__version__ = "0.1.0"
