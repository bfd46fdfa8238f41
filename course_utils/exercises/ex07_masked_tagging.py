"""Exercise 07 (masked tagging): a token-level loss and accuracy that ignore padding, then a
tagger's forward pass with character features.

The metric check feeds scores for a padded batch whose padded tags hold ``PAD_TAG`` (-100, as
the course's batches) and compares the learner's numbers with the masked formula and with the
typical wrong ones (padding in the denominator, a mask built from the wrong end, accuracy over
every position). The forward check copies the learner's weights into the package's
:class:`~course_utils.models.tagger.BiLSTMTagger` and compares the scores; before that it
tries the typical mistakes (no packing, which lets the backward LSTM read padding first, the
two features concatenated the other way round, probabilities instead of scores).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises._common import as_tensor, close, shape_of
from course_utils.exercises.feedback import call, exercise_check, fail
from course_utils.models.tagger import BiLSTMTagger

PAD_TAG = -100


def _scores_and_tags(seed: int = 0):
    """Scores ``[4, 6, 5]`` (requiring grad), tags with PAD_TAG after each length, lengths."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([6, 2, 4, 1])
    scores = (2 * torch.randn(4, 6, 5, generator=g)).requires_grad_()
    tags = torch.randint(0, 5, (4, 6), generator=g)
    # make the model right on about half the real tokens, so accuracy is informative
    right = torch.rand(4, 6, generator=g) < 0.5
    tags = torch.where(right, scores.detach().argmax(-1), tags)
    positions = torch.arange(6)[None, :]
    tags = tags.masked_fill(positions >= lengths[:, None], PAD_TAG)
    return scores, tags, lengths


