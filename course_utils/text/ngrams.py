"""Bags of n-grams: which words and word pairs a text contains, hashed into a fixed range.

A bag-of-n-grams model ignores word order beyond ``n`` words, yet on IMDb it is the
baseline every recurrent model has to beat (lesson 02). Each distinct unigram and bigram of
a text becomes one feature id in ``1 .. num_buckets - 1`` (0 is left for padding), the
*hashing trick*: no vocabulary to build, the same id for the same n-gram in every split,
and a fixed model size. Features are binary (a text either contains an n-gram or not),
which works better than counts for sentiment (Wang & Manning, 2012).

The hash is CRC32 of the token, not Python's ``hash``, which changes from one process to
the next and would give a saved model other features in another session.
"""

from __future__ import annotations

import zlib

import numpy as np

from course_utils.text.tokenizer import TokenizedCorpus

__all__ = ["PAD_FEATURE", "hashed_ngrams"]

#: The feature id padding uses: no n-gram hashes to it.
PAD_FEATURE = 0
_MIX = np.uint64(0x9E3779B97F4A7C15)  # an odd constant that spreads a pair's two hashes


def _token_hashes(types: list[str]) -> np.ndarray:
    return np.fromiter((zlib.crc32(t.encode("utf-8")) for t in types), np.uint64, len(types))


def hashed_ngrams(
    corpus: TokenizedCorpus, num_buckets: int = 2**20, n: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Each text's distinct n-grams (1 to ``n`` words) as ``(flat feature ids, offsets)``.

    The layout is :class:`~course_utils.text.batching.EncodedDataset`'s, so the features
    batch, bucket and pad like token ids. Ids are sorted within a text.
    """
    if n not in (1, 2):
        raise ValueError(f"n must be 1 (words) or 2 (words and word pairs), got {n}.")
    if num_buckets < 2:
        raise ValueError(f"num_buckets must be at least 2 (0 pads), got {num_buckets}.")
    hashes = _token_hashes(corpus.types)[corpus.ids]
    doc = np.repeat(np.arange(len(corpus), dtype=np.int64), np.diff(corpus.offsets))
    grams, owners = [hashes], [doc]
    if n == 2 and len(hashes) > 1:
        same_text = doc[1:] == doc[:-1]  # a pair never spans two texts
        with np.errstate(over="ignore"):  # wrapping multiplication is the point
            pairs = hashes[:-1] * _MIX + hashes[1:] + np.uint64(1)
        grams.append(pairs[same_text])
        owners.append(doc[1:][same_text])
    features = (np.concatenate(grams) % np.uint64(num_buckets - 1)).astype(np.int64) + 1
    keys = np.unique(np.concatenate(owners) * num_buckets + features)  # distinct, sorted
    owner, feature = np.divmod(keys, num_buckets)
    offsets = np.searchsorted(owner, np.arange(len(corpus) + 1))
    return feature, offsets
