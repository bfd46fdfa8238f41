"""Speed of the text pipeline and the padding that batching leaves, on the real IMDb data.

    python bench/text_pipeline.py

1. Tokenise + numericalise the 50,000 labelled reviews twice: a first run into an
   empty cache folder, then the cached run a lesson's second execution gets.
2. Padding fraction of IMDb training batches of 64: bucketed vs random batches.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from course_utils.datasets.imdb import load_imdb
from course_utils.text.batching import BucketBatchSampler, padding_fraction
from course_utils.text.tokenizer import Tokenizer, tokenize_corpus
from course_utils.text.vocab import Vocab, numericalize


def encode_all(texts: list[str], cache_dir: Path) -> float:
    """Seconds to tokenise (or load from the cache) and numericalise ``texts``."""
    start = time.perf_counter()
    corpus = tokenize_corpus(texts, Tokenizer(), cache_dir=cache_dir, progress=False)
    numericalize(corpus, Vocab.build(corpus, max_size=25_000))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3, help="epochs (shuffles) to average over")
    args = parser.parse_args()

    imdb = load_imdb(per_split=None)
    labelled = imdb.train.texts + imdb.valid.texts + imdb.test.texts
    with tempfile.TemporaryDirectory() as cache:
        first = encode_all(labelled, Path(cache))
        cached = encode_all(labelled, Path(cache))
    print(
        f"tokenise + numericalise {len(labelled):,} reviews: first run {first:.1f} s, "
        f"cached run {cached:.2f} s"
    )

    lengths = tokenize_corpus(imdb.train.texts, Tokenizer(), progress=False).lengths
    for max_len in (None, 400):
        clipped = lengths if max_len is None else np.minimum(lengths, max_len)
        fractions = {}
        for name, pool in (("bucketed", None), ("random", 1)):
            values = []
            for epoch in range(args.seeds):
                kwargs = {} if pool is None else {"pool_factor": pool}
                sampler = BucketBatchSampler(clipped, args.batch_size, seed=0, **kwargs)
                sampler.set_epoch(epoch)
                values.append(padding_fraction(clipped, list(sampler)))
            fractions[name] = float(np.mean(values))
        print(
            f"padding of training batches of {args.batch_size} "
            f"(max_len={max_len}): bucketed {fractions['bucketed']:.1%}, "
            f"random {fractions['random']:.1%}"
        )


if __name__ == "__main__":
    main()
