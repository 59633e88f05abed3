import pytest
import torch

import cnnlab
from cnnlab.errors import ConfigError, InputShapeError, UnknownModelError
from cnnlab.registry import ModelCard, Paper, register_model, register_variant


def test_list_models_filters_and_sorts():
    names = cnnlab.list_models()
    assert names == sorted(names) and "lenet5" in names
    assert cnnlab.list_models("lenet*") and all(n.startswith("lenet") for n in cnnlab.list_models("lenet*"))
    assert cnnlab.list_models("no-such-*") == []


def test_unknown_name_lists_closest():
    with pytest.raises(UnknownModelError, match="lenet5"):
        cnnlab.create_model("lenet")
    with pytest.raises(UnknownModelError, match="'zzzz'"):
        cnnlab.model_card("zzzz")


def test_register_twice_raises():
    card = cnnlab.model_card("lenet5")
    with pytest.raises(ValueError, match="already registered"):
        register_model(card)(lambda num_classes, in_chans: None)


def test_builder_must_take_contract_arguments():
    card = ModelCard(
        name="_test_bad_builder",
        family="x",
        paper=Paper("A", "T", 2000, "V"),
        table="t",
        input_size=(1, 8, 8),
        num_classes=2,
        params=1,
    )
    with pytest.raises(TypeError, match="num_classes"):
        register_model(card)(lambda: None)


def test_a_variant_takes_its_builders_other_arguments():
    import inspect

    resnet20 = cnnlab.models.resnet.resnet20
    assert list(inspect.signature(resnet20).parameters) == [
        "num_classes",
        "in_chans",
        "shortcut",
        "drop_path_rate",
        "drop_path_mode",
        "conv_bias",
    ]
    assert cnnlab.model_options("plain20") == {"conv_bias": False}  # shortcut and drop path fixed
    assert "n=3" in resnet20.__doc__ and resnet20.__name__ == "resnet20"
    a, b = resnet20(5, 3, "B"), cnnlab.models.resnet.resnet_cifar(3, num_classes=5, shortcut="B")  # positional as named
    assert str(a) == str(b) and a.num_classes == 5
    with pytest.raises(ConfigError, match="option shortcut=2 for resnet20"):
        cnnlab.create_model("resnet20", shortcut=2)  # the inherited annotation is checked
    with pytest.raises(ConfigError, match="unknown option.*n=4"):
        cnnlab.create_model("resnet20", n=4)  # fixed arguments are not options
    card = ModelCard(
        name="_test_variant",
        family="x",
        paper=Paper("A", "T", 2000, "V"),
        table="t",
        input_size=(1, 8, 8),
        num_classes=2,
        params=1,
    )
    with pytest.raises(TypeError, match="no argument.*depth"):
        register_variant(card, cnnlab.models.resnet.resnet_cifar, depth=3)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_bad_class_count(bad):
    with pytest.raises(ConfigError, match=repr(bad).replace("(", r"\(")):
        cnnlab.create_model("lenet5", num_classes=bad)


def test_bad_channel_count():
    with pytest.raises(ConfigError, match="in_chans must be a positive integer, got 0"):
        cnnlab.create_model("lenet5", in_chans=0)


def test_unknown_option_names_value_and_valid_options():
    with pytest.raises(
        ConfigError, match=r"dropout=0.5 for lenet5; valid options: num_classes=10, in_chans=1, padding=0"
    ):
        cnnlab.create_model("lenet5", dropout=0.5)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("googlenet", {"aux_logits": "no"}, r"aux_logits='no' for googlenet must be bool"),
        ("googlenet", {"drop_prob": 2}, r"drop_prob=2 for googlenet is a probability"),
        ("minigooglenet", {"drop_prob": -1.0}, r"drop_prob=-1.0 .*\[0, 1\)"),
        ("lenet5", {"padding": "2"}, r"padding='2' for lenet5 must be int"),
    ],
)
def test_ill_typed_options_name_the_value(name, options, message):
    with pytest.raises(ConfigError, match=message):
        cnnlab.create_model(name, **options)


def test_integer_like_class_counts_are_accepted():
    import numpy as np

    assert cnnlab.create_model("lenet5", num_classes=np.int64(4)).num_classes == 4


def test_num_classes_and_in_chans():
    model = cnnlab.create_model("lenet5", num_classes=3, in_chans=3)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    assert len(model.pretrained_cfg["mean"]) == 3


def test_wrong_channels_names_value_and_fix():
    model = cnnlab.create_model("lenet5")
    with pytest.raises(InputShapeError, match=r"1-channel input, got 3 channels.*in_chans=3"):
        model(torch.randn(1, 3, 32, 32))


def test_missing_batch_dimension():
    with pytest.raises(InputShapeError, match="unsqueeze"):
        cnnlab.create_model("lenet5")(torch.randn(1, 32, 32))


def test_too_small_input_fails_before_work_naming_layer_and_fix():
    model = cnnlab.create_model("lenet5")
    with pytest.raises(InputShapeError, match=r"input 1x8x8 does not fit lenet5: at c3 \(Conv2d\).*use input 1x32x32"):
        model(torch.randn(1, 1, 8, 8))


def test_too_large_input_for_fixed_classifier():
    with pytest.raises(InputShapeError, match=r"c5 \(Linear\) expects 400 input features"):
        cnnlab.create_model("lenet5")(torch.randn(1, 1, 64, 64))


def test_padding_option_takes_mnist_size():
    model = cnnlab.create_model("lenet5", padding=2)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_forward_is_plain_no_trace_and_no_hooks(monkeypatch):
    """model(x) runs the model and nothing else: the meta-device diagnosis runs only after a
    forward failed (issue 17), and leaves no hook behind."""
    import cnnlab.models.base as base

    traces = []
    monkeypatch.setattr(base, "trace_input_size", lambda *a, **k: traces.append(a))
    model = cnnlab.create_model("lenet5")
    calls = []
    model.c1.register_forward_hook(lambda m, a, out: calls.append(out.device))
    model(torch.randn(1, 1, 32, 32))
    model(torch.randn(2, 1, 32, 32))
    assert traces == [] and calls == [torch.device("cpu")] * 2  # the user's hook saw real tensors only
    with pytest.raises(RuntimeError):
        model(torch.randn(1, 1, 8, 8))  # the stub diagnosis finds nothing: the real error propagates
    assert len(traces) == 1
    assert all(not m._forward_pre_hooks for m in model.modules()) and len(model.c1._forward_hooks) == 1
