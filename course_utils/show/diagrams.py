"""Explanatory figures drawn with matplotlib: an unrolled RNN, a packed batch, gated cells.

They are code rather than image files so a learner can redraw them with other
sizes (``plot_unrolled_rnn(steps=6)``) and so they always match the text. Like
:mod:`course_utils.show.plots`, each function returns a figure detached from pyplot, so
Jupyter shows it once, as the value of the cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

_COLORS = {"x": "#cfe8ff", "h": "#ffe3b3", "y": "#d9f2d0", "gate": "#f6c6c6", "op": "#eeeeee"}


def _box(ax, x: float, y: float, text: str, color: str, w: float = 0.8, h: float = 0.6) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=color,
            edgecolor="#333333",
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=12)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], **kw) -> None:
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="#333333", **kw)
    )


def plot_unrolled_rnn(steps: int = 4) -> Figure:
    """The folded RNN (one cell with a loop) and the same network unrolled over ``steps``."""
    fig, ax = plt.subplots(figsize=(2.0 + 1.6 * steps, 3.6))
    # folded view
    _box(ax, 0, 0, "$h$", _COLORS["h"])
    _box(ax, 0, -1.4, "$x_t$", _COLORS["x"])
    _box(ax, 0, 1.4, "$y_t$", _COLORS["y"])
    _arrow(ax, (0, -1.1), (0, -0.3))
    _arrow(ax, (0, 0.3), (0, 1.1))
    _arrow(ax, (0.4, 0.1), (0.4, -0.1), connectionstyle="arc3,rad=-2.5")
    ax.text(0.55, 0.5, "$W_{hh}$", fontsize=10, va="center")
    ax.text(1.3, 0, "=", fontsize=22, ha="center", va="center")
    # unrolled view
    for t in range(steps):
        x = 2.6 + 1.6 * t
        _box(ax, x, 0, f"$h_{t + 1}$", _COLORS["h"])
        _box(ax, x, -1.4, f"$x_{t + 1}$", _COLORS["x"])
        _box(ax, x, 1.4, f"$y_{t + 1}$", _COLORS["y"])
        _arrow(ax, (x, -1.1), (x, -0.3))
        _arrow(ax, (x, 0.3), (x, 1.1))
        _arrow(ax, (x - 1.2, 0), (x - 0.4, 0))
        ax.text(x - 0.8, 0.12, "$W_{hh}$" if t else "$h_0$", fontsize=9, ha="center")
    ax.set_xlim(-0.8, 2.6 + 1.6 * steps - 0.6)
    ax.set_ylim(-2.0, 2.0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(
        "One cell, the same weights at every step: $h_t = \\tanh(W_{xh}x_t + W_{hh}h_{t-1} + b)$"
    )
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_packed_sequence(
    sequences: Sequence[Sequence[str]], batch_sizes: Sequence[int], data_order: Sequence[str]
) -> Figure:
    """Left: the padded batch. Right: ``PackedSequence.data`` grouped by time step.

    ``batch_sizes[t]`` is how many sequences are still running at step ``t``; the
    packed data holds exactly those entries, so no step is spent on padding.
    """
    n, steps = len(sequences), max(len(s) for s in sequences)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(4 + 0.9 * steps + 0.5 * len(data_order), 0.9 + 0.7 * n)
    )
    for row, seq in enumerate(sequences):
        for t in range(steps):
            real = t < len(seq)
            _box(
                left,
                t,
                -row,
                seq[t] if real else "pad",
                _COLORS["x"] if real else "#f2f2f2",
                w=0.9,
                h=0.6,
            )
    left.set_xlim(-0.6, steps - 0.4)
    left.set_ylim(-n + 0.4, 0.8)
    left.set_title("padded batch (rows = sequences, columns = time)")
    left.axis("off")

    palette = plt.get_cmap("Pastel1")
    pos = 0
    for t, size in enumerate(batch_sizes):
        for _ in range(size):
            _box(right, pos, 0, data_order[pos], palette(t % 10), w=0.9, h=0.6)
            pos += 1
        right.text(
            pos - size / 2 - 0.5,
            -0.65,
            f"t={t + 1}\n{size} running",
            ha="center",
            va="top",
            fontsize=8,
        )
    right.set_xlim(-0.6, pos - 0.4)
    right.set_ylim(-1.6, 0.8)
    right.set_title("packed .data: step by step, only real tokens")
    right.axis("off")
    fig.tight_layout()
    plt.close(fig)
    return fig


def _cell_diagram(title: str, gates: Sequence[tuple[str, str]], update: str) -> Figure:
    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    _box(ax, 0, -1.2, "$x_t$", _COLORS["x"])
    _box(ax, 0, 0.2, "$h_{t-1}$", _COLORS["h"])
    for i, (name, formula) in enumerate(gates):
        x = 2.2 + 2.0 * i
        _box(ax, x, -0.5, name, _COLORS["gate"], w=1.7, h=0.7)
        ax.text(x, -1.35, formula, ha="center", va="top", fontsize=9)
        _arrow(ax, (0.4, -1.1), (x - 0.85, -0.6))
        _arrow(ax, (0.4, 0.1), (x - 0.85, -0.4))
        _arrow(ax, (x, -0.15), (x, 0.85))
    right = 2.2 + 2.0 * (len(gates) - 1)
    _box(ax, (2.2 + right) / 2, 1.25, update, _COLORS["op"], w=right - 2.2 + 2.0, h=0.7)
    ax.set_xlim(-0.6, right + 1.2)
    ax.set_ylim(-2.2, 1.9)
    ax.axis("off")
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_lstm_cell() -> Figure:
    """The LSTM's three gates and candidate, each a small layer reading $x_t$ and $h_{t-1}$."""
    return _cell_diagram(
        "LSTM cell: gates decide what to forget, what to write and what to show",
        [
            ("forget $f_t$", "$\\sigma(W_f[x_t,h_{t-1}]+b_f)$"),
            ("input $i_t$", "$\\sigma(W_i[x_t,h_{t-1}]+b_i)$"),
            ("candidate $\\tilde c_t$", "$\\tanh(W_c[x_t,h_{t-1}]+b_c)$"),
            ("output $o_t$", "$\\sigma(W_o[x_t,h_{t-1}]+b_o)$"),
        ],
        "$c_t = f_t \\odot c_{t-1} + i_t \\odot \\tilde c_t \\qquad h_t = o_t \\odot \\tanh(c_t)$",
    )


