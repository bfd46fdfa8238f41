"""Turning a trained encoder–decoder into translations: greedy search, beam search, BLEU.

Training scores the reference translation word by word; translating has no
reference, so the model must build its output one word at a time from its own
guesses. Two ways to choose those words:

* :func:`greedy_decode` takes the single most likely word at every step.
* :func:`beam_search` keeps the ``beam_width`` best partial translations at every
  step and finally picks the one with the best *length-normalised* log-probability
  ``log P(y | x) / |y|^α``; without the normalisation (``α = 0``) short
  translations win simply because every extra word multiplies in a probability < 1.

Both work on whole batches of sentences at once (a beam of width ``K`` over ``B``
sentences is one batch of ``B·K`` rows), which is what makes beam search over a
1,000-sentence test set take seconds rather than minutes on a CPU.
:func:`translate` wraps everything for one sentence typed by a learner, and
:func:`bleu` scores a corpus with sacrebleu.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from torch import nn

from course_utils.inference.inputs import (
    check_known_words,
    check_vocab_size,
    require_model,
    vocab_rows,
)
from course_utils.models.common import eval_mode, model_device
from course_utils.text.tokenizer import Tokenizer
from course_utils.text.vocab import Vocab

__all__ = [
    "Hypothesis",
    "Translation",
    "beam_search",
    "bleu",
    "detokenize",
    "greedy_decode",
    "loss_with_teacher_forcing",
    "translate",
    "translate_dataset",
]


@dataclass
class Hypothesis:
    """One decoded sentence: target ids (without ``<sos>``/``<eos>``), its log-probability,
    and the attention weights of each step (``[steps, source length]``, or ``None``).

    ``steps`` is ``len(ids) + 1`` when the model emitted ``<eos>`` (that step's
    weights are kept too) and ``len(ids)`` when decoding hit ``max_len`` first.
    """

    ids: list[int]
    log_prob: float
    attention: torch.Tensor | None = None


def _never_emitted(model: nn.Module, sos: int) -> list[int]:
    """Target ids a decoder must not output: ``<sos>`` and the target ``<pad>``.

    An untrained or weak model can give them probability; emitted, they would be
    dropped when the ids become words and the attention rows would no longer match.
    """
    banned = [sos]
    pad = getattr(model, "config", {}).get("tgt_pad_index")
    if pad is not None and pad != sos:
        banned.append(int(pad))
    return banned


def _cut(ids: Sequence[int], eos: int) -> tuple[list[int], bool]:
    ids = list(ids)
    if eos in ids:
        return ids[: ids.index(eos)], True
    return ids, False


def _check_settings(max_len: int, beam_width: int = 1) -> None:
    for name, value, meaning in (
        ("max_len", max_len, "the most words a translation may have"),
        ("beam_width", beam_width, "how many partial translations are kept"),
    ):
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be a whole number ({meaning}), got {value!r}.")
        if value < 1:
            raise ValueError(f"{name} must be at least 1 ({meaning}), got {value}.")


@dataclass
class _Start:
    """A batch of sources encoded on the model's device, ready for the first decoder step."""

    device: torch.device
    lengths: torch.Tensor  # CPU, [B]
    memory: tuple
    hidden: torch.Tensor


def _start(model: nn.Module, src: torch.Tensor, src_lengths, repeat: int = 1) -> _Start:
    """Encode ``src``; with ``repeat=K`` every sentence's memory is repeated for ``K`` beams."""
    device = model_device(model)
    lengths = torch.as_tensor(src_lengths).cpu()
    memory = model.encode(src.to(device), lengths)
    if repeat > 1:
        memory = tuple(t.repeat_interleave(repeat, dim=0) for t in memory)
    return _Start(device, lengths, memory, model.initial_hidden(memory))


def _step_log_probs(model, prev, hidden, memory, banned):
    """Log-probabilities of the next word (banned ids at ``-inf``), new hidden, attention."""
    logits, hidden, attn = model.step(prev, hidden, memory)
    logp = torch.log_softmax(logits.float(), dim=-1)
    logp[:, banned] = float("-inf")
    return logp, hidden, attn


def _hypothesis(ids: list[int], eos: int, log_prob: float, maps, source_len: int) -> Hypothesis:
    """Cut ``ids`` at ``<eos>`` and keep one attention row per step taken (``<eos>`` included)."""
    cut, ended = _cut(ids, eos)
    steps = len(cut) + int(ended)
    attention = maps[:steps, :source_len].cpu() if maps is not None and steps else None
    return Hypothesis(cut, log_prob, attention)


