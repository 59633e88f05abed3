"""Recipes: every packaged one loads, validates and names a real model and dataset; overrides
are typed; unknown keys list the valid ones; optimizers follow each recipe's weight-decay rule."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
import yaml

import cnnlab
from cnnlab.engine.recipes import (
    OptimizerSpec,
    Recipe,
    apply_overrides,
    build_optimizer,
    dump_recipe,
    list_recipes,
    load_recipe,
    recipe_from_dict,
    recipe_to_dict,
    recipes_for,
)
from cnnlab.engine.schedules import build_schedule
from cnnlab.errors import ConfigError

REQUIRED = {
    "lenet5-digits",
    "lenet5-mnist",
    "minivgg-cifar10",
    "minivgg-fashion-mnist",
    "minigooglenet-cifar10",
    "minigooglenet-fashion-mnist",
    "deepergooglenet-tiny-imagenet-1",
    "deepergooglenet-tiny-imagenet-2",
    "deepergooglenet-tiny-imagenet-3",
    "alexnet-imagenet",
    "resnet-cifar10",
    "googlenet-imagenet",
}
NAMES = list_recipes()


def test_the_required_recipes_are_packaged():
    assert REQUIRED <= set(NAMES), f"missing: {sorted(REQUIRED - set(NAMES))}"


@pytest.mark.parametrize("name", NAMES)
def test_packaged_recipe_loads_and_is_cited(name):
    recipe = load_recipe(name)
    assert isinstance(recipe, Recipe) and recipe.name == name
    assert recipe.model.name in cnnlab.list_models()
    assert recipe.source and all(isinstance(s, str) and len(s) > 20 for s in recipe.source)
    assert recipe.description
    # The YAML it dumps reads back to an equal recipe (run directories store it).
    assert recipe_from_dict(yaml.safe_load(dump_recipe(recipe))) == recipe
    if recipe.schedule.name == "epochs":
        assert recipe.optimizer.lr == recipe.schedule.table[0]


@pytest.mark.parametrize("name", NAMES)
def test_packaged_recipe_dataset_exists(name):
    from cnnlab.data import list_datasets

    assert load_recipe(name).dataset.name in list_datasets()


@pytest.mark.parametrize("name", NAMES)
def test_packaged_recipe_builds_its_optimizer_and_schedule(name):
    recipe = load_recipe(name)
    params = [torch.nn.Parameter(torch.zeros(3, 3)), torch.nn.Parameter(torch.zeros(3))]
    model = torch.nn.Module()
    model.w, model.b = params  # one kernel-like and one bias-like parameter
    opt = build_optimizer(model, recipe)
    sched = build_schedule(opt, recipe.schedule, epochs=recipe.epochs, steps_per_epoch=3)
    opt.step()
    sched.step_batch()
    sched.step_epoch({"val_loss": 1.0, "val_acc1": 0.5, "train_loss": 1.0})
    assert sched.lr > 0


def test_the_default_recipe_is_lenet5_on_digits():
    recipe = load_recipe("lenet5-digits")
    assert (recipe.model.name, recipe.dataset.name) == ("lenet5", "digits")
    assert "lenet5-digits" in recipes_for("lenet5", "digits")


def test_paper_facts_in_the_recipes():
    alexnet = load_recipe("alexnet-imagenet")
    assert (alexnet.optimizer.momentum, alexnet.optimizer.weight_decay, alexnet.batch_size) == (0.9, 0.0005, 128)
    assert (alexnet.schedule.name, alexnet.schedule.factor, alexnet.eval.crops) == ("plateau", 0.1, 10)
    resnet = load_recipe("resnet-cifar10")
    assert resnet.schedule.milestones == [32000, 48000] and resnet.schedule.interval == "step"
    assert (resnet.optimizer.lr, resnet.optimizer.weight_decay, resnet.dataset.augment.crop_padding) == (0.1, 0.0001, 4)
    assert load_recipe("resnet110-cifar10").schedule.warmup_steps == 400
    googlenet = load_recipe("googlenet-imagenet")
    assert googlenet.aux_weights == [0.3, 0.3] and (googlenet.schedule.step_size, googlenet.schedule.gamma) == (8, 0.96)
    minivgg = load_recipe("minivgg-cifar10")
    assert minivgg.schedule.decay == pytest.approx(0.01 / 40) and minivgg.optimizer.nesterov
    assert load_recipe("deepergooglenet-tiny-imagenet-1").schedule.table == {0: 1e-2, 25: 1e-3, 35: 1e-4}
    assert load_recipe("deepergooglenet-tiny-imagenet-2").model.options["stage4"] is False


DECK = Path(__file__).resolve().parents[2].parent / "shared" / "lectures" / "002_bfa1a495ea31f44a.txt"


def _deck_experiments() -> dict[int, dict]:
    """Experiments #01-#03 as the deck prints them (lines 678-709): rate per epoch range,
    whether inception 4a-4e is there, the optimizer."""
    lines = DECK.read_text().splitlines()[677:709]
    out: dict[int, dict] = {}
    current = None
    for line in lines:
        m = re.match(r"Experiment #0(\d)", line)
        if m:
            current = out.setdefault(int(m.group(1)), {"table": {}, "stage4": None, "optimizer": None})
            continue
        m = re.match(r"(\d+) - (\d+)\t\$(\d+)e ?- ?0?(\d+)\$", line)
        if m and current is not None:
            current["table"][int(m.group(1)) - 1] = float(f"{m.group(3)}e-{m.group(4)}")
            current["epochs"] = int(m.group(2))
        elif "4a-4e is" in line and current is not None:
            current["stage4"] = "enabled" in line
        elif line.strip() in ("SGD", "Adam") and current is not None:
            current["optimizer"] = line.strip().lower()
    return out


@pytest.mark.skipif(not DECK.is_file(), reason="the lecture decks are in ../shared/lectures")
def test_the_deepergooglenet_recipes_follow_the_deck_lines_678_to_709():
    """Issue 20: #01 enabled 4a-4e and #03 trained 40 epochs with drops at 21/31."""
    deck = _deck_experiments()
    assert set(deck) == {1, 2, 3}
    for n, exp in deck.items():
        recipe = load_recipe(f"deepergooglenet-tiny-imagenet-{n}")
        assert recipe.schedule.table == exp["table"], n
        assert recipe.epochs == exp["epochs"], n
        assert recipe.model.options["stage4"] is exp["stage4"], n
        assert recipe.optimizer.name == exp["optimizer"], n
        assert "002_bfa1a495ea31f44a.txt" in " ".join(recipe.source), n
    assert "rank-1 30.23%, rank-5 54.34%" in load_recipe("deepergooglenet-tiny-imagenet-3").reported


