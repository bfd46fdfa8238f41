"""The course's models, one file per family. Import a model from its own module.

* :mod:`~course_utils.models.scratch`: an RNN layer written with plain tensor ops (lesson 01).
* :mod:`~course_utils.models.classic`: the first classifiers and generator of the course,
  under the names the classic PyTorch tutorials gave them (``RNNModel``, ``GRUModel``, ...).
* :mod:`~course_utils.models.lengths`: padding done right: masks, reverse-within-length and
  the masked recurrence.
* :mod:`~course_utils.models.classifier`: the configurable classifier the lessons build.
* :mod:`~course_utils.models.embeddings`: pretrained GloVe / word2vec matrices.
* :mod:`~course_utils.models.language_model`: a character / word language model.
* :mod:`~course_utils.models.tagger`: a BiLSTM sequence labeller with a character CNN.
* :mod:`~course_utils.models.seq2seq`: encoder–decoders, with and without attention.
* :mod:`~course_utils.models.ngram`: NBSVM, the bag-of-n-grams baseline (lesson 02).
* :mod:`~course_utils.models.min_rnn`, :mod:`~course_utils.models.min_rnn_lm`,
  :mod:`~course_utils.models.transformer_lm`: lesson 10's parallel-scan RNNs and the
  Transformer they race.
* :mod:`~course_utils.models.building`: what a model definition needs (its arguments
  recorded once, stacked recurrent layers); :mod:`~course_utils.models.common`: what
  using a model needs (its device, eval mode, binary logits).

Nothing is imported here eagerly: a lesson that uses one family loads only that family,
so a change to ``seq2seq.py`` cannot touch the outputs of a lesson that never translates.
Every model stores its constructor arguments in ``model.config``; a checkpoint that holds
the class name, the config and the state dict rebuilds it with :func:`model_class`.
"""

from __future__ import annotations

import importlib

from torch import nn

#: Each class a checkpoint can rebuild, and the module (in this package) that defines it.
MODEL_MODULES: dict[str, str] = {
    "ScratchRNN": "scratch",
    "RNNModel": "classic",
    "GRUModel": "classic",
    "TextClassifier": "classic",
    "TextGenerator": "classic",
    "RecurrentClassifier": "classifier",
    "CharLanguageModel": "language_model",
    "BiLSTMTagger": "tagger",
    "BottleneckSeq2Seq": "seq2seq",
    "AttentionSeq2Seq": "seq2seq",
    "MinGRU": "min_rnn",
    "MinLSTM": "min_rnn",
    "MinRNNLanguageModel": "min_rnn_lm",
    "TransformerLanguageModel": "transformer_lm",
    "NgramClassifier": "ngram",
}


def model_class(name: str) -> type[nn.Module]:
    """The course model class called ``name``, importing only the module that defines it."""
    if name not in MODEL_MODULES:
        raise KeyError(name)
    module = importlib.import_module(f"{__name__}.{MODEL_MODULES[name]}")
    return getattr(module, name)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (frozen embeddings, for instance, are not counted).

    Comparing this number between models tells whether an accuracy gain came
    from a better idea or just from a bigger model.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["MODEL_MODULES", "count_parameters", "model_class"]
