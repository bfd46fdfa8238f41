"""The length machinery: padded batches give every row what it gets alone, gradients too."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from course_utils.models.lengths import CELLS, check_lengths, reverse_padded, run_masked

pytestmark = pytest.mark.usefixtures("one_thread")


def test_reverse_padded_reverses_within_each_length_and_is_its_own_inverse():
    x = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0], [7, 8, 9, 0]])
    lengths = torch.tensor([4, 2, 3])
    flipped = reverse_padded(x[..., None], lengths)[..., 0]
    assert flipped.tolist() == [[4, 3, 2, 1], [6, 5, 0, 0], [9, 8, 7, 0]]
    assert torch.equal(reverse_padded(flipped, lengths), x)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_run_masked_gives_each_row_what_it_gets_alone(cell, num_layers, bidirectional):
    torch.manual_seed(0)
    rnn = CELLS[cell](5, 6, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    lengths = torch.tensor([7, 3, 5])
    inputs = torch.randn(3, 7, 5, requires_grad=True)
    padded = run_masked(rnn, inputs, lengths)
    for row, length in enumerate(lengths.tolist()):
        alone, _ = rnn(inputs[row : row + 1, :length])
        assert_close(padded[row : row + 1, :length], alone, atol=1e-6, rtol=1e-5)

    # Gradients: the padded batch's loss on real steps equals the sum of the rows' own.
    mask = torch.arange(7)[None, :, None] < lengths[:, None, None]
    batch_grads = torch.autograd.grad((padded * mask).sin().sum(), [inputs, *rnn.parameters()])
    alone_loss = sum(
        rnn(inputs[row : row + 1, :length])[0].sin().sum()
        for row, length in enumerate(lengths.tolist())
    )
    alone_grads = torch.autograd.grad(alone_loss, [inputs, *rnn.parameters()])
    for got, expected in zip(batch_grads, alone_grads, strict=True):
        assert_close(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_unpadded_bidirectional_run_masked_equals_the_module_itself(cell):
    torch.manual_seed(1)
    rnn = CELLS[cell](4, 3, num_layers=2, bidirectional=True, batch_first=True).eval()
    inputs = torch.randn(2, 6, 4)
    assert_close(run_masked(rnn, inputs, torch.tensor([6, 6])), rnn(inputs)[0], atol=1e-6, rtol=0)


def test_run_masked_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="batch_first=True"):
        run_masked(nn.GRU(2, 2, bidirectional=True), torch.randn(1, 3, 2), torch.tensor([3]))
    lstm = nn.LSTM(2, 4, proj_size=2, bidirectional=True, batch_first=True)
    with pytest.raises(ValueError, match="proj_size"):
        run_masked(lstm, torch.randn(1, 3, 2), torch.tensor([3]))


def test_check_lengths_explains_each_mistake():
    tokens = torch.zeros(2, 4, dtype=torch.long)
    assert check_lengths(tokens, None).tolist() == [4, 4]
    assert check_lengths(tokens, [4, 2]).dtype == torch.int64
    with pytest.raises(
        ValueError, match="tokens has 2 rows, one per sentence: pass one length per row"
    ):
        check_lengths(tokens, torch.tensor([4, 2, 1]), what="sentence")
    with pytest.raises(ValueError, match="between 1 and the padded width 4, got min 0"):
        check_lengths(tokens, torch.tensor([4, 0]))
    with pytest.raises(ValueError, match="max 5"):
        check_lengths(tokens, torch.tensor([5, 1]))
