"""Fine-tuning through train_recipe on scikit-learn's digits: a run like `cnnlab train` makes,
the weights' preprocessing in the loaders, frozen layers bit-identical (BatchNorm statistics
included), the head warm-up, torchvision weights from the hub cache, clear errors, the CLI."""

from __future__ import annotations

import importlib
import json

import pytest
import torch
import yaml

import cnnlab
from cnnlab.cli import transfer_cmd
from cnnlab.data import DeviceLoader, load_dataset
from cnnlab.engine import run as engine_run
from cnnlab.engine.checkpoint import load_checkpoint
from cnnlab.engine.recipes import apply_overrides
from cnnlab.engine.run import load_run_model, train_recipe
from cnnlab.errors import ConfigError
from cnnlab.transfer import finetune, finetune_recipe, plan_freezing, start_finetune
from cnnlab.weights import torchvision_cache_path

QUIET = {"progress": False, "print_fn": lambda s: None}
DIGITS_MEAN, MNIST_MEAN = 0.3058, 0.1307


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "lenet5-digits"
    train_recipe("lenet5-digits", overrides=["epochs=2"], run_dir=run_dir, **QUIET)
    return run_dir


@pytest.fixture(scope="module")
def tuned(source_run, tmp_path_factory):
    """A fine-tune of the digits run: 2 epochs, the first one training the new classifier
    alone, the loaders' normalisation recorded."""
    seen = []

    class Recording(DeviceLoader):
        def __init__(self, data, batch_size, **kw):
            seen.append((tuple(data.images.shape[1:]), tuple(kw["mean"]), tuple(kw["std"])))
            super().__init__(data, batch_size, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_run, "DeviceLoader", Recording)
        result = finetune(
            source_run,
            "digits",
            trainable_stages=1,
            head_epochs=1,
            epochs=2,
            train_size=400,
            run_dir=tmp_path_factory.mktemp("ft") / "run",
            overrides=["checkpoint_every=1"],
            **QUIET,
        )
    return result, seen


def test_a_finetune_is_a_run_like_cnnlab_train_makes(tuned) -> None:
    result, _ = tuned
    d = result.run_dir
    for name in ("recipe.yaml", "metrics.csv", "metrics.jsonl", "report.json"):
        assert (d / name).is_file(), name
    assert sorted(p.name for p in (d / "checkpoints").iterdir()) == [
        "best.pt",
        "epoch_001.pt",
        "epoch_002.pt",
        "last.pt",
    ]
    report = json.loads((d / "report.json").read_text())
    assert report["test"]["images"] == 359 and report["test"]["acc1"] == result.test["acc1"] > 0.5
    transfer = yaml.safe_load((d / "recipe.yaml").read_text())["transfer"]
    assert transfer["trainable_stages"] == 1 and transfer["lr_body"] == pytest.approx(transfer["lr_head"] / 10)
    model, _, _ = load_run_model(d)  # evaluation and prediction see the fine-tune's preprocessing
    assert model.pretrained_cfg["mean"] == pytest.approx((DIGITS_MEAN,), abs=1e-4)


def test_the_preprocessing_carried_with_the_weights_is_what_the_loaders_use(tuned) -> None:
    _, seen = tuned
    # The source run normalised with the digits' statistics; the card's would be MNIST's 0.1307.
    # training, validation (held out) and test loaders
    assert len(seen) == 3 and all(shape == (1, 32, 32) for shape, _, _ in seen)
    for _, mean, _std in seen:
        assert mean == pytest.approx((DIGITS_MEAN,), abs=1e-4) and mean != pytest.approx((MNIST_MEAN,), abs=1e-3)


def test_the_head_warms_up_alone_then_the_chosen_layers_train(source_run, tuned) -> None:
    result, _ = tuned
    start, _, _ = load_run_model(source_run)
    first = load_checkpoint(result.run_dir / "checkpoints" / "epoch_001.pt")["model"]
    last = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["model"]
    before = start.state_dict()
    for name in ("c1.weight", "c1.bias", "c3.weight", "c3.bias"):  # frozen throughout
        assert torch.equal(first[name], before[name]) and torch.equal(last[name], before[name]), name
    for name in ("c5.weight", "f6.weight"):  # the top block: untouched in the warm-up, trained after it
        assert torch.equal(first[name], before[name]) and not torch.equal(last[name], first[name]), name
    assert not torch.equal(last["output.weight"], first["output.weight"])


def test_frozen_layers_and_their_batchnorm_statistics_stay_bit_identical(tmp_path) -> None:
    # MiniVGG (BatchNorm after every convolution and in fc1) from a weights file, on grey digits.
    weights = tmp_path / "minivgg.pth"
    torch.save(cnnlab.create_model("minivgg").state_dict(), weights)
    before = torch.load(weights, weights_only=True)
    lines: list[str] = []
    result = finetune(
        "minivgg",
        "digits",
        weights=str(weights),
        trainable_stages=1,
        head_epochs=1,
        epochs=2,
        train_size=96,
        batch_size=32,
        run_dir=tmp_path / "run",
        overrides=["checkpoint_every=1"],
        progress=False,
        print_fn=lines.append,
    )
    first = load_checkpoint(result.run_dir / "checkpoints" / "epoch_001.pt")["model"]
    last = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["model"]
    frozen = [k for k in before if k.startswith(("conv1.", "conv2.", "conv3.", "conv4."))]
    assert any(k.endswith("bn.running_mean") for k in frozen) and any(k.endswith("bn.running_var") for k in frozen)
    for key in frozen:  # parameters and running statistics alike
        assert torch.equal(last[key], before[key]), key
    top = [k for k in before if k.startswith("fc1.")]
    for key in top:
        if key.endswith(("weight", "bias", "running_mean", "running_var")):
            assert torch.equal(first[key], before[key]), key  # frozen (BatchNorm in eval mode) in the warm-up
            assert not torch.equal(last[key], before[key]), key  # trained after it, BatchNorm in training mode
    assert not torch.equal(first["fc2.weight"], before["fc2.weight"])
    text = "\n".join(lines)
    assert "replicated to 3 identical channels" in text and "BatchNorm layers in eval mode" in text


