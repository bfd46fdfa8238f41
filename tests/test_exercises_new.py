"""Checks of exercises 02, 07 and 08: each accepts a right answer, is friendly to the untouched
stub and rejects typical wrong answers with a message that names the mistake.

Same pattern as ``tests/test_exercises.py``; kept apart so each exercise's tests sit together.
"""

from __future__ import annotations

import torch
from exercise_harness import _stub, assert_passes, assert_rejects, assert_stub_is_friendly
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_utils.exercises import ex02_training_loop as ex02
from course_utils.exercises import ex07_masked_tagging as ex07
from course_utils.exercises import ex08_attention_decoding as ex08
from course_utils.models.tagger import CharCNN

# --------------------------------------------------------------------------- 02 training loop


def evaluate_reviews(model, batches, loss_fn, *, eval_mode=True, no_grad=True, per_batch=False):
    if eval_mode:
        model.eval()
    losses, sizes, correct = [], [], 0
    with torch.set_grad_enabled(not no_grad):
        for tokens, lengths, labels in batches:
            logits = model(tokens, lengths).squeeze(1)
            losses.append(loss_fn(logits, labels.float()).item())
            sizes.append(len(labels))
            correct += ((logits > 0).long() == labels).sum().item()
    n = sum(sizes)
    if per_batch:
        return {"loss": sum(losses) / len(losses), "acc": correct / n}
    return {"loss": sum(x * s for x, s in zip(losses, sizes, strict=True)) / n, "acc": correct / n}


def test_check_evaluate(capsys) -> None:
    check = ex02.check_evaluate
    assert_passes(check, evaluate_reviews, capsys)
    assert_stub_is_friendly(check, _stub, capsys)
    assert_rejects(check, lambda *a: evaluate_reviews(*a, eval_mode=False), "model.eval()",
                   "dropout")  # fmt: skip
    assert_rejects(check, lambda *a: evaluate_reviews(*a, no_grad=False), "torch.no_grad()")
    assert_rejects(check, lambda *a: evaluate_reviews(*a, per_batch=True), "mean of the three "
                   "batch means", "3 reviews")  # fmt: skip

    def probabilities_threshold(model, batches, loss_fn):
        result = evaluate_reviews(model, batches, loss_fn)
        model.eval()
        with torch.no_grad():
            hits = sum(int(((model(t, n).squeeze(1) > 0.5).long() == y).sum())
                       for t, n, y in batches)  # fmt: skip
        return {"loss": result["loss"], "acc": hits / sum(len(b[2]) for b in batches)}

    assert_rejects(check, probabilities_threshold, "logit is above 0")


def train_epoch(model, batches, optimizer, loss_fn, clip=None, *, train_mode=True, zero=True,
                do_clip=True, per_batch=False):  # fmt: skip
    if train_mode:
        model.train()
    losses, sizes = [], []
    for tokens, lengths, labels in batches:
        if zero:
            optimizer.zero_grad()
        loss = loss_fn(model(tokens, lengths).squeeze(1), labels.float())
        loss.backward()
        if clip is not None and do_clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
        sizes.append(len(labels))
    if per_batch:
        return sum(losses) / len(losses)
    return sum(x * s for x, s in zip(losses, sizes, strict=True)) / sum(sizes)


def test_check_train_epoch(capsys) -> None:
    check = ex02.check_train_epoch
    assert_passes(check, train_epoch, capsys)
    assert_stub_is_friendly(check, _stub, capsys)
    assert_rejects(check, lambda *a: train_epoch(*a, zero=False), "accumulated across batches",
                   "zero_grad()")  # fmt: skip
    assert_rejects(check, lambda *a: train_epoch(*a, per_batch=True), "mean of the batch means")
    assert_rejects(check, lambda *a: train_epoch(*a, train_mode=False), "model.train()")
    assert_rejects(check, lambda *a: train_epoch(*a, do_clip=False), "not clipped")

    def zero_after_backward(model, batches, optimizer, loss_fn, clip=None):
        model.train()
        for tokens, lengths, labels in batches:
            loss_fn(model(tokens, lengths).squeeze(1), labels.float()).backward()
            optimizer.zero_grad()
            optimizer.step()
        return 0.0

    assert_rejects(check, zero_after_backward, "did not change")

    def returns_tensor(model, batches, optimizer, loss_fn, clip=None):
        model.train()
        total, reviews = 0.0, 0
        for tokens, lengths, labels in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(tokens, lengths).squeeze(1), labels.float())
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total = total + loss * len(labels)  # keeps every batch's graph
            reviews += len(labels)
        return total / reviews

    assert_rejects(check, returns_tensor, ".item()")