def plot_gru_cell() -> Figure:
    """The GRU's two gates: fewer parameters, no separate cell state."""
    return _cell_diagram(
        "GRU cell: an update gate mixes old and new state, a reset gate shapes the candidate",
        [
            ("update $z_t$", "$\\sigma(W_z[x_t,h_{t-1}]+b_z)$"),
            ("reset $r_t$", "$\\sigma(W_r[x_t,h_{t-1}]+b_r)$"),
            ("candidate $\\tilde h_t$", "$\\tanh(W x_t + r_t\\odot(U h_{t-1}) + b)$"),
        ],
        "$h_t = (1 - z_t) \\odot h_{t-1} + z_t \\odot \\tilde h_t$",
    )


def plot_stream_batches(streams: int = 4, windows: int = 5) -> Figure:
    """Truncated BPTT's data layout: the text cut into ``streams`` rows, read window by window.

    Batch ``i`` is column ``i``: one window from every stream. The hidden state flows
    right along each row (solid arrows, carried between batches) but gradients stop
    at each window's left edge (the dashed lines), which is what "truncated" means.
    """
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * windows, 0.9 + 0.75 * streams))
    for s in range(streams):
        y = -0.75 * s
        ax.text(-0.9, y, f"stream {s + 1}", ha="right", va="center", fontsize=10)
        for w in range(windows):
            x = 1.5 * w
            shade = _COLORS["x"] if w % 2 == 0 else _COLORS["y"]
            _box(ax, x, y, f"window {s * windows + w + 1}", shade, w=1.2, h=0.5)
            if w:
                _arrow(ax, (x - 0.9, y), (x - 0.6, y))
    for w in range(windows):
        x = 1.5 * w
        ax.text(x, 0.6, f"batch {w + 1}", ha="center", fontsize=10, fontweight="bold")
        if w:
            ax.plot([x - 0.75] * 2, [0.35, -0.75 * (streams - 1) - 0.35], ls="--", color="#999999")
    ax.text(
        1.5 * (windows - 1) / 2,
        -0.75 * streams - 0.1,
        "→ hidden state carried (detached)      ┆ gradients stop at each batch boundary",
        ha="center",
        fontsize=10,
    )
    ax.set_xlim(-2.4, 1.5 * windows - 0.5)
    ax.set_ylim(-0.75 * streams - 0.4, 0.9)
    ax.axis("off")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_scan(steps: int = 8) -> Figure:
    """A parallel (Hillis–Steele) scan: ``log2(steps)`` levels instead of ``steps`` steps.

    Each dot is one step's pair :math:`(a, b)`; at level :math:`k` every position combines
    its pair with the one :math:`2^k` positions earlier, so after :math:`\\log_2 T` levels
    each position holds the composition of every step up to it, that is, its state.
    """
    levels = max(1, (steps - 1).bit_length())
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * steps, 1.2 + 1.1 * levels))
    for level in range(levels + 1):
        y = -level * 1.1
        for t in range(steps):
            done = t < 2**level  # already holds the whole prefix
            ax.scatter(t, y, s=160, color=_COLORS["h"] if done else _COLORS["x"], ec="#333333")
            if level < levels and t >= 2**level:
                _arrow(ax, (t - 2**level, y - 0.12), (t, y - 0.98), alpha=0.6)
            if level < levels:
                _arrow(ax, (t, y - 0.12), (t, y - 0.98), alpha=0.25)
        ax.text(-0.8, y, f"level {level}" if level else "inputs", ha="right", va="center")
    for t in range(steps):
        ax.text(t, 0.45, f"$(a_{t + 1}, b_{t + 1})$", ha="center", fontsize=9)
        ax.text(t, -levels * 1.1 - 0.5, f"$h_{t + 1}$", ha="center", fontsize=11)
    ax.set_xlim(-2.2, steps - 0.4)
    ax.set_ylim(-levels * 1.1 - 0.9, 0.8)
    ax.axis("off")
    ax.set_title(
        f"{steps} steps in {levels} levels (orange: the state is complete)\n"
        "$(a, b) \\circ (a', b') = (a a',\\; a' b + b')$ is associative: any grouping, same states"
    )
    fig.tight_layout()
    plt.close(fig)
    return fig