def _per_token(scores: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at every position (0 where the tag is PAD_TAG)."""
    return nn.functional.cross_entropy(
        scores.transpose(1, 2), tags, ignore_index=PAD_TAG, reduction="none"
    )


def _metrics(scores, tags, mask) -> tuple[float, float]:
    nll = _per_token(scores.detach(), tags)
    hits = (scores.detach().argmax(-1) == tags) & mask
    count = max(int(mask.sum()), 1)
    return float((nll * mask).sum() / count), float(hits.sum() / count)


@exercise_check(
    "Task 1 (masked_token_metrics)",
    "loss and accuracy over the real tokens only; padding never counts.",
)
def check_masked_metrics(function: Callable) -> None:
    """``masked_token_metrics(scores, tags, lengths)`` → ``(loss tensor, accuracy float)``."""
    scores, tags, lengths = _scores_and_tags()
    what = "masked_token_metrics(scores [4, 6, 5], tags [4, 6], lengths=[6, 2, 4, 1])"
    result = call(what, function, scores, tags.clone(), lengths.clone())
    if not isinstance(result, tuple) or len(result) != 2:
        fail(f"{what} returned {type(result).__name__}; return a pair (loss, accuracy).")
    loss = as_tensor(result[0], f"{what}[0] (the loss)")
    if loss.numel() != 1:
        fail(f"the loss has shape {shape_of(loss)}; return one number (a 0-d tensor).")
    if not loss.requires_grad:
        fail(
            "the loss you return does not require grad: it was detached (with .item(), "
            ".detach() or torch.no_grad()), so the tagger could not train on it. Return the "
            "loss tensor itself; only the accuracy is a plain float."
        )
    acc = result[1]
    acc = float(acc.item()) if isinstance(acc, torch.Tensor) and acc.numel() == 1 else acc
    if not isinstance(acc, float | int) or isinstance(acc, bool):
        fail(f"the accuracy is a {type(acc).__name__}; return a float (use .item()).")
    steps = torch.arange(6)[None, :]
    real = steps < lengths[:, None]
    want_loss, want_acc = _metrics(scores, tags, real)
    got_loss = float(loss.detach())
    total = real.numel()  # B * T = 24 positions, 13 real
    if abs(got_loss - want_loss) > 1e-5:
        wrong_side = steps >= (6 - lengths)[:, None]
        if abs(got_loss - _metrics(scores, tags, wrong_side)[0]) < 1e-5:
            fail(
                "your mask is built from the wrong end: it marks the *last* lengths[b] positions "
                "of each row as real, but padding comes *after* the words, so the real tokens "
                "are positions 0 … lengths[b] - 1. Compare torch.arange(T) with lengths, with "
                "the right inequality."
            )
        summed = float((_per_token(scores.detach(), tags) * real).sum())
        if abs(got_loss - summed / total) < 1e-5:
            fail(
                f"your loss {got_loss:.4f} divides by all {total} positions (B * T), padding "
                f"included; expected {want_loss:.4f}, the mean over the {int(real.sum())} real "
                "tokens. Padding then shrinks the loss of a batch with many short sentences: "
                "divide by the number of real tokens, mask.sum()."
            )
        if abs(got_loss - summed) < 1e-4:
            fail(
                f"your loss {got_loss:.4f} is a sum over the real tokens; expected the mean, "
                f"{want_loss:.4f}: divide by their number, so the loss does not grow with the "
                "batch."
            )
        fail(
            f"your loss is {got_loss:.4f}; expected {want_loss:.4f}: the mean over real tokens "
            "(positions t < lengths[b]) of -log softmax(scores)[gold tag]."
        )
    if abs(acc - want_acc) > 1e-6:
        hits = int(((scores.detach().argmax(-1) == tags) & real).sum())
        if abs(acc - hits / total) < 1e-6:
            fail(
                f"your accuracy {acc:.4f} divides the {hits} correct tags by all {total} "
                f"positions (B * T); expected {want_acc:.4f}, over the {int(real.sum())} real "
                "tokens. Every padded position then counts as an error, so a batch of short "
                "sentences looks worse than it is."
            )
        if acc > 1.0:
            fail(f"your accuracy is {acc}; return a fraction of the real tokens, not a count.")
        fail(
            f"your accuracy is {acc:.4f}; expected {want_acc:.4f}: among the real tokens, the "
            "fraction whose highest-scoring tag (argmax over the last axis) is the gold tag."
        )


SIZES = dict(vocab_size=30, embed_dim=6, hidden_dim=5, num_tags=4, num_chars=12,
             char_filters=6, padding_idx=1, char_padding_idx=0)  # fmt: skip


def _inputs(seed: int = 3):
    """Word ids ``[3, 7]`` and char ids ``[3, 7, 5]`` for sentences of 5, 2 and 4 words.

    The batch is one position wider than its longest sentence, as a batch cut from a longer
    dataset tensor can be.
    """
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 2, 4])
    words = torch.full((3, 7), SIZES["padding_idx"], dtype=torch.long)
    chars = torch.zeros(3, 7, 5, dtype=torch.long)
    for row, n in enumerate(lengths.tolist()):
        words[row, :n] = torch.randint(2, SIZES["vocab_size"], (n,), generator=g)
        for t in range(n):
            width = int(torch.randint(1, 6, (1,), generator=g))
            chars[row, t, :width] = torch.randint(1, SIZES["num_chars"], (width,), generator=g)
    return words, chars, lengths


def _package_scores(model: nn.Module, words, chars, lengths, *, swap=False) -> torch.Tensor:
    """The package tagger's scores with the learner's weights (optionally the features swapped)."""
    packaged = BiLSTMTagger(**SIZES, char_dim=model.char_cnn.embedding.embedding_dim,
                            lengths="packed").eval()  # fmt: skip
    packaged.load_state_dict(model.state_dict())
    with torch.no_grad():
        if not swap:
            return packaged((words, chars), lengths)
        x = torch.cat([packaged.char_cnn(chars), packaged.embedding(words)], dim=-1)
        outputs, _ = packaged.rnn(
            nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        )
        outputs, _ = nn.utils.rnn.pad_packed_sequence(
            outputs, batch_first=True, total_length=words.size(1)
        )
        return packaged.fc(outputs)


@exercise_check(
    "Task 2 (CharTagger.forward)",
    "the same scores as the package's BiLSTMTagger with your weights; padding never leaks.",
)
def check_char_tagger(model_class: type) -> None:
    """``CharTagger(**sizes).forward((words, chars), lengths)`` equals ``BiLSTMTagger``'s."""
    torch.manual_seed(0)
    model = call("CharTagger(...)", model_class, **SIZES)
    if not isinstance(model, nn.Module):
        fail(f"CharTagger(...) built a {type(model).__name__}; it must subclass nn.Module.")
    model.eval()
    words, chars, lengths = _inputs()
    what = "CharTagger.forward((word_ids [3, 7], char_ids [3, 7, 5]), lengths=[5, 2, 4])"
    with torch.no_grad():
        got = as_tensor(call(what, model, (words, chars), lengths.clone()), what)
    if got.dim() == 3 and got.shape[:2] == (3, 5):
        fail(
            f"{what} returns shape {shape_of(got)}; expected (3, 7, 4). pad_packed_sequence "
            "pads only to the longest sentence (5 words), not to the batch's 7 positions: pass "
            "total_length=words.size(1), so the scores line up with the tags."
        )
    if tuple(got.shape) != (3, 7, 4):
        fail(f"{what} returns shape {shape_of(got)}; expected (3, 7, 4): one score per tag at "
             "every position of every sentence.")  # fmt: skip
    want = _package_scores(model, words, chars, lengths)
    real = torch.arange(7)[None, :] < lengths[:, None]
    if close(got[real], want[real]):
        return
    if close(got[real], torch.softmax(want[real], -1)) or close(
        got[real], torch.log_softmax(want[real], -1)
    ):
        fail(
            "your forward returns (log-)probabilities; return the raw scores of the linear "
            "layer: nn.CrossEntropyLoss applies the log-softmax itself."
        )
    with torch.no_grad():
        alone = torch.cat(
            [
                model((words[i : i + 1, :n], chars[i : i + 1, :n]), lengths[i : i + 1])[0, :n]
                for i, n in enumerate(lengths.tolist())
            ]
        )
    if not close(got[real], alone, atol=1e-4):
        fail(
            "padding leak: a sentence gets different scores alone and inside the padded batch. "
            "A bidirectional LSTM run over the padded batch starts its backward direction on "
            "the padding, so every real word's state depends on how much padding follows. Pack "
            "the batch (pack_padded_sequence with the lengths, enforce_sorted=False) before the "
            "LSTM and unpack its outputs."
        )
    if close(got[real], _package_scores(model, words, chars, lengths, swap=True)[real]):
        fail(
            "you concatenate [character features; word embedding]; the package (and lesson 07) "
            "puts the word embedding first: the LSTM's input weights expect that order, so "
            "weights trained one way mean something else the other way."
        )
    fail(
        "your scores differ from those of the package's BiLSTMTagger with the same weights. The "
        "steps: word embedding and character features concatenated on the last axis, dropout, "
        "the packed BiLSTM, dropout, the linear layer at every position."
    )
