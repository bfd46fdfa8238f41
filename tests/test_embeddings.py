"""Tests of course_utils.models.embeddings: GloVe / word2vec matrices for a vocabulary."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors
from torch.testing import assert_close

from course_utils.models import count_parameters
from course_utils.models.classifier import RecurrentClassifier
from course_utils.models.embeddings import load_glove_vectors, vectors_from_keyed_vectors
from course_utils.text.vocab import Vocab

# "paris" comes before "Paris" in the file, so only an exact-match-first rule gives
# the vocabulary's "Paris" the second vector; "Great" is only found lower-cased.
GLOVE_LINES = [
    "the 0.1 0.2 0.3",
    "movie -1.5 2.0 0.25",
    "paris 9 9 9",
    "Paris 7 7 7",
    "great 0.5 -0.5 1.0",
    "was 1e-2 2e-2 3e-2",
    "unrelated 4 4 4",
]


@pytest.fixture
def vocab() -> Vocab:
    tokens = ["the", "movie", "was", "Great", "Paris", "zzz", "the", "movie", "the"]
    return Vocab.build([tokens], max_size=None)


def write(path, lines, compress=False):
    text = "\n".join(lines) + "\n"
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_glove_file_gives_found_vectors_zero_pad_row_and_coverage(tmp_path, vocab):
    matrix = load_glove_vectors(write(tmp_path / "glove.txt", GLOVE_LINES), vocab)
    vectors = matrix.vectors
    assert vectors.shape == (len(vocab), 3)
    assert vectors.dtype == torch.float32
    assert_close(vectors[vocab.stoi["the"]], torch.tensor([0.1, 0.2, 0.3]))
    assert_close(vectors[vocab.stoi["movie"]], torch.tensor([-1.5, 2.0, 0.25]))
    assert_close(vectors[vocab.stoi["was"]], torch.tensor([0.01, 0.02, 0.03]))
    assert_close(vectors[vocab.stoi["Paris"]], torch.tensor([7.0, 7.0, 7.0]))  # exact first
    assert_close(vectors[vocab.stoi["Great"]], torch.tensor([0.5, -0.5, 1.0]))  # lower-cased
    assert torch.equal(vectors[vocab.pad_index], torch.zeros(3))

    assert (matrix.found, matrix.total) == (5, len(vocab) - 1)  # <pad> is not looked up
    assert matrix.missing == ["<unk>", "zzz"]
    assert vectors[vocab.stoi["zzz"]].abs().sum() > 0
    assert matrix.coverage == pytest.approx(5 / 7)
    assert str(matrix).startswith("found 5 of 7 vocabulary words (71.4%)")


def test_lowercase_fallback_can_be_switched_off(tmp_path, vocab):
    matrix = load_glove_vectors(
        write(tmp_path / "glove.txt", GLOVE_LINES), vocab, lowercase_fallback=False
    )
    assert matrix.found == 4
    assert "Great" in matrix.missing
    assert_close(matrix.vectors[vocab.stoi["Paris"]], torch.tensor([7.0, 7.0, 7.0]))


def test_random_rows_are_seeded_and_as_spread_out_as_the_found_vectors(tmp_path):
    words = [f"w{i}" for i in range(40)]
    vocab = Vocab.build([words], max_size=None)
    rng = np.random.default_rng(0)
    lines = [w + " " + " ".join(f"{v:.4f}" for v in rng.normal(0, 10, 50)) for w in words[:20]]
    path = write(tmp_path / "big.txt", lines)

    matrix = load_glove_vectors(path, vocab, seed=3)
    random_rows = matrix.vectors[[vocab.stoi[w] for w in words[20:]]]
    assert 7 < random_rows.std().item() < 13  # the found vectors' std is 10, not 1
    assert torch.equal(load_glove_vectors(path, vocab, seed=3).vectors, matrix.vectors)
    assert not torch.equal(load_glove_vectors(path, vocab, seed=4).vectors, matrix.vectors)


def test_gzipped_and_word2vec_header_files_read_the_same(tmp_path, vocab):
    plain = load_glove_vectors(write(tmp_path / "glove.txt", GLOVE_LINES), vocab)
    gzipped = load_glove_vectors(write(tmp_path / "glove.txt.gz", GLOVE_LINES, True), vocab)
    header = [f"{len(GLOVE_LINES)} 3", *GLOVE_LINES]
    word2vec = load_glove_vectors(write(tmp_path / "w2v.txt", header), vocab, dim=3)
    for other in (gzipped, word2vec):
        assert torch.equal(other.vectors, plain.vectors)
        assert other.found == plain.found


def test_a_line_of_another_dimension_is_reported_with_its_line_number(tmp_path, vocab):
    lines = [*GLOVE_LINES[:3], "broken 0.1 0.2", *GLOVE_LINES[3:]]
    with pytest.raises(ValueError, match=r"line 4: 'broken' has 2 numbers, expected 3"):
        load_glove_vectors(write(tmp_path / "glove.txt", lines), vocab)


def test_a_dim_that_disagrees_with_the_file_is_reported(tmp_path, vocab):
    path = write(tmp_path / "glove.txt", GLOVE_LINES)
    with pytest.raises(ValueError, match=r"line 1: .* expected 50 \(from dim=50\)"):
        load_glove_vectors(path, vocab, dim=50)
    header_path = write(tmp_path / "w2v.txt", ["7 3", *GLOVE_LINES])
    with pytest.raises(ValueError, match="header line says the vectors have 3"):
        load_glove_vectors(header_path, vocab, dim=50)


def test_a_missing_file_says_how_to_get_glove(tmp_path, vocab):
    with pytest.raises(FileNotFoundError, match=r"download\('glove_6b'\)"):
        load_glove_vectors(tmp_path / "nowhere.txt", vocab)


def test_an_empty_file_is_reported(tmp_path, vocab):
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="contains no word vectors"):
        load_glove_vectors(tmp_path / "empty.txt", vocab)


def test_keyed_vectors_use_the_same_rules_as_glove_files(tmp_path, vocab):
    kv = KeyedVectors(vector_size=3)
    words = [line.split()[0] for line in GLOVE_LINES]
    kv.add_vectors(words, np.array([line.split()[1:] for line in GLOVE_LINES], dtype=np.float32))

    from_kv = vectors_from_keyed_vectors(kv, vocab, seed=0)
    from_file = load_glove_vectors(write(tmp_path / "glove.txt", GLOVE_LINES), vocab, seed=0)
    assert torch.equal(from_kv.vectors, from_file.vectors)
    assert (from_kv.found, from_kv.total, from_kv.missing) == (
        from_file.found,
        from_file.total,
        from_file.missing,
    )


def test_pretrained_embeddings_can_be_frozen_and_unfrozen(tmp_path, vocab):
    matrix = load_glove_vectors(write(tmp_path / "glove.txt", GLOVE_LINES), vocab)
    model = RecurrentClassifier(
        len(vocab),
        3,
        4,
        1,
        padding_idx=vocab.pad_index,
        pretrained_embeddings=matrix.vectors,
        freeze_embeddings=True,
    )
    assert torch.equal(model.embedding.weight, matrix.vectors)
    assert not model.embedding.weight.requires_grad
    frozen_count = count_parameters(model)

    tokens = torch.tensor([[vocab.stoi["the"], vocab.stoi["movie"]]])
    model(tokens, torch.tensor([2])).sum().backward()
    assert model.embedding.weight.grad is None

    model.unfreeze_embeddings()
    assert model.embedding.weight.requires_grad
    assert model.config["freeze_embeddings"] is False
    assert count_parameters(model) == frozen_count + matrix.vectors.numel()
    model.freeze_embeddings()
    assert not model.embedding.weight.requires_grad