@torch.no_grad()
def greedy_decode(
    model: nn.Module,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    *,
    sos: int,
    eos: int,
    max_len: int = 50,
) -> list[Hypothesis]:
    """The most likely next word at every step, for a whole batch at once.

    Stops when every sentence has produced ``<eos>`` or after ``max_len`` words.
    """
    _check_settings(max_len)
    model = require_model(model, "translation model", "greedy_decode")
    with eval_mode(model):
        start = _start(model, src, src_lengths)
        batch, device, hidden = src.size(0), start.device, start.hidden
        prev = torch.full((batch,), sos, dtype=torch.long, device=device)
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        total = torch.zeros(batch, dtype=torch.float64, device=device)
        tokens, weights = [], []
        banned = _never_emitted(model, sos)
        for _ in range(max_len):
            logp, hidden, attn = _step_log_probs(model, prev, hidden, start.memory, banned)
            prev = logp.argmax(-1)
            total += torch.where(done, 0.0, logp.gather(1, prev[:, None]).squeeze(1).double())
            tokens.append(prev)
            weights.append(attn)
            done |= prev == eos
            if bool(done.all()):
                break
    ids = torch.stack(tokens, dim=1).tolist()
    maps = torch.stack(weights, dim=1).cpu() if weights[0] is not None else None
    return [
        _hypothesis(
            ids[row],
            eos,
            float(total[row]),
            maps[row] if maps is not None else None,
            int(start.lengths[row]),
        )
        for row in range(batch)
    ]


def _backtrack(
    tokens, parents, weights, b: int, beam: int
) -> tuple[list[int], torch.Tensor | None]:
    """Ids and attention rows of sentence ``b``'s beam ``beam``, traced back from the end."""
    ids, maps = [], []
    for t in range(len(tokens) - 1, -1, -1):
        ids.append(int(tokens[t][b, beam]))
        parent = int(parents[t][b, beam])
        if weights[t] is not None:
            maps.append(weights[t][b, parent])  # the step was taken from the parent beam
        beam = parent
    ids.reverse()
    maps.reverse()
    return ids, torch.stack(maps) if maps else None


@torch.no_grad()
def beam_search(
    model: nn.Module,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    *,
    sos: int,
    eos: int,
    beam_width: int = 5,
    max_len: int = 50,
    length_penalty: float = 1.0,
) -> list[Hypothesis]:
    """Beam search over a batch: ``B`` sentences × ``beam_width`` beams as one batch.

    At each step every beam is extended by every word; the ``beam_width`` best
    extensions (by total log-probability) survive. A beam that has produced
    ``<eos>`` is finished: it keeps its score and stays in the beam (its only
    extension is ``<eos>`` again, at no cost). When all beams of all sentences are
    finished, or after ``max_len`` steps, each sentence's winner is the beam with
    the highest ``log P / length ** length_penalty`` (length counts ``<eos>``).
    With ``beam_width=1`` this is exactly greedy decoding.
    """
    _check_settings(max_len, beam_width)
    model = require_model(model, "translation model", "beam_search")
    batch, k = src.size(0), beam_width
    with eval_mode(model):
        start = _start(model, src, src_lengths, repeat=k)
        device, hidden = start.device, start.hidden
        scores = torch.full((batch, k), float("-inf"), device=device)
        scores[:, 0] = 0.0  # all beams start identical: keep one so the first step differs
        done = torch.zeros(batch, k, dtype=torch.bool, device=device)
        length = torch.zeros(batch, k, device=device)
        prev = torch.full((batch * k,), sos, dtype=torch.long, device=device)
        rows = torch.arange(batch, device=device)[:, None] * k
        tokens, parents, weights = [], [], []
        banned = _never_emitted(model, sos)
        for _ in range(max_len):
            logp, hidden, attn = _step_log_probs(model, prev, hidden, start.memory, banned)
            logp = logp.view(batch, k, -1)
            vocab = logp.size(-1)
            finished_row = torch.full_like(logp[0, 0], float("-inf"))
            finished_row[eos] = 0.0
            logp = torch.where(done[..., None], finished_row, logp)
            scores, flat = (scores[..., None] + logp).view(batch, -1).topk(k, dim=1)
            parent, token = flat // vocab, flat % vocab
            was_done = done.gather(1, parent)
            length = length.gather(1, parent) + (~was_done).float()
            done = was_done | (token == eos)
            hidden = hidden.index_select(0, (rows + parent).view(-1))
            prev = token.view(-1)
            tokens.append(token)
            parents.append(parent)
            weights.append(attn.view(batch, k, -1) if attn is not None else None)
            if bool(done.all()):
                break
    winner = (scores / length.clamp(min=1.0) ** length_penalty).argmax(dim=1)
    out = []
    for b in range(batch):
        ids, maps = _backtrack(tokens, parents, weights, b, int(winner[b]))
        log_prob = float(scores[b, int(winner[b])])
        out.append(_hypothesis(ids, eos, log_prob, maps, int(start.lengths[b])))
    return out


