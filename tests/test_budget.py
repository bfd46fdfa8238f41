"""Training on a wall-clock budget (lesson 10's race) and the sequence speed measurements."""

from __future__ import annotations

import itertools
import math
import time

import pytest
import torch
from torch import nn

from course_utils.datasets.shakespeare import ChunkBatches, StreamBatches
from course_utils.models.min_rnn_lm import MinRNNLanguageModel
from course_utils.models.transformer_lm import TransformerLanguageModel
from course_utils.show.sequence_speed import (
    SCAN,
    carried_bytes,
    generation_cost,
    sequence_layers,
    time_forward_backward,
)
from course_utils.training.budget import TimedRounds, fit_on_budget, one_cycle, plan_budget
from course_utils.training.tasks import LanguageModelling


def test_the_schedule_warms_up_then_anneals_to_its_floor():
    assert one_cycle(0.0) < 0.01
    assert one_cycle(0.05) == pytest.approx(1.0)
    values = [one_cycle(p / 100) for p in range(5, 101)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert one_cycle(1.0) == pytest.approx(1 / 50)
    assert one_cycle(3.0) == one_cycle(1.0)  # past the budget it stays at the floor


class SlowLoader:
    """Three batches per pass, each taking 10 ms to train on (the sleep stands in for a step)."""

    def __init__(self):
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def __iter__(self):
        for index in range(3):
            time.sleep(0.01)
            yield index


def test_rounds_last_their_time_and_continue_across_passes():
    loader = SlowLoader()
    rounds = TimedRounds(loader, round_seconds=0.2, rounds=2)
    start = time.perf_counter()
    first, second = list(rounds), list(rounds)
    assert time.perf_counter() - start >= 0.4  # each round lasts its time...
    assert len(first) <= 21 and len(second) <= 21  # ...and not longer than one batch more
    assert len(first) >= 4 and first[:4] == [0, 1, 2, 0]  # a new pass starts where one ran out
    assert second[0] == (first[-1] + 1) % 3  # the next round continues the stream
    assert loader.epochs[:2] == [0, 1]  # each pass reshuffles
    assert rounds.steps == len(first) + len(second)
    assert rounds.progress == pytest.approx(1.0, abs=0.2)


def test_a_budget_too_small_for_its_validations_is_refused():
    model = MinRNNLanguageModel(vocab_size=7, dim=8, num_layers=1)
    valid = StreamBatches(torch.randint(0, 7, (2000,)), 4, 16)
    with pytest.raises(ValueError, match="cannot hold 1000 validations"):
        plan_budget(model, valid, nn.CrossEntropyLoss(), task=LanguageModelling(),
                    minutes=0.001, rounds=1000)  # fmt: skip


class FirstPassSlowed:
    """A validation loader whose first whole pass is held up, as by another job on the machine."""

    def __init__(self, loader, delay: float) -> None:
        self.loader, self.delay, self.passes = loader, delay, 0

    def __iter__(self):
        self.passes += 1
        if self.passes == 2:  # the first is plan_budget's untimed warm-up batch
            time.sleep(self.delay)  # so the first timed pass is held up
        return iter(self.loader)


def test_a_plan_is_not_shortened_by_one_slow_validation_pass():
    model = MinRNNLanguageModel(vocab_size=7, dim=8, num_layers=1)
    valid = FirstPassSlowed(StreamBatches(torch.randint(0, 7, (2000,)), 4, 16), delay=0.5)
    plan = plan_budget(model, valid, nn.CrossEntropyLoss(), task=LanguageModelling(),
                       minutes=0.2, rounds=2)  # fmt: skip
    assert valid.passes >= 3  # the warm-up batch, then the timed passes
    assert plan.valid_seconds < 0.25  # the faster pass, not the one held up by 0.5 s


def test_a_budgeted_run_keeps_to_its_minutes_and_learns():
    torch.manual_seed(0)
    text = torch.arange(12).repeat(200)  # a counting pattern a model learns in seconds
    model = TransformerLanguageModel(vocab_size=12, dim=16, num_layers=1, heads=2, context=16)
    train, valid = ChunkBatches(text, 16, 16, seed=0), ChunkBatches(text[:400], 8, 16)
    task = LanguageModelling(stateful=False)
    plan = plan_budget(model, valid, nn.CrossEntropyLoss(), task=task, minutes=0.1, rounds=3)
    start = time.perf_counter()
    history, steps = fit_on_budget(
        model, train, valid, nn.CrossEntropyLoss(), plan, task=task, lr=1e-2, name="counting"
    )
    assert time.perf_counter() - start < 0.1 * 60 * 1.5
    assert history.epochs == 3 and steps > 10
    assert min(history.valid_loss) < 0.5 * math.log(12)  # chance: log(12) nats per token
    peak = max(history.learning_rate)  # recorded as each round starts: warm-up, then annealing
    assert history.learning_rate[0] < peak and history.learning_rate[-1] < peak


def test_each_layer_maps_a_sequence_to_a_sequence_and_is_timed():
    x = torch.randn(2, 12, 8)
    layers = sequence_layers(8, heads=2)
    for name, layer in layers.items():
        assert layer(x).shape == (2, 12, 8), name
        assert time_forward_backward(layer, x, repeats=1) > 0
    scan = layers[SCAN](x)  # four ways to run the same minGRU
    for name in ("minGRU, step by step", "minGRU, recurrence loop", "minGRU, log-space scan"):
        torch.testing.assert_close(layers[name](x), scan, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="repeats"):
        time_forward_backward(layer, x, repeats=0)


def test_a_recurrent_state_stays_the_same_size_while_a_cache_grows():
    torch.manual_seed(0)
    recurrent = MinRNNLanguageModel(vocab_size=9, dim=8, num_layers=2)
    attention = TransformerLanguageModel(vocab_size=9, dim=8, num_layers=2, heads=2, context=80)
    state = [
        c.carried_bytes for c in generation_cost(recurrent, [8, 32], new_tokens=2, vocab_size=9)
    ]
    cache = [
        c.carried_bytes for c in generation_cost(attention, [8, 32], new_tokens=2, vocab_size=9)
    ]
    assert state[0] == state[1] == 2 * 16 * 4  # 2 blocks, a state of 2 x 8 float32 each
    assert cache[1] > 3 * cache[0]
    assert carried_bytes((torch.zeros(3), [torch.zeros(2, dtype=torch.float64)])) == 12 + 16
