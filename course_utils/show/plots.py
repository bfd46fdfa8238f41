"""Figures the lessons share: learning curves, run comparisons, attention and gradient norms.

Every function returns a :class:`matplotlib.figure.Figure` and never calls
``plt.show()``. The figure is detached from pyplot (``plt.close``) before it is
returned, so in Jupyter it appears exactly once: as the value of the cell
(``plot_learning_curves(history)`` on the last line), or with ``display(fig)``, or
saved with ``fig.savefig(path)``. That also means plotting in a loop never leaks
open figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_utils.training.history import History

_METRIC_LABELS = {"loss": "loss per example", "acc": "accuracy"}


def _as_list(histories: History | Sequence[History]) -> list[History]:
    if isinstance(histories, History):
        return [histories]
    histories = list(histories)
    if not histories:
        raise ValueError("Give at least one History to plot.")
    for h in histories:
        if not isinstance(h, History):
            raise TypeError(
                f"Expected History objects (what fit returns), got {type(h).__name__}. "
                "Load saved runs with History.load(path)."
            )
    return histories


def _names(histories: list[History]) -> list[str]:
    return [h.name or f"run {i + 1}" for i, h in enumerate(histories)]


def _new_figure(**kwargs) -> Figure:
    return plt.figure(**kwargs)


def _done(fig: Figure) -> Figure:
    """Detach from pyplot: Jupyter then shows the returned figure once, and nothing leaks."""
    plt.close(fig)
    return fig


def _colors(n: int) -> list:
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    if n <= len(cycle):
        return list(cycle[:n])
    cmap = plt.get_cmap("tab20")
    return [cmap(i % 20) for i in range(n)]


# --------------------------------------------------------------------------- learning curves


def plot_learning_curves(
    histories: History | Sequence[History],
    *,
    metrics: Sequence[str] = ("loss", "acc"),
    title: str | None = None,
) -> Figure:
    """One panel per metric: training dashed, validation solid, one colour per run.

    The best epoch of each run (the weights ``fit`` restored) is marked with a star on
    its validation curve. Epochs are numbered from 1.
    """
    runs = _as_list(histories)
    if not metrics:
        raise ValueError("Give at least one metric, e.g. metrics=('loss', 'acc').")
    for metric in metrics:
        if f"valid_{metric}" not in History.__dataclass_fields__:
            raise ValueError(f"Unknown metric {metric!r}: a History records 'loss' and 'acc'.")
    fig = _new_figure(figsize=(5.5 * len(metrics), 4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    colors = _colors(len(runs))
    for ax, metric in zip(axes, metrics, strict=True):
        for h, name, color in zip(runs, _names(runs), colors, strict=True):
            train = getattr(h, f"train_{metric}")
            valid = getattr(h, f"valid_{metric}")
            ax.plot(range(1, len(train) + 1), train, ls="--", color=color, label=f"{name} train")
            ax.plot(range(1, len(valid) + 1), valid, ls="-", color=color, label=f"{name} valid")
            if h.best_epoch is not None and 1 <= h.best_epoch <= len(valid):
                ax.scatter(
                    [h.best_epoch],
                    [valid[h.best_epoch - 1]],
                    marker="*",
                    s=120,
                    color=color,
                    edgecolors="black",
                    linewidths=0.5,
                    zorder=3,
                )
        label = _METRIC_LABELS.get(metric, metric)
        units = {h.unit for h in runs}
        if metric == "loss" and len(units) == 1:
            label = f"loss per {units.pop()}"  # tagging and language models count tokens
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.set_title(label)
    axes[-1].legend(fontsize="small", title="dashed: train, solid: valid, ★ best")
    if title:
        fig.suptitle(title)
    return _done(fig)


# --------------------------------------------------------------------------- comparing runs


def _count_params(value: Any) -> int | None:
    if value is None:
        return None
    if hasattr(value, "parameters"):
        return sum(p.numel() for p in value.parameters())
    return int(value)


def results_table(
    histories: History | Sequence[History],
    test_results: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
) -> list[dict]:
    """One row per run: epochs, best epoch, best valid accuracy, test accuracy, speed.

    ``test_results`` maps run names to test accuracies; ``params`` maps run names to
    parameter counts (or to the models themselves, which are counted). Render the rows
    with :func:`format_table`.
    """
    rows = []
    for h, name in zip(_as_list(histories), _names(_as_list(histories)), strict=True):
        summary = h.summary()
        row: dict[str, Any] = {"run": name}
        if params is not None:
            row["params"] = _count_params(params.get(name))
        row["epochs"] = summary["epochs"]
        row["best_epoch"] = summary["best_epoch"]
        row["best_valid_acc"] = summary["best_valid_acc"]
        if test_results is not None:
            row["test_acc"] = test_results.get(name)
        row["seconds_per_epoch"] = summary["seconds_per_epoch"]
        row["examples_per_second"] = summary["examples_per_second"]
        rows.append(row)
    return rows


_HEADERS = {
    "run": "run",
    "params": "parameters",
    "epochs": "epochs",
    "best_epoch": "best epoch",
    "best_valid_acc": "best valid acc",
    "test_acc": "test acc",
    "seconds_per_epoch": "s / epoch",
    "examples_per_second": "examples / s",
}


def _format_cell(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and "acc" in key:
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and any(word in key for word in ("loss", "nats", "bits")):
        return f"{value:.3f}"  # 1.47 vs 1.52 nats/char is the whole story; one decimal hides it
    if isinstance(value, float) and "perplexity" in key:
        return f"{value:.2f}"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.1f}" if abs(value) >= 1 else f"{value:.3g}"
    return str(value).replace("|", "\\|")


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Render rows (e.g. from :func:`results_table`) as a Markdown table.

    Accuracies print as percentages, large numbers with thousands separators and
    missing values as "–". Columns are the union of the rows' keys, in first-seen order.
    """
    if not rows:
        return "(no runs)"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    header = [_HEADERS.get(c, c) for c in columns]
    body = [[_format_cell(c, row.get(c)) for c in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) is None for row in rows)
        and any(row.get(c) is not None for row in rows)
        for c in columns
    ]
    widths = [max(len(x) for x in [h, *(r[i] for r in body)]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if num else ("-" * (w + 2))
            for w, num in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def show_table(rows: Sequence[Mapping[str, Any]]) -> None:
    """Display rows as a rendered table in a notebook (plain Markdown text elsewhere).

    Printed Markdown wraps in a narrow output area and puts each trailing ``|`` on its own
    line; displayed as Markdown, JupyterLab and GitHub draw a real table that scrolls instead.
    """
    from IPython.display import Markdown, display

    display(Markdown(format_table(rows)))


def plot_attention(
    tokens: Sequence[str],
    weights: Any,
    *,
    title: str | None = None,
    max_tokens: int = 80,
    tokens_per_row: int = 16,
) -> Figure:
    """Heat strip of attention weights over a review's tokens (darker = more attention).

    ``weights`` is one number per token (a list, array or tensor). Long reviews are cut
    to ``max_tokens`` and wrapped into rows of ``tokens_per_row``. The figure has two
    axes: the strip and its colour bar.
    """
    values = np.asarray(
        weights.detach().cpu().numpy() if hasattr(weights, "detach") else weights, dtype=float
    ).reshape(-1)
    tokens = [str(t) for t in tokens]
    if len(values) != len(tokens):
        raise ValueError(
            f"{len(tokens)} tokens but {len(values)} attention weights: give one weight per "
            "token (drop the padding positions first)."
        )
    if not tokens:
        raise ValueError("There are no tokens to show.")
    if max_tokens < 1 or tokens_per_row < 1:
        raise ValueError("max_tokens and tokens_per_row must be positive.")
    total = len(tokens)
    tokens, values = tokens[:max_tokens], values[:max_tokens]
    n_rows = math.ceil(len(tokens) / tokens_per_row)
    cols = min(tokens_per_row, len(tokens))
    grid = np.full((n_rows, cols), np.nan)
    grid.flat[: len(values)] = values
    fig = _new_figure(
        figsize=(max(4.0, 0.75 * cols + 1.5), 0.55 * n_rows + 1.3), layout="constrained"
    )
    ax = fig.subplots()
    vmax = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    image = ax.imshow(grid, cmap="Reds", vmin=0.0, vmax=vmax or 1.0, aspect="auto")
    for i, (token, value) in enumerate(zip(tokens, values, strict=True)):
        r, c = divmod(i, tokens_per_row)
        dark = vmax > 0 and value > 0.6 * vmax
        label = token if len(token) <= 12 else token[:11] + "…"
        ax.text(
            c, r, label, ha="center", va="center", fontsize=8, color="white" if dark else "black"
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xticks(np.arange(-0.5, cols), minor=True)  # white lines between the cells
    ax.set_yticks(np.arange(-0.5, n_rows), minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
    shown = f" (first {len(tokens)} of {total} tokens)" if total > len(tokens) else ""
    ax.set_title((title or "attention over the review") + shown)
    return _done(fig)


# --------------------------------------------------------------------------- gradients


def plot_gradient_norms(
    norms_by_name: Mapping[str, Sequence[float]],
    *,
    title: str | None = None,
    xlabel: str = "time step t",
    ylabel: str = "gradient norm ‖∂L/∂h_t‖",
) -> Figure:
    """Gradient norm against time step, one line per network, on a log scale.

    Used to show vanishing gradients: a plain RNN's gradient shrinks by orders of
    magnitude as it flows back through time, an LSTM's much less. Non-positive values
    cannot be drawn on a log scale and are left out.
    """
    if not norms_by_name:
        raise ValueError("Give at least one series, e.g. {'RNN': rnn_norms, 'LSTM': lstm_norms}.")
    fig = _new_figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    for name, norms in norms_by_name.items():
        values = np.asarray(
            norms.detach().cpu().numpy() if hasattr(norms, "detach") else norms, dtype=float
        ).reshape(-1)
        values = np.where(values > 0, values, np.nan)
        ax.plot(np.arange(1, len(values) + 1), values, marker=".", label=str(name))
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    if title:
        ax.set_title(title)
    return _done(fig)


# --------------------------------------------------------------------------- confusion matrix


def plot_confusion_matrix(
    matrix: Any,
    labels: Sequence[str],
    *,
    normalize: bool = True,
    title: str | None = None,
    hide_diagonal: bool = False,
) -> Figure:
    """Heat map of a confusion matrix: rows are the true classes, columns the predicted ones.

    ``matrix[i, j]`` counts examples of class ``labels[i]`` predicted as ``labels[j]``
    (what ``torchmetrics``' ``multiclass_confusion_matrix`` returns). ``normalize``
    divides each row by its total, so a cell reads "share of the true class's
    tokens" and rare classes are as visible as frequent ones. ``hide_diagonal``
    blanks the correct predictions, so the colour scale shows only the mistakes.
    """
    values = np.asarray(
        matrix.detach().cpu().numpy() if hasattr(matrix, "detach") else matrix, dtype=float
    )
    labels = [str(label) for label in labels]
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"A confusion matrix must be square, got shape {values.shape}.")
    if values.shape[0] != len(labels):
        raise ValueError(
            f"The matrix has {values.shape[0]} classes but {len(labels)} labels were given."
        )
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    if hide_diagonal:
        values = values.copy()
        np.fill_diagonal(values, np.nan)
    n = len(labels)
    size = max(4.0, 0.42 * n + 2.0)
    fig = _new_figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.subplots()
    vmax = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax or 1.0)
    for i in range(n):
        for j in range(n):
            value = values[i, j]
            if not np.isfinite(value) or value == 0:
                continue
            text = f"{value:.2f}".lstrip("0") if normalize else f"{value:.0f}"
            if normalize and value < 0.005:
                continue  # rounds to .00: leave the cell clean
            dark = value > 0.6 * vmax
            ax.text(
                j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black"
            )
    ax.set_xticks(np.arange(n), labels, rotation=90)
    ax.set_yticks(np.arange(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(
        image, ax=ax, label="share of the true class" if normalize else "count", shrink=0.8
    )
    if title:
        ax.set_title(title)
    return _done(fig)


# --------------------------------------------------------------------------- translation attention


def plot_attention_matrix(
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    weights: Any,
    *,
    title: str | None = None,
) -> Figure:
    """Heatmap of a translation's attention: one row per output word, one column per source word.

    ``weights`` is ``[len(target_tokens), len(source_tokens)]`` (each row sums to 1).
    A bright cell ``(t, i)`` means that while writing output word ``t`` the decoder
    read mostly source word ``i``; a word-for-word translation gives a diagonal.
    """
    values = np.asarray(
        weights.detach().cpu().numpy() if hasattr(weights, "detach") else weights, dtype=float
    )
    src, tgt = [str(t) for t in source_tokens], [str(t) for t in target_tokens]
    if values.shape != (len(tgt), len(src)):
        raise ValueError(
            f"weights have shape {values.shape} but there are {len(tgt)} output and {len(src)} "
            "source tokens: give one row per output token and one column per source token."
        )
    if not src or not tgt:
        raise ValueError("There are no tokens to show.")
    fig = _new_figure(
        figsize=(max(4.0, 0.45 * len(src) + 2.0), max(3.0, 0.35 * len(tgt) + 1.5)),
        layout="constrained",
    )
    ax = fig.subplots()
    image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src)), src, rotation=60, ha="right", fontsize=9)
    ax.set_yticks(range(len(tgt)), tgt, fontsize=9)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
    ax.set_title(title or "attention while translating")
    return _done(fig)
