"""Sampling text from a language model: greedy, temperature, top-k and top-p (nucleus).

A language model gives a distribution over the next token; generating text is
drawing from it again and again, feeding each drawn token back in. How we draw
decides the character of the text:

* **greedy** (``temperature=0``): always the most likely token. Deterministic,
  and prone to loops ("the the the …").
* **temperature** ``τ``: sample from ``softmax(logits / τ)``. ``τ < 1`` sharpens the
  distribution (safer, more repetitive), ``τ > 1`` flattens it (more surprising,
  more mistakes); ``τ → 0`` tends to greedy.
* **top-k**: sample only among the ``k`` most likely tokens.
* **top-p** (Holtzman et al., 2020): sample among the smallest set of most likely
  tokens whose probabilities add up to at least ``p``.

A ``seed`` (or a ``torch.Generator``) makes every sample reproducible.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import torch
from torch import nn

from course_utils.datasets.shakespeare import TextCorpus
from course_utils.inference.inputs import check_vocab_size, require_model, vocab_rows
from course_utils.models.common import eval_mode, model_device

__all__ = [
    "check_sampling",
    "filter_logits",
    "generate",
    "lm_scores",
    "sample_next",
    "samples_html",
]


def lm_scores(nats_per_token: float) -> dict[str, float]:
    """The same cross-entropy three ways: nats and bits per token, and perplexity.

    Perplexity ``exp(nats)`` reads as "as uncertain as a uniform choice among this
    many tokens"; bits per character is what compression papers report.
    """
    return {
        "nats": nats_per_token,
        "bits": nats_per_token / math.log(2),
        "perplexity": math.exp(nats_per_token),
    }


def check_sampling(
    temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> None:
    """A clear error for a sampling setting that cannot work, before any sampling starts.

    ``temperature`` is 0 (greedy) or a positive finite number, ``top_k`` a whole number
    of at least 1, ``top_p`` a share in ``(0, 1]``; ``None`` switches a filter off.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, Real):
        raise TypeError(
            f"temperature must be a number (0 for greedy, e.g. 0.8), got {temperature!r}."
        )
    if not 0 <= temperature < math.inf:  # also false for nan
        raise ValueError(
            f"temperature must be 0 (greedy) or positive and finite, got {temperature}. "
            "Try 0.5 (safe), 1.0 (the model's own distribution) or 1.5 (adventurous)."
        )
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, Integral)):
        raise TypeError(f"top_k must be a whole number (or None), got {top_k!r}.")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1 (or None), got {top_k}.")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, Real)):
        raise TypeError(f"top_p must be a number in (0, 1] (or None), got {top_p!r}.")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(
            f"top_p must be in (0, 1], got {top_p}: it is the share of probability kept, "
            "e.g. 0.9 (1.0 keeps every token)."
        )


