"""Tests of course_utils.models: scratch RNN, the classic models and the recurrent classifier."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from course_utils import models
from course_utils.models import MODEL_MODULES, count_parameters, model_class
from course_utils.models.building import constructor_arguments
from course_utils.models.classic import GRUModel, RNNModel, TextClassifier, TextGenerator
from course_utils.models.classifier import POOLINGS, RecurrentClassifier
from course_utils.models.lengths import reverse_padded
from course_utils.models.scratch import ScratchRNN
from course_utils.training.checkpoint import load_checkpoint, save_checkpoint

VOCAB, PAD = 30, 1
CELLS = ("rnn", "lstm", "gru")


def pad_batch(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows of different lengths → ``[batch, time]`` padded at the end, and lengths."""
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)
    tokens = torch.full((len(rows), int(lengths.max())), PAD, dtype=torch.int64)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = row
    return tokens, lengths


def random_batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return pad_batch([torch.randint(2, VOCAB, (n,), generator=generator) for n in lengths])


def tiny_classifier(**kwargs) -> RecurrentClassifier:
    torch.manual_seed(0)
    return RecurrentClassifier(VOCAB, 6, 5, 3, padding_idx=PAD, **kwargs)


# --- RecurrentClassifier: padding ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["masked", "packed"])
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_a_review_gets_the_same_logits_alone_and_in_a_padded_batch(
    cell, bidirectional, pooling, mode
):
    model = tiny_classifier(
        cell=cell, bidirectional=bidirectional, num_layers=2, pooling=pooling, lengths=mode
    ).eval()
    review = torch.tensor([5, 9, 2, 17])
    longer = [torch.arange(2, 11), torch.arange(12, 19)]
    tokens, lengths = pad_batch([longer[0], review, longer[1]])
    assert tokens.size(1) > len(review)  # the review really is padded in the batch

    with torch.no_grad():
        alone = model(review[None], torch.tensor([len(review)]))[0]
        in_batch = model(tokens, lengths)[1]
    assert_close(in_batch, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_none_mode_is_not_padding_invariant(bidirectional):
    """The seed's bug, which the lessons demonstrate: padding changes the prediction."""
    model = tiny_classifier(cell="lstm", bidirectional=bidirectional, lengths="none").eval()
    review = torch.tensor([5, 9, 2])
    tokens, lengths = pad_batch([torch.arange(2, 14), review])
    with torch.no_grad():
        alone = model(review[None], torch.tensor([3]))[0]
        in_batch = model(tokens, lengths)[1]
    assert (alone - in_batch).abs().max() > 1e-3


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_masked_mode_equals_packed_mode_in_outputs_and_gradients(cell, bidirectional, num_layers):
    model = tiny_classifier(
        cell=cell,
        bidirectional=bidirectional,
        num_layers=num_layers,
        pooling=("last", "max", "mean", "attention"),
    ).train()  # dropout is 0: training mode must still be exact
    tokens, lengths = random_batch([7, 1, 4, 9, 2, 9], seed=num_layers)
    results = {}
    for mode in ("masked", "packed"):
        model.length_mode = mode
        model.zero_grad()
        outputs, final, _ = model.encode(tokens, lengths)
        logits = model(tokens, lengths)
        (logits.square().sum() + outputs.sum()).backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters()}
        results[mode] = (outputs.detach(), final.detach(), logits.detach(), grads)

    masked, packed = results["masked"], results["packed"]
    for got, expected in zip(masked[:3], packed[:3], strict=True):
        assert_close(got, expected, atol=1e-5, rtol=0)
    assert masked[3].keys() == packed[3].keys()
    for name in packed[3]:
        assert_close(masked[3][name], packed[3][name], atol=1e-5, rtol=0, msg=name)
    # The states at padded positions are zero, as pad_packed_sequence makes them.
    assert masked[0][1, 1:].abs().max() == 0


def test_auto_mode_packs_on_cuda_and_masks_elsewhere():
    model = tiny_classifier()
    assert model.resolve_length_mode(torch.device("cuda")) == "packed"
    assert model.resolve_length_mode(torch.device("cpu")) == "masked"
    assert tiny_classifier(lengths="packed").resolve_length_mode(torch.device("cpu")) == "packed"


def test_last_pooling_reads_both_directions_final_states():
    """``last`` = forward state after the last real token ‖ backward state after the first."""
    model = tiny_classifier(cell="gru", bidirectional=True, lengths="masked").eval()
    tokens, lengths = random_batch([3, 6])
    with torch.no_grad():
        outputs, final, _ = model.encode(tokens, lengths)
    hidden = model.rnn.hidden_size
    assert_close(final[0, :hidden], outputs[0, 2, :hidden])
    assert_close(final[0, hidden:], outputs[0, 0, hidden:])


