"""Interactive demos for the notebooks (ipywidgets).

A learner understands a sentiment model best by poking it: type a review, change
one word, watch the probability and (for attention pooling) where the model looks.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch

from course_utils.data.text import Tokenizer, Vocab
from course_utils.inference import predict_sentiment


def _highlight(tokens: list[str], weights: list[float]) -> str:
    """Tokens as HTML spans whose background darkens with their attention weight."""
    top = max(weights) or 1.0
    style = "background: rgba(255,140,0,{:.2f}); padding:1px"
    spans = [
        f'<span style="{style.format(w / top)}">{html.escape(t)}</span>'
        for t, w in zip(tokens, weights, strict=True)
    ]
    return " ".join(spans)


def sentiment_box(
    model: torch.nn.Module,
    vocab: Vocab,
    tokenizer: Tokenizer | None = None,
    *,
    initial_text: str = "This film was a pleasant surprise: smart, funny and well acted.",
) -> widgets.VBox:
    """A text box that shows the model's P(positive) live as you type.

    If the model pools with attention, the tokens are shown shaded by their weight.
    """
    tokenizer = tokenizer or Tokenizer()
    text = widgets.Textarea(
        value=initial_text,
        placeholder="Type a review…",
        layout=widgets.Layout(width="100%", height="90px"),
        continuous_update=True,
    )
    meter = widgets.FloatProgress(min=0.0, max=1.0, description="positive:", bar_style="info")
    verdict = widgets.HTML()
    attention = widgets.HTML()

    def update(_=None) -> None:
        try:
            prob = predict_sentiment(model, vocab, text.value, tokenizer=tokenizer)
        except ValueError as err:  # empty text: say so instead of raising inside the widget
            meter.value, verdict.value, attention.value = 0.0, f"<i>{html.escape(str(err))}</i>", ""
            return
        meter.value = prob
        meter.bar_style = "success" if prob >= 0.5 else "danger"
        label = "positive" if prob >= 0.5 else "negative"
        verdict.value = f"<b>{label}</b> (P(positive) = {prob:.3f})"
        weights = getattr(model, "last_attention", None)
        if weights is not None:
            tokens = tokenizer(text.value)[: weights.shape[-1]]
            attention.value = _highlight(tokens, weights[0, : len(tokens)].tolist())

    text.observe(update, names="value")
    update()
    return widgets.VBox([text, widgets.HBox([meter, verdict]), attention])