# -- files and names ---------------------------------------------------------------------------


def _write(tmp_path, data, name="mine.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


MINIMAL = {"model": {"name": "lenet5"}, "dataset": {"name": "digits"}, "epochs": 2, "batch_size": 8}


def test_load_from_a_path_names_it_after_the_file(tmp_path):
    recipe = load_recipe(_write(tmp_path, MINIMAL))
    assert recipe.name == "mine" and recipe.optimizer == OptimizerSpec()
    assert load_recipe(str(tmp_path / "mine.yaml")) == recipe


def test_yaml_1e_minus_3_is_a_float(tmp_path):
    text = "model: {name: lenet5}\ndataset: {name: digits}\nepochs: 2\nbatch_size: 8\noptimizer: {lr: 1e-3}\n"
    assert load_recipe(_write(tmp_path, text)).optimizer.lr == 0.001


def test_unknown_recipe_name_lists_the_packaged_ones():
    with pytest.raises(ConfigError, match=r"no recipe named 'lenet5-digit'.*lenet5-digits"):
        load_recipe("lenet5-digit")
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe("no/such/file.yaml")


def test_unknown_key_in_a_file_lists_valid_keys(tmp_path):
    path = _write(tmp_path, {**MINIMAL, "optimizer": {"learning_rate": 0.1}})
    with pytest.raises(
        ConfigError, match=r"unknown key 'optimizer\.learning_rate'.*optimizer\.lr.*optimizer\.momentum"
    ) as err:
        load_recipe(path)
    assert str(path) in str(err.value)


def test_ill_typed_value_in_a_file(tmp_path):
    with pytest.raises(ConfigError, match=r"batch_size='eight'.*takes int"):
        load_recipe(_write(tmp_path, {**MINIMAL, "batch_size": "eight"}))
    with pytest.raises(ConfigError, match=r"missing required key.*epochs"):
        load_recipe(_write(tmp_path, {k: v for k, v in MINIMAL.items() if k != "epochs"}))


def test_unsafe_yaml_is_refused(tmp_path):
    text = "!!python/object/apply:os.system ['echo hacked']\n"
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(_write(tmp_path, text))


# -- overrides ---------------------------------------------------------------------------------


def test_valid_overrides_are_typed_and_leave_the_original_alone():
    base = load_recipe("deepergooglenet-tiny-imagenet-1")
    new = apply_overrides(
        base,
        [
            "optimizer.lr=0.05",
            "schedule.table.0=0.05",
            "schedule.table.30=1e-5",
            "epochs=5",
            "model.options.stage4=true",
            "dataset.augment.hflip=false",
            "eval.crops=10",
            "aux_weights=[0.3, 0.3]",
            "device=cpu",
        ],
    )
    assert new.optimizer.lr == 0.05 and isinstance(new.epochs, int) and new.epochs == 5
    assert new.schedule.table == {0: 0.05, 25: 1e-3, 30: 1e-5, 35: 1e-4}
    assert new.model.options["stage4"] is True and new.dataset.augment.hflip is False
    assert new.eval.crops == 10 and new.aux_weights == [0.3, 0.3] and new.device == "cpu"
    assert base.optimizer.lr == 0.01 and base.model.options["stage4"] is False  # untouched


def test_a_mapping_replaces_a_settings_group():
    new = apply_overrides(load_recipe("resnet-cifar10"), ["schedule={name: cosine, per: step}", "epochs=3"])
    assert new.schedule.name == "cosine" and new.schedule.milestones == []
    new = apply_overrides(
        load_recipe("lenet5-digits"),
        {"optimizer.name": "adam", "optimizer.nesterov": False, "optimizer.betas": [0.8, 0.9]},
    )
    assert new.optimizer.name == "adam" and new.optimizer.betas == (0.8, 0.9)


def test_unknown_override_key_lists_the_valid_keys():
    recipe = load_recipe("lenet5-digits")
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'optimizer\.lrr' \(did you mean optimizer\.lr\?\); "
        r"valid keys under optimizer: optimizer\.name, optimizer\.lr",
    ):
        apply_overrides(recipe, ["optimizer.lrr=0.1"])
    with pytest.raises(
        ConfigError, match=r"unknown key 'epoch'.*valid keys at the top of a recipe: name, model, dataset, epochs"
    ):
        apply_overrides(recipe, ["epoch=3"])
    with pytest.raises(ConfigError, match=r"epochs is int, not a group of settings"):
        apply_overrides(recipe, ["epochs.x=3"])
    with pytest.raises(ConfigError, match=r"not key=value"):
        apply_overrides(recipe, ["epochs"])


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("epochs=abc", r"epochs='abc' has the wrong type: epochs takes int"),
        ("epochs=true", r"epochs=True has the wrong type: epochs takes int"),
        ("epochs=2.5", r"epochs=2\.5 has the wrong type"),
        ("optimizer.lr=fast", r"optimizer\.lr='fast' has the wrong type: optimizer\.lr takes float"),
        ("optimizer.name=sgdd", r"optimizer\.name='sgdd'.*one of 'sgd', 'adam', 'adamw', 'rmsprop'"),
        ("dataset.augment.hflip=maybe", r"dataset\.augment\.hflip='maybe'.*bool"),
        ("schedule.milestones=[1, two]", r"schedule\.milestones\[1\]='two'.*int"),
        ("eval.crops=5", r"eval\.crops=5.*one of 1, 10, 144"),
        ("optimizer.betas=[0.9]", r"optimizer\.betas=\[0\.9\].*a list of 2"),
    ],
)
def test_ill_typed_override_names_key_value_and_type(override, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides(load_recipe("lenet5-digits"), [override])


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("optimizer.lr=-1", r"optimizer\.lr=-1\.0 must be positive"),
        ("model.name=lenet6", r"model\.name='lenet6' is not a registered model \(did you mean lenet5"),
        ("model.options.stage4=false", r"'stage4', which lenet5 does not take; its options are: act, padding"),
        ("optimizer.name=adam", r"nesterov=true needs optimizer\.name=sgd"),
        ("schedule.name=step", r"step_size"),
        ("epochs=0", r"epochs=0 must be at least 1"),
    ],
)
def test_semantically_wrong_overrides_fail_before_training(override, match):
    recipe = apply_overrides(
        load_recipe("lenet5-digits"), ["optimizer.name=sgd", "optimizer.momentum=0.9", "optimizer.nesterov=true"]
    )
    with pytest.raises(ConfigError, match=match):
        apply_overrides(recipe, [override])


