"""minGRU / minLSTM: the parallel scan is the recurrence, at any length and any gate value."""

from __future__ import annotations

import pytest
import torch

from course_utils.models.min_rnn import (
    MinGRU,
    MinLSTM,
    linear_scan,
    linear_scan_sequential,
    log_space_scan,
    positive,
)
from course_utils.models.min_rnn_lm import MinRNNLanguageModel


def relative_error(result: torch.Tensor, reference: torch.Tensor) -> float:
    return float((result - reference).abs().max().detach() / reference.abs().max().detach())


def layer_with_gate_bias(cls, bias: float, seed: int = 0):
    """A layer whose gates sit near 0 (bias -8), in the middle (0) or near 1 (+8)."""
    torch.manual_seed(seed)
    layer = cls(4, 8)
    with torch.no_grad():
        layer.project.bias[:8] = bias
    return layer


@pytest.mark.parametrize("length", [1, 7, 16, 65, 512, 2048])
@pytest.mark.parametrize("bias", [-8.0, 0.0, 8.0])
@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_parallel_scan_equals_the_loop_with_gradients(cls, bias, length):
    layer = layer_with_gate_bias(cls, bias)
    x = torch.randn(2, length, 4, generator=torch.Generator().manual_seed(length))
    h0 = torch.rand(2, 8, generator=torch.Generator().manual_seed(1))
    results = {}
    for mode in ("parallel", "sequential"):
        inputs = x.clone().requires_grad_()
        states, last = layer(inputs, h0, mode=mode)
        weights = torch.linspace(-1, 1, states.numel()).view_as(states)  # not just a sum
        gradient, weight_gradient = torch.autograd.grad(
            (states * weights).sum(), [inputs, layer.project.weight]
        )
        results[mode] = (states, last, gradient, weight_gradient)
    for parallel, sequential in zip(results["parallel"], results["sequential"], strict=True):
        assert torch.isfinite(parallel).all()
        assert relative_error(parallel, sequential) < 1e-4


SCANS = {
    "blocked": linear_scan,
    "log space": lambda a, b, h0=None: log_space_scan(a.log(), b.log(), h0),
}


@pytest.mark.parametrize("scan", SCANS.values(), ids=SCANS.keys())
def test_the_scan_handles_the_initial_state_once(scan):
    """h0 enters exactly once: h_1 = a_1 h0 + b_1, and None is a zero state."""
    a, b = torch.rand(1, 5, 3), torch.rand(1, 5, 3) + 0.1
    h0 = torch.tensor([[1.0, 2.0, 3.0]])
    states = scan(a, b, h0)
    torch.testing.assert_close(states[:, 0], a[:, 0] * h0 + b[:, 0])
    torch.testing.assert_close(scan(a, b), scan(a, b, torch.zeros_like(h0)))
    torch.testing.assert_close(states, linear_scan_sequential(a, b, h0))


@pytest.mark.parametrize("length", [1, 2, 15, 16, 17, 100, 513])
@pytest.mark.parametrize("block", [None, 1, 3, 16, 600])
def test_every_block_length_gives_the_loop(length, block):
    """Blocks that do and do not divide T, one step per block, one block for everything."""
    generator = torch.Generator().manual_seed(length)
    a, b = torch.rand(2, length, 3, generator=generator), torch.randn(2, length, 3)
    h0 = torch.randn(2, 3)
    torch.testing.assert_close(linear_scan(a, b, h0, block=block), linear_scan_sequential(a, b, h0))


@pytest.mark.parametrize("scan", SCANS.values(), ids=SCANS.keys())
def test_the_scan_does_not_overflow_where_a_product_of_gates_would(scan):
    """2,000 gates of 0.01: their product is 1e-4000, far below float32; the states are fine."""
    a, b = torch.full((1, 2000, 2), 0.01), torch.ones(1, 2000, 2)  # h settles at 1 / 0.99
    states = scan(a, b)
    assert torch.isfinite(states).all()
    torch.testing.assert_close(states[:, -1], torch.full((1, 2), 1 / 0.99))


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_step_by_step_with_the_carried_state_equals_the_parallel_pass(cls):
    torch.manual_seed(0)
    layer = cls(4, 6)
    x = torch.randn(3, 40, 4)
    states, _ = layer(x)
    h, stepped = None, []
    for t in range(x.shape[1]):
        h = layer.step(x[:, t], h)
        stepped.append(h)
    torch.testing.assert_close(torch.stack(stepped, dim=1), states, rtol=1e-4, atol=1e-5)
    first, h_half = layer(x[:, :17])
    second, _ = layer(x[:, 17:], h_half)
    torch.testing.assert_close(torch.cat([first, second], dim=1), states, rtol=1e-4, atol=1e-5)


