"""Linear probes end to end on scikit-learn's digits: per layer accuracy from a cnnlab run,
the run's preprocessing feeding the features, no forward pass the second time, grey images
on an RGB model, the command line."""

from __future__ import annotations

import importlib
import json

import pytest

from cnnlab.cli import transfer_cmd
from cnnlab.data import DeviceLoader
from cnnlab.engine.run import train_recipe
from cnnlab.errors import ConfigError
from cnnlab.models.lenet import LeNet5
from cnnlab.transfer import features, linear_probe

DIGITS_MEAN = 0.3058  # lenet5-digits normalises with the digits' own statistics, not the card's MNIST ones


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "lenet5-digits"
    train_recipe("lenet5-digits", overrides=["epochs=2"], run_dir=run_dir, progress=False, print_fn=lambda s: None)
    return run_dir


@pytest.fixture
def cli():
    cli_main = importlib.import_module("cnnlab.cli.main")  # the module; cnnlab.cli.main is also the function
    assert transfer_cmd in cli_main.COMMANDS
    return cli_main.main


def test_probes_per_stage_on_digits(run, tmp_path) -> None:
    result = linear_probe(run, "digits", stages=True, train_size=600, cache_dir=tmp_path)
    assert [p.layer for p in result.layers] == ["act1", "s4", "head"]
    assert [p.features for p in result.layers] == [6, 16, 84]
    assert result.train_images == 600 and result.test_images == 359
    head = result.layers[-1]
    assert head.test_acc > 0.8 and head.converged and result.best().test_acc >= head.test_acc
    assert result.preprocessing["mean"] == pytest.approx([DIGITS_MEAN], abs=1e-4)
    json.dumps(result.to_dict())  # plain data


def test_the_runs_preprocessing_is_what_the_features_are_computed_with(run, tmp_path, monkeypatch) -> None:
    seen = []

    class Recording(DeviceLoader):
        def __init__(self, data, batch_size, **kw):
            seen.append((tuple(data.images.shape[1:]), tuple(kw["mean"]), tuple(kw["std"])))
            super().__init__(data, batch_size, **kw)

    monkeypatch.setattr(features, "DeviceLoader", Recording)
    linear_probe(run, "digits", train_size=100, cache=False)
    assert len(seen) == 2  # training and test images
    for shape, mean, std in seen:
        assert (
            shape == (1, 32, 32)
            and mean == pytest.approx((DIGITS_MEAN,), abs=1e-4)
            and std == pytest.approx((0.324,), abs=1e-3)
        )


def test_a_second_probe_of_the_same_layers_runs_no_forward_pass(run, tmp_path, monkeypatch) -> None:
    calls = []
    inner = LeNet5.forward_features

    def counted(self, x):
        calls.append(x.device.type)
        return inner(self, x)

    monkeypatch.setattr(LeNet5, "forward_features", counted)
    first = linear_probe(run, "digits", layers=["s4", "head"], train_size=300, cache_dir=tmp_path)
    assert calls and not any(p.cached for p in first.layers)
    calls.clear()
    second = linear_probe(run, "digits", layers=["head", "s4"], train_size=300, cache_dir=tmp_path)
    assert calls == [] and all(p.cached for p in second.layers)
    assert {p.layer: p.test_acc for p in second.layers} == {p.layer: p.test_acc for p in first.layers}


def test_grey_images_on_an_rgb_model_are_replicated_and_said_so(tmp_path) -> None:
    result = linear_probe("minivgg", "digits", layers=["pool1"], train_size=100, cache=False)
    pre = result.preprocessing
    assert pre["channels"] == 3 and pre["conversion"] == "replicate" and len(pre["mean"]) == 3
    assert "replicated to 3 identical channels" in pre["note"]
    assert result.source == "random initialisation" and result.layers[0].features == 32


def test_bad_sources_and_arguments_are_clear(run) -> None:
    with pytest.raises(
        ConfigError, match=r"'lenet6' is neither a cnnlab run .* nor a registered model \(did you mean lenet5"
    ):
        linear_probe("lenet6", "digits")
    with pytest.raises(ConfigError, match="is a cnnlab run: it brings its own model and weights"):
        linear_probe(run, "digits", weights="torchvision")
    with pytest.raises(ConfigError, match=r"train_size=5000 but the training split has 1,438 images"):
        linear_probe(run, "digits", train_size=5000, cache=False)
    with pytest.raises(ConfigError, match="not both"):
        linear_probe(run, "digits", layers=["head"], stages=True)


def test_cli_probe_writes_json_and_a_plot(run, tmp_path, cli) -> None:
    lines: list[str] = []
    out = tmp_path / "probe"
    code = cli(
        [
            "transfer",
            "probe",
            str(run),
            "--dataset",
            "digits",
            "--layers",
            "s4,head",
            "--train-size",
            "300",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(out),
            "--threads",
            "1",
        ],
        print_fn=lines.append,
    )
    assert code == 0
    data = json.loads((out / "probe.json").read_text())
    assert [p["layer"] for p in data["layers"]] == ["s4", "head"] and (out / "probe.png").stat().st_size > 0
    text = "\n".join(lines)
    assert "linear probes of lenet5" in text and "test acc" in text and "head" in text


def test_cli_help(cli, capsys) -> None:
    for argv in (["transfer", "--help"], ["transfer", "probe", "--help"], ["transfer", "finetune", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            cli(argv)
        assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--stages" in text and "--trainable-stages" in text and "eval mode" in text
