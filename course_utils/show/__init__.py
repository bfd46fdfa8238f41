"""Showing results and ideas: figures, diagrams, live widgets and speed measurements.

* :mod:`~course_utils.show.plots`: learning curves, attention maps, tables.
* :mod:`~course_utils.show.diagrams`: drawings of the ideas (an unrolled RNN, a packed batch,
  LSTM and GRU cells, a scan).
* :mod:`~course_utils.show.widgets`: the live demos (your own review, text, translation).
* :mod:`~course_utils.show.throughput`: training throughput, measured the same way in
  lesson 03 and ``bench/``.
* :mod:`~course_utils.show.sequence_speed`: training and generation cost against sequence
  length (lesson 10).
"""