def test_positive_stays_above_zero_and_continuous():
    x = torch.linspace(-80, 80, 1001)
    assert (positive(x) > 0).all()
    torch.testing.assert_close(positive(torch.tensor([-1e-6, 0.0])), torch.tensor([0.5, 0.5]))


@pytest.mark.parametrize(("cls", "bias"), [(MinGRU, 70.0), (MinLSTM, -70.0)])
def test_a_gate_that_keeps_almost_nothing_is_not_rounded_to_zero(cls, bias):
    """a = sigma(-k) is about 1e-30 here, where 1 - sigma(k) would be exactly 0."""
    layer = layer_with_gate_bias(cls, bias)
    kept, _ = layer.coefficients(torch.zeros(1, 1, 4))
    assert (kept > 0).all() and (kept < 1e-25).all()


def test_bad_shapes_and_modes_are_refused():
    layer = MinGRU(4, 6)
    with pytest.raises(ValueError, match=r"inputs \[batch, time, 4\]"):
        layer(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="mode must be"):
        layer(torch.randn(2, 5, 4), mode="fast")
    with pytest.raises(ValueError, match="block must be a positive"):
        linear_scan(torch.rand(1, 4, 2), torch.rand(1, 4, 2), block=0)
    for scan in SCANS.values():
        with pytest.raises(ValueError, match="both be"):
            scan(torch.rand(1, 4, 2), torch.rand(1, 5, 2))


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_the_language_model_generates_from_its_carried_state(cell):
    torch.manual_seed(0)
    model = MinRNNLanguageModel(vocab_size=11, dim=16, num_layers=2, cell=cell).eval()
    tokens = torch.randint(0, 11, (2, 30))
    logits, hidden = model(tokens)
    assert logits.shape == (2, 30, 11) and hidden.shape == (2, 2, 32)
    step_logits, state = [], None
    for t in range(tokens.shape[1]):
        out, state = model(tokens[:, t : t + 1], state)
        step_logits.append(out)
    torch.testing.assert_close(torch.cat(step_logits, dim=1), logits, rtol=1e-4, atol=1e-5)
    sequential, _ = model(tokens, mode="sequential")
    torch.testing.assert_close(sequential, logits, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="hidden must be"):
        model(tokens, hidden[:, :1])


def test_the_language_model_is_batch_invariant():
    torch.manual_seed(0)
    model = MinRNNLanguageModel(vocab_size=7, dim=8, num_layers=2).eval()
    tokens = torch.randint(0, 7, (4, 12))
    together, _ = model(tokens)
    alone, _ = model(tokens[2:3])
    torch.testing.assert_close(together[2:3], alone)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_the_language_model_learns_to_continue_a_pattern(cell):
    """A random 3-token motif, repeated: from the fourth token on, each one is the one 3 back.

    The gates see only the current input, so recalling a token 3 steps back needs the
    state to hold it: the task fails if the scan loses or mixes up the past.
    """
    torch.manual_seed(0)
    model = MinRNNLanguageModel(vocab_size=6, dim=32, num_layers=2, cell=cell)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=300)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(300):
        sequence = torch.randint(0, 6, (32, 3)).repeat(1, 8)
        logits, _ = model(sequence[:, :-1])
        loss = loss_fn(logits[:, 2:].reshape(-1, 6), sequence[:, 3:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    sequence = torch.randint(0, 6, (256, 3)).repeat(1, 8)
    with torch.no_grad():
        predicted = model.eval()(sequence[:, :-1])[0][:, 2:].argmax(-1)
    accuracy = (predicted == sequence[:, 3:]).float().mean().item()
    assert accuracy > 0.95, f"did not learn to repeat the motif: {accuracy:.1%} of recalls right"
