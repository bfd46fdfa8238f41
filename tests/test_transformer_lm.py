"""The race's Transformer baseline (causal, its key/value cache exact, it learns), and lesson 10's
models in the course's own training loop and sampler."""

from __future__ import annotations

import pytest
import torch

from course_utils.datasets.shakespeare import ChunkBatches, StreamBatches, TextCorpus, char_vocab
from course_utils.inference.generation import generate
from course_utils.models.min_rnn_lm import MinRNNLanguageModel
from course_utils.models.transformer_lm import TransformerLanguageModel
from course_utils.training.loop import fit
from course_utils.training.tasks import LanguageModelling


def small_model(**overrides) -> TransformerLanguageModel:
    torch.manual_seed(0)
    settings = {"vocab_size": 13, "dim": 16, "num_layers": 2, "heads": 2, "context": 32}
    return TransformerLanguageModel(**(settings | overrides)).eval()


def test_changing_a_later_token_changes_no_earlier_logit():
    model = small_model()
    tokens = torch.randint(0, 13, (2, 20), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 12] = (changed[:, 12] + 1) % 13
    before, _ = model(tokens)
    after, _ = model(changed)
    torch.testing.assert_close(before[:, :12], after[:, :12])
    assert not torch.allclose(before[:, 12:], after[:, 12:])


def test_the_cache_gives_the_logits_of_the_whole_text():
    model = small_model()
    tokens = torch.randint(0, 13, (2, 24), generator=torch.Generator().manual_seed(1))
    whole, cache = model(tokens)
    assert cache.keys.shape == (2, 2, 2, 24, 8)  # layers, batch, heads, time, head_dim
    first, cache = model(tokens[:, :10])
    chunk, cache = model(tokens[:, 10:15], cache)  # several new tokens at once
    pieces = [first, chunk]
    for t in range(15, 24):
        logits, cache = model(tokens[:, t : t + 1], cache)
        pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-4, atol=1e-5)


def test_past_its_context_the_model_restarts_from_the_recent_tokens():
    model = small_model(context=8)
    tokens = torch.randint(0, 13, (1, 8), generator=torch.Generator().manual_seed(2))
    _, cache = model(tokens)
    logits, cache = model(torch.tensor([[3]]), cache)
    recent = torch.cat([tokens, torch.tensor([[3]])], dim=1)[:, -4:]
    expected, _ = model(recent)
    torch.testing.assert_close(logits, expected[:, -1:])
    assert cache.tokens.shape[1] == 4
    with pytest.raises(ValueError, match="do not fit"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="multiple of heads"):
        TransformerLanguageModel(10, dim=10, heads=3)
    with pytest.raises(ValueError, match=r"\[batch, time\]"):
        small_model()(torch.zeros(5, dtype=torch.long))


def test_the_transformer_learns_to_repeat_a_motif():
    torch.manual_seed(0)
    model = TransformerLanguageModel(vocab_size=6, dim=32, num_layers=2, heads=2, context=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(200):
        sequence = torch.randint(0, 6, (32, 3)).repeat(1, 8)
        logits, _ = model(sequence[:, :-1])
        loss = loss_fn(logits[:, 2:].reshape(-1, 6), sequence[:, 3:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1, f"did not learn to repeat the motif: loss {loss.item():.3f}"


def test_the_transformer_is_batch_invariant():
    model = small_model()
    tokens = torch.randint(0, 13, (4, 12), generator=torch.Generator().manual_seed(3))
    together, _ = model(tokens)
    alone, _ = model(tokens[1:2])
    torch.testing.assert_close(together[1:2], alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", ["mingru", "minlstm", "transformer"])
def test_lesson_10s_models_train_with_fit_and_sample_with_generate(family):
    """The course's own loop and sampler serve the new models unchanged (carried state or cache)."""
    text = "abcabd" * 300
    corpus = TextCorpus(list(text[:1500]), list(text[1500:]), char_vocab(text[:1500]))
    train_ids, valid_ids = corpus.train_ids(), corpus.valid_ids()
    torch.manual_seed(0)
    if family == "transformer":
        model = TransformerLanguageModel(
            len(corpus.vocab), dim=16, num_layers=1, heads=2, context=24
        )
        task = LanguageModelling(stateful=False)
        train, valid = ChunkBatches(train_ids, 8, 24, seed=0), ChunkBatches(valid_ids, 4, 24)
    else:
        model = MinRNNLanguageModel(len(corpus.vocab), dim=16, num_layers=2, cell=family)
        task = LanguageModelling(stateful=True)
        train, valid = StreamBatches(train_ids, 8, 24), StreamBatches(valid_ids, 4, 24)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(model, train, valid, optimizer, torch.nn.CrossEntropyLoss(), 6, task=task,
                  monitor="valid_loss", progress=False, seed=0)  # fmt: skip
    assert min(history.valid_loss) < 0.5  # the pattern is nearly deterministic: ~0.23 nats/char
    sample = generate(model, corpus, "abca", 40, temperature=0, include_prompt=False)
    assert len(sample) == 40 and "ab" in sample
