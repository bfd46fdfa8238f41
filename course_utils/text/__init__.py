"""The text pipeline that replaces torchtext: text → tokens → indices → padded batches.

* :mod:`~course_utils.text.tokenizer`: spaCy's rule-based tokenizer with HTML clean-up, and
  a tokenised corpus cached on disk.
* :mod:`~course_utils.text.vocab`: the vocabulary, built from the training split only.
* :mod:`~course_utils.text.batching`: padding, length buckets (the modern BucketIterator) and
  sharding under torchrun.
* :mod:`~course_utils.text.word_vectors`: word2vec trained on IMDb's own reviews.
"""
