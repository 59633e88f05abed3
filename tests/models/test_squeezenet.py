"""SqueezeNet (Iandola et al. 2016): Table 1's layers, counts and sizes; v1.1 of the authors'
repository; the conv10 classifier; torchvision's key layout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlab
from cnnlab.analysis import count_macs, count_params, leaf_trace
from cnnlab.errors import ConfigError
from cnnlab.models.squeezenet import SQUEEZENET_V1_0, Fire, remap_torchvision_squeezenet
from tests.helpers import meta_model

# Table 1, "#parameter before pruning", as printed.
TABLE1_PARAMS = {
    "conv1": 14_208,
    "fire2": 11_920,
    "fire3": 12_432,
    "fire4": 45_344,
    "fire5": 49_440,
    "fire6": 104_880,
    "fire7": 111_024,
    "fire8": 188_992,
    "fire9": 197_184,
    "conv10": 513_000,
}
# Table 1, (s1x1, e1x1, e3x3) per Fire module.
TABLE1_FIRES = {
    "fire2": (16, 64, 64), "fire3": (16, 64, 64), "fire4": (32, 128, 128), "fire5": (32, 128, 128),
    "fire6": (48, 192, 192), "fire7": (48, 192, 192), "fire8": (64, 256, 256), "fire9": (64, 256, 256),
}  # fmt: skip
# Table 1, "output size" (C, H, W); maxpool8 is printed "13x12x512".
TABLE1_OUTPUTS = {
    "relu_conv1": (96, 111, 111), "maxpool1": (96, 55, 55), "fire2": (128, 55, 55), "fire3": (128, 55, 55),
    "fire4": (256, 55, 55), "maxpool4": (256, 27, 27), "fire5": (256, 27, 27), "fire6": (384, 27, 27),
    "fire7": (384, 27, 27), "fire8": (512, 27, 27), "maxpool8": (512, 13, 13), "fire9": (512, 13, 13),
    "relu_conv10": (1000, 13, 13), "avgpool10": (1000, 1, 1),
}  # fmt: skip
NAMES = ("squeezenet1_0", "squeezenet1_1")


def _module_params(model, name):
    return sum(p.numel() for p in model.get_submodule(name).parameters())


def test_v1_0_per_layer_params_are_table1s():
    model = meta_model("squeezenet1_0")
    assert {n: _module_params(model, n) for n in TABLE1_PARAMS} == TABLE1_PARAMS
    assert sum(TABLE1_PARAMS.values()) == count_params(model) == 1_248_424
    # the table's data carries the same printed column
    assert {r.name: r.params for r in SQUEEZENET_V1_0 if getattr(r, "params", None)} == TABLE1_PARAMS


@pytest.mark.parametrize("name", NAMES)
def test_fire_modules_follow_the_table(name):
    model = meta_model(name)
    for fire, (s1, e1, e3) in TABLE1_FIRES.items():
        m = model.get_submodule(fire)
        assert (m.squeeze.out_channels, m.squeeze.kernel_size) == (s1, (1, 1))
        assert (m.expand1x1.out_channels, m.expand1x1.kernel_size) == (e1, (1, 1))
        assert (m.expand3x3.out_channels, m.expand3x3.kernel_size, m.expand3x3.padding) == (e3, (3, 3), (1, 1))
        assert m.expand1x1.in_channels == m.expand3x3.in_channels == s1


def test_fire_is_squeeze_relu_then_concatenated_relu_expands():
    torch.manual_seed(0)
    model = cnnlab.create_model("squeezenet1_0").eval()
    fire = model.fire2
    x = torch.randn(2, 96, 9, 9)
    s = F.relu(fire.squeeze(x))
    want = torch.cat([F.relu(fire.expand1x1(s)), F.relu(fire.expand3x3(s))], 1)
    with torch.no_grad():
        torch.testing.assert_close(fire(x), want)


def _shapes(name, size):
    return {r.name: r.output_shape for r in leaf_trace(meta_model(name), (3, size, size))}


def _fire_outputs(name, size):
    """Output shapes of whole Fire modules (leaf_trace lists only their leaves)."""
    model = meta_model(name).eval()
    seen = {}
    hooks = [
        m.register_forward_hook(lambda mod, a, o, n=n: seen.__setitem__(n, tuple(o.shape[1:])))
        for n, m in model.named_children()
        if n.startswith("fire")
    ]
    model(torch.empty(1, 3, size, size, device="meta"))
    for h in hooks:
        h.remove()
    return seen


def test_v1_0_reaches_table1_sizes_at_227():
    # Table 1's 111x111 conv1 needs the Caffe definition's 227x227 crop.
    shapes = {**_shapes("squeezenet1_0", 227), **_fire_outputs("squeezenet1_0", 227)}
    assert {n: shapes[n] for n in TABLE1_OUTPUTS} == TABLE1_OUTPUTS


def test_v1_0_at_224_ceil_mode_pools_reach_27_and_13():
    shapes = {**_shapes("squeezenet1_0", 224), **_fire_outputs("squeezenet1_0", 224)}
    assert shapes["relu_conv1"] == (96, 109, 109)
    assert shapes["maxpool1"] == (96, 54, 54)
    assert shapes["maxpool4"] == (256, 27, 27)  # floor mode would give 26
    assert shapes["maxpool8"] == (512, 13, 13)  # and then 12
    assert shapes["fire9"] == (512, 13, 13) and shapes["avgpool10"] == (1000, 1, 1)
    model = meta_model("squeezenet1_0")
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.ceil_mode and p.kernel_size == 3 and p.stride == 2 for p in pools)


def test_v1_1_is_the_repository_variant():
    model = meta_model("squeezenet1_1")
    assert count_params(model) == 1_235_496
    conv1 = model.conv1
    assert (conv1.out_channels, conv1.kernel_size, conv1.stride) == (64, (3, 3), (2, 2))
    order = [n for n, _ in model.named_children()]
    for pool, after in (("maxpool1", "relu_conv1"), ("maxpool3", "fire3"), ("maxpool5", "fire5")):
        assert order[order.index(pool) - 1] == after
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 3
    shapes = {**_shapes("squeezenet1_1", 224), **_fire_outputs("squeezenet1_1", 224)}
    assert shapes["relu_conv1"] == (64, 111, 111)
    assert shapes["maxpool1"] == (64, 55, 55)
    assert shapes["maxpool3"] == (128, 27, 27)
    assert shapes["maxpool5"] == (256, 13, 13)
    assert shapes["fire9"] == (512, 13, 13)
    # only conv1 and fire2's squeeze differ from v1.0
    v10 = meta_model("squeezenet1_0")
    assert _module_params(model, "conv1") == 1_792
    assert _module_params(model, "fire2") == 11_920 - 96 * 16 + 64 * 16
    for n in ("fire3", "fire4", "fire5", "fire6", "fire7", "fire8", "fire9", "conv10"):
        assert _module_params(model, n) == _module_params(v10, n)


def test_v1_1_has_about_2_4x_less_computation():
    v10 = count_macs(meta_model("squeezenet1_0"), (3, 224, 224))
    v11 = count_macs(meta_model("squeezenet1_1"), (3, 224, 224))
    assert 2.3 < v10 / v11 < 2.5  # "2.4x less computation" (SqueezeNet_v1.1/README.md)


@pytest.mark.parametrize("name", NAMES)
def test_dropout_50_after_fire9_then_conv10_relu_gap(name):
    model = meta_model(name)
    order = [n for n, _ in model.named_children()]
    assert order[-5:] == ["fire9", "drop9", "conv10", "relu_conv10", "avgpool10"]
    assert isinstance(model.drop9, nn.Dropout) and model.drop9.p == 0.5
    assert model.get_classifier() is model.conv10 and model.classifier_name == "conv10"
    assert model.conv10.kernel_size == (1, 1) and model.conv10.padding == (0, 0)
    assert meta_model(name, drop_prob=0.2).drop9.p == 0.2
    with pytest.raises(ConfigError, match="drop_prob"):
        meta_model(name, drop_prob=1.0)


def test_head_is_relu_class_maps_averaged_and_pre_logits_is_the_pooled_map():
    model = cnnlab.create_model("squeezenet1_1").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        f = model.forward_features(x)
        assert f.shape == (2, 512, 3, 3)
        torch.testing.assert_close(model(x), F.relu(model.conv10(f)).mean((2, 3)))
        torch.testing.assert_close(model.forward_head(f, pre_logits=True), f.mean((2, 3)))
        assert (model(x) >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_initialisation(name):
    torch.manual_seed(0)
    model = cnnlab.create_model(name)
    assert model.conv10.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert all((m.bias == 0).all() for m in model.modules() if isinstance(m, nn.Conv2d))
    # Kaiming-uniform (gain sqrt 2): bound sqrt(6 / fan_in)
    w = model.fire9.expand3x3.weight
    assert w.abs().max().item() <= (6 / (64 * 9)) ** 0.5
    model.reset_classifier(100)
    assert model.conv10.out_channels == 100
    assert model.conv10.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert (model.conv10.bias == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_remap_names_every_torchvision_key(name):
    import torchvision.models as tvm

    tv = getattr(tvm, name)(weights=None)
    model = meta_model(name)
    remapped = remap_torchvision_squeezenet(tv.state_dict(), model)
    assert set(remapped) == set(model.state_dict())
    assert {k: tuple(v.shape) for k, v in remapped.items()} == {
        k: tuple(v.shape) for k, v in model.state_dict().items()
    }


@pytest.mark.parametrize("name", NAMES)
def test_feature_info_stages(name):
    model = meta_model(name)
    want = {
        "squeezenet1_0": [("relu_conv1", 96, 2), ("fire4", 256, 4), ("fire8", 512, 8), ("fire9", 512, 16)],
        "squeezenet1_1": [("relu_conv1", 64, 2), ("fire3", 128, 4), ("fire5", 256, 8), ("fire9", 512, 16)],
    }[name]
    assert [tuple(f) for f in model.feature_info] == want


def test_table_rows_are_fire_rows_with_paper_names():
    fires = [r.name for r in SQUEEZENET_V1_0 if isinstance(r, Fire)]
    assert fires == [f"fire{i}" for i in range(2, 10)]


def _conv_out(size, kernel, stride):
    return (size - kernel) // stride + 1  # no padding


def _pool_out(size):
    return -(-(size - 3) // 2) + 1  # 3x3/2, ceil mode


def squeezenet_macs(conv1, pool_after, size=224, classes=1000):
    """Conv multiply-adds by hand from Table 1 (no fc: conv10 is the classifier). ``conv1`` is
    (filters, kernel), stride 2 without padding; 3x3/2 ceil-mode max pools follow conv1 and the
    fires in ``pool_after``; a fire on a g x g map costs g^2 (in x s + s x e1 + 9 s x e3) and
    conv10 (1x1, 512 -> classes) runs on the last map."""
    filters, kernel = conv1
    grid = _conv_out(size, kernel, 2)
    total = grid**2 * 3 * kernel * kernel * filters
    grid, chs = _pool_out(grid), filters
    for number, (s, e1, e3) in enumerate(TABLE1_FIRES.values(), 2):  # fire2 .. fire9, Table 1
        total += grid**2 * (chs * s + s * e1 + 9 * s * e3)
        chs = e1 + e3
        if number in pool_after:
            grid = _pool_out(grid)
    return total + grid**2 * chs * classes


@pytest.mark.parametrize(
    "name, conv1, pool_after, grids",
    [
        ("squeezenet1_0", (96, 7), (4, 8), (109, 54, 27, 13)),
        ("squeezenet1_1", (64, 3), (3, 5), (111, 55, 27, 13)),
    ],
)
def test_macs_by_hand(name, conv1, pool_after, grids):
    card = cnnlab.model_card(name)
    g = _conv_out(224, conv1[1], 2)
    assert (g, _pool_out(g), _pool_out(_pool_out(g)), _pool_out(_pool_out(_pool_out(g)))) == grids
    expected = squeezenet_macs(conv1, pool_after)
    assert count_macs(meta_model(name), card.input_size) == expected == card.macs