def test_table_and_lr_must_agree():
    with pytest.raises(
        ConfigError, match=r"optimizer\.lr=0\.5 but schedule\.table starts at 0\.01.*schedule\.table\.0=0\.5"
    ):
        apply_overrides(load_recipe("deepergooglenet-tiny-imagenet-1"), ["optimizer.lr=0.5"])


def test_recipe_to_dict_is_plain_data():
    data = recipe_to_dict(load_recipe("googlenet-imagenet"))
    assert data["aux_weights"] == [0.3, 0.3] and data["dataset"]["augment"]["scale"] == [0.08, 1.0]
    assert yaml.safe_load(yaml.safe_dump(data)) == data


# -- optimizers --------------------------------------------------------------------------------


def _model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(), torch.nn.Linear(8, 3)
    )


def test_weight_decay_on_weights_spares_biases_and_norms():
    model = _model()
    opt = build_optimizer(
        model, OptimizerSpec(name="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, weight_decay_on="weights")
    )
    decay, rest = opt.param_groups
    assert decay["weight_decay"] == 5e-4 and rest["weight_decay"] == 0.0
    assert {p.ndim for p in decay["params"]} == {2, 4} and {p.ndim for p in rest["params"]} == {1}
    assert len(decay["params"]) + len(rest["params"]) == len(list(model.parameters()))
    assert (decay["momentum"], decay["nesterov"]) == (0.9, False)


def test_weight_decay_on_all_is_one_group():
    opt = build_optimizer(_model(), {"name": "sgd", "lr": 0.1, "weight_decay": 1e-4, "weight_decay_on": "all"})
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["weight_decay"] == 1e-4


@pytest.mark.parametrize(
    ("spec", "cls", "checks"),
    [
        ({"name": "adam", "lr": 1e-3, "betas": [0.8, 0.99]}, torch.optim.Adam, {"betas": (0.8, 0.99)}),
        ({"name": "adamw", "lr": 1e-3, "weight_decay": 0.05}, torch.optim.AdamW, {"weight_decay": 0.05}),
        (
            {"name": "rmsprop", "lr": 0.045, "alpha": 0.9, "eps": 1.0, "momentum": 0.9},
            torch.optim.RMSprop,
            {"alpha": 0.9, "eps": 1.0, "momentum": 0.9},
        ),
        ({"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True}, torch.optim.SGD, {"nesterov": True}),
    ],
)
def test_optimizer_kinds(spec, cls, checks):
    opt = build_optimizer(_model(), spec)
    assert type(opt) is cls and opt.param_groups[0]["lr"] == spec["lr"]
    for key, value in checks.items():
        assert opt.param_groups[0][key] == value


def test_frozen_model_has_nothing_to_train():
    model = _model().requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        build_optimizer(model, OptimizerSpec())


def test_recipe_fields_are_documented_types():
    # Every field of every settings class has a type the reader understands (no bare object).
    from cnnlab.engine import recipes

    for cls in (
        recipes.Recipe,
        recipes.ModelSpec,
        recipes.DatasetSpec,
        recipes.AugmentSpec,
        recipes.OptimizerSpec,
        recipes.LossSpec,
        recipes.EvalSpec,
    ):
        for f in dataclasses.fields(cls):
            assert recipes._type_name(recipes._hints(cls)[f.name])


@pytest.mark.skipif(not DECK.is_file(), reason="the lecture decks are in ../shared/lectures")
def test_recipes_cite_deck_lines_that_exist():
    """A recipe that follows a deck says which lines: the file exists and holds those lines."""
    cited = 0
    for name in list_recipes():
        for source in load_recipe(name).source:
            for deck, first, last in re.findall(r"deck (\d{3}_[0-9a-f]{16}\.txt), lines? (\d+)(?:-(\d+))?", source):
                path = DECK.parent / deck
                assert path.is_file(), f"{name} cites {deck}, which is not in ../shared/lectures"
                assert int(last or first) <= len(path.read_text().splitlines()), f"{name}: {deck} line {last or first}"
                cited += 1
    assert cited >= 6  # DeeperGoogLeNet #01-#03, AlexNet, MiniGoogLeNet, MiniVGG, GoogLeNet


@pytest.mark.parametrize("name", ["lenet5-mnist", "lenet5-1998-mnist"])
def test_the_lenet5_recipes_keep_the_paper_s_learning_rate_stages(name):
    # LeCun et al. 1998, Sec. III.B: eta 0.0005, 0.0002, 0.0001, 0.00005, 0.00001 from passes
    # 0, 2, 5, 8 and 12 of 20; minibatch SGD keeps the stages and the ratios, not the values.
    recipe = load_recipe(name)
    assert recipe.epochs == 20 and recipe.dataset.resize_mode == "pad" and recipe.dataset.image_size == 32
    table = {int(k): float(v) for k, v in recipe.schedule.table.items()}
    assert sorted(table) == [0, 2, 5, 8, 12]
    paper = [0.0005, 0.0002, 0.0001, 0.00005, 0.00001]
    assert [table[k] / table[0] for k in sorted(table)] == pytest.approx([p / paper[0] for p in paper])
    assert table[0] == recipe.optimizer.lr
    assert recipe.model.name == {"lenet5-mnist": "lenet5", "lenet5-1998-mnist": "lenet5_1998"}[name]