#: Lesson 10's comparison: where the state enters, and what that buys (see plot_state_families).
STATE_FAMILIES = [
    ("LSTM / GRU", "$x_t$ and $h_{t-1}$", "non-linear in $h_{t-1}$", "loop over $t$", "fixed"),
    ("minGRU / minLSTM", "$x_t$ only", "$h_t = a_t h_{t-1} + b_t$", "parallel scan", "fixed"),
    (
        "Mamba (selective SSM)",
        "$x_t$ only",
        "$h_t = \\bar A_t h_{t-1} + \\bar B_t x_t$",
        "parallel scan",
        "fixed",
    ),
    (
        "RWKV",
        "$x_t$ (decay $w$ learned)",
        "$S_t = e^{-w} S_{t-1} + k_t^\\top v_t$",
        "scan / chunks",
        "fixed",
    ),
    (
        "Transformer",
        "no state",
        "attends to all $k_s, v_s$, $s \\leq t$",
        "all positions at once",
        "grows with $t$",
    ),
]


def plot_state_families() -> Figure:
    """One row per model family: what its gates read, its step, how it trains, what it carries."""
    header = ("model", "gates / mixing read", "the step from $t-1$ to $t$", "training", "memory")
    widths = (2.3, 2.2, 3.4, 2.0, 1.5)
    fig, ax = plt.subplots(figsize=(12.5, 0.7 * (len(STATE_FAMILIES) + 1) + 0.6))
    starts = [sum(widths[:i]) for i in range(len(widths))]
    for row, cells in enumerate([header, *STATE_FAMILIES]):
        y = -row * 0.7
        color = "#dddddd" if row == 0 else (_COLORS["gate"] if row == 1 else _COLORS["y"])
        if row == len(STATE_FAMILIES):
            color = _COLORS["x"]
        for start, width, text in zip(starts, widths, cells, strict=True):
            box = FancyBboxPatch(
                (start, y - 0.3), width - 0.08, 0.6, boxstyle="round,pad=0.01", facecolor=color
            )
            box.set_edgecolor("#888888")
            ax.add_patch(box)
            weight = "bold" if row == 0 else "normal"
            ax.text(start + width / 2, y, text, ha="center", va="center", fontweight=weight)
    ax.set_xlim(-0.1, sum(widths))
    ax.set_ylim(-0.7 * len(STATE_FAMILIES) - 0.4, 0.4)
    ax.axis("off")
    ax.set_title(
        "Red: the state feeds the gates (sequential training). Green: linear in the state "
        "(a scan). Blue: no state, a cache."
    )
    fig.tight_layout()
    plt.close(fig)
    return fig