# --------------------------------------------------------------------------- 07 masked tagging


def masked_metrics(scores, tags, lengths, *, wrong_side=False, denominator="real", acc_all=False):
    steps = torch.arange(scores.size(1))[None, :]
    mask = steps >= (scores.size(1) - lengths)[:, None] if wrong_side else steps < lengths[:, None]
    nll = nn.functional.cross_entropy(scores.transpose(1, 2), tags, reduction="none")
    count = mask.numel() if denominator == "all" else mask.sum()
    loss = (nll * mask).sum() / count
    hits = ((scores.argmax(-1) == tags) & mask).sum()
    return loss, (hits / (mask.numel() if acc_all else mask.sum())).item()


def test_check_masked_metrics(capsys) -> None:
    check = ex07.check_masked_metrics
    assert_passes(check, masked_metrics, capsys)

    def library(scores, tags, lengths):  # ignore_index does the masking of the loss
        loss = nn.functional.cross_entropy(scores.flatten(0, 1), tags.flatten(), ignore_index=-100)
        return loss, masked_metrics(scores, tags, lengths)[1]

    assert_passes(check, library, capsys)
    assert_stub_is_friendly(check, _stub, capsys)
    assert_rejects(check, lambda *a: masked_metrics(*a, denominator="all"), "all 24 positions",
                   "mask.sum()")  # fmt: skip
    assert_rejects(check, lambda *a: masked_metrics(*a, wrong_side=True), "wrong end")
    assert_rejects(check, lambda *a: masked_metrics(*a, acc_all=True), "accuracy", "(B * T)")
    assert_rejects(check, lambda *a: (masked_metrics(*a)[0].item(), masked_metrics(*a)[1]),
                   "return a torch.Tensor")  # fmt: skip
    assert_rejects(check, lambda *a: (masked_metrics(*a)[0].detach(), masked_metrics(*a)[1]),
                   "does not require grad")  # fmt: skip


class GoodTagger(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_tags, num_chars, char_filters,
                 padding_idx, char_padding_idx, dropout=0.33):  # fmt: skip
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.char_cnn = CharCNN(num_chars, 8, char_filters, 3, char_padding_idx)
        self.rnn = nn.LSTM(embed_dim + char_filters, hidden_dim, num_layers=2, dropout=dropout,
                           bidirectional=True, batch_first=True)  # fmt: skip
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden_dim, num_tags)

    def features(self, words, chars):
        return torch.cat([self.embedding(words), self.char_cnn(chars)], dim=-1)

    def forward(self, inputs, lengths):
        words, chars = inputs
        x = self.dropout(self.features(words, chars))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True,
                                        total_length=words.size(1))  # fmt: skip
        return self.fc(self.dropout(states))


class UnpackedTagger(GoodTagger):
    def forward(self, inputs, lengths):
        return self.fc(self.rnn(self.features(*inputs))[0])


class NoTotalLengthTagger(GoodTagger):
    def forward(self, inputs, lengths):
        packed = pack_padded_sequence(self.features(*inputs), lengths, batch_first=True,
                                      enforce_sorted=False)  # fmt: skip
        return self.fc(pad_packed_sequence(self.rnn(packed)[0], batch_first=True)[0])


class SwappedTagger(GoodTagger):
    def features(self, words, chars):
        return torch.cat([self.char_cnn(chars), self.embedding(words)], dim=-1)


class SoftmaxTagger(GoodTagger):
    def forward(self, inputs, lengths):
        return super().forward(inputs, lengths).log_softmax(-1)


