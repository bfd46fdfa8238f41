"""Support package of the rnn-course: data, text pipeline, models, trainer, plots, widgets."""

__version__ = "0.1.0"
