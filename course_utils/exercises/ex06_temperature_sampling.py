"""Exercise 06 (temperature sampling): the distribution, a seeded draw, the generation loop.

The generation check runs the learner's loop on a tiny model with dropout that records
its mode and the length of every call, so forgetting ``model.eval()`` and re-reading the
whole text at every step are named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course_utils.exercises._common import (
    as_tensor,
    close,
    expect_shape,
)
from course_utils.exercises.feedback import call, exercise_check, fail


def _sampling_logits() -> torch.Tensor:
    return torch.tensor(
        [[2.0, 1.0, 0.0, -1.0, 0.5], [0.0, 3.0, 0.2, 0.1, -2.0], [1.0, 1.0, 1.0, 1.0, 4.0]]
    )


@exercise_check(
    "Task 1 (temperature_probs)",
    "softmax(logits / T) over the vocabulary, one-hot argmax at T = 0.",
)
def check_temperature_probs(function: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """``temperature_probs(logits [B, V], temperature)`` → probabilities ``[B, V]``."""
    logits = _sampling_logits()
    for t in (1.0, 0.5, 2.0, 0.0):
        what = f"temperature_probs(logits [3, 5], temperature={t})"
        got = as_tensor(call(what, function, logits.clone(), t), what)
        expect_shape(got, (3, 5), what, "one probability per row and vocabulary entry.")
        if t == 0.0:
            expected = nn.functional.one_hot(logits.argmax(1), 5).float()
        else:
            expected = torch.softmax(logits / t, dim=1)
        if close(got, expected):
            continue
        if torch.isnan(got).any():
            fail(
                f"{what} gives NaN: at temperature 0 do not divide by zero; return a one-hot "
                "vector at each row's argmax (greedy decoding)."
            )
        sums = got.sum(dim=1)
        if close(got.sum(dim=0), torch.ones(5)) and not close(sums, torch.ones(3)):
            fail(
                f"{what}: the probabilities sum to 1 over the batch (dim=0); take the softmax "
                "over the vocabulary, dim=-1, so each row sums to 1."
            )
        if not close(sums, torch.ones(3), atol=1e-4):
            fail(
                f"{what}: rows sum to {[round(v, 3) for v in sums.tolist()]}, not 1 — "
                "logits are not probabilities; apply torch.softmax(..., dim=-1)."
            )
        if t != 0.0:
            p = torch.softmax(logits, dim=1) / t
            if close(got, p / p.sum(1, keepdim=True)):
                fail(
                    f"{what}: you divided the probabilities by T and renormalised, which "
                    "changes nothing. Divide the *logits* by T, then apply the softmax."
                )
            if close(got, torch.softmax(logits * t, dim=1)):
                fail(f"{what}: you multiplied the logits by T; divide them: logits / T.")
        fail(f"{what}: row 0 should be {[round(v, 4) for v in expected[0].tolist()]}.")
    low = call("temperature_probs(T=0.1)", function, logits.clone(), 0.1)
    if not bool((low.max(1).values > 0.99).all()):
        fail("at T = 0.1 nearly all the mass should sit on each row's most likely entry.")


@exercise_check(
    "Task 2 (sample_with_temperature)",
    "seeded draws follow softmax(logits / T); T = 0 is greedy.",
)
def check_sample_with_temperature(function: Callable) -> None:
    """``sample_with_temperature(logits [B, V], temperature, generator)`` → ids ``[B]``."""
    logits = _sampling_logits()
    what = "sample_with_temperature(logits [3, 5], 0.0, generator)"
    greedy = as_tensor(call(what, function, logits.clone(), 0.0, torch.Generator()), what)
    if tuple(greedy.shape) == (3, 1):
        fail(f"{what} returns shape (3, 1); expected (3,) — one id per row (.squeeze(1)).")
    expect_shape(greedy, (3,), what, "one sampled id per row.")
    if greedy.dtype != torch.long:
        fail(f"{what} returns dtype {greedy.dtype}; token ids must be torch.long.")
    if not torch.equal(greedy, logits.argmax(1)):
        fail(
            f"{what} should be the argmax of each row ({logits.argmax(1).tolist()}), got "
            f"{greedy.tolist()}."
        )
    what = "sample_with_temperature(logits, 1.0, generator seeded with 0)"
    a = as_tensor(call(what, function, logits.clone(), 1.0, torch.Generator().manual_seed(0)), what)
    b = as_tensor(call(what, function, logits.clone(), 1.0, torch.Generator().manual_seed(0)), what)
    expect_shape(a, (3,), what, "one sampled id per row.")
    if not torch.equal(a, b):
        fail(
            f"{what} gives different ids for the same seed: pass generator=generator to "
            "torch.multinomial so sampling is reproducible."
        )
    big = logits.repeat(4000, 1)
    for t in (1.0, 0.5):
        what = f"sample_with_temperature(12,000 rows, {t}, generator)"
        ids = as_tensor(
            call(what, function, big.clone(), t, torch.Generator().manual_seed(1)), what
        )
        expect_shape(ids, (big.size(0),), what, "one sampled id per row.")
        freq = torch.stack(
            [torch.bincount(ids[r::3], minlength=5).float() / 4000 for r in range(3)]
        )
        expected = torch.softmax(logits / t, dim=1)
        if (freq - expected).abs().max() > 0.04:
            if (freq - torch.softmax(logits, dim=1)).abs().max() <= 0.04 and t != 1.0:
                fail(
                    f"{what}: the draws ignore the temperature (they follow softmax(logits)); "
                    "divide the logits by T before the softmax."
                )
            if all((freq[r] > 0.98).any() for r in range(3)):
                fail(f"{what}: you always pick the argmax; sample with torch.multinomial.")
            fail(
                f"{what}: row 0's ids occur with frequencies "
                f"{[round(v, 3) for v in freq[0].tolist()]}; softmax(logits / T) gives "
                f"{[round(v, 3) for v in expected[0].tolist()]}."
            )


class _GenerationProbe(nn.Module):
    """A tiny character model with dropout that records its mode (for the generate check)."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(vocab_size, 8)
        self.rnn = nn.GRU(8, 16, batch_first=True)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(16, vocab_size)
        self.modes: list[bool] = []
        self.calls: list[int] = []

    def forward(self, tokens: torch.Tensor, hidden: torch.Tensor | None = None):
        self.modes.append(self.training)
        self.calls.append(tokens.size(1))
        outputs, hidden = self.rnn(self.embedding(tokens), hidden)
        return self.fc(self.dropout(outputs)), hidden