def _sos_eos(tgt_vocab) -> tuple[int, int]:
    """The ids of ``<sos>`` and ``<eos>`` in the target vocabulary, or a clear error."""
    if not isinstance(tgt_vocab, Vocab):
        raise TypeError(
            "tgt_vocab must be the target Vocab the model was trained with (e.g. data.tgt_vocab), "
            f"got {type(tgt_vocab).__name__}."
        )
    missing = [t for t in ("<sos>", "<eos>") if t not in tgt_vocab]
    if missing:
        raise ValueError(
            f"The target vocabulary has no {' or '.join(missing)}, so the decoder cannot know "
            "where a translation starts and ends. Pass the target vocabulary the model was "
            "trained with (built with SPECIALS from course_utils.datasets.multi30k); are src_vocab "
            "and tgt_vocab swapped?"
        )
    return tgt_vocab.stoi["<sos>"], tgt_vocab.stoi["<eos>"]


def _check_vocabs(module: nn.Module, src_vocab: Vocab | None, tgt_vocab: Vocab) -> tuple[int, int]:
    """``<sos>`` and ``<eos>`` ids, once both vocabularies are known to fit the model."""
    sos_eos = _sos_eos(tgt_vocab)
    fix = (
        "Pass the vocabularies the model was trained with, source first: "
        "translate(model, text, data.src_tokenizer, data.src_vocab, data.tgt_vocab)."
    )
    if src_vocab is not None:  # None: translate_dataset, whose sources are ids already
        check_vocab_size(
            len(src_vocab), vocab_rows(module, "src_vocab_size"), "source vocabulary", fix
        )
    check_vocab_size(len(tgt_vocab), vocab_rows(module, "tgt_vocab_size"), "target vocabulary", fix)
    return sos_eos


def translate_dataset(
    model: nn.Module,
    dataset,
    tgt_vocab: Vocab,
    *,
    beam_width: int = 1,
    batch_size: int = 100,
    max_len: int = 50,
    length_penalty: float = 1.0,
    src_pad: int = 1,
) -> list[list[str]]:
    """Translate every source sentence of a :class:`TranslationDataset`, in dataset order.

    Sentences are decoded in batches of similar length (little padding);
    ``beam_width=1`` is greedy decoding.
    """
    _check_settings(max_len, beam_width)
    module = require_model(model, "translation model", "translate_dataset")
    sos, eos = _check_vocabs(module, None, tgt_vocab)
    order = np.argsort(dataset.src_lengths, kind="stable")
    results: list[list[str]] = [[] for _ in range(len(dataset))]
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        seqs = [dataset.src[i] for i in idx]
        lengths = torch.tensor([len(s) for s in seqs])
        src = torch.full((len(seqs), int(lengths.max())), src_pad, dtype=torch.long)
        for row, seq in enumerate(seqs):
            src[row, : len(seq)] = seq
        hyps = _decode(module, src, lengths, sos, eos, beam_width, max_len, length_penalty)
        for i, hyp in zip(idx, hyps, strict=True):
            results[i] = tgt_vocab.decode(hyp.ids)
    return results


def _decode(model, src, lengths, sos, eos, beam_width, max_len, length_penalty):
    if beam_width == 1:
        return greedy_decode(model, src, lengths, sos=sos, eos=eos, max_len=max_len)
    options = {"beam_width": beam_width, "max_len": max_len, "length_penalty": length_penalty}
    return beam_search(model, src, lengths, sos=sos, eos=eos, **options)


@dataclass
class Translation:
    """A translated sentence: source and output tokens, and the attention map if any."""

    source_tokens: list[str]
    tokens: list[str]
    attention: torch.Tensor | None  # [len(tokens) (+1 for <eos>), len(source_tokens)]
    log_prob: float

    @property
    def text(self) -> str:
        return detokenize(self.tokens)

    @property
    def target_labels(self) -> list[str]:
        """Output tokens for the rows of :attr:`attention` (``<eos>`` included when emitted)."""
        if self.attention is None:
            return list(self.tokens)
        return (self.tokens + ["<eos>"])[: self.attention.shape[0]]