def filter_logits(
    logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """``logits`` with every token outside the top-k / top-p set at ``-inf``.

    The most likely token is always kept, so at least one token can be sampled.
    """
    check_sampling(top_k=top_k, top_p=top_p)
    if top_k is not None:
        k = min(top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of the strictly more likely tokens
        drop_sorted = before >= top_p  # keeps the smallest prefix reaching top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token id per row of ``logits`` (``[batch, vocab]`` → ``[batch]``; ``[vocab]`` → ``[]``).

    ``temperature=0`` is greedy decoding (the arg-max), the limit of ``τ → 0``.
    """
    check_sampling(temperature)
    squeeze = logits.dim() == 1
    logits = logits.unsqueeze(0) if squeeze else logits
    logits = filter_logits(logits.float(), top_k, top_p)
    if temperature == 0:
        tokens = logits.argmax(dim=-1)
    else:
        probs = torch.softmax(logits / temperature, dim=-1)
        tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return tokens.squeeze(0) if squeeze else tokens


def _never_sample(corpus: TextCorpus) -> list[int]:
    """Specials a generator must not produce: ``<pad>`` and ``<unk>``."""
    return [corpus.vocab.pad_index, corpus.vocab.unk_index]


def _checked_inputs(model, corpus, prompt, length, unknown) -> nn.Module:
    module = require_model(model, "language model", "generate")
    if not isinstance(corpus, TextCorpus):
        raise TypeError(
            "generate needs the TextCorpus the model was trained on as its second argument "
            f"(it turns the prompt into ids and ids back into text), got {type(corpus).__name__}. "
            "E.g. corpus = load_tiny_shakespeare(); generate(model, corpus, 'ROMEO:')."
        )
    if not isinstance(prompt, str):
        raise TypeError(
            f"The prompt must be a str (the text to continue), got {type(prompt).__name__}; "
            "e.g. generate(model, corpus, 'ROMEO:')."
        )
    if not prompt:
        raise ValueError(
            "The prompt is empty: give the model at least one token to continue, "
            'e.g. "ROMEO:" or a newline "\\n".'
        )
    if isinstance(length, bool) or not isinstance(length, Integral):
        raise TypeError(f"length is a number of tokens: a whole number, got {length!r}.")
    if length < 0:
        raise ValueError(f"length must be 0 or more, got {length}.")
    if unknown not in ("error", "unk"):
        raise ValueError(
            f"unknown must be 'error' (stop on a token the model never saw) or 'unk' "
            f"(read it as <unk>), got {unknown!r}."
        )
    check_vocab_size(
        len(corpus.vocab),
        vocab_rows(module),
        f"vocabulary of this {corpus.level}-level corpus",
        "Pass the TextCorpus the model was trained on (a character model needs the "
        "character corpus, a word model the word corpus).",
    )
    return module


@torch.no_grad()
def generate(
    model: nn.Module,
    corpus: TextCorpus,
    prompt: str,
    length: int = 300,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    unknown: str = "error",
    include_prompt: bool = True,
) -> str:
    """``prompt`` followed by ``length`` generated tokens (characters or words).

    The prompt runs through the model once; then each sampled token is fed back
    in with the carried hidden state, so generation costs one step per token.
    ``seed`` makes the sample reproducible (the same seed, prompt and settings give
    the same text). Characters the model has never seen raise a ``ValueError``
    naming them (``unknown="unk"`` maps them to ``<unk>`` instead, useful for
    word-level models). ``<pad>`` and ``<unk>`` are never generated.
    """
    module = _checked_inputs(model, corpus, prompt, length, unknown)
    check_sampling(temperature, top_k, top_p)
    ids = corpus.encode(prompt, unknown=unknown)
    if ids.numel() == 0:
        raise ValueError(f"The prompt {prompt!r} has no tokens for this {corpus.level} model.")
    device = model_device(module)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    banned = torch.tensor(_never_sample(corpus), device=device)
    generated: list[int] = []
    with eval_mode(module):
        logits, hidden = module(ids.unsqueeze(0).to(device))
        for _ in range(length):
            step = logits[:, -1, :].float().index_fill(-1, banned, float("-inf"))
            token = sample_next(step, temperature, top_k, top_p, generator)
            generated.append(int(token))
            logits, hidden = module(token.view(1, 1), hidden)
    continuation = corpus.decode(generated)
    if not include_prompt:
        return continuation
    prompt_tokens: Sequence[str] = corpus.tokens(prompt)
    return corpus.join([*prompt_tokens, *corpus.vocab.decode(generated)])


def samples_html(samples: Mapping[str, str]) -> str:
    """An HTML table with one column per sample, headed by its label (e.g. the temperature).

    Wrap it in ``IPython.display.HTML`` to compare samples side by side in a notebook.
    """
    head = "".join(f"<th style='text-align:left'>{html.escape(k)}</th>" for k in samples)
    cells = "".join(
        "<td style='vertical-align:top; text-align:left'><pre style='white-space:pre-wrap; "
        f"font-size:11px'>{html.escape(v)}</pre></td>"
        for v in samples.values()
    )
    return f"<table><tr>{head}</tr><tr>{cells}</tr></table>"