def test_lengths_none_means_unpadded_rows():
    model = tiny_classifier(bidirectional=True).eval()
    tokens, _ = random_batch([5, 5])
    with torch.no_grad():
        assert_close(model(tokens), model(tokens, torch.tensor([5, 5])))


def test_attention_weights_sum_to_one_over_valid_steps_and_are_zero_on_padding():
    model = tiny_classifier(pooling="attention", bidirectional=True).eval()
    tokens, lengths = random_batch([6, 2, 4])
    model(tokens, lengths)
    weights = model.last_attention
    assert weights.shape == tokens.shape
    assert not weights.requires_grad
    mask = torch.arange(tokens.size(1))[None, :] < lengths[:, None]
    assert_close(weights.sum(dim=1), torch.ones(3))
    assert (weights[~mask] == 0).all()
    assert (weights[mask] > 0).all()


def test_max_and_mean_pooling_ignore_padding_even_when_padding_states_are_large():
    """Pooling is computed over the valid steps only; check against a manual computation."""
    model = tiny_classifier(pooling=("max", "mean")).eval()
    tokens, lengths = random_batch([4, 2])
    with torch.no_grad():
        outputs, _, _ = model.encode(tokens, lengths)
        logits = model(tokens, lengths)
        row = outputs[1, :2]
        expected = model.fc(torch.cat([row.amax(dim=0), row.mean(dim=0)]))
    assert_close(logits[1], expected)


def test_dropout_is_active_in_training_and_off_in_eval():
    model = tiny_classifier(num_layers=2, bidirectional=True, dropout=0.5)
    assert model.rnn.dropout == 0.5
    tokens, lengths = random_batch([6, 3])
    torch.manual_seed(1)
    first, second = model(tokens, lengths), model(tokens, lengths)
    assert not torch.allclose(first, second)
    model.eval()
    assert_close(model(tokens, lengths), model(tokens, lengths))


@pytest.mark.parametrize("mode", ["masked", "packed"])
def test_dropout_between_layers_is_applied_in_every_length_mode(mode):
    model = tiny_classifier(num_layers=2, bidirectional=True, dropout=0.5, lengths=mode)
    model.dropout.p = 0.0  # keep only the recurrent layers' inter-layer dropout
    tokens, lengths = random_batch([6, 3])
    torch.manual_seed(1)
    assert not torch.allclose(model(tokens, lengths), model(tokens, lengths))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cell": "transformer"}, "Unknown cell"),
        ({"pooling": "median"}, "pooling="),
        ({"pooling": ()}, "pooling="),
        ({"pooling": ("max", "max")}, "pooling="),
        ({"lengths": "sorted"}, "Unknown length mode"),
        ({"pretrained_embeddings": torch.zeros(VOCAB, 7)}, r"\(30, 6\)"),
    ],
)
def test_invalid_constructor_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_classifier(**kwargs)


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (torch.tensor([3, 3, 3]), "one length per row"),
        (torch.tensor([[3, 3]]), "one length per row"),
        (torch.tensor([3, 0]), "between 1 and"),
        (torch.tensor([5, 2]), "between 1 and"),
    ],
)
def test_invalid_lengths_are_explained(lengths, message):
    model = tiny_classifier()
    tokens, _ = random_batch([4, 2])
    with pytest.raises(ValueError, match=message):
        model(tokens, lengths)


def test_classifier_config_rebuilds_the_model_and_state_dicts_move_between_modes():
    model = tiny_classifier(
        cell="gru",
        num_layers=2,
        bidirectional=True,
        pooling=("max", "attention"),
        pretrained_embeddings=torch.randn(VOCAB, 6),
        lengths="masked",
        max_len=50,
    ).eval()
    config = json.loads(json.dumps(model.config))  # as a checkpoint would store it
    assert config["pretrained_embeddings"] is None
    config["lengths"] = "packed"
    rebuilt = RecurrentClassifier(**config).eval()
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.max_len == 50
    tokens, lengths = random_batch([5, 3])
    with torch.no_grad():
        assert_close(rebuilt(tokens, lengths), model(tokens, lengths), atol=1e-6, rtol=0)


def test_count_parameters_counts_trainable_parameters_only():
    model = tiny_classifier(cell="gru")
    embedding = VOCAB * 6
    gru = 3 * (5 * 6 + 5 * 5 + 2 * 5)
    fc = 5 * 3 + 3
    assert count_parameters(model) == embedding + gru + fc
    model.freeze_embeddings()
    assert count_parameters(model) == gru + fc


