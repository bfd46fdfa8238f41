"""Word vectors trained on the course's own text with gensim's word2vec.

GloVe (822 MB) is the classic choice of pretrained embeddings, but IMDb itself ships
50,000 unlabelled reviews: word2vec trained on them (plus the training split)
takes a minute or two on a laptop CPU, needs no download, and knows movie-review
vocabulary ("imdb", "rewatch", "cgi") that general-purpose vectors may miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from course_utils import config
from course_utils.progress import tqdm
from course_utils.text.tokenizer import TokenizedCorpus


class _Sentences:
    """Restartable iterable over the token lists of several corpora (read once per epoch)."""

    def __init__(self, corpora: Sequence[TokenizedCorpus]):
        self.corpora = corpora

    def __iter__(self) -> Iterator[list[str]]:
        for corpus in self.corpora:
            types = corpus.types
            ids, offsets = corpus.ids, corpus.offsets
            for i in range(len(corpus)):
                yield [types[j] for j in ids[offsets[i] : offsets[i + 1]]]


def _cache_key(corpora: Sequence[TokenizedCorpus], params: dict) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for corpus in corpora:
        h.update(corpus.ids.tobytes())
        h.update(corpus.offsets.tobytes())
        h.update("\n".join(corpus.types).encode())
    return h.hexdigest()[:20]


def train_word2vec(
    corpora: Sequence[TokenizedCorpus],
    *,
    vector_size: int = 100,
    window: int = 5,
    min_count: int = 2,
    epochs: int = 5,
    workers: int | None = None,
    seed: int = 1234,
    cache: bool = True,
    progress: bool = True,
):
    """Train (or load from the cache) CBOW word2vec vectors; returns gensim ``KeyedVectors``.

    The cache is keyed by the corpora's tokens and every parameter, so changing the
    data or ``vector_size`` trains again. With several worker threads word2vec is not
    bit-for-bit reproducible; the cached vectors are, which is why the cache exists.
    """
    from gensim.models import KeyedVectors, Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    if not corpora or not any(len(c) for c in corpora):
        raise ValueError("train_word2vec needs at least one non-empty tokenised corpus.")
    params = {
        "vector_size": vector_size,
        "window": window,
        "min_count": min_count,
        "epochs": epochs,
        "seed": seed,
    }
    folder = config.cache_dir() / "word2vec" / _cache_key(corpora, params)
    path = folder / "vectors.kv"
    if cache and path.is_file():
        return KeyedVectors.load(str(path))

    class _EpochBar(CallbackAny2Vec):
        def __init__(self) -> None:
            self.bar = tqdm(total=epochs, desc="word2vec", unit="epoch", disable=not progress)

        def on_epoch_end(self, model) -> None:
            self.bar.update(1)

        def on_train_end(self, model) -> None:
            self.bar.close()

    model = Word2Vec(
        sentences=_Sentences(corpora),
        callbacks=[_EpochBar()],
        workers=workers or max(1, os.cpu_count() or 1),
        **params,
    )
    vectors = model.wv
    if cache:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
        try:
            vectors.save(str(tmp / "vectors.kv"))
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return vectors