class StubTagger(GoodTagger):
    def forward(self, inputs, lengths):
        raise NotImplementedError("Hint: read the task.")


def test_check_char_tagger(capsys) -> None:
    check = ex07.check_char_tagger
    assert_passes(check, GoodTagger, capsys)
    assert_stub_is_friendly(check, StubTagger, capsys)
    assert_rejects(check, UnpackedTagger, "padding leak", "backward direction")
    assert_rejects(check, NoTotalLengthTagger, "total_length")
    assert_rejects(check, SwappedTagger, "[character features; word embedding]")
    assert_rejects(check, SoftmaxTagger, "probabilities")


# --------------------------------------------------------------------------- 08 attention decoding


class GoodAttention(nn.Module):
    def __init__(self, enc_dim, dec_dim, attn_dim, *, variant=""):
        super().__init__()
        self.W = nn.Linear(dec_dim, attn_dim, bias=False)
        self.U = nn.Linear(enc_dim, attn_dim)
        self.v = nn.Linear(attn_dim, 1, bias=False)
        self.variant = variant

    def forward(self, query, states, mask):
        inner = self.W(query)[:, None, :] + self.U(states)
        scores = self.v(inner if self.variant == "no tanh" else torch.tanh(inner)).squeeze(-1)
        if self.variant == "zero fill":
            weights = torch.softmax(scores.masked_fill(~mask, 0.0), dim=-1)
        elif self.variant == "no mask":
            weights = torch.softmax(scores, dim=-1)
        elif self.variant == "after softmax":
            weights = torch.softmax(scores, dim=-1) * mask
        else:
            dim = 0 if self.variant == "batch axis" else -1
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=dim)
        values = self.U(states) if self.variant == "keys" else states
        return (weights[..., None] * values).sum(dim=1), weights


def _attention(variant):
    return lambda *a, **k: GoodAttention(*a, **k, variant=variant)


class StubAttention(GoodAttention):
    def forward(self, query, states, mask):
        raise NotImplementedError("Hint: read the task.")


def test_08_check_attention(capsys) -> None:
    check = ex08.check_attention
    assert_passes(check, GoodAttention, capsys)
    assert_stub_is_friendly(check, StubAttention, capsys)
    assert_rejects(check, _attention("zero fill"), "padding leak", "exp(0) = 1", "-inf")
    assert_rejects(check, _attention("no mask"), "padding leak", "not used")
    assert_rejects(check, _attention("batch axis"), "batch axis", "last axis")
    assert_rejects(check, _attention("no tanh"), "miss the tanh")
    assert_rejects(check, _attention("after softmax"), "after the softmax", "sum to 1")
    assert_rejects(check, _attention("keys"), "you summed the keys")


def _cut(row, eos, how="before"):
    if eos not in row:
        return row
    i = row.index(eos)
    return {"before": row[:i], "keep": row[: i + 1], "drop": row[: max(i - 1, 0)]}[how]


@torch.no_grad()
def greedy(model, src, lengths, sos, eos, pad, max_len=50, *, ban=True, cut="before",
           stop="all"):  # fmt: skip
    memory = model.encode(src, lengths)
    hidden = model.initial_hidden(memory)
    prev = torch.full((src.size(0),), sos)
    done = torch.zeros(src.size(0), dtype=torch.bool)
    words = []
    for _ in range(max_len):
        logits, hidden, _ = model.step(prev, hidden, memory)
        if ban:
            logits[:, [sos, pad]] = float("-inf")
        prev = logits.argmax(-1)
        words.append(prev)
        done |= prev == eos
        if (stop == "all" and done.all()) or (stop == "any" and done.any()):
            break
    rows = torch.stack(words, dim=1).tolist()
    return [row if cut == "none" else _cut(row, eos, cut) for row in rows]