def test_reverse_padded_reverses_within_each_length_and_keeps_padding_at_the_end():
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    lengths = torch.tensor([3, 2, 4])
    expected = torch.tensor([[3, 2, 1, 0], [5, 4, 0, 0], [9, 8, 7, 6]])
    assert torch.equal(reverse_padded(x, lengths), expected)
    features = torch.randn(3, 4, 2)
    reversed_features = reverse_padded(features, lengths)
    assert torch.equal(reversed_features[1, :2], features[1, :2].flip(0))
    assert torch.equal(reversed_features[1, 2:], features[1, 2:])
    assert torch.equal(reverse_padded(reversed_features, lengths), features)


# --- seeds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [RNNModel, TextClassifier, GRUModel])
def test_seed_classifiers_shapes_config_and_ignored_lengths(cls):
    torch.manual_seed(0)
    model = cls(VOCAB, 6, 5, 2).eval()
    tokens, lengths = random_batch([5, 3, 1])
    logits = model(tokens, lengths)
    assert logits.shape == (3, 2)
    assert_close(model(tokens), logits)  # lengths are ignored: the seeds' flaw

    rebuilt = type(model)(**json.loads(json.dumps(model.config)))
    rebuilt.load_state_dict(model.state_dict())
    assert_close(rebuilt.eval()(tokens, lengths), logits)


def test_seed_classifier_prediction_depends_on_padding():
    """What lesson 1 shows: a review's logit changes when it is padded."""
    torch.manual_seed(0)
    model = TextClassifier(VOCAB, 6, 5, 1).eval()
    review = torch.tensor([5, 9, 2])
    tokens, lengths = pad_batch([torch.arange(2, 12), review])
    with torch.no_grad():
        assert (model(review[None]) - model(tokens, lengths)[1]).abs().max() > 1e-3


def test_text_generator_gives_per_step_logits_and_continues_a_stream():
    torch.manual_seed(0)
    model = TextGenerator(VOCAB, 6, 5, num_layers=2, dropout=0.2).eval()
    tokens, _ = random_batch([8, 8])
    with torch.no_grad():
        logits, (h, c) = model(tokens)
        assert logits.shape == (2, 8, VOCAB)
        assert h.shape == c.shape == (2, 2, 5)
        first, hidden = model(tokens[:, :3])
        second, (h2, c2) = model(tokens[:, 3:], hidden)
    assert_close(torch.cat([first, second], dim=1), logits)
    assert_close(h2, h)
    assert_close(c2, c)

    rebuilt = TextGenerator(**json.loads(json.dumps(model.config)))
    assert rebuilt.rnn.num_layers == 2 and rebuilt.rnn.dropout == 0.2


def test_every_model_class_rebuilds_from_its_config_and_round_trips_a_checkpoint(tmp_path):
    examples = {
        "ScratchRNN": {"input_size": 3, "hidden_size": 4},
        "RNNModel": {"vocab_size": VOCAB, "embed_dim": 4, "hidden_dim": 3, "output_dim": 2},
        "TextClassifier": {"vocab_size": VOCAB, "embed_dim": 4, "hidden_dim": 3, "output_dim": 2},
        "GRUModel": {"vocab_size": VOCAB, "embed_dim": 4, "hidden_dim": 3, "output_dim": 2},
        "TextGenerator": {"vocab_size": VOCAB, "embed_dim": 4, "hidden_dim": 3, "num_layers": 2},
        "RecurrentClassifier": {
            "vocab_size": VOCAB,
            "embed_dim": 4,
            "hidden_dim": 3,
            "output_dim": 2,
            "bidirectional": True,
            "pooling": ["mean", "attention"],
        },
        "BiLSTMTagger": {
            "vocab_size": VOCAB,
            "embed_dim": 4,
            "hidden_dim": 3,
            "num_tags": 5,
            "num_chars": 7,
            "char_padding_idx": 1,
        },
        "CharLanguageModel": {"vocab_size": VOCAB, "embed_dim": 4, "hidden_dim": 3, "cell": "gru"},
        "BottleneckSeq2Seq": {
            "src_vocab_size": VOCAB,
            "tgt_vocab_size": 9,
            "emb_dim": 4,
            "enc_hidden": 3,
            "dec_hidden": 5,
            "out_dim": 6,
        },
        "AttentionSeq2Seq": {
            "src_vocab_size": VOCAB,
            "tgt_vocab_size": 9,
            "emb_dim": 4,
            "enc_hidden": 3,
            "dec_hidden": 5,
            "attn_dim": 2,
            "out_dim": 6,
        },
    }
    examples |= {
        "MinGRU": {"input_dim": 3, "hidden_dim": 4},
        "MinLSTM": {"input_dim": 3, "hidden_dim": 4},
        "MinRNNLanguageModel": {"vocab_size": VOCAB, "dim": 8, "num_layers": 1},
        "TransformerLanguageModel": {"vocab_size": VOCAB, "dim": 8, "num_layers": 1, "heads": 2},
        "NgramClassifier": {"num_buckets": 64},
    }
    assert set(MODEL_MODULES) == set(examples)
    for name, kwargs in examples.items():
        model = model_class(name)(**kwargs)
        rebuilt = model_class(name)(**json.loads(json.dumps(model.config)))
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        assert shapes == {k: v.shape for k, v in rebuilt.state_dict().items()}, name
        rebuilt.load_state_dict(model.state_dict())
        # and through a checkpoint file, rebuilt from the file alone
        save_checkpoint(tmp_path / f"{name}.pt", model)
        loaded, info = load_checkpoint(tmp_path / f"{name}.pt")
        assert type(loaded) is type(model) and info["model_config"] == model.config, name
        for key, tensor in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], tensor), (name, key)


