"""The library's side of `cnnlab train`: recipes resolved, dry runs and resumed overrides
are decisions of cnnlab.engine.plan, not of the CLI."""

from __future__ import annotations

import pytest

from cnnlab import create_model
from cnnlab.engine.plan import dry_run, resolve_recipe, resume_overrides
from cnnlab.engine.recipes import load_recipe, recipes_for
from cnnlab.errors import ConfigError


def test_resolve_recipe_picks_the_packaged_recipe_and_names_subset_runs():
    packaged = recipes_for("lenet5", "mnist")[0]
    assert resolve_recipe("lenet5", "mnist").name == packaged
    subset = resolve_recipe("lenet5", "mnist[0-4]")
    assert subset.dataset.name == "mnist[0-4]"
    assert subset.name == f"{packaged.removesuffix('mnist').rstrip('-')}-mnist[0-4]"


def test_resolve_recipe_settings_are_typed_and_none_means_not_given():
    base = resolve_recipe("lenet5", "digits")
    r = resolve_recipe("lenet5", "digits", settings={"optimizer.lr": 0.05, "epochs": None}, sets=["seed=7"])
    assert r.optimizer.lr == 0.05 and r.epochs == base.epochs and r.seed == 7
    with pytest.raises(ConfigError, match="optimizer.lr"):
        resolve_recipe("lenet5", "digits", settings={"optimizer.lr": "fast"})


def test_resolve_recipe_from_a_recipe_replaces_model_and_dataset():
    name = recipes_for("lenet5", "mnist")[0]
    r = resolve_recipe("minivgg", "digits", recipe=name)
    assert (r.model.name, r.dataset.name) == ("minivgg", "digits")
    assert r.optimizer == load_recipe(name).optimizer


def test_resume_overrides_refuse_what_would_change_the_run():
    assert resume_overrides("runs/a", {"epochs": 5, "amp": None}, ["val_every=2"]) == {"epochs": 5, "val_every": 2}
    with pytest.raises(ConfigError, match=r"--batch-size would change what it resumed from"):
        resume_overrides("runs/a", refused={"--batch-size": 128, "--seed": None})
    with pytest.raises(ConfigError, match="may change only"):
        resume_overrides("runs/a", {"optimizer.lr": 0.1})


def test_dry_run_builds_the_model_the_run_would():
    planned = dry_run(resolve_recipe("lenet5", "digits"), device="cpu")
    model = create_model("lenet5", num_classes=10, in_chans=1)
    assert planned.params == sum(p.numel() for p in model.parameters())
    assert planned.device == "cpu" and planned.num_classes == 10
    assert "nothing was trained" in planned.summary() and "model:" in planned.recipe_yaml
