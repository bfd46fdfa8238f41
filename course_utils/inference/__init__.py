"""Using a trained model: one module per family, all with the same habits.

Training ends with a model; these modules ask it questions.

* :mod:`~course_utils.inference.sentiment`: P(positive) of your own review
  (:func:`predict_sentiment`, :func:`predict_sentiments`).
* :mod:`~course_utils.inference.generation`: text from a language model, with
  temperature, top-k and top-p sampling (:func:`generate`, :func:`sample_next`).
* :mod:`~course_utils.inference.tagging`: tags of your own sentence and a tagger's
  per-tag report (:func:`tag_sentence`, :func:`tagging_report`).
* :mod:`~course_utils.inference.decoding`: translations by greedy and beam search,
  and BLEU (:func:`translate`, :func:`beam_search`, :func:`bleu`).
* :mod:`~course_utils.inference.inputs`: the checks they share.

The shared habits: the model runs in eval mode without gradients and is given back in
the mode it was in (:func:`course_utils.files.eval_mode`), on its own device; text
goes through the same tokenizer and vocabulary as the training data; and a bad input
(a model of another family, a vocabulary that does not fit the model, a text whose
words the model has never seen, a setting out of range) is a clear error that says
what to do, before PyTorch would fail deep inside a layer or answer nonsense.

Every public function is importable from here (``from course_utils.inference import
translate``) as well as from its module (``from course_utils.inference.decoding import
translate``), which the lessons use.
"""

from course_utils.inference.decoding import (
    Hypothesis,
    Translation,
    beam_search,
    bleu,
    detokenize,
    greedy_decode,
    loss_with_teacher_forcing,
    translate,
    translate_dataset,
)
from course_utils.inference.generation import (
    check_sampling,
    filter_logits,
    generate,
    lm_scores,
    sample_next,
    samples_html,
)
from course_utils.inference.sentiment import (
    default_tokenizer,
    model_max_len,
    predict_dataset,
    predict_sentiment,
    predict_sentiments,
)
from course_utils.inference.tagging import (
    TaggingReport,
    TagPredictions,
    predict_tags,
    tag_sentence,
    tagging_report,
)

__all__ = [
    "Hypothesis",
    "TagPredictions",
    "TaggingReport",
    "Translation",
    "beam_search",
    "bleu",
    "check_sampling",
    "default_tokenizer",
    "detokenize",
    "filter_logits",
    "generate",
    "greedy_decode",
    "lm_scores",
    "loss_with_teacher_forcing",
    "model_max_len",
    "predict_dataset",
    "predict_sentiment",
    "predict_sentiments",
    "predict_tags",
    "sample_next",
    "samples_html",
    "tag_sentence",
    "tagging_report",
    "translate",
    "translate_dataset",
]