def test_every_model_class_with_a_config_is_registered():
    """A model class that records its arguments must be rebuildable by load_checkpoint."""
    found = set()
    for module_name in set(MODEL_MODULES.values()) | {
        p.stem for p in Path(models.__file__).parent.glob("*.py") if p.stem != "__init__"
    }:
        module = importlib.import_module(f"course_utils.models.{module_name}")
        for name, obj in vars(module).items():
            if (
                isinstance(obj, type)
                and issubclass(obj, nn.Module)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
                and any(
                    "constructor_arguments(" in inspect.getsource(cls)
                    for cls in obj.__mro__
                    if cls.__module__.startswith("course_utils.models")
                )
            ):
                found.add(name)
    assert found == set(MODEL_MODULES), found ^ set(MODEL_MODULES)


def test_constructor_arguments_refuses_a_name_that_is_no_argument():
    class Tiny(nn.Module):
        def __init__(self, size: int = 2) -> None:
            super().__init__()
            self.config = constructor_arguments(width=3)

    with pytest.raises(TypeError, match="width"):
        Tiny()


# --- ScratchRNN -----------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_scratch_rnn_matches_nn_rnn_outputs_states_and_gradients(bias):
    torch.manual_seed(0)
    reference = nn.RNN(3, 4, bias=bias, batch_first=True)
    scratch = ScratchRNN.from_torch(reference)
    x = torch.randn(2, 6, 3)
    h0 = torch.randn(2, 4)
    x_ref, x_scratch = x.clone().requires_grad_(), x.clone().requires_grad_()

    expected_out, expected_h = reference(x_ref, h0[None])
    out, h = scratch(x_scratch, h0)
    assert_close(out, expected_out, atol=1e-6, rtol=0)
    assert_close(h, expected_h[0], atol=1e-6, rtol=0)

    (expected_out.sin().sum() + expected_h.sum()).backward()
    (out.sin().sum() + h.sum()).backward()
    pairs = [("W_xh", "weight_ih_l0"), ("W_hh", "weight_hh_l0")]
    if bias:
        pairs += [("b_xh", "bias_ih_l0"), ("b_hh", "bias_hh_l0")]
    # Gradients sum a dozen steps' terms (magnitudes near 10): allow float32 rounding of that.
    for ours, theirs in pairs:
        assert_close(
            getattr(scratch, ours).grad, getattr(reference, theirs).grad, atol=1e-6, rtol=1e-5
        )
    assert_close(x_scratch.grad, x_ref.grad, atol=1e-6, rtol=1e-5)


def test_scratch_rnn_starts_from_zeros_and_its_cell_is_one_step():
    torch.manual_seed(0)
    scratch = ScratchRNN(3, 4)
    x = torch.randn(2, 5, 3)
    out, h = scratch(x)
    assert out.shape == (2, 5, 4)
    assert_close(h, out[:, -1])
    assert_close(out[:, 0], scratch.cell(x[:, 0], torch.zeros(2, 4)))
    assert_close(out[:, 1], scratch.cell(x[:, 1], out[:, 0]))


@pytest.mark.parametrize(
    ("rnn", "message"),
    [
        (nn.RNN(3, 4, num_layers=2), "num_layers=2"),
        (nn.RNN(3, 4, bidirectional=True), "bidirectional"),
        (nn.RNN(3, 4, nonlinearity="relu"), "relu"),
        (nn.LSTM(3, 4), "LSTM"),
    ],
)
def test_scratch_rnn_refuses_what_it_cannot_compute(rnn, message):
    with pytest.raises(ValueError, match=message):
        ScratchRNN.from_torch(rnn)


def test_scratch_rnn_load_from_torch_checks_sizes():
    with pytest.raises(ValueError, match="same sizes"):
        ScratchRNN(3, 5).load_from_torch(nn.RNN(3, 4))
