"""The shared figures: each returns a Figure with the expected axes and lines (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils.show import plots
from course_utils.training.history import History


def history(name: str, epochs: int = 4, best: int = 3, seconds: float = 2.0) -> History:
    rng = np.random.default_rng(len(name))
    return History(
        name=name,
        train_loss=list(np.linspace(0.7, 0.3, epochs)),
        train_acc=list(np.linspace(0.5, 0.9, epochs)),
        valid_loss=list(np.linspace(0.65, 0.4, epochs) + rng.uniform(0, 0.01, epochs)),
        valid_acc=list(np.linspace(0.55, 0.85, epochs)),
        epoch_seconds=[seconds] * epochs,
        train_seconds=[seconds * 0.8] * epochs,
        train_examples_per_second=[100.0] * epochs,
        best_epoch=best,
        best_metric=float(np.linspace(0.55, 0.85, epochs)[best - 1]),
    )


@pytest.fixture(autouse=True)
def no_open_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before  # figures are detached from pyplot: nothing leaks


def test_learning_curves_one_history():
    fig = plots.plot_learning_curves(history("lstm"), title="LSTM")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        styles = sorted(line.get_linestyle() for line in ax.get_lines())
        assert styles == ["-", "--"]  # valid solid, train dashed
        assert len(ax.collections) == 1  # the best-epoch star
        offsets = ax.collections[0].get_offsets()
        assert offsets[0][0] == 3
    assert fig._suptitle.get_text() == "LSTM"
    fig.canvas.draw()  # renders without error


def test_learning_curves_several_histories_and_metrics():
    runs = [history("rnn", 3, 1), history("lstm", 5, 4), History(name="empty")]
    fig = plots.plot_learning_curves(runs, metrics=("acc",))
    assert len(fig.axes) == 1
    lines = fig.axes[0].get_lines()
    assert len(lines) == 6
    colours = {line.get_label().split()[0]: line.get_color() for line in lines}
    assert len(set(colours.values())) == 3  # one colour per run
    with pytest.raises(ValueError, match="Unknown metric"):
        plots.plot_learning_curves(runs, metrics=("f1",))
    with pytest.raises(TypeError, match="History"):
        plots.plot_learning_curves([{"train_loss": [1.0]}])


def test_results_table_and_markdown():
    runs = [history("rnn", seconds=1.5), history("bi-lstm", seconds=12.0)]
    rows = plots.results_table(runs, test_results={"rnn": 0.71}, params={"rnn": 1234567})
    assert [r["run"] for r in rows] == ["rnn", "bi-lstm"]
    assert rows[0]["test_acc"] == 0.71 and rows[1]["test_acc"] is None
    assert rows[0]["params"] == 1234567 and rows[1]["params"] is None
    assert rows[0]["best_valid_acc"] == pytest.approx(0.75)
    table = plots.format_table(rows)
    lines = table.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("| run") and "best valid acc" in lines[0]
    assert set(lines[1]) <= {"|", "-", ":"}
    assert "71.0%" in table and "1,234,567" in table and "–" in table
    assert len({len(line) for line in lines}) == 1  # aligned columns
    params = plots.results_table(runs[:1], params={"rnn": torch.nn.Linear(3, 2)})
    assert params[0]["params"] == 8


def test_format_table_keeps_the_digits_that_tell_losses_apart():
    table = plots.format_table(
        [{"run": "a", "valid nats/char": 1.4712, "perplexity": 4.3551, "s/epoch": 17.64}]
    )
    assert "1.471" in table and "4.36" in table and "17.6" in table


def test_attention_strip_wraps_and_truncates():
    tokens = [f"w{i}" for i in range(100)]
    weights = torch.softmax(torch.randn(100), 0)
    fig = plots.plot_attention(tokens, weights, title="review 1", max_tokens=40, tokens_per_row=16)
    assert len(fig.axes) == 2  # strip + colour bar
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    assert image.shape == (3, 16)  # 40 tokens in rows of 16
    assert [t.get_text() for t in ax.texts][:2] == ["w0", "w1"] and len(ax.texts) == 40
    assert "first 40 of 100 tokens" in ax.get_title()
    fig.canvas.draw()
    short = plots.plot_attention(["great", "film"], [0.8, 0.2])
    assert short.axes[0].get_images()[0].get_array().shape == (1, 2)
    with pytest.raises(ValueError, match="one weight per"):
        plots.plot_attention(["a", "b"], [1.0])


def test_gradient_norms_log_scale():
    steps = np.arange(1, 51)
    fig = plots.plot_gradient_norms(
        {"RNN": 0.8**steps, "LSTM": torch.full((50,), 0.5), "zeros": [0.0, 1.0, 0.0]},
        title="vanishing gradients",
    )
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 3
    assert [line.get_label() for line in ax.get_lines()] == ["RNN", "LSTM", "zeros"]
    fig.canvas.draw()
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_gradient_norms({})
