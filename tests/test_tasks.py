"""The training tasks: what a batch's loss, correct count and unit count are for each model kind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.training.loop import evaluate, fit
from course_utils.training.tasks import (
    Classification,
    LanguageModelling,
    Seq2Seq,
    TokenClassification,
    length_mask,
    to_device,
)

CPU = torch.device("cpu")


class PerTokenLinear(nn.Module):
    """Logits for every token from its own id only: padding cannot leak between positions."""

    def __init__(self, vocab: int = 10, classes: int = 4) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, classes)

    def forward(self, tokens, lengths):
        return self.embedding(tokens)


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows])


def test_token_classification_ignores_padding_whatever_the_padded_tags_hold():
    torch.manual_seed(0)
    model = PerTokenLinear()
    sentences = [[2, 3, 4, 5], [6, 7], [8]]
    tags = [[0, 1, 2, 3], [1, 1], [3]]
    loss_fn = nn.CrossEntropyLoss()
    task = TokenClassification()
    lengths = torch.tensor([len(s) for s in sentences])
    for pad_tag in (0, 3, -100):
        batch = (_pad(sentences, 1), lengths, _pad(tags, pad_tag))
        padded = task.step(model, batch, loss_fn, CPU, training=False)
        assert padded.count == 7
        flat_logits = torch.cat([model(torch.tensor([s]), None)[0] for s in sentences])
        flat_tags = torch.tensor([t for row in tags for t in row])
        expected = loss_fn(flat_logits, flat_tags)
        assert torch.allclose(padded.loss, expected, atol=1e-6)
        correct = (flat_logits.argmax(-1) == flat_tags).sum()
        assert int(padded.correct) == int(correct)


def test_token_classification_rejects_per_sequence_logits():
    model = nn.Module()
    model.forward = lambda tokens, lengths: torch.zeros(tokens.shape[0], 4)
    batch = (torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 2]), torch.zeros(2, 3).long())
    with pytest.raises(ValueError, match=r"\[batch, time, classes\]"):
        TokenClassification().step(model, batch, nn.CrossEntropyLoss(), CPU, training=True)


def test_classification_names_the_expected_batch_layout():
    with pytest.raises(ValueError, match=r"\(tokens, lengths, labels\)"):
        Classification().step(nn.Identity(), (torch.zeros(2),), nn.BCEWithLogitsLoss(), CPU, True)


class CountingLM(nn.Module):
    """Remembers which hidden states it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 5, batch_first=True)
        self.embedding = nn.Embedding(7, 3)
        self.fc = nn.Linear(5, 7)
        self.seen: list = []

    def forward(self, tokens, hidden=None):
        self.seen.append(hidden)
        out, hidden = self.rnn(self.embedding(tokens), hidden)
        return self.fc(out), hidden


def test_language_modelling_carries_detached_state_and_resets_each_pass():
    model = CountingLM()
    batches = [(torch.randint(0, 7, (2, 4)), torch.randint(0, 7, (2, 4))) for _ in range(3)]
    task = LanguageModelling(stateful=True)
    task.start_epoch(training=True)
    for batch in batches:
        result = task.step(model, batch, nn.CrossEntropyLoss(), CPU, training=True)
        assert result.count == 8
        result.loss.backward()  # would fail on a second backward through a non-detached state
    assert model.seen[0] is None
    assert all(h is not None and not h.requires_grad for h in model.seen[1:])
    task.start_epoch(training=False)
    task.step(model, batches[0], nn.CrossEntropyLoss(), CPU, training=False)
    assert model.seen[-1] is None

    model.seen.clear()
    independent = LanguageModelling(stateful=False)
    for batch in batches:
        independent.step(model, batch, nn.CrossEntropyLoss(), CPU, training=True)
    assert model.seen == [None, None, None]


def test_language_modelling_restarts_the_state_when_the_batch_size_changes():
    model = CountingLM()
    task = LanguageModelling()
    task.step(
        model,
        (torch.zeros(3, 4).long(), torch.zeros(3, 4).long()),
        nn.CrossEntropyLoss(),
        CPU,
        True,
    )
    task.step(
        model,
        (torch.zeros(2, 4).long(), torch.zeros(2, 4).long()),
        nn.CrossEntropyLoss(),
        CPU,
        True,
    )
    assert model.seen[-1] is None


class Echo(nn.Module):
    """A fake seq2seq model: logits that put all mass on a fixed token at every target step."""

    def __init__(self, vocab: int = 6) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(vocab))
        self.ratios: list[float] = []

    def forward(self, src, src_lengths, tgt, teacher_forcing_ratio):
        self.ratios.append(teacher_forcing_ratio)
        steps = tgt.shape[1] - 1
        return self.bias.expand(tgt.shape[0], steps, -1)


def test_seq2seq_scores_only_real_target_positions_and_forces_fully_in_evaluation():
    model = Echo()
    with torch.no_grad():
        model.bias[4] = 5.0
    src = torch.tensor([[2, 3, 1], [2, 1, 1]])
    # targets: <sos>=2 ... <eos>=3, padded with 1; lengths include <sos> and <eos>
    tgt = torch.tensor([[2, 4, 4, 3], [2, 4, 3, 1]])
    batch = (src, torch.tensor([2, 1]), tgt, torch.tensor([4, 3]))
    task = Seq2Seq(teacher_forcing_ratio=0.3)
    result = task.step(model, batch, nn.CrossEntropyLoss(), CPU, training=True)
    assert result.count == 5  # 3 + 2 predicted positions, the padded one excluded
    assert int(result.correct) == 3  # the three "4"s; the two <eos> are wrong
    result = task.step(model, batch, nn.CrossEntropyLoss(), CPU, training=False)
    assert model.ratios == [0.3, 1.0]
    with pytest.raises(ValueError, match="teacher_forcing_ratio"):
        Seq2Seq(1.5)


def test_fit_trains_a_language_model_with_the_token_as_unit(one_thread):
    torch.manual_seed(0)
    text = torch.arange(7).repeat(300)  # a periodic sequence: perfectly predictable
    rows = text[: 6 * 350].view(6, 350)
    batches = [(rows[:, i : i + 10], rows[:, i + 1 : i + 11]) for i in range(0, 330, 10)]
    model = CountingLM()
    history = fit(
        model,
        batches,
        batches[:5],
        torch.optim.Adam(model.parameters(), 0.05),
        nn.CrossEntropyLoss(),
        epochs=6,
        task=LanguageModelling(),
        monitor="valid_loss",
        progress=False,
    )
    assert history.unit == "token"
    assert history.valid_acc[-1] > 0.95
    metrics = evaluate(model, batches[:5], nn.CrossEntropyLoss(), task=LanguageModelling())
    assert metrics["n"] == 5 * 6 * 10


def test_helpers_move_nested_batches_and_mask_lengths():
    nested = (torch.zeros(2), [torch.ones(1), {"a": torch.ones(3)}], "text")
    moved = to_device(nested, CPU)
    assert moved[2] == "text" and torch.equal(moved[1][1]["a"], torch.ones(3))
    mask = length_mask(torch.tensor([3, 1]), 4, CPU)
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False]]