def test_08_tiny_translator_makes_the_cases_the_checks_need() -> None:
    model, (src, lengths) = ex08.tiny_translator(), ex08.tiny_batch()
    args = dict(sos=ex08.SOS, eos=ex08.EOS, pad=ex08.PAD, max_len=ex08.MAX_LEN)
    rows = greedy(model, src, lengths, **args)
    assert len({len(r) for r in rows}) >= 4 and max(map(len, rows)) == ex08.MAX_LEN, rows
    unbanned = greedy(model, src, lengths, **args, ban=False)
    assert any(ex08.SOS in r or ex08.PAD in r for r in unbanned), unbanned
    normalised = ex08._package_beam(model, src, lengths, 1.0)
    raw = ex08._package_beam(model, src, lengths, 0.0)
    assert sum(map(len, raw)) < sum(map(len, normalised)), (raw, normalised)
    assert normalised != rows


def test_08_check_greedy(capsys) -> None:
    check = ex08.check_greedy
    assert_passes(check, greedy, capsys)
    assert_stub_is_friendly(check, _stub, capsys)
    assert_rejects(check, lambda *a, **k: greedy(*a, **k, cut="keep"), "off by one",
                   "keep their <eos>")  # fmt: skip
    assert_rejects(check, lambda *a, **k: greedy(*a, **k, cut="drop"), "off by one",
                   "lost its last word")  # fmt: skip
    assert_rejects(check, lambda *a, **k: greedy(*a, **k, cut="none"), "goes on after its <eos>")
    assert_rejects(check, lambda *a, **k: greedy(*a, **k, stop="any"), "first one writes <eos>",
                   "per sentence")  # fmt: skip
    assert_rejects(check, lambda *a, **k: greedy(*a, **k, ban=False), "<sos>", "-inf")

    def padded_tensor(*a, **k):
        return torch.tensor([r + [1] * (8 - len(r)) for r in greedy(*a, **k)])

    assert_rejects(check, padded_tensor, "one list of word ids per sentence")


@torch.no_grad()
def beam(model, src, lengths, sos, eos, pad, beam_width=3, max_len=50, alpha=1.0, *,
         normalise=True, count_eos=True):  # fmt: skip
    results = []
    for b in range(src.size(0)):
        n = int(lengths[b])
        memory = model.encode(src[b : b + 1, :n], lengths[b : b + 1])
        hidden = model.initial_hidden(memory)
        scores, tokens = torch.zeros(1), [[]]
        done = torch.zeros(1, dtype=torch.bool)
        prev = torch.tensor([sos])
        for _ in range(max_len):
            rows = len(tokens)
            logits, hidden, _ = model.step(
                prev, hidden, tuple(t.expand(rows, *t.shape[1:]) for t in memory)
            )
            logp = logits.log_softmax(-1)
            logp[:, [sos, pad]] = float("-inf")
            logp[done] = float("-inf")
            logp[done, eos] = 0.0
            vocab = logp.size(-1)
            scores, index = (scores[:, None] + logp).view(-1).topk(beam_width)
            parent, word = index // vocab, index % vocab
            tokens = [tokens[p] + [w] for p, w in zip(parent.tolist(), word.tolist(), strict=True)]
            done = done[parent] | (word == eos)
            hidden, prev = hidden[parent], word
            if done.all():
                break
        length = torch.tensor(
            [len(_cut(t, eos)) + int(count_eos and eos in t) for t in tokens], dtype=torch.float
        )
        final = scores / length.clamp(min=1) ** alpha if normalise else scores
        results.append(_cut(tokens[int(final.argmax())], eos))
    return results


def test_08_check_beam_search(capsys) -> None:
    check = ex08.check_beam_search
    assert_passes(check, beam, capsys)
    assert_stub_is_friendly(check, _stub, capsys)
    assert_rejects(check, lambda *a, **k: beam(*a, **k, normalise=False), "*summed*",
                   "length ** alpha")  # fmt: skip
    assert_rejects(check, lambda *a, **k: beam(*a, **{**k, "beam_width": 1}), "greedy decoding")
    assert_rejects(check, lambda *a, **k: beam(*a, **{**k, "alpha": 1.0}), "alpha=0.0")
    assert_rejects(check, lambda *a, **k: greedy(*a, **{x: k[x] for x in ("sos", "eos", "pad")}),
                   "sentence")  # fmt: skip
