"""AlexNet (Krizhevsky et al. 2012) and torchvision's one-tower AlexNet (Krizhevsky 2014):
the facts beyond the registry-wide tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import count_params, leaf_trace
from cnnlab.errors import ConfigError, InputShapeError
from cnnlab.layers.lrn import LRN
from tests.helpers import meta_model

# Per-layer parameters (weights + biases), worked out from the paper's kernel shapes.
ONE_TOWER = {
    "conv1": 34_944,  # 96 * 11*11*3 + 96
    "conv2": 614_656,  # 256 * 5*5*96 + 256
    "conv3": 885_120,  # 384 * 3*3*256 + 384
    "conv4": 1_327_488,  # 384 * 3*3*384 + 384
    "conv5": 884_992,  # 256 * 3*3*384 + 256
    "fc6": 37_752_832,  # 4096 * 6*6*256 + 4096
    "fc7": 16_781_312,  # 4096 * 4096 + 4096
    "fc8": 4_097_000,  # 1000 * 4096 + 1000
}
# Two towers: conv2 sees 48 maps per kernel, conv4 and conv5 192 (Sec. 3.5).
TWO_TOWERS = {
    **ONE_TOWER,
    "conv2": 256 * 5 * 5 * 48 + 256,
    "conv4": 384 * 3 * 3 * 192 + 384,
    "conv5": 256 * 3 * 3 * 192 + 256,
}
OWT = {
    "conv1": 64 * 11 * 11 * 3 + 64,
    "conv2": 192 * 5 * 5 * 64 + 192,
    "conv3": 384 * 3 * 3 * 192 + 384,
    "conv4": 256 * 3 * 3 * 384 + 256,
    "conv5": 256 * 3 * 3 * 256 + 256,
    "fc6": 37_752_832,
    "fc7": 16_781_312,
    "fc8": 4_097_000,
}


def _layer_params(model):
    return {n: count_params(m) for n, m in model.named_children() if count_params(m)}


@pytest.mark.parametrize(
    "name, layers, total",
    [("alexnet", ONE_TOWER, 62_378_344), ("alexnet_2012", TWO_TOWERS, 60_965_224), ("alexnet_owt", OWT, 61_100_840)],
)
def test_per_layer_params(name, layers, total):
    model = meta_model(name)
    assert _layer_params(model) == layers
    assert sum(layers.values()) == total == count_params(model)


def test_single_tower_figures_from_the_specification():
    p = _layer_params(meta_model("alexnet"))
    assert [p[f"conv{i}"] for i in range(1, 6)] == [34_944, 614_656, 885_120, 1_327_488, 884_992]
    assert p["fc8"] == 4_097_000


def _shapes(name, size=None):
    card = cnnlab.model_card(name)
    return {r.name: r.output_shape for r in leaf_trace(meta_model(name), size or card.input_size)}


@pytest.mark.parametrize("name", ["alexnet", "alexnet_2012"])
def test_map_sizes_227_55_27_13_6(name):
    s = _shapes(name)
    assert s["conv1"] == (96, 55, 55)
    assert s["pool1"] == (96, 27, 27)
    assert s["conv2"] == (256, 27, 27)
    assert s["pool2"] == (256, 13, 13)
    assert s["conv3"] == (384, 13, 13) and s["conv4"] == (384, 13, 13) and s["conv5"] == (256, 13, 13)
    assert s["pool5"] == (256, 6, 6)
    assert s["fc6"] == s["fc7"] == (4096,) and s["fc8"] == (1000,)


def test_layer_order_follows_sec_3_5():
    # LRN after the ReLU of conv1 and conv2 (Sec. 3.3), pooling after LRN and after conv5;
    # dropout on the outputs of fc6 and fc7 (Sec. 4.2).
    names = list(_shapes("alexnet"))
    assert names == [
        "conv1", "relu1", "norm1", "pool1",
        "conv2", "relu2", "norm2", "pool2",
        "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5",
        "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8",
    ]  # fmt: skip


def test_two_towers_are_grouped_convolutions():
    model = meta_model("alexnet_2012")
    groups = {n: m.groups for n, m in model.named_children() if isinstance(m, nn.Conv2d)}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    assert all(m.groups == 1 for m in meta_model("alexnet").modules() if isinstance(m, nn.Conv2d))


def test_towers_do_not_see_each_other():
    # An output map of conv4's first tower does not change when the second tower's input changes.
    conv4 = cnnlab.create_model("alexnet_2012").conv4
    x = torch.randn(1, 384, 5, 5)
    y = x.clone()
    y[:, 192:] += 1.0
    with torch.no_grad():
        a, b = conv4(x), conv4(y)
    assert torch.equal(a[:, :192], b[:, :192])
    assert not torch.allclose(a[:, 192:], b[:, 192:])


def test_lrn_is_the_papers_formula():
    # Sec. 3.3: b_i = a_i / (k + alpha * sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a_j^2)^beta.
    k, n, alpha, beta = 2.0, 5, 1e-4, 0.75
    a = torch.randn(2, 7, 3, 3, dtype=torch.float64) * 30
    expected = torch.empty_like(a)
    channels = a.shape[1]
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        expected[:, i] = a[:, i] / (k + alpha * (a[:, lo : hi + 1] ** 2).sum(1)) ** beta
    got = LRN(n=n, alpha=alpha, beta=beta, k=k)(a)
    assert torch.allclose(got, expected, rtol=1e-12, atol=0)
    # and not PyTorch's mean convention with the same numbers
    assert not torch.allclose(nn.LocalResponseNorm(n, alpha, beta, k)(a), expected)


def test_lrn_constants_in_the_models():
    for name in ("alexnet", "alexnet_2012"):
        for norm in (meta_model(name).norm1, meta_model(name).norm2):
            assert (norm.size, norm.paper_alpha, norm.beta, norm.k) == (5, 1e-4, 0.75, 2.0)


def test_lrn_rejects_bad_window():
    with pytest.raises(ConfigError, match="got 0"):
        LRN(n=0)


def test_pooling_overlaps_3x3_stride_2():
    model = meta_model("alexnet")
    for name in ("pool1", "pool2", "pool5"):
        pool = getattr(model, name)
        assert (pool.kernel_size, pool.stride, pool.ceil_mode) == (3, 2, False)


def test_cifar_sized_input_fails_naming_layer_and_size():
    model = cnnlab.create_model("alexnet")
    with pytest.raises(InputShapeError, match=r"3x32x32.*pool2.*3x227x227"):
        model(torch.randn(2, 3, 32, 32))


def test_papers_printed_224_does_not_fit_the_fixed_head():
    model = meta_model("alexnet")
    with pytest.raises(InputShapeError, match=r"fc6 \(Linear\) expects 9216.*6400.*227"):
        model(torch.empty(2, 3, 224, 224, device="meta"))


def test_drop_prob_option_and_check():
    model = meta_model("alexnet", drop_prob=0.3)
    assert model.drop6.p == model.drop7.p == 0.3
    assert meta_model("alexnet").drop6.p == 0.5
    for bad in (1.0, -0.1, "0.5", True):
        with pytest.raises(ConfigError, match="drop_prob"):
            meta_model("alexnet", drop_prob=bad)


def test_dropout_in_train_not_in_eval():
    model = cnnlab.create_model("alexnet_owt")
    x = torch.randn(2, 3, 63, 63)
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(x), model(x))
        model.train()
        assert not torch.equal(model(x), model(x))


def test_paper_initialisation_sec_5():
    model = cnnlab.create_model("alexnet")
    unit = {"conv2", "conv4", "conv5", "fc6", "fc7"}
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        layer = getattr(model, name)
        assert torch.all(layer.bias == (1.0 if name in unit else 0.0)), name
        assert abs(layer.weight.std().item() - 0.01) < 0.001, name
    model.reset_classifier(5)
    assert model.fc8.out_features == 5 and torch.all(model.fc8.bias == 0)
    assert abs(model.fc8.weight.std().item() - 0.01) < 0.002
    assert list(dict(model.named_children()))[-1] == "fc8"


def test_owt_has_no_lrn_and_adapts_from_63():
    model = meta_model("alexnet_owt").eval()
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in model.modules())
    assert model(torch.empty(1, 3, 63, 63, device="meta")).shape == (1, 1000)
    with pytest.raises(InputShapeError, match="pool5"):
        model(torch.empty(1, 3, 62, 62, device="meta"))


def test_owt_sizes_and_torchvision_layout():
    s = _shapes("alexnet_owt")
    assert s["conv1"] == (64, 55, 55) and s["pool2"] == (192, 13, 13) and s["pool5"] == (256, 6, 6)
    names = list(s)
    assert names[names.index("avgpool") :] == ["avgpool", "drop6", "fc6", "relu6", "drop7", "fc7", "relu7", "fc8"]


def test_owt_remap_covers_torchvision_keys():
    import torchvision

    from cnnlab.models.alexnet import remap_torchvision_alexnet

    with torch.device("meta"):
        tv = torchvision.models.alexnet(weights=None)
    model = meta_model("alexnet_owt")
    mapped = remap_torchvision_alexnet(tv.state_dict(), model)
    assert set(mapped) == set(model.state_dict())
    assert all(mapped[k].shape == v.shape for k, v in model.state_dict().items())


def test_pre_logits_is_fc7_output():
    model = cnnlab.create_model("alexnet_owt").eval()
    x = torch.randn(1, 3, 63, 63)
    with torch.no_grad():
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
        assert pre.shape == (1, 4096)
        assert torch.allclose(model.fc8(pre), model(x))


def test_feature_info_stages():
    assert [tuple(f) for f in meta_model("alexnet").feature_info] == [
        ("pool1", 96, 8), ("pool2", 256, 16), ("relu3", 384, 16), ("relu4", 384, 16), ("pool5", 256, 32),
    ]  # fmt: skip


def test_cards_declare_the_227_input_and_padding():
    for name in ("alexnet", "alexnet_2012"):
        card = cnnlab.model_card(name)
        assert card.input_size == (3, 227, 227)
        assert any("227" in d and "224" in d for d in card.deviations)
        assert any("padding" in d for d in card.deviations)
    assert any("single tower" in d for d in cnnlab.model_card("alexnet").deviations)
    assert any("384" in d for d in cnnlab.model_card("alexnet_owt").deviations)


@pytest.mark.parametrize("name", ["alexnet", "alexnet_2012", "alexnet_owt"])
def test_cards_declare_the_preprocessing(name):
    """Sec. 2: the paper only subtracts the mean activity; the cards normalise with mean and std."""
    card = cnnlab.model_card(name)
    assert card.std == (0.229, 0.224, 0.225)
    assert any("mean activity" in d and "std" in d for d in card.deviations)


@pytest.mark.parametrize("name", ["alexnet", "alexnet_owt", "zfnet"])
def test_reset_classifier_keeps_device_and_dtype(name):
    model = meta_model(name).to(torch.float64)
    model.reset_classifier(5)
    assert model.fc8.weight.is_meta and model.fc8.weight.dtype == torch.float64
    assert list(dict(model.named_children()))[-1] == "fc8"
