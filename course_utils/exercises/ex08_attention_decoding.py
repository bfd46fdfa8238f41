"""Exercise 08 (attention and decoding): additive attention with a source mask, greedy decoding
that stops each sentence at ``<eos>``, then beam search with length normalisation.

The attention check copies the learner's weights into the package's
:class:`~course_utils.models.seq2seq.AdditiveAttention` and compares context and weights; before
giving up it tries the typical mistakes (padding that keeps weight, a softmax over the batch
axis, no ``tanh``, a mask applied after the softmax). The two decoding checks run the learner's
decoder on a tiny :class:`~course_utils.models.seq2seq.AttentionSeq2Seq` with fixed random
weights (:func:`tiny_translator`), chosen so that its sentences stop at different steps, one
never stops within ``max_len``, ``<sos>`` and ``<pad>`` would be tempting, and beam search
without length normalisation prefers short outputs; the answers are
:func:`~course_utils.inference.decoding.greedy_decode` and
:func:`~course_utils.inference.decoding.beam_search`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course_utils.exercises._common import as_tensor, close, shape_of
from course_utils.exercises.feedback import call, exercise_check, fail
from course_utils.inference.decoding import beam_search, greedy_decode
from course_utils.models.seq2seq import AdditiveAttention, AttentionSeq2Seq

# ----------------------------------------------------------------------------- Task 1

ENC_DIM, DEC_DIM, ATTN_DIM = 6, 5, 4
SOURCE_LENGTHS = [5, 2, 4]


def _attention_inputs(seed: int = 8):
    """Decoder states ``[3, 5]``, encoder states ``[3, 5, 6]`` (non-zero padding), mask."""
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(3, DEC_DIM, generator=g)
    states = torch.randn(3, 5, ENC_DIM, generator=g)  # padded rows hold numbers too, as GRU
    mask = torch.arange(5)[None, :] < torch.tensor(SOURCE_LENGTHS)[:, None]  # outputs can
    return query, states, mask


def _reference(layer: nn.Module, query, states, mask, *, variant: str = "") -> tuple:
    """Context and weights the way the package computes them, or with one typical mistake."""
    with torch.no_grad():
        keys = layer.U(states)
        inner = layer.W(query)[:, None, :] + keys
        scores = layer.v(inner if variant == "no tanh" else torch.tanh(inner)).squeeze(-1)
        if variant == "no mask":
            weights = torch.softmax(scores, dim=-1)
        elif variant == "zero fill":
            weights = torch.softmax(scores.masked_fill(~mask, 0.0), dim=-1)
        elif variant == "after softmax":
            weights = torch.softmax(scores, dim=-1) * mask
        else:
            dim = 0 if variant == "batch axis" else -1
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=dim)
        return torch.bmm(weights[:, None, :], states).squeeze(1), weights


@exercise_check(
    "Task 1 (Attention.forward)",
    "the same context and weights as the package's AdditiveAttention with your weights; padded "
    "source positions get exactly 0.",
)
def check_attention(attention_class: type) -> None:
    """``Attention(enc_dim, dec_dim, attn_dim).forward(query, states, mask)`` → context, weights."""
    torch.manual_seed(0)
    layer = call(
        "Attention(enc_dim=6, dec_dim=5, attn_dim=4)",
        attention_class,
        enc_dim=ENC_DIM,
        dec_dim=DEC_DIM,
        attn_dim=ATTN_DIM,
    )
    if not isinstance(layer, nn.Module):
        fail(f"Attention(...) built a {type(layer).__name__}; it must subclass nn.Module.")
    query, states, mask = _attention_inputs()
    what = "Attention.forward(query [3, 5], states [3, 5, 6], mask [3, 5])"
    with torch.no_grad():
        result = call(what, layer, query, states.clone(), mask.clone())
    if not isinstance(result, tuple) or len(result) != 2:
        fail(f"{what} returned {type(result).__name__}; return the pair (context, weights).")
    context = as_tensor(result[0], f"{what}[0] (the context)")
    weights = as_tensor(result[1], f"{what}[1] (the weights)")
    if tuple(weights.shape) == (3, 5, 1):
        fail(
            "the weights have shape (3, 5, 1); expected (3, 5), one weight per source position: "
            "v(...) keeps a last axis of size 1, squeeze it."
        )
    if tuple(weights.shape) != (3, 5):
        fail(
            f"the weights have shape {shape_of(weights)}; expected (3, 5): one weight per "
            "sentence and source position."
        )
    if tuple(context.shape) == (3, ATTN_DIM):
        fail(
            "the context has shape (3, 4), the size of the keys U h_i: you summed the keys. The "
            "context is the weighted sum of the encoder states h_i themselves, of size enc_dim "
            "(3, 6): the keys only serve to score the positions."
        )
    if tuple(context.shape) != (3, ENC_DIM):
        fail(
            f"the context has shape {shape_of(context)}; expected (3, 6): one vector of the "
            "encoder states' size per sentence, Σ_i α_i h_i summed over the source positions."
        )
    if torch.isnan(weights).any():
        fail(
            "some weights are NaN: a softmax over a row whose scores are all -inf. Take the "
            "softmax over the source positions (the last axis), where every sentence has at "
            "least one real word."
        )
    package = AdditiveAttention(ENC_DIM, DEC_DIM, ATTN_DIM)
    try:
        package.load_state_dict(layer.state_dict())
    except RuntimeError as err:
        fail(
            f"your module's parameters do not fit AdditiveAttention's ({err}). Keep the layers "
            "self.W, self.U and self.v that __init__ creates, and add none."
        )
    want_context, want_weights = _reference(package, query, states, mask)
    if close(weights, want_weights) and close(context, want_context):
        return
    on_padding = float(weights[~mask].abs().max())
    if close(weights, _reference(package, query, states, mask, variant="batch axis")[1]):
        fail(
            "your softmax runs over the batch axis (dim=0): each source position's weights "
            "sum to 1 across the three sentences, so one sentence's attention depends on the "
            "others in the batch. Normalise over the source positions, the last axis."
        )
    if close(weights, _reference(package, query, states, mask, variant="no tanh")[1]):
        fail(
            "your scores miss the tanh: vᵀ(W s + U h_i) is linear, so v·W s is the same for "
            "every position and cancels in the softmax: the weights then cannot depend on "
            "the decoder state at all. Score with vᵀ tanh(W s + U h_i)."
        )
    if on_padding > 1e-6:
        detail = ""
        if close(weights, _reference(package, query, states, mask, variant="zero fill")[1]):
            detail = (
                " You set padded scores to 0, but a score of 0 is not 'never': exp(0) = 1, "
                "as much as an ordinary word gets."
            )
        elif close(weights, _reference(package, query, states, mask, variant="no mask")[1]):
            detail = " The mask is not used at all."
        fail(
            f"padding leak: padded source positions get weight up to {on_padding:.3f}, so the "
            "context mixes in encoder states of positions that hold no word, and a sentence "
            f"would be translated differently alone and in a padded batch.{detail} Set the "
            "scores of padded positions to -inf (masked_fill with ~mask) before the softmax: "
            "their weight is then exactly 0."
        )
    sums = weights.sum(dim=-1)
    if (sums - 1).abs().max() > 1e-4:
        late = _reference(package, query, states, mask, variant="after softmax")[1]
        note = (
            " You zeroed the padding after the softmax, so the real words' weights no longer "
            "sum to 1."
            if close(weights, late)
            else ""
        )
        fail(
            f"each sentence's weights should sum to 1; yours sum to "
            f"{[round(s, 3) for s in sums.tolist()]}.{note} Mask the scores with -inf before "
            "the softmax instead, so that it spreads the whole weight over the real words."
        )
    if not close(weights, want_weights):
        fail(
            "your weights differ from AdditiveAttention's with the same parameters. The scores "
            "are e_i = vᵀ tanh(W s + U h_i): W on the decoder state, U (with its bias) on every "
            "encoder state, the two added with broadcasting over the source positions."
        )
    fail(
        "your weights are right but the context is not: it is Σ_i α_i h_i, the weights times "
        "the encoder states, summed over the source positions (torch.bmm, or broadcasting and "
        ".sum(dim=1))."
    )


# ----------------------------------------------------------------------------- Tasks 2 and 3

PAD, SOS, EOS = 1, 2, 3  # as in course_utils.datasets.multi30k.SPECIALS: <unk>, <pad>, <sos>, <eos>
MAX_LEN, BEAM = 8, 3
TINY_SIZES = dict(
    src_vocab_size=20,
    tgt_vocab_size=16,
    emb_dim=8,
    enc_hidden=8,
    dec_hidden=12,
    attn_dim=8,
    dropout=0.0,
    src_pad_index=PAD,
    tgt_pad_index=PAD,
    out_dim=12,
)


def tiny_translator(seed: int = 1, scale: float = 2.5) -> AttentionSeq2Seq:
    """A 16-word :class:`AttentionSeq2Seq` with fixed random weights, in eval mode.

    The weights are drawn with their own generator in a fixed order, so they do not depend on
    PyTorch's initialisation code; ``<sos>`` and ``<pad>`` get a higher output bias, so a
    decoder that forgets to ban them writes them.
    """
    model = AttentionSeq2Seq(**TINY_SIZES).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.copy_(torch.randn(p.shape, generator=g) * scale / max(1, p.shape[-1]) ** 0.5)
        model.out[-1].bias[[SOS, PAD]] += 2.0
    return model


def tiny_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Six source sentences of 5, 3, 7, 2, 6 and 4 words, padded with ``PAD``."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 3, 7, 2, 6, 4])
    src = torch.full((6, 7), PAD, dtype=torch.long)
    for row, n in enumerate(lengths.tolist()):
        src[row, :n] = torch.randint(4, 20, (n,), generator=g)
    return src, lengths


def _as_rows(result: Any, what: str, batch: int) -> list[list[int]]:
    if isinstance(result, torch.Tensor):
        fail(
            f"{what} returned one tensor of shape {shape_of(result)}; return a list with one "
            "list of word ids per sentence (their lengths differ), e.g. tensor.tolist() cut "
            "at each sentence's <eos>."
        )
    if not isinstance(result, list | tuple) or len(result) != batch:
        n = len(result) if isinstance(result, list | tuple) else type(result).__name__
        fail(f"{what} returned {n}; expected a list of {batch} lists, one per source sentence.")
    rows = []
    for row in result:
        if isinstance(row, torch.Tensor):
            row = row.tolist()
        if not isinstance(row, list | tuple) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in row
        ):
            fail(
                f"{what} returned a row of {type(row).__name__}; each sentence must be a list "
                "of int word ids (use .tolist())."
            )
        rows.append(list(row))
    return rows


def _special_words(rows: list[list[int]], what: str) -> None:
    for i, row in enumerate(rows):
        for word, name in ((SOS, "<sos>"), (PAD, "<pad>")):
            if word in row:
                fail(
                    f"{what}: sentence {i} contains {name} (id {word}): {row}. The model can "
                    f"give {name} a high score (an untrained one often does), but a decoder must "
                    f"never write it: {name} is an input or a filler, not a word. Set the scores "
                    "of <sos> and <pad> to -inf before choosing."
                )


def _words(rows: list[list[int]]) -> str:
    return str([len(r) for r in rows])


@exercise_check(
    "Task 2 (greedy)",
    "the same translations as greedy_decode: each sentence stops at its own <eos>, which is not "
    "part of the output, and never writes <sos> or <pad>.",
)
def check_greedy(function: Callable) -> None:
    """``greedy(model, src, lengths, sos=, eos=, pad=, max_len=)`` → list of id lists."""
    model = tiny_translator()
    src, lengths = tiny_batch()
    want = [h.ids for h in greedy_decode(model, src, lengths, sos=SOS, eos=EOS, max_len=MAX_LEN)]
    what = "greedy(tiny model, 6 sentences, max_len=8)"
    with torch.no_grad():
        result = call(
            what,
            function,
            model,
            src.clone(),
            lengths.clone(),
            sos=SOS,
            eos=EOS,
            pad=PAD,
            max_len=MAX_LEN,
        )
    got = _as_rows(result, what, len(want))
    if got == want:
        return
    _special_words(got, what)
    if any(len(row) > MAX_LEN for row in got):
        fail(
            f"your translations have {_words(got)} words; max_len=8 is the most a sentence may "
            "have: stop after max_len steps even when some sentence has not written <eos>."
        )
    ended = [i for i, row in enumerate(want) if len(row) < MAX_LEN]
    if all(got[i] == want[i] + [EOS] for i in ended) and got != want:
        fail(
            f"off by one: your sentences keep their <eos> (lengths {_words(got)}, expected "
            f"{_words(want)}). <eos> is how the decoder says 'done', not a word of the "
            "translation: cut each sentence just before its first <eos>."
        )
    if any(EOS in row for row in got):
        i = next(i for i, row in enumerate(got) if EOS in row)
        fail(
            f"sentence {i} goes on after its <eos>: {got[i]}. The batch keeps running until "
            "every sentence is done, so the rows that finished early still get words; each "
            "sentence's translation ends at its own first <eos>."
        )
    if all(got[i] == want[i][:-1] for i in ended) and any(want[i] for i in ended):
        fail(
            f"off by one: each finished sentence lost its last word (lengths {_words(got)}, "
            f"expected {_words(want)}). Cut at the position of <eos>, which keeps every word "
            "before it."
        )
    first_done = min((len(want[i]) + 1 for i in ended), default=MAX_LEN)
    if all(got[i] == want[i][:first_done] for i in range(len(want))):
        fail(
            f"your decoding stops every sentence when the first one writes <eos> (lengths "
            f"{_words(got)}, expected {_words(want)}). Sentences finish at different steps: "
            "keep a 'done' flag per sentence and stop the loop only when all are done (or "
            "after max_len steps)."
        )
    i = next(i for i in range(len(want)) if got[i] != want[i])
    fail(
        f"sentence {i}: you decoded {got[i]}, greedy_decode gives {want[i]}. Start from "
        "model.encode and model.initial_hidden, feed <sos> first, then at every step feed back "
        "the highest-scoring word of the step before (model.step returns logits, new hidden "
        "state and attention)."
    )


def _package_beam(model, src, lengths, alpha: float) -> list[list[int]]:
    hyps = beam_search(
        model,
        src,
        lengths,
        sos=SOS,
        eos=EOS,
        beam_width=BEAM,
        max_len=MAX_LEN,
        length_penalty=alpha,
    )
    return [h.ids for h in hyps]


@exercise_check(
    "Task 3 (beam_search)",
    "the same translations as the package's beam_search, with and without length normalisation.",
)
def check_beam_search(function: Callable) -> None:
    """``beam_search(model, src, lengths, sos=, eos=, pad=, beam_width=, max_len=, alpha=)``."""
    model = tiny_translator()
    src, lengths = tiny_batch()
    want = _package_beam(model, src, lengths, 1.0)
    raw = _package_beam(model, src, lengths, 0.0)
    what = "beam_search(tiny model, 6 sentences, beam_width=3, max_len=8, alpha=1.0)"
    with torch.no_grad():
        result = call(
            what,
            function,
            model,
            src.clone(),
            lengths.clone(),
            sos=SOS,
            eos=EOS,
            pad=PAD,
            beam_width=BEAM,
            max_len=MAX_LEN,
            alpha=1.0,
        )
    got = _as_rows(result, what, len(want))
    if got != want:
        _special_words(got, what)
        if any(EOS in row for row in got):
            fail(
                f"your translations contain <eos>: {got}. Return each winner cut just before "
                "its first <eos>, as greedy decoding does."
            )
        if got == raw:
            short = [i for i in range(len(want)) if len(raw[i]) < len(want[i])]
            fail(
                f"your winners are the beams with the highest *summed* log-probability: "
                f"lengths {_words(got)}, expected {_words(want)} (sentences {short} come out "
                "shorter). Every word adds a negative log-probability, so a sum always favours "
                "stopping early. Choose the winner by score / length ** alpha, the length "
                "counting <eos>."
            )
        greedy = [
            h.ids for h in greedy_decode(model, src, lengths, sos=SOS, eos=EOS, max_len=MAX_LEN)
        ]
        if got == greedy:
            fail(
                "your beam search returns greedy decoding's translations: it keeps one "
                "hypothesis per step. Keep beam_width: at every step extend every beam by "
                "every word and keep the beam_width best extensions overall (topk over "
                "beams × vocabulary)."
            )
        i = next(i for i in range(len(want)) if got[i] != want[i])
        fail(
            f"sentence {i}: you found {got[i]}, the package's beam_search finds {want[i]}. "
            "Check the steps of the task: extensions scored by total log-probability; a "
            "finished beam stays in the beam and is extended only by <eos> at no cost; stop "
            "when every beam is finished or after max_len steps; the winner maximises "
            "score / length ** alpha with <eos> counted in the length."
        )
    what = "beam_search(..., alpha=0.0)"
    with torch.no_grad():
        result = call(
            what,
            function,
            model,
            src.clone(),
            lengths.clone(),
            sos=SOS,
            eos=EOS,
            pad=PAD,
            beam_width=BEAM,
            max_len=MAX_LEN,
            alpha=0.0,
        )
    if _as_rows(result, what, len(raw)) != raw:
        fail(
            "with alpha=1.0 your beam search is right, but with alpha=0.0 it returns the same "
            f"translations; expected lengths {_words(raw)} (no normalisation: the summed "
            "log-probability decides). Use the alpha argument in length ** alpha, not a fixed "
            "exponent."
        )
