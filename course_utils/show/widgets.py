"""Interactive demos for the notebooks (ipywidgets).

A learner understands a sentiment model best by poking it: type a review, change
one word, watch the probability and (for attention pooling) where the model looks.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable

import ipywidgets as widgets
import torch

from course_utils.inference.sentiment import predict_sentiment
from course_utils.text.tokenizer import Tokenizer
from course_utils.text.vocab import Vocab


class LiveDemo(widgets.VBox):
    """A demo's widgets plus a static preview for wherever the live widget cannot be drawn.

    A saved notebook opened before its cells are run (on GitHub, in JupyterLab with no
    kernel yet) has no widget models, so the widget output alone would read as a repr
    string or "Error displaying widget". The output bundle therefore also carries an HTML
    preview: what the demo does and what it showed when the notebook was last run.
    Jupyter draws the live widget whenever it can; ``scripts/refresh_notebook.py`` keeps
    only the preview in committed notebooks.
    """

    def __init__(self, children: list, *, what: str, shown: Callable[[], str]) -> None:
        super().__init__(children)
        self.what = what
        self.shown = shown

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs)
        note = f"Live demo: {self.what} Run this cell to use it."
        bundle["text/plain"] = note
        bundle["text/html"] = (
            "<div style='border-left: 4px solid #1976d2; padding: 4px 10px'>"
            f"<b>Live demo</b>: {html.escape(self.what)} <i>Run this cell to use it.</i>"
            f"<br><small>When this notebook was run, it showed:</small><br>{self.shown()}</div>"
        )
        return bundle


def _highlight(tokens: list[str], weights: list[float]) -> str:
    """Tokens as HTML spans whose background darkens with their attention weight."""
    top = max(weights) or 1.0
    style = "background: rgba(255,140,0,{:.2f}); padding:1px"
    spans = [
        f'<span style="{style.format(w / top)}">{html.escape(t)}</span>'
        for t, w in zip(tokens, weights, strict=True)
    ]
    return " ".join(spans)


def _notes(caught: list[warnings.WarningMessage]) -> str:
    """Warnings raised while answering, as small HTML lines under the answer."""
    return "".join(f"<br><small>⚠ {html.escape(str(w.message))}</small>" for w in caught)


def sentiment_box(
    model: torch.nn.Module,
    vocab: Vocab,
    tokenizer: Tokenizer | None = None,
    *,
    initial_text: str = "This film was a pleasant surprise: smart, funny and well acted.",
    expected_fingerprint: str | None = None,
) -> LiveDemo:
    """A text box that shows the model's P(positive) live as you type.

    If the model pools with attention, the tokens are shown shaded by their weight.
    Text the model cannot answer (empty, or only words it has never seen) shows the
    reason instead of a probability; warnings (most words unknown, text truncated)
    are shown under the answer. ``expected_fingerprint`` is passed to
    :func:`~course_utils.inference.sentiment.predict_sentiment`.
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
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                prob = predict_sentiment(
                    model,
                    vocab,
                    text.value,
                    tokenizer=tokenizer,
                    expected_fingerprint=expected_fingerprint,
                )
        except ValueError as err:  # nothing to answer: say why instead of raising in the widget
            meter.value, verdict.value, attention.value = 0.0, f"<i>{html.escape(str(err))}</i>", ""
            return
        meter.value = prob
        meter.bar_style = "success" if prob >= 0.5 else "danger"
        label = "positive" if prob >= 0.5 else "negative"
        verdict.value = f"<b>{label}</b> (P(positive) = {prob:.3f}){_notes(caught)}"
        weights = getattr(model, "last_attention", None)
        if weights is not None:
            tokens = tokenizer(text.value)[: weights.shape[-1]]
            attention.value = _highlight(tokens, weights[0, : len(tokens)].tolist())

    text.observe(update, names="value")
    update()
    return LiveDemo(
        [text, widgets.HBox([meter, verdict]), attention],
        what="type a review and the model's P(positive) updates as you type.",
        shown=lambda: f"<q>{html.escape(text.value)}</q> → {verdict.value}",
    )


