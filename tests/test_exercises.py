"""The exercise machinery: generator, sync of exercises/ with solutions/, and every check.

Each check is tried with a correct reference answer (must pass), a stub (must print
"not implemented yet", not raise) and typical wrong answers (must raise
ExerciseCheckError naming the mistake).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import exercise_generator as gen
import nbformat
import pytest
import torch
from exercise_harness import _stub, assert_passes, assert_rejects, assert_stub_is_friendly
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from course_utils import exercises as ex
from course_utils.exercises import ex01_rnn_by_hand as ex01
from course_utils.exercises import ex03_length_handling as ex03
from course_utils.exercises import ex04_gru_classifier as ex04
from course_utils.exercises import ex05_bidirectional_pooling as ex05
from course_utils.exercises import ex06_temperature_sampling as ex06

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- generator

SOLUTION_CELL = """\
def double(x):
    # HINT: multiply by two.
    ### BEGIN SOLUTION
    y = x * 2
    return y
    ### END SOLUTION


ex.check(double)"""


def _solution_notebook() -> nbformat.NotebookNode:
    code = new_code_cell(SOLUTION_CELL, execution_count=3)
    code.outputs = [new_output("stream", name="stdout", text="✓ Task 1\n")]
    return new_notebook(
        cells=[
            new_markdown_cell("# Exercise\nDouble a number."),
            code,
            new_markdown_cell("<!-- solution -->\nWhy doubling works: it is x + x."),
            new_code_cell("print(double(2))", execution_count=4),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3"},
            "widgets": {"state": {}},
        },
    )


def test_generator_replaces_answer_with_stub_that_keeps_the_hint() -> None:
    exercise = gen.make_exercise(_solution_notebook(), "nb")
    source = exercise.cells[1].source
    assert "y = x * 2" not in source and "### BEGIN SOLUTION" not in source
    assert '    raise NotImplementedError("multiply by two.")' in source
    assert "# HINT: multiply by two." in source  # the comment stays for the learner
    assert source.startswith("def double(x):") and source.endswith("ex.check(double)")
    namespace: dict = {"ex": type("E", (), {"check": staticmethod(lambda f: None)})}
    exec(source, namespace)  # the stubbed cell still runs; only calling the function fails
    with pytest.raises(NotImplementedError, match="multiply by two"):
        namespace["double"](1)


def test_generator_clears_outputs_drops_solution_markdown_and_widget_state() -> None:
    solution = _solution_notebook()
    exercise = gen.make_exercise(solution, "nb")
    assert [c.cell_type for c in exercise.cells] == ["markdown", "code", "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in exercise.cells[1:])
    assert "widgets" not in exercise.metadata
    assert exercise.cells[0].source == solution.cells[0].source
    assert exercise.cells[2].source == "print(double(2))"
    assert solution.cells[1].outputs, "the solution notebook itself is not modified"


def test_generator_without_hint_uses_default_and_splits_long_stubs() -> None:
    src = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    assert gen.stub_source(src) == f'def f():\n    raise NotImplementedError("{gen.DEFAULT_HINT}")'
    long_hint = "word " * 30
    src = (
        f"def f():\n    # HINT: {long_hint}\n    # and more\n"
        "    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION"
    )
    lines = gen.stub_source(src).split("\n")
    assert lines[-3:] == [
        "    raise NotImplementedError(",
        f'        "{long_hint.strip()} and more"',
        "    )",
    ]


def test_stub_quotes_follow_ruff_so_make_lint_stays_green() -> None:
    body = "\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION"
    src = 'def f():\n    # HINT: use float("-inf").' + body
    assert gen.stub_source(src).endswith("""    raise NotImplementedError('use float("-inf").')""")
    src = "def f():\n    # HINT: it's x." + body
    assert gen.stub_source(src).endswith('    raise NotImplementedError("it\'s x.")')


def test_generator_is_idempotent(tmp_path: Path) -> None:
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(_solution_notebook(), solutions / "01_double.ipynb")
    first = gen.build_all(solutions, exercises)
    text = (exercises / "01_double.ipynb").read_text()
    second = gen.build_all(solutions, exercises)
    assert [p.name for p in first.changed] == ["01_double.ipynb"]
    assert second.changed == [] and second.in_sync
    assert (exercises / "01_double.ipynb").read_text() == text
    again = gen.make_exercise(nbformat.reads(text, as_version=4), "exercise")
    assert gen.render(again) == text  # an exercise is a fixed point of the generator


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1", "never closed"),
        ("def f():\n    return 1\n    ### END SOLUTION", "has no '### BEGIN SOLUTION'"),
        (
            "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n"
            "    ### END SOLUTION\n    ### END SOLUTION",
            "nested",
        ),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "top level"),
    ],
)
def test_generator_refuses_bad_markers_naming_notebook_and_cell(
    tmp_path: Path, source: str, message: str
) -> None:
    nb = new_notebook(cells=[new_markdown_cell("intro"), new_code_cell(source)])
    (tmp_path / "solutions").mkdir()
    nbformat.write(nb, tmp_path / "solutions" / "07_broken.ipynb")
    with pytest.raises(gen.MarkerError, match=message) as info:
        gen.build_all(tmp_path / "solutions", tmp_path / "exercises")
    assert "07_broken.ipynb, cell 2" in str(info.value)
    assert not (tmp_path / "exercises" / "07_broken.ipynb").exists()


LEAKY_BLOCK = (
    "    ### BEGIN SOLUTION\n    y = torch.cat([x, x], dim=0)\n    return y.flip(dims=[0])\n"
    "    ### END SOLUTION"
)


@pytest.mark.parametrize(
    "hint",
    [
        "y = torch.cat([x, x], dim=0)",  # the line itself
        "write   y=torch.cat( [x,x], dim=0 ) first",  # spaced differently, inside prose
        "torch.cat([x, x], dim=0) joins them",  # the value a line assigns
        "finish with y.flip(dims=[0])",  # the value a line returns
    ],
)
def test_generator_refuses_a_hint_that_repeats_a_solution_line(tmp_path: Path, hint: str) -> None:
    source = f"def f(x):\n    # HINT: {hint}\n{LEAKY_BLOCK}"
    nb = new_notebook(cells=[new_markdown_cell("intro"), new_code_cell(source)])
    (tmp_path / "solutions").mkdir()
    nbformat.write(nb, tmp_path / "solutions" / "03_leaky.ipynb")
    with pytest.raises(gen.HintError, match="repeats a line of the solution") as info:
        gen.build_all(tmp_path / "solutions", tmp_path / "exercises")
    assert "03_leaky.ipynb, cell 2" in str(info.value)
    assert not (tmp_path / "exercises").exists()


@pytest.mark.parametrize(
    "hint",
    [
        "the input twice, one after the other (look up torch.cat), then reversed along time.",
        "return y.",  # too short to count as a leak, like `else:`
    ],
)
def test_a_hint_that_names_the_idea_or_a_function_is_accepted(hint: str) -> None:
    source = f"def f(x):\n    # HINT: {hint}\n{LEAKY_BLOCK}"
    assert "raise NotImplementedError" in gen.stub_source(source)


def test_no_hint_of_a_solution_notebook_gives_its_answer_away() -> None:
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        gen.exercise_text(path)  # raises HintError naming the notebook and cell


def test_check_command_reports_out_of_date_exercises(tmp_path: Path) -> None:
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(_solution_notebook(), solutions / "01_double.ipynb")
    args = ["--solutions", str(solutions), "--exercises", str(exercises)]
    assert gen.build_all(solutions, exercises, write=False).changed
    from exercises import main

    assert main(["check", *args]) == 1
    assert main(["build", *args]) == 0
    assert main(["check", *args]) == 0
    (exercises / "01_double.ipynb").write_text("{}")
    assert main(["check", *args]) == 1


def test_exercises_folder_is_what_the_generator_makes_of_solutions() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "exercises.py"), "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "exercises").glob("*.ipynb")
    )


# --------------------------------------------------------------------------- check harness


def test_check_error_renders_in_ipython_without_a_checker_traceback() -> None:
    try:
        ex04.check_hidden_for_budget(lambda cell, e, budget: 0)
    except ex.ExerciseCheckError as err:
        lines = err._render_traceback_()
    assert lines[0].startswith("✗ Task 3 (hidden_for_budget)")
    assert not any("ex04_gru_classifier.py" in line for line in lines)


def test_learner_crash_is_reported_with_what_was_called(capsys) -> None:
    def crashes(cell, e, budget):
        return {"rnn": 1}[cell] + e["x"]

    with pytest.raises(ex.ExerciseCheckError) as info:
        ex04.check_hidden_for_budget(crashes)
    assert "hidden_for_budget('rnn', 100, 117760) raised TypeError" in str(info.value)
    assert any("Your code raised" in line for line in info.value._render_traceback_())


def test_requires_turns_a_stub_into_a_note(capsys) -> None:
    with ex.requires("Task 1"):
        _stub()
    assert "skipped: this cell needs Task 1" in capsys.readouterr().out
    with pytest.raises(ValueError), ex.requires("Task 1"):
        raise ValueError("real errors still surface")


# --------------------------------------------------------------------------- 01 RNN by hand


def good_step(x_t, h_prev, w_xh, w_hh, b):
    return torch.tanh(x_t @ w_xh.T + h_prev @ w_hh.T + b)


def test_check_rnn_step(capsys) -> None:
    assert_passes(ex01.check_rnn_step, good_step, capsys)
    assert_stub_is_friendly(ex01.check_rnn_step, _stub, capsys)
    assert_rejects(ex01.check_rnn_step, lambda x, h, wx, wh, b: x @ wx.T + h @ wh.T + b, "tanh")
    assert_rejects(
        ex01.check_rnn_step,
        lambda x, h, wx, wh, b: torch.tanh(x @ wx.T + h @ wh + b),
        "instead of its transpose",
    )
    assert_rejects(ex01.check_rnn_step, lambda x, h, wx, wh, b: good_step(x, 0 * h, wx, wh, b),
                   "ignores h_prev")  # fmt: skip


def bptt(x, h0, w_xh, w_hh, b, y, through_time=True, tanh_grad=True, transposed=False):
    h1 = torch.tanh(w_xh @ x[0] + w_hh @ h0 + b)
    h2 = torch.tanh(w_xh @ x[1] + w_hh @ h1 + b)
    d2 = (h2 - y) * ((1 - h2**2) if tanh_grad else 1)
    d1 = (w_hh.T @ d2) * ((1 - h1**2) if tanh_grad else 1) * (1.0 if through_time else 0.0)
    grads = {
        "W_xh": torch.outer(d2, x[1]) + torch.outer(d1, x[0]),
        "W_hh": torch.outer(d2, h1) + torch.outer(d1, h0),
        "b": d2 + d1,
    }
    return {k: v.T if transposed and k == "W_hh" else v for k, v in grads.items()}


def test_check_bptt_two_steps(capsys) -> None:
    assert_passes(ex01.check_bptt_two_steps, bptt, capsys)
    assert_stub_is_friendly(ex01.check_bptt_two_steps, _stub, capsys)
    assert_rejects(ex01.check_bptt_two_steps, lambda *a: bptt(*a, through_time=False),
                   "only step 2's share", "through time")  # fmt: skip
    assert_rejects(ex01.check_bptt_two_steps, lambda *a: bptt(*a, tanh_grad=False),
                   "derivative of tanh")  # fmt: skip
    assert_rejects(ex01.check_bptt_two_steps, lambda *a: bptt(*a, transposed=True), "transposed")


def good_clip(grads, max_norm):
    total = float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
    return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads], total


def test_check_clip_by_global_norm(capsys) -> None:
    def per_tensor(grads, max_norm):
        return [g * min(1.0, max_norm / float(g.norm())) for g in grads], good_clip(grads, 1)[1]

    def by_value(grads, max_norm):
        return [g.clamp(-max_norm, max_norm) for g in grads], good_clip(grads, 1)[1]

    def always(grads, max_norm):
        total = good_clip(grads, max_norm)[1]
        return [g * max_norm / total for g in grads], total

    def norm_after(grads, max_norm):
        clipped, _ = good_clip(grads, max_norm)
        return clipped, good_clip(clipped, max_norm)[1]

    assert_passes(ex01.check_clip_by_global_norm, good_clip, capsys)
    assert_stub_is_friendly(ex01.check_clip_by_global_norm, _stub, capsys)
    assert_rejects(ex01.check_clip_by_global_norm, per_tensor, "clips each tensor on its own")
    assert_rejects(ex01.check_clip_by_global_norm, by_value, "clipping by value")
    assert_rejects(ex01.check_clip_by_global_norm, always, "*up* to max_norm")
    assert_rejects(ex01.check_clip_by_global_norm, norm_after, "norm after clipping")


# --------------------------------------------------------------------------- 04 GRU classifier


class GoodGRU(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, padding_idx=None):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.rnn = nn.GRU(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, 1)

    def forward(self, tokens, lengths):
        outputs, _ = self.rnn(self.embedding(tokens))
        return self.fc(outputs[torch.arange(tokens.size(0)), lengths - 1])


class PackedGRU(GoodGRU):
    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, h_n = self.rnn(packed)
        return self.fc(h_n[-1])


class LeakyGRU(GoodGRU):
    def forward(self, tokens, lengths):
        return self.fc(self.rnn(self.embedding(tokens))[0][:, -1])


class TwoLogitGRU(GoodGRU):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fc = nn.Linear(self.rnn.hidden_size, 2)


class SigmoidGRU(GoodGRU):
    def forward(self, tokens, lengths):
        return torch.sigmoid(super().forward(tokens, lengths))


class StubForwardGRU(GoodGRU):
    def forward(self, tokens, lengths):
        raise NotImplementedError("Hint: read the task.")


class NotBatchFirstGRU(GoodGRU):
    def __init__(self, vocab_size, embed_dim, hidden_dim, padding_idx=None):
        super().__init__(vocab_size, embed_dim, hidden_dim, padding_idx)
        self.rnn = nn.GRU(embed_dim, hidden_dim)


class StubInitGRU(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError("Hint: read the task.")


def test_check_gru_layers(capsys) -> None:
    assert_passes(ex04.check_gru_layers, GoodGRU, capsys)
    assert_stub_is_friendly(ex04.check_gru_layers, StubInitGRU, capsys)
    assert_rejects(ex04.check_gru_layers, NotBatchFirstGRU, "batch_first=True")
    assert_rejects(ex04.check_gru_layers, TwoLogitGRU, "gives 2 outputs per review; expected 1")


def test_check_gru_forward(capsys) -> None:
    assert_passes(ex04.check_gru_forward, GoodGRU, capsys)
    assert_passes(ex04.check_gru_forward, PackedGRU, capsys)
    assert_stub_is_friendly(ex04.check_gru_forward, StubForwardGRU, capsys)
    assert_rejects(
        ex04.check_gru_forward,
        TwoLogitGRU,
        "your model returns shape (4, 2); expected (4, 1) — one logit per review for "
        "BCEWithLogitsLoss",
    )
    assert_rejects(ex04.check_gru_forward, LeakyGRU, "padding leak", "outputs[:, -1]")
    assert_rejects(ex04.check_gru_forward, SigmoidGRU, "applied a sigmoid")


def layer_size(cell, embed_dim, hidden_dim, biases=2):
    return {"rnn": 1, "gru": 3, "lstm": 4}[cell] * hidden_dim * (hidden_dim + embed_dim + biases)


def searched_hidden(cell, embed_dim, budget, biases=2):
    """A correct answer written the slow way: the largest size, by search."""
    return max(h for h in range(0, 60_000) if layer_size(cell, embed_dim, h, biases) <= budget)


def test_check_hidden_for_budget(capsys) -> None:
    assert_passes(ex04.check_hidden_for_budget, searched_hidden, capsys)
    assert_stub_is_friendly(ex04.check_hidden_for_budget, _stub, capsys)

    def rounded_up(cell, e, budget):  # the float root, rounded to the nearest
        g = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
        return round((-(e + 2) + math.sqrt((e + 2) ** 2 + 4 * budget / g)) / 2 + 0.5)

    def gru_as_lstm(cell, e, budget):
        return searched_hidden("lstm" if cell == "gru" else cell, e, budget)

    def as_float(cell, e, budget):
        return float(searched_hidden(cell, e, budget))

    assert_rejects(ex04.check_hidden_for_budget, rounded_up, "is over the budget", "rounding up")
    assert_rejects(ex04.check_hidden_for_budget, gru_as_lstm, "from 4 gate block(s)")
    assert_rejects(ex04.check_hidden_for_budget, as_float, "return an int")
    assert_rejects(
        ex04.check_hidden_for_budget,
        lambda cell, e, budget: searched_hidden(cell, e, budget, biases=1),
        "one bias vector per gate block",
    )


# ----------------------------------------------------------------- 05 bidirectional and pooling


def good_concat(h_n, bidirectional):
    return torch.cat([h_n[-2], h_n[-1]], dim=1) if bidirectional else h_n[-1]


def test_check_concat_final_states(capsys) -> None:
    assert_passes(ex05.check_concat_final_states, good_concat, capsys)
    assert_stub_is_friendly(ex05.check_concat_final_states, _stub, capsys)
    assert_rejects(ex05.check_concat_final_states, lambda h, bi: h[-1], "expected (4, 12)")
    assert_rejects(
        ex05.check_concat_final_states,
        lambda h, bi: torch.cat([h[0], h[1]], 1) if bi else h[-1],
        "first* layer",
    )
    assert_rejects(
        ex05.check_concat_final_states,
        lambda h, bi: h[-2:].reshape(h.size(1), -1) if bi else h[-1],
        "rows are mixed up",
    )
    assert_rejects(
        ex05.check_concat_final_states,
        lambda h, bi: torch.cat([h[-1], h[-2]], 1) if bi else h[-1],
        "backward state first",
    )


def good_mean(states, mask):
    m = mask[..., None].to(states.dtype)
    return (states * m).sum(1) / m.sum(1)


def good_max(states, mask):
    return states.masked_fill(~mask[..., None], float("-inf")).amax(1)


def good_attention(states, mask, scores):
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
    return (weights[..., None] * states.masked_fill(~mask[..., None], 0)).sum(1), weights


def test_check_mean_pool(capsys) -> None:
    assert_passes(ex05.check_mean_pool, good_mean, capsys)
    assert_stub_is_friendly(ex05.check_mean_pool, _stub, capsys)
    assert_rejects(ex05.check_mean_pool, lambda s, m: s.mean(1), "padding leak")
    assert_rejects(
        ex05.check_mean_pool, lambda s, m: (s * m[..., None]).mean(1), "padded length (5)"
    )
    assert_rejects(ex05.check_mean_pool, lambda s, m: s.mean(-1), "shape (3, 5); expected (3, 4)")


def test_check_max_pool(capsys) -> None:
    assert_passes(ex05.check_max_pool, good_max, capsys)
    assert_stub_is_friendly(ex05.check_max_pool, _stub, capsys)
    assert_rejects(ex05.check_max_pool, lambda s, m: s.amax(1), "padding leak")
    assert_rejects(ex05.check_max_pool, lambda s, m: (s * m[..., None]).amax(1), "-inf")
    assert_rejects(
        ex05.check_max_pool, lambda s, m: s.masked_fill(~m[..., None], -1e9).max(1), "(values, "
    )


def test_check_attention_pool(capsys) -> None:
    def unmasked(states, mask, scores):
        w = torch.softmax(scores, dim=1)
        return (w[..., None] * states).sum(1), w

    def wrong_dim(states, mask, scores):
        w = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=0)
        return (w[..., None] * states).sum(1), w

    assert_passes(ex05.check_attention_pool, good_attention, capsys)
    assert_stub_is_friendly(ex05.check_attention_pool, _stub, capsys)
    assert_rejects(ex05.check_attention_pool, unmasked, "padding leak", "-inf before the softmax")
    assert_rejects(ex05.check_attention_pool, wrong_dim, "over the batch (dim=0)")


# --------------------------------------------------------------------------- 03 length handling


def good_gap(model, review, pad_index, padded_length):
    model.eval()
    n = len(review)
    padded = torch.cat([review, review.new_full((padded_length - n,), pad_index)])
    with torch.no_grad():
        alone = model(review[None], torch.tensor([n]))
        in_batch = model(padded[None], torch.tensor([n]))
    return (alone - in_batch).abs().item()


def gap_without_eval(model, review, pad_index, padded_length):
    n = len(review)
    padded = torch.cat([review, review.new_full((padded_length - n,), pad_index)])
    with torch.no_grad():
        return model(review[None], torch.tensor([n])) - model(padded[None], torch.tensor([n]))


def good_last_real_state(outputs, lengths):
    return outputs[torch.arange(outputs.size(0)), lengths - 1]


class FixedLSTM(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, output_dim):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, tokens, lengths):
        outputs, _ = self.rnn(self.embedding(tokens))
        return self.fc(good_last_real_state(outputs, lengths))


class CellStateLSTM(FixedLSTM):
    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, (_, c_n) = self.rnn(packed)
        return self.fc(c_n[-1])


class SeedLSTM(FixedLSTM):
    def forward(self, tokens, lengths):
        return self.fc(self.rnn(self.embedding(tokens))[0][:, -1])


def test_check_padding_gap(capsys) -> None:
    assert_passes(ex03.check_padding_gap, good_gap, capsys)
    assert_stub_is_friendly(ex03.check_padding_gap, _stub, capsys)
    assert_rejects(ex03.check_padding_gap, gap_without_eval, "forgot model.eval()")


def test_check_last_real_state(capsys) -> None:
    assert_passes(ex03.check_last_real_state, good_last_real_state, capsys)
    assert_stub_is_friendly(ex03.check_last_real_state, _stub, capsys)
    assert_rejects(ex03.check_last_real_state, lambda o, n: o[:, -1], "padding leak")
    assert_rejects(
        ex03.check_last_real_state,
        lambda o, n: o[torch.arange(o.size(0)), n.clamp(max=o.size(1) - 1)],
        "off by one",
    )


def test_check_fixed_classifier(capsys) -> None:
    class Stub(FixedLSTM):
        def forward(self, tokens, lengths):
            raise NotImplementedError("Hint: read the task.")

    assert_passes(ex03.check_fixed_classifier, FixedLSTM, capsys)
    assert_stub_is_friendly(ex03.check_fixed_classifier, Stub, capsys)
    assert_rejects(ex03.check_fixed_classifier, SeedLSTM, "padding leak")
    assert_rejects(ex03.check_fixed_classifier, CellStateLSTM, "cell state c_n")


# --------------------------------------------------------------------------- 06 sampling


def good_probs(logits, temperature):
    if temperature == 0:
        return nn.functional.one_hot(logits.argmax(-1), logits.size(-1)).to(logits.dtype)
    return torch.softmax(logits / temperature, dim=-1)


def good_sample(logits, temperature, generator=None):
    probs = good_probs(logits, temperature)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def good_generate(model, corpus, prompt, length, temperature, seed):
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    ids = corpus.encode(prompt)
    out = []
    with torch.no_grad():
        logits, hidden = model(ids[None])
        for _ in range(length):
            nxt = good_sample(logits[:, -1], temperature, generator)
            out.append(int(nxt))
            logits, hidden = model(nxt[:, None], hidden)
    return prompt + corpus.decode(out)


def test_check_temperature_probs(capsys) -> None:
    def divides_probs(logits, t):
        if t == 0:
            return good_probs(logits, t)
        p = torch.softmax(logits, -1) / t
        return p / p.sum(-1, keepdim=True)

    assert_passes(ex06.check_temperature_probs, good_probs, capsys)
    assert_stub_is_friendly(ex06.check_temperature_probs, _stub, capsys)
    assert_rejects(ex06.check_temperature_probs, divides_probs, "Divide the *logits* by T")
    assert_rejects(
        ex06.check_temperature_probs,
        lambda lg, t: good_probs(lg, t) if t == 0 else lg / t,
        "apply torch.softmax",
    )
    assert_rejects(
        ex06.check_temperature_probs,
        lambda lg, t: good_probs(lg, t) if t == 0 else torch.softmax(lg / t, 0),
        "over the batch (dim=0)",
    )
    assert_rejects(
        ex06.check_temperature_probs, lambda lg, t: torch.softmax(lg / t, -1), "divide by zero"
    )


def test_check_sample_with_temperature(capsys) -> None:
    def unseeded(logits, t, generator=None):
        return good_sample(logits, t, None)

    def ignores_t(logits, t, generator=None):
        return good_sample(logits, 1.0 if t else 0.0, generator)

    assert_passes(ex06.check_sample_with_temperature, good_sample, capsys)
    assert_stub_is_friendly(ex06.check_sample_with_temperature, _stub, capsys)
    assert_rejects(ex06.check_sample_with_temperature, unseeded, "generator=generator")
    assert_rejects(ex06.check_sample_with_temperature, ignores_t, "ignore the temperature")
    assert_rejects(
        ex06.check_sample_with_temperature,
        lambda lg, t, g=None: torch.multinomial(good_probs(lg, t), 1, generator=g),
        "expected (3,)",
    )


def test_check_generate(capsys) -> None:
    def never_eval(model, corpus, prompt, length, temperature, seed):
        generator = torch.Generator().manual_seed(seed)
        ids, out = corpus.encode(prompt), []
        with torch.no_grad():
            logits, hidden = model(ids[None])
            for _ in range(length):
                nxt = good_sample(logits[:, -1], temperature, generator)
                out.append(int(nxt))
                logits, hidden = model(nxt[:, None], hidden)
        return prompt + corpus.decode(out)

    def stubbed_sampler(model, corpus, prompt, length, temperature, seed):
        model.eval()
        logits, _ = model(corpus.encode(prompt)[None])
        return _stub(logits[:, -1], temperature)

    assert_passes(ex06.check_generate, good_generate, capsys)
    assert_stub_is_friendly(ex06.check_generate, stubbed_sampler, capsys)
    assert_rejects(ex06.check_generate, never_eval, "forgot model.eval()")


# --------------------------------------------------------------------------- exercise notebooks run


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb")))
def test_unfinished_exercise_notebook_runs_top_to_bottom(name: str, monkeypatch) -> None:
    """A learner who has done nothing yet can still "Run all": stubs only print notes."""
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_MODE", "smoke")
    path = ROOT / "exercises" / name
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    printed = "".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert "not implemented yet" in printed
    assert "✓ Task" not in printed