def translate(
    model: nn.Module,
    text: str,
    src_tokenizer: Tokenizer | Callable[[str], list[str]],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    *,
    beam_width: int = 1,
    max_len: int = 50,
    length_penalty: float = 1.0,
) -> Translation:
    """Translate one sentence typed by a person.

    Raises ``ValueError`` with a message saying what to do when there is nothing to
    translate: an empty text, or one none of whose words the model knows (it would
    only see ``<unk>`` tokens and invent a sentence); warns when it knows fewer than
    half of them. Vocabularies that do not fit the model, and ``max_len`` or
    ``beam_width`` below 1, are errors too.
    """
    module = require_model(model, "translation model", "translate")
    if not isinstance(text, str):
        raise TypeError(f"translate expects the sentence as a str, got {type(text).__name__}.")
    if not callable(src_tokenizer):
        raise TypeError(
            "src_tokenizer must split a sentence into tokens (e.g. data.src_tokenizer, the "
            f"one the source vocabulary was built with), got {type(src_tokenizer).__name__}."
        )
    _check_settings(max_len, beam_width)
    if not isinstance(src_vocab, Vocab):
        raise TypeError(
            "src_vocab must be the source Vocab the model was trained with (e.g. "
            f"data.src_vocab), got {type(src_vocab).__name__}."
        )
    sos, eos = _check_vocabs(module, src_vocab, tgt_vocab)
    tokens = src_tokenizer(text)
    if not tokens:
        raise ValueError(
            "There is nothing to translate: the text is empty. Type a sentence, e.g. "
            "'Ein Hund rennt über die Wiese.'"
        )
    advice = (
        "Check the language and spelling, or use everyday words "
        "(Multi30k describes photos: people, animals, places)."
    )
    note = check_known_words(
        tokens, src_vocab, what="the sentence", vocab_name="source vocabulary", advice=advice
    )
    if note:
        warnings.warn(note, stacklevel=2)
    ids = src_vocab.encode(tokens)
    src, lengths = torch.tensor([ids]), torch.tensor([len(ids)])
    hyp = _decode(module, src, lengths, sos, eos, beam_width, max_len, length_penalty)[0]
    return Translation(tokens, tgt_vocab.decode(hyp.ids), hyp.attention, hyp.log_prob)


_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]]|'s|'re|'ll|'ve|'m|'d|n't)(?= |$)")
_NO_SPACE_AFTER = re.compile(r"([(\[]) ")


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens into text: no space before punctuation and English clitics ("man 's" → "man's").

    Only the obvious rules: what is scored is written in the lesson next to the score.
    """
    text = " ".join(tokens)
    text = _NO_SPACE_BEFORE.sub(r"\1", text)
    return _NO_SPACE_AFTER.sub(r"\1", text)


def bleu(hypotheses: Sequence[str], references: Sequence[str], *, lowercase: bool = True):
    """Corpus BLEU with sacrebleu (its default ``13a`` tokenisation), one reference each.

    ``lowercase=True`` ignores case, which the course's lower-cased models cannot
    produce. Returns sacrebleu's ``BLEUScore`` (``.score`` is the number; printing
    it shows the n-gram precisions and brevity penalty too).
    """
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references.")
    return sacrebleu.corpus_bleu(list(hypotheses), [list(references)], lowercase=lowercase)


@torch.no_grad()
def loss_with_teacher_forcing(
    model: nn.Module, loader, ratio: float, *, seed: int = 0, pad_index: int = 1
) -> float:
    """Mean per-token cross-entropy of the references when only a share ``ratio`` of the
    decoder's inputs are the true previous words (the rest are its own guesses).

    ``ratio=1.0`` is the validation loss ``fit`` reports; ``ratio=0.0`` is the model
    running on its own outputs, as it must when it translates. The gap between the
    two measures *exposure bias*: how much the model suffers from its own mistakes.
    Padded target positions are ignored.
    """
    module = require_model(model, "translation model", "loss_with_teacher_forcing")
    device = model_device(module)
    total, count = 0.0, 0
    with eval_mode(module), torch.random.fork_rng(devices=[]):  # the caller's RNG is untouched
        torch.manual_seed(seed)
        for src, src_lengths, tgt, _ in loader:
            src, tgt = src.to(device), tgt.to(device)
            logits = module(src, src_lengths, tgt, teacher_forcing_ratio=ratio)
            targets = tgt[:, 1:]
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)),
                targets.reshape(-1),
                ignore_index=pad_index,
                reduction="sum",
            )
            total += float(loss)
            count += int((targets != pad_index).sum())
    return total / count
