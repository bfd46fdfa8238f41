"""The race's Transformer baseline: causal, its key/value cache exact, and it learns."""

from __future__ import annotations

import pytest
import torch

from course_utils.models.transformer_lm import TransformerLanguageModel


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
