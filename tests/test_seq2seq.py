"""Seq2seq models and decoders on tiny synthetic tasks (copy / reverse short random sequences)."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils.inference.decoding import (
    beam_search,
    bleu,
    detokenize,
    greedy_decode,
    translate,
)
from course_utils.models import model_class
from course_utils.models.seq2seq import AdditiveAttention, AttentionSeq2Seq, BottleneckSeq2Seq
from course_utils.text.vocab import Vocab
from course_utils.training.loop import fit
from course_utils.training.tasks import Seq2Seq

UNK, PAD, SOS, EOS = 0, 1, 2, 3
N_SYMBOLS = 8  # real symbols are ids 4 .. 11


def _small(cls, **kw):
    args = dict(
        src_vocab_size=12, tgt_vocab_size=12, emb_dim=32, enc_hidden=32, dec_hidden=64, out_dim=64
    )
    if cls is AttentionSeq2Seq:
        args["attn_dim"] = 32
    args.update(kw)
    return cls(**args)


def _pairs(n: int, reverse: bool, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(n):
        length = int(torch.randint(3, 8, (1,), generator=g))
        src = torch.randint(4, 4 + N_SYMBOLS, (length,), generator=g)
        body = src.flip(0) if reverse else src
        pairs.append((src, torch.cat([torch.tensor([SOS]), body, torch.tensor([EOS])])))
    return pairs


def _collate(batch):
    def pad(seqs):
        lengths = torch.tensor([len(s) for s in seqs])
        out = torch.full((len(seqs), int(lengths.max())), PAD)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = s
        return out, lengths

    src, src_len = pad([s for s, _ in batch])
    tgt, tgt_len = pad([t for _, t in batch])
    return src, src_len, tgt, tgt_len


def _decode_small(model, src, src_len, beam_width, max_len):
    if beam_width == 1:
        return greedy_decode(model, src, src_len, sos=SOS, eos=EOS, max_len=max_len)
    return beam_search(
        model, src, src_len, sos=SOS, eos=EOS, beam_width=beam_width, max_len=max_len
    )


def _exact_match(model, pairs, beam_width=1) -> float:
    src, src_len, _, _ = _collate(pairs)
    hyps = _decode_small(model, src, src_len, beam_width, max_len=12)
    hits = sum(h.ids == t[1:-1].tolist() for h, (_, t) in zip(hyps, pairs, strict=True))
    return hits / len(pairs)


@pytest.mark.parametrize("reverse", [False, True])
def test_attention_model_learns_copy_and_reverse(one_thread, reverse):
    torch.manual_seed(0)
    model = _small(AttentionSeq2Seq, dropout=0.0)
    train_loader = DataLoader(
        _pairs(2000, reverse, 0), batch_size=32, shuffle=True, collate_fn=_collate
    )
    valid = _pairs(200, reverse, 1)
    start = time.perf_counter()
    fit(
        model,
        train_loader,
        DataLoader(valid, batch_size=100, collate_fn=_collate),
        torch.optim.Adam(model.parameters(), 5e-3),
        nn.CrossEntropyLoss(),
        epochs=6,
        task=Seq2Seq(1.0),
        monitor="valid_loss",
        clip_grad_norm=1.0,
        progress=False,
        device="cpu",
    )
    assert time.perf_counter() - start < 60
    assert _exact_match(model, valid) >= 0.95


def test_attention_weights_sum_to_one_and_ignore_padding():
    torch.manual_seed(0)
    attention = AdditiveAttention(enc_dim=6, dec_dim=5, attn_dim=4)
    states = torch.randn(3, 7, 6)
    mask = torch.arange(7)[None, :] < torch.tensor([7, 4, 1])[:, None]
    context, weights = attention(torch.randn(3, 5), attention.keys(states), states, mask)
    assert torch.allclose(weights.sum(-1), torch.ones(3))
    assert (weights[~mask] == 0).all()
    assert (weights[mask] > 0).all()
    # The context of the one-token sentence is exactly its only state.
    assert torch.allclose(context[2], states[2, 0])


def test_model_attention_is_zero_on_padded_source_positions():
    torch.manual_seed(0)
    model = _small(AttentionSeq2Seq).eval()
    src = torch.randint(4, 12, (3, 6))
    lengths = torch.tensor([6, 3, 2])
    hyps = greedy_decode(model, src, lengths, sos=SOS, eos=EOS, max_len=5)
    for hyp, n in zip(hyps, lengths.tolist(), strict=True):
        assert hyp.attention.shape[1] == n  # cut to the real positions
        assert torch.allclose(hyp.attention.sum(-1), torch.ones(hyp.attention.shape[0]))
    memory = model.encode(src, lengths)
    _, _, weights = model.step(torch.full((3,), SOS), model.initial_hidden(memory), memory)
    assert (weights[1, 3:] == 0).all() and (weights[2, 2:] == 0).all()


@pytest.mark.parametrize("cls", [AttentionSeq2Seq, BottleneckSeq2Seq])
def test_padding_does_not_change_outputs_or_translation(cls):
    torch.manual_seed(0)
    model = _small(cls).eval()
    src = torch.randint(4, 12, (1, 5))
    padded = torch.cat([src, torch.full((1, 4), PAD)], dim=1)
    other = torch.randint(4, 12, (1, 9))
    batch = torch.cat([padded, other])
    tgt = torch.randint(4, 12, (2, 6))
    alone = model(src, torch.tensor([5]), tgt[:1])
    together = model(batch, torch.tensor([5, 9]), tgt)
    assert torch.allclose(alone[0], together[0], atol=1e-5)
    one = greedy_decode(model, src, torch.tensor([5]), sos=SOS, eos=EOS, max_len=10)
    two = greedy_decode(model, batch, torch.tensor([5, 9]), sos=SOS, eos=EOS, max_len=10)
    assert one[0].ids == two[0].ids
    beam_one = beam_search(model, src, torch.tensor([5]), sos=SOS, eos=EOS, beam_width=3)
    beam_two = beam_search(model, batch, torch.tensor([5, 9]), sos=SOS, eos=EOS, beam_width=3)
    assert beam_one[0].ids == beam_two[0].ids


@pytest.mark.parametrize("cls", [AttentionSeq2Seq, BottleneckSeq2Seq])
def test_beam_width_one_equals_greedy(cls):
    torch.manual_seed(1)
    model = _small(cls).eval()
    src = torch.randint(4, 12, (6, 7))
    lengths = torch.tensor([7, 6, 5, 3, 2, 1])
    greedy = greedy_decode(model, src, lengths, sos=SOS, eos=EOS, max_len=15)
    beam = beam_search(model, src, lengths, sos=SOS, eos=EOS, beam_width=1, max_len=15)
    assert [h.ids for h in greedy] == [h.ids for h in beam]
    assert [round(h.log_prob, 4) for h in greedy] == [round(h.log_prob, 4) for h in beam]


def test_wider_beam_finds_at_least_as_likely_translations():
    torch.manual_seed(2)
    model = _small(AttentionSeq2Seq).eval()
    src = torch.randint(4, 12, (8, 5))
    lengths = torch.full((8,), 5)
    greedy = greedy_decode(model, src, lengths, sos=SOS, eos=EOS, max_len=8)
    beam = beam_search(
        model, src, lengths, sos=SOS, eos=EOS, beam_width=4, max_len=8, length_penalty=0.0
    )
    for g, b in zip(greedy, beam, strict=True):
        if len(g.ids) < 8:  # greedy finished: beam search (unnormalised) can only do better
            assert b.log_prob >= g.log_prob - 1e-4


def test_teacher_forcing_ratio_is_applied_and_counted():
    torch.manual_seed(0)
    model = _small(BottleneckSeq2Seq).train()
    src = torch.randint(4, 12, (64, 5))
    tgt = torch.randint(4, 12, (64, 11))
    model(src, torch.full((64,), 5), tgt, teacher_forcing_ratio=0.3)
    forced, total = model.forcing_counts
    assert total == 64 * 10
    assert 0.2 < forced / total < 0.4
    # Teacher-forced logits do not depend on the ratio path taken (1.0 is the fast path).
    model.eval()
    fast = model(src, torch.full((64,), 5), tgt, teacher_forcing_ratio=1.0)
    memory = model.encode(src, torch.full((64,), 5))
    hidden = model.initial_hidden(memory)
    logits, _, _ = model.step(tgt[:, 0], hidden, memory)
    assert torch.allclose(fast[:, 0], logits, atol=1e-5)


def _vocabs():
    src = Vocab(["<unk>", "<pad>", "<sos>", "<eos>", "ein", "hund", "."])
    tgt = Vocab(["<unk>", "<pad>", "<sos>", "<eos>", "a", "dog", "."])
    return src, tgt


def test_translate_gives_clear_messages_for_nothing_to_translate():
    src_vocab, tgt_vocab = _vocabs()
    model = _small(AttentionSeq2Seq, src_vocab_size=7, tgt_vocab_size=7).eval()
    tokenizer = str.split
    with pytest.raises(ValueError, match="empty"):
        translate(model, "   ", tokenizer, src_vocab, tgt_vocab)
    with pytest.raises(ValueError, match="None of the words"):
        translate(model, "xyz qqq", tokenizer, src_vocab, tgt_vocab)
    with pytest.raises(TypeError, match="str"):
        translate(model, None, tokenizer, src_vocab, tgt_vocab)
    result = translate(model, "ein hund .", tokenizer, src_vocab, tgt_vocab, beam_width=2)
    assert result.source_tokens == ["ein", "hund", "."]
    assert result.attention.shape[1] == 3
    assert len(result.target_labels) == result.attention.shape[0]


def test_models_rebuild_from_config():
    for cls in (AttentionSeq2Seq, BottleneckSeq2Seq):
        model = _small(cls)
        rebuilt = model_class(cls.__name__)(**model.config)
        rebuilt.load_state_dict(model.state_dict())


def test_bad_lengths_are_reported():
    model = _small(BottleneckSeq2Seq)
    with pytest.raises(ValueError, match="between 1"):
        model.encode(torch.randint(4, 12, (2, 3)), torch.tensor([3, 0]))


def test_detokenize_and_bleu():
    assert detokenize(["a", "man", "'s", "dog", "runs", "."]) == "a man's dog runs."
    assert bleu(["a dog runs ."], ["A dog runs."]).score == pytest.approx(100.0)
    assert bleu(["a cat sleeps"], ["A dog runs."]).score < 10
    with pytest.raises(ValueError, match="hypotheses"):
        bleu(["a"], ["a", "b"])


def test_attention_matrix_plot_and_translation_box():
    from course_utils.show.plots import plot_attention_matrix
    from course_utils.show.widgets import translation_box

    fig = plot_attention_matrix(["ein", "hund"], ["a", "dog", "<eos>"], torch.full((3, 2), 0.5))
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    with pytest.raises(ValueError, match="one row per output token"):
        plot_attention_matrix(["ein"], ["a", "dog"], torch.ones(1, 2))
    src_vocab, tgt_vocab = _vocabs()
    model = _small(AttentionSeq2Seq, src_vocab_size=7, tgt_vocab_size=7).eval()
    box = translation_box(model, str.split, src_vocab, tgt_vocab, initial_text="")
    text, _, message, _ = box.children
    assert "empty" in message.value
    text.value = "ein hund ."
    assert "empty" not in message.value and message.value.startswith("<b>")


@pytest.mark.parametrize("beam_width", [1, 3])
def test_decoders_never_emit_sos_or_padding(beam_width):
    torch.manual_seed(0)
    model = _small(AttentionSeq2Seq, tgt_pad_index=PAD).eval()
    with torch.no_grad():  # make <pad> and <sos> the model's favourite outputs
        model.out[-1].bias[PAD] += 50.0
        model.out[-1].bias[SOS] += 40.0
    src, src_len, _, _ = _collate(_pairs(4, False, 0))
    for hyp in _decode_small(model, src, src_len, beam_width, max_len=6):
        assert PAD not in hyp.ids and SOS not in hyp.ids
        # one attention row per output word, plus one for <eos> when it was emitted
        assert hyp.attention.shape[0] in (len(hyp.ids), len(hyp.ids) + 1)


@pytest.mark.parametrize("beam_width", [1, 3])
def test_decoding_settings_below_one_are_clear_errors(beam_width):
    src_vocab, tgt_vocab = _vocabs()
    model = _small(AttentionSeq2Seq, src_vocab_size=7, tgt_vocab_size=7).eval()
    src, src_len = torch.tensor([[4, 5]]), torch.tensor([2])
    # max_len=0 was "RuntimeError: stack expects a non-empty TensorList"
    with pytest.raises(ValueError, match=r"max_len must be at least 1 .*got 0"):
        translate(
            model, "ein hund", str.split, src_vocab, tgt_vocab, beam_width=beam_width, max_len=0
        )
    with pytest.raises(ValueError, match="max_len must be at least 1"):
        _decode_small(model, src, src_len, beam_width, max_len=0)
    with pytest.raises(TypeError, match="max_len must be a whole number"):
        _decode_small(model, src, src_len, beam_width, max_len=2.5)
    with pytest.raises(ValueError, match="beam_width must be at least 1"):
        translate(model, "ein hund", str.split, src_vocab, tgt_vocab, beam_width=0)
    assert len(_decode_small(model, src, src_len, beam_width, max_len=1)[0].ids) <= 1


def test_unknown_words_message_counts_real_words_and_says_no_min_freq():
    from course_utils.inference.inputs import vocabulary_words

    src_vocab, tgt_vocab = _vocabs()
    assert vocabulary_words(src_vocab) == 3  # <unk> <pad> <sos> <eos> are not words
    model = _small(AttentionSeq2Seq, src_vocab_size=7, tgt_vocab_size=7).eval()
    with pytest.raises(ValueError, match=r"source vocabulary \(3 words kept") as info:
        translate(model, "xyz qqq .", str.split, src_vocab, tgt_vocab)  # "." is not a word
    assert "twice" not in str(info.value)
    with pytest.warns(UserWarning, match=r"2 of the 3 words of the sentence \(67%\)") as record:
        translate(model, "xyz qqq hund", str.split, src_vocab, tgt_vocab)
    assert record[0].filename == __file__


def test_translate_checks_model_tokenizer_and_vocabularies():
    from course_utils.models.classifier import RecurrentClassifier

    src_vocab, tgt_vocab = _vocabs()
    model = _small(AttentionSeq2Seq, src_vocab_size=7, tgt_vocab_size=7).eval()
    with pytest.raises(TypeError, match="src_tokenizer must split a sentence"):
        translate(model, "ein hund", None, src_vocab, tgt_vocab)
    imdb_like = Vocab(["<unk>", "<pad>", "a", "dog"])
    with pytest.raises(ValueError, match=r"no <sos> or <eos>.*swapped\?"):  # was KeyError '<sos>'
        translate(model, "ein hund", str.split, src_vocab, imdb_like)
    bigger = Vocab([*src_vocab.itos, "katze"])
    with pytest.raises(ValueError, match="source vocabulary has 8 entries but the model was built"):
        translate(model, "ein hund", str.split, bigger, tgt_vocab)  # was IndexError from torch
    with pytest.raises(ValueError, match="target vocabulary has 8 entries"):
        translate(model, "ein hund", str.split, src_vocab, Vocab([*tgt_vocab.itos, "cat"]))
    with pytest.raises(TypeError, match="src_vocab must be the source Vocab"):
        translate(model, "ein hund", str.split, None, tgt_vocab)
    classifier = RecurrentClassifier(7, 4, 4, 1)
    with pytest.raises(TypeError, match=r"translate needs a translation model.*predict_sentiment"):
        translate(classifier, "ein hund", str.split, src_vocab, tgt_vocab)
    with pytest.raises(TypeError, match="greedy_decode needs a translation model"):
        greedy_decode(classifier, torch.tensor([[4]]), torch.tensor([1]), sos=SOS, eos=EOS)


def test_loss_with_teacher_forcing_leaves_rng_and_mode_as_they_were():
    from course_utils.inference.decoding import loss_with_teacher_forcing

    model = _small(AttentionSeq2Seq).train()
    loader = [_collate(_pairs(4, False, 0))]
    state = torch.get_rng_state()
    a = loss_with_teacher_forcing(model, loader, 0.5, seed=3)
    assert torch.equal(state, torch.get_rng_state()) and model.training
    assert a == loss_with_teacher_forcing(model, loader, 0.5, seed=3)


def test_translation_box_shows_warnings_under_the_translation():
    from course_utils.show.widgets import translation_box

    src_vocab, tgt_vocab = _vocabs()
    model = _small(AttentionSeq2Seq, src_vocab_size=7, tgt_vocab_size=7).eval()
    box = translation_box(model, str.split, src_vocab, tgt_vocab, initial_text="xyz qqq")
    text, _, message, _ = box.children
    assert "None of the words" in message.value
    text.value = "xyz qqq hund"
    assert message.value.startswith("<b>") and "are not in the model&#x27;s source" in message.value
