"""One recipe, one source: lesson 05, scripts/train_imdb.py and the study build the same model."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from course_utils.recipes.imdb_sentiment import (
    SentimentRecipe,
    build_classifier,
    load_sentiment_data,
    train_recipe,
)
from course_utils.training.loop import evaluate

ROOT = Path(__file__).resolve().parents[1]


def test_a_recipe_names_every_invalid_choice():
    with pytest.raises(ValueError, match=r"cell='cnn'.*pooling='max\+top'.*dropout=1.5"):
        SentimentRecipe(cell="cnn", pooling="max+top", dropout=1.5)


def test_the_command_line_rebuilds_exactly_the_recipe_it_was_given():
    recipe = SentimentRecipe(cell="gru", hidden_dim=192, num_layers=2, pooling="max+mean", lr=3e-3)
    parser = argparse.ArgumentParser()
    SentimentRecipe.add_arguments(parser)
    assert SentimentRecipe.from_arguments(parser.parse_args(recipe.cli_args())) == recipe
    assert SentimentRecipe().for_mode().cli_args() == []  # the defaults: lesson 05's recipe


def test_a_recipe_builds_the_same_weights_whatever_ran_before():
    class Vocab:
        pad_index = 0

        def __len__(self):
            return 50

    recipe = SentimentRecipe(hidden_dim=8, pooling="max+mean")
    first = build_classifier(recipe, Vocab())
    torch.rand(1000)  # other cells consume the global random stream
    second = build_classifier(recipe, Vocab())
    assert first.pooling == ("max", "mean")
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(
        build_classifier(replace(recipe, seed=7), Vocab()).fc.weight, first.fc.weight
    )


@pytest.fixture(scope="module")
def smoke_data():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_MODE", "smoke")
        recipe = SentimentRecipe().for_mode()
        yield recipe, load_sentiment_data(recipe, progress=False)


def test_tuning_loaders_take_a_seeded_fraction_of_training_and_have_no_test_split(smoke_data):
    _, data = smoke_data
    train, valid = data.tuning_loaders(32, train_fraction=0.5)
    again, _ = data.tuning_loaders(32, train_fraction=0.5)
    assert len(train.dataset) == len(data.loaders.train.dataset) // 2
    assert list(train.dataset.indices) == list(again.dataset.indices)
    assert valid is data.loaders.valid
    assert max(len(batch) for batch in train.batch_sampler) == 32
    with pytest.raises(ValueError, match="train_fraction"):
        data.tuning_loaders(32, train_fraction=0.0)


@pytest.mark.slow
def test_the_script_reproduces_the_recipe_trained_in_a_notebook(smoke_data, tmp_path):
    """scripts/train_imdb.py with its defaults = lesson 05's final model, to the last digit."""
    recipe, data = smoke_data
    model = build_classifier(recipe, data.vocab, data.initial_embeddings(recipe))
    history = train_recipe(recipe, model, data.loaders.train, data.loaders.valid, progress=False)
    test = evaluate(model, data.loaders.test, torch.nn.BCEWithLogitsLoss())

    metrics = tmp_path / "metrics.json"
    env = {**os.environ, "COURSE_MODE": "smoke", "COURSE_CHECKPOINT_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_imdb.py"), "--metrics-json", str(metrics),
         "--checkpoint", str(tmp_path / "model.pt")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    script = json.loads(metrics.read_text())
    assert script["recipe"] == recipe.params()
    assert script["best_valid_acc"] == history.best_valid_acc
    assert script["test"]["acc"] == test["acc"] and script["test"]["n"] == test["n"]
