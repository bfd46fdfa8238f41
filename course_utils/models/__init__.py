"""The course's models, one file per family.

* :mod:`~course_utils.models.scratch`: an RNN layer written with plain tensor ops.
* :mod:`~course_utils.models.seeds`: the seed tutorials' classifiers and generator.
* :mod:`~course_utils.models.classifier`: the configurable classifier the lessons build.
* :mod:`~course_utils.models.embeddings`: pretrained GloVe / word2vec matrices.
* :mod:`~course_utils.models.seq2seq`: encoder–decoders for translation, with and without
  attention.
* :mod:`~course_utils.models.language_model`: a character / word language model (RNN, LSTM, GRU).
* :mod:`~course_utils.models.tagger`: a BiLSTM sequence labeller with a character CNN.

``MODEL_CLASSES`` maps each class name to its class. Every model keeps its
constructor arguments in ``model.config``, so a checkpoint that stores the
class name, the config and the state dict can rebuild the model with
``MODEL_CLASSES[name](**config)``.
"""

from __future__ import annotations

from torch import nn

from course_utils.models.classifier import AttentionPooling, RecurrentClassifier
from course_utils.models.embeddings import (
    EmbeddingMatrix,
    load_glove_vectors,
    vectors_from_keyed_vectors,
)
from course_utils.models.language_model import CharLanguageModel
from course_utils.models.lengths import (
    CELLS,
    LENGTH_MODES,
    check_lengths,
    reverse_padded,
    run_masked,
)
from course_utils.models.scratch import ScratchRNN
from course_utils.models.seeds import GRUModel, RNNModel, TextClassifier, TextGenerator
from course_utils.models.seq2seq import AttentionSeq2Seq, BottleneckSeq2Seq
from course_utils.models.tagger import BiLSTMTagger, CharCNN

MODEL_CLASSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        ScratchRNN,
        RNNModel,
        TextClassifier,
        GRUModel,
        TextGenerator,
        RecurrentClassifier,
        CharLanguageModel,
        BottleneckSeq2Seq,
        AttentionSeq2Seq,
        BiLSTMTagger,
    )
}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (frozen embeddings, for instance, are not counted).

    Comparing this number between models tells whether an accuracy gain came
    from a better idea or just from a bigger model.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "CELLS",
    "LENGTH_MODES",
    "MODEL_CLASSES",
    "AttentionPooling",
    "AttentionSeq2Seq",
    "BiLSTMTagger",
    "BottleneckSeq2Seq",
    "CharCNN",
    "CharLanguageModel",
    "EmbeddingMatrix",
    "GRUModel",
    "RNNModel",
    "RecurrentClassifier",
    "ScratchRNN",
    "TextClassifier",
    "TextGenerator",
    "check_lengths",
    "count_parameters",
    "load_glove_vectors",
    "reverse_padded",
    "run_masked",
    "vectors_from_keyed_vectors",
]