def generation_box(
    model: torch.nn.Module,
    corpus,
    *,
    prompt: str = "ROMEO:\n",
    length: int = 300,
    temperature: float = 0.8,
) -> LiveDemo:
    """Prompt box, temperature and length sliders, top-k, a seed and a Generate button.

    ``corpus`` is the :class:`~course_utils.datasets.shakespeare.TextCorpus` the model was trained
    on (its vocabulary encodes the prompt). A prompt the model cannot read is
    reported in the output area instead of raising inside the widget.
    """
    from course_utils.inference.generation import generate

    prompt_box = widgets.Textarea(
        value=prompt, description="prompt", layout=widgets.Layout(width="100%", height="60px")
    )
    temperature_slider = widgets.FloatSlider(
        value=temperature, min=0.0, max=2.0, step=0.05, description="temperature"
    )
    length_slider = widgets.IntSlider(value=length, min=10, max=1000, step=10, description="length")
    top_k_box = widgets.IntText(value=0, description="top-k (0 = off)")
    seed_box = widgets.IntText(value=0, description="seed")
    button = widgets.Button(description="Generate", button_style="primary", icon="play")
    output = widgets.HTML()

    def run(_=None) -> None:
        try:
            text = generate(
                model,
                corpus,
                prompt_box.value,
                length_slider.value,
                temperature=temperature_slider.value,
                top_k=top_k_box.value or None,
                seed=seed_box.value,
                unknown="unk" if corpus.level == "word" else "error",
            )
        except ValueError as err:
            output.value = f"<i>{html.escape(str(err))}</i>"
            return
        output.value = f"<pre style='white-space: pre-wrap'>{html.escape(text)}</pre>"

    button.on_click(run)
    run()
    controls = widgets.HBox([temperature_slider, length_slider])
    options = widgets.HBox([top_k_box, seed_box, button])
    return LiveDemo(
        [prompt_box, controls, options, output],
        what="write a prompt, pick a temperature, length and seed, then press Generate.",
        shown=lambda: output.value,
    )


def translation_box(
    model: torch.nn.Module,
    src_tokenizer: Tokenizer,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    *,
    initial_text: str = "Ein kleiner Junge spielt mit seinem Hund im Park.",
    beam_width: int = 1,
) -> LiveDemo:
    """A text box that translates what you type (on Enter / leaving the box) and draws the
    attention map of the translation when the model has attention.

    Text with nothing to translate (empty, or only unknown words) shows the reason
    instead of raising inside the widget; warnings (most words unknown) are shown
    under the translation.
    """
    from IPython.display import display

    from course_utils.inference.decoding import translate
    from course_utils.show.plots import plot_attention_matrix

    text = widgets.Text(
        value=initial_text,
        placeholder="Type a German sentence…",
        layout=widgets.Layout(width="100%"),
        continuous_update=False,
    )
    beam = widgets.IntSlider(value=beam_width, min=1, max=10, description="beam width:")
    result = widgets.HTML()
    picture = widgets.Output()

    def update(_=None) -> None:
        picture.clear_output()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = translate(
                    model, text.value, src_tokenizer, src_vocab, tgt_vocab, beam_width=beam.value
                )
        except ValueError as err:
            result.value = f"<i>{html.escape(str(err))}</i>"
            return
        result.value = f"<b>{html.escape(out.text)}</b>{_notes(caught)}"
        if out.attention is not None and out.attention.shape[0] > 0:
            with picture:
                display(plot_attention_matrix(out.source_tokens, out.target_labels, out.attention))

    text.observe(update, names="value")
    beam.observe(update, names="value")
    update()
    return LiveDemo(
        [text, beam, result, picture],
        what="type a German sentence and press Enter to see its translation and attention map.",
        shown=lambda: f"<q>{html.escape(text.value)}</q> → {result.value}",
    )