def test_torchvision_weights_from_the_hub_cache_bring_their_preprocessing(tmp_path, monkeypatch) -> None:
    import torchvision.models as tvm

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", None)  # any network use would fail
    card = cnnlab.model_card("squeezenet1_1")
    path = torchvision_cache_path(tvm.get_weight(card.torchvision.weights).url)
    path.parent.mkdir(parents=True)
    torch.save(tvm.squeezenet1_1(weights=None).state_dict(), path)
    tuning = start_finetune(finetune_recipe("squeezenet1_1", "digits", weights="torchvision", epochs=2))
    recipe = tuning.recipe
    assert recipe.dataset.image_size == 224 and recipe.dataset.resize_mode == "bilinear"
    assert recipe.transfer.mean == pytest.approx([0.485, 0.456, 0.406]) and recipe.transfer.std == pytest.approx(
        [0.229, 0.224, 0.225]
    )
    assert (
        tuning.preprocessing.conversion == "replicate"
        and tuning.adapt(load_dataset("digits", "test")).images.shape[1] == 3
    )
    assert tuning.pretrained.source.startswith("torchvision ")


def test_a_finetune_run_resumes(tuned, tmp_path) -> None:
    import shutil

    result, _ = tuned
    copy = tmp_path / "resumed"
    shutil.copytree(result.run_dir, copy)
    resumed = train_recipe("", overrides=["epochs=3"], resume=copy, start=start_finetune, **QUIET)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3] and resumed.history[:2] == result.history


def test_bad_freezing_settings_name_the_value_and_the_valid_ones(source_run) -> None:
    lenet = cnnlab.create_model("lenet5")
    with pytest.raises(
        ConfigError,
        match=r"trainable_stages=4 but lenet5 has 3 blocks below its classifier \(act1, s4, head\); use 0 .* to 3",
    ):
        plan_freezing(lenet, trainable_stages=4)
    with pytest.raises(ConfigError, match=r"freeze_until='c4' is not a module .*stage \(act1, s4\).*c1, act1, s2, c3"):
        plan_freezing(lenet, freeze_until="c4")
    with pytest.raises(ConfigError, match="'output' is in the new classifier, which always trains"):
        plan_freezing(lenet, freeze_until="output")
    plan = plan_freezing(lenet, freeze_until="s2")
    assert plan.frozen == ["c1"] and plan.body == ["c3", "c5", "f6"] and plan.classifier == ["output"]
    recipe = finetune_recipe(source_run, "digits", epochs=2)
    with pytest.raises(ConfigError, match="both say what trains"):
        apply_overrides(recipe, ["transfer.freeze_until=s2", "transfer.trainable_stages=1"])
    with pytest.raises(
        ConfigError, match=r"dataset.normalise='dataset' with a transfer section.*set dataset.normalise=model"
    ):
        apply_overrides(recipe, ["dataset.normalise=dataset"])
    with pytest.raises(ConfigError, match=r"head_epochs=2 leaves no epoch of the 2 to train act1, s4, head"):
        train_recipe(apply_overrides(recipe, ["transfer.head_epochs=2"]), start=start_finetune, **QUIET)
    with pytest.raises(
        ConfigError, match=r"fine-tunes \(it has a transfer section\): pass start=cnnlab.transfer.start_finetune"
    ):
        train_recipe(recipe, **QUIET)  # the engine does not import transfer: the start is passed in
    with pytest.raises(ConfigError, match="needs pretrained weights"):
        finetune_recipe("lenet5", "digits")


def test_cli_finetune(source_run, tmp_path, monkeypatch) -> None:
    cli_main = importlib.import_module("cnnlab.cli.main")  # the module; cnnlab.cli.main is also the function
    assert transfer_cmd in cli_main.COMMANDS
    lines: list[str] = []
    code = cli_main.main(
        [
            "transfer",
            "finetune",
            str(source_run),
            "--dataset",
            "digits",
            "--trainable-stages",
            "0",
            "--epochs",
            "1",
            "--train-size",
            "200",
            "--run-dir",
            str(tmp_path / "run"),
            "--no-progress",
            "--threads",
            "1",
        ],
        print_fn=lines.append,
    )
    assert code == 0 and (tmp_path / "run" / "report.json").is_file() and (tmp_path / "run" / "curves.png").is_file()
    text = "\n".join(lines)
    assert (
        "new classifier 'output' for 10 classes" in text
        and "nothing else trains" in text
        and "test with best.pt" in text
    )