class _TinyCorpus:
    """The two methods of a text corpus that ``generate`` uses, over a tiny alphabet."""

    def __init__(self, alphabet: str) -> None:
        self.alphabet = alphabet

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor([self.alphabet.index(c) for c in text])

    def decode(self, ids: Any) -> str:
        return "".join(self.alphabet[int(i)] for i in ids)


def _reference_greedy(model: nn.Module, ids: list[int], length: int) -> list[int]:
    with torch.no_grad():
        logits, hidden = model(torch.tensor([ids]))
        out = []
        for _ in range(length):
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            logits, hidden = model(torch.tensor([[nxt]]), hidden)
    return out


@exercise_check(
    "Task 3 (generate)",
    "the prompt is read once, the state is carried, the model runs in eval mode.",
)
def check_generate(function: Callable) -> None:
    """``generate(model, corpus, prompt, length, temperature, seed)`` behaves."""
    corpus = _TinyCorpus("abcdefgh ")
    model = _GenerationProbe(len(corpus.alphabet)).train()
    what = "generate(model, corpus, prompt='abc', length=20, temperature=0.0, seed=0)"
    text = call(what, function, model, corpus, "abc", 20, 0.0, 0)
    if not isinstance(text, str):
        fail(f"{what} returns a {type(text).__name__}; return the generated text as a str.")
    if any(model.modes):
        fail(
            "your generate ran the model in training mode (you forgot model.eval()): dropout "
            "is then still active and randomly zeroes half the activations at every step, so "
            "the text is worse than the model can do. Call model.eval() first."
        )
    model.eval()
    expected = "abc" + corpus.decode(_reference_greedy(model, corpus.encode("abc").tolist(), 20))
    if len(text) != len(expected):
        fail(
            f"{what} returns {len(text)} characters; expected {len(expected)}: the prompt "
            "followed by `length` new characters."
        )
    if text != expected:
        if len(model.calls) > 1 and max(model.calls) > 3 and len(set(model.calls)) > 2:
            fail(
                f"{what}: you re-read the whole text at every step. Feed the prompt once, then "
                "one new character at a time with the hidden state the model returned."
            )
        fail(
            f"{what} should be {expected!r} (greedy: the argmax at every step, carrying the "
            f"hidden state), got {text!r}."
        )
    first = call(what, function, model, corpus, "abc", 30, 1.0, 5)
    second = call(what, function, model, corpus, "abc", 30, 1.0, 5)
    if first != second:
        fail(
            "generate gives different text for the same seed: make a torch.Generator seeded "
            "with `seed` and pass it to every sampling step."
        )
